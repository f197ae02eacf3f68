"""What the coordinator learns from L1 and what it sends there.

L1 is the source of truth: blocks to prove come from `Rollup.BlockCommitted` (v2: each with the
`rosterBlock` and `randomnessBlock` pinned at its first commit); reverts, finalizations and the
settlements of this coordinator's Rollup come from their events too, so a finalization or a
settlement sent before a crash is learnt again from the chain rather than remembered.

A block is drawn only once its randomness is recorded (market-spec.md, "Randomness and the roster
of a block"): `draw_inputs` records it (anyone may, and the coordinator does as soon as L1 is past
`randomnessBlock`) and takes its roster: the roster snapshot `RollerStaking.rosterSnapshotOf`
names for it, whose entries are rebuilt from the `RosterSnapshot` events and kept (a snapshot
never changes). `settle` proves each drawn record's entry in that snapshot (`DrawProof`), and
`refresh_snapshot` takes a new snapshot when the policy (`snapshot_due`) says so. Everything here
blocks (web3); the service runs it in worker threads.
"""

from __future__ import annotations

import itertools
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address

from coordinator.config import CoordinatorConfig
from coordinator.errors import CoordinatorError
from market_contracts.bindings import Market, slash_gas
from market_contracts.chain import Chain, EmbeddedChain
from market_contracts.errors import ChainError, TransactionFailed
from market_contracts.ledger import NO_DRAW, DrawProof, OutcomeReport, draw_proof
from market_contracts.rollup import CommittedBlock, Rollup
from market_contracts.rules import (
    RosterEntry,
    TaskKind,
    batch_of,
    is_open_round,
    last_block_of,
    randomness_block,
    roster_snapshot_for,
    snapshot_entries,
)
from market_contracts.submissions import SlashEvidence
from zkp.aggregate import AggregateProof

if TYPE_CHECKING:
    from market_contracts.bindings import RosterSnapshot

#: the embedded chain's gas estimate reruns the pairing check at every step of its binary
#: search; these limits cover a finalization of up to 16 proofs and one slash
EMBEDDED_FINALIZE_GAS = 3_000_000
#: What the staking contract refuses slashing evidence for on its merits: sending it again cannot
#: change the verdict (a block reverted and committed anew makes its evidence stale), so it is
#: dropped and logged rather than retried, which would hold up every later L1 action.
EVIDENCE_REFUSALS = frozenset({"BadSignature", "StaleStatement", "ProofIsValid", "UnknownRoller",
                               "WrongAggregateSize"})


@dataclass(frozen=True)
class Committed:
    block: CommittedBlock
    #: `Rollup.statement(n)` of this commit, computed from the event (a later recommit of the
    #: same number has another)
    statement: bytes


@dataclass(frozen=True)
class Reverted:
    from_block: int


@dataclass(frozen=True)
class Finalized:
    batch: int


@dataclass(frozen=True)
class Settled:
    batch: int


Fact = Committed | Reverted | Finalized | Settled


@dataclass(frozen=True)
class DrawInputs:
    """What the core draws a block from: its recorded randomness and its roster, the entries of
    its roster snapshot in snapshot order (empty when it has none)."""

    randomness: bytes
    #: the id of the block's roster snapshot; None: none, or too old (the roster is empty)
    snapshot: int | None
    roster: tuple[tuple[str, int], ...]


def snapshot_due(*, changed: bool, staked: bool, newest_timestamp: int | None, now: float,
                 interval: float, max_age: int) -> bool:
    """Whether a coordinator takes a roster snapshot now (market-spec.md, "Roster snapshots"),
    the one policy of the coordinator and the simulation: the first once anyone is staked; a new
    one when the live roster `changed` from the newest and that one is at least `interval`
    seconds old; and, changed or not, while anyone is `staked`, when the newest is older than
    half of SNAPSHOT_MAX_AGE (so that a block committed before the next refresh lands still
    finds one young enough; half leaves the other half for L1 delays). Times are L1's."""
    if newest_timestamp is None:
        return staked
    age = now - newest_timestamp
    if staked and 2 * age > max_age:
        return True
    return changed and age >= interval


def roster_changed(live: Sequence[tuple[str, int]], newest: RosterSnapshot | None) -> bool:
    """Whether the live roster (`rosterPage`, registration order) would snapshot other entries
    than the newest snapshot's: zero weights do not count, the order does (slots walk it)."""
    entries = snapshot_entries(live)
    return entries != (list(newest.entries) if newest is not None else [])


class CoordinatorL1:
    def __init__(self, chain: Chain, market: Market, rollup: Rollup, account: LocalAccount, *,
                 log_range: int = CoordinatorConfig.log_range,
                 records_per_transaction: int = CoordinatorConfig.records_per_transaction,
                 snapshots_kept: int = CoordinatorConfig.snapshots_kept):
        self.chain = chain
        #: L1 blocks per eth_getLogs request, and randomness records per transaction
        #: (`CoordinatorConfig`)
        self.log_range = log_range
        self.records_per_transaction = records_per_transaction
        self.market = market
        self.rollup = rollup
        self.account = account
        self.batch_size = rollup.batch_size()
        self.params = market.params()
        #: (l1Block, timestamp) of every roster snapshot read so far, by id (ids count from 0),
        #: what the contract's rule picks a block's snapshot by; the entries of the
        #: `snapshots_kept` most recently used ones (a snapshot never changes: an older one is
        #: read again from its event when asked for), and the next L1 block to read
        #: `RosterSnapshot` events from; several worker threads share them
        self._snapshot_times: list[tuple[int, int]] = []
        self._snapshots: OrderedDict[int, RosterSnapshot] = OrderedDict()
        self.snapshots_kept = snapshots_kept
        self._snapshots_from = market.deployment.block
        self._snapshots_lock = threading.Lock()
        #: blocks in a randomness record whose outcome is unknown (its call raised), and
        #: whether no draw was made yet (a restart does not know what it sent before)
        self._unconfirmed: set[int] = set()
        self._first_draw = True

    # ------------------------------------------------------------------ reading

    def head(self) -> int:
        return self.chain.w3.eth.block_number

    def scan(self, from_block: int, to_block: int) -> list[Fact]:
        """The facts of L1 blocks from_block..to_block, in chain order."""
        logs = []
        rollup_events = self.rollup.contract.events
        for start in range(from_block, to_block + 1, self.log_range):
            end = min(to_block, start + self.log_range - 1)
            logs += rollup_events.BlockCommitted().get_logs(from_block=start, to_block=end)
            logs += rollup_events.BlocksReverted().get_logs(from_block=start, to_block=end)
            logs += rollup_events.BatchFinalized().get_logs(from_block=start, to_block=end)
            # Any coordinator bound to this Rollup may settle its batches (once per batch).
            logs += self.market.staking.events.BatchSettled().get_logs(
                from_block=start, to_block=end,
                argument_filters={"rollup": self.rollup.address})
        facts: list[Fact] = []
        for log in sorted(logs, key=lambda log: (log["blockNumber"], log["logIndex"])):
            args = log["args"]
            if log["event"] == "BlockCommitted":
                block = self.rollup.committed_from_log(log)
                facts.append(Committed(block, block.statement()))
            elif log["event"] == "BlocksReverted":
                facts.append(Reverted(args["fromBlock"]))
            elif log["event"] == "BatchFinalized":
                facts.append(Finalized(batch_of(args["firstBlock"], self.batch_size)))
            else:
                facts.append(Settled(args["batch"]))
        return facts

    def draw_inputs(self, blocks: Sequence[CommittedBlock]) -> list[DrawInputs]:
        """What each of the leading `blocks` (commits in chain order) whose randomness block L1
        has passed is drawn from: its randomness, recorded now where nobody has, for all of them
        in one transaction a `records_per_transaction` blocks, and its roster. The rest wait for
        a later call: a block after one that cannot be drawn yet is not drawn either."""
        head = self.head()
        due = list(itertools.takewhile(lambda block: head > block.randomness_block, blocks))
        randomness: dict[int, bytes] = {}
        # A record whose outcome this node did not see (the call failed: L1 slow or gone; or
        # the node was killed, so all before its first draw are unknown) may have been mined
        # since: those blocks are read first, so that a retry does not send it again.
        numbers = {block.number for block in due}
        for number in numbers if self._first_draw else numbers & self._unconfirmed:
            if (recorded := self.rollup.randomness(number)) is not None:
                randomness[number] = recorded
            self._unconfirmed.discard(number)
        self._first_draw = self._first_draw and not due
        to_record = [block.number for block in due if block.number not in randomness]
        for start in range(0, len(to_record), self.records_per_transaction):
            numbers = to_record[start:start + self.records_per_transaction]
            self._unconfirmed.update(numbers)
            randomness.update(self.rollup.record_randomness_many(self.account, numbers))
            self._unconfirmed.difference_update(numbers)
        drawn = []
        for block in due:
            snapshot, entries = self.roster_of_commit(block)
            drawn.append(DrawInputs(randomness[block.number], snapshot,
                                    tuple((entry.roller, entry.weight) for entry in entries)))
        return drawn

    def roster_of_commit(self, block: CommittedBlock) -> tuple[int | None, tuple[RosterEntry, ...]]:
        """`roster_of(block.number)` for a block as its `BlockCommitted` event tells it, without
        a call per block: the contract's rule (`roster_snapshot_for`) applied to the snapshots
        read from L1's events, which are all there up to the commit's L1 block (the follower
        read the commit from the same logs). A recommit's event does not carry the draw time
        its first commit pinned: that takes the call."""
        if block.randomness_block != randomness_block(block.l1_block):
            return self.roster_of(block.number)
        with self._snapshots_lock:
            if self._snapshots_from <= block.l1_block:
                self._read_snapshots()
            chosen = roster_snapshot_for(self._snapshot_times, block.roster_block,
                                         block.timestamp, self.params.snapshot_max_age)
        if chosen is None:
            return None, ()
        return chosen, tuple(self.snapshot(chosen).entries)

    def roster_of(self, block: int) -> tuple[int | None, tuple[RosterEntry, ...]]:
        """L2 block `block`'s roster snapshot (the contract's rule, `rosterSnapshotOf`) and its
        entries in snapshot order; (None, ()) when it has none."""
        snapshot = self.market.roster_snapshot_of(self.rollup.address, block)
        if snapshot is None:
            return None, ()
        return snapshot, tuple(self.snapshot(snapshot).entries)

    def snapshot(self, snapshot_id: int) -> RosterSnapshot:
        """Roster snapshot `snapshot_id`, rebuilt from its event (kept while recently used)."""
        with self._snapshots_lock:
            if snapshot_id not in self._snapshots:
                if snapshot_id < len(self._snapshot_times):
                    self._read_again(snapshot_id)
                else:
                    self._read_snapshots()
            found = self._snapshots.get(snapshot_id)
            if found is not None:
                self._snapshots.move_to_end(snapshot_id)
        if found is None:
            # `rosterSnapshotOf` named it, so its event exists: the log read came from a node
            # behind the one that answered the call. A ChainError: the caller retries.
            raise ChainError(f"roster snapshot {snapshot_id} is not in the RosterSnapshot events "
                             f"from L1 block {self.market.deployment.block} on")
        return found

    def newest_snapshot(self) -> RosterSnapshot | None:
        with self._snapshots_lock:
            self._read_snapshots()
            newest = len(self._snapshot_times) - 1
        return self.snapshot(newest) if newest >= 0 else None

    def _read_snapshots(self) -> None:
        """Add the snapshots taken since the last read (callers hold the lock)."""
        head = self.head()
        if head < self._snapshots_from:
            return
        for snapshot in self.market.snapshots(from_block=self._snapshots_from, to_block=head):
            if snapshot.id != len(self._snapshot_times):
                raise ChainError(f"roster snapshot {snapshot.id} follows snapshot "
                                 f"{len(self._snapshot_times) - 1} in the RosterSnapshot events")
            self._snapshot_times.append((snapshot.l1_block, snapshot.timestamp))
            self._keep(snapshot)
        self._snapshots_from = head + 1

    def _read_again(self, snapshot_id: int) -> None:
        """Read an evicted snapshot's event again, from its L1 block (callers hold the lock)."""
        l1_block = self._snapshot_times[snapshot_id][0]
        for snapshot in self.market.snapshots(from_block=l1_block, to_block=l1_block):
            if snapshot.id == snapshot_id:
                self._keep(snapshot)

    def _keep(self, snapshot: RosterSnapshot) -> None:
        self._snapshots[snapshot.id] = snapshot
        self._snapshots.move_to_end(snapshot.id)
        while len(self._snapshots) > self.snapshots_kept:
            self._snapshots.popitem(last=False)

    def public_inputs(self, block: int, prover: str) -> list[int]:
        return self.rollup.public_inputs(block, to_checksum_address(prover))

    def statement(self, block: int) -> bytes:
        """L1's current statement of a block; reverts BlockNotCommitted for one reverted."""
        return self.rollup.statement(block)

    def batch_statement(self, batch: int) -> bytes:
        return self.rollup.batch_statement(batch)

    def weight(self, roller: str) -> int:
        return self.chain.call(self.market.staking.functions.weightOf(to_checksum_address(roller)))

    def last_finalized(self) -> int:
        return self.rollup.last_finalized()

    # ------------------------------------------------------------------ writing

    def finalize(self, first_block: int, provers: tuple[str, ...], aggregate: AggregateProof) -> None:
        """Finalize the batch; a batch L1 has finalized already (a resend after a crash) is done."""
        gas = EMBEDDED_FINALIZE_GAS if isinstance(self.chain, EmbeddedChain) else None
        try:
            self.rollup.finalize_batch(self.account, first_block, provers, aggregate, gas=gas)
        except TransactionFailed:
            if self.rollup.last_finalized() < first_block + self.batch_size - 1:
                raise

    def draws(self, outcomes: Sequence[OutcomeReport]) -> list[DrawProof]:
        """One `DrawProof` per record: its roller's entry in its task's roster snapshot (a
        block's own; a batch's last block's), NO_DRAW for an open round (checked against the
        prover L1 recorded instead)."""
        rosters: dict[int, tuple[int | None, tuple[RosterEntry, ...]]] = {}
        draws = []
        for outcome in outcomes:
            if is_open_round(outcome.round, self.params):
                draws.append(NO_DRAW)
                continue
            block = (outcome.task if outcome.kind is TaskKind.BLOCK
                     else last_block_of(outcome.task, self.batch_size))
            if block not in rosters:
                rosters[block] = self.roster_of(block)
            snapshot, entries = rosters[block]
            if snapshot is None:
                raise CoordinatorError(
                    f"{outcome.roller} holds slots of {outcome.kind.name.lower()} {outcome.task} "
                    f"round {outcome.round}, yet block {block} has no roster snapshot")
            draws.append(draw_proof(snapshot, entries, outcome.roller))
        return draws

    def settle(self, batch: int, outcomes: tuple[OutcomeReport, ...]) -> None:
        try:
            self.market.settle(self.account, batch, list(outcomes), self.draws(outcomes))
        except TransactionFailed as error:
            if error.reason != "BatchAlreadySettled":
                raise

    def lottery_due(self, batch: int) -> bool:
        """Whether the batch's lottery can be drawn (L1 is past its target block) or was drawn."""
        pending = self.market.pending_lottery(self.rollup.address, batch)
        return pending is None or self.head() > pending.target_block

    def draw_lottery(self, batch: int, entries: tuple[tuple[int, str, int], ...]) -> None:
        """Draw the batch's lottery; one drawn already (by anyone: a resend after a crash) is
        done."""
        try:
            self.market.draw_lottery(self.account, self.rollup.address, batch, list(entries))
        except TransactionFailed:
            if self.market.pending_lottery(self.rollup.address, batch) is not None:
                raise

    def refresh_snapshot(self, interval: float) -> int | None:
        """Take a roster snapshot if `snapshot_due` says so: its id, else None (also when
        someone else took one in this L1 block)."""
        head = self.head()
        now = self.chain.w3.eth.get_block(head)["timestamp"]
        newest = self.newest_snapshot()
        newest_timestamp = None if newest is None else newest.timestamp

        def due(changed: bool, staked: bool) -> bool:
            return snapshot_due(changed=changed, staked=staked, newest_timestamp=newest_timestamp,
                                now=now, interval=interval, max_age=self.params.snapshot_max_age)

        # The live roster (a read in proportion to the registered rollers) only when it can
        # change the answer: it cannot while the newest snapshot is young enough either way.
        if not due(changed=True, staked=True):
            return None
        live = self.market.roster(block=head)
        if not due(changed=roster_changed(live, newest), staked=any(w for _, w in live)):
            return None
        try:
            return self.market.snapshot_roster(self.account)
        except TransactionFailed as error:
            if error.reason != "SnapshotAlreadyTaken":
                raise
            return None

    def slash(self, evidence: SlashEvidence) -> str | None:
        """Send the evidence; None once the offense is slashed (now or before), else the reason
        the contract refused this evidence for good (`EVIDENCE_REFUSALS`)."""
        gas = slash_gas(evidence) if isinstance(self.chain, EmbeddedChain) else None
        try:
            self.market.slash_invalid_proof(self.account, evidence, gas=gas)
        except TransactionFailed as error:
            if error.reason == "AlreadySlashed":
                return None
            if error.reason in EVIDENCE_REFUSALS:
                return error.reason
            raise
        return None
