"""The state transition: valid and invalid transactions and records side by side, as in
execution-specs tests.

Every case starts from GENESIS: accounts 0, 1, 2 owned by dev keys 0, 1, 2 with
1000 each, account 3 at the last nonce, account 4 holding the most a balance can.
Signed transactions are posted as the sequencer posts them (`record_for`); the
records of each op, valid or forged, are applied with `apply_record`.
"""

from dataclasses import replace

import pytest

from sequencer.accounts import BALANCE_BITS, NONCE_BITS, Account
from sequencer.block_data import Op, Record, round_amount
from sequencer.errors import (
    AmountOverflow,
    BadSignature,
    EmptyRecipient,
    ForcedApplies,
    ForcedNotApplicable,
    IndexOutOfRange,
    InsufficientBalance,
    InvalidAddress,
    KeyMismatch,
    NonceOverflow,
    OccupiedLeaf,
    UnknownAccount,
    WrongNonce,
    WrongRecipient,
)
from sequencer.genesis import dev_address, dev_private_key, genesis_state
from sequencer.transactions import DEVNET_CHAIN_ID, Kind, Transfer, sign_transfer
from sequencer.transition import (
    apply_block,
    apply_record,
    apply_transfer,
    deposit_record,
    forced_record,
    record_for,
)
from zkp.field import R

DEPTH = 4
MAX_BALANCE = (1 << BALANCE_BITS) - 1
LAST_NONCE = (1 << NONCE_BITS) - 1
#: the largest amount a record can post below MAX_BALANCE - 1000 (9 to 10 significant digits)
LARGEST_POSTABLE = round_amount(MAX_BALANCE - 1000)


GENESIS = genesis_state(
    DEPTH,
    {
        0: Account(dev_address(0), 1000),
        1: Account(dev_address(1), 1000),
        2: Account(dev_address(2), 1000),
        3: Account(dev_address(3), 1000, nonce=LAST_NONCE),
        4: Account(dev_address(4), MAX_BALANCE),
    },
)


def transfer(
    from_index: int,
    to_index: int,
    amount: int,
    *,
    nonce: int = 0,
    to_address: int | None = None,
    key: int | None = None,
    chain_id: int = DEVNET_CHAIN_ID,
    kind: Kind = Kind.TRANSFER,
) -> Transfer:
    """A transfer signed by dev key `key` (by default the sender's own)."""
    unsigned = Transfer(
        from_index=from_index,
        to_index=to_index,
        to_address=dev_address(to_index) if to_address is None else to_address,
        amount=amount,
        nonce=nonce,
        kind=kind,
    )
    return sign_transfer(unsigned, dev_private_key(from_index if key is None else key), chain_id)


def posted(tx: Transfer) -> tuple[Record, Transfer]:
    """`tx` with the record the sequencer posts for it on GENESIS."""
    return record_for(GENESIS, tx), tx


VALID = {
    "payment": (
        transfer(0, 1, 10),
        {0: Account(dev_address(0), 990, 1), 1: Account(dev_address(1), 1010)},
    ),
    "whole balance": (
        transfer(0, 1, 1000),
        {0: Account(dev_address(0), 0, 1), 1: Account(dev_address(1), 2000)},
    ),
    "zero amount spends a nonce": (transfer(0, 1, 0), {0: Account(dev_address(0), 1000, 1)}),
    "to an empty leaf opens an account": (
        transfer(0, 9, 10, to_address=dev_address(9)),
        {0: Account(dev_address(0), 990, 1), 9: Account(dev_address(9), 10)},
    ),
    "to oneself spends a nonce": (transfer(2, 2, 700), {2: Account(dev_address(2), 1000, 1)}),
    "most of the largest balance": (
        transfer(4, 1, LARGEST_POSTABLE),
        {
            4: Account(dev_address(4), MAX_BALANCE - LARGEST_POSTABLE, 1),
            1: Account(dev_address(1), 1000 + LARGEST_POSTABLE),
        },
    ),
}

INVALID = {
    "amount changed after signing": (
        replace(transfer(0, 1, 10), amount=11),
        BadSignature,
        "the signature does not verify for account 0's key",
    ),
    "signed for another rollup": (
        transfer(0, 1, 10, chain_id=DEVNET_CHAIN_ID + 1),
        BadSignature,
        "does not verify",
    ),
    "unsigned": (Transfer(0, 1, dev_address(1), 10, 0), BadSignature, "not signed"),
    "signed with another account's key": (
        transfer(0, 1, 10, key=1),
        KeyMismatch,
        "the transfer's public key is not the key of account 0",
    ),
    "nonce ahead": (
        transfer(0, 1, 10, nonce=1),
        WrongNonce,
        "nonce 1, but account 0 is at nonce 0",
    ),
    "no nonce left": (
        transfer(3, 1, 10, nonce=LAST_NONCE),
        NonceOverflow,
        "account 3 has used all",
    ),
    "more than the balance": (
        transfer(0, 1, 1001),
        InsufficientBalance,
        "account 0 holds 1000, less than 1001",
    ),
    "amount beyond 128 bits": (
        replace(transfer(4, 1, 1), amount=10**39),
        AmountOverflow,
        "amount 10{39} does not fit in 128 bits",
    ),
    "amount a record cannot post": (
        transfer(0, 1, 123_456_789_011),
        AmountOverflow,
        "amount 123456789011 is not m \\* 10\\^e",
    ),
    "recipient balance beyond 128 bits": (
        transfer(0, 4, 10),
        AmountOverflow,
        "account 4's balance would reach",
    ),
    "from an empty leaf": (transfer(7, 1, 10), UnknownAccount, "no account at sender index 7"),
    "to an index outside the tree": (
        transfer(0, 16, 10, to_address=dev_address(1)),
        IndexOutOfRange,
        r"record field b = 16 is outside the tree \(depth 4: indices below 16\)",
    ),
    "to an account with another address": (
        transfer(0, 1, 10, to_address=dev_address(2)),
        WrongRecipient,
        "account 1 has address",
    ),
    "to address 0": (transfer(0, 9, 10, to_address=0), InvalidAddress, "recipient address 0"),
}


@pytest.mark.parametrize(("tx", "changed"), VALID.values(), ids=VALID.keys())
def test_valid_transfer(tx, changed):
    after = apply_transfer(GENESIS, tx, DEVNET_CHAIN_ID)
    for index in range(1 << DEPTH):
        assert after.get(index) == changed.get(index, GENESIS.get(index)), f"account {index}"


@pytest.mark.parametrize(("tx", "error", "message"), INVALID.values(), ids=INVALID.keys())
def test_invalid_transfer(tx, error, message):
    with pytest.raises(error, match=message):
        apply_transfer(GENESIS, tx, DEVNET_CHAIN_ID)


def test_replayed_transfer_fails_at_its_position_and_changes_nothing():
    tx = transfer(0, 1, 10)
    root = GENESIS.root
    with pytest.raises(WrongNonce) as failure:
        apply_block(GENESIS, [posted(tx), posted(transfer(1, 2, 5)), posted(tx)], DEVNET_CHAIN_ID)
    assert failure.value.position == 2
    assert str(failure.value) == "transfer 2: nonce 0, but account 0 is at nonce 1"
    assert GENESIS.root == root


def test_block_applies_in_order():
    # account 9 can spend in the block that opens it, once its key signs
    first = transfer(0, 9, 100, to_address=dev_address(9))
    second = transfer(9, 0, 40)
    after = apply_block(GENESIS, [posted(first), posted(second)], DEVNET_CHAIN_ID)
    assert after.get(0) == Account(dev_address(0), 940, 1)
    assert after.get(9) == Account(dev_address(9), 60, 1)
    with pytest.raises(UnknownAccount):
        apply_block(GENESIS, [posted(second), posted(first)], DEVNET_CHAIN_ID)


def test_empty_block_keeps_the_state():
    assert apply_block(GENESIS, [], DEVNET_CHAIN_ID) is GENESIS


# ---------------------------------------------------------------- records of every op

L1_RECIPIENT = 0xBEEF


def withdrawal(from_index: int, amount: int, *, nonce: int = 0, recipient: int = L1_RECIPIENT,
               kind: Kind = Kind.WITHDRAW) -> Transfer:
    """A withdrawal to L1 `recipient`, signed by the sender (as `kind`: WITHDRAW unless forged)."""
    return transfer(from_index, 0, amount, nonce=nonce, to_address=recipient, kind=kind)


VALID_RECORDS = {
    "transfer to an account": (posted(transfer(0, 1, 10)), {
        0: Account(dev_address(0), 990, 1), 1: Account(dev_address(1), 1010)}),
    "open an empty leaf": (posted(transfer(0, 9, 10)), {
        0: Account(dev_address(0), 990, 1), 9: Account(dev_address(9), 10)}),
    "withdraw": (posted(withdrawal(0, 1000)), {0: Account(dev_address(0), 0, 1)}),
    "deposit opens an empty leaf": (
        (deposit_record(GENESIS, dev_address(9), 5 * 10**20, 9), None),
        {9: Account(dev_address(9), 5 * 10**20)}),
    "deposit to its address's account": (
        (deposit_record(GENESIS, dev_address(1), 50, 1), None), {1: Account(dev_address(1), 1050)}),
    "forced withdrawal keeps the nonce (even the last)": (
        (forced_record(GENESIS, 3, dev_address(3), 1000, L1_RECIPIENT), None),
        {3: Account(dev_address(3), 0, LAST_NONCE)}),
    "forced withdrawal skipped: another address": (
        (forced_record(GENESIS, 2, dev_address(1), 10, L1_RECIPIENT), None), {}),
    "forced withdrawal skipped: too little": (
        (forced_record(GENESIS, 2, dev_address(2), 1001, L1_RECIPIENT), None), {}),
    "forced withdrawal skipped: empty leaf": (
        (forced_record(GENESIS, 7, dev_address(7), 1, L1_RECIPIENT), None), {}),
}

INVALID_RECORDS = {
    "FORCED_SKIP of a request that applies": (
        Record(Op.FORCED_SKIP, 2, 0, 1000, dev_address(2), L1_RECIPIENT), None,
        ForcedApplies, "account 2 holds address .* and at least 1000"),
    "FORCED of a request for another address": (
        Record(Op.FORCED, 2, 0, 10, dev_address(1), L1_RECIPIENT), None,
        ForcedNotApplicable, "is a FORCED_SKIP"),
    "FORCED of more than the balance": (
        Record(Op.FORCED, 2, 0, 1001, dev_address(2), L1_RECIPIENT), None,
        ForcedNotApplicable, "at least 1001"),
    "FORCED from an empty leaf": (
        Record(Op.FORCED, 7, 0, 0, 0, L1_RECIPIENT), None, ForcedNotApplicable, "account 7"),
    "DEPOSIT to a leaf of another address": (
        Record(Op.DEPOSIT, 0, 1, 10, dev_address(2)), None, WrongRecipient, "account 1 has"),
    "DEPOSIT opening address 0": (
        Record(Op.DEPOSIT, 0, 9, 10, 0), None, InvalidAddress, "for address 0"),
    "DEPOSIT beyond 128 bits": (
        Record(Op.DEPOSIT, 0, 4, 10, dev_address(4)), None, AmountOverflow, "beyond 128 bits"),
    "DEPOSIT for an entry beyond r": (
        Record(Op.DEPOSIT, 0, 9, 10, R), None, InvalidAddress, "not below r"),
    "OPEN onto an account": (
        Record(Op.OPEN, 0, 1, 10, dev_address(1)), transfer(0, 1, 10), OccupiedLeaf,
        "leaf 1 holds an account"),
    "TRANSFER to an empty leaf": (
        Record(Op.TRANSFER, 0, 9, 10), transfer(0, 9, 10), EmptyRecipient, "leaf 9 is empty"),
    "OPEN for an entry other than the signed address": (
        Record(Op.OPEN, 0, 9, 10, dev_address(8)), transfer(0, 9, 10), BadSignature,
        "not the transaction that was signed"),
    "record of another amount than signed": (
        Record(Op.TRANSFER, 0, 1, 11), transfer(0, 1, 10), BadSignature, "not the transaction"),
    "WITHDRAW signed as a transfer (kind replay)": (
        Record(Op.WITHDRAW, 0, 0, 10, L1_RECIPIENT), withdrawal(0, 10, kind=Kind.TRANSFER),
        BadSignature, "kind TRANSFER cannot post a WITHDRAW"),
    "TRANSFER signed as a withdrawal": (
        Record(Op.TRANSFER, 0, 1, 10), transfer(0, 1, 10, kind=Kind.WITHDRAW),
        BadSignature, "kind WITHDRAW cannot post a TRANSFER"),
    "WITHDRAW to L1 address 0": (
        Record(Op.WITHDRAW, 0, 0, 10, 0), withdrawal(0, 10, recipient=0), InvalidAddress,
        "recipient address 0"),
    "WITHDRAW to more than an L1 address": (
        Record(Op.WITHDRAW, 0, 0, 10, 1 << 160), withdrawal(0, 10, recipient=1 << 160),
        InvalidAddress, "not below 2\\^160"),
    "WITHDRAW of more than the balance": (
        Record(Op.WITHDRAW, 0, 0, 1001, L1_RECIPIENT), withdrawal(0, 1001),
        InsufficientBalance, "holds 1000, less than 1001"),
    "signed op without its transaction": (
        Record(Op.TRANSFER, 0, 1, 10), None, BadSignature, "not signed"),
    "record field beyond the tree": (
        Record(Op.FORCED_SKIP, 16, 0, 1, dev_address(1), L1_RECIPIENT), None, IndexOutOfRange,
        "record field a = 16"),
}


@pytest.mark.parametrize(("op", "changed"), VALID_RECORDS.values(), ids=VALID_RECORDS.keys())
def test_valid_record(op, changed):
    after = apply_block(GENESIS, [op], DEVNET_CHAIN_ID)
    for index in range(1 << DEPTH):
        assert after.get(index) == changed.get(index, GENESIS.get(index)), f"account {index}"


@pytest.mark.parametrize(("record", "tx", "error", "message"), INVALID_RECORDS.values(),
                         ids=INVALID_RECORDS.keys())
def test_invalid_record(record, tx, error, message):
    with pytest.raises(error, match=message):
        apply_record(GENESIS, record, tx, DEVNET_CHAIN_ID)


def test_records_the_sequencer_posts():
    assert record_for(GENESIS, transfer(0, 1, 10)) == Record(Op.TRANSFER, 0, 1, 10)
    assert record_for(GENESIS, transfer(0, 9, 10)) == Record(Op.OPEN, 0, 9, 10, dev_address(9))
    assert record_for(GENESIS, withdrawal(0, 10)) == Record(Op.WITHDRAW, 0, 0, 10, L1_RECIPIENT)
    assert forced_record(GENESIS, 2, dev_address(2), 1000, 7) == Record(
        Op.FORCED, 2, 0, 1000, dev_address(2), 7)
    assert forced_record(GENESIS, 2, dev_address(2), 1001, 7).op == Op.FORCED_SKIP
    assert deposit_record(GENESIS, dev_address(1), 5, 1) == Record(
        Op.DEPOSIT, 0, 1, 5, dev_address(1))
    with pytest.raises(WrongRecipient):
        deposit_record(GENESIS, dev_address(2), 5, 1)


def test_unsigned_ops_take_no_transaction():
    with pytest.raises(ValueError, match="a DEPOSIT record posts no signed transaction"):
        apply_record(GENESIS, Record(Op.DEPOSIT, 0, 9, 1, dev_address(9)), transfer(0, 1, 1),
                     DEVNET_CHAIN_ID)


def test_a_block_of_every_op_applies_in_order():
    opened = transfer(0, 9, 100, to_address=dev_address(9))
    ops = [posted(opened), (deposit_record(GENESIS, dev_address(9), 5, 9), None),
           (forced_record(GENESIS, 2, dev_address(2), 10, L1_RECIPIENT), None),
           (Record(Op.WITHDRAW, 9, 0, 105, L1_RECIPIENT), withdrawal(9, 105))]
    after = apply_block(GENESIS, ops, DEVNET_CHAIN_ID)
    assert after.get(9) == Account(dev_address(9), 0, 1)
    assert after.get(2) == Account(dev_address(2), 990)
    assert after.get(0) == Account(dev_address(0), 900, 1)
