"""The `distillgate` command line: one module per subcommand."""
