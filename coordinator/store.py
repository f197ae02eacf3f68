"""The coordinator's data directory and its database: SQLite in the directory by default, or
PostgreSQL (`--db`, see p2p/database.py for the URL forms and what both guarantee).

The decision core is event-sourced (docs/coordinator.md), so what must survive a kill is small:

- `events`: every event the core handled, stored before any of its commands is carried out
  (in groups: `write`); replaying them rebuilds the core.
- `done`: the keys of the commands carried out (a task sent, a batch finalized), which a replay
  produces again and the service then skips.
- `snapshots`: the core's state after event n, so a restart replays only the events after it.
- `proofs`: every proof and aggregate received, sealed by its proof system (`zkp.system`), by
  the `ref` the core passes around, with the roller's signature and the statement it signed: what
  finalization aggregates and what slashing evidence is made of. A ref names the submission and its signer (v2 proof hashes leave the
  inputs out, so a copied proof hashes like its original).
- `audit`: the core's per-task audit records, what `provernet audit` checks.
- `meta`: the L1 cursor (the next L1 block to scan for events) and the deployment it serves.

Each call is committed when it returns (a stored event is on disk when `write` returns);
the service calls the store through `trio.to_thread.run_sync`. The SQL is written once for both
databases (`p2p.database.Dialect` holds their differences); records are JSON text in both.

Two locks: the data directory's (p2p/datadir.py, DATADIR/coordinator.lock) keeps a second
coordinator off the directory (its p2p identity, artifacts and audit log live there, wherever the
database is), and the database's own lock keeps a second coordinator off the database, whichever
directory it runs from.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from coordinator.errors import CoordinatorError
from coordinator.events import Event, event_from_record, event_to_record
from p2p.database import Database, DatabaseError, initialised, parse_url
from p2p.datadir import DataDirLock
from zkp.system import SealedProof

#: 2: market rules v2 (events carry the roster block and the statement; proofs their statement);
#: 3: a block's roster is its roster snapshot's entries in snapshot order (settlement proves each
#: drawn record against that snapshot, so events holding live rosters cannot be replayed);
#: 4: stored proofs are sealed (their proof system and bytes), not Groth16's points spelled out
SCHEMA_VERSION = 4
#: the SQLite file in the data directory, unless `--db` names another database
DATABASE_NAME = "coordinator.sqlite"

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
    """The data directory or the database cannot be used: locked by another coordinator,
    unreachable, or damaged."""


@dataclass(frozen=True)
class StoredProof:
    """A signed proof or aggregate as received, under the `ref` the core's events name it by."""

    ref: str
    kind: int
    task: int
    round: int
    roller: str
    #: a block's proof or a batch's aggregate, as its proof system encodes it
    proof: SealedProof
    #: L1's statement of the block or batch, which `signature` signs with the proof's digest
    statement: bytes
    signature: bytes
    #: a block proof's public inputs (L1's, with the roller as prover); () for an aggregate
    public: tuple[int, ...] = ()
    #: an aggregate's provers, block by block; () for a block proof
    provers: tuple[str, ...] = ()

    def body(self) -> dict:
        """What the `body` column holds: all but the indexed columns, as JSON."""
        return {**self.proof.as_json(), "statement": self.statement.hex(),
                "signature": self.signature.hex(), "public": [str(x) for x in self.public],
                "provers": list(self.provers)}

    @classmethod
    def from_row(cls, ref: str, kind: int, task: int, round_: int, roller: str,
                 body: dict) -> StoredProof:
        return cls(ref, kind, task, round_, roller, SealedProof.from_json(body),
                   bytes.fromhex(body["statement"]), bytes.fromhex(body["signature"]),
                   tuple(int(x) for x in body["public"]), tuple(body["provers"]))


@dataclass(frozen=True)
class Restored:
    """What a restart starts from: the newest snapshot (or None) and the events after it."""

    snapshot: dict | None
    snapshot_event: int
    events: list[tuple[int, Event]]
    done: set[tuple[int, int]]


class CoordinatorStore:
    """The coordinator's data directory, locked, and its database; `CoordinatorStore.open`."""

    def __init__(self, database: Database, lock: DataDirLock):
        self._db = database
        self._lock = lock

    @classmethod
    def open(cls, directory: Path, db: str | None = None) -> CoordinatorStore:
        """Lock `directory` and open the database `db` names (None: DIRECTORY/coordinator.sqlite),
        creating its tables if new; a database of another schema is refused."""
        try:
            where = parse_url(db, directory / DATABASE_NAME)
        except DatabaseError as error:
            raise StoreError(str(error)) from None
        lock = DataDirLock(directory, "coordinator")  # creates the directory
        try:
            database = Database.open(where, "coordinator")
        except DatabaseError as error:
            lock.release()
            raise StoreError(str(error)) from None
        store = cls(database, lock)
        return initialised(store, store._initialise, StoreError)

    @property
    def where(self) -> str:
        """The database, as it may be shown: a path, or a URL without its password."""
        return str(self._db.where)

    def _initialise(self) -> None:
        with self._db.transaction() as db:
            db.create(_SCHEMA)
            row = db.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
            if row is None:
                db.execute("INSERT INTO meta (key, value) VALUES ('schema', ?)",
                           (str(SCHEMA_VERSION),))
            elif row[0] != str(SCHEMA_VERSION):
                raise StoreError(f"{self.where} has schema {row[0]}, this coordinator reads "
                                 f"{SCHEMA_VERSION}")

    def close(self) -> None:
        self._db.close()
        self._lock.release()

    # ------------------------------------------------------------------ meta

    def meta(self, key: str) -> str | None:
        with self._db.connection() as db:
            row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def set_meta(self, key: str, value: str) -> None:
        with self._db.connection() as db:
            db.execute("INSERT INTO meta (key, value) VALUES (?, ?) "
                       "ON CONFLICT (key) DO UPDATE SET value = excluded.value", (key, value))

    # ------------------------------------------------------------------ events and commands

    def write(self, events: Sequence[tuple[int, Event]] = (), done: Iterable[tuple[int, int]] = (),
              audits: Iterable[tuple[int, int, dict]] = (),
              proofs: Iterable[StoredProof] = ()) -> None:
        """Store, in one transaction (one disk flush: the service groups what happened
        meanwhile): `proofs` received (a ref stored before keeps its first body), `events` by
        their numbers in the core's sequence, the keys of commands `done` (a key given twice,
        after a crash between two attempts, is recorded once), and `audits`, (kind, task,
        record), the newest record of a task replacing the one before."""
        with self._db.transaction() as db:
            db.executemany("INSERT INTO proofs (ref, kind, task, round, roller, body) "
                           "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                           [(p.ref, p.kind, p.task, p.round, p.roller, json.dumps(p.body()))
                            for p in proofs])
            db.executemany("INSERT INTO events (number, record) VALUES (?, ?)",
                           [(number, json.dumps(event_to_record(event)))
                            for number, event in events])
            db.executemany("INSERT INTO done (event, position) VALUES (?, ?) "
                           "ON CONFLICT DO NOTHING", done)
            db.executemany("INSERT INTO audit (kind, task, record) VALUES (?, ?, ?) "
                           "ON CONFLICT (kind, task) DO UPDATE SET record = excluded.record",
                           [(kind, task, json.dumps(record)) for kind, task, record in audits])

    def save_snapshot(self, after_event: int, state: dict) -> None:
        """Keep the core's state after `after_event` and drop what it makes unnecessary."""
        with self._db.transaction() as db:
            db.execute("INSERT INTO snapshots (after_event, state) VALUES (?, ?) "
                       "ON CONFLICT (after_event) DO UPDATE SET state = excluded.state",
                       (after_event, json.dumps(state)))
            db.execute("DELETE FROM snapshots WHERE after_event < ?", (after_event,))
            db.execute("DELETE FROM events WHERE number <= ?", (after_event,))
            db.execute("DELETE FROM done WHERE event <= ?", (after_event,))

    def restore(self) -> Restored:
        with self._db.connection() as db:
            row = db.execute(
                "SELECT after_event, state FROM snapshots ORDER BY after_event DESC LIMIT 1"
            ).fetchone()
            # Without a snapshot every event is replayed, event 0 included.
            after, snapshot = (row[0], json.loads(row[1])) if row else (-1, None)
            events = [(number, event_from_record(json.loads(record))) for number, record in
                      db.execute("SELECT number, record FROM events WHERE number > ? "
                                 "ORDER BY number", (after,)).fetchall()]
            done = {(event, position) for event, position in
                    db.execute("SELECT event, position FROM done").fetchall()}
        return Restored(snapshot, after, events, done)

    # ------------------------------------------------------------------ proofs and audit

    def proof(self, ref: str) -> StoredProof:
        with self._db.connection() as db:
            row = db.execute("SELECT ref, kind, task, round, roller, body FROM proofs "
                             "WHERE ref = ?", (ref,)).fetchone()
        if row is None:
            raise StoreError(f"no stored proof {ref}: the database is damaged")
        return StoredProof.from_row(*row[:5], json.loads(row[5]))

    def proofs_of(self, roller: str, kind: int) -> list[tuple[str, int, int]]:
        """(ref, task, round) of every stored submission of `roller` for tasks of `kind`."""
        with self._db.connection() as db:
            return db.execute("SELECT ref, task, round FROM proofs WHERE roller = ? AND "
                              "kind = ? ORDER BY task, round", (roller, kind)).fetchall()

    def audit_records(self) -> list[dict]:
        with self._db.connection() as db:
            return [json.loads(r) for (r,) in
                    db.execute("SELECT record FROM audit ORDER BY kind, task").fetchall()]
