"""How fast this roller proves, and which tasks it can take on.

**Speed.** `ProvingSpeed` holds seconds per unit of work for each (circuit, kind) on one backend:
a unit is one block proof (witness, proof and our own verification), or one proof combined
into a batch (aggregation and its verification grow with K). It is measured at start by
`calibrate` and then follows real tasks with an exponential moving average, so a machine that
gets busier (or a driver that gets faster) shows in the model within a few tasks. It is kept in
the journal's database, keyed by the backend's description (name and hardware), so a restart
measures again only when the backend or the circuit changed.

**Admission.** `Admission.decide` is a pure function of the task, the time, the tasks already
accepted and not yet proven, and the speeds; it reads no clock. The model: `max_concurrent`
provers, each proving one task at a time for its estimated duration, taking queued tasks
earliest effective deadline first (the order `Admission.order` gives, which the prover pool follows);
a task's effective deadline keeps `safety_margin` of its window (assignment to deadline) spare
for the network and for estimates that are too low. A task is accepted only if, with it, it
finishes by its effective deadline and no accepted task finishes later than it would have
without it (nor past its own effective deadline). Declining costs nothing (market-spec.md,
"Outcomes"), missing costs reputation, so the rule errs towards declining.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from p2p.messages import BATCH_TASK, BLOCK_TASK
from roller.journal import Journal, JournalTask, SpeedRecord, TaskOffer, TaskState

if TYPE_CHECKING:
    from roller.abc import TaskProver

#: weight of the newest sample in the moving average: about the last five tasks count
SPEED_WEIGHT = 0.3
#: proofs aggregated when measuring a batch's speed per proof
CALIBRATION_BATCH = 2


def ema(previous: float, sample: float, weight: float = SPEED_WEIGHT) -> float:
    return previous + weight * (sample - previous)


class ProvingSpeed:
    """Seconds per unit for one backend, per (circuit, kind), persisted in the journal."""

    def __init__(self, journal: Journal, backend: str, weight: float = SPEED_WEIGHT):
        self.journal = journal
        #: the backend's description (`TaskProver.backend_description`): name and hardware
        self.backend = backend
        self.weight = weight

    def seconds(self, circuit: bytes, kind: str) -> float | None:
        record = self.journal.proving_speed(self.backend, circuit, kind)
        return None if record is None else record.seconds

    def snapshot(self) -> dict[tuple[bytes, str], float]:
        """Every speed of this backend, for `Admission`."""
        return {(r.circuit, r.kind): r.seconds for r in self.journal.proving_speeds(self.backend)}

    def measured(self, circuit: bytes) -> bool:
        """Whether both kinds of task on `circuit` have a speed on this backend."""
        return all(self.seconds(circuit, kind) is not None for kind in (BLOCK_TASK, BATCH_TASK))

    def observe(self, circuit: bytes, kind: str, seconds: float, units: int = 1, *,
                now: float | None = None) -> float:
        """Fold a task that took `seconds` for `units` units into the average; the new speed."""
        sample = seconds / units
        previous = self.journal.proving_speed(self.backend, circuit, kind)
        value = sample if previous is None else ema(previous.seconds, sample, self.weight)
        self.journal.save_proving_speed(SpeedRecord(
            self.backend, circuit, kind, value, 1 if previous is None else previous.samples + 1,
            time.time() if now is None else now))
        return value


def calibrate(prover: TaskProver, speed: ProvingSpeed, sample_inputs: bytes, address: str,
              runs: int = 1) -> tuple[float, float]:
    """Measure a block proof (`runs` times) and an aggregation of CALIBRATION_BATCH proofs with
    `prover`, recording both; returns (seconds per block, seconds per aggregated proof).

    `sample_inputs` is any valid block input for the circuit bound to `address` (an empty block
    will do: its slots are all padding and cost what full ones do); the node builds it.
    """
    circuit = prover.build.zkey_hash
    for _ in range(runs):
        block = prover.prove_block(sample_inputs, address)
        per_block = speed.observe(circuit, "block", block.seconds)
    batch = prover.aggregate([(block.proof, block.public)] * CALIBRATION_BATCH)
    per_proof = speed.observe(circuit, "batch", batch.seconds, CALIBRATION_BATCH)
    return per_block, per_proof


# ---------------------------------------------------------------------- admission

@dataclass(frozen=True)
class Work:
    """A task as admission sees it."""

    label: str
    kind: str
    circuit: bytes
    units: int
    assigned_at: float
    deadline: float
    #: when proving began; None while it waits
    started_at: float | None = None

    @classmethod
    def of(cls, task: TaskOffer) -> Work:
        started = task.proving_at if isinstance(task, JournalTask) and (
            task.state is TaskState.PROVING) else None
        return cls(str(task.key), task.kind, task.circuit, task.units, task.assigned_at,
                   task.deadline, started)


def pending_work(tasks: Iterable[JournalTask]) -> list[Work]:
    """The journal's tasks that still need the prover: accepted or proving (`in_flight` for
    `Admission.decide`); proven ones only wait for the network."""
    return [Work.of(t) for t in tasks if t.state in (TaskState.ACCEPTED, TaskState.PROVING)]


@dataclass(frozen=True)
class Accept:
    #: when the model has it proven
    finish_at: float


@dataclass(frozen=True)
class Decline:
    #: a short fixed word, for metrics labels: unmeasured, too_slow, at_capacity
    code: str
    #: one line for the coordinator and the journal
    reason: str


@dataclass(frozen=True)
class Admission:
    #: seconds per unit by (circuit, kind): `ProvingSpeed.snapshot()`
    speeds: Mapping[tuple[bytes, str], float]
    max_concurrent: int = 1
    safety_margin: float = 0.2

    def finish_by(self, work: Work) -> float:
        """The effective deadline: the deadline less the margin's share of the window."""
        return work.deadline - self.safety_margin * (work.deadline - work.assigned_at)

    def duration(self, work: Work) -> float | None:
        per_unit = self.speeds.get((work.circuit, work.kind))
        return None if per_unit is None else per_unit * work.units

    def order(self, queued: Iterable[Work]) -> list[Work]:
        """The order waiting tasks are proven in: earliest effective deadline first."""
        return sorted(queued, key=lambda w: (self.finish_by(w), w.assigned_at, w.label))

    def schedule(self, works: Sequence[Work], now: float) -> list[float]:
        """Each work's modelled finish time, in the order given; every work's speed must be known.

        Running works keep their provers until they finish (an overrun one is taken to finish
        now); the waiting ones follow in `order` on whichever prover frees first.
        """
        durations = [self._known_duration(w) for w in works]
        finish = [0.0] * len(works)
        free: list[float] = []
        for i, work in enumerate(works):
            if work.started_at is not None:
                finish[i] = max(work.started_at + durations[i], now)
                free.append(finish[i])
        heapq.heapify(free)
        # More running than provers (the limit was lowered): the first waiting task starts only
        # once enough of them are done.
        while len(free) > self.max_concurrent:
            heapq.heappop(free)
        while len(free) < self.max_concurrent:
            heapq.heappush(free, now)
        position = {id(w): i for i, w in enumerate(works)}
        for work in self.order(w for w in works if w.started_at is None):
            i = position[id(work)]
            finish[i] = max(heapq.heappop(free), now) + durations[i]
            heapq.heappush(free, finish[i])
        return finish

    def decide(self, task: Work, now: float, in_flight: Sequence[Work]) -> Accept | Decline:
        """Accept `task` at `now`, given the accepted tasks not yet proven, or say why not."""
        for work in (task, *in_flight):
            if self.duration(work) is None:
                return Decline("unmeasured", f"no proving speed measured yet for {work.kind} "
                                             f"tasks of circuit {work.circuit.hex()[:16]}")
        alone = now + self._known_duration(task)
        if alone > self.finish_by(task):
            return Decline("too_slow", f"would finish at {_clock(alone)}, "
                                       f"{self._deadline_text(task)}")
        before = self.schedule(in_flight, now)
        after = self.schedule([*in_flight, task], now)
        for work, was, will in zip(in_flight, before, after):
            if will > max(was, self.finish_by(work)):
                return Decline("at_capacity", f"at capacity: taking it would delay {work.label} "
                                              f"to {_clock(will)}, {self._deadline_text(work)}")
        if after[-1] > self.finish_by(task):
            return Decline("at_capacity",
                           f"at capacity: {len(in_flight)} accepted tasks ahead; would finish at "
                           f"{_clock(after[-1])}, {self._deadline_text(task)}")
        return Accept(after[-1])

    def _known_duration(self, work: Work) -> float:
        return self.speeds[(work.circuit, work.kind)] * work.units

    def _deadline_text(self, work: Work) -> str:
        return (f"deadline {_clock(work.deadline)} less the {self.safety_margin:.0%} margin: "
                f"{_clock(self.finish_by(work))}")


def _clock(timestamp: float) -> str:
    """UTC time of day to the tenth of a second: deadlines are seconds apart."""
    tenths = round(timestamp * 10) % 864_000
    return f"{tenths // 36_000:02d}:{tenths // 600 % 60:02d}:{tenths % 600 / 10:04.1f} UTC"
