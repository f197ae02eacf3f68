pragma circom 2.0.0;

include "circomlib/circuits/poseidon.circom";

// Poseidon over a 2x2 input array: exercises nested input arrays.
template HashGrid() {
    signal input in[2][2];
    signal output out;
    component h = Poseidon(4);
    for (var i = 0; i < 2; i++) {
        for (var j = 0; j < 2; j++) {
            h.inputs[i * 2 + j] <== in[i][j];
        }
    }
    out <== h.out;
}

component main = HashGrid();
