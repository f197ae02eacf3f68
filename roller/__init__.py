"""The operator's node: keys, staking, and (later) discovery, task intake and proving."""
