"""What the mempool accepts and refuses, valid and invalid transfers side by side, counting the
transfers already pending; and its limits, retries, and survival of a block and a restart."""

from __future__ import annotations

import sqlite3
from dataclasses import replace

import pytest
import trio

from sequencer.accounts import Account
from sequencer.circuit_inputs import SMALL
from sequencer.errors import (
    AmountOverflow,
    BadSignature,
    IndexOutOfRange,
    InsufficientBalance,
    InvalidAddress,
    KeyMismatch,
    MempoolFull,
    NonceOverflow,
    SenderQueueFull,
    StoreError,
    UnknownAccount,
    WrongNonce,
    WrongRecipient,
)
from sequencer.genesis import dev_address, dev_private_key
from sequencer.mempool import Mempool
from sequencer.store import Store, TransferState
from sequencer.transactions import DEVNET_CHAIN_ID, Transfer, sign_transfer
from sequencer_fakes import GENESIS, Wallet

#: account 5 has spent all its nonces but one it cannot use
EXHAUSTED = 5
MEMPOOL_GENESIS = {**GENESIS, EXHAUSTED: Account(dev_address(EXHAUSTED), 1_000, 2**32 - 1)}
FRESH_ADDRESS = 0x1234
OTHER_ADDRESS = 0x5678


@pytest.fixture
def store(tmp_path):
    store = Store.open(tmp_path, SMALL, MEMPOOL_GENESIS)
    yield store
    store.close()


def mempool_on(store: Store, max_pending: int = 100, max_per_sender: int = 10) -> Mempool:
    return Mempool.restore(store, store.last_block_number(), chain_id=DEVNET_CHAIN_ID,
                           max_pending=max_pending, max_per_sender=max_per_sender)


@pytest.fixture
def mempool(store) -> Mempool:
    return mempool_on(store)


def resigned(transfer: Transfer, **changes) -> Transfer:
    """`transfer` with fields changed and signed again by its sender's dev key."""
    unsigned = replace(transfer, **changes, public_key=None, signature=None)
    return sign_transfer(unsigned, dev_private_key(transfer.from_index), DEVNET_CHAIN_ID)


# Each case: transfers to accept first (in order), then the one under test, and the error it
# gets (None: accepted). Valid and invalid variants of the same transfer sit next to each other.
CASES = {
    "valid": ([], lambda: Wallet(0).pay(1, 10), None),
    "recipient index outside the tree": ([], lambda: Wallet(0).pay(256, 10, 7), IndexOutOfRange),
    "sender index outside 32 bits": (
        [], lambda: replace(Wallet(0).pay(1, 10), from_index=2**32), IndexOutOfRange),
    "sender leaf empty": ([], lambda: Wallet(9).pay(1, 10), UnknownAccount),
    "signed with another account's key": (
        [], lambda: Wallet(0).pay(1, 10, key=dev_private_key(1)), KeyMismatch),
    "signature tampered": ([], lambda: (lambda t: replace(
        t, signature=replace(t.signature, s=t.signature.s + 1)))(Wallet(0).pay(1, 10)),
        BadSignature),
    "signed for another chain": ([], lambda: sign_transfer(
        Transfer(0, 1, dev_address(1), 10, 0), dev_private_key(0), DEVNET_CHAIN_ID + 1),
        BadSignature),
    "unsigned": ([], lambda: Transfer(0, 1, dev_address(1), 10, 0), BadSignature),
    "nonce ahead of the sender's": ([], lambda: Wallet(0).pay(1, 10, nonce=1), WrongNonce),
    "next nonce after a pending transfer": (
        [lambda: Wallet(0).pay(1, 10)], lambda: Wallet(0).pay(1, 10, nonce=1), None),
    "nonce a pending transfer already spent": (
        [lambda: Wallet(0).pay(1, 10)], lambda: Wallet(0).pay(1, 11, nonce=0), WrongNonce),
    "all nonces spent": ([], lambda: Wallet(EXHAUSTED).pay(1, 10, nonce=2**32 - 1), NonceOverflow),
    "whole balance": ([], lambda: Wallet(0).pay(1, 1_000), None),
    "more than the balance": ([], lambda: Wallet(0).pay(1, 1_001), InsufficientBalance),
    "more than the balance left by a pending debit": (
        [lambda: Wallet(0).pay(1, 600)], lambda: Wallet(0).pay(2, 401, nonce=1),
        InsufficientBalance),
    "spending a pending credit": (
        [lambda: Wallet(0).pay(1, 900)], lambda: Wallet(1).pay(2, 1_900), None),
    "amount beyond 128 bits": (
        [], lambda: replace(Wallet(0).pay(1, 10), amount=2**128), AmountOverflow),
    "recipient address 0": ([], lambda: Wallet(0).pay(9, 10, to_address=0), InvalidAddress),
    "recipient index holds another address": (
        [], lambda: Wallet(0).pay(1, 10, to_address=dev_address(2)), WrongRecipient),
    "opening an account on an empty leaf": (
        [], lambda: Wallet(0).pay(9, 10, to_address=FRESH_ADDRESS), None),
    "a leaf a pending transfer opened for another address": (
        [lambda: Wallet(0).pay(9, 10, to_address=FRESH_ADDRESS)],
        lambda: Wallet(1).pay(9, 10, to_address=OTHER_ADDRESS), WrongRecipient),
    "paying an account a pending transfer opened": (
        [lambda: Wallet(0).pay(9, 10, to_address=FRESH_ADDRESS)],
        lambda: Wallet(1).pay(9, 10, to_address=FRESH_ADDRESS), None),
}


@pytest.mark.parametrize("case", CASES)
async def test_transfer(case, mempool, store):
    before, make, error = CASES[case]
    for prior in before:
        await mempool.submit(prior())
    transfer = make()
    if error is None:
        hash_ = await mempool.submit(transfer)
        assert store.transfer(hash_).state is TransferState.PENDING  # stored before the answer
        assert len(mempool) == len(before) + 1
    else:
        with pytest.raises(error) as excinfo:
            await mempool.submit(transfer)
        assert "\n" not in str(excinfo.value)
        assert len(store.pending_transfers()) == len(mempool) == len(before)


async def test_a_resent_transfer_gets_its_hash_again(mempool, store):
    transfer = Wallet(0).pay(1, 10)
    first = await mempool.submit(transfer)
    assert await mempool.submit(transfer) == first
    assert len(store.pending_transfers()) == len(mempool) == 1


async def test_the_number_of_pending_transfers_is_bounded(store):
    mempool = mempool_on(store, max_pending=3, max_per_sender=2)
    w0, w1 = Wallet(0), Wallet(1)
    sent = await mempool.submit(w0.pay(1, 1))
    await mempool.submit(w0.pay(1, 1))
    with pytest.raises(SenderQueueFull, match="account 0 already has 2 pending"):
        await mempool.submit(w0.pay(1, 1))
    await mempool.submit(w1.pay(2, 1))
    with pytest.raises(MempoolFull, match="already holds 3 pending"):
        await mempool.submit(w1.pay(2, 1))
    assert await mempool.submit(Wallet(0).pay(1, 1)) == sent  # a resend is not a new one


async def test_lookups_count_pending_transfers(mempool):
    assert mempool.index_of(dev_address(2)) == 2
    assert mempool.index_of(FRESH_ADDRESS) is None
    assert mempool.lowest_free_index() == 4
    await mempool.submit(Wallet(0).pay(4, 10, to_address=FRESH_ADDRESS))
    assert mempool.index_of(FRESH_ADDRESS) == 4
    assert mempool.lowest_free_index() == 6  # 5 is the genesis's EXHAUSTED account
    built, pending = mempool.account(4)
    assert built is None and pending == Account(FRESH_ADDRESS, 10, 0)


async def test_a_restart_restores_the_pending_transfers(store):
    mempool = mempool_on(store)
    w0 = Wallet(0)
    hashes = [await mempool.submit(w0.pay(1, 100)) for _ in range(3)]
    restored = mempool_on(store)
    assert [p.hash for p in restored.oldest(10)] == hashes
    assert restored.account(0)[1] == Account(dev_address(0), 700, 3)
    with pytest.raises(WrongNonce):
        await restored.submit(w0.pay(1, 1, nonce=2))
    await restored.submit(w0.pay(1, 1))


async def test_concurrent_acceptances_share_a_write_and_are_stored_before_the_answer(store):
    mempool = mempool_on(store)
    writes, add_transfers = [], store.add_transfers

    def counted(accepted):
        writes.append(list(accepted))
        add_transfers(writes[-1])

    store.add_transfers = counted
    answered = []

    async def send(sender: int) -> None:
        hash_ = await mempool.submit(Wallet(sender).pay(9, 1, to_address=FRESH_ADDRESS))
        answered.append((hash_, store.transfer(hash_) is not None))

    async with trio.open_nursery() as nursery:
        for sender in range(4):
            nursery.start_soon(send, sender)
    assert len(answered) == 4 and all(stored for _, stored in answered)
    assert sum(len(w) for w in writes) == 4 and len(writes) < 4
    assert [h for w in writes for h, _ in w] == [p.hash for p in mempool.oldest(4)]


async def test_a_failed_write_refuses_transfers_until_a_restart(store):
    mempool = mempool_on(store)

    def disk_full(accepted):
        raise sqlite3.OperationalError("database or disk is full")

    store.add_transfers, add_transfers = disk_full, store.add_transfers
    with pytest.raises(StoreError, match="could not store accepted transfers .*disk is full"):
        await mempool.submit(Wallet(0).pay(1, 1))
    store.add_transfers = add_transfers
    with pytest.raises(StoreError, match="refuses transfers until it is restarted"):
        await mempool.submit(Wallet(1).pay(2, 1))
    restarted = mempool_on(store)
    assert len(restarted) == 0
    await restarted.submit(Wallet(0).pay(1, 1))
