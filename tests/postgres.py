"""A real PostgreSQL server for the tests that need one (marked `postgres`), and `db`, which runs
a store test on both databases.

`postgres_server` is a throwaway cluster (`p2p.postgres_server.run_postgres`: initdb into a
temporary directory, `postgres` on a free loopback port, run as the `postgres` user when we are
root), made once per session, which under xdist means once per worker (about a second each), and
stopped and removed at the end, also when tests fail. Each test that asks gets a new database of
its own (`postgres_database`). fsync is off: what is tested is the nodes' use of PostgreSQL, not
the disk, and it keeps each commit cheap (benchmarks/store.py measures with the defaults).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from p2p.database import DatabaseError
from p2p.postgres_server import PostgresServer, run_postgres, server_binaries

_databases = itertools.count()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    try:
        server_binaries()
    except DatabaseError as missing:
        pytest.fail(f"{missing}; or deselect these tests with -m 'not postgres'")
    with run_postgres({"fsync": "off"}) as server:
        yield server


@pytest.fixture
def postgres_database(postgres_server: PostgresServer) -> str:
    """A new, empty database on the session's server; its URL, password included."""
    return postgres_server.create_database(f"test_{next(_databases)}")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db(request) -> str | None:
    """A node's `--db` for a test run on both databases: None (SQLite in the data directory, the
    default), then a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return None
    return request.getfixturevalue("postgres_database")
