pragma circom 2.0.0;

include "block.circom";

// The large profile (sequencer/circuit_inputs.py: LARGE): 32 records per block, a tree of
// depth 20 (2^20 accounts), the devnet chain id (ASCII "provernet-devnet"), 8 entries (a body
// of 608 bytes: ten SHA-256 compressions): 1,121,296 constraints at --O2, past 2^20
// (1,048,576), so a 2^21 domain (28 records, a body of 564 bytes in nine compressions, would
// fit 2^20: 989,137 measured). Compiling it with circom2 takes about 6 minutes and 3.5 GiB.
component main {public [oldRoot, newRoot, dataHash, prover]} = Block(32, 20, 0x70726f7665726e65742d6465766e6574, 8);
