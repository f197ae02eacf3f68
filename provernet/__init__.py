"""The `provernet` command line, its configuration, and the devnet."""
