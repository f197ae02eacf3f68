pragma circom 2.0.0;

include "block.circom";

// The large profile (sequencer/circuit_inputs.py: LARGE): 32 records per block, a tree of
// depth 20 (2^20 accounts), the devnet chain id (ASCII "provernet-devnet"), 8 entries (a body
// of 608 bytes: ten SHA-256 compressions).
component main {public [oldRoot, newRoot, dataHash, prover]} = Block(32, 20, 0x70726f7665726e65742d6465766e6574, 8);
