"""Proving speeds and admission: worked decisions, and the property that a roller following its
own model never accepts a set of tasks it cannot finish in time, checked against an independent
event-driven simulation of the prover."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from types import SimpleNamespace

from hypothesis import given, settings
from hypothesis import strategies as st

from roller.capacity import (
    CALIBRATION_BATCH,
    Accept,
    Admission,
    Decline,
    ProvingSpeed,
    Work,
    calibrate,
    ema,
    pending_work,
)
from roller.journal import JOURNAL_NAME, Journal, TaskOffer
from zkp.proof import Proof
from zkp.system import system

CIRCUIT = b"\xcc" * 32
COORDINATOR = "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23"
ROLLUP = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
PROOF = system("groth16").seal(Proof((1, 2), ((3, 4), (5, 6)), (7, 8)))
SPEEDS = {(CIRCUIT, "block"): 4.0, (CIRCUIT, "batch"): 0.5}


def work(label: str, assigned_at: float, deadline: float, kind: str = "block", units: int = 1,
         started_at: float | None = None) -> Work:
    return Work(label, kind, CIRCUIT, units, assigned_at, deadline, started_at)


# ---------------------------------------------------------------------- worked decisions

def test_an_idle_roller_accepts_what_it_can_finish_within_the_margin():
    admission = Admission(SPEEDS, safety_margin=0.2)
    assert admission.decide(work("a", 1_000, 1_030), 1_001, []) == Accept(1_005)
    # Window 10 s, margin 2 s: effective deadline 1_008; a 4 s proof from 1_005 ends at 1_009.
    decision = admission.decide(work("b", 1_000, 1_010), 1_005, [])
    assert decision == Decline(
        "too_slow", "would finish at 00:16:49.0 UTC, deadline 00:16:50.0 UTC less the 20% "
                    "margin: 00:16:48.0 UTC")


def test_a_deadline_already_passed_is_too_slow():
    decision = Admission(SPEEDS).decide(work("late", 900, 930), 1_000, [])
    assert isinstance(decision, Decline) and decision.code == "too_slow"


def test_a_busy_roller_declines_at_capacity_and_a_second_prover_takes_it():
    running = work("block 1 round 0", 1_000, 1_030, started_at=1_000)
    queued = work("block 2 round 0", 1_000, 1_020)  # effective deadline 1_010
    new = work("block 3 round 0", 1_001, 1_022)  # effective deadline 1_011.5
    one = Admission(SPEEDS, max_concurrent=1, safety_margin=0.5)
    # One prover: 1 ends at 1_004, 2 at 1_008, 3 would end at 1_012.
    decision = one.decide(new, 1_001, [running, queued])
    assert decision == Decline(
        "at_capacity", "at capacity: 2 accepted tasks ahead; would finish at 00:16:52.0 UTC, "
                       "deadline 00:17:02.0 UTC less the 50% margin: 00:16:51.5 UTC")
    # Two: 2 runs beside 1 from now, 3 follows 1 and ends at 1_008.
    assert Admission(SPEEDS, max_concurrent=2, safety_margin=0.5).decide(
        new, 1_001, [running, queued]) == Accept(1_008)


def test_a_task_that_would_push_an_accepted_one_late_is_declined():
    """The newcomer's deadline is earlier, so it would be proven first; the queued task would
    then miss its own effective deadline, though the newcomer alone would make it."""
    queued = work("block 2 round 0", 1_000, 1_009.5)  # effective deadline 1_007.6
    urgent = work("block 3 round 0", 1_000, 1_009)  # effective deadline 1_007.2
    admission = Admission(SPEEDS)
    assert admission.decide(urgent, 1_000, [queued]) == Decline(
        "at_capacity", "at capacity: taking it would delay block 2 round 0 to 00:16:48.0 UTC, "
                       "deadline 00:16:49.5 UTC less the 20% margin: 00:16:47.6 UTC")
    assert admission.order([queued, urgent]) == [urgent, queued]


def test_an_overrun_task_is_taken_to_finish_now():
    overrun = work("slow", 1_000, 1_100, started_at=1_000)  # expected at 1_004; it is 1_050
    assert Admission(SPEEDS).schedule([overrun, work("next", 1_050, 1_100)], 1_050) == [
        1_050, 1_054]


def test_more_running_tasks_than_provers_hold_the_queue():
    """After max_concurrent was lowered: the queued task waits until only one is left running."""
    running = [work(f"r{i}", 1_000, 1_100, started_at=1_000 + i) for i in range(3)]
    finish = Admission(SPEEDS, max_concurrent=2).schedule([*running, work("q", 1_003, 1_100)],
                                                          1_003)
    assert finish == [1_004, 1_005, 1_006, 1_009]


def test_a_batch_costs_its_units_and_an_unmeasured_circuit_is_declined():
    admission = Admission(SPEEDS)
    assert admission.decide(work("batch 0", 1_000, 1_030, "batch", 4), 1_000, []) == Accept(1_002)
    decision = admission.decide(replace(work("x", 1_000, 1_030), circuit=b"\x01" * 32), 1_000, [])
    assert decision == Decline("unmeasured", "no proving speed measured yet for block tasks of "
                                             "circuit 0101010101010101")


def test_pending_work_is_what_still_needs_the_prover(tmp_path):
    journal = Journal.open(tmp_path / JOURNAL_NAME)
    try:
        for index in range(3):
            journal.offer(TaskOffer(bytes([index]) * 32, COORDINATOR, ROLLUP, "block", index, 0,
                                    b"\x00" * 32, b"\x01" * 32, 1, False, 1_000, 1_030, 1_060, CIRCUIT, b"{}"))
            journal.accept(journal.history(1)[0].key)
        journal.start_proving(journal.history(3)[1].key, now=1_002)
        journal.start_proving(journal.history(3)[0].key, now=1_003)
        journal.record_proof(journal.history(3)[0].key, PROOF, (1, 2, 3, 4), b"")
        pending = pending_work(journal.unfinished())
    finally:
        journal.close()
    assert [(w.label.split(" (statement")[0], w.started_at) for w in pending] == [
        ("block 0 round 0", None), ("block 1 round 0", 1_002)]


# ---------------------------------------------------------------------- the property

@dataclass
class Accepted:
    work: Work
    accepted_at: float
    start: float | None = None
    finish: float | None = None


class SimulatedProver:
    """`workers` provers taking accepted tasks earliest effective deadline first, each for
    exactly its modelled duration: the world the admission model describes, run event by event."""

    def __init__(self, admission: Admission):
        self.admission = admission
        self.free_at = [-math.inf] * admission.max_concurrent
        self.tasks: list[Accepted] = []

    def accept(self, work: Work, now: float) -> None:
        self.tasks.append(Accepted(work, now))
        self.run_until(now)

    def run_until(self, until: float) -> None:
        while queued := [t for t in self.tasks if t.start is None]:
            worker = min(range(len(self.free_at)), key=self.free_at.__getitem__)
            task = min(queued, key=lambda t: (self.admission.finish_by(t.work),
                                              t.work.assigned_at, t.work.label))
            start = max(self.free_at[worker], task.accepted_at)
            if start > until:
                return
            task.start = start
            task.finish = start + self.admission.duration(task.work)
            self.free_at[worker] = task.finish

    def in_flight(self, now: float) -> list[Work]:
        """Accepted and not finished at `now`, with their start if they have one."""
        return [replace(t.work, started_at=t.start) for t in self.tasks
                if t.finish is None or t.finish > now]


durations = st.floats(0.1, 10, allow_nan=False, allow_infinity=False)
offers = st.lists(st.tuples(
    st.floats(0, 8, allow_nan=False), st.sampled_from(["block", "batch"]), st.integers(1, 4),
    st.floats(1, 60, allow_nan=False), st.floats(0, 2, allow_nan=False)), min_size=1, max_size=25)


@settings(max_examples=300, deadline=None)
@given(durations, durations, st.integers(1, 3), st.floats(0, 0.5, allow_nan=False), offers)
def test_admission_never_takes_on_what_it_cannot_finish(block_s, unit_s, workers, margin, stream):
    admission = Admission({(CIRCUIT, "block"): block_s, (CIRCUIT, "batch"): unit_s}, workers,
                          margin)
    prover = SimulatedProver(admission)
    now = 1_000.0
    for i, (gap, kind, units, window, lag) in enumerate(stream):
        now += gap
        prover.run_until(now)
        task = work(f"task {i}", now - lag, now - lag + window, kind,
                    1 if kind == "block" else units)
        in_flight = prover.in_flight(now)
        decision = admission.decide(task, now, in_flight)
        fits_alone = now + admission.duration(task) <= admission.finish_by(task)
        if isinstance(decision, Accept):
            prover.accept(task, now)
        elif decision.code == "too_slow":
            assert not fits_alone
        else:
            assert decision.code == "at_capacity" and fits_alone and in_flight
        if fits_alone and not in_flight:
            assert isinstance(decision, Accept), "an idle roller takes what it can finish"
    prover.run_until(math.inf)
    for task in prover.tasks:
        assert task.finish <= admission.finish_by(task.work) + 1e-9, task


# ---------------------------------------------------------------------- speeds

def test_speeds_follow_a_moving_average_and_survive_a_restart(tmp_path):
    path = tmp_path / JOURNAL_NAME
    journal = Journal.open(path)
    speed = ProvingSpeed(journal, "cpu (2 threads of 2 cores)")
    assert speed.seconds(CIRCUIT, "block") is None and not speed.measured(CIRCUIT)
    assert speed.observe(CIRCUIT, "block", 4.0, now=1) == 4.0
    assert speed.observe(CIRCUIT, "block", 6.0, now=2) == ema(4.0, 6.0) == 4.6
    assert speed.observe(CIRCUIT, "batch", 3.0, units=4, now=3) == 0.75
    assert speed.measured(CIRCUIT)
    journal.close()

    journal = Journal.open(path)
    try:
        again = ProvingSpeed(journal, "cpu (2 threads of 2 cores)")
        assert again.snapshot() == {(CIRCUIT, "block"): 4.6, (CIRCUIT, "batch"): 0.75}
        assert journal.proving_speed(again.backend, CIRCUIT, "block").samples == 2
        # Another backend (or the same one on other hardware) measures afresh.
        assert not ProvingSpeed(journal, "gpu (H100)").measured(CIRCUIT)
    finally:
        journal.close()


def test_calibration_records_a_block_and_an_aggregation(tmp_path):
    block = SimpleNamespace(seconds=3.0, proof="proof", public=(1, 2, 3, 4))
    aggregated = []

    class FakeProver:
        build = SimpleNamespace(zkey_hash=CIRCUIT)

        def prove_block(self, inputs, address):
            assert (inputs, address) == (b"{}", "0xab")
            return block

        def aggregate(self, proofs):
            aggregated.append(proofs)
            return SimpleNamespace(seconds=1.0)

    journal = Journal.open(tmp_path / JOURNAL_NAME)
    try:
        speed = ProvingSpeed(journal, "cpu")
        assert calibrate(FakeProver(), speed, b"{}", "0xab", runs=2) == (
            3.0, 1.0 / CALIBRATION_BATCH)
        assert aggregated == [[("proof", (1, 2, 3, 4))] * CALIBRATION_BATCH]
        assert journal.proving_speed("cpu", CIRCUIT, "block").samples == 2
    finally:
        journal.close()
