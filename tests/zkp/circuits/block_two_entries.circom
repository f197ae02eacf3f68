pragma circom 2.0.0;

include "../../../zkp/circuits/block.circom";

// The test profile with 2 entries, so that a block can consume two, in record order (as the
// large profile's 8): 2 slots, depth 4, the devnet chain id (ASCII "provernet-devnet").
component main {public [oldRoot, newRoot, dataHash, prover]} = Block(2, 4, 0x70726f7665726e65742d6465766e6574, 2);
