"""Pure routing decisions: features in, frozen decisions out (no I/O, no web framework)."""
