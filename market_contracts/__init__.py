"""L1 side of provernet: Solidity sources, compiled artifacts, deployment, bindings, the pure
mirror of the market rules (`rules.py`), and the embedded chain served over JSON-RPC for
development (`l1_server.py`)."""
