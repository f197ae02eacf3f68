"""The coordinator's decision core: a deterministic state machine, events in, commands out.

It draws rollers for blocks and batches by the market rules, tracks deadlines and late windows,
decides each assignment's outcome, chooses the proofs a batch aggregates, and says when to
finalize and settle. It does no I/O and reads no clock: time is the `at` of the events (integer
milliseconds), and what falls due between two events (a deadline, a window closing) is acted on
at its own time, in order, before the later event. The same events always give the same state and
the same commands, so the shell persists events and replays them after a crash, and `snapshot`
bounds the replay. docs/coordinator.md describes the machine and the choices made where the
spec is silent.
"""

from __future__ import annotations

import enum
import heapq
from collections.abc import Sequence
from dataclasses import replace

from coordinator.commands import (
    Assign,
    AuditRecord,
    AuditRound,
    BlockProof,
    Cancel,
    Command,
    DrawLottery,
    Finalize,
    Open,
    RejectReason,
    Reply,
    ReplyStatus,
    Settle,
    Slash,
)
from coordinator.errors import InconsistentEvent, InvalidEvent, InvalidSetup, InvalidSnapshot
from coordinator.events import (
    BatchFinalized,
    BatchSettled,
    BlockCommitted,
    BlocksReverted,
    Event,
    ProofReceived,
    TaskAccepted,
    TaskDeclined,
    Tick,
)
from coordinator.roster import Roster, checksum_address, prepare_roster
from coordinator.tasks import Assignment, Round, Task, task_from_json, task_to_json
from coordinator.views import AssignmentView, ProvingStatus, RollerCounts
from market_contracts.ledger import OutcomeReport, lottery_entries
from market_contracts.rules import (
    AGG_CLOSE_IN_DEADLINES,
    MarketParams,
    Outcome,
    RewardMode,
    RulesError,
    TaskKind,
    batch_of,
    batch_seed,
    batches_through,
    block_seed,
    blocks_of,
    ends_batch,
    first_block_of,
    last_block_of,
    max_settled_round,
    parse_bytes32,
    slot_counts,
)
from market_contracts.submissions import batch_statement

MS_PER_SECOND = 1000
#: Distinct rosters kept prepared; consecutive blocks nearly always share one.
ROSTER_CACHE_SIZE = 16
#: 2: rules v2 (slots with replacement, open rounds, statements, pending lottery draws).
SNAPSHOT_VERSION = 2
#: In the open round only the first valid proof has an outcome, worth one slot.
OPEN_ROUND_SLOTS = 1
#: A roller's counts: assigned, declined, then one slot per Outcome, at 2 + its number.
COUNT_ASSIGNED = 0
COUNT_DECLINED = 1
COUNT_OUTCOME = 2
COUNT_SLOTS = COUNT_OUTCOME + len(Outcome)


class Timer(enum.IntEnum):
    """What falls due. Entries are (at, order, timer, kind, index, task serial, round); `order`
    is the push counter, so timers due at the same millisecond act in the order they were set,
    on every replay."""

    DEADLINE = 0
    CLOSE = 1
    SETTLE = 2


class CoordinatorCore:
    """One rollup's market decisions. `last_finalized` is the Rollup's `lastFinalized` when the
    core starts empty: blocks count from 1, batch i holds blocks i*K+1 .. i*K+K (Rollup.sol)."""

    def __init__(self, params: MarketParams, chain_id: int, rollup: str, *,
                 last_finalized: int = 0):
        if not isinstance(last_finalized, int) or last_finalized < 0 or not ends_batch(last_finalized, params.k):
            raise InvalidSetup(f"last_finalized must be a multiple of K = {params.k} (L1 finalizes "
                               f"whole batches), got {last_finalized!r}")
        self.params = params
        self.chain_id = chain_id
        self.rollup = checksum_address(rollup)
        self._deadline_ms = {TaskKind.BLOCK: params.t * MS_PER_SECOND,
                             TaskKind.AGGREGATION: params.t_agg * MS_PER_SECOND}
        self._window_ms = {TaskKind.BLOCK: params.late_window * MS_PER_SECOND,
                           TaskKind.AGGREGATION:
                               AGG_CLOSE_IN_DEADLINES * params.t_agg * MS_PER_SECOND}
        self._draw_size = {TaskKind.BLOCK: params.m, TaskKind.AGGREGATION: 1}
        self._now = 0
        self._sequence = 0
        self._timer_order = 0
        self._task_serial = 0
        #: blocks up to here were finalized before this core began
        self._base = last_finalized
        self._last_committed = last_finalized
        self._last_finalized = last_finalized
        #: the batch whose Finalize is emitted next: Finalize goes out in batch order
        self._finalize_next = batches_through(last_finalized, params.k)
        #: live tasks: committed and not yet settled
        self._blocks: dict[int, Task] = {}
        self._aggregations: dict[int, Task] = {}
        #: finalized batches not settled yet -> the settle timer set for them, if any
        self._pending_settlement: dict[int, int | None] = {}
        #: Settle emitted, L1 not confirmed -> its on-time block entries (block, roller, slots)
        #: for the lottery draw that follows it (empty in split mode)
        self._settling: dict[int, tuple[tuple[int, str, int], ...]] = {}
        self._timers: list[tuple[int, ...]] = []
        self._counts: dict[str, list[int]] = {}
        self._roster_cache: dict[tuple, Roster] = {}
        self._out: list[Command] = []

    # ---------------------------------------------------------------- events

    def handle(self, event: Event) -> list[Command]:
        """Apply one event; return the commands it produced, keyed. An event that raises
        (`InvalidEvent`, `InconsistentEvent`) changed nothing."""
        handler = self._HANDLERS.get(type(event))
        if handler is None:
            raise InvalidEvent(f"not a coordinator event: {event!r}")
        _natural(event.at, "at")
        self._out = []
        handler(self, event)
        commands = [replace(c, key=(self._sequence, i)) for i, c in enumerate(self._out)]
        self._out = []
        self._sequence += 1
        return commands

    def next_wakeup(self) -> int | None:
        """The earliest time at which a Tick would produce something, or None."""
        while self._timers and not self._timer_live(self._timers[0]):
            heapq.heappop(self._timers)  # dead entries do nothing when they fire
        return self._timers[0][0] if self._timers else None

    def _on_block_committed(self, e: BlockCommitted) -> None:
        n = _natural(e.l2_block, "l2_block")
        _natural(e.roster_block, "roster_block")
        randomness = _bytes32(e.randomness, "randomness")
        statement = _bytes32(e.statement, "statement")
        if n <= self._last_committed:
            # A recommit has the randomness of the block it replaces (pinned per number): only
            # the statement tells the same commit read twice from a new one.
            if n <= self._last_finalized or self._blocks[n].statement == statement:
                self._advance(e.at)  # the same L1 log read twice
                return
            raise InconsistentEvent(f"block {n} is committed already with another statement: "
                                    "a BlocksReverted event was missed")
        if n != self._last_committed + 1:
            raise InconsistentEvent(f"block {n} committed after block {self._last_committed}: "
                                    f"blocks {self._last_committed + 1}..{n - 1} were missed")
        roster = self._prepared_roster(e.roster)
        self._advance(e.at)
        self._last_committed = n
        task = self._new_task(TaskKind.BLOCK, n, randomness, e.roster_block, statement, roster,
                              ())
        self._blocks[n] = task
        self._draw(task)

    def _on_blocks_reverted(self, e: BlocksReverted) -> None:
        first = _natural(e.from_block, "from_block")
        if first <= self._last_finalized:
            raise InconsistentEvent(f"cannot revert from block {first}: blocks up to "
                                    f"{self._last_finalized} are finalized")
        self._advance(e.at)
        if first > self._last_committed:
            return  # applied already
        for n in range(first, self._last_committed + 1):
            self._cancel(self._blocks.pop(n))
        first_batch = batch_of(first, self.params.k)
        for b in [b for b in self._aggregations if b >= first_batch]:
            self._cancel(self._aggregations.pop(b))
        self._finalize_next = min(self._finalize_next, first_batch)
        self._last_committed = first - 1

    def _locate(self, e: TaskAccepted | TaskDeclined | ProofReceived, kind: TaskKind,
                seed: bytes, roller: str):
        """The (task, round, assignment) a roller's message is about, once time has moved to
        it; None, the message answered with the reason, if there is no such assignment. In the
        open round, which takes proofs only, the assignment is the prover's earlier proof, or
        None."""
        self._advance(e.at)
        found = self._find(kind, e.index, e.round, seed, roller, isinstance(e, ProofReceived))
        if isinstance(found, RejectReason):
            self._reply(e, kind, seed, roller, found)
            return None
        return found

    def _on_task_accepted(self, e: TaskAccepted) -> None:
        kind, seed, roller = self._parse_task_message(e)
        found = self._locate(e, kind, seed, roller)
        if found is None:
            return
        _, _, assignment = found
        if assignment.decided:
            self._reply(e, kind, seed, roller, RejectReason.ALREADY_DECIDED)
        elif assignment.accepted:
            self._reply(e, kind, seed, roller, RejectReason.DUPLICATE)
        else:
            assignment.accepted = True
            self._reply(e, kind, seed, roller)

    def _on_task_declined(self, e: TaskDeclined) -> None:
        kind, seed, roller = self._parse_task_message(e)
        found = self._locate(e, kind, seed, roller)
        if found is None:
            return
        task, rnd, assignment = found
        if assignment.declined:
            self._reply(e, kind, seed, roller, RejectReason.DUPLICATE)
            return
        if assignment.outcome is not None:
            self._reply(e, kind, seed, roller, RejectReason.ALREADY_DECIDED)
            return
        if assignment.accepted:
            # A refusal after accepting held the task for nothing (market-spec.md, "missed").
            self._decide(roller, assignment, Outcome.MISSED)
            self._reply(e, kind, seed, roller, outcome=Outcome.MISSED)
        else:
            assignment.declined = True
            self._count(roller, COUNT_DECLINED, 1)
            self._reply(e, kind, seed, roller)
        self._after_decision(task, rnd)

    def _on_proof_received(self, e: ProofReceived) -> None:
        kind, seed, roller = self._parse_task_message(e)
        if not isinstance(e.valid, bool) or not isinstance(e.ref, str):
            raise InvalidEvent(f"a proof needs valid: bool and ref: str, got {e!r}")
        found = self._locate(e, kind, seed, roller)
        if found is None:
            return
        task, rnd, assignment = found
        if rnd.open:
            self._take_open_proof(e, task, rnd, kind, seed, roller)
            return
        if assignment.outcome in (Outcome.ON_TIME, Outcome.LATE, Outcome.INVALID):
            self._reply(e, kind, seed, roller, RejectReason.DUPLICATE)
            return
        if assignment.decided:
            self._reply(e, kind, seed, roller, RejectReason.ALREADY_DECIDED)
            return
        if not e.valid:
            outcome = Outcome.INVALID
        elif self._now < rnd.deadline:
            outcome = Outcome.ON_TIME
        else:
            outcome = Outcome.LATE
        self._record_proof(e, task, rnd, kind, seed, roller, assignment, outcome)
        self._after_decision(task, rnd)

    def _take_open_proof(self, e: ProofReceived, task: Task, rnd: Round, kind: TaskKind,
                         seed: bytes, roller: str) -> None:
        """The open round: any roller's proof until the first valid one, which is on time with
        one slot; an invalid one is slashed; every proof after the first valid one is
        refused."""
        if roller in rnd.assignments:
            self._reply(e, kind, seed, roller, RejectReason.DUPLICATE)
            return
        if task.first_valid is not None:
            self._reply(e, kind, seed, roller, RejectReason.TASK_PROVEN)
            return
        assignment = rnd.assignments[roller] = Assignment(OPEN_ROUND_SLOTS, accepted=True)
        self._count(roller, COUNT_ASSIGNED, 1)
        outcome = Outcome.ON_TIME if e.valid else Outcome.INVALID
        self._record_proof(e, task, rnd, kind, seed, roller, assignment, outcome)
        self._check_audit(task)

    def _record_proof(self, e: ProofReceived, task: Task, rnd: Round, kind: TaskKind,
                      seed: bytes, roller: str, assignment: Assignment, outcome: Outcome) -> None:
        self._decide(roller, assignment, outcome)
        self._reply(e, kind, seed, roller, outcome=outcome)
        if outcome is Outcome.INVALID:
            # Never settled: only the evidence, on-chain, sets reputation to 0.
            self._emit(Slash(kind, task.index, rnd.number, roller, e.ref))
        elif task.first_valid is None:
            task.first_valid = (roller, e.ref)
            self._on_proven(task)

    def _on_batch_finalized(self, e: BatchFinalized) -> None:
        b = _natural(e.batch, "batch")
        expected = batches_through(self._last_finalized, self.params.k)
        if b > expected:
            raise InconsistentEvent(f"batch {b} finalized before batch {expected}: a "
                                    "BatchFinalized event was missed")
        if b == expected and last_block_of(b, self.params.k) > self._last_committed:
            raise InconsistentEvent(f"batch {b} finalized, but only blocks up to "
                                    f"{self._last_committed} are committed")
        self._advance(e.at)
        if b < expected:
            return  # the same L1 log read twice
        self._last_finalized = last_block_of(b, self.params.k)
        self._finalize_next = max(self._finalize_next, b + 1)
        for task in self._batch_tasks(b):
            # L1 has the batch, whoever aggregated it: no more rounds, and an open round takes
            # no more proofs; drawn rounds run to their close.
            task.finalized = True
            self._check_audit(task)
        self._pending_settlement[b] = None
        self._try_settle(b)
        self._emit_finalizes()  # a later batch may have been waiting for this one

    def _on_batch_settled(self, e: BatchSettled) -> None:
        b = _natural(e.batch, "batch")
        self._advance(e.at)
        entries = self._settling.pop(b, ())
        if entries:
            self._emit(DrawLottery(b, entries))

    def _on_tick(self, e: Tick) -> None:
        self._advance(e.at)

    _HANDLERS = {
        BlockCommitted: _on_block_committed,
        BlocksReverted: _on_blocks_reverted,
        TaskAccepted: _on_task_accepted,
        TaskDeclined: _on_task_declined,
        ProofReceived: _on_proof_received,
        BatchFinalized: _on_batch_finalized,
        BatchSettled: _on_batch_settled,
        Tick: _on_tick,
    }

    # ---------------------------------------------------------------- time

    def _advance(self, at: int) -> None:
        """Act on every timer due by `at`, each at its own time. An event stamped earlier than
        the last one is taken as happening now: time never goes back."""
        at = max(at, self._now)
        while self._timers and self._timers[0][0] <= at:
            entry = heapq.heappop(self._timers)
            self._now = entry[0]
            self._fire(entry)
        self._now = at

    def _set_timer(self, at: int, timer: Timer, kind: TaskKind, index: int, serial: int,
                   number: int) -> None:
        heapq.heappush(self._timers,
                       (at, self._timer_order, int(timer), int(kind), index, serial, number))
        self._timer_order += 1

    def _fire(self, entry: tuple[int, ...]) -> None:
        _, _, timer, kind, index, serial, number = entry
        if timer == Timer.SETTLE:
            self._try_settle(index)
            return
        task = self._live_task(kind, index, serial)
        if task is None:
            return
        if timer == Timer.DEADLINE:
            # "If no valid proof has arrived by the deadline, draw round r+1."
            if not task.final and number == len(task.rounds) - 1:
                self._draw(task)
        else:
            self._close(task, task.rounds[number])

    def _timer_live(self, entry: tuple[int, ...]) -> bool:
        """Whether firing `entry` would do anything."""
        _, _, timer, kind, index, serial, number = entry
        if timer == Timer.SETTLE:
            return index in self._pending_settlement
        task = self._live_task(kind, index, serial)
        if task is None:
            return False
        if timer == Timer.DEADLINE:
            return not task.final and number == len(task.rounds) - 1
        return not task.rounds[number].decided

    def _live_task(self, kind: int, index: int, serial: int) -> Task | None:
        task = self._tasks(kind).get(index)
        return task if task is not None and task.serial == serial else None

    # ---------------------------------------------------------------- tasks

    def _new_task(self, kind: TaskKind, index: int, randomness: bytes, roster_block: int,
                  statement: bytes, roster: Roster, proofs: tuple[BlockProof, ...]) -> Task:
        self._task_serial += 1
        return Task(kind, index, self._task_serial, randomness, roster_block, statement, roster,
                    proofs)

    def _draw(self, task: Task) -> None:
        """Draw the task's next round, or open it after R_OPEN drawn rounds. Slots are drawn
        with replacement from the whole roster each round: a roller declined or drawn before
        may be drawn again. A roller holding k slots gets one Assign for k."""
        number = len(task.rounds)
        seed_of = block_seed if task.kind is TaskKind.BLOCK else batch_seed
        seed = seed_of(self.chain_id, self.rollup, task.index, number, task.randomness)
        now = self._now
        if number == self.params.r_open:
            task.rounds.append(Round(number, seed, now, None, None, (), {}))
            self._emit(Open(task.kind, task.index, number, seed, task.statement, now,
                            task.proofs))
            return
        holders = tuple(task.roster.draw_slots(seed, self._draw_size[task.kind]))
        held = slot_counts(holders)
        # A round without candidates has no slots and simply waits for its deadline.
        rnd = Round(number, seed, now, now + self._deadline_ms[task.kind],
                    now + self._window_ms[task.kind], holders,
                    {roller: Assignment(slots) for roller, slots in held.items()})
        task.rounds.append(rnd)
        for roller, slots in held.items():
            self._count(roller, COUNT_ASSIGNED, 1)
            self._emit(Assign(task.kind, task.index, number, roller, seed, slots, task.statement,
                              now, rnd.deadline, rnd.close_at, task.proofs))
        self._set_timer(rnd.deadline, Timer.DEADLINE, task.kind, task.index, task.serial, number)
        self._set_timer(rnd.close_at, Timer.CLOSE, task.kind, task.index, task.serial, number)

    def _close(self, task: Task, rnd: Round) -> None:
        for roller, assignment in rnd.assignments.items():
            if not assignment.decided:
                self._decide(roller, assignment, Outcome.MISSED)
        self._check_audit(task)

    def _decide(self, roller: str, assignment: Assignment, outcome: Outcome) -> None:
        assignment.outcome = outcome
        self._count(roller, COUNT_OUTCOME + outcome, 1)

    def _after_decision(self, task: Task, rnd: Round) -> None:
        # No holder of the current drawn round can still deliver (each declined, sent an
        # invalid proof, or refused after accepting): the next round is drawn at once rather
        # than at the deadline.
        if not task.final and rnd.number == len(task.rounds) - 1 and rnd.decided:
            self._draw(task)
        self._check_audit(task)

    def _on_proven(self, task: Task) -> None:
        if task.kind is TaskKind.BLOCK:
            self._maybe_aggregate(batch_of(task.index, self.params.k))
        else:
            self._emit_finalizes()

    def _maybe_aggregate(self, b: int) -> None:
        """Draw batch b's aggregator once all its blocks are proven, from the randomness and
        roster of its last block; each block contributes its first valid proof."""
        if b in self._aggregations or b < batches_through(self._last_finalized, self.params.k):
            return
        blocks = [self._blocks.get(n) for n in blocks_of(b, self.params.k)]
        if any(t is None or t.first_valid is None for t in blocks):
            return
        last = blocks[-1]
        proofs = tuple(BlockProof(t.index, *t.first_valid) for t in blocks)
        task = self._new_task(TaskKind.AGGREGATION, b, last.randomness, last.roster_block,
                              batch_statement([t.statement for t in blocks]), last.roster,
                              proofs)
        self._aggregations[b] = task
        self._draw(task)

    def _emit_finalizes(self) -> None:
        """L1 takes batches in order only, so a batch aggregated early waits for the one before."""
        while True:
            b = self._finalize_next
            task = self._aggregations.get(b)
            if task is None or task.first_valid is None:
                return
            self._emit(Finalize(b, first_block_of(b, self.params.k),
                                tuple(p.roller for p in task.proofs), task.first_valid[1]))
            self._finalize_next = b + 1

    def _try_settle(self, b: int) -> None:
        """Settle a finalized batch once every assignment of its blocks and its aggregation has
        closed; then forget its tasks."""
        if b not in self._pending_settlement:
            return
        tasks = self._batch_tasks(b)
        settle_at = max((r.close_at for t in tasks for r in t.rounds if not r.open),
                        default=self._now)
        if self._now < settle_at:
            if self._pending_settlement[b] != settle_at:
                self._pending_settlement[b] = settle_at
                self._set_timer(settle_at, Timer.SETTLE, TaskKind.BLOCK, b, 0, 0)
            return
        del self._pending_settlement[b]
        # An invalid outcome is never settled: it went out as slashing evidence. Nor is an
        # aggregation's open round (rules.max_settled_round).
        outcomes = tuple(sorted(
            (OutcomeReport(roller, t.kind, t.index, r.number, a.slots, a.outcome)
             for t in tasks
             for r in t.rounds[:max_settled_round(t.kind, self.params) + 1]
             for roller, a in r.assignments.items()
             if a.outcome is not None and a.outcome is not Outcome.INVALID),
            key=OutcomeReport.sort_key))
        for n in blocks_of(b, self.params.k):
            del self._blocks[n]
        self._aggregations.pop(b, None)
        # The contract refuses an empty settlement; a batch without outcomes (finalized by
        # someone else before any of our rollers delivered) has nothing to settle.
        if outcomes:
            self._emit(Settle(b, outcomes))
            lottery = self.params.reward_mode is RewardMode.LOTTERY
            self._settling[b] = tuple(lottery_entries(outcomes)) if lottery else ()

    def _cancel(self, task: Task) -> None:
        """Forget a reverted task: its counts are taken back and its undecided assignments
        called off. Its outcomes never settle: the block they were for is gone. An open round
        has no one to call off: its proofs are refused from now on (UNKNOWN_TASK, or by the
        shell's statement check once the block is committed again)."""
        for rnd in task.rounds:
            for roller, assignment in rnd.assignments.items():
                self._count(roller, COUNT_ASSIGNED, -1)
                if assignment.declined:
                    self._count(roller, COUNT_DECLINED, -1)
                elif assignment.outcome is not None:
                    self._count(roller, COUNT_OUTCOME + assignment.outcome, -1)
                else:
                    self._emit(Cancel(task.kind, task.index, rnd.number, rnd.seed, roller))

    def _check_audit(self, task: Task) -> None:
        if task.audited or not task.final or not task.decided:
            return
        task.audited = True
        rounds = tuple(
            AuditRound(rnd.number, rnd.seed, rnd.holders,
                       tuple((roller, a.slots, a.outcome) for roller, a in rnd.assignments.items()))
            for rnd in task.rounds)
        self._emit(AuditRecord(task.kind, task.index, task.randomness, task.roster_block,
                               task.roster.hash, rounds,
                               None if task.first_valid is None else task.first_valid[0],
                               task.opened))

    # ---------------------------------------------------------------- helpers

    def _emit(self, command: Command) -> None:
        self._out.append(command)

    def _reply(self, e: TaskAccepted | TaskDeclined | ProofReceived, kind: TaskKind, seed: bytes,
               roller: str, reason: RejectReason | None = None,
               outcome: Outcome | None = None) -> None:
        status = ReplyStatus.RECORDED if reason is None else ReplyStatus.REJECTED
        self._emit(Reply(kind, e.index, e.round, seed, roller, status, reason, outcome))

    def _find(self, kind: TaskKind, index: int, number: int, seed: bytes, roller: str,
              proof: bool) -> tuple[Task, Round, Assignment | None] | RejectReason:
        task = self._tasks(kind).get(index)
        if task is None or not 0 <= number < len(task.rounds):
            return RejectReason.UNKNOWN_TASK
        rnd = task.rounds[number]
        if rnd.seed != seed:
            return RejectReason.UNKNOWN_TASK
        if rnd.open:
            if not proof:
                return RejectReason.NOT_ASSIGNED  # nobody holds the open round: nothing to accept
            if task.finalized:
                return RejectReason.TASK_CLOSED
            return task, rnd, rnd.assignments.get(roller)
        assignment = rnd.assignments.get(roller)
        if assignment is None:
            return RejectReason.NOT_ASSIGNED
        if self._now >= rnd.close_at:
            return RejectReason.TASK_CLOSED
        return task, rnd, assignment

    def _parse_task_message(self, e: TaskAccepted | TaskDeclined | ProofReceived,
                            ) -> tuple[TaskKind, bytes, str]:
        _natural(e.index, "index")
        _natural(e.round, "round")
        try:
            return TaskKind(e.kind), parse_bytes32(e.seed), checksum_address(e.roller)
        except (TypeError, ValueError) as exc:  # RulesError is a ValueError
            raise InvalidEvent(f"bad task message {e!r}: {exc}") from None

    def _prepared_roster(self, roster: Sequence[tuple[str, int]]) -> Roster:
        try:
            key = tuple(roster)
            prepared = self._roster_cache.get(key)
            if prepared is None:
                prepared = prepare_roster(key)
                if len(self._roster_cache) >= ROSTER_CACHE_SIZE:
                    del self._roster_cache[next(iter(self._roster_cache))]
                self._roster_cache[key] = prepared
        except (TypeError, ValueError) as exc:  # RulesError is a ValueError
            raise InvalidEvent(f"bad roster: {exc}") from None
        return prepared

    def _tasks(self, kind: int) -> dict[int, Task]:
        return self._blocks if kind == TaskKind.BLOCK else self._aggregations

    def _count(self, roller: str, slot: int, delta: int) -> None:
        counts = self._counts.get(roller)
        if counts is None:
            counts = self._counts[roller] = [0] * COUNT_SLOTS
        counts[slot] += delta

    def _batch_tasks(self, b: int) -> list[Task]:
        tasks = [self._blocks[n] for n in blocks_of(b, self.params.k)]
        if b in self._aggregations:
            tasks.append(self._aggregations[b])
        return tasks

    # ---------------------------------------------------------------- queries

    @property
    def now(self) -> int:
        return self._now

    @property
    def sequence(self) -> int:
        """Events handled so far: the first element of the next command key."""
        return self._sequence

    @property
    def last_committed(self) -> int:
        return self._last_committed

    @property
    def last_finalized(self) -> int:
        return self._last_finalized

    def block_status(self, block: int) -> ProvingStatus:
        task = self._blocks.get(block)
        if task is None:
            if 0 <= block <= self._base:
                return ProvingStatus.FINALIZED
            if self._base < block <= self._last_finalized:
                return (ProvingStatus.SETTLING if batch_of(block, self.params.k) in self._settling
                        else ProvingStatus.SETTLED)
            return ProvingStatus.UNKNOWN
        if task.finalized:
            return ProvingStatus.FINALIZED
        aggregation = self._aggregations.get(batch_of(block, self.params.k))
        if aggregation is not None:
            if aggregation.first_valid is not None:
                return ProvingStatus.AGGREGATED
            return ProvingStatus.OPEN if aggregation.opened else ProvingStatus.AGGREGATING
        if task.first_valid is not None:
            return ProvingStatus.PROVEN
        return ProvingStatus.OPEN if task.opened else ProvingStatus.ASSIGNED

    def in_flight(self) -> tuple[AssignmentView, ...]:
        """Assignments still open (undecided, window not closed), blocks before batches."""
        return tuple(
            AssignmentView(task.kind, task.index, rnd.number, rnd.seed, roller, assignment.accepted,
                           rnd.assigned_at, rnd.deadline, rnd.close_at)
            for tasks in (self._blocks, self._aggregations) for task in tasks.values()
            for rnd in task.rounds if not rnd.open and self._now < rnd.close_at
            for roller, assignment in rnd.assignments.items() if not assignment.decided
        )

    def open_tasks(self) -> tuple[Open, ...]:
        """The tasks open now (no proof yet, batch not on L1), blocks before batches, as the
        `Open` that opened them: what a session that connects later must be told."""
        return tuple(
            Open(task.kind, task.index, rnd.number, rnd.seed, task.statement, rnd.assigned_at,
                 task.proofs)
            for tasks in (self._blocks, self._aggregations) for task in tasks.values()
            if task.opened and not task.final for rnd in task.rounds[-1:]
        )

    def roller_counts(self, roller: str) -> RollerCounts:
        counts = self._counts.get(checksum_address(roller))
        return RollerCounts() if counts is None else RollerCounts(*counts)

    def all_roller_counts(self) -> dict[str, RollerCounts]:
        return {roller: RollerCounts(*counts) for roller, counts in self._counts.items()}

    # ---------------------------------------------------------------- snapshots

    def snapshot(self) -> dict:
        """The whole state in plain types (JSON and msgpack alike: big integers as decimal
        strings, bytes as hex). `from_snapshot` of it, fed the events that follow, behaves
        exactly as this core fed them."""
        tasks = [*self._blocks.values(), *self._aggregations.values()]
        rosters: dict[str, list[list[str]]] = {}
        for task in tasks:
            rosters.setdefault(task.roster.hash.hex(),
                               [[address, str(w)] for address, w in task.roster.entries()])
        return {
            "version": SNAPSHOT_VERSION,
            "params": [str(int(v)) for v in self.params.as_tuple()],
            "chain_id": str(self.chain_id),
            "rollup": self.rollup,
            "now": self._now,
            "sequence": self._sequence,
            "timer_order": self._timer_order,
            "task_serial": self._task_serial,
            "base": self._base,
            "last_committed": self._last_committed,
            "last_finalized": self._last_finalized,
            "finalize_next": self._finalize_next,
            "rosters": rosters,
            "tasks": [task_to_json(task) for task in tasks],
            "pending_settlement": [[b, at] for b, at in self._pending_settlement.items()],
            "settling": [[b, [list(entry) for entry in entries]]
                         for b, entries in self._settling.items()],
            "timers": [list(entry) for entry in sorted(self._timers) if self._timer_live(entry)],
            "counts": {roller: list(counts) for roller, counts in self._counts.items()},
        }

    @classmethod
    def from_snapshot(cls, data: dict) -> CoordinatorCore:
        if data.get("version") != SNAPSHOT_VERSION:
            raise InvalidSnapshot(f"snapshot version {data.get('version')!r}; this core reads "
                                  f"version {SNAPSHOT_VERSION}")
        try:
            params = MarketParams.from_tuple([int(v) for v in data["params"]])
            core = cls(params, int(data["chain_id"]), data["rollup"], last_finalized=data["base"])
            rosters = {}
            for name, entries in data["rosters"].items():
                roster = prepare_roster((address, int(w)) for address, w in entries)
                if roster.hash.hex() != name:
                    raise InvalidSnapshot(f"roster {name} hashes to {roster.hash.hex()}")
                rosters[name] = roster
            for item in data["tasks"]:
                task = task_from_json(item, rosters)
                core._tasks(task.kind)[task.index] = task
            core._now = data["now"]
            core._sequence = data["sequence"]
            core._timer_order = data["timer_order"]
            core._task_serial = data["task_serial"]
            core._last_committed = data["last_committed"]
            core._last_finalized = data["last_finalized"]
            core._finalize_next = data["finalize_next"]
            core._pending_settlement = {b: at for b, at in data["pending_settlement"]}
            core._settling = {b: tuple(tuple(entry) for entry in entries)
                              for b, entries in data["settling"]}
            core._timers = [tuple(entry) for entry in data["timers"]]
            heapq.heapify(core._timers)
            core._counts = {roller: list(counts) for roller, counts in data["counts"].items()}
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidSnapshot(f"malformed snapshot: {exc!r}") from None
        return core


def _natural(value: object, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidEvent(f"{what} must be a natural number, got {value!r}")
    return value


def _bytes32(value: object, what: str) -> bytes:
    try:
        return parse_bytes32(value, what)
    except RulesError as exc:
        raise InvalidEvent(str(exc)) from None
