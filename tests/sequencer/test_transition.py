"""The state transition: valid and invalid transfers side by side, as in execution-specs tests.

Every case starts from GENESIS: accounts 0, 1, 2 owned by dev keys 0, 1, 2 with
1000 each, account 3 at the last nonce, account 4 holding the most a balance can.
"""

from dataclasses import replace

import pytest

from sequencer.accounts import BALANCE_BITS, NONCE_BITS, Account
from sequencer.errors import (
    AmountOverflow,
    BadSignature,
    IndexOutOfRange,
    InsufficientBalance,
    InvalidAddress,
    KeyMismatch,
    NonceOverflow,
    UnknownAccount,
    WrongNonce,
    WrongRecipient,
)
from sequencer.genesis import dev_address, dev_private_key, genesis_state
from sequencer.transactions import DEVNET_CHAIN_ID, Transfer, sign_transfer
from sequencer.transition import apply_block, apply_transfer

DEPTH = 4
MAX_BALANCE = (1 << BALANCE_BITS) - 1
LAST_NONCE = (1 << NONCE_BITS) - 1


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
) -> Transfer:
    """A transfer signed by dev key `key` (by default the sender's own)."""
    unsigned = Transfer(
        from_index=from_index,
        to_index=to_index,
        to_address=dev_address(to_index) if to_address is None else to_address,
        amount=amount,
        nonce=nonce,
    )
    return sign_transfer(unsigned, dev_private_key(from_index if key is None else key), chain_id)


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
    "up to the largest balance": (
        transfer(4, 1, MAX_BALANCE - 1000),
        {4: Account(dev_address(4), 1000, 1), 1: Account(dev_address(1), MAX_BALANCE)},
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
        replace(transfer(4, 1, 1), amount=MAX_BALANCE + 1),
        AmountOverflow,
        "amount 340282366920938463463374607431768211456 does not fit in 128 bits",
    ),
    "recipient balance beyond 128 bits": (
        transfer(4, 1, MAX_BALANCE - 999),
        AmountOverflow,
        "account 1's balance would reach",
    ),
    "from an empty leaf": (transfer(7, 1, 10), UnknownAccount, "no account at sender index 7"),
    "to an index outside the tree": (
        transfer(0, 16, 10, to_address=dev_address(1)),
        IndexOutOfRange,
        r"recipient index 16 is outside the tree \(depth 4: indices below 16\)",
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
        apply_block(GENESIS, [tx, transfer(1, 2, 5), tx], DEVNET_CHAIN_ID)
    assert failure.value.position == 2
    assert str(failure.value) == "transfer 2: nonce 0, but account 0 is at nonce 1"
    assert GENESIS.root == root


def test_block_applies_in_order():
    # account 9 can spend in the block that opens it, once its key signs
    first = transfer(0, 9, 100, to_address=dev_address(9))
    second = transfer(9, 0, 40)
    after = apply_block(GENESIS, [first, second], DEVNET_CHAIN_ID)
    assert after.get(0) == Account(dev_address(0), 940, 1)
    assert after.get(9) == Account(dev_address(9), 60, 1)
    with pytest.raises(UnknownAccount):
        apply_block(GENESIS, [second, first], DEVNET_CHAIN_ID)


def test_empty_block_keeps_the_state():
    assert apply_block(GENESIS, [], DEVNET_CHAIN_ID) is GENESIS
