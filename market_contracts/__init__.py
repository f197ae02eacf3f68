"""L1 side of provernet: Solidity sources, compiled artifacts, the chain backends (`chain`,
`anvil`), deployment, typed bindings (`bindings`, `rollup`, `bridge`), generated verifiers, the
pure mirror of the market rules (`rules.py`), the model of the staking contract's state
(`ledger.py`), and the embedded chain served over JSON-RPC for development (`l1_server.py`)."""
