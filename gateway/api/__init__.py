"""The HTTP surface: one module per group of endpoints, auth and error envelopes."""
