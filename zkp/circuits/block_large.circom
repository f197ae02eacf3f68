pragma circom 2.0.0;

include "block.circom";

// The large profile (sequencer/circuit_inputs.py: LARGE): 32 transfers per block, a tree of
// depth 20 (2^20 accounts), the devnet chain id (ASCII "provernet-devnet"): 825,598
// constraints, a 2^20 domain. 64 transfers (1.65M constraints) is past what circom2 can
// compile: circom built as 32-bit wasm has 4 GiB to address and runs out of it; that profile
// needs a native circom.
component main {public [oldRoot, newRoot, dataHash, prover]} = Block(32, 20, 0x70726f7665726e65742d6465766e6574);
