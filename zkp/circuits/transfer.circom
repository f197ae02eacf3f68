pragma circom 2.0.0;

include "circomlib/circuits/bitify.circom";
include "circomlib/circuits/comparators.circom";
include "circomlib/circuits/eddsaposeidon.circom";
include "circomlib/circuits/poseidon.circom";
include "merkle.circom";

// One slot of a block: a transfer taking state root `root` to `newRoot`, or,
// when `enabled` is 0, a no-op that keeps the root and needs no signature.
// The rules are sequencer/transition.py's; the comments name the error the
// model raises where a constraint refuses what it refuses.
//
// Leaves are Poseidon(address, balance, nonce) with address = Poseidon(Ax, Ay);
// an empty leaf is 0. The transfer is packed as from | to | amount | nonce
// (32, 32, 128, 32 bits, most significant first) and signed as
// Poseidon(CHAIN_ID, packed, toAddress). Stored balances are below 2^128 and
// nonces below 2^32 by induction from genesis; what this step writes is
// range-checked, so the invariant carries over and no sum wraps in the field.
template TransferStep(D, CHAIN_ID) {
    signal input root;
    signal output newRoot;
    signal output packed;

    signal input enabled;
    signal input from;
    signal input to;
    signal input toAddress;
    signal input amount;
    signal input nonce;

    signal input senderAx;
    signal input senderAy;
    signal input senderBalance;
    signal input sigR8x;
    signal input sigR8y;
    signal input sigS;
    signal input senderPath[D];

    // the recipient's leaf in the tree after the sender's update
    signal input recipientEmpty;
    signal input recipientBalance;
    signal input recipientNonce;
    signal input recipientPath[D];

    enabled * (enabled - 1) === 0;
    recipientEmpty * (recipientEmpty - 1) === 0;

    // IndexOutOfRange: both indices are leaves of this tree (and their path bits)
    component fromBits = Num2Bits(D);
    fromBits.in <== from;
    component toBits = Num2Bits(D);
    toBits.in <== to;
    // AmountOverflow: the amount fits its 128 bits; the nonce fits 32 bits, and
    // NonceOverflow: so does the next one
    component amountBits = Num2Bits(128);
    amountBits.in <== amount;
    component nonceBits = Num2Bits(32);
    nonceBits.in <== nonce;
    component nextNonceBits = Num2Bits(32);
    nextNonceBits.in <== nonce + 1;

    packed <== ((from * 2**32 + to) * 2**128 + amount) * 2**32 + nonce;

    // BadSignature: the sender signed this transfer for this rollup
    component message = Poseidon(3);
    message.inputs[0] <== CHAIN_ID;
    message.inputs[1] <== packed;
    message.inputs[2] <== toAddress;
    component signature = EdDSAPoseidonVerifier();
    signature.enabled <== enabled;
    signature.Ax <== senderAx;
    signature.Ay <== senderAy;
    signature.S <== sigS;
    signature.R8x <== sigR8x;
    signature.R8y <== sigR8y;
    signature.M <== message.out;

    // UnknownAccount, KeyMismatch, WrongNonce: the sender's leaf, rebuilt from
    // the signing key and the transfer's nonce, is in the tree
    component senderAddress = Poseidon(2);
    senderAddress.inputs[0] <== senderAx;
    senderAddress.inputs[1] <== senderAy;
    component senderLeaf = Poseidon(3);
    senderLeaf.inputs[0] <== senderAddress.out;
    senderLeaf.inputs[1] <== senderBalance;
    senderLeaf.inputs[2] <== nonce;
    component senderBefore = MerkleRoot(D);
    senderBefore.leaf <== senderLeaf.out;
    senderBefore.indexBits <== fromBits.out;
    senderBefore.siblings <== senderPath;
    enabled * (senderBefore.root - root) === 0;

    // InsufficientBalance: what is left does not wrap below 0
    signal senderLeft <== senderBalance - amount;
    component senderLeftBits = Num2Bits(128);
    senderLeftBits.in <== senderLeft;
    component senderDebited = Poseidon(3);
    senderDebited.inputs[0] <== senderAddress.out;
    senderDebited.inputs[1] <== senderLeft;
    senderDebited.inputs[2] <== nonce + 1;
    component senderAfter = MerkleRoot(D);
    senderAfter.leaf <== senderDebited.out;
    senderAfter.indexBits <== fromBits.out;
    senderAfter.siblings <== senderPath;

    // WrongRecipient: a filled recipient leaf holds toAddress; InvalidAddress:
    // an empty one is opened for a non-zero address, with nothing in it yet
    recipientEmpty * recipientBalance === 0;
    recipientEmpty * recipientNonce === 0;
    component addressIsZero = IsZero();
    addressIsZero.in <== toAddress;
    recipientEmpty * addressIsZero.out === 0;
    component recipientLeaf = Poseidon(3);
    recipientLeaf.inputs[0] <== toAddress;
    recipientLeaf.inputs[1] <== recipientBalance;
    recipientLeaf.inputs[2] <== recipientNonce;
    component recipientBefore = MerkleRoot(D);
    recipientBefore.leaf <== (1 - recipientEmpty) * recipientLeaf.out;
    recipientBefore.indexBits <== toBits.out;
    recipientBefore.siblings <== recipientPath;
    enabled * (recipientBefore.root - senderAfter.root) === 0;

    // AmountOverflow: the recipient's new balance fits its 128 bits
    signal recipientTotal <== recipientBalance + amount;
    component recipientTotalBits = Num2Bits(128);
    recipientTotalBits.in <== recipientTotal;
    component recipientCredited = Poseidon(3);
    recipientCredited.inputs[0] <== toAddress;
    recipientCredited.inputs[1] <== recipientTotal;
    recipientCredited.inputs[2] <== recipientNonce;
    component recipientAfter = MerkleRoot(D);
    recipientAfter.leaf <== recipientCredited.out;
    recipientAfter.indexBits <== toBits.out;
    recipientAfter.siblings <== recipientPath;

    newRoot <== root + enabled * (recipientAfter.root - root);
}
