pragma circom 2.0.0;

include "circomlib/circuits/poseidon.circom";

// A benchmark circuit whose size is set by n: n chained Poseidon(2) hashes,
// about 240 constraints each. Three public inputs and one output give the
// four public signals of the block circuit, so verification gas matches too.
template PoseidonChain(n) {
    signal input a;
    signal input b;
    signal input c;
    signal output out;
    component h[n];
    for (var i = 0; i < n; i++) {
        h[i] = Poseidon(2);
        h[i].inputs[0] <== i == 0 ? a : h[i - 1].out;
        h[i].inputs[1] <== i == 0 ? b : c;
    }
    out <== h[n - 1].out;
}
