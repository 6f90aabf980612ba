"""A fake vLLM server that replays recorded answers (the demo and the tests use it)."""
