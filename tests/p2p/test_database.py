"""A node's database chosen by a URL: the forms `--db` takes, the password never shown, the SQL
written once for both dialects, and on a real PostgreSQL server (tests/postgres.py) and SQLite
alike: transactions, the one-node lock (released even when its holder is killed), durability
settings, and each way a PostgreSQL database can fail to open, told in one line."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psycopg
import pytest

from p2p.database import (
    POSTGRESQL,
    SQLITE,
    Database,
    DatabaseError,
    DatabaseLocked,
    DatabaseURL,
    parse_url,
)

DEFAULT = Path("/data/coordinator/coordinator.sqlite")


def test_the_forms_of_a_location():
    assert parse_url(None, DEFAULT) == DatabaseURL(path=DEFAULT)
    assert parse_url("state.sqlite", DEFAULT) == DatabaseURL(path=Path("state.sqlite"))
    assert parse_url("sqlite:///var/lib/c.sqlite", DEFAULT) == DatabaseURL(
        path=Path("/var/lib/c.sqlite"))
    for url in ("postgresql://c@db.example:5433/coordinator", "postgres://c@db/coordinator",
                "postgresql:///coordinator?host=/run/postgresql"):
        assert parse_url(url, DEFAULT) == DatabaseURL(url=url)


@pytest.mark.parametrize("text, error", [
    ("", "an empty database location"),
    ("mysql://c@db/coordinator", "mysql:// is no database this node can use: give a path, "
                                 "sqlite:///ABSOLUTE/PATH or postgresql://"),
    ("sqlite://relative.sqlite", "is not sqlite:///ABSOLUTE/PATH"),
    ("sqlite:///", "is not sqlite:///ABSOLUTE/PATH"),
])
def test_a_location_of_no_known_form_is_named(text, error):
    with pytest.raises(DatabaseError, match=error):
        parse_url(text, DEFAULT)


def test_the_password_is_never_shown():
    shown = {url: str(parse_url(url, DEFAULT)) for url in (
        "postgresql://c:s3cret@db:5432/coordinator",
        "postgresql://c@db/coordinator?password=s3cret&sslmode=require",
        "postgresql://db/coordinator")}
    assert list(shown.values()) == [
        "postgresql://c:***@db:5432/coordinator",
        "postgresql://c@db/coordinator?password=***&sslmode=require",
        "postgresql://db/coordinator"]


def test_the_sql_is_written_once_in_sqlites_spelling():
    statement = "SELECT a FROM t WHERE b = ? AND c LIKE 'x%'"
    assert SQLITE.sql(statement) == statement
    assert POSTGRESQL.sql(statement) == "SELECT a FROM t WHERE b = %s AND c LIKE 'x%%'"
    table = ("CREATE TABLE t (seq INTEGER PRIMARY KEY AUTOINCREMENT, n INTEGER NOT NULL, "
             "at REAL, name TEXT)")
    assert SQLITE.ddl(table) == table
    assert POSTGRESQL.ddl(table) == (
        "CREATE TABLE t (seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, n BIGINT NOT NULL, "
        "at DOUBLE PRECISION, name TEXT)")


@pytest.fixture
def where(tmp_path, db) -> DatabaseURL:
    """A database of each kind: an SQLite file, a fresh PostgreSQL database."""
    return parse_url(db or str(tmp_path / "node.sqlite"), DEFAULT)


def test_a_transaction_is_all_or_nothing(where):
    database = Database.open(where, "coordinator")
    with database.transaction() as db:
        db.create("CREATE TABLE t (n INTEGER PRIMARY KEY, at REAL NOT NULL)")
        db.executemany("INSERT INTO t (n, at) VALUES (?, ?)", [(1, 1.5e9 + 0.25), (2, 0.0)])
    with pytest.raises(ZeroDivisionError), database.transaction() as db:
        db.execute("DELETE FROM t")
        1 / 0
    with database.connection() as db:
        assert db.has_table("t") and not db.has_table("u")
        # 2**40 needs 64 bits; a Unix time keeps its fraction (a float4 would not)
        db.execute("UPDATE t SET n = ? WHERE n = ?", (2**40, 2))
        assert db.execute("SELECT n, at FROM t ORDER BY n").fetchall() == [
            (1, 1.5e9 + 0.25), (2**40, 0.0)]
    database.close()


def test_one_node_per_database_and_a_killed_one_leaves_no_lock(where):
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import sys
            from p2p.database import Database, parse_url
            held = Database.open(parse_url({where.url or str(where.path)!r}, None), "sequencer")
            print("open", flush=True)
            sys.stdin.read()
        """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "open\n"
        # On PostgreSQL the server says who holds it; a file lock cannot.
        who = "another sequencer \\(server pid" if where.url else "another provernet node"
        with pytest.raises(DatabaseLocked, match=f"is in use by {who}.*its own"):
            Database.open(where, "coordinator")
    finally:
        holder.kill()  # no chance to close anything
        holder.wait()
    # The server notices the dead session at once (its socket closed), but ends it a moment
    # later: a few tries.
    for attempt in range(50):
        try:
            Database.open(where, "coordinator").close()
            break
        except DatabaseLocked:
            if attempt == 49:
                raise
            time.sleep(0.1)


@pytest.mark.postgres
def test_a_server_default_without_synchronous_commit_is_overridden(postgres_server,
                                                                     postgres_database):
    name = postgres_database.rpartition("/")[2]
    with psycopg.connect(postgres_server.url("postgres"), autocommit=True) as admin:
        admin.execute(f"ALTER DATABASE {name} SET synchronous_commit = off")
    with psycopg.connect(postgres_database) as plain:
        assert plain.execute("SHOW synchronous_commit").fetchone() == ("off",)
    database = Database.open(parse_url(postgres_database, DEFAULT), "coordinator")
    with database.connection() as db:
        assert db.execute("SHOW synchronous_commit").fetchone() == ("on",)
    database.close()


@pytest.mark.postgres
def test_each_way_to_fail_to_open_is_told_in_one_line(postgres_server, postgres_database):
    server = f"127.0.0.1:{postgres_server.port}"
    cases = {
        postgres_server.url("postgres", password="wrong"):
            'password authentication failed for user "provernet"',
        postgres_server.url("missing"): 'database "missing" does not exist',
        postgres_database.replace(f":{postgres_server.port}/", ":1/"): "Connection refused",
        postgres_database.replace(server, "127.0.0.1:port"):
            'invalid integer value "port" for connection option "port"',
        postgres_database + "?colour=blue": 'invalid URI query parameter: "colour"',
    }
    for url, reason in cases.items():
        with pytest.raises(DatabaseError) as refused:
            Database.open(parse_url(url, DEFAULT), "coordinator")
        message = str(refused.value)
        assert message.startswith(f"cannot open the coordinator's database "
                                  f"{parse_url(url, DEFAULT)}: ")
        assert reason in message and "\n" not in message
        assert postgres_server.password not in message and "wrong" not in message


@pytest.mark.postgres
def test_a_lost_connection_is_not_made_again(postgres_server, postgres_database):
    """Its lock went with it: another node may hold the database by now."""
    database = Database.open(parse_url(postgres_database, DEFAULT), "coordinator")
    with database.connection() as db:
        pid = db.execute("SELECT pg_backend_pid()").fetchone()[0]
    with psycopg.connect(postgres_server.url("postgres"), autocommit=True) as admin:
        # (waiting until it has ended, its lock with it)
        assert admin.execute("SELECT pg_terminate_backend(%s, 10000)", (pid,)).fetchone()[0]
    other = Database.open(parse_url(postgres_database, DEFAULT), "coordinator")
    for _ in range(2):
        with pytest.raises(psycopg.OperationalError), database.connection() as db:
            db.execute("SELECT 1")
    database.close()  # and closing it releases nothing of the other's
    with other.connection() as db:
        assert db.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
                          ).fetchone() == (1,)
    other.close()
