pragma circom 2.0.0;

include "circomlib/circuits/poseidon.circom";
include "circomlib/circuits/switcher.circom";

// The root that a leaf hashes up to in a Poseidon Merkle tree of depth D, as
// sequencer/accounts.py's root_from_path computes it: bit k of the leaf's index
// (least significant first) says whether the node at height k is a right
// child; siblings are given leaf level first. A node is Poseidon(left, right).
// The caller range-checks the index bits (Num2Bits makes them boolean).
template MerkleRoot(D) {
    signal input leaf;
    signal input indexBits[D];
    signal input siblings[D];
    signal output root;

    component order[D];
    component hash[D];
    signal node[D + 1];
    node[0] <== leaf;
    for (var k = 0; k < D; k++) {
        order[k] = Switcher();
        order[k].sel <== indexBits[k];
        order[k].L <== node[k];
        order[k].R <== siblings[k];
        hash[k] = Poseidon(2);
        hash[k].inputs[0] <== order[k].outL;
        hash[k].inputs[1] <== order[k].outR;
        node[k + 1] <== hash[k].out;
    }
    root <== node[D];
}
