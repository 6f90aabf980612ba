"""The config's lifecycle: settings, loading, the live holder, reload, router build."""
