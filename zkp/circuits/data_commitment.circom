pragma circom 2.0.0;

include "circomlib/circuits/bitify.circom";
include "circomlib/circuits/sha256/sha256.circom";

// The block's data commitment (issue 13, docs/rollup-data.md): SHA-256 of the block's
// fixed-length body (sequencer/block_data.py: records, then entries), which the Rollup
// contract computes with the SHA-256 precompile (60 + 12 gas a word).
//
// The commitment is the digest read as a big-endian integer, its top three
// bits dropped (digest mod 2^253, as zkSync Lite did): every 253-bit number is
// below BN254's r, so it is one public input, canonical, with no reduction;
// the contract computes it as uint256(sha256(data)) & (2^253 - 1). Splitting
// the digest into two 128-bit halves would keep all 256 bits but cost a fifth
// public input (an ecMul and a calldata word per block on L1); 253 bits still
// leave 126 bits of collision resistance.
//
// sequencer/block_data.py is the reference (hashlib). block.circom feeds
// Sha256Commitment the bits its slots already have; PackedDataCommitment, for
// bytes given as inputs, is what benchmarks/data_commitment.py measures and
// tests/sequencer/test_block_data.py checks against the reference.

// SHA-256 of nBits message bits, most significant bit of the first byte first
// (circomlib's order). The bits are not checked to be bits here: a caller
// passes bits it has constrained already (Num2Bits outputs of its fields).
template Sha256Commitment(nBits) {
    signal input bits[nBits];
    signal output commitment;

    component sha = Sha256(nBits);
    for (var i = 0; i < nBits; i++) {
        sha.in[i] <== bits[i];
    }
    // sha.out[0] is the digest's most significant bit: integer bit k is out[255 - k].
    var sum = 0;
    var power = 1;
    for (var k = 0; k < 253; k++) {
        sum += sha.out[255 - k] * power;
        power *= 2;
    }
    commitment <== sum;
}

// The commitment of nBytes bytes of packed data, each byte range-checked
// (8 constraints a byte) and fed to SHA-256 most significant bit first.
template PackedDataCommitment(nBytes) {
    signal input data[nBytes];
    signal output commitment;

    component byteBits[nBytes];
    component hash = Sha256Commitment(8 * nBytes);
    for (var i = 0; i < nBytes; i++) {
        byteBits[i] = Num2Bits(8);
        byteBits[i].in <== data[i];
        for (var b = 0; b < 8; b++) {
            hash.bits[8 * i + b] <== byteBits[i].out[7 - b];
        }
    }
    commitment <== hash.commitment;
}
