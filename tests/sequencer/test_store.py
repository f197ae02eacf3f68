"""The sequencer's database: genesis and circuit checks, the data directory's and the database's
locks, transfers, blocks stored atomically with their accounts, statuses, and the state rebuilt
from versions. Each test runs on SQLite (the default) and on a real PostgreSQL server (`db`,
tests/postgres.py)."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from dataclasses import replace

import psycopg
import pytest

from sequencer.builder import fill_block
from sequencer.circuit_inputs import SMALL
from p2p.datadir import DataDirLocked
from sequencer.errors import GenesisMismatch, StoreError
from sequencer.genesis import genesis_state
from sequencer.mempool import Pending
from sequencer.store import (
    DATABASE_NAME,
    NO_CURSOR,
    L1Message,
    L1MessageKind,
    NewBlock,
    Store,
    StoredBlockStatus,
    TransferState,
)
from sequencer.block_data import Op, block_commitment, calldata
from sequencer.transactions import DEVNET_CHAIN_ID
from sequencer.wire import transfer_hash
from sequencer_fakes import GENESIS, Wallet


@pytest.fixture
def store(tmp_path, db):
    store = Store.open(tmp_path, SMALL, GENESIS, db)
    yield store
    store.close()


def new_block(store: Store, number: int, transfers) -> NewBlock:
    before = store.state_at(number - 1)
    pending = [Pending(transfer_hash(t, DEVNET_CHAIN_ID), t) for t in transfers]
    built = fill_block(SMALL, before, [], pending)
    assert len(built.transactions) == len(transfers)
    touched = {i for t in transfers for i in (t.from_index, t.to_index)}
    return NewBlock(number, before.root, built.state.root,
                    block_commitment(built.records, SMALL.block_size, SMALL.entries),
                    tuple(p.hash for p in pending), {i: built.state.get(i) for i in touched},
                    calldata(built.records))


def accept(store: Store, *transfers) -> list[str]:
    hashes = [transfer_hash(t, DEVNET_CHAIN_ID) for t in transfers]
    store.add_transfers(zip(hashes, transfers, strict=True))
    return hashes


def test_a_new_store_holds_the_genesis_state(store):
    assert store.last_block_number() == 0
    assert store.accounts_at(0) == GENESIS
    assert store.state_at(0).root == genesis_state(SMALL.depth, GENESIS).root


def test_another_genesis_or_circuit_is_refused(tmp_path, db):
    Store.open(tmp_path, SMALL, GENESIS, db).close()
    other = {**GENESIS, 0: replace(GENESIS[0], balance=1)}
    with pytest.raises(GenesisMismatch, match="genesis_root"):
        Store.open(tmp_path, SMALL, other, db)
    with pytest.raises(GenesisMismatch, match="block_size = 2, not 4"):
        Store.open(tmp_path, replace(SMALL, block_size=4), GENESIS, db)
    Store.open(tmp_path, SMALL, GENESIS, db).close()  # the refusals released the locks


def test_the_lock_keeps_a_second_sequencer_off_the_directory(tmp_path, db):
    first = Store.open(tmp_path, SMALL, GENESIS, db)
    with pytest.raises(DataDirLocked, match=r"another sequencer \(pid \d+\) is using"):
        Store.open(tmp_path, SMALL, GENESIS, db)
    first.close()
    Store.open(tmp_path, SMALL, GENESIS, db).close()


def test_the_databases_lock_keeps_a_second_sequencer_off_it_from_any_directory(tmp_path, db):
    shared = db or str(tmp_path / DATABASE_NAME)
    first = Store.open(tmp_path / "one", SMALL, GENESIS, shared)
    with pytest.raises(StoreError, match="is in use by another .*: stop it, or give this "
                                         "sequencer its own"):
        Store.open(tmp_path / "two", SMALL, GENESIS, shared)
    first.close()
    Store.open(tmp_path / "two", SMALL, GENESIS, shared).close()


def test_transfers_come_back_in_acceptance_order(store):
    w0, w1 = Wallet(0), Wallet(1)
    transfers = [w0.pay(1, 5), w1.pay(2, 6), w0.pay(3, 7)]
    hashes = accept(store, *transfers)
    pending = store.pending_transfers()
    assert [p.hash for p in pending] == hashes
    assert [p.transfer for p in pending] == transfers
    assert [p.seq for p in pending] == sorted(p.seq for p in pending)
    found = store.transfer(hashes[1])
    assert (found.state, found.block, found.block_status) == (TransferState.PENDING, None, None)
    assert store.transfer("0x" + "00" * 32) is None


def test_a_block_marks_its_transfers_and_records_its_accounts(store):
    w0 = Wallet(0)
    transfers = [w0.pay(1, 5), w0.pay(2, 6)]
    later = w0.pay(3, 7)
    hashes = accept(store, *transfers, later)
    block = new_block(store, 1, transfers)
    store.add_block(block)

    stored = store.block(1)
    assert (stored.number, stored.old_root, stored.new_root, stored.data_hash) == (
        1, block.old_root, block.new_root, block.data_hash)
    assert stored.status is StoredBlockStatus.PRECOMMITTED and stored.transfers == tuple(hashes[:2])
    assert store.block_transfers(1) == transfers
    assert [p.hash for p in store.pending_transfers()] == [hashes[2]]
    included = store.transfer(hashes[1])
    assert (included.state, included.block, included.position) == (TransferState.INCLUDED, 1, 1)
    assert store.state_at(1).root == block.new_root
    assert store.state_at(0).root == block.old_root  # older states stay readable


def test_a_block_out_of_order_changes_nothing(store):
    transfers = [Wallet(0).pay(1, 5)]
    accept(store, *transfers)
    block = new_block(store, 1, transfers)
    with pytest.raises(StoreError, match="block 2 built on top of block 0"):
        store.add_block(replace(block, number=2))
    assert store.last_block_number() == 0
    assert len(store.pending_transfers()) == 1
    store.add_block(block)
    with pytest.raises(StoreError, match="block 1 built on top of block 1"):
        store.add_block(block)


def test_statuses_follow_l1(store):
    w0 = Wallet(0)
    for number in (1, 2, 3):
        transfer = w0.pay(1, 1)
        accept(store, transfer)
        store.add_block(new_block(store, number, [transfer]))
    for number in (1, 2, 3):
        store.mark_committed(number, 100 + number, 1_000 + number)
    assert store.mark_finalized(2) == 2
    assert [b.status for b in store.blocks_from(1)] == [
        StoredBlockStatus.FINALIZED, StoredBlockStatus.FINALIZED, StoredBlockStatus.COMMITTED]
    assert store.block(3).l1_block == 103
    assert store.mark_uncommitted(1) == 1  # finalized blocks stay as they are
    assert [b.number for b in store.blocks_with_status(StoredBlockStatus.PRECOMMITTED)] == [3]
    assert store.block(3).l1_block is None


def test_a_damaged_account_row_is_found(tmp_path, db, store):
    transfer = Wallet(0).pay(1, 5)
    accept(store, transfer)
    store.add_block(new_block(store, 1, [transfer]))
    # Behind the store's back, as a disk fault or a hand would.
    raw = psycopg.connect(db) if db else sqlite3.connect(tmp_path / DATABASE_NAME)
    with closing(raw), raw:
        raw.execute("UPDATE accounts SET balance = '999999' WHERE block = 1 AND idx = 1")
    with pytest.raises(StoreError, match="the database is damaged"):
        store.state_at(1)


def test_l1_messages_are_stored_once_with_the_cursor_and_consumed_by_a_block(store):
    deposit = L1Message(0, L1MessageKind.DEPOSIT, 0xA11CE, 5, 4, None, "0x" + "d1" * 20, 11)
    forced = L1Message(1, L1MessageKind.FORCED, GENESIS[0].address, 7, 0, 0xE1, None, 12)
    assert store.relayer_cursor() == NO_CURSOR and store.next_l1_position() == 0
    store.add_l1_messages([deposit], 11)
    store.add_l1_messages([deposit, forced], 12)  # a range read again adds nothing
    assert store.queued_l1_messages() == [deposit, forced]
    assert (store.relayer_cursor(), store.next_l1_position(), store.l1_message_counts()) == (
        12, 2, (2, 0))
    before = store.state_at(0)
    built = fill_block(SMALL, before, [deposit], [])
    store.add_block(NewBlock(1, before.root, built.state.root, 0, (),
                             {4: built.state.get(4)}, calldata(built.records),
                             ((0, built.records[0].op),)))
    assert store.l1_message_counts() == (1, 1)
    included = store.l1_message(0)
    assert (included.block, included.op, included.block_status) == (
        1, Op.DEPOSIT, StoredBlockStatus.PRECOMMITTED)
    assert store.block(1).l1_messages == (0,)
    assert store.block_ops(1) == [(built.records[0], None)]
    with pytest.raises(StoreError, match="consumes L1 message 0, which is not a queued one"):
        store.add_block(NewBlock(2, built.state.root, built.state.root, 0, (), {},
                                 calldata(built.records), ((0, Op.DEPOSIT),)))
    assert store.last_block_number() == 1


def test_a_withdrawal_keeps_its_kind_and_a_dropped_transaction_its_reason(store):
    wallet = Wallet(0)
    withdrawal, transfer = wallet.withdraw(5, 0xE1), wallet.pay(1, 5)
    hashes = accept(store, withdrawal, transfer)
    store.add_l1_messages([], 3, [(hashes[1], "overtaken")])
    assert store.transfer(hashes[0]).transfer == withdrawal
    dropped = store.transfer(hashes[1])
    assert (dropped.state, dropped.reason) == (TransferState.DROPPED, "overtaken")
    assert [p.hash for p in store.pending_transfers()] == hashes[:1]
    assert store.relayer_cursor() == 3
