pragma circom 2.0.0;

include "circomlib/circuits/bitify.circom";
include "circomlib/circuits/comparators.circom";
include "circomlib/circuits/eddsaposeidon.circom";
include "circomlib/circuits/poseidon.circom";
include "merkle.circom";

// The record layout (sequencer/block_data.py): op | a | b | mantissa | exponent, most
// significant first, 88 bits.
function RECORD_BITS() { return 88; }
function INDEX_BITS() { return 24; }
function MANTISSA_BITS() { return 32; }
function EXPONENT_BITS() { return 5; }
// an L1 address
function ADDRESS_BITS() { return 160; }
// balances below 2^128, nonces below 2^32 (sequencer/accounts.py)
function BALANCE_BITS() { return 128; }
function NONCE_BITS() { return 32; }
// An amount m * 10^e with m < 2^32 and e < 32 is below 2^135: the width the balance
// comparison needs for both its operands.
function AMOUNT_COMPARE_BITS() { return 136; }

// One slot of a block: one record (sequencer/block_data.py's Record) applied to the state at
// `root`, giving `newRoot`. The rules are sequencer/transition.py's apply_record; the comments
// name the error the model raises where a constraint refuses what it refuses.
//
// Ops, from the op field's bits (op 7 refused): PAD 0 (no change), TRANSFER 1 and OPEN 2 (a
// signed transfer from a to b: b's leaf holds an account, or is empty and opened for the
// entry), DEPOSIT 3 (credit b, empty and opened for the entry, or holding the entry's address),
// WITHDRAW 4 (a signed debit of a; the entry is the L1 recipient), FORCED 5 (debit a, whose
// leaf holds the entry's address and the amount; nonce unchanged), FORCED_SKIP 6 (a's leaf,
// proven in the tree, does not: empty, another address, or less than the amount).
//
// Leaves are Poseidon(address, balance, nonce) with address = Poseidon(Ax, Ay); an empty leaf
// is 0. A signed op's message is Poseidon(CHAIN_ID, kind * 2^224 + packed, toAddress), kind 1
// for WITHDRAW and 0 otherwise, packed = a | b | amount | nonce (32, 32, 128, 32 bits). A slot
// is two leaf updates, as the model makes them: the sender's (a) in `root`, then the
// recipient's (b) in the tree that results. Stored balances are below 2^128 and nonces below
// 2^32 by induction from genesis; what this slot writes is range-checked, so the invariant
// carries over and no sum wraps in the field.
//
// `entry` is the block's next unconsumed entry (`entryFound` 0 when all are consumed, and
// `entryHigh` the count of its bits from 160 up: 0 for an L1 address), which Block selects;
// `consumes` tells it whether this slot took it. `bits` are the record's 88
// bits for the data commitment, most significant first.
template Slot(D, CHAIN_ID) {
    assert(D <= INDEX_BITS());
    signal input root;
    signal output newRoot;
    signal input entry;
    signal input entryFound;
    signal input entryHigh;
    signal output consumes;
    signal output bits[RECORD_BITS()];

    // the record
    signal input op;
    signal input a;
    signal input b;
    signal input mantissa;
    signal input exponent;
    // the recipient's address (a TRANSFER's, private) or the entry (every op that consumes one)
    signal input toAddress;

    signal input senderAx;
    signal input senderAy;
    signal input sigR8x;
    signal input sigR8y;
    signal input sigS;
    // the sender's leaf (at a) in `root`
    signal input senderEmpty;
    signal input senderAddress;
    signal input senderBalance;
    signal input senderNonce;
    signal input senderPath[D];
    // the recipient's leaf (at b) in the tree after the sender's update
    signal input recipientEmpty;
    signal input recipientBalance;
    signal input recipientNonce;
    signal input recipientPath[D];

    senderEmpty * (senderEmpty - 1) === 0;
    recipientEmpty * (recipientEmpty - 1) === 0;

    // The op's selectors from its bits o2 o1 o0: with p = o1 o0, q = o2 o0, s = o2 o1 and
    // o2 o1 o0 = 0 (op 7 refused), each op's indicator is linear in o and p, q, s.
    component opBits = Num2Bits(3);
    opBits.in <== op;
    signal p <== opBits.out[1] * opBits.out[0];
    signal q <== opBits.out[2] * opBits.out[0];
    signal s <== opBits.out[2] * opBits.out[1];
    // MalformedBlockData: op 7 is no op (the contract refuses it too)
    s * opBits.out[0] === 0;
    var isTransfer = opBits.out[0] - p - q;
    var isOpen = opBits.out[1] - p - s;
    var isDeposit = p;
    var isWithdraw = opBits.out[2] - q - s;
    var isForced = q;
    var isSkip = s;
    var signed = isTransfer + isOpen + isWithdraw;
    var debits = signed + isForced;
    var touchesSender = debits + isSkip;
    var credits = isTransfer + isOpen + isDeposit;
    consumes <== isOpen + isDeposit + isWithdraw + isForced + isSkip;

    // IndexOutOfRange: both indices are leaves of this tree (and their path bits)
    component aBits = Num2Bits(D);
    aBits.in <== a;
    component bBits = Num2Bits(D);
    bBits.in <== b;

    // amount = mantissa * 10^exponent, the power selected by the exponent's five bits
    // (AmountOverflow: an amount that is no such number has no record)
    component mantissaBits = Num2Bits(MANTISSA_BITS());
    mantissaBits.in <== mantissa;
    component exponentBits = Num2Bits(EXPONENT_BITS());
    exponentBits.in <== exponent;
    signal power[EXPONENT_BITS()];
    power[0] <== 1 + exponentBits.out[0] * 9;
    for (var k = 1; k < EXPONENT_BITS(); k++) {
        power[k] <== power[k - 1] * (1 + exponentBits.out[k] * (10 ** (2 ** k) - 1));
    }
    signal amount <== mantissa * power[EXPONENT_BITS() - 1];

    // the record's bits, most significant first
    for (var k = 0; k < 3; k++) {
        bits[k] <== opBits.out[2 - k];
    }
    for (var k = 0; k < INDEX_BITS(); k++) {
        var bit = INDEX_BITS() - 1 - k;
        if (bit < D) {
            bits[3 + k] <== aBits.out[bit];
            bits[3 + INDEX_BITS() + k] <== bBits.out[bit];
        } else {
            bits[3 + k] <== 0;
            bits[3 + INDEX_BITS() + k] <== 0;
        }
    }
    for (var k = 0; k < MANTISSA_BITS(); k++) {
        bits[3 + 2 * INDEX_BITS() + k] <== mantissaBits.out[MANTISSA_BITS() - 1 - k];
    }
    for (var k = 0; k < EXPONENT_BITS(); k++) {
        bits[3 + 2 * INDEX_BITS() + MANTISSA_BITS() + k] <== exponentBits.out[EXPONENT_BITS() - 1 - k];
    }

    // MalformedBlockData: a record that consumes an entry takes the block's next one (the
    // contract refuses more entries than the profile has)
    consumes * (1 - entryFound) === 0;
    consumes * (toAddress - entry) === 0;

    // BadSignature: the sender signed this record for this rollup (a WITHDRAW as kind 1)
    signal packed <== ((a * 2**32 + b) * 2**128 + amount) * 2**32 + senderNonce;
    component message = Poseidon(3);
    message.inputs[0] <== CHAIN_ID;
    message.inputs[1] <== isWithdraw * 2**224 + packed;
    message.inputs[2] <== toAddress;
    component signature = EdDSAPoseidonVerifier();
    signature.enabled <== signed;
    signature.Ax <== senderAx;
    signature.Ay <== senderAy;
    signature.S <== sigS;
    signature.R8x <== sigR8x;
    signature.R8y <== sigR8y;
    signature.M <== message.out;

    // KeyMismatch: a signed op's sender leaf holds the signing key's address
    component keyAddress = Poseidon(2);
    keyAddress.inputs[0] <== senderAx;
    keyAddress.inputs[1] <== senderAy;
    signed * (keyAddress.out - senderAddress) === 0;

    // UnknownAccount, KeyMismatch, WrongNonce: the sender's leaf (empty: address, balance and
    // nonce 0) is in the tree, for every op but PAD and DEPOSIT; it is not empty where it pays
    senderEmpty * senderAddress === 0;
    senderEmpty * senderBalance === 0;
    senderEmpty * senderNonce === 0;
    debits * senderEmpty === 0;
    component senderLeaf = Poseidon(3);
    senderLeaf.inputs[0] <== senderAddress;
    senderLeaf.inputs[1] <== senderBalance;
    senderLeaf.inputs[2] <== senderNonce;
    component senderBefore = MerkleRoot(D);
    senderBefore.leaf <== (1 - senderEmpty) * senderLeaf.out;
    senderBefore.indexBits <== aBits.out;
    senderBefore.siblings <== senderPath;
    touchesSender * (senderBefore.root - root) === 0;

    // InsufficientBalance, AmountOverflow: what the sender pays is at most its balance (so an
    // amount of 2^128 or more never passes), and what is left stays within 128 bits
    component short = LessThan(AMOUNT_COMPARE_BITS());
    short.in[0] <== senderBalance;
    short.in[1] <== amount;
    debits * short.out === 0;
    // ForcedNotApplicable, ForcedApplies: a forced withdrawal applies exactly when the
    // sender's leaf holds the entry's address and at least the amount
    component sameAddress = IsEqual();
    sameAddress.in[0] <== senderAddress;
    sameAddress.in[1] <== toAddress;
    signal holder <== sameAddress.out * (1 - senderEmpty);
    isForced * (1 - holder) === 0;
    signal applies <== holder * (1 - short.out);
    isSkip * applies === 0;

    // NonceOverflow: a signed op spends a nonce, which must stay within 32 bits
    signal nextNonce <== senderNonce + signed;
    component nextNonceBits = Num2Bits(NONCE_BITS());
    nextNonceBits.in <== nextNonce;
    signal paid <== debits * amount;
    component senderDebited = Poseidon(3);
    senderDebited.inputs[0] <== senderAddress;
    senderDebited.inputs[1] <== senderBalance - paid;
    senderDebited.inputs[2] <== nextNonce;
    component senderAfter = MerkleRoot(D);
    senderAfter.leaf <== senderDebited.out;
    senderAfter.indexBits <== aBits.out;
    senderAfter.siblings <== senderPath;
    signal debited <== root + debits * (senderAfter.root - root);

    // EmptyRecipient: a TRANSFER pays an account; OccupiedLeaf: an OPEN opens an empty leaf;
    // WrongRecipient: a filled recipient leaf holds toAddress; InvalidAddress: an empty one is
    // opened for a non-zero address with nothing in it yet, and no exit is paid to address 0
    isTransfer * recipientEmpty === 0;
    isOpen * (1 - recipientEmpty) === 0;
    recipientEmpty * recipientBalance === 0;
    recipientEmpty * recipientNonce === 0;
    component addressIsZero = IsZero();
    addressIsZero.in <== toAddress;
    (recipientEmpty + isWithdraw) * addressIsZero.out === 0;
    // InvalidAddress: a WITHDRAW's recipient is an L1 address, below 2^160
    isWithdraw * entryHigh === 0;
    component recipientLeaf = Poseidon(3);
    recipientLeaf.inputs[0] <== toAddress;
    recipientLeaf.inputs[1] <== recipientBalance;
    recipientLeaf.inputs[2] <== recipientNonce;
    component recipientBefore = MerkleRoot(D);
    recipientBefore.leaf <== (1 - recipientEmpty) * recipientLeaf.out;
    recipientBefore.indexBits <== bBits.out;
    recipientBefore.siblings <== recipientPath;
    credits * (recipientBefore.root - debited) === 0;

    // AmountOverflow: the recipient's new balance fits its 128 bits
    signal recipientTotal <== recipientBalance + credits * amount;
    component recipientTotalBits = Num2Bits(BALANCE_BITS());
    recipientTotalBits.in <== recipientTotal;
    component recipientCredited = Poseidon(3);
    recipientCredited.inputs[0] <== toAddress;
    recipientCredited.inputs[1] <== recipientTotal;
    recipientCredited.inputs[2] <== recipientNonce;
    component recipientAfter = MerkleRoot(D);
    recipientAfter.leaf <== recipientCredited.out;
    recipientAfter.indexBits <== bBits.out;
    recipientAfter.siblings <== recipientPath;

    newRoot <== debited + credits * (recipientAfter.root - debited);
}
