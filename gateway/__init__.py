"""distillgate HTTP edge: OpenAI API, upstream clients, streaming, wiring, config, CLI."""
