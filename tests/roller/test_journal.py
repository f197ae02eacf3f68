"""The task journal on real SQLite files: its state machine, what survives a close or a kill,
and the data directory's lock."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import threading
from dataclasses import replace
from pathlib import Path

import pytest
from eth_utils import to_checksum_address
from rich.console import Console

from roller.datadir import LOCK_NAME, DataDirLock
from p2p.datadir import DataDirLocked
from roller.errors import JournalError, UnknownTask
from roller.journal import (
    JOURNAL_NAME,
    SCHEMA_VERSION,
    Journal,
    SpeedRecord,
    TaskKey,
    TaskOffer,
    TaskState,
    decode_batch_inputs,
)
from roller.report import render_tasks_report, tasks_report
from zkp.proof import AggregateProof, Proof
from zkp.system import system

COORDINATOR = "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23"
ROLLUP = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
REPO = Path(__file__).resolve().parents[2]
GROTH16 = system("groth16")
PROOF_POINTS = Proof(a=(1, 2), b=((3, 4), (5, 6)), c=(7, 2**254))
PROOF = GROTH16.seal(PROOF_POINTS)
PUBLIC = (11, 12, 13, 0xAB)
SIGNATURE = bytes(range(65))
STATEMENT = b"\x5a" * 32


def offer(index: int = 7, round_: int = 0, kind: str = "block", **changes) -> TaskOffer:
    task = TaskOffer(
        task_id=bytes([index, round_, kind == "batch"]) + bytes(29), coordinator=COORDINATOR,
        rollup=ROLLUP,
        kind=kind, index=index, round=round_, seed=b"\x05" * 32, statement=STATEMENT, slots=1,
        open=False, assigned_at=1_000,
        deadline=1_030, close_at=1_060, circuit=b"\xcc" * 32, inputs=b'{"prover": "171"}',
        units=4 if kind == "batch" else 1)
    return replace(task, **changes)


@pytest.fixture
def journal(tmp_path):
    journal = Journal.open(tmp_path / JOURNAL_NAME)
    yield journal
    journal.close()


def to_proven(journal: Journal, task: TaskOffer) -> None:
    journal.offer(task, now=1_000.5)
    journal.accept(task.key, now=1_001)
    journal.start_proving(task.key, now=1_002)
    journal.record_proof(task.key, PROOF, PUBLIC, SIGNATURE, now=1_005)


# ---------------------------------------------------------------------- transitions

def test_a_task_from_offer_to_settlement(journal):
    task = offer()
    offered = journal.offer(task, now=1_000.5)
    assert offered.state is TaskState.OFFERED and offered.offered_at == 1_000.5
    assert offered.key == TaskKey(COORDINATOR, ROLLUP, "block", 7, 0, STATEMENT) and offered.inputs == task.inputs
    journal.accept(task.key, now=1_001)
    assert journal.start_proving(task.key, now=1_002).attempts == 1
    proven = journal.record_proof(task.key, PROOF, PUBLIC, SIGNATURE, now=1_005)
    assert (proven.proof, proven.public, proven.signature) == (PROOF, PUBLIC, SIGNATURE)
    assert journal.mark_submitted(task.key, now=1_006).submitted_at == 1_006
    receipted = journal.record_receipt(task.key, "accepted", now=1_007)
    assert (receipted.state, receipted.receipt, receipted.finished_at) == (
        TaskState.RECEIPTED, "accepted", 1_007)
    settled = journal.settle(task.key, "on_time", 10 * 10**18, 5_000, 5_500, now=2_000)
    assert (settled.outcome, settled.reward, settled.rep_before, settled.rep_after) == (
        "on_time", 10 * 10**18, 5_000, 5_500)
    # A restarted node reads the settlement events again: the same values are a no-op.
    assert journal.settle(task.key, "on_time", 10 * 10**18, 5_000, 5_500, now=3_000) == settled
    assert journal.find(COORDINATOR, task.task_id) == settled


def test_a_batch_keeps_its_aggregate(journal):
    task = offer(3, kind="batch")
    aggregate = GROTH16.seal_aggregate(
        AggregateProof(a=((1, 2), None), b=(((3, 4), (5, 6)), None), c=(7, 8)))
    publics = ((1, 2, 3, 4), (5, 6, 7, 8))
    journal.offer(task)
    journal.accept(task.key)
    journal.start_proving(task.key)
    proven = journal.record_proof(task.key, aggregate, publics, SIGNATURE)
    assert (proven.proof, proven.public, proven.units) == (aggregate, publics, 4)


def test_declines_and_failures_keep_their_reasons(journal):
    declined, failed = offer(1), offer(2)
    journal.offer(declined)
    assert journal.decline(declined.key, "at capacity").reason == "at capacity"
    journal.offer(failed)
    journal.accept(failed.key)
    journal.start_proving(failed.key)
    assert journal.fail(failed.key, "the circuit refuses the inputs").state is TaskState.FAILED
    journal.settle(failed.key, "missed", 0, 5_000, 3_750)
    rejected = offer(3)
    to_proven(journal, rejected)
    journal.mark_submitted(rejected.key)
    assert journal.record_receipt(rejected.key, "late", "after the deadline").reason == (
        "after the deadline")


@pytest.mark.parametrize(("path", "move", "state"), [
    ([], "start_proving", "offered"),
    ([], "record_proof", "offered"),
    (["accept"], "accept", "accepted"),
    (["accept"], "mark_submitted", "accepted"),
    (["decline"], "accept", "declined"),
    (["decline"], "start_proving", "declined"),
    (["accept", "start_proving"], "decline", "proving"),
    (["accept", "start_proving", "record_proof"], "start_proving", "proven"),
    (["accept", "start_proving", "record_proof", "mark_submitted"], "mark_submitted",
     "submitted"),
    (["accept", "start_proving", "record_proof", "mark_submitted"], "fail", "submitted"),
    (["accept", "fail"], "start_proving", "failed"),
])
def test_an_illegal_transition_names_the_task_and_both_states(journal, path, move, state):
    task = offer()
    journal.offer(task)
    steps = {
        "accept": lambda: journal.accept(task.key),
        "decline": lambda: journal.decline(task.key, "no"),
        "start_proving": lambda: journal.start_proving(task.key),
        "record_proof": lambda: journal.record_proof(task.key, PROOF, PUBLIC, SIGNATURE),
        "mark_submitted": lambda: journal.mark_submitted(task.key),
        "fail": lambda: journal.fail(task.key, "broken"),
    }
    for step in path:
        steps[step]()
    before = journal.get(task.key)
    with pytest.raises(JournalError) as caught:
        steps[move]()
    assert str(caught.value).startswith(f"block 7 round 0 (statement 5a5a5a5a5a5a) of rollup "
                                        f"{ROLLUP} from coordinator {COORDINATOR}: "
                                        f"cannot go from {state} to ")
    assert journal.get(task.key) == before  # the refused transition changed nothing


def test_proving_again_after_a_restart_counts_attempts(journal):
    task = offer()
    journal.offer(task)
    journal.accept(task.key)
    journal.start_proving(task.key, now=1)
    again = journal.start_proving(task.key, now=2)
    assert (again.state, again.attempts, again.proving_at) == (TaskState.PROVING, 2, 2)


def test_bad_offers_receipts_and_settlements_are_refused(journal):
    with pytest.raises(JournalError, match="times out of order"):
        journal.offer(offer(deadline=999))
    with pytest.raises(JournalError, match="kind 'proof' is none of block, batch"):
        journal.offer(offer(kind="proof"))
    with pytest.raises(JournalError, match="seed is 3 bytes, not 32"):
        journal.offer(offer(seed=b"abc"))
    with pytest.raises(JournalError, match="a block is 1"):
        journal.offer(offer(units=2))
    with pytest.raises(JournalError, match="statement is 31 bytes, not 32"):
        journal.offer(offer(statement=bytes(31)))
    with pytest.raises(JournalError, match="0 slots"):
        journal.offer(offer(slots=0))
    with pytest.raises(JournalError, match="2 slots; .* an open one 1"):
        journal.offer(offer(slots=2, open=True))
    with pytest.raises(JournalError, match="not a checksummed address"):
        journal.offer(offer(coordinator=COORDINATOR.lower()))
    task = offer()
    journal.offer(task)
    with pytest.raises(JournalError, match="already in the journal, offered"):
        journal.offer(task)
    with pytest.raises(JournalError, match="task id .* is already used"):
        journal.offer(offer(8, task_id=task.task_id))
    with pytest.raises(JournalError, match="only a task accepted by this roller has an outcome"):
        journal.settle(task.key, "missed", 0, 5_000, 3_750)
    journal.decline(task.key, "too slow")
    with pytest.raises(JournalError, match="only a task accepted"):
        journal.settle(task.key, "missed", 0, 5_000, 3_750)
    other = offer(9)
    to_proven(journal, other)
    journal.mark_submitted(other.key)
    with pytest.raises(JournalError, match="receipt status 'fine' is none of"):
        journal.record_receipt(other.key, "fine")
    with pytest.raises(JournalError, match="outcome 'great' is none of"):
        journal.settle(other.key, "great", 0, 1, 2)
    journal.settle(other.key, "on_time", 5, 5_000, 5_500)
    with pytest.raises(JournalError, match="already settled as"):
        journal.settle(other.key, "late", 0, 5_000, 4_500)
    with pytest.raises(UnknownTask, match="no task block 99 round 0"):
        journal.accept(offer(99).key)


def test_a_recommitted_block_is_a_new_task(journal):
    """A block reverted and committed again keeps its seeds (its randomness is pinned) but has
    another statement: its task is a new row, decided on its own, while the old one stays."""
    before = offer(slots=2)
    journal.offer(before)
    journal.decline(before.key, "stale_statement: reverted")
    again = offer(slots=2, statement=b"\x77" * 32, task_id=b"\x42" * 32)
    assert again.key != before.key
    assert journal.offer(again).state is TaskState.OFFERED
    journal.accept(again.key)
    assert journal.get(before.key).state is TaskState.DECLINED
    assert journal.get(again.key).slots == 2 and journal.get(again.key).open is False
    opened = offer(round_=3, open=True, task_id=b"\x43" * 32)
    assert journal.offer(opened).open is True


def test_unfinished_in_flight_and_history(journal):
    for index, moves in enumerate([[], ["accept"], ["accept", "prove"], ["accept", "prove", "proof"],
                                   ["accept", "prove", "proof", "submit"],
                                   ["accept", "prove", "proof", "submit", "receipt"],
                                   ["decline"], ["accept", "fail"]]):
        task = offer(index, deadline=1_050 - index, close_at=1_060)
        journal.offer(task, now=100 + index)
        for move in moves:
            {"accept": lambda: journal.accept(task.key),
             "prove": lambda: journal.start_proving(task.key),
             "proof": lambda: journal.record_proof(task.key, PROOF, PUBLIC, SIGNATURE),
             "submit": lambda: journal.mark_submitted(task.key),
             "receipt": lambda: journal.record_receipt(task.key, "accepted"),
             "decline": lambda: journal.decline(task.key, "no"),
             "fail": lambda: journal.fail(task.key, "broken")}[move]()
    # Earliest deadline first: index 3 has the earliest of the unfinished ones.
    assert [t.index for t in journal.unfinished()] == [3, 2, 1]
    assert [t.index for t in journal.in_flight()] == [4, 3, 2, 1]
    assert [t.index for t in journal.history(3)] == [7, 6, 5]
    assert journal.summary()["states"] == {
        "offered": 1, "accepted": 1, "declined": 1, "proving": 1, "proven": 1, "submitted": 1,
        "receipted": 1, "failed": 1}


# ---------------------------------------------------------------------- durability

def test_a_reopened_journal_shows_the_same_state(tmp_path):
    path = tmp_path / JOURNAL_NAME
    journal = Journal.open(path)
    resumed, done = offer(1), offer(2)
    to_proven(journal, resumed)
    to_proven(journal, done)
    journal.mark_submitted(done.key)
    journal.save_proving_speed(SpeedRecord("cpu (2 threads)", b"\xcc" * 32, "block", 2.5, 3, 9.0))
    before = (journal.get(resumed.key), journal.get(done.key))
    journal.close()

    reopened = Journal.open(path)
    try:
        assert (reopened.get(resumed.key), reopened.get(done.key)) == before
        assert [t.key for t in reopened.unfinished()] == [resumed.key]
        assert reopened.proving_speed("cpu (2 threads)", b"\xcc" * 32, "block") == SpeedRecord(
            "cpu (2 threads)", b"\xcc" * 32, "block", 2.5, 3, 9.0)
        assert reopened.proving_speed("gpu", b"\xcc" * 32, "block") is None
    finally:
        reopened.close()


def test_a_killed_writer_leaves_every_committed_transition(tmp_path):
    """A process that records transitions and dies without closing (os._exit skips every
    cleanup, as a kill would): each transition it finished is there, in its final state."""
    path = tmp_path / JOURNAL_NAME
    script = textwrap.dedent(f"""
        import os, sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_journal import offer
        from roller.journal import Journal
        journal = Journal.open(__import__("pathlib").Path({str(path)!r}))
        for index in range(3):
            task = offer(index)
            journal.offer(task)
            journal.accept(task.key)
        journal.start_proving(offer(1).key)
        journal.decline(journal.offer(offer(5)).key, "too slow")
        os._exit(0)
    """)
    subprocess.run([sys.executable, "-c", script], check=True, cwd=REPO, timeout=60)
    journal = Journal.open(path)
    try:
        assert [(t.index, t.state) for t in journal.unfinished()] == [
            (0, TaskState.ACCEPTED), (1, TaskState.PROVING), (2, TaskState.ACCEPTED)]
        assert journal.get(offer(5).key).reason == "too slow"
    finally:
        journal.close()


def test_a_journal_of_another_schema_is_refused(tmp_path):
    path = tmp_path / JOURNAL_NAME
    Journal.open(path).close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE meta SET value = '99' WHERE key = 'schema'")
    with pytest.raises(JournalError, match=f"has schema 99, this roller reads schema {SCHEMA_VERSION}"):
        Journal.open(path)
    with sqlite3.connect(path) as db:  # a v1 journal: tasks keyed without their statement
        db.execute("UPDATE meta SET value = '1' WHERE key = 'schema'")
    with pytest.raises(JournalError, match=f"has schema 1, this roller reads schema {SCHEMA_VERSION}"):
        Journal.open(path, rollup_of_old_tasks=ROLLUP)


def test_block_n_of_two_rollups_is_two_tasks(journal):
    """Same coordinator address, same block, round and statement (two rollups from one genesis
    with the same transfers have the same statements: it hashes no rollup): two rows."""
    other = "0x" + "0b" * 20
    first = journal.offer(offer())
    second = journal.offer(offer(task_id=b"\x0b" * 32, rollup=to_checksum_address(other)))
    assert first.key != second.key and first.statement == second.statement
    journal.accept(second.key)
    assert (journal.get(first.key).state, journal.get(second.key).state) == (
        TaskState.OFFERED, TaskState.ACCEPTED)
    assert journal.rollups() == {ROLLUP, to_checksum_address(other)}


def _schema_3(tmp_path: Path) -> Path:
    """A journal as schema 3 wrote it: proofs and a batch's proofs as Groth16 points (decimal
    strings), one block task proven and waiting to be submitted, one batch task offered."""
    path = tmp_path / JOURNAL_NAME
    journal = Journal.open(path)
    to_proven(journal, offer())
    journal.offer(offer(0, kind="batch", inputs=json.dumps([
        {"index": 1, "a": ["1", "2"], "b": [["3", "4"], ["5", "6"]], "c": ["7", str(2**254)],
         "public": ["11", "12", "13", "171"]}]).encode(), units=1))
    journal.close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE tasks SET proof = ? WHERE kind = 'block'", (json.dumps(
            {"a": ["1", "2"], "b": [["3", "4"], ["5", "6"]], "c": ["7", str(2**254)]}),))
        db.execute("UPDATE meta SET value = '3' WHERE key = 'schema'")
    return path


def test_a_schema_3_journal_is_upgraded_with_its_proofs_sealed(tmp_path):
    journal = Journal.open(_schema_3(tmp_path))
    try:
        (resumed,) = journal.unfinished()
        assert resumed.proof == PROOF and resumed.signature == SIGNATURE
        (batch,) = [t for t in journal.history() if t.kind == "batch"]
        assert decode_batch_inputs(batch.inputs) == [(1, PROOF, (11, 12, 13, 171))]
    finally:
        journal.close()


def _schema_2(tmp_path: Path) -> Path:
    """A journal as a roller serving one rollup wrote it: schema 2, no rollup column, one task
    proven and waiting to be submitted."""
    path = _schema_3(tmp_path)
    with sqlite3.connect(path) as db:
        db.execute("DELETE FROM tasks WHERE kind = 'batch'")
        db.execute("CREATE TABLE old AS SELECT * FROM tasks")
        db.execute("DROP TABLE tasks")
        db.execute("ALTER TABLE old DROP COLUMN rollup")
        db.execute("ALTER TABLE old RENAME TO tasks")
        db.execute("CREATE INDEX tasks_by_state ON tasks (state)")
        db.execute("UPDATE meta SET value = '2' WHERE key = 'schema'")
    return path


def test_a_schema_2_journal_is_upgraded_with_the_rollup_it_served(tmp_path):
    path = _schema_2(tmp_path)
    with pytest.raises(JournalError, match="has schema 2.*`provernet roller run`"):
        Journal.open(path)  # refused, and left as it was
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone() == ("2",)
    journal = Journal.open(path, rollup_of_old_tasks=ROLLUP.lower())
    try:
        (resumed,) = journal.unfinished()
        assert resumed.key == offer().key and resumed.state is TaskState.PROVEN
        assert resumed.proof == PROOF and resumed.signature == SIGNATURE
        journal.mark_submitted(resumed.key)
        journal.offer(offer(8))
    finally:
        journal.close()
    Journal.open(path).close()  # schema 4 now


def test_threads_share_one_journal(journal):
    """Services call the journal from worker threads at once; every transition lands."""
    tasks = [offer(i) for i in range(40)]

    def work(chunk):
        for task in chunk:
            journal.offer(task)
            journal.accept(task.key)
            journal.start_proving(task.key)

    threads = [threading.Thread(target=work, args=(tasks[i::4],)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(t.index for t in journal.unfinished()) == list(range(40))


# ---------------------------------------------------------------------- the report

def test_the_report_says_why_each_task_ended(journal):
    declined, failed, late = offer(1), offer(2), offer(3)
    journal.offer(declined, now=10)
    journal.decline(declined.key, "would finish at 00:16:41.0 UTC, deadline ...")
    journal.offer(failed, now=11)
    journal.accept(failed.key)
    journal.fail(failed.key, "the circuit refuses the inputs")
    journal.settle(failed.key, "missed", 0, 5_000, 3_750)
    to_proven(journal, late)
    journal.mark_submitted(late.key)
    journal.record_receipt(late.key, "late", "after the deadline")
    journal.settle(late.key, "late", 0, 5_000, 4_500)
    in_flight = offer(4)
    to_proven(journal, in_flight)

    report = tasks_report(journal)
    assert [row["index"] for row in report["in_flight"]] == [4]
    rows = {row["index"]: row for row in report["history"]}
    assert rows[1]["why"] == "declined: would finish at 00:16:41.0 UTC, deadline ..."
    assert (rows[2]["why"], rows[2]["outcome"], rows[2]["rep_change"]) == (
        "failed: the circuit refuses the inputs", "missed", -1_250)
    assert (rows[3]["why"], rows[3]["receipt"], rows[3]["reward"]) == (
        "proof late: after the deadline", "late", "0")
    assert rows[4]["why"] is None and rows[4]["task_id"] == in_flight.task_id.hex()
    assert report["totals"]["outcomes"] == {"on_time": 0, "late": 1, "missed": 1, "invalid": 0}

    console = Console(record=True, width=200)
    render_tasks_report(report, console)
    text = console.export_text()
    assert "Tasks in flight (1)" in text and "block 4 r0" in text
    assert "-1250 (5000 -> 3750)" in text and "failed: the circuit refuses the inputs" in text


# ---------------------------------------------------------------------- the data directory lock

def test_a_second_lock_on_the_directory_fails_naming_the_holder(tmp_path):
    datadir = tmp_path / "node"
    with DataDirLock(datadir):
        assert (datadir / LOCK_NAME).read_text() == f"{os.getpid()}\n"
        assert datadir.stat().st_mode & 0o777 == 0o700
        with pytest.raises(DataDirLocked, match=f"another roller .pid {os.getpid()}. is using"):
            DataDirLock(datadir)
        script = ("from pathlib import Path; from roller.datadir import DataDirLock; "
                  f"DataDirLock(Path({str(datadir)!r}))")
        other = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True,
                               text=True, timeout=60)
        assert other.returncode != 0
        assert f"DataDirLocked: another roller (pid {os.getpid()})" in other.stderr
    DataDirLock(datadir).release()  # released: free again


def test_the_lock_dies_with_its_process(tmp_path):
    datadir = tmp_path / "node"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pathlib import Path; "
         "from roller.datadir import DataDirLock; "
         f"DataDirLock(Path({str(datadir)!r})); print('locked', flush=True); time.sleep(60)"],
        cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "locked\n"
        with pytest.raises(DataDirLocked, match=f"pid {holder.pid}"):
            DataDirLock(datadir)
    finally:
        holder.kill()
        holder.wait()
    DataDirLock(datadir).release()
