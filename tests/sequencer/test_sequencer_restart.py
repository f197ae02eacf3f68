"""Restart safety and L1 faults: a sequencer cancelled at any point and started again on the same
data directory loses no accepted transfer or L1 message, includes none twice, and neither skips
nor repeats a block, on L1 or off
(on SQLite and on a real PostgreSQL server, `db`); L1 outages, timeouts, lost receipts, reverts
and finalization; refusals that need the operator."""

from __future__ import annotations

import random
import threading
from pathlib import Path

import pytest
import trio
from eth_account import Account

from sequencer.circuit_inputs import SMALL
from sequencer.client import SequencerClient
from p2p.datadir import DataDirLocked
from sequencer.errors import GenesisMismatch, L1Diverged, NotTheSequencer
from sequencer.genesis import dev_address, genesis_state
from sequencer.service import Sequencer
from sequencer.store import StoredBlockStatus, Store
from sequencer.block_data import block_commitment, calldata
from sequencer.builder import fill_block
from sequencer.mempool import Pending
from sequencer.transactions import DEVNET_CHAIN_ID
from sequencer.transition import apply_record
from sequencer.wire import transfer_hash
from sequencer_fakes import GENESIS, CommittedBlock, FakeRollup, Wallet, config

GENESIS_ROOT = genesis_state(SMALL.depth, GENESIS).root
SEQUENCER_KEY = Account.create()


def fake_l1() -> FakeRollup:
    return FakeRollup(GENESIS_ROOT, SEQUENCER_KEY.address)


def sequencer_on(datadir: Path, rollup: FakeRollup, **overrides) -> Sequencer:
    return Sequencer(config(datadir, **overrides), rollup, SEQUENCER_KEY, rollup.bridge)


async def until(condition, timeout: float = 10.0) -> None:
    with trio.fail_after(timeout):
        while not condition():
            await trio.sleep(0.01)


def block_of(transfers):
    """Block 1 of these transfers on the genesis state, as the builder makes it."""
    return fill_block(SMALL, genesis_state(SMALL.depth, GENESIS), [],
                      [Pending(transfer_hash(t, DEVNET_CHAIN_ID), t) for t in transfers])


def stored_blocks(datadir: Path, db: str | None = None):
    store = Store.open(datadir, SMALL, GENESIS, db)
    try:
        return store, store.blocks_from(1)
    except BaseException:
        store.close()
        raise


def check_chain(datadir: Path, rollup: FakeRollup, acknowledged: set[str],
                db: str | None = None, messages: int = 0) -> int:
    """Blocks 1..n contiguous, each applying its posted records to the one before, every
    acknowledged transaction in exactly one of them, L1 messages 0..messages - 1 each in exactly
    one, in queue order, and L1 holding exactly these blocks; returns n."""
    store, blocks = stored_blocks(datadir, db)
    try:
        assert [b.number for b in blocks] == list(range(1, len(blocks) + 1))
        state, seen, consumed = genesis_state(SMALL.depth, GENESIS), [], []
        for block in blocks:
            assert block.old_root == state.root
            for record, transaction in store.block_ops(block.number):
                state = apply_record(state, record, transaction, DEVNET_CHAIN_ID)
            assert block.new_root == state.root
            seen += block.transfers
            consumed += block.l1_messages
        assert len(seen) == len(set(seen)) and acknowledged <= set(seen)
        assert consumed == list(range(messages))
        assert not store.pending_transfers() and not store.queued_l1_messages()
        on_l1 = [(b.old_root, b.new_root, b.data_hash) for b in rollup.blocks[1:]]
        assert on_l1 == [(b.old_root, b.new_root, b.data_hash) for b in blocks]
        assert all(b.status is StoredBlockStatus.COMMITTED for b in blocks)
        return len(blocks)
    finally:
        store.close()


async def test_accepted_transfers_survive_a_cancel(tmp_path, db):
    rollup = fake_l1()
    wallet = Wallet(0)
    async with trio.open_nursery() as nursery:
        first = sequencer_on(tmp_path, rollup, block_interval=3600, db=db)
        await nursery.start(first.run)
        async with SequencerClient(first.url) as client:
            hashes = [await client.send_transfer(wallet.pay(1, 1)) for _ in range(3)]
        nursery.cancel_scope.cancel()
    async with trio.open_nursery() as nursery:
        second = sequencer_on(tmp_path, rollup, block_interval=3600, db=db)
        await nursery.start(second.run)
        assert [p.hash for p in second.mempool.oldest(10)] == hashes
        async with SequencerClient(second.url) as client:
            assert (await client.account(0))["pendingNonce"] == 3
            assert await client.send_transfer(wallet.pay(1, 1))
        assert await second.builder.build_block() == 1
        assert await second.builder.build_block() == 2
        await until(lambda: len(rollup.blocks) == 3)
        nursery.cancel_scope.cancel()


ROUNDS = 6
MIN_ACKNOWLEDGED = 21
MAX_ROUNDS = 60


async def test_cancelled_at_any_point_it_loses_nothing_and_repeats_no_block(tmp_path, db):
    """Rounds of load, each cut short at a random moment, then a run that drains everything."""
    rollup = fake_l1()
    wallets = [Wallet(i) for i in range(3)]
    acknowledged: set[str] = set()
    randomness = random.Random(7)

    async def send_forever(sequencer: Sequencer, wallet: Wallet) -> None:
        async with SequencerClient(sequencer.url) as client:
            # The previous round may have been cut between acceptance and the reply.
            wallet.nonce = (await client.account(wallet.index))["pendingNonce"]
            while True:
                acknowledged.add(await client.send_transfer(wallet.pay((wallet.index + 1) % 3, 1)))

    # At least ROUNDS cuts, and on until MIN_ACKNOWLEDGED transfers were acknowledged: on a
    # loaded machine a round's random window may end before much was sent.
    rounds = 0
    while rounds < ROUNDS or len(acknowledged) < MIN_ACKNOWLEDGED:
        rounds += 1
        assert rounds <= MAX_ROUNDS, f"only {len(acknowledged)} transfers in {MAX_ROUNDS} rounds"
        # An L1 message each round, to an existing account or a fresh one, read by the relayer
        # while the round's cut may fall anywhere.
        rollup.bridge.deposit(dev_address(randomness.choice([0, 1, 2, 7])), 1)
        with trio.move_on_after(randomness.uniform(0.05, 0.6)):
            async with trio.open_nursery() as nursery:
                sequencer = sequencer_on(tmp_path, rollup, block_interval=0.03, db=db)
                await nursery.start(sequencer.run)
                for wallet in wallets:
                    nursery.start_soon(send_forever, sequencer, wallet)
    async with trio.open_nursery() as nursery:
        sequencer = sequencer_on(tmp_path, rollup, block_interval=0.03, db=db)
        await nursery.start(sequencer.run)
        await until(lambda: len(sequencer.mempool) == 0 and not sequencer.mempool.queued()
                    and sequencer.mempool.next_l1_position == len(rollup.bridge.events)
                    and sequencer.committer.last_committed == sequencer.mempool.tip_number)
        nursery.cancel_scope.cancel()
    # A commit abandoned by a cancel may race the next sequencer's: the contract refuses the
    # second (its L1 messages are consumed), so L1 holds each block once, which check_chain
    # sees.
    assert check_chain(tmp_path, rollup, acknowledged, db, len(rollup.bridge.events)) >= len(
        acknowledged) // 2
    assert rollup.queue_next == len(rollup.bridge.events)


async def test_a_commit_that_landed_unseen_is_adopted_not_sent_again(tmp_path):
    rollup = fake_l1()
    rollup.lose_receipts = True  # it lands, but the answer never comes
    async with trio.open_nursery() as nursery:
        sequencer = sequencer_on(tmp_path, rollup, block_interval=3600)
        await nursery.start(sequencer.run)
        await sequencer.mempool.submit(Wallet(0).pay(1, 1))
        await sequencer.builder.build_block()
        await until(lambda: len(rollup.blocks) == 2)
        nursery.cancel_scope.cancel()  # killed before it could look again
    rollup.lose_receipts = False
    async with trio.open_nursery() as nursery:
        sequencer = sequencer_on(tmp_path, rollup, block_interval=3600)
        await nursery.start(sequencer.run)
        await until(lambda: sequencer.committer.reconciled)
        block = await sequencer.get_block(1)
        assert (block["status"], block["l1Block"]) == ("committed", 101)
        nursery.cancel_scope.cancel()
    assert rollup.commit_calls == {1: 1}


async def test_a_timed_out_commit_is_not_sent_twice(tmp_path):
    rollup = fake_l1()
    rollup.hang = threading.Event()
    async with trio.open_nursery() as nursery:
        sequencer = sequencer_on(tmp_path, rollup, block_interval=3600, l1_commit_timeout=0.2)
        await nursery.start(sequencer.run)
        await sequencer.mempool.submit(Wallet(0).pay(1, 1))
        await sequencer.builder.build_block()
        await until(lambda: sequencer.committer.last_error is not None)
        assert "commit block 1: no answer within the timeout" in (await sequencer.status())["l1"]["error"]
        rollup.hang.set()  # the abandoned call goes through after all
        await until(lambda: sequencer.committer.last_committed == 1
                    and sequencer.committer.last_error is None)
        assert (await sequencer.get_block(1))["status"] == "committed"
        nursery.cancel_scope.cancel()
    assert rollup.commit_calls == {1: 1}


async def test_an_unreachable_l1_is_retried_while_blocks_go_on(tmp_path):
    rollup = fake_l1()
    rollup.unreachable = 3
    async with trio.open_nursery() as nursery:
        sequencer = sequencer_on(tmp_path, rollup, block_interval=3600)
        await nursery.start(sequencer.run)  # ready although L1 does not answer
        wallet = Wallet(0)
        for _ in range(2):
            await sequencer.mempool.submit(wallet.pay(1, 1))
            await sequencer.builder.build_block()
        assert "[Errno 111] refused" in (await sequencer.status())["l1"]["error"]
        await until(lambda: sequencer.committer.last_committed == 2)
        assert (await sequencer.status())["l1"]["error"] is None
        nursery.cancel_scope.cancel()


async def test_blocks_reverted_on_l1_are_committed_again(tmp_path):
    rollup = fake_l1()
    async with trio.open_nursery() as nursery:
        sequencer = sequencer_on(tmp_path, rollup, block_interval=3600)
        await nursery.start(sequencer.run)
        wallet = Wallet(0)
        for number in (1, 2, 3):
            await sequencer.mempool.submit(wallet.pay(1, 1))
            await sequencer.builder.build_block()
            await until(lambda n=number: sequencer.committer.last_committed == n)
            if number == 2:
                rollup.revert_blocks(SEQUENCER_KEY, 2)
        await until(lambda: len(rollup.blocks) == 4)
        nursery.cancel_scope.cancel()
    assert rollup.commit_calls == {1: 1, 2: 2, 3: 1}
    check_chain(tmp_path, rollup, set())


async def test_finalization_is_followed(tmp_path):
    rollup = fake_l1()
    async with trio.open_nursery() as nursery:
        sequencer = sequencer_on(tmp_path, rollup, block_interval=3600, l1_poll_interval=0.05)
        await nursery.start(sequencer.run)
        wallet = Wallet(0)
        hashes = []
        for _ in range(2):
            hashes.append(await sequencer.mempool.submit(wallet.pay(1, 1)))
            await sequencer.builder.build_block()
        await until(lambda: sequencer.committer.last_committed == 2)
        rollup.finalized = 1
        await until(lambda: sequencer.committer.last_finalized == 1)
        assert [(await sequencer.get_block(n))["status"] for n in (1, 2)] == [
            "finalized", "committed"]
        assert (await sequencer.get_transfer(hashes[0]))["blockStatus"] == "finalized"
        nursery.cancel_scope.cancel()


# ---------------------------------------------------------------------- refusals


async def run_until_it_fails(sequencer: Sequencer, prepare=None) -> BaseException:
    with pytest.raises(ExceptionGroup) as excinfo:
        with trio.fail_after(10):
            async with trio.open_nursery() as nursery:
                await nursery.start(sequencer.run)
                if prepare is not None:
                    await prepare(sequencer)
                await trio.sleep_forever()
    leaves = list(_leaves(excinfo.value))
    assert len(leaves) == 1, leaves
    return leaves[0]


def _leaves(group):
    for error in group.exceptions:
        yield from _leaves(error) if isinstance(error, BaseExceptionGroup) else [error]


async def test_another_block_on_l1_stops_the_sequencer(tmp_path):
    rollup = fake_l1()
    rollup.unreachable = 10**6  # until block 1 is built here and another block 1 is on L1

    async def build_ours_then_theirs_lands(sequencer):
        await sequencer.mempool.submit(Wallet(0).pay(1, 1))
        await sequencer.builder.build_block()
        theirs = block_of([Wallet(3).pay(2, 5)])
        rollup.blocks.append(CommittedBlock(1, GENESIS_ROOT, theirs.state.root,
                                            block_commitment(theirs.records, SMALL.block_size,
                                                             SMALL.entries),
                                            b"", 101, 1001, rollup.blocks[0].status))
        rollup.unreachable = 0

    error = await run_until_it_fails(sequencer_on(tmp_path, rollup, block_interval=3600),
                                     build_ours_then_theirs_lands)
    assert isinstance(error, L1Diverged) and "L1's block 1 has" in str(error)


async def test_an_l1_ahead_of_the_store_stops_the_sequencer(tmp_path):
    rollup = fake_l1()
    block = block_of([Wallet(0).pay(1, 1)])
    rollup.commit_block(SEQUENCER_KEY, block.state.root, calldata(block.records))
    error = await run_until_it_fails(sequencer_on(tmp_path, rollup))
    assert isinstance(error, L1Diverged)
    assert "has 1 blocks, this sequencer's store only 0" in str(error)


async def test_a_key_the_rollup_does_not_know_is_refused(tmp_path):
    rollup = FakeRollup(GENESIS_ROOT, Account.create().address)
    error = await run_until_it_fails(sequencer_on(tmp_path, rollup))
    assert isinstance(error, NotTheSequencer) and "start it with the sequencer's keystore" in str(error)


async def test_another_genesis_on_l1_is_refused(tmp_path):
    rollup = FakeRollup(GENESIS_ROOT + 1, SEQUENCER_KEY.address)
    error = await run_until_it_fails(sequencer_on(tmp_path, rollup))
    assert isinstance(error, GenesisMismatch) and "genesis root" in str(error)


async def test_two_sequencers_cannot_share_a_directory(tmp_path, nursery):
    rollup = fake_l1()
    await nursery.start(sequencer_on(tmp_path, rollup).run)
    with pytest.raises(DataDirLocked, match="another sequencer"):
        await sequencer_on(tmp_path, rollup).run()
