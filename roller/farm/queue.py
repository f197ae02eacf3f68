"""The farm's queue: its tables on PostgreSQL and every statement on them.

One `FarmQueue` is one connection (autocommit; thread-safe behind a lock). The roller's provers
each hold one, to submit a job and wait for it; its admission holds one to count the workers;
each worker holds one for its life.

**Jobs.** The roller inserts a block's circuit inputs (`submit`) with a priority (its effective
deadline: the earliest is proven first) and an expiry (the task's close: nobody starts it after),
and notifies `JOBS_CHANNEL`. A worker claims the first job it may take with `SELECT ... FOR
UPDATE SKIP LOCKED` in a transaction that stays open while it proves (`claim`), and takes a
transaction advisory lock (`CLAIM_LOCK`, the job's id) that shows the claim to others in
`pg_locks`. It writes the proof (or the error) into the row, notifies `DONE_CHANNEL`, commits.

**Liveness is the server's.** A worker holds a session advisory lock (`WORKER_LOCK`, its id) for
as long as it is connected: a live worker is one whose lock is held (`workers`). When a worker's
process dies, its kernel closes the socket and the server ends the session: the transaction rolls
back, the job is queued again as it was, and both locks go. When its machine vanishes, the
server's TCP keepalives, set per session (`KEEPALIVE`), end the session within about 25 s.
No heartbeat of ours, no lease to tune.

**Trust.** The queue holds no key and nothing a worker could sign with: inputs, which are
public, and proofs, which the roller verifies before it signs (`roller.farm.prover`). A worker
whose result does not verify is quarantined (`quarantine`): it no longer counts as capacity, its
results are ignored, the job is queued again for the others (`requeue`, which excludes it), and a
worker that sees its quarantine stops. A worker has the database login, so it could delete or
sit on jobs: that costs the roller tasks declined in time, never a signature; docs/farm.md.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg

from p2p.database import POSTGRESQL_SCHEMES, DatabaseURL, connect_postgresql, first_line
from roller.errors import ProvingError, RollerError

#: advisory lock keys (two int4s: class, id): "farm" + a worker's id, held by the worker's
#: session; "jobs" + a job's id, held by the transaction proving it
WORKER_LOCK = 0x6661726D
CLAIM_LOCK = 0x6A6F6273
#: a third key, alone, serialises creating the tables (CREATE ... IF NOT EXISTS races itself)
SCHEMA_LOCK = 0x7363686D
#: LISTEN/NOTIFY channels: a job was queued (workers listen), a job is done (the roller listens)
JOBS_CHANNEL = "provernet_farm_jobs"
DONE_CHANNEL = "provernet_farm_done"
#: the server's keepalives for each farm session (seconds idle, between probes, probes lost): a
#: worker whose machine vanished mid-proof has its job queued again within about 25 s
KEEPALIVE = {"tcp_keepalives_idle": 10, "tcp_keepalives_interval": 5, "tcp_keepalives_count": 3}
#: jobs past their expiry by this long are deleted when a job is submitted (their roller
#: stopped waiting for them)
EXPIRED_KEPT_SECONDS = 3600
#: the longest a job stays on offer: an open task has no close (its times are the wire's
#: NO_DEADLINE, beyond what an interval holds), and a day is more than any proof takes
MAX_EXPIRY_SECONDS = 86_400
SCHEMA_VERSION = 1

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS farm_meta (key text PRIMARY KEY, value text NOT NULL)",
    # A circuit is published once all of its artifacts' parts are stored (one transaction).
    "CREATE TABLE IF NOT EXISTS farm_circuits (zkey_hash bytea PRIMARY KEY, wasm_hash bytea "
    "NOT NULL, name text NOT NULL, published_at timestamptz NOT NULL DEFAULT now())",
    "CREATE TABLE IF NOT EXISTS farm_artifacts (hash bytea NOT NULL, part integer NOT NULL, "
    "data bytea NOT NULL, PRIMARY KEY (hash, part))",
    # int4 ids: they are advisory locks' second keys.
    "CREATE TABLE IF NOT EXISTS farm_workers (id serial PRIMARY KEY, name text NOT NULL, "
    "backend text NOT NULL, started_at timestamptz NOT NULL DEFAULT now(), quarantined text, "
    "jobs integer NOT NULL DEFAULT 0, busy_seconds double precision NOT NULL DEFAULT 0)",
    "CREATE TABLE IF NOT EXISTS farm_jobs (id serial PRIMARY KEY, circuit bytea NOT NULL, "
    "address text NOT NULL, inputs bytea NOT NULL, priority double precision NOT NULL, "
    "expires_at timestamptz NOT NULL, excluded integer[] NOT NULL DEFAULT '{}', "
    "worker integer, claimed_at timestamptz, done_at timestamptz, proof_system text, "
    "proof bytea, public text, witness_seconds double precision, "
    "proving_seconds double precision, error text)",
    "CREATE INDEX IF NOT EXISTS farm_jobs_queued ON farm_jobs (priority, id) "
    "WHERE done_at IS NULL",
)
_THIS_DATABASE = "(SELECT oid FROM pg_database WHERE datname = current_database())"
_HELD = ("EXISTS (SELECT 1 FROM pg_locks AS l WHERE l.locktype = 'advisory' AND l.granted "
         "AND l.objsubid = 2 AND l.classid::bigint = {key} AND l.objid::bigint = {id} "
         f"AND l.database = {_THIS_DATABASE})")
_RESULT_COLUMNS = ("worker", "proof_system", "proof", "public", "witness_seconds",
                   "proving_seconds", "error")


class FarmError(RollerError):
    """The farm cannot be used: not a PostgreSQL URL, a database from another version."""


class FarmUnavailable(FarmError, ProvingError):
    """The farm's database cannot be reached, or the connection to it was lost: what was being
    asked of it did not happen (a task then cannot be proven: it is declined)."""


@dataclass(frozen=True)
class Job:
    """A claimed job: what a worker proves."""

    id: int
    #: SHA-256 of the circuit's .zkey
    circuit: bytes
    #: the roller's address, which the inputs bind the proof to
    address: str
    #: input.json
    inputs: bytes


@dataclass(frozen=True)
class Outcome:
    """What a worker hands back: a proof and its public inputs, or why it could not prove."""

    proof_system: str | None = None
    proof: bytes | None = None
    public: tuple[int, ...] | None = None
    witness_seconds: float = 0.0
    proving_seconds: float = 0.0
    error: str | None = None


@dataclass(frozen=True)
class JobState:
    """A submitted job as its roller sees it."""

    #: a worker holds it (its transaction is open)
    claimed: bool
    #: done: the worker's outcome, and who made it
    outcome: Outcome | None = None
    worker: int | None = None
    #: the worker was quarantined (its outcome is not to be trusted)
    quarantined: bool = False
    #: seconds from its claim to now, on the server's clock: what it cost the farm
    service_seconds: float | None = None


@dataclass(frozen=True)
class Worker:
    id: int
    name: str
    #: its proving backend's description (name and hardware)
    backend: str
    live: bool
    #: why it was quarantined, or None
    quarantined: str | None
    jobs: int
    #: seconds per job, as it reports them (witness and proof)
    seconds_per_job: float | None


def farm_url(text: str) -> DatabaseURL:
    """`--farm`'s value: a PostgreSQL URL (the password is never shown: `DatabaseURL`)."""
    scheme = text.partition("://")[0].lower()
    if scheme not in POSTGRESQL_SCHEMES:
        raise FarmError(f"the farm is a PostgreSQL database: give postgresql://USER@HOST:PORT/"
                        f"DATABASE, not {text.partition('://')[0] or text!r}")
    return DatabaseURL(url=text)


class FarmQueue:
    """One connection to the farm; see the module docstring.

    A connection lost (the server restarted, the network cut) fails the call that finds it so
    (`FarmUnavailable`) and is made again by the next call, the channels listened to included;
    except a registered worker's: its session is its liveness and its lock, so the worker
    registers anew instead (`roller.farm.worker`)."""

    def __init__(self, url: str, who: str):
        self.where = farm_url(url)
        self._url = url
        self._who = who
        # Reentrant: a worker fetches a circuit inside its claim's transaction.
        self._lock = threading.RLock()
        #: channels LISTENed to, listened to again on a new connection
        self._channels: list[str] = []
        #: this session's worker id once registered (then never reconnected)
        self._worker: int | None = None
        self._raw = self._connect()

    @classmethod
    def open(cls, url: str, who: str) -> FarmQueue:
        """Connect as `who` (shown in pg_stat_activity) and make the tables if need be."""
        queue = cls(url, who)
        try:
            queue._create()
        except BaseException:
            queue.close()
            raise
        return queue

    def _connect(self) -> psycopg.Connection:
        try:
            raw = connect_postgresql(self._url, f"provernet farm {self._who}")
            for setting, value in KEEPALIVE.items():
                raw.execute(f"SET {setting} = {int(value)}")
            # Proving a job holds a transaction open for as long as it takes.
            raw.execute("SET idle_in_transaction_session_timeout = 0")
            for channel in self._channels:
                raw.execute(f"LISTEN {channel}")
        except psycopg.Error as error:  # unreachable, refused, or a URL libpq cannot read
            raise FarmUnavailable(f"cannot reach the farm {self.where}: "
                                  f"{first_line(error)}") from None
        return raw

    def _connection(self) -> psycopg.Connection:
        """The connection, made again if it was lost (not a registered worker's)."""
        if (self._raw.closed or self._raw.broken) and self._worker is None:
            self._raw = self._connect()
        return self._raw

    def close(self) -> None:
        with self._lock:
            self._raw.close()

    # ------------------------------------------------------------------ the roller's side

    def submit(self, circuit: bytes, address: str, inputs: bytes, priority: float,
               expires_in: float) -> int:
        """Queue a block's proof; its id. Workers are woken."""
        with self.transaction():
            self.execute(
                "DELETE FROM farm_jobs WHERE id IN (SELECT id FROM farm_jobs WHERE expires_at < "
                "now() - make_interval(secs => %s) FOR UPDATE SKIP LOCKED)",
                (EXPIRED_KEPT_SECONDS,))
            (job,) = self.execute(
                "INSERT INTO farm_jobs (circuit, address, inputs, priority, expires_at) VALUES "
                "(%s, %s, %s, %s, now() + make_interval(secs => %s)) RETURNING id",
                (circuit, address, inputs, priority,
                 min(max(expires_in, 0.0), MAX_EXPIRY_SECONDS))).fetchone()
            self.execute("SELECT pg_notify(%s, '')", (JOBS_CHANNEL,))
        return job

    def state(self, job: int) -> JobState | None:
        """Where `job` is; None if it is gone (expired and deleted)."""
        row = self.execute(
            f"SELECT j.done_at IS NOT NULL, {', '.join('j.' + c for c in _RESULT_COLUMNS)}, "
            "w.quarantined IS NOT NULL, "
            "extract(epoch FROM clock_timestamp() - j.claimed_at)::double precision, "
            f"{_HELD.format(key=CLAIM_LOCK, id='j.id')} "
            "FROM farm_jobs AS j LEFT JOIN farm_workers AS w ON w.id = j.worker "
            "WHERE j.id = %s", (job,)).fetchone()
        if row is None:
            return None
        done, worker, proof_system, proof, public, witness, proving, error, quarantined, \
            service, claimed = row
        if not done:
            return JobState(claimed=claimed)
        outcome = Outcome(proof_system, None if proof is None else bytes(proof),
                          None if public is None else _public(public), witness or 0.0,
                          proving or 0.0, error)
        return JobState(False, outcome, worker, quarantined, service)

    def requeue(self, job: int) -> None:
        """Queue a done job again for every worker but the one that did it."""
        with self.transaction():
            self.execute(
                "UPDATE farm_jobs SET excluded = array_append(excluded, worker), worker = NULL, "
                "claimed_at = NULL, done_at = NULL, "
                + ", ".join(f"{c} = NULL" for c in _RESULT_COLUMNS[1:]) +
                " WHERE id = %s AND done_at IS NOT NULL", (job,))
            self.execute("SELECT pg_notify(%s, '')", (JOBS_CHANNEL,))

    def withdraw(self, job: int) -> bool:
        """Delete `job` unless a worker holds it or it is done; whether it was deleted."""
        return self.execute(
            "DELETE FROM farm_jobs WHERE id = (SELECT id FROM farm_jobs WHERE id = %s AND "
            "done_at IS NULL FOR UPDATE SKIP LOCKED) RETURNING id", (job,)).fetchone() is not None

    def forget(self, job: int) -> None:
        """Delete a job whose outcome was taken."""
        self.execute("DELETE FROM farm_jobs WHERE id = %s", (job,))

    def quarantine(self, worker: int, reason: str) -> None:
        """Trust `worker` no more (the first reason is kept)."""
        self.execute("UPDATE farm_workers SET quarantined = %s WHERE id = %s AND "
                      "quarantined IS NULL", (reason, worker))

    def others_live(self, job: int) -> int:
        """Live, trusted workers that may still take `job` (it does not exclude them)."""
        (count,) = self.execute(
            "SELECT count(*) FROM farm_workers AS w, farm_jobs AS j WHERE j.id = %s AND "
            f"w.quarantined IS NULL AND NOT (w.id = ANY(j.excluded)) AND "
            f"{_HELD.format(key=WORKER_LOCK, id='w.id')}", (job,)).fetchone()
        return count

    def capacity(self) -> int:
        """Live, trusted workers: how many jobs the farm proves at once now."""
        (count,) = self.execute(
            "SELECT count(*) FROM farm_workers AS w WHERE w.quarantined IS NULL AND "
            f"{_HELD.format(key=WORKER_LOCK, id='w.id')}").fetchone()
        return count

    def workers(self) -> list[Worker]:
        """Every live worker, and every quarantined one."""
        rows = self.execute(
            "SELECT id, name, backend, quarantined, jobs, busy_seconds, "
            f"{_HELD.format(key=WORKER_LOCK, id='id')} AS live FROM farm_workers "
            f"WHERE quarantined IS NOT NULL OR {_HELD.format(key=WORKER_LOCK, id='id')} "
            "ORDER BY id").fetchall()
        return [Worker(id_, name, backend, live, quarantined, jobs,
                       busy / jobs if jobs else None)
                for id_, name, backend, quarantined, jobs, busy, live in rows]

    # ------------------------------------------------------------------ the worker's side

    def register(self, name: str, backend: str) -> int:
        """Join as a worker: its id, whose lock this session holds from now on."""
        with self.transaction():
            (worker,) = self.execute(
                "INSERT INTO farm_workers (name, backend) VALUES (%s, %s) RETURNING id",
                (name, backend)).fetchone()
        self.execute("SELECT pg_advisory_lock(%s, %s)", (WORKER_LOCK, worker))
        self._worker = worker
        self._listen(JOBS_CHANNEL)
        return worker

    def quarantined(self, worker: int) -> str | None:
        row = self.execute("SELECT quarantined FROM farm_workers WHERE id = %s",
                            (worker,)).fetchone()
        return None if row is None else row[0]

    def claim(self, worker: int, prove: Callable[[Job], Outcome]) -> Job | None:
        """Claim the first job `worker` may take and hand `prove`'s outcome back, in one
        transaction; the job, or None when there is none. If `prove` raises, or the session ends
        before the commit, the job is queued again as it was."""
        with self.transaction():
            row = self.execute(
                "SELECT id, circuit, address, inputs FROM farm_jobs WHERE done_at IS NULL AND "
                "expires_at > now() AND NOT (%s = ANY(excluded)) ORDER BY priority, id "
                "LIMIT 1 FOR UPDATE SKIP LOCKED", (worker,)).fetchone()
            if row is None:
                return None
            job = Job(row[0], bytes(row[1]), row[2], bytes(row[3]))
            self.execute("SELECT pg_advisory_xact_lock(%s, %s)", (CLAIM_LOCK, job.id))
            outcome = prove(job)
            self.execute(
                "UPDATE farm_jobs SET worker = %s, claimed_at = now(), "
                "done_at = clock_timestamp(), proof_system = %s, proof = %s, public = %s, "
                "witness_seconds = %s, proving_seconds = %s, error = %s WHERE id = %s",
                (worker, outcome.proof_system, outcome.proof,
                 None if outcome.public is None else json.dumps([str(v) for v in outcome.public]),
                 outcome.witness_seconds, outcome.proving_seconds, outcome.error, job.id))
            if outcome.error is None:
                self.execute("UPDATE farm_workers SET jobs = jobs + 1, busy_seconds = "
                              "busy_seconds + %s WHERE id = %s",
                              (outcome.witness_seconds + outcome.proving_seconds, worker))
            self.execute("SELECT pg_notify(%s, %s)", (DONE_CHANNEL, str(job.id)))
        return job

    # ------------------------------------------------------------------ both

    def listen_done(self) -> None:
        self._listen(DONE_CHANNEL)

    def _listen(self, channel: str) -> None:
        self.execute(f"LISTEN {channel}")
        self._channels.append(channel)

    def wait(self, timeout: float, payload: str | None = None) -> bool:
        """Wait up to `timeout` seconds for a notification on the channels listened to (with
        `payload`, for one carrying it: every roller's prover hears every job's); whether it
        came."""
        deadline = time.monotonic() + max(timeout, 0.0)
        with self._lock, _unavailable(self.where):
            while (left := deadline - time.monotonic()) > 0:
                for notify in self._connection().notifies(timeout=left, stop_after=1):
                    if payload is None or notify.payload == payload:
                        return True
        return False

    def execute(self, statement: str, params: tuple = ()) -> psycopg.Cursor:
        with self._lock, _unavailable(self.where):
            return self._connection().execute(statement, params)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Statements in one transaction (nested: a savepoint)."""
        with self._lock, _unavailable(self.where), self._connection().transaction():
            yield

    # ------------------------------------------------------------------ internals

    def _create(self) -> None:
        with self.transaction():
            self.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
            for statement in _SCHEMA:
                self.execute(statement)
            self.execute("INSERT INTO farm_meta (key, value) VALUES ('schema', %s) "
                          "ON CONFLICT DO NOTHING", (str(SCHEMA_VERSION),))
            (version,) = self.execute(
                "SELECT value FROM farm_meta WHERE key = 'schema'").fetchone()
        if version != str(SCHEMA_VERSION):
            raise FarmError(f"the farm {self.where} has schema {version}; this provernet "
                            f"speaks {SCHEMA_VERSION}: give the farm a new database")


def _public(text: str) -> tuple[int, ...] | None:
    """Public inputs as a worker wrote them; None if they are not a list of numbers (a worker's
    result is checked, not trusted)."""
    try:
        values = json.loads(text)
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            return None
        return tuple(int(v) for v in values)
    except ValueError:
        return None


@contextmanager
def _unavailable(where: DatabaseURL) -> Iterator[None]:
    """A lost or refused connection as FarmUnavailable; an error in our SQL crashes loudly."""
    try:
        yield
    except psycopg.OperationalError as error:
        raise FarmUnavailable(f"the farm {where}: {first_line(error)}") from None
