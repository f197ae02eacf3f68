"""The coordinator's data directory: a lock file and one SQLite database (WAL).

The decision core is event-sourced (docs/coordinator.md), so what must survive a kill is small:

- `events`: every event, stored before the core sees it; replaying them rebuilds the core.
- `done`: the keys of the commands carried out (a task sent, a batch finalized), which a replay
  produces again and the service then skips.
- `snapshots`: the core's state after event n, so a restart replays only the events after it.
- `proofs`: every proof and aggregate received, by the `ref` the core passes around, with the
  roller's signature and the statement it signed: what finalization aggregates and what slashing
  evidence is made of. A ref names the submission and its signer (v2 proof hashes leave the
  inputs out, so a copied proof hashes like its original).
- `audit`: the core's per-task audit records, what `provernet audit` checks.
- `meta`: the L1 cursor (the next L1 block to scan for events) and the deployment it serves.

One connection behind a lock, synchronous=FULL: a stored event is on disk when `append_event`
returns. The service calls it through `trio.to_thread.run_sync`.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

from coordinator.errors import CoordinatorError
from coordinator.events import Event, event_from_record, event_to_record

#: 2: market rules v2 (events carry the roster block and the statement; proofs their statement);
#: 3: a block's roster is its roster snapshot's entries in snapshot order (settlement proves each
#: drawn record against that snapshot, so events holding live rosters cannot be replayed)
SCHEMA_VERSION = 3
DATABASE_NAME = "coordinator.sqlite"
LOCK_NAME = "coordinator.lock"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (number INTEGER PRIMARY KEY, record TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS done (event INTEGER NOT NULL, position INTEGER NOT NULL,
                                 PRIMARY KEY (event, position));
CREATE TABLE IF NOT EXISTS snapshots (after_event INTEGER PRIMARY KEY, state TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS proofs (ref TEXT PRIMARY KEY, kind INTEGER NOT NULL,
                                   task INTEGER NOT NULL, round INTEGER NOT NULL,
                                   roller TEXT NOT NULL, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS audit (kind INTEGER NOT NULL, task INTEGER NOT NULL,
                                  record TEXT NOT NULL, PRIMARY KEY (kind, task));
"""


class StoreError(CoordinatorError):
    """The data directory cannot be used: locked by another coordinator, or damaged."""


@dataclass(frozen=True)
class Restored:
    """What a restart starts from: the newest snapshot (or None) and the events after it."""

    snapshot: dict | None
    snapshot_event: int
    events: list[tuple[int, Event]]
    done: set[tuple[int, int]]


class CoordinatorStore:
    def __init__(self, directory: Path):
        directory.mkdir(parents=True, exist_ok=True)
        self._lock_file = open(directory / LOCK_NAME, "a+")
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock_file.close()
            raise StoreError(f"{directory} is in use by another coordinator (it holds "
                             f"{directory / LOCK_NAME}); give this one its own --datadir") from None
        self._lock_file.truncate(0)
        self._lock_file.write(str(os.getpid()))
        self._lock_file.flush()
        self._mutex = threading.Lock()
        try:
            self._db = sqlite3.connect(directory / DATABASE_NAME, check_same_thread=False,
                                       isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
            self._check_schema()
        except sqlite3.DatabaseError as error:
            self._lock_file.close()
            raise StoreError(f"{directory / DATABASE_NAME} cannot be opened: {error}") from None

    def _check_schema(self) -> None:
        version = self.meta("schema")
        if version is None:
            self.set_meta("schema", str(SCHEMA_VERSION))
        elif version != str(SCHEMA_VERSION):
            raise StoreError(f"the database has schema {version}, this coordinator reads "
                             f"{SCHEMA_VERSION}")

    def close(self) -> None:
        with self._mutex:
            self._db.close()
            self._lock_file.close()

    # ------------------------------------------------------------------ meta

    def meta(self, key: str) -> str | None:
        with self._mutex:
            row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def set_meta(self, key: str, value: str) -> None:
        with self._mutex:
            self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    # ------------------------------------------------------------------ events and commands

    def append_event(self, number: int, event: Event) -> None:
        """Store event `number` (the core's sequence number it will get) before it is handled."""
        with self._mutex:
            self._db.execute("INSERT INTO events (number, record) VALUES (?, ?)",
                             (number, json.dumps(event_to_record(event))))

    def drop_event(self, number: int) -> None:
        """Forget event `number`: the core refused it, so it changed nothing."""
        with self._mutex:
            self._db.execute("DELETE FROM events WHERE number = ?", (number,))

    def mark_done(self, key: tuple[int, int]) -> None:
        with self._mutex:
            self._db.execute("INSERT OR IGNORE INTO done (event, position) VALUES (?, ?)", key)

    def save_snapshot(self, after_event: int, state: dict) -> None:
        """Keep the core's state after `after_event` and drop what it makes unnecessary."""
        with self._mutex, self._db:
            self._db.execute("BEGIN")
            self._db.execute("INSERT OR REPLACE INTO snapshots (after_event, state) VALUES (?, ?)",
                             (after_event, json.dumps(state)))
            self._db.execute("DELETE FROM snapshots WHERE after_event < ?", (after_event,))
            self._db.execute("DELETE FROM events WHERE number <= ?", (after_event,))
            self._db.execute("DELETE FROM done WHERE event <= ?", (after_event,))

    def restore(self) -> Restored:
        with self._mutex:
            row = self._db.execute(
                "SELECT after_event, state FROM snapshots ORDER BY after_event DESC LIMIT 1"
            ).fetchone()
            # Without a snapshot every event is replayed, event 0 included.
            after, snapshot = (row[0], json.loads(row[1])) if row else (-1, None)
            events = [(number, event_from_record(json.loads(record))) for number, record in
                      self._db.execute("SELECT number, record FROM events WHERE number > ? "
                                       "ORDER BY number", (after,))]
            done = {(event, position) for event, position in
                    self._db.execute("SELECT event, position FROM done")}
        return Restored(snapshot, after, events, done)

    # ------------------------------------------------------------------ proofs and audit

    def add_proof(self, ref: str, kind: int, task: int, round_: int, roller: str,
                  body: dict) -> None:
        with self._mutex:
            self._db.execute(
                "INSERT OR IGNORE INTO proofs (ref, kind, task, round, roller, body) "
                "VALUES (?, ?, ?, ?, ?, ?)", (ref, kind, task, round_, roller, json.dumps(body)))

    def proof(self, ref: str) -> dict:
        with self._mutex:
            row = self._db.execute("SELECT body FROM proofs WHERE ref = ?", (ref,)).fetchone()
        if row is None:
            raise StoreError(f"no stored proof {ref}: the database is damaged")
        return json.loads(row[0])

    def proofs_of(self, roller: str, kind: int) -> list[tuple[str, int, int]]:
        """(ref, task, round) of every stored submission of `roller` for tasks of `kind`."""
        with self._mutex:
            return self._db.execute("SELECT ref, task, round FROM proofs WHERE roller = ? AND "
                                    "kind = ? ORDER BY task, round", (roller, kind)).fetchall()

    def add_audit(self, kind: int, task: int, record: dict) -> None:
        with self._mutex:
            self._db.execute("INSERT OR REPLACE INTO audit (kind, task, record) VALUES (?, ?, ?)",
                             (kind, task, json.dumps(record)))

    def audit_records(self) -> list[dict]:
        with self._mutex:
            return [json.loads(r) for (r,) in
                    self._db.execute("SELECT record FROM audit ORDER BY kind, task")]
