"""Subcommands of `provernet`, one module per command group."""
