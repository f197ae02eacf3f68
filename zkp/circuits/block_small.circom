pragma circom 2.0.0;

include "block.circom";

// The small profile (sequencer/circuit_inputs.py: SMALL): 2 records per block, a tree of
// depth 8 (2^8 accounts), the devnet chain id (ASCII "provernet-devnet"), 1 entry (a body of
// 54 bytes: one SHA-256 compression): 57,834 constraints at --O2, a 2^16 domain (13,951 a slot,
// 29,410 the SHA-256 compression, about 520 the entry's canonical bits).
component main {public [oldRoot, newRoot, dataHash, prover]} = Block(2, 8, 0x70726f7665726e65742d6465766e6574, 1);
