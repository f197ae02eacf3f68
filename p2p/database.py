"""A node's SQL database, SQLite or PostgreSQL, chosen by a URL; the coordinator's and the
sequencer's stores are written once against it.

Where (`parse_url`, the nodes' `--db`):

- a plain path, or `sqlite:///ABSOLUTE/PATH`: an SQLite file (WAL, synchronous=FULL);
- `postgresql://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?PARAM=VALUE...]` (or `postgres://`): a
  PostgreSQL database, through psycopg 3. libpq reads the URL, so its parameters (`sslmode`,
  `connect_timeout`, ...) pass through, and the password may come from ~/.pgpass or PGPASSWORD
  instead; it is never shown (`DatabaseURL.__str__`).

The stores write their SQL once, as SQLite spells it with `?` placeholders, in the subset both
dialects read alike (upserts as `ON CONFLICT ... DO UPDATE` / `DO NOTHING`, not SQLite's `INSERT
OR REPLACE`); `Dialect` holds the few differences: the placeholder, column types in the schema,
how a write transaction begins, how a table is found. So each node has one store class, not one
per database: its queries are the same on both, and what does differ (connecting, locking, those
spellings) has its two implementations here, below the sequencer, which uses it too.

What both backends guarantee, the same:

- durability: a statement, or a `transaction()`, is committed when the call returns: SQLite with
  synchronous=FULL, PostgreSQL with synchronous_commit on (raised to on for the session when the
  server's default is off);
- one node per database: SQLite an exclusive `flock` on the database file itself (SQLite's own
  locks are `fcntl` ones, which Linux keeps apart), PostgreSQL a session-level advisory lock
  (`pg_try_advisory_lock`). The kernel, or the server when the connection ends, releases it
  however the node stops, SIGKILL included, so a crash never leaves a stale lock. A second node
  is refused with `DatabaseLocked`, naming the holder where the server tells it;
- one connection behind a mutex: the store is thread-safe, and the trio services call it through
  `trio.to_thread.run_sync`. A connection lost while running (the server restarted) is not
  made again, since the lock went with it: every call raises from then on.
"""

from __future__ import annotations

import fcntl
import os
import re
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg.conninfo import conninfo_to_dict

from p2p.errors import P2PError

T = TypeVar("T")

#: seconds to wait for a PostgreSQL server before reporting it unreachable (libpq waits forever
#: by default); a `connect_timeout` in the URL wins
CONNECT_TIMEOUT = 10
#: the two int4 keys of the advisory lock every provernet node takes on its PostgreSQL database
#: ("prov", "node"). One key for every kind of node: their tables share names (`meta`), so a
#: database holds one node's, whichever it is
ADVISORY_LOCK = (0x70726F76, 0x6E6F6465)
POSTGRESQL_SCHEMES = ("postgresql", "postgres")
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")
FORMS = "a path, sqlite:///ABSOLUTE/PATH or postgresql://USER@HOST:PORT/DATABASE"


#: what a statement may raise, on either database: a store setting itself up at start turns these
#: into its own one-line error (a damaged SQLite file, a role that may not create tables)
STATEMENT_ERRORS = (sqlite3.Error, psycopg.Error)


class DatabaseError(P2PError):
    """A node's database cannot be opened: a bad URL, a server that cannot be reached or refuses
    the login, a missing database or file."""


class DatabaseLocked(DatabaseError):
    """Another node holds the database's lock."""


class DatabaseUnwritable(DatabaseError):
    """The disk refused a write: full, or an I/O error. The transaction it ended rolled back, so
    what was stored before is intact; the node stops rather than go on with state it could not
    keep."""


#: SQLite's primary result codes for a write the disk refused: SQLITE_IOERR, SQLITE_FULL (a full
#: disk, or a database at its max_page_count)
_SQLITE_STORAGE_CODES = (10, 13)


def unwritable(where: object, error: Exception) -> DatabaseUnwritable | None:
    """The one-line error for a statement's failure that is the disk's; None for any other."""
    disk = (isinstance(error, sqlite3.Error)
            and (getattr(error, "sqlite_errorcode", 0) or 0) & 0xFF in _SQLITE_STORAGE_CODES
            or isinstance(error, psycopg.errors.DiskFull))
    if not disk:
        return None
    return DatabaseUnwritable(f"cannot write to the database {where}: {first_line(error)}; free "
                              "space on its disk, then restart: what was stored before is kept")


@dataclass(frozen=True)
class DatabaseURL:
    """Where a node's database is: an SQLite file (`path`) or a PostgreSQL URL (`url`)."""

    path: Path | None = None
    url: str | None = None

    def __str__(self) -> str:
        """As shown in errors and logs: the URL without its password."""
        if self.path is not None:
            return str(self.path)
        parts = urlsplit(self.url)
        userinfo, at, host = parts.netloc.rpartition("@")
        if ":" in userinfo:
            userinfo = userinfo.partition(":")[0] + ":***"
        query = urlencode([(k, "***" if k == "password" else v)
                           for k, v in parse_qsl(parts.query, keep_blank_values=True)], safe="/:*")
        return urlunsplit(parts._replace(netloc=userinfo + at + host, query=query))


def parse_url(text: str | None, default: Path) -> DatabaseURL:
    """`--db`'s value: None means the SQLite file `default`."""
    if text is None:
        return DatabaseURL(path=default)
    scheme = _SCHEME.match(text)
    if scheme is None:
        if not text.strip():
            raise DatabaseError(f"an empty database location: give {FORMS}")
        return DatabaseURL(path=Path(text).expanduser())
    name = scheme[1].lower()
    if name in POSTGRESQL_SCHEMES:
        return DatabaseURL(url=text)
    if name == "sqlite":
        parts = urlsplit(text)
        if parts.netloc or parts.path in ("", "/") or parts.query:
            raise DatabaseError(f"{text!r} is not sqlite:///ABSOLUTE/PATH (three slashes, then "
                                "the file's absolute path; a relative path is given plainly)")
        return DatabaseURL(path=Path(parts.path))
    raise DatabaseError(f"{name}:// is no database this node can use: give {FORMS}")


@dataclass(frozen=True)
class Dialect:
    """What differs between SQLite's SQL, as the stores write it, and this database's."""

    name: str
    #: the stores' `?` placeholders are rewritten to this
    placeholder: str
    #: starts a write transaction (SQLite takes its write lock at once, not at the first write)
    begin: str
    #: schema rewrites, (pattern, replacement), applied in order to each CREATE statement
    types: tuple[tuple[str, str], ...]
    #: a row when the table `?` exists in the node's schema
    table_query: str

    def sql(self, statement: str) -> str:
        return _rewrite(statement, self.placeholder)

    def ddl(self, statement: str) -> str:
        for pattern, replacement in self.types:
            statement = re.sub(pattern, replacement, statement)
        return statement


@lru_cache(maxsize=512)
def _rewrite(statement: str, placeholder: str) -> str:
    if placeholder == "?":
        return statement
    # psycopg reads % as its own: a literal one is doubled.
    return statement.replace("%", "%%").replace("?", placeholder)


SQLITE = Dialect("sqlite", "?", "BEGIN IMMEDIATE", (),
                 "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?")
POSTGRESQL = Dialect(
    "postgresql", "%s", "BEGIN",
    # INTEGER is 32 bits in PostgreSQL, 64 in SQLite; REAL is a float4 (a Unix time in seconds
    # would lose minutes); an autoincrementing key is an identity column.
    ((r"\bINTEGER PRIMARY KEY AUTOINCREMENT\b", "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"),
     (r"\bINTEGER\b", "BIGINT"), (r"\bREAL\b", "DOUBLE PRECISION")),
    "SELECT 1 FROM pg_tables WHERE schemaname = current_schema() AND tablename = ?")


class Connection:
    """The connection as a store uses it, inside `Database.connection()` or `transaction()`:
    statements in SQLite's spelling, answered by a DB-API cursor (fetchone, fetchall, rowcount,
    iteration)."""

    def __init__(self, raw: sqlite3.Connection | psycopg.Connection, dialect: Dialect):
        self._raw = raw
        self.dialect = dialect

    def execute(self, statement: str, params: Iterable = ()):
        return self._raw.execute(self.dialect.sql(statement), tuple(params))

    def executemany(self, statement: str, rows: Iterable[Iterable]):
        cursor = self._raw.cursor()
        cursor.executemany(self.dialect.sql(statement), [tuple(row) for row in rows])
        return cursor

    def create(self, schema: str) -> None:
        """Run `schema`'s CREATE statements, one at a time (SQLite's executescript would commit
        an open transaction first)."""
        for statement in schema.split(";"):
            if statement.strip():
                self._raw.execute(self.dialect.ddl(statement))

    def has_table(self, name: str) -> bool:
        return self.execute(self.dialect.table_query, (name,)).fetchone() is not None


class Database:
    """A node's open database and its lock on it; `Database.open`, then `close()`."""

    def __init__(self, raw: sqlite3.Connection | psycopg.Connection, dialect: Dialect,
                 where: DatabaseURL, close: Callable[[], None]):
        self.where = where
        self._raw = raw
        self._connection = Connection(raw, dialect)
        #: closes the connection and releases the lock, in the order the backend needs
        self._close = close
        self._mutex = threading.Lock()

    @property
    def dialect(self) -> Dialect:
        return self._connection.dialect

    @classmethod
    def open(cls, where: DatabaseURL, node: str) -> Database:
        """Connect and take the lock; `node` ("coordinator", "sequencer") names this node to
        the server (`application_name`) and in a refusal."""
        if where.path is not None:
            return _open_sqlite(where, node)
        return _open_postgresql(where, node)

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """The connection, to this thread alone; each statement commits on its own."""
        with self._mutex, self._disk_errors():
            yield self._connection

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """The connection in one transaction: committed when the block ends, rolled back if it
        (or the commit) raises."""
        with self._mutex, self._disk_errors():
            self._raw.execute(self.dialect.begin)
            try:
                yield self._connection
                self._raw.execute("COMMIT")
            except BaseException:
                # SQLite may have rolled back by itself (it does on a full disk): then the
                # error that ended the transaction is the one to report, not ROLLBACK's.
                if getattr(self._raw, "in_transaction", True):
                    self._raw.execute("ROLLBACK")
                raise

    @contextmanager
    def _disk_errors(self) -> Iterator[None]:
        """A statement the disk refused raises `DatabaseUnwritable`; any other error as it is."""
        try:
            yield
        except STATEMENT_ERRORS as error:
            if (refused := unwritable(self.where, error)) is not None:
                raise refused from None
            raise

    def close(self) -> None:
        with self._mutex:
            self._close()


def _open_sqlite(where: DatabaseURL, node: str) -> Database:
    path = where.path
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as error:
        raise DatabaseError(f"cannot open the {node}'s database {path}: {error.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise DatabaseLocked(f"{path} is in use by another provernet node, which holds its "
                             f"lock: stop it, or give this {node} its own --db") from None
    raw = None
    try:
        raw = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        for pragma in ("journal_mode = WAL", "synchronous = FULL", "foreign_keys = ON"):
            raw.execute(f"PRAGMA {pragma}")
    except sqlite3.Error as error:
        if raw is not None:
            raw.close()
        os.close(fd)
        raise DatabaseError(f"cannot open the {node}'s database {path}: {error}") from None

    def close() -> None:
        raw.close()
        # After SQLite's own descriptor: closing any descriptor of the file drops the process's
        # fcntl locks on it, SQLite's included.
        os.close(fd)

    return Database(raw, SQLITE, where, close)


def connect_postgresql(url: str, application_name: str) -> psycopg.Connection:
    """An autocommit connection to `url`, as every provernet process makes one: libpq's
    `connect_timeout` (CONNECT_TIMEOUT) and `application_name` set unless the URL sets them;
    psycopg.Error if it cannot be made."""
    given = conninfo_to_dict(url)
    defaults = {"connect_timeout": CONNECT_TIMEOUT, "application_name": application_name}
    return psycopg.connect(url, autocommit=True,
                           **{k: v for k, v in defaults.items() if k not in given})


def _open_postgresql(where: DatabaseURL, node: str) -> Database:
    try:
        raw = connect_postgresql(where.url, f"provernet {node}")
    except psycopg.Error as error:
        raise DatabaseError(f"cannot open the {node}'s database {where}: "
                            f"{first_line(error)}") from None
    try:
        if raw.execute("SHOW synchronous_commit").fetchone()[0] == "off":
            raw.execute("SET synchronous_commit = on")
        if not raw.execute("SELECT pg_try_advisory_lock(%s, %s)", ADVISORY_LOCK).fetchone()[0]:
            raise DatabaseLocked(f"{where} is in use by {_lock_holder(raw)}: stop it, or give "
                                 f"this {node} its own database (--db)")
    except BaseException:
        raw.close()
        raise
    return Database(raw, POSTGRESQL, where, lambda: _close_postgresql(raw))


def _close_postgresql(raw: psycopg.Connection) -> None:
    """Release the lock, then close. The server would release it with the session, but only
    once it has read the client's goodbye, after `close()` returns: a node started again at once
    would find the lock still held."""
    try:
        raw.execute("SELECT pg_advisory_unlock(%s, %s)", ADVISORY_LOCK)
    except psycopg.OperationalError:
        pass  # the connection is gone, and the lock with the session
    finally:
        raw.close()


def _lock_holder(raw: psycopg.Connection) -> str:
    """Who holds the advisory lock, as far as this login may see (another role's sessions show
    no application name)."""
    row = raw.execute(
        "SELECT a.application_name, a.pid, a.client_addr FROM pg_locks AS l "
        "JOIN pg_stat_activity AS a ON a.pid = l.pid "
        "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2 "
        "AND l.classid::bigint = %s AND l.objid::bigint = %s "
        "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        ADVISORY_LOCK).fetchone()
    if row is None:  # released meanwhile
        return "another node"
    name, pid, client = row
    where = f"server pid {pid}" + (f", from {client}" if client else "")
    return f"another {name.removeprefix('provernet ') or 'client'} ({where})"


def first_line(error: Exception) -> str:
    """An error's message on one line: its first, without psycopg's prefix and libpq's FATAL."""
    text = str(error).strip()
    line = text.splitlines()[0] if text else type(error).__name__
    line = re.sub(r"^connection (failed|is bad): ", "", line)
    return re.sub(r"FATAL:\s+", "", line)


def initialised(store: T, initialise: Callable[[], None], error: type[Exception]) -> T:
    """`store` once `initialise()` has set up its tables; when that fails, the store closed (its
    locks released) and `error` raised with the statement's failure on one line."""
    try:
        initialise()
    except STATEMENT_ERRORS as exc:
        store.close()
        raise error(f"cannot set up {store.where}: {first_line(exc)}") from None
    except BaseException:
        store.close()
        raise
    return store
