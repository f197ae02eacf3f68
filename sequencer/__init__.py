"""The L2 rollup: its model (Poseidon, Baby Jubjub, EdDSA, the account tree, transfers, the state
transition, the block circuit's inputs, genesis), and the sequencer service (mempool, block
builder, L1 committer, JSON-RPC API, store) with its client and the L2 wallet."""
