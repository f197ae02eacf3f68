"""Factories for the contract tests: a deployed market serving a Rollup, per chain backend, reset
between tests.

The Rollup finalizes against `BatchVerifierStub` (it accepts exactly the inputs it is told to
expect), so settlement tests get finalized batches without proving anything; the slashing tests
attach a Rollup with real verifiers instead. The world's rollers stake and a roster snapshot is
taken before any block is committed, so every finalized block draws from them, and its randomness
is recorded: settlement tests report the rollers the draw really chose (`MarketWorld.drawn`).
"""

from __future__ import annotations

import pytest
from eth_account import Account

from market_contracts.bindings import Market
from market_contracts.rollup import Rollup
from market_contracts.ledger import NO_DRAW, DrawProof, OutcomeReport, draw_proof, max_slots
from market_contracts.rules import (
    MarketParams,
    Outcome,
    RewardMode,
    RosterEntry,
    TaskKind,
    batch_seed,
    block_seed,
    draw_slots,
    first_block_of,
    is_open_round,
    last_block_of,
    slot_counts,
)
from market_contracts.units import ONE_TOKEN
from provernet.world import World
from sequencer.block_data import Op, Record, calldata
from zkp.aggregate import AggregateProof

ETH = 10**18
#: What the test blocks post: one transfer (the contract checks the data, not the transition).
ONE_TRANSFER = calldata([Record(Op.TRANSFER, 0, 1, 1)])
#: Blocks per batch of the test rollups: small, since every block is a commit transaction.
BATCH_SIZE = 2
#: Batches 0..FINALIZED_BATCHES-1 are finalized when the world is made.
FINALIZED_BATCHES = 3
GENESIS_ROOT = 1
#: The stakes (tokens) of the world's rollers, staked before the roster snapshot of every block
#: committed by the world: unequal, so that the draw is not uniform.
ROLLER_STAKES = (200, 300, 500)


class MarketWorld:
    """A deployed market serving one Rollup, plus the people around it: an owner (deployer), a
    sequencer, a coordinator bound to the rollup, rollers."""

    def __init__(self, chain, params: MarketParams):
        self.chain = chain
        self.params = params
        self.world = World.deploy(chain, params)
        self.owner = self.world.owner
        self.sequencer = self.new_account(tokens=0)
        self.rollup = self.add_rollup()
        self.stub = self.world.stub
        self.coordinator = self.new_coordinator()
        self.rollers = [self.new_roller(stake) for stake in ROLLER_STAKES]
        self.snapshot_id = self.world.snapshot_roster()
        self.finalize_through(FINALIZED_BATCHES - 1)

    batch_size = BATCH_SIZE
    finalized_batches = FINALIZED_BATCHES

    @property
    def market(self) -> Market:
        """The market, its deployment naming the first rollup."""
        return self.world.market

    @staticmethod
    def first_block(batch: int) -> int:
        return first_block_of(batch, BATCH_SIZE)

    def add_rollup(self) -> Rollup:
        """A new Rollup (batches of BATCH_SIZE) that the market serves; the stub stands in for
        its block verifier, which only slashing calls."""
        return Rollup.from_deployment(self.chain, self.world.attach_rollup(
            self.sequencer.address, genesis_root=GENESIS_ROOT, batch_size=BATCH_SIZE,
            max_transfers=1))

    def new_coordinator(self, rollup: Rollup | None = None):
        account = self.new_account(tokens=0)
        self.world.register_coordinator(account.address, rollup=(rollup or self.rollup).address,
                                        peer_id=b"peer-" + account.address.encode())
        return account

    def commit(self, rollup: Rollup | None = None):
        """Commit the next (empty) block; its new root is one more than the last."""
        rollup = rollup or self.rollup
        last = rollup.block(rollup.last_committed())
        return rollup.commit_block(self.sequencer, last.new_root + 1, ONE_TRANSFER)

    def finalize_through(self, batch: int, rollup: Rollup | None = None, *,
                         record: bool = True) -> None:
        """Commit and finalize every batch up to `batch`, block n proven (as L1 records it) by
        `prover_of(n)`; `record`: record each block's randomness too."""
        rollup = rollup or self.rollup
        last = last_block_of(batch, BATCH_SIZE)
        while rollup.last_committed() < last:
            self.commit(rollup)
        proof = AggregateProof(a=((1, 2),) * BATCH_SIZE, b=(((1, 2), (3, 4)),) * BATCH_SIZE, c=(1, 2))
        while rollup.last_finalized() < last:
            first = rollup.last_finalized() + 1
            provers = [self.prover_of(n) for n in range(first, first + BATCH_SIZE)]
            self.chain.transact(self.owner, self.stub.functions.expect(
                rollup.batch_inputs(first, provers)))
            rollup.finalize_batch(self.owner, first, provers, proof)
        for n in range(1, last + 1):
            if record and rollup.randomness(n) is None:
                rollup.record_randomness(self.owner, n)

    def prover_of(self, n: int) -> str:
        """Who proves block n in the world's batches: its rollers in turn."""
        return self.rollers[(n - 1) % len(self.rollers)].address

    # ------------------------------------------------------------ the draw, as L1 holds it

    def roster_of(self, kind: TaskKind, task: int,
                  rollup: Rollup | None = None) -> tuple[int, list[RosterEntry]] | None:
        """The task's roster snapshot (id, entries) as the contract chooses it; None if empty."""
        rollup = rollup or self.rollup
        snapshot = self.market.roster_snapshot_of(rollup.address, self.draw_block(kind, task))
        if snapshot is None:
            return None
        return snapshot, self.market.snapshots()[snapshot].entries

    @staticmethod
    def draw_block(kind: TaskKind, task: int) -> int:
        """The L2 block whose roster and randomness a task draws from."""
        return task if kind is TaskKind.BLOCK else last_block_of(task, BATCH_SIZE)

    def drawn(self, kind: TaskKind, task: int, round_: int,
              rollup: Rollup | None = None) -> dict[str, int]:
        """Who holds how many slots of the task's drawn round `round_`."""
        rollup = rollup or self.rollup
        _, entries = self.roster_of(kind, task, rollup)
        seed_of = block_seed if kind is TaskKind.BLOCK else batch_seed
        seed = seed_of(self.chain.chain_id, rollup.address, task, round_,
                       rollup.randomness(self.draw_block(kind, task)))
        return slot_counts(draw_slots(seed, [(e.roller, e.weight) for e in entries],
                                      max_slots(kind, round_, self.params)))

    def records(self, kind: TaskKind, task: int, round_: int, outcome: Outcome = Outcome.ON_TIME,
                rollup: Rollup | None = None) -> list[OutcomeReport]:
        """One record per holder of the round, in settlement order."""
        held = self.drawn(kind, task, round_, rollup)
        return [OutcomeReport(roller, kind, task, round_, held[roller], outcome)
                for roller in sorted(held, key=lambda a: int(a, 16))]

    def draws(self, outcomes: list[OutcomeReport], rollup: Rollup | None = None) -> list[DrawProof]:
        """The draw proof of each record: its roller's entry in the task's snapshot (NO_DRAW in
        the open round)."""
        proofs = []
        for o in outcomes:
            if is_open_round(o.round, self.params):
                proofs.append(NO_DRAW)
                continue
            snapshot, entries = self.roster_of(o.kind, o.task, rollup)
            proofs.append(draw_proof(snapshot, entries, o.roller))
        return proofs

    def settle(self, batch: int, outcomes: list[OutcomeReport], coordinator=None,
               rollup: Rollup | None = None):
        """Settle with the draw proofs of `draws`."""
        return self.market.settle(coordinator or self.coordinator, batch, outcomes,
                                  self.draws(outcomes, rollup))

    def new_account(self, tokens: int = 1_000):
        return self.world.new_account(eth=10 * ETH, tokens=tokens * ONE_TOKEN)

    def new_roller(self, stake_tokens: int = 200, tokens: int = 1_000):
        account = Account.create()
        self.world.stake_rollers([account], [stake_tokens * ONE_TOKEN], eth=10 * ETH,
                                 tokens=tokens * ONE_TOKEN)
        return account

    def fund_pool(self, tokens: int, rollup: Rollup | None = None) -> None:
        self.world.fund_rewards(tokens * ONE_TOKEN, (rollup or self.rollup).address)


def rolled_back(world: MarketWorld):
    """Hands the world to one test and undoes whatever the test did."""
    snapshot = world.chain.snapshot()
    yield world
    world.chain.revert(snapshot)


@pytest.fixture(scope="module")
def deployed_world(chain) -> MarketWorld:
    return MarketWorld(chain, MarketParams.devnet())


@pytest.fixture
def world(deployed_world):
    yield from rolled_back(deployed_world)


@pytest.fixture(scope="module")
def deployed_lottery_world(chain) -> MarketWorld:
    return MarketWorld(chain, MarketParams.devnet().replace(reward_mode=RewardMode.LOTTERY))


@pytest.fixture
def lottery_world(deployed_lottery_world):
    yield from rolled_back(deployed_lottery_world)
