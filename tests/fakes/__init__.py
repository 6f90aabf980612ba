"""Test doubles: the vLLM-wire fake upstream (shipped in gateway.fake_vllm) and servers."""
