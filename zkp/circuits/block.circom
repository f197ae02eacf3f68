pragma circom 2.0.0;

include "circomlib/circuits/bitify.circom";
include "circomlib/circuits/comparators.circom";
include "data_commitment.circom";
include "transfer.circom";

// An L2 block of N record slots and A entries in a state tree of depth D, for the rollup whose
// transactions are signed with CHAIN_ID (sequencer/transactions.py); the block data is
// sequencer/block_data.py's.
//
// Public signals, in this order: oldRoot, newRoot, dataHash, prover. The slots take oldRoot to
// newRoot one after another (Slot, transfer.circom); a slot of op 0 is padding and changes
// nothing. dataHash is block_data.block_commitment: SHA-256 of the fixed-length body (the N
// records' 88 bits each, then the A entries' 256 bits each), mod 2^253, as the Rollup contract
// computes it from the calldata. Entries are consumed in record order: each slot takes entry
// number `consumed[i]` (the count of entries the slots before it took) if its op consumes one.
// prover (the roller's address) enters a constraint, so a proof verifies for its prover only.
template Block(N, D, CHAIN_ID, A) {
    signal input oldRoot;
    signal input newRoot;
    signal input dataHash;
    signal input prover;

    signal input entries[A];

    signal input op[N];
    signal input a[N];
    signal input b[N];
    signal input mantissa[N];
    signal input exponent[N];
    signal input toAddress[N];
    signal input senderAx[N];
    signal input senderAy[N];
    signal input sigR8x[N];
    signal input sigR8y[N];
    signal input sigS[N];
    signal input senderEmpty[N];
    signal input senderAddress[N];
    signal input senderBalance[N];
    signal input senderNonce[N];
    signal input senderPath[N][D];
    signal input recipientEmpty[N];
    signal input recipientBalance[N];
    signal input recipientNonce[N];
    signal input recipientPath[N][D];

    var RECORD = RECORD_BITS();
    component data = Sha256Commitment(N * RECORD + A * 256);

    // InvalidAddress: an entry is a field element (an L2 address, or an L1 address), its 256
    // bits two zeros then its canonical 254 (Num2Bits_strict: no second representation);
    // high[j] counts its bits from 160 up (0 for an L1 address, which a WITHDRAW needs)
    component entryBits[A];
    var high[A];
    for (var j = 0; j < A; j++) {
        entryBits[j] = Num2Bits_strict();
        entryBits[j].in <== entries[j];
        data.bits[N * RECORD + 256 * j] <== 0;
        data.bits[N * RECORD + 256 * j + 1] <== 0;
        for (var k = 0; k < 254; k++) {
            data.bits[N * RECORD + 256 * j + 2 + k] <== entryBits[j].out[253 - k];
        }
        high[j] = 0;
        for (var k = ADDRESS_BITS(); k < 254; k++) {
            high[j] += entryBits[j].out[k];
        }
    }

    component slot[N];
    component isNext[N][A];
    signal root[N + 1];
    signal consumed[N + 1];
    signal picked[N][A];
    signal pickedHigh[N][A];
    root[0] <== oldRoot;
    consumed[0] <== 0;
    for (var i = 0; i < N; i++) {
        slot[i] = Slot(D, CHAIN_ID);
        slot[i].root <== root[i];
        var entry = 0;
        var found = 0;
        var entryHigh = 0;
        for (var j = 0; j < A; j++) {
            isNext[i][j] = IsEqual();
            isNext[i][j].in[0] <== consumed[i];
            isNext[i][j].in[1] <== j;
            picked[i][j] <== isNext[i][j].out * entries[j];
            pickedHigh[i][j] <== isNext[i][j].out * high[j];
            entry += picked[i][j];
            found += isNext[i][j].out;
            entryHigh += pickedHigh[i][j];
        }
        slot[i].entry <== entry;
        slot[i].entryFound <== found;
        slot[i].entryHigh <== entryHigh;
        slot[i].op <== op[i];
        slot[i].a <== a[i];
        slot[i].b <== b[i];
        slot[i].mantissa <== mantissa[i];
        slot[i].exponent <== exponent[i];
        slot[i].toAddress <== toAddress[i];
        slot[i].senderAx <== senderAx[i];
        slot[i].senderAy <== senderAy[i];
        slot[i].sigR8x <== sigR8x[i];
        slot[i].sigR8y <== sigR8y[i];
        slot[i].sigS <== sigS[i];
        slot[i].senderEmpty <== senderEmpty[i];
        slot[i].senderAddress <== senderAddress[i];
        slot[i].senderBalance <== senderBalance[i];
        slot[i].senderNonce <== senderNonce[i];
        slot[i].senderPath <== senderPath[i];
        slot[i].recipientEmpty <== recipientEmpty[i];
        slot[i].recipientBalance <== recipientBalance[i];
        slot[i].recipientNonce <== recipientNonce[i];
        slot[i].recipientPath <== recipientPath[i];
        root[i + 1] <== slot[i].newRoot;
        consumed[i + 1] <== consumed[i] + slot[i].consumes;
        for (var k = 0; k < RECORD; k++) {
            data.bits[RECORD * i + k] <== slot[i].bits[k];
        }
    }
    root[N] === newRoot;
    data.commitment === dataHash;

    signal proverSquared <== prover * prover;
}
