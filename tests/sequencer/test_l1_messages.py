"""Issue 13 in the sequencer node: withdrawals accepted and refused, the relayer storing the
Bridge's deposits and forced withdrawals, the builder putting them first in each block within
the circuit's slots and entries, what an L1 message ahead of pending transactions does to them
(a deposit turns a pending OPEN into a TRANSFER; a forced withdrawal drops what it leaves
failing), the relayer idempotent across kills, withdrawals reported claimable with their exit,
and a database of the old schema refused. A real sequencer on loopback over a real SQLite
store; L1 is sequencer_fakes' FakeRollup and FakeBridge (the queue checked as the contract
checks it)."""

from __future__ import annotations

import random
import sqlite3
from contextlib import closing
from dataclasses import replace

import pytest
import trio
from eth_utils import keccak

from sequencer.block_data import Op, exit_leaf, exit_root, parse
from sequencer.circuit_inputs import SMALL
from sequencer.client import SequencerClient
from sequencer.errors import (
    AmountOverflow,
    BadSignature,
    InsufficientBalance,
    InvalidAddress,
    RequestRefused,
    StoreError,
    WrongRecipient,
)
from sequencer.genesis import dev_address, dev_private_key
from sequencer.service import Sequencer
from sequencer.store import DATABASE_NAME, Store, TransferState
from sequencer.transactions import DEVNET_CHAIN_ID, Kind, sign_transfer
from sequencer_fakes import GENESIS, GENESIS_BALANCE, Wallet
from test_sequencer_restart import (
    check_chain,
    fake_l1,
    run_until_it_fails,
    sequencer_on,
    stored_blocks,
    until,
)

RECIPIENT = 0x00000000000000000000000000000000000000E1
FRESH = 0xA11CE
OTHER = 0xB0B


def records(sequencer: Sequencer, number: int):
    block = sequencer.store.block(number)
    return parse(block.data, SMALL.block_size, SMALL.entries)


def ops(sequencer: Sequencer, number: int) -> list[tuple[Op, int, int, int]]:
    return [(r.op, r.a, r.b, r.amount) for r in records(sequencer, number)]


async def queued(sequencer: Sequencer, count: int) -> None:
    """Wait until the relayer has stored `count` messages and the mempool counts them."""
    await until(lambda: sequencer.mempool.next_l1_position == count)


@pytest.fixture
async def node(tmp_path, nursery):
    """A sequencer that builds only when a test asks: neither the interval nor the relayer
    wakes its builder."""
    rollup = fake_l1()
    sequencer = sequencer_on(tmp_path, rollup, block_interval=3600)
    await nursery.start(sequencer.run)
    sequencer.builder.wake = lambda: None
    return sequencer, rollup


# ---------------------------------------------------------------------- withdrawals


async def test_a_withdrawal_is_accepted_as_a_transfer_is(node):
    sequencer, rollup = node
    wallet = Wallet(0)
    hash_ = await sequencer.mempool.submit(wallet.withdraw(300, RECIPIENT))
    assert sequencer.mempool.account(0)[1].balance == GENESIS_BALANCE - 300
    assert sequencer.mempool.account(0)[1].nonce == 1
    with pytest.raises(InsufficientBalance):
        await sequencer.mempool.submit(wallet.withdraw(701, RECIPIENT, nonce=1))
    stored = sequencer.store.transfer(hash_)
    assert stored.transfer.kind is Kind.WITHDRAW and stored.state is TransferState.PENDING
    assert await sequencer.builder.build_block() == 1
    assert ops(sequencer, 1) == [(Op.WITHDRAW, 0, 0, 300)]
    assert records(sequencer, 1)[0].entry == RECIPIENT
    assert sequencer.mempool.tip.get(0).balance == GENESIS_BALANCE - 300


@pytest.mark.parametrize(("make", "error", "message"), [
    (lambda w: w.withdraw(2**32 + 1, RECIPIENT), AmountOverflow, "round it to 4294967290"),
    (lambda w: w.pay(1, 10**12 + 1), AmountOverflow, "round it to 1000000000000"),
    # a transfer's signature replayed as a withdrawal to the same number, and the reverse
    (lambda w: replace(w.pay(1, 5, to_address=RECIPIENT), to_index=0, kind=Kind.WITHDRAW),
     BadSignature, "does not verify"),
    (lambda w: replace(w.withdraw(5, dev_address(1)), kind=Kind.TRANSFER), BadSignature,
     "does not verify"),
    (lambda w: replace(w.withdraw(5, RECIPIENT), to_index=2), InvalidAddress, "index 0"),
    (lambda w: w.withdraw(5, 1 << 160), InvalidAddress, "not below 2\\^160"),
])
async def test_withdrawals_refused(node, make, error, message):
    sequencer, _ = node
    with pytest.raises(error, match=message):
        await sequencer.mempool.submit(make(Wallet(0)))
    assert len(sequencer.mempool) == 0


async def test_a_withdrawal_over_the_api_is_reported_until_claimable(node):
    sequencer, rollup = node
    wallet = Wallet(0)
    async with SequencerClient(sequencer.url) as client:
        await client.send_transfer(wallet.pay(1, 5))
        hash_ = await client.send_transfer(wallet.withdraw(250, RECIPIENT))
        old_client_json = await client.transfer(hash_)
        assert old_client_json["transfer"]["kind"] == "withdraw"
        assert (old_client_json["state"], old_client_json["claimable"],
                old_client_json["exit"]) == ("pending", False, None)
        assert await sequencer.builder.build_block() == 1
        await until(lambda: sequencer.committer.last_committed == 1)
        included = await client.transfer(hash_)
        assert (included["state"], included["block"], included["position"],
                included["claimable"]) == ("included", 1, 1, False)
        exit_ = included["exit"]
        assert (exit_["block"], exit_["position"], int(exit_["recipient"], 16),
                exit_["amount"]) == (1, 0, RECIPIENT, "250")
        # the proof climbs from the leaf to the block's exit root, as OpenZeppelin's verify
        node_ = exit_leaf(1, 0, RECIPIENT, 250)
        for sibling in exit_["proof"]:
            sibling = bytes.fromhex(sibling[2:])
            node_ = keccak(min(node_, sibling) + max(node_, sibling))
        assert node_ == exit_root(1, records(sequencer, 1))
        rollup.finalized = 1
        await until(lambda: sequencer.committer.last_finalized == 1)
        assert (await client.transfer(hash_))["claimable"] is True


async def test_transfers_without_a_kind_are_transfers(node):
    """A client that predates withdrawals sends no `kind`; the reply echoes none."""
    sequencer, _ = node
    async with SequencerClient(sequencer.url) as client:
        hash_ = await client.send_transfer(Wallet(0).pay(1, 5))
        reply = await client.transfer(hash_)
        assert "kind" not in reply["transfer"] and "claimable" not in reply
        with pytest.raises(RequestRefused, match="kind must be one of transfer, withdraw"):
            await client.call("l2_sendTransfer", {**reply["transfer"], "kind": "burn"})


# ---------------------------------------------------------------------- the builder's order


async def test_l1_messages_come_first_within_the_slots_and_entries(node):
    sequencer, rollup = node
    bridge = rollup.bridge
    wallet = Wallet(1)
    opening = await sequencer.mempool.submit(wallet.pay(9, 5, to_address=OTHER))  # an OPEN
    moving = await sequencer.mempool.submit(wallet.pay(2, 6))  # a TRANSFER
    bridge.deposit(dev_address(0), 100)
    bridge.deposit(FRESH, 70)
    await queued(sequencer, 2)
    async with SequencerClient(sequencer.url) as client:
        assert (await client.l1_message(1))["state"] == "queued"
        # The fresh address gets the lowest free leaf counting the pending OPEN of 9... 4.
        assert (await client.l1_message(1))["index"] == 4
        # Block 1: one entry, taken by the first deposit; no transaction while one is queued.
        assert await sequencer.builder.build_block() == 1
        assert ops(sequencer, 1) == [(Op.DEPOSIT, 0, 0, 100)]
        # Block 2: the second deposit takes the entry; the OPEN needs one: it and the TRANSFER
        # behind it wait.
        assert await sequencer.builder.build_block() == 2
        assert ops(sequencer, 2) == [(Op.DEPOSIT, 0, 4, 70)]
        assert await sequencer.builder.build_block() == 3
        assert ops(sequencer, 3) == [(Op.OPEN, 1, 9, 5), (Op.TRANSFER, 1, 2, 6)]
        message = await client.l1_message(1)
        assert (message["state"], message["block"], message["op"]) == ("included", 2, "DEPOSIT")
        assert (await client.transfer(opening))["block"] == 3
        assert (await client.transfer(moving))["position"] == 1
        await until(lambda: sequencer.committer.last_committed == 3)
        status = await client.status()
        assert status["l1Messages"]["queued"] == 0 and status["l1Messages"]["included"] == 2
        assert (await client.account(4))["balance"] == "70"
        assert (await client.account(0))["balance"] == str(GENESIS_BALANCE + 100)
    assert rollup.queue_next == 2


async def test_a_block_of_l1_messages_alone_is_built_when_the_relayer_wakes_the_builder(tmp_path,
                                                                                      nursery):
    rollup = fake_l1()
    sequencer = sequencer_on(tmp_path, rollup, block_interval=3600)
    await nursery.start(sequencer.run)
    rollup.bridge.deposit(FRESH, 42)
    await until(lambda: sequencer.committer.last_committed == 1)
    assert ops(sequencer, 1) == [(Op.DEPOSIT, 0, 4, 42)]
    assert rollup.queue_next == 1


async def test_a_deposit_to_a_leaf_a_pending_transfer_opens_makes_it_a_transfer(node):
    """The race: a pending transfer opens leaf 4 for FRESH, then a deposit to FRESH arrives
    and is applied first. It goes to leaf 4 (the address's pending leaf) and opens it; the
    transfer, accepted as an OPEN, is posted as a TRANSFER. A deposit to another fresh address
    takes leaf 5, not 4; and a new transfer cannot open 5 for a third address."""
    sequencer, rollup = node
    wallet = Wallet(0)
    await sequencer.mempool.submit(wallet.pay(4, 10, to_address=FRESH))
    rollup.bridge.deposit(FRESH, 20)
    rollup.bridge.deposit(OTHER, 30)
    await queued(sequencer, 2)
    assert [m.index for m in sequencer.mempool.queued()] == [4, 5]
    async with SequencerClient(sequencer.url) as client:  # a queued deposit counts as pending
        assert (await client.account(5))["pendingBalance"] == "30"
        assert (await client.account(4))["pendingBalance"] == "30"
        assert await client.free_index() == 6
    with pytest.raises(WrongRecipient):
        await sequencer.mempool.submit(wallet.pay(5, 1, to_address=0xC0DE))
    for number in (1, 2):
        assert await sequencer.builder.build_block() == number
    # As a TRANSFER it needs no entry, so it fits beside the second deposit.
    assert [ops(sequencer, n) for n in (1, 2)] == [
        [(Op.DEPOSIT, 0, 4, 20)], [(Op.DEPOSIT, 0, 5, 30), (Op.TRANSFER, 0, 4, 10)]]
    assert sequencer.mempool.tip.get(4).balance == 30
    await until(lambda: sequencer.committer.last_committed == 2)
    assert rollup.queue_next == 2 and rollup.blocks[2].new_root == sequencer.mempool.tip.root


async def test_a_forced_withdrawal_drops_the_pending_transactions_it_leaves_failing(node):
    sequencer, rollup = node
    wallet = Wallet(0)
    spends = await sequencer.mempool.submit(wallet.pay(1, 900))
    after = await sequencer.mempool.submit(wallet.pay(2, 50))  # its nonce follows the dropped one
    other = await sequencer.mempool.submit(Wallet(3).pay(2, 1))
    rollup.bridge.force_withdrawal(0, dev_address(0), 500, RECIPIENT)
    rollup.bridge.force_withdrawal(1, dev_address(2), 5, RECIPIENT)  # the wrong address: skipped
    await queued(sequencer, 2)
    assert [(s.state, s.reason is not None) for s in map(sequencer.store.transfer,
                                                          (spends, after, other))] == [
        (TransferState.DROPPED, True), (TransferState.DROPPED, True),
        (TransferState.PENDING, False)]
    assert "forced withdrawal" in sequencer.store.transfer(spends).reason
    assert len(sequencer.mempool) == 1
    for number in (1, 2):
        assert await sequencer.builder.build_block() == number
    assert [ops(sequencer, n) for n in (1, 2)] == [
        [(Op.FORCED, 0, 0, 500)], [(Op.FORCED_SKIP, 1, 0, 5), (Op.TRANSFER, 3, 2, 1)]]
    assert sequencer.mempool.tip.get(0) == replace(GENESIS[0], balance=GENESIS_BALANCE - 500)
    # the account's owner can go on, from the nonce the dropped transactions did not spend
    await sequencer.mempool.submit(Wallet(0).pay(1, 500))
    await until(lambda: sequencer.committer.last_committed == 2)
    async with SequencerClient(sequencer.url) as client:
        dropped = await client.transfer(spends)
        assert dropped["state"] == "dropped" and "forced withdrawal" in dropped["reason"]
        paid, skipped = await client.l1_message(0), await client.l1_message(1)
        assert (paid["op"], paid["claimable"], skipped["op"], skipped["exit"]) == (
            "FORCED", False, "FORCED_SKIP", None)
        exit_ = paid["exit"]
        assert (exit_["block"], exit_["position"], int(exit_["recipient"], 16),
                exit_["amount"]) == (1, 0, RECIPIENT, "500")
        assert exit_["proof"] == []  # the block's one exit: its leaf is the root
        assert exit_leaf(1, 0, RECIPIENT, 500) == exit_root(1, records(sequencer, 1))
        rollup.finalized = 2
        await until(lambda: sequencer.committer.last_finalized == 2)
        assert (await client.l1_message(0))["claimable"] is True


async def test_a_dropped_transaction_sent_again_once_it_applies_is_accepted_anew(node):
    sequencer, rollup = node
    spends = Wallet(3).pay(1, 950)
    hash_ = await sequencer.mempool.submit(spends)
    rollup.bridge.force_withdrawal(3, dev_address(3), 100, RECIPIENT)
    await queued(sequencer, 1)
    assert sequencer.store.transfer(hash_).state is TransferState.DROPPED
    # sent again while it still fails: the answer is its hash, whose state says dropped
    assert await sequencer.mempool.submit(spends) == hash_ and len(sequencer.mempool) == 0
    rollup.bridge.deposit(dev_address(3), 50)
    await queued(sequencer, 2)
    assert await sequencer.mempool.submit(spends) == hash_
    revived = sequencer.store.transfer(hash_)
    assert (revived.state, revived.reason) == (TransferState.PENDING, None)
    for number in (1, 2):
        assert await sequencer.builder.build_block() == number
    assert ops(sequencer, 2) == [(Op.DEPOSIT, 0, 3, 50), (Op.TRANSFER, 3, 1, 950)]


# ---------------------------------------------------------------------- kills and restarts


async def run_for(sequencer: Sequencer, until_, *, quiet_builder: bool = False) -> None:
    async with trio.open_nursery() as nursery:
        await nursery.start(sequencer.run)
        if quiet_builder:
            sequencer.builder.wake = lambda: None
        await until(until_)
        nursery.cancel_scope.cancel()


async def test_messages_stored_but_not_built_survive_a_kill(tmp_path):
    rollup = fake_l1()
    for amount in (1, 2, 3):
        rollup.bridge.deposit(FRESH, amount)
    first = sequencer_on(tmp_path, rollup, block_interval=3600)
    await run_for(first, lambda: first.mempool.next_l1_position == 3, quiet_builder=True)
    assert first.mempool.tip_number == 0 and len(rollup.bridge.reads) >= 1
    rollup.bridge.reads.clear()
    second = sequencer_on(tmp_path, rollup, block_interval=0.05)
    await run_for(second, lambda: second.committer.last_committed == 3)
    # the cursor came back from the store: no block was read again
    assert all(first_block > 13 for first_block, _ in rollup.bridge.reads)
    assert check_chain(tmp_path, rollup, set(), messages=3) == 3
    assert second.mempool.tip.get(4).balance == 6


async def test_a_forced_withdrawal_stored_but_not_built_survives_a_kill(tmp_path):
    rollup = fake_l1()
    first = sequencer_on(tmp_path, rollup, block_interval=3600)
    kept = []
    async with trio.open_nursery() as nursery:
        await nursery.start(first.run)
        first.builder.wake = lambda: None
        wallet = Wallet(0)
        kept.append(await first.mempool.submit(wallet.pay(1, 400)))
        dropped = await first.mempool.submit(wallet.pay(1, 400))
        rollup.bridge.force_withdrawal(0, dev_address(0), 500, RECIPIENT)
        await until(lambda: first.mempool.next_l1_position == 1)
        nursery.cancel_scope.cancel()
    second = sequencer_on(tmp_path, rollup, block_interval=0.05)
    await run_for(second, lambda: second.committer.last_committed == 1)
    assert check_chain(tmp_path, rollup, set(kept), messages=1) == 1  # [FORCED, TRANSFER]
    store, blocks = stored_blocks(tmp_path)
    try:
        assert store.transfer(dropped).state is TransferState.DROPPED
        assert store.accounts_at(1)[0].balance == GENESIS_BALANCE - 900
    finally:
        store.close()


async def test_blocks_built_but_not_committed_survive_a_kill(tmp_path):
    rollup = fake_l1()
    rollup.unreachable = 10**6  # every commit and L1 read fails...
    rollup.bridge.deposit(FRESH, 5)
    first = sequencer_on(tmp_path, rollup, block_interval=3600)
    # ...but the bridge answers: the deposit is stored and built into block 1, never committed
    await run_for(first, lambda: first.mempool.tip_number == 1)
    rollup.unreachable = 0
    second = sequencer_on(tmp_path, rollup, block_interval=3600)
    await run_for(second, lambda: second.committer.last_committed == 1)
    assert rollup.commit_calls == {1: 1}
    assert check_chain(tmp_path, rollup, set(), messages=1) == 1


async def test_a_range_read_again_adds_nothing(tmp_path):
    rollup = fake_l1()
    hashes = []
    rollup.bridge.deposit(FRESH, 5)
    first = sequencer_on(tmp_path, rollup, block_interval=3600)
    async with trio.open_nursery() as nursery:
        await nursery.start(first.run)
        first.builder.wake = lambda: None
        hashes.append(await first.mempool.submit(Wallet(0).pay(1, 1)))
        await until(lambda: first.mempool.next_l1_position == 1)
        assert await first.builder.build_block() == 1
        nursery.cancel_scope.cancel()
    # Rewind the relayer's cursor behind the store's back: the next start reads it all again.
    with closing(sqlite3.connect(tmp_path / DATABASE_NAME)) as raw, raw:
        raw.execute("UPDATE meta SET value = '-1' WHERE key = 'relayer_cursor'")
    rollup.bridge.deposit(OTHER, 6)
    second = sequencer_on(tmp_path, rollup, block_interval=0.05)
    await run_for(second, lambda: second.committer.last_committed == 2)
    store, blocks = stored_blocks(tmp_path)
    store.close()
    assert [b.l1_messages for b in blocks] == [(0,), (1,)]
    assert check_chain(tmp_path, rollup, set(hashes), messages=2) == 2


async def test_a_skipped_queue_position_stops_the_node(tmp_path):
    rollup = fake_l1()
    rollup.bridge.deposit(FRESH, 5)
    rollup.bridge.deposit(OTHER, 6)
    del rollup.bridge.events[0]  # a relayer that missed a message must not go on without it
    error = await run_until_it_fails(sequencer_on(tmp_path, rollup, block_interval=3600))
    assert isinstance(error, StoreError) and "where 0 comes next" in str(error)


async def test_an_unreachable_bridge_is_retried(tmp_path, nursery):
    rollup = fake_l1()
    rollup.bridge.unreachable = 3
    rollup.bridge.deposit(FRESH, 5)
    sequencer = sequencer_on(tmp_path, rollup, block_interval=3600)
    await nursery.start(sequencer.run)
    await until(lambda: sequencer.relayer.last_error is not None)
    assert any("follow the bridge" in p for p in sequencer.health()["problems"])
    await until(lambda: sequencer.committer.last_committed == 1)
    assert sequencer.relayer.last_error is None


# ---------------------------------------------------------------------- the schema


def test_a_database_of_the_old_schema_is_refused(tmp_path):
    Store.open(tmp_path, SMALL, GENESIS).close()
    with closing(sqlite3.connect(tmp_path / DATABASE_NAME)) as raw, raw:
        raw.execute("UPDATE meta SET value = '1' WHERE key = 'schema'")
    with pytest.raises(StoreError, match="has schema 1, this sequencer reads schema 2.*new data "
                                         "directory"):
        Store.open(tmp_path, SMALL, GENESIS)
    Store.open(tmp_path / "new", SMALL, GENESIS).close()



# ---------------------------------------------------------------------- the rule, at random


async def test_random_l1_messages_among_transactions_never_fail_a_build(tmp_path):
    """Transfers, withdrawals, deposits and forced withdrawals in a random order, blocks built at
    random moments: every build succeeds (an accepted transaction either applies or was dropped
    by a forced withdrawal before the build), L1 accepts every block with its queue, and the
    chain replays from the store."""
    rollup, randomness = fake_l1(), random.Random(13)
    keys = range(8)  # dev keys; 4..7 own no account until a deposit or a transfer opens one
    accepted, built = set(), 0
    async with trio.open_nursery() as nursery:
        sequencer = sequencer_on(tmp_path, rollup, block_interval=3600)
        await nursery.start(sequencer.run)
        sequencer.builder.wake = lambda: None
        mempool = sequencer.mempool
        for _ in range(100):
            action = randomness.choice(["transfer"] * 5 + ["withdraw", "deposit", "forced"] * 2
                                       + ["build"])
            owner = randomness.choice(keys)
            index = mempool.index_of(dev_address(owner))
            if action in ("transfer", "withdraw") and index is not None:
                wallet = Wallet(index, mempool.account(index)[1].nonce)
                amount = randomness.choice([1, 100, 300, 600])
                if action == "transfer":
                    to = randomness.choice(keys)
                    to_index = mempool.index_of(dev_address(to))
                    if to_index is None:
                        to_index = mempool.lowest_free_index()
                    transaction = wallet.pay(to_index, amount, dev_address(to))
                else:
                    transaction = wallet.withdraw(amount, RECIPIENT)
                transaction = replace(transaction, public_key=None, signature=None)
                signed = sign_transfer(transaction, dev_private_key(owner), DEVNET_CHAIN_ID)
                try:
                    accepted.add(await mempool.submit(signed))
                except InsufficientBalance:
                    pass
            elif action == "deposit":
                rollup.bridge.deposit(dev_address(owner), randomness.choice([5, 50, 500]))
            elif action == "forced":  # mostly of the owner's own account, else skipped
                if index is None or randomness.random() < 0.3:
                    index = randomness.randrange(6)
                rollup.bridge.force_withdrawal(index, dev_address(owner),
                                               randomness.choice([5, 50, 500]), RECIPIENT)
            else:
                built += await sequencer.builder.build_block() is not None
            await trio.sleep(randomness.choice([0, 0.06]))  # the relayer reads now and then
        await until(lambda: mempool.next_l1_position == len(rollup.bridge.events))
        while await sequencer.builder.build_block() is not None:
            built += 1
        await until(lambda: sequencer.committer.last_committed == mempool.tip_number)
        nursery.cancel_scope.cancel()
    store, _ = stored_blocks(tmp_path)
    try:
        included = {h for h in accepted if store.transfer(h).state is TransferState.INCLUDED}
        dropped = {h for h in accepted if store.transfer(h).state is TransferState.DROPPED}
    finally:
        store.close()
    assert included | dropped == accepted and built >= 5
    assert check_chain(tmp_path, rollup, included, messages=len(rollup.bridge.events)) == built
