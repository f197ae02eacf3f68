"""L1 side of provernet: Solidity sources, compiled artifacts, deployment, bindings, and the
pure mirror of the market rules (`rules.py`)."""
