"""L1 as the simulation sees it: the staking contract (the in-memory `Ledger`, the same rules the
contract applies, roster snapshots and the draw checks of `settle` included), the Rollup
(committed height, each block's pinned roster snapshot and randomness, its statement, the
finalized height and each block's prover) and the coordinator registry.

L1 time is the run's virtual time in whole seconds (a snapshot's timestamp, a block's draw time).

Every ledger operation is also written to `journal`, in order, so that a run can be replayed
against the real contracts (`tests/simulation/test_replay_on_chain.py`): the same stakes,
settlements, lottery draws and slashes must leave the same balances and reputations on chain.

Identities come from fixed private keys (`roller_key`), so a replay can sign as the simulated
rollers: addresses decide the draws, the lottery and the order of settlements, so they must be
the same.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from eth_account import Account
from eth_utils import keccak

from coordinator.l1 import snapshot_due
from market_contracts.ledger import (
    NO_DRAW,
    DrawProof,
    Ledger,
    LotteryEntry,
    OutcomeReport,
    draw_proof,
    lottery_entries,
)
from market_contracts.rules import (
    MarketParams,
    TaskKind,
    blocks_of,
    is_open_round,
    last_block_of,
    roster_block,
)
from market_contracts.submissions import batch_statement, block_statement, offense_key
from sequencer.block_data import Op, Record, block_commitment, calldata

CHAIN_ID = 31337
#: The simulated Rollup's profile: a block posts one record and consumes at most one entry (a
#: replay deploys its Rollup so), which its data commitment pads to.
SLOTS, ENTRIES = 1, 1
#: The Rollup's address in seeds and offense keys; the simulation deploys no contract.
ROLLUP = "0x3eAabe171D8A4EACe693Ae2D9a1E40b458151a99"


def roller_key(index: int) -> bytes:
    return keccak(text=f"provernet.simulation.roller.{index}")


COORDINATOR_KEY = keccak(text="provernet.simulation.coordinator")
#: the coordinator a rollup team registers when it removes a misreporting one
BACKUP_COORDINATOR_KEY = keccak(text="provernet.simulation.coordinator.backup")
#: funds the reward pool
FUNDER_KEY = keccak(text="provernet.simulation.funder")


def address_of(key: bytes) -> str:
    return Account.from_key(key).address


COORDINATOR = address_of(COORDINATOR_KEY)
BACKUP_COORDINATOR = address_of(BACKUP_COORDINATOR_KEY)
FUNDER = address_of(FUNDER_KEY)


@dataclass(frozen=True)
class Fund:
    amount: int


@dataclass(frozen=True)
class Stake:
    roller: str
    amount: int


@dataclass(frozen=True)
class SnapshotRoster:
    """`RollerStaking.snapshotRoster()`, by the coordinator."""


@dataclass(frozen=True)
class Commit:
    """`Rollup.commitBlock` of `block` with these roots, posting `data` (a recommit after a
    revert posts other data, so it has another data hash and statement)."""

    block: int
    old_root: int
    new_root: int
    data: bytes


@dataclass(frozen=True)
class Revert:
    from_block: int


@dataclass(frozen=True)
class FinalizeBatch:
    batch: int
    #: the prover of each block of the batch, in block order
    provers: tuple[str, ...]


@dataclass(frozen=True)
class SettleBatch:
    coordinator: str
    batch: int
    outcomes: tuple[OutcomeReport, ...]
    draws: tuple[DrawProof, ...]


@dataclass(frozen=True)
class DrawLottery:
    batch: int
    entries: tuple[LotteryEntry, ...]
    #: the lottery randomness the run drew (on chain it is an L1 block hash, which a replay
    #: cannot choose: it recomputes the winners from both)
    randomness: bytes


@dataclass(frozen=True)
class SlashProof:
    """Signed evidence that `roller`'s proof of the block or batch `index` (round `round`) under
    `statement` does not verify."""

    roller: str
    kind: TaskKind
    index: int
    round: int
    statement: bytes


@dataclass(frozen=True)
class RemoveCoordinator:
    """The rollup team removes `coordinator` and registers `replacement` for the same Rollup."""

    coordinator: str
    replacement: str


JournalEntry = (Fund | Stake | SnapshotRoster | Commit | Revert | FinalizeBatch | SettleBatch | DrawLottery
                | SlashProof | RemoveCoordinator)


@dataclass(frozen=True)
class Pin:
    """What `commitBlock` pins for a block number on its first commit, kept across reverts."""

    roster_block: int
    #: the hash of the L1 block after the first commit (`recordRandomness`)
    randomness: bytes
    #: the id of the block's roster snapshot (`rosterSnapshotOf`); None: its roster is empty
    snapshot: int | None
    #: that snapshot's entries as (roller, weight), in snapshot order: the block's roster
    roster: tuple[tuple[str, int], ...]


def state_roots(block: int) -> tuple[int, int]:
    """The (old, new) state roots of `block`: a chain of distinct roots. A recommit keeps them
    (the same transactions) and changes only the data hash."""
    return 11 * (block - 1), 11 * block


def block_records(commits: int) -> list[Record]:
    """What a block posts on its commit after `commits` earlier ones of its number: one
    transfer, whose amount tells the commits apart."""
    return [Record(Op.TRANSFER, 0, 1, commits + 1)]


class L1:
    def __init__(self, params: MarketParams, chain_id: int = CHAIN_ID, rollup: str = ROLLUP):
        """`chain_id` and `rollup` go into seeds and offense keys: a replay on a real chain gives
        its own."""
        self.params = params
        self.chain_id = chain_id
        self.rollup = rollup
        #: where a block's randomness comes from, given its number (its Commit is journaled
        #: already); None: the run's generator. A replay on a real chain sets it, so that the
        #: run draws under the chain's randomness and its settlements pass the contract's draw
        #: checks.
        self.randomness_source: Callable[[int], bytes] | None = None
        self.ledger = Ledger(params, chain_id=chain_id)
        self.ledger.add_rollup(self.rollup, params.k)
        self.ledger.register_coordinator(COORDINATOR, self.rollup)
        self.journal: list[JournalEntry] = []
        #: wei slashed from each roller
        self.slashed: dict[str, int] = {}
        #: the Rollup: last committed L2 block, each block number's pin, each live block's
        #: statement, how often each number was committed, the finalized height
        self.height = 0
        self.pins: dict[int, Pin] = {}
        self.statements: dict[int, bytes] = {}
        self.commits: dict[int, int] = {}
        self.last_finalized = 0
        #: one L1 block per transaction the simulation sends
        self.l1_block = 0
        #: each snapshot's roster as the core takes it, by id; the live roster it was taken from
        self._snapshot_rosters: list[tuple[tuple[str, int], ...]] = []
        self._snapshotted: tuple[tuple[str, int], ...] | None = None
        #: draw proofs already built, by (snapshot, roller): building one hashes the whole tree
        self._draw_proofs: dict[tuple[int, str], DrawProof] = {}
        #: the roster in registration order (as `rosterPage`), and who changed since it was built
        self._entries: list[tuple[str, int]] = []
        self._position: dict[str, int] = {}
        self._roster: tuple[tuple[str, int], ...] = ()
        self._changed: set[str] = set()

    # ---------------------------------------------------------------- staking contract

    def fund(self, amount: int) -> None:
        self.ledger.mint(FUNDER, amount)
        self.ledger.fund_rewards(FUNDER, self.rollup, amount)
        self.journal.append(Fund(amount))

    def stake(self, roller: str, amount: int) -> None:
        self.ledger.mint(roller, amount)
        self.ledger.stake(roller, amount)
        self.journal.append(Stake(roller, amount))
        if roller not in self._position:
            self._position[roller] = len(self._entries)
            self._entries.append((roller, 0))
        self._changed.add(roller)

    def take_snapshot(self, now_ms: int) -> int:
        """`snapshotRoster()` at `now_ms`; returns the snapshot's id."""
        self.l1_block += 1
        snapshot = self.ledger.take_snapshot(self.l1_block, now_ms // 1000)
        self._snapshotted = self.roster()
        self._snapshot_rosters.append(tuple((e.roller, e.weight)
                                            for e in self.ledger.snapshots[snapshot].entries))
        self.journal.append(SnapshotRoster())
        return snapshot

    def snapshot_due(self, now_ms: int, interval_ms: int) -> bool:
        """The coordinator's policy, `coordinator.l1.snapshot_due`, on the ledger's roster."""
        roster = self.roster()
        newest = self.ledger.snapshots[-1] if self.ledger.snapshots else None
        return snapshot_due(changed=roster != self._snapshotted,
                            staked=any(w for _, w in roster),
                            newest_timestamp=None if newest is None else newest.timestamp,
                            now=now_ms / 1000, interval=interval_ms / 1000,
                            max_age=self.params.snapshot_max_age)

    def draws(self, batch: int, outcomes: tuple[OutcomeReport, ...]) -> tuple[DrawProof, ...]:
        """The draw proof of each record (`ledger.draw_proof` in the snapshot its task draws
        from); `NO_DRAW` for an open round, or a roller with no entry (which `settle` refuses)."""
        return tuple(self._draw_proof(batch, o) for o in outcomes)

    def _draw_proof(self, batch: int, o: OutcomeReport) -> DrawProof:
        if is_open_round(o.round, self.params):
            return NO_DRAW
        block = o.task if o.kind is TaskKind.BLOCK else last_block_of(batch, self.params.k)
        snapshot = self.ledger.roster_snapshot_of(self.rollup, block)
        if snapshot is None:
            return NO_DRAW
        key = (snapshot, o.roller)
        if key not in self._draw_proofs:
            entries = self.ledger.snapshots[snapshot].entries
            if all(entry.roller != o.roller for entry in entries):
                return NO_DRAW
            self._draw_proofs[key] = draw_proof(snapshot, entries, o.roller)
        return self._draw_proofs[key]

    def settle(self, coordinator: str, batch: int, outcomes: tuple[OutcomeReport, ...]) -> None:
        """With the draws an honest coordinator attaches. Raises `Rejected` (and changes
        nothing) where the contract reverts."""
        self.l1_block += 1
        draws = self.draws(batch, outcomes)
        self.ledger.settle(coordinator, batch, outcomes, draws, block_number=self.l1_block)
        self.journal.append(SettleBatch(coordinator, batch, outcomes, draws))
        self._changed.update(o.roller for o in outcomes)

    def settled_entries(self, outcomes: tuple[OutcomeReport, ...]) -> tuple[LotteryEntry, ...]:
        """What anyone reads from a settlement's calldata to call `drawLottery`."""
        return tuple(lottery_entries(outcomes))

    def draw_lottery(self, batch: int, entries: tuple[LotteryEntry, ...],
                     rng: np.random.Generator) -> None:
        """The lottery randomness is the hash of an L1 block after the settlement: unknown to
        everyone until then, drawn here from the run's generator. The draw is sent one L1 delay
        after the settlement, which covers that block (the model's L1 makes a block per
        transaction, so an idle stretch is filled up to it)."""
        target = self.ledger.pending_lottery(self.rollup, batch).target_block
        self.l1_block = max(self.l1_block, target) + 1
        randomness = rng.bytes(32)
        self.ledger.draw_lottery(self.rollup, batch, entries, randomness, block_number=self.l1_block)
        self.journal.append(DrawLottery(batch, entries, randomness))
        self._changed.update(roller for _, roller, _ in entries)

    def slash(self, evidence: SlashProof) -> bool:
        """The contract checks the statement is L1's current one (`StaleStatement`) and slashes
        each offense once; returns whether it slashed."""
        if evidence.statement != self.task_statement(evidence.kind, evidence.index):
            return False
        key = offense_key(self.rollup, evidence.roller, evidence.kind, evidence.index,
                          evidence.statement)
        if key in self.ledger.slashed:
            return False
        split = self.ledger.slash(evidence.roller, COORDINATOR, key)
        self.journal.append(evidence)
        self.slashed[evidence.roller] = self.slashed.get(evidence.roller, 0) + split.amount
        self._changed.add(evidence.roller)
        return True

    def remove_coordinator(self, coordinator: str, replacement: str) -> None:
        self.ledger.remove_coordinator(coordinator)
        self.ledger.register_coordinator(replacement, self.rollup)
        self.journal.append(RemoveCoordinator(coordinator, replacement))

    # ---------------------------------------------------------------- Rollup

    def commit(self, rng: np.random.Generator, now_ms: int) -> int:
        """`Rollup.commitBlock` of the next block at `now_ms`; returns its number. On a number's
        first commit it pins the roster block (the L1 block before) and the draw time, and the
        randomness (the next L1 block's hash, drawn here and recorded at once); a recommit
        reuses them."""
        self.l1_block += 1
        n = self.height + 1
        self.height = n
        commits = self.commits.get(n, 0)
        self.commits[n] = commits + 1
        old_root, new_root = state_roots(n)
        records = block_records(commits)
        self.statements[n] = block_statement(n, old_root, new_root,
                                             block_commitment(records, SLOTS, ENTRIES))
        self.journal.append(Commit(n, old_root, new_root, calldata(records)))
        if n not in self.pins:
            pinned = roster_block(self.l1_block)
            self.ledger.pin(self.rollup, n, pinned, now_ms // 1000)
            drawn = rng.bytes(32) if self.randomness_source is None else self.randomness_source(n)
            randomness = self.ledger.record_randomness(self.rollup, n, drawn)
            snapshot = self.ledger.roster_snapshot_of(self.rollup, n)
            roster = () if snapshot is None else self._snapshot_rosters[snapshot]
            self.pins[n] = Pin(pinned, randomness, snapshot, roster)
        return n

    def revert(self, from_block: int) -> None:
        self.l1_block += 1
        for n in range(from_block, self.height + 1):
            del self.statements[n]
        self.height = from_block - 1
        self.journal.append(Revert(from_block))

    def finalize(self, batch: int, provers: tuple[str, ...]) -> None:
        """`finalizeBatch` naming `provers`, one per block of the batch."""
        self.l1_block += 1
        blocks = blocks_of(batch, self.params.k)
        self.last_finalized = blocks[-1]
        self.ledger.finalize(self.rollup, self.last_finalized, dict(zip(blocks, provers, strict=True)))
        self.journal.append(FinalizeBatch(batch, provers))

    def task_statement(self, kind: TaskKind, index: int) -> bytes | None:
        """L1's current statement of a block or batch, which a submission must sign; None while
        a block of it is not committed."""
        if kind is TaskKind.BLOCK:
            return self.statements.get(index)
        statements = [self.statements.get(n) for n in blocks_of(index, self.params.k)]
        return None if None in statements else batch_statement(statements)

    def roster(self) -> tuple[tuple[str, int], ...]:
        """Every registered roller's weight now. The same tuple object while nothing changed,
        so the coordinator's roster cache finds it at once; otherwise only the rollers touched
        since are re-read, not all of them."""
        if self._changed:
            for roller in self._changed:  # each writes its own slot: order does not matter
                self._entries[self._position[roller]] = (roller, self.ledger.weight_of(roller))
            self._changed.clear()
            self._roster = tuple(self._entries)
        return self._roster
