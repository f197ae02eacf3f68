pragma circom 2.0.0;

include "circomlib/circuits/eddsaposeidon.circom";

// Signature check as the block circuit does it for each transaction.
template VerifySignature() {
    signal input Ax;
    signal input Ay;
    signal input S;
    signal input R8x;
    signal input R8y;
    signal input M;
    component v = EdDSAPoseidonVerifier();
    v.enabled <== 1;
    v.Ax <== Ax;
    v.Ay <== Ay;
    v.S <== S;
    v.R8x <== R8x;
    v.R8y <== R8y;
    v.M <== M;
}

component main {public [Ax, Ay, M]} = VerifySignature();
