pragma circom 2.0.0;

include "../../../zkp/circuits/block.circom";

// The test profile: 2 slots, depth 4, the devnet chain id (ASCII "provernet-devnet"), 1 entry
// (the small profile's slots and entries on a smaller tree: 50,075 constraints at --O2).
component main {public [oldRoot, newRoot, dataHash, prover]} = Block(2, 4, 0x70726f7665726e65742d6465766e6574, 1);
