"""The coordinator's roster snapshots on L1: when it takes one (`snapshot_due`, as vectors, then
`CoordinatorL1.refresh_snapshot` against the contracts), the roster it hands the core for a block
(its snapshot's entries in snapshot order), the draw proofs its settlements carry, and slashing
evidence the contract refuses for good."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from eth_account import Account
from eth_utils import keccak

from coordinator.errors import CoordinatorError
from factories import stub_rollup_world
from coordinator.l1 import CoordinatorL1, roster_changed, snapshot_due
from market_contracts.bindings import Market, RosterSnapshot
from market_contracts.errors import ChainError
from market_contracts.ledger import NO_DRAW, OutcomeReport
from market_contracts.rollup import Rollup
from market_contracts.rules import (
    MarketParams,
    Outcome,
    TaskKind,
    block_seed,
    draw_slots,
    slot_counts,
    snapshot_entries,
    snapshot_root,
)
from market_contracts.submissions import SlashEvidence, sign_submission
from market_contracts.units import ONE_TOKEN
from provernet.world import ONE_TRANSFER, World as BuiltWorld
from zkp.aggregate import AggregateProof
from zkp.proof import Proof
from zkp.system import system

INTERVAL = 60
PARAMS = MarketParams.devnet()
MAX_AGE = PARAMS.snapshot_max_age
ETH = 10**18
BATCH_SIZE = 2
A, B, C = (f"0x{n:040x}" for n in (0xA, 0xB, 0xC))


def snapshot(timestamp: int, roster: list[tuple[str, int]]) -> RosterSnapshot:
    entries = snapshot_entries(roster)
    return RosterSnapshot(0, 1, timestamp, sum(e.weight for e in entries),
                          snapshot_root(entries), entries)


# (live roster, newest snapshot taken at (timestamp, roster) or None, now, due?)
POLICY = {
    "none yet, nobody staked": ([], None, 1_000, False),
    "none yet, someone staked": ([(A, 5)], None, 1_000, True),
    "none yet, only zero weights": ([(A, 0)], None, 1_000, False),
    "unchanged and young": ([(A, 5)], (1_000, [(A, 5)]), 1_000 + INTERVAL, False),
    "changed, one second short of the interval": ([(A, 5), (B, 1)], (1_000, [(A, 5)]),
                                                   1_000 + INTERVAL - 1, False),
    "changed, the interval passed": ([(A, 5), (B, 1)], (1_000, [(A, 5)]), 1_000 + INTERVAL, True),
    "a weight changed (reputation), the interval passed": ([(A, 6)], (1_000, [(A, 5)]),
                                                           1_000 + INTERVAL, True),
    "reordered is a change (slots walk snapshot order)": ([(B, 1), (A, 5)],
                                                          (1_000, [(A, 5), (B, 1)]),
                                                          1_000 + INTERVAL, True),
    "a zero weight left in is no change": ([(A, 5), (C, 0)], (1_000, [(A, 5)]),
                                           1_000 + MAX_AGE // 2, False),
    "everyone left, the interval passed": ([(A, 0)], (1_000, [(A, 5)]), 1_000 + INTERVAL, True),
    "unchanged, half the max age old": ([(A, 5)], (1_000, [(A, 5)]), 1_000 + MAX_AGE // 2, False),
    "unchanged, past half the max age": ([(A, 5)], (1_000, [(A, 5)]),
                                         1_000 + MAX_AGE // 2 + 1, True),
    "nobody staked, however old": ([], (1_000, []), 1_000 + 10 * MAX_AGE, False),
}


@pytest.mark.parametrize("case", POLICY.values(), ids=POLICY.keys())
def test_snapshot_due(case):
    live, newest, now, due = case
    newest = None if newest is None else snapshot(*newest)
    assert snapshot_due(changed=roster_changed(live, newest), staked=any(w for _, w in live),
                        newest_timestamp=None if newest is None else newest.timestamp, now=now,
                        interval=INTERVAL, max_age=MAX_AGE) is due


# ---------------------------------------------------------------------- against the contracts

@dataclass
class World:
    chain: object
    owner: object
    sequencer: object
    coordinator: object
    market: Market
    rollup: Rollup
    stub: object
    #: what built it, for the accounts and rollers a test adds
    built: BuiltWorld

    def l1(self, **settings) -> CoordinatorL1:
        return CoordinatorL1(self.chain, self.market, self.rollup, self.coordinator, **settings)

    def account(self, tokens: int = 1_000):
        return self.built.new_account(eth=10 * ETH, tokens=tokens * ONE_TOKEN)

    def roller(self, stake: int = 200):
        account = Account.create()
        self.built.stake_rollers([account], [stake * ONE_TOKEN], eth=10 * ETH,
                                 tokens=1_000 * ONE_TOKEN)
        return account

    def commit(self) -> int:
        last = self.rollup.block(self.rollup.last_committed())
        return self.rollup.commit_block(self.sequencer, last.new_root + 1, ONE_TRANSFER).number

    def at(self, timestamp: int) -> None:
        """Mine a block at `timestamp`: what L1's time is for the next reads."""
        self.chain.set_next_block_timestamp(timestamp)
        self.chain.mine()

    def finalize(self, first: int, prover: str) -> None:
        """Finalize the batch from block `first`, `prover` named for each block (the stub
        verifier accepts what it is told to expect)."""
        provers = [prover] * BATCH_SIZE
        self.chain.transact(self.owner, self.stub.functions.expect(
            self.rollup.batch_inputs(first, provers)))
        proof = AggregateProof(a=((1, 2),) * BATCH_SIZE, b=(((1, 2), (3, 4)),) * BATCH_SIZE,
                               c=(1, 2))
        self.rollup.finalize_batch(self.owner, first, provers, proof)


@pytest.fixture(scope="module")
def deployed(chain) -> World:
    """A market serving a Rollup of batches of two blocks, its verifier a stub."""
    world, sequencer, coordinator = stub_rollup_world(chain, PARAMS, batch_size=BATCH_SIZE)
    return World(chain, world.owner, sequencer, coordinator, world.market, world.rollup,
                 world.stub, world)


@pytest.fixture
def world(deployed: World, fresh_chain) -> World:
    return deployed


def test_a_stake_change_is_snapshotted_once_the_interval_has_passed_and_not_before(world):
    l1 = world.l1()
    assert l1.refresh_snapshot(INTERVAL) is None  # nobody staked: nothing to snapshot
    first = world.roller()
    taken = l1.refresh_snapshot(INTERVAL)
    assert taken is not None  # the first stake: no snapshot yet, so at once
    assert [e.roller for e in l1.snapshot(taken).entries] == [first.address]
    assert l1.refresh_snapshot(INTERVAL) is None  # nothing changed

    second = world.roller()
    at = l1.snapshot(taken).timestamp
    world.at(at + INTERVAL - 1)
    assert l1.refresh_snapshot(INTERVAL) is None  # changed, but the newest is too young
    world.at(at + INTERVAL)
    again = l1.refresh_snapshot(INTERVAL)
    assert again == taken + 1
    assert [e.roller for e in l1.newest_snapshot().entries] == [first.address, second.address]
    assert l1.refresh_snapshot(INTERVAL) is None


def test_an_unchanged_roster_is_snapshotted_again_before_it_grows_too_old(world):
    l1 = world.l1()
    world.roller()
    taken = l1.refresh_snapshot(INTERVAL)
    at = l1.snapshot(taken).timestamp
    world.at(at + MAX_AGE // 2)
    assert l1.refresh_snapshot(INTERVAL) is None
    world.at(at + MAX_AGE // 2 + 1)
    refreshed = l1.refresh_snapshot(INTERVAL)
    assert refreshed == taken + 1
    assert l1.snapshot(refreshed).entries == l1.snapshot(taken).entries


def test_only_recent_snapshots_are_kept_and_an_older_one_is_read_again(world):
    l1 = world.l1(snapshots_kept=1)
    first = world.roller()
    taken = l1.refresh_snapshot(INTERVAL)
    second = world.roller()
    world.at(l1.snapshot(taken).timestamp + INTERVAL)
    again = l1.refresh_snapshot(INTERVAL)
    assert [e.roller for e in l1.newest_snapshot().entries] == [first.address, second.address]
    assert list(l1._snapshots) == [again]  # the bound: the newest alone
    assert [e.roller for e in l1.snapshot(taken).entries] == [first.address]
    assert list(l1._snapshots) == [taken]  # read again from its event, in the other's place


def test_a_blocks_roster_is_its_snapshot_and_settlement_proves_each_draw(world):
    rollers = [world.roller(stake) for stake in (200, 600, 400)]
    l1 = world.l1()
    early = world.commit()  # before any snapshot: no roster, so no drawn slots
    taken = l1.refresh_snapshot(INTERVAL)
    late = world.commit()
    world.chain.mine()  # past the randomness block of both
    for block in (early, late):
        world.rollup.record_randomness(world.coordinator, block)

    assert l1.roster_of(early) == (None, ())
    snapshot, entries = l1.roster_of(late)
    assert snapshot == taken
    assert [(e.roller, e.weight) for e in entries] == [
        (r.address, world.market.roller_info(r.address).weight) for r in rollers]

    world.finalize(early, rollers[0].address)
    seed = block_seed(world.chain.chain_id, world.rollup.address, late, 0,
                      world.rollup.randomness(late))
    held = slot_counts(draw_slots(seed, [(e.roller, e.weight) for e in entries], PARAMS.m))
    drawn = sorted((OutcomeReport(roller, TaskKind.BLOCK, late, 0, slots, Outcome.ON_TIME)
                    for roller, slots in held.items()), key=OutcomeReport.sort_key)
    rescue = OutcomeReport(rollers[0].address, TaskKind.BLOCK, early, PARAMS.r_open, 1,
                           Outcome.ON_TIME)
    draws = l1.draws([rescue, *drawn])
    assert draws[0] == NO_DRAW  # an open round is checked against L1's prover instead
    assert [d.snapshot for d in draws[1:]] == [snapshot] * len(drawn)

    # A drawn record of a block without a roster snapshot cannot be proven: refused here, with
    # its reason, before anything is sent.
    with pytest.raises(CoordinatorError, match=f"block {early} has no roster snapshot"):
        l1.draws([OutcomeReport(rollers[0].address, TaskKind.BLOCK, early, 0, 1,
                                Outcome.ON_TIME)])

    l1.settle(0, (rescue, *drawn))
    assert world.market.batch_settled(world.rollup.address, 0)


def test_commits_are_drawn_as_the_contract_draws_them_and_a_retry_sends_nothing_twice(
        world, monkeypatch):
    """`draw_inputs` records a poll's randomness in one transaction and takes each block's
    roster by the contract's rule from the snapshot events: what `rosterSnapshotOf` and
    `randomness` then say. A record whose reply was lost (mined, but the call raised) is read
    back on the retry, not sent again, and so is every record a restarted node finds."""
    [world.roller(stake) for stake in (200, 600)]
    l1 = world.l1()
    l1.refresh_snapshot(INTERVAL)
    start = world.chain.w3.eth.block_number + 1
    numbers = [world.commit() for _ in range(3)]
    world.chain.mine()
    world.chain.mine()  # past the randomness block of all three
    blocks = world.rollup.committed_blocks(start)
    assert [b.number for b in blocks] == numbers

    record = world.rollup.record_randomness_many

    def reply_lost(*args, **kwargs):
        record(*args, **kwargs)
        raise ChainError("the node went away before the receipt came")

    monkeypatch.setattr(world.rollup, "record_randomness_many", reply_lost)
    with pytest.raises(ChainError):
        l1.draw_inputs(blocks)
    monkeypatch.setattr(world.rollup, "record_randomness_many", record)
    sent = world.chain.w3.eth.get_transaction_count(world.coordinator.address)
    drawn = l1.draw_inputs(blocks)
    assert world.chain.w3.eth.get_transaction_count(world.coordinator.address) == sent
    # A restarted coordinator does not know what it sent: it reads before it records.
    assert world.l1().draw_inputs(blocks) == drawn
    assert world.chain.w3.eth.get_transaction_count(world.coordinator.address) == sent
    for block, inputs in zip(blocks, drawn, strict=True):
        snapshot, entries = l1.roster_of(block.number)  # the contract's call
        assert (inputs.randomness, inputs.snapshot) == (world.rollup.randomness(block.number),
                                                        snapshot)
        assert inputs.roster == tuple((e.roller, e.weight) for e in entries)


# ---------------------------------------------------------------------- slashing evidence

def test_evidence_the_contract_refuses_for_good_is_dropped_not_retried(deployed):
    """A forged signature, or a statement L1 no longer holds (the block was reverted and
    committed anew), can never slash: `slash` names the refusal instead of raising, so the
    ordered L1 worker moves on rather than retrying it ahead of every later action."""
    world = deployed
    l1, roller, forger = world.l1(), world.roller(), world.account()
    n = world.commit()
    groth16 = system("groth16")
    junk = groth16.seal(Proof(a=(1, 2), b=((1, 2), (3, 4)), c=(1, 2)))

    def evidence(signer, statement: bytes) -> SlashEvidence:
        signature = sign_submission(signer, world.chain.chain_id, world.rollup.address,
                                    TaskKind.BLOCK, n, 0, statement, groth16.digest(junk))
        return SlashEvidence(chain_id=world.chain.chain_id, rollup=world.rollup.address,
                             staking=world.market.deployment.staking, kind=TaskKind.BLOCK,
                             index=n, round=0, statement=statement, roller=roller.address,
                             signature=signature, proof=junk)

    assert l1.slash(evidence(forger, world.rollup.statement(n))) == "BadSignature"
    assert l1.slash(evidence(roller, keccak(text="another block"))) == "StaleStatement"
    assert world.market.roller_info(roller.address).active == 200 * ONE_TOKEN
