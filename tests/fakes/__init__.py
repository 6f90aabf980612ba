"""Test doubles: the vLLM-wire fake upstream (shipped in gateway.replay_upstream) and servers."""
