"""Shadow comparison, divergence scoring and per-category gap statistics."""
