pragma circom 2.0.0;

include "circomlib/circuits/poseidon.circom";
include "transfer.circom";

// An L2 block of up to N transfers in a state tree of depth D, for the rollup
// whose transfers are signed with CHAIN_ID (sequencer/transactions.py).
//
// Public signals, in this order: oldRoot, newRoot, dataHash, prover. The
// slots take oldRoot to newRoot one after another; a slot with enabled = 0 is
// padding and changes nothing. dataHash is the Poseidon chain over the
// posted elements of the enabled slots, (packed word, recipient address) per
// transfer: h_0 = 0, h_{k+1} = Poseidon(h_k, packed, toAddress), as the Rollup
// contract computes it from the calldata. prover (the roller's address) enters
// a constraint, so a proof verifies for its prover only.
template Block(N, D, CHAIN_ID) {
    signal input oldRoot;
    signal input newRoot;
    signal input dataHash;
    signal input prover;

    signal input enabled[N];
    signal input from[N];
    signal input to[N];
    signal input toAddress[N];
    signal input amount[N];
    signal input nonce[N];
    signal input senderAx[N];
    signal input senderAy[N];
    signal input senderBalance[N];
    signal input sigR8x[N];
    signal input sigR8y[N];
    signal input sigS[N];
    signal input senderPath[N][D];
    signal input recipientEmpty[N];
    signal input recipientBalance[N];
    signal input recipientNonce[N];
    signal input recipientPath[N][D];

    component step[N];
    component chainStep[N];
    signal root[N + 1];
    signal chain[N + 1];
    root[0] <== oldRoot;
    chain[0] <== 0;
    for (var i = 0; i < N; i++) {
        step[i] = TransferStep(D, CHAIN_ID);
        step[i].root <== root[i];
        step[i].enabled <== enabled[i];
        step[i].from <== from[i];
        step[i].to <== to[i];
        step[i].toAddress <== toAddress[i];
        step[i].amount <== amount[i];
        step[i].nonce <== nonce[i];
        step[i].senderAx <== senderAx[i];
        step[i].senderAy <== senderAy[i];
        step[i].senderBalance <== senderBalance[i];
        step[i].sigR8x <== sigR8x[i];
        step[i].sigR8y <== sigR8y[i];
        step[i].sigS <== sigS[i];
        step[i].senderPath <== senderPath[i];
        step[i].recipientEmpty <== recipientEmpty[i];
        step[i].recipientBalance <== recipientBalance[i];
        step[i].recipientNonce <== recipientNonce[i];
        step[i].recipientPath <== recipientPath[i];
        root[i + 1] <== step[i].newRoot;

        chainStep[i] = Poseidon(3);
        chainStep[i].inputs[0] <== chain[i];
        chainStep[i].inputs[1] <== step[i].packed;
        chainStep[i].inputs[2] <== toAddress[i];
        chain[i + 1] <== chain[i] + enabled[i] * (chainStep[i].out - chain[i]);
    }
    root[N] === newRoot;
    chain[N] === dataHash;

    signal proverSquared <== prover * prover;
}
