"""L2 state, signed transfers, block builder, commits to L1 (rollup issue)."""
