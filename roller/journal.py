"""The task journal: every task a coordinator offered this roller, and what became of it.

One SQLite database (WAL, synchronous=FULL) in the data directory. A task is one row per
(coordinator, rollup, kind, index, round, statement), moving through

    offered -> accepted | declined
    declined | failed -> offered              (`redraw`: the same task drawn again)
    accepted -> proving | failed
    proving -> proving | proven | failed      (proving again: a restart resumes it)
    proven -> submitted | failed
    submitted -> receipted                    (the coordinator's receipt: accepted, rejected, late)

The statement (L1's `Rollup.statement` of the block or batch) is part of the key: a block
reverted and committed again with other contents keeps its randomness, hence its seeds, but is
another statement, and its new task is a new row, not "already in the journal". So is the rollup:
a statement hashes the block's number and roots, not the rollup, so block n of two rollups with
the same genesis and the same transfers (empty blocks, say) has one statement, yet they are two
tasks; the registry binds a coordinator to one rollup, but its owner may bind the same address to
another later.

A block committed again with the same contents (the sequencer recommits what L1 dropped) has the
same statement, so its new draw has the old one's key and task id, with new times. If the old draw
ended without a proof (declined, or failed: cancelled when the block was reverted), the new one
reopens the row as offered (`redraw`; `is_new_draw` tells it from a resend of the same draw, which
has the same times and is answered from the journal as before). An open task sent again after a
decline or failure is reopened the same way: it has no next round to fall back on.

declined, receipted and failed are final, but for `redraw`. Each transition is one transaction that checks the
state it leaves, so a kill at any point leaves the task in the state before or after, never
between, and an illegal transition (proving a declined task, submitting twice) raises
`JournalError` naming the task and both states instead of corrupting the record. What a restart
must resume is `unfinished()`: accepted, not yet submitted.

Settlement (`settle`) is not a transition: the chain reports each assignment's outcome, reward and
reputation change after its batch settles, for a task in any state past `offered` except
`declined` (declining is no fault and has no outcome). It is recorded once; the same values again
are a no-op, because a restarted node reads the settlement events again.

Proofs and aggregates are kept sealed (`zkp.system.SealedProof`: their proof system's name and
bytes), and so are the proofs a batch task combines (`encode_batch_inputs`): the journal does not
look inside them.

The journal also keeps the measured proving speeds (`capacity.ProvingSpeed`), so a restart does
not measure again. It is synchronous and thread-safe (one connection behind a lock): the trio
services call it through `trio.to_thread.run_sync`.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from eth_utils import is_hex_address, to_checksum_address

from p2p.database import unwritable
from p2p.messages import BATCH_TASK, BLOCK_TASK
from roller.errors import InvalidTaskInputs, JournalError, UnknownTask
from zkp.proof import AggregateProof, Proof
from zkp.system import Groth16, SealedProof, system

JOURNAL_NAME = "journal.sqlite"
#: 4: proofs, aggregates and a batch's proofs sealed (their proof system and bytes); 3 spelled
#: out Groth16's points, and is upgraded in place; 3: tasks carry their rollup (a roller serves
#: several); 2 had no rollup column, and is upgraded in place (`Journal.open`'s
#: `rollup_of_old_tasks`); 1 had no statement in the key
SCHEMA_VERSION = 4
KINDS = (BLOCK_TASK, BATCH_TASK)
RECEIPTS = ("accepted", "rejected", "late")
#: market-spec.md, "Outcomes"
OUTCOMES = ("on_time", "late", "missed", "invalid")


class TaskState(StrEnum):
    OFFERED = "offered"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    PROVING = "proving"
    PROVEN = "proven"
    SUBMITTED = "submitted"
    RECEIPTED = "receipted"
    FAILED = "failed"


TRANSITIONS: dict[TaskState, frozenset[TaskState]] = {
    TaskState.OFFERED: frozenset({TaskState.ACCEPTED, TaskState.DECLINED}),
    TaskState.ACCEPTED: frozenset({TaskState.PROVING, TaskState.FAILED}),
    TaskState.PROVING: frozenset({TaskState.PROVING, TaskState.PROVEN, TaskState.FAILED}),
    TaskState.PROVEN: frozenset({TaskState.SUBMITTED, TaskState.FAILED}),
    TaskState.SUBMITTED: frozenset({TaskState.RECEIPTED}),
    TaskState.DECLINED: frozenset(),
    TaskState.RECEIPTED: frozenset(),
    TaskState.FAILED: frozenset(),
}
#: final states with no proof made: a new draw of the same task reopens the row (`redraw`)
REDRAWABLE = (TaskState.DECLINED, TaskState.FAILED)
#: accepted and not yet submitted: what a restart resumes
UNFINISHED = (TaskState.ACCEPTED, TaskState.PROVING, TaskState.PROVEN)
#: accepted and not yet answered by the coordinator
IN_FLIGHT = (*UNFINISHED, TaskState.SUBMITTED)
_SETTLEABLE = frozenset(TaskState) - {TaskState.OFFERED, TaskState.DECLINED}


@dataclass(frozen=True)
class TaskKey:
    coordinator: str
    #: the Rollup the task is about: the one its coordinator announced (and is bound to on L1)
    rollup: str
    kind: str
    index: int
    round: int
    statement: bytes

    def __str__(self) -> str:
        return (f"{self.kind} {self.index} round {self.round} (statement "
                f"{self.statement.hex()[:12]}) of rollup {self.rollup} from coordinator "
                f"{self.coordinator}")


@dataclass(frozen=True)
class TaskOffer:
    """A task as its coordinator sent it (p2p `task` message, plus who sent it)."""

    task_id: bytes
    coordinator: str
    #: the Rollup its statement, inputs, signature and settlement refer to
    rollup: str
    kind: str
    index: int
    round: int
    seed: bytes
    #: L1's statement of the block or batch, which the submission signs
    statement: bytes
    #: the slots this roller holds in the round (the open round: 1)
    slots: int
    #: open to every staked roller (market-spec, "Rounds, declines and open proving")
    open: bool
    #: unix seconds
    assigned_at: int
    deadline: int
    close_at: int
    #: SHA-256 of the circuit's .zkey (zkp.builds.CircuitBuild.zkey_hash)
    circuit: bytes
    #: a block's circuit input JSON; a batch's proofs as `encode_batch_inputs` writes them
    inputs: bytes
    #: proofs the task makes (1, a block) or combines (K, a batch): what its cost scales with
    units: int = 1

    @property
    def key(self) -> TaskKey:
        return TaskKey(self.coordinator, self.rollup, self.kind, self.index, self.round,
                       self.statement)


@dataclass(frozen=True)
class JournalTask(TaskOffer):
    state: TaskState = TaskState.OFFERED
    #: why it was declined or failed, or the coordinator's reason with its receipt
    reason: str | None = None
    #: the coordinator's receipt: accepted, rejected or late
    receipt: str | None = None
    offered_at: float = 0.0
    decided_at: float | None = None
    proving_at: float | None = None
    #: how many times proving started: more than 1 after a restart resumed it
    attempts: int = 0
    proven_at: float | None = None
    submitted_at: float | None = None
    #: when it reached receipted or failed
    finished_at: float | None = None
    #: a block's proof or a batch's aggregate, sealed, once made and verified
    proof: SealedProof | None = None
    #: a block's public inputs, or a batch's, one list per proof
    public: tuple | None = None
    signature: bytes | None = None
    #: from the chain's settlement: on_time, late, missed, invalid
    outcome: str | None = None
    #: base units of the reward token credited for this assignment
    reward: int | None = None
    rep_before: int | None = None
    rep_after: int | None = None
    settled_at: float | None = None


@dataclass(frozen=True)
class SpeedRecord:
    backend: str
    circuit: bytes
    kind: str
    #: seconds per unit of work (one block proof, or one proof combined into a batch)
    seconds: float
    samples: int
    updated_at: float


_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE tasks (
    id INTEGER PRIMARY KEY,
    task_id BLOB NOT NULL,
    coordinator TEXT NOT NULL,
    rollup TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('block', 'batch')),
    idx INTEGER NOT NULL,
    round INTEGER NOT NULL,
    seed BLOB NOT NULL,
    statement BLOB NOT NULL,
    slots INTEGER NOT NULL,
    open INTEGER NOT NULL CHECK (open IN (0, 1)),
    assigned_at INTEGER NOT NULL,
    deadline INTEGER NOT NULL,
    close_at INTEGER NOT NULL,
    circuit BLOB NOT NULL,
    inputs BLOB NOT NULL,
    units INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('offered', 'accepted', 'declined', 'proving', 'proven',
                                         'submitted', 'receipted', 'failed')),
    reason TEXT,
    receipt TEXT CHECK (receipt IN ('accepted', 'rejected', 'late')),
    offered_at REAL NOT NULL,
    decided_at REAL,
    proving_at REAL,
    attempts INTEGER NOT NULL DEFAULT 0,
    proven_at REAL,
    submitted_at REAL,
    finished_at REAL,
    proof TEXT,
    public TEXT,
    signature BLOB,
    outcome TEXT CHECK (outcome IN ('on_time', 'late', 'missed', 'invalid')),
    reward TEXT,
    rep_before INTEGER,
    rep_after INTEGER,
    settled_at REAL,
    UNIQUE (coordinator, rollup, kind, idx, round, statement),
    UNIQUE (coordinator, task_id)
);
CREATE INDEX tasks_by_state ON tasks (state);
CREATE TABLE speeds (
    backend TEXT NOT NULL,
    circuit BLOB NOT NULL,
    kind TEXT NOT NULL,
    seconds REAL NOT NULL,
    samples INTEGER NOT NULL,
    updated_at REAL NOT NULL,
    PRIMARY KEY (backend, circuit, kind)
);
"""

_OFFER_COLUMNS = ("task_id", "coordinator", "rollup", "kind", "idx", "round", "seed", "statement", "slots",
                  "open", "assigned_at",
                  "deadline", "close_at", "circuit", "inputs", "units")
_COLUMNS = (*_OFFER_COLUMNS, "state", "reason", "receipt", "offered_at", "decided_at",
            "proving_at", "attempts", "proven_at", "submitted_at", "finished_at", "proof",
            "public", "signature", "outcome", "reward", "rep_before", "rep_after", "settled_at")


class Journal:
    """The roller's task journal; open it with `Journal.open`."""

    def __init__(self, connection: sqlite3.Connection, path: Path):
        self._db = connection
        self._mutex = threading.Lock()
        self.path = path

    @classmethod
    def open(cls, path: Path, *, rollup_of_old_tasks: str | None = None) -> Journal:
        """Open (or create) the journal at `path` (DATADIR/journal.sqlite). The caller holds the
        data directory's lock (`datadir.DataDirLock`): two writers would resume one task twice.

        A schema 2 journal (written when a roller served one rollup) is upgraded in place when
        `rollup_of_old_tasks` names the rollup its tasks were of: the deployment's, which that
        roller served. Without it such a journal is refused, unchanged."""
        try:
            connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            connection.execute("PRAGMA journal_mode = WAL")
            connection.execute("PRAGMA synchronous = FULL")
            journal = cls(connection, path)
            journal._initialise(rollup_of_old_tasks)
        except sqlite3.Error as exc:
            raise JournalError(f"cannot open the task journal {path}: {exc}") from None
        return journal

    def close(self) -> None:
        with self._mutex:
            self._db.close()

    def _initialise(self, rollup_of_old_tasks: str | None) -> None:
        with self._transaction() as db:
            if db.execute("SELECT name FROM sqlite_master WHERE name = 'meta'").fetchone() is None:
                # Statement by statement: executescript would COMMIT the open transaction first.
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
                return
            row = db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
            if row is not None and row[0] == "2" and rollup_of_old_tasks is not None:
                _upgrade_from_2(db, to_checksum_address(rollup_of_old_tasks))
                _upgrade_from_3(db)
                return
            if row is not None and row[0] == "3":
                _upgrade_from_3(db)
                return
        if row is None or row[0] != str(SCHEMA_VERSION):
            hint = ("start the roller node on it once (`provernet roller run`), which upgrades "
                    "it" if row is not None and row[0] == "2" else
                    "run the roller release that wrote it, or move the file away to start a new "
                    "journal")
            raise JournalError(
                f"the task journal {self.path} has schema {row[0] if row else 'unknown'}, this "
                f"roller reads schema {SCHEMA_VERSION}; {hint}")

    # ------------------------------------------------------------------ transitions

    def offer(self, task: TaskOffer, *, now: float | None = None) -> JournalTask:
        """Record a task as offered; a task already journaled (a coordinator resending it after
        a reconnect) is refused: look it up with `get` and answer from its state."""
        _check_offer(task)
        with self._transaction() as db:
            existing = _select(db, f"WHERE {_KEY_WHERE}", _key_args(task.key))
            if existing:
                raise JournalError(f"{task.key} is already in the journal, {existing[0].state}")
            if _select(db, "WHERE coordinator = ? AND task_id = ?",
                       (task.coordinator, task.task_id)):
                raise JournalError(f"{task.key}: task id {task.task_id.hex()} is already used "
                                   "by another task of that coordinator")
            db.execute(
                f"INSERT INTO tasks ({', '.join(_OFFER_COLUMNS)}, state, offered_at) "
                f"VALUES ({', '.join('?' * len(_OFFER_COLUMNS))}, 'offered', ?)",
                (task.task_id, task.coordinator, task.rollup, task.kind, task.index, task.round,
                 task.seed,
                 task.statement, task.slots, int(task.open), task.assigned_at, task.deadline, task.close_at, task.circuit, task.inputs,
                 task.units, _now(now)))
            return _select(db, "WHERE coordinator = ? AND task_id = ?",
                           (task.coordinator, task.task_id))[0]

    def redraw(self, task: TaskOffer, *, now: float | None = None) -> JournalTask:
        """Reopen a declined or failed task as offered, with the times, slots and inputs of its
        new draw (`is_new_draw`); what the old draw left (reason, proof, receipt) is cleared."""
        _check_offer(task)
        with self._transaction() as db:
            old = _select_key(db, task.key)
            if old.task_id != task.task_id:
                raise JournalError(f"{task.key}: task id {task.task_id.hex()} is not the "
                                   f"journaled {old.task_id.hex()}")
            if not is_new_draw(old, task):
                raise JournalError(f"{task.key} is {old.state}, assigned at {old.assigned_at}: "
                                   "only a declined or failed task drawn again at another time "
                                   "is offered anew")
            db.execute(
                "UPDATE tasks SET seed = ?, slots = ?, open = ?, assigned_at = ?, deadline = ?, "
                "close_at = ?, circuit = ?, inputs = ?, units = ?, state = 'offered', "
                "reason = NULL, receipt = NULL, offered_at = ?, decided_at = NULL, "
                "proving_at = NULL, attempts = 0, proven_at = NULL, submitted_at = NULL, "
                "finished_at = NULL, proof = NULL, public = NULL, signature = NULL "
                f"WHERE {_KEY_WHERE}",
                (task.seed, task.slots, int(task.open), task.assigned_at, task.deadline,
                 task.close_at, task.circuit, task.inputs, task.units, _now(now),
                 *_key_args(task.key)))
            return _select_key(db, task.key)

    def accept(self, key: TaskKey, *, now: float | None = None) -> JournalTask:
        return self._move(key, TaskState.ACCEPTED, now, decided_at=_now(now))

    def decline(self, key: TaskKey, reason: str, *, now: float | None = None) -> JournalTask:
        return self._move(key, TaskState.DECLINED, now, decided_at=_now(now), reason=reason)

    def start_proving(self, key: TaskKey, *, now: float | None = None) -> JournalTask:
        """Proving begins, or begins again after a restart (`attempts` counts them)."""
        return self._move(key, TaskState.PROVING, now, proving_at=_now(now),
                          attempts=_Increment())

    def record_proof(self, key: TaskKey, proof: SealedProof, public: Sequence,
                     signature: bytes, *, now: float | None = None) -> JournalTask:
        """The verified proof (or aggregate) with its public inputs, and our signature of it;
        written before it is sent, so a restart resubmits the same proof instead of signing a
        second one for the same task."""
        return self._move(key, TaskState.PROVEN, now, proven_at=_now(now),
                          proof=json.dumps(proof.as_json()),
                          public=json.dumps(_ints_json(public)), signature=signature)

    def mark_submitted(self, key: TaskKey, *, now: float | None = None) -> JournalTask:
        return self._move(key, TaskState.SUBMITTED, now, submitted_at=_now(now))

    def record_receipt(self, key: TaskKey, status: str, reason: str = "", *,
                       now: float | None = None) -> JournalTask:
        if status not in RECEIPTS:
            raise JournalError(f"{key}: receipt status {status!r} is none of "
                               f"{', '.join(RECEIPTS)}")
        return self._move(key, TaskState.RECEIPTED, now, receipt=status, reason=reason or None,
                          finished_at=_now(now))

    def fail(self, key: TaskKey, reason: str, *, now: float | None = None) -> JournalTask:
        return self._move(key, TaskState.FAILED, now, reason=reason, finished_at=_now(now))

    def settle(self, key: TaskKey, outcome: str, reward: int, rep_before: int, rep_after: int,
               *, now: float | None = None) -> JournalTask:
        """Record the chain's settlement of this assignment; once (the same values again are a
        no-op, other values a `JournalError`)."""
        if outcome not in OUTCOMES:
            raise JournalError(f"{key}: outcome {outcome!r} is none of {', '.join(OUTCOMES)}")
        if reward < 0 or rep_before < 0 or rep_after < 0:
            raise JournalError(f"{key}: negative reward or reputation in a settlement")
        with self._transaction() as db:
            task = _select_key(db, key)
            if task.state not in _SETTLEABLE:
                raise JournalError(f"{key} is {task.state}: only a task accepted by this roller "
                                   "has an outcome")
            settled = (outcome, reward, rep_before, rep_after)
            if task.settled_at is not None:
                recorded = (task.outcome, task.reward, task.rep_before, task.rep_after)
                if recorded != settled:
                    raise JournalError(f"{key} was already settled as {recorded}, not {settled}")
                return task
            db.execute("UPDATE tasks SET outcome = ?, reward = ?, rep_before = ?, rep_after = ?, "
                       f"settled_at = ? WHERE {_KEY_WHERE}",
                       (outcome, str(reward), rep_before, rep_after, _now(now), *_key_args(key)))
            return _select_key(db, key)

    def _move(self, key: TaskKey, to: TaskState, now: float | None, **columns: Any) -> JournalTask:
        with self._transaction() as db:
            task = _select_key(db, key)
            if to not in TRANSITIONS[task.state]:
                allowed = ", ".join(sorted(TRANSITIONS[task.state])) or "nothing (it is final)"
                raise JournalError(f"{key}: cannot go from {task.state} to {to}; from "
                                   f"{task.state} it may go to {allowed}")
            assignments = ["state = ?"]
            values: list[Any] = [str(to)]
            for column, value in columns.items():
                if isinstance(value, _Increment):
                    assignments.append(f"{column} = {column} + 1")
                else:
                    assignments.append(f"{column} = ?")
                    values.append(value)
            db.execute(f"UPDATE tasks SET {', '.join(assignments)} WHERE {_KEY_WHERE}",
                       (*values, *_key_args(key)))
            return _select_key(db, key)

    # ------------------------------------------------------------------ reads

    def get(self, key: TaskKey) -> JournalTask:
        with self._mutex:
            return _select_key(self._db, key)

    def find(self, coordinator: str, task_id: bytes) -> JournalTask | None:
        """The task a coordinator's message names by its id (a receipt), if journaled."""
        with self._mutex:
            found = _select(self._db, "WHERE coordinator = ? AND task_id = ?",
                            (coordinator, task_id))
        return found[0] if found else None

    def rollups(self) -> set[str]:
        """The rollups the journaled tasks are of."""
        with self._mutex:
            return {rollup for (rollup,) in self._db.execute("SELECT DISTINCT rollup FROM tasks")}

    def unfinished(self) -> list[JournalTask]:
        """Accepted and not yet submitted, oldest deadline first: what a restart resumes."""
        return self._in_states(UNFINISHED)

    def in_flight(self) -> list[JournalTask]:
        """Accepted and not yet answered by a receipt (unfinished, or submitted)."""
        return self._in_states(IN_FLIGHT)

    def history(self, limit: int = 50) -> list[JournalTask]:
        """The `limit` most recently offered tasks, newest first."""
        with self._mutex:
            return _select(self._db, "ORDER BY offered_at DESC, id DESC LIMIT ?", (limit,))

    def summary(self) -> dict[str, Any]:
        """Counts over the whole journal: tasks by state, settled tasks by outcome, and the
        rewards settled (base units)."""
        with self._mutex:
            states = dict(self._db.execute("SELECT state, COUNT(*) FROM tasks GROUP BY state"))
            outcomes = dict(self._db.execute("SELECT outcome, COUNT(*) FROM tasks "
                                             "WHERE outcome IS NOT NULL GROUP BY outcome"))
            rewards = [int(r) for (r,) in self._db.execute(
                "SELECT reward FROM tasks WHERE reward IS NOT NULL")]
        return {"states": {str(s): states.get(str(s), 0) for s in TaskState},
                "outcomes": {o: outcomes.get(o, 0) for o in OUTCOMES}, "reward": sum(rewards)}

    def _in_states(self, states: Sequence[TaskState]) -> list[JournalTask]:
        with self._mutex:
            return _select(self._db, f"WHERE state IN ({', '.join('?' * len(states))}) "
                           "ORDER BY deadline, id", tuple(str(s) for s in states))

    # ------------------------------------------------------------------ proving speeds

    def proving_speed(self, backend: str, circuit: bytes, kind: str) -> SpeedRecord | None:
        with self._mutex:
            row = self._db.execute(
                "SELECT backend, circuit, kind, seconds, samples, updated_at FROM speeds "
                "WHERE backend = ? AND circuit = ? AND kind = ?",
                (backend, circuit, kind)).fetchone()
        return None if row is None else SpeedRecord(*row)

    def proving_speeds(self, backend: str) -> list[SpeedRecord]:
        with self._mutex:
            rows = self._db.execute(
                "SELECT backend, circuit, kind, seconds, samples, updated_at FROM speeds "
                "WHERE backend = ? ORDER BY circuit, kind", (backend,)).fetchall()
        return [SpeedRecord(*row) for row in rows]

    def save_proving_speed(self, record: SpeedRecord) -> None:
        with self._transaction() as db:
            db.execute("INSERT OR REPLACE INTO speeds VALUES (?, ?, ?, ?, ?, ?)",
                       (record.backend, record.circuit, record.kind, record.seconds,
                        record.samples, record.updated_at))

    # ------------------------------------------------------------------ plumbing

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE .. COMMIT under the mutex; ROLLBACK on any exception. A write the
        disk refused (full, an I/O error) raises p2p's `DatabaseUnwritable`, one line."""
        with self._mutex:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                    self._db.execute("COMMIT")
                except BaseException:
                    if self._db.in_transaction:  # SQLite rolls back by itself on a full disk
                        self._db.execute("ROLLBACK")
                    raise
            except sqlite3.Error as error:
                if (refused := unwritable(self.path, error)) is not None:
                    raise refused from None
                raise


def _upgrade_from_2(db: sqlite3.Connection, rollup: str) -> None:
    """Schema 2 -> 3 in the caller's transaction: the tasks table again, with each old task
    given `rollup` (SQLite cannot add a column to a UNIQUE constraint in place)."""
    db.execute("DROP INDEX tasks_by_state")
    db.execute("ALTER TABLE tasks RENAME TO tasks_v2")
    for statement in _SCHEMA.split(";"):
        if "tasks" in statement:
            db.execute(statement)
    old = [c for c in ("id", *_COLUMNS) if c != "rollup"]
    db.execute(f"INSERT INTO tasks ({', '.join(old)}, rollup) "
               f"SELECT {', '.join(old)}, ? FROM tasks_v2", (rollup,))
    db.execute("DROP TABLE tasks_v2")


def _upgrade_from_3(db: sqlite3.Connection) -> None:
    """Schema 3 -> 4 in the caller's transaction: every proof, aggregate and batch task's proofs
    that schema 3 spelled out as Groth16 points (decimal strings, infinity null), sealed."""
    groth16 = system(Groth16.name)
    rows = db.execute("SELECT id, kind, inputs, proof FROM tasks").fetchall()
    for row_id, kind, inputs, proof in rows:
        if kind == BATCH_TASK:
            items = [(item["index"], groth16.seal(_points(item, Proof)),
                      _ints_from_json(item["public"])) for item in json.loads(inputs)]
            db.execute("UPDATE tasks SET inputs = ? WHERE id = ?",
                       (encode_batch_inputs(items), row_id))
        if proof is not None:
            points = _points(json.loads(proof), AggregateProof if kind == BATCH_TASK else Proof)
            sealed = groth16.seal_aggregate(points) if kind == BATCH_TASK else groth16.seal(points)
            db.execute("UPDATE tasks SET proof = ? WHERE id = ?",
                       (json.dumps(sealed.as_json()), row_id))
    db.execute("UPDATE meta SET value = ? WHERE key = 'schema'", (str(SCHEMA_VERSION),))


def _points(data: dict, cls: type) -> Any:
    """A schema 3 proof or aggregate: its a, b and c as decimal strings, infinity null."""
    return cls(*(_ints_from_json(data[name]) for name in "abc"))


class _Increment:
    """A column value meaning "its current value plus one"."""


def is_new_draw(journaled: JournalTask, offer: TaskOffer) -> bool:
    """`offer` is its task drawn again, not the journaled draw sent again: the journaled one
    ended without a proof (declined or failed) and the offer has other times. A resend after a
    reconnect carries the times of the draw it repeats. An open task sent again is decided
    afresh too: it has no deadline and no next round, so a roller that declined it for a passing
    reason (L1 unreachable, at capacity) must be able to take it, or it may never be proven."""
    return journaled.state in REDRAWABLE and (offer.open or (
        journaled.assigned_at, journaled.deadline, journaled.close_at) != (
        offer.assigned_at, offer.deadline, offer.close_at))


def _now(now: float | None) -> float:
    return time.time() if now is None else now


def _check_offer(task: TaskOffer) -> None:
    problems = []
    if task.kind not in KINDS:
        problems.append(f"kind {task.kind!r} is none of {', '.join(KINDS)}")
    for name in ("coordinator", "rollup"):
        address = getattr(task, name)
        if not is_hex_address(address) or address != to_checksum_address(address):
            problems.append(f"{name} {address!r} is not a checksummed address")
    for name in ("task_id", "seed", "statement", "circuit"):
        if len(getattr(task, name)) != 32:
            problems.append(f"{name} is {len(getattr(task, name))} bytes, not 32")
    if not task.assigned_at <= task.deadline <= task.close_at:
        problems.append(f"times out of order: assigned {task.assigned_at}, deadline "
                        f"{task.deadline}, closes {task.close_at}")
    if task.slots < 1 or (task.open and task.slots != 1):
        problems.append(f"{task.slots} slots; a round's task holds at least 1, an open one 1")
    if task.units < 1 or (task.kind == BLOCK_TASK and task.units != 1):
        problems.append(f"{task.units} units; a block is 1, a batch its number of proofs")
    if problems:
        raise JournalError(f"{task.key}: not a valid task: {'; '.join(problems)}")


_KEY_WHERE = ("coordinator = ? AND rollup = ? AND kind = ? AND idx = ? AND round = ? "
              "AND statement = ?")


def _key_args(key: TaskKey) -> tuple:
    return (key.coordinator, key.rollup, key.kind, key.index, key.round, key.statement)


def _select_key(db: sqlite3.Connection, key: TaskKey) -> JournalTask:
    found = _select(db, f"WHERE {_KEY_WHERE}", _key_args(key))
    if not found:
        raise UnknownTask(f"no task {key} in the journal")
    return found[0]


def _select(db: sqlite3.Connection, where: str, args: tuple) -> list[JournalTask]:
    rows = db.execute(f"SELECT {', '.join(_COLUMNS)} FROM tasks {where}", args).fetchall()
    return [_task(dict(zip(_COLUMNS, row, strict=True))) for row in rows]


def _task(row: dict[str, Any]) -> JournalTask:
    proof, public = row.pop("proof"), row.pop("public")
    reward = row.pop("reward")
    return JournalTask(
        index=row.pop("idx"), state=TaskState(row.pop("state")), open=bool(row.pop("open")),
        proof=None if proof is None else SealedProof.from_json(json.loads(proof)),
        public=None if public is None else _ints_from_json(json.loads(public)),
        reward=None if reward is None else int(reward), **row)


# ---------------------------------------------------------------------- proofs as JSON

def encode_batch_inputs(items: Sequence[tuple[int, SealedProof, Sequence[int]]]) -> bytes:
    """A batch's (block index, sealed proof, public inputs) as the journal keeps them (a batch
    task's `inputs`): JSON, the proof's bytes in hex, integers as decimal strings (they pass
    2^53). The roller writes it from the p2p `task` message's items."""
    return json.dumps([{"index": index, **proof.as_json(), "public": _ints_json(public)}
                       for index, proof, public in items]).encode()


def decode_batch_inputs(data: bytes) -> list[tuple[int, SealedProof, tuple[int, ...]]]:
    """The items of `encode_batch_inputs`, checked to be consecutive blocks in order."""
    try:
        items = [(item["index"], SealedProof.from_json(item), _ints_from_json(item["public"]))
                 for item in json.loads(data)]
    except (ValueError, TypeError, KeyError, UnicodeDecodeError) as exc:
        raise InvalidTaskInputs(f"the batch's proofs are malformed: {exc!r}") from None
    if not items:
        raise InvalidTaskInputs("the batch holds no proofs")
    indices = [index for index, _, _ in items]
    if indices != list(range(indices[0], indices[0] + len(items))):
        raise InvalidTaskInputs(f"the batch's blocks {indices} are not consecutive, in order")
    return items


def _ints_json(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, int):
        return str(value)
    return [_ints_json(item) for item in value]


def _ints_from_json(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, str):
        return int(value)
    return tuple(_ints_from_json(item) for item in value)
