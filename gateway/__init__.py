"""distillgate HTTP edge: OpenAI-compatible API, upstream clients, streaming, wiring, config, CLI."""
