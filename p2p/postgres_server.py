"""A throwaway PostgreSQL server: a new cluster in a temporary directory, always stopped and
removed again. For the tests (tests/postgres.py) and benchmarks/store.py; a deployment points
`--db` at a server of its own.

Debian's server binaries (the `postgresql` package, which the Makefile installs) are not on PATH:
they are found under /usr/lib/postgresql/VERSION/bin, the newest version first. initdb and
postgres refuse to run as root, so as root (CI, a container) they run as the `postgres` user the
package creates, in a directory given to it. The server listens on a free loopback port, with its
unix socket in the same directory, and its superuser logs in over TCP with a random password
(scram-sha-256), as a deployment's would. It runs in its own session, so a Ctrl-C meant for us
reaches it only through our fast shutdown.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg

from p2p.database import DatabaseError

INSTALLED = Path("/usr/lib/postgresql")
HOST = "127.0.0.1"
SUPERUSER = "provernet"
#: the user Debian's package creates to run the server
SERVER_USER = "postgres"
STARTUP_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0
#: between picking a free port and the server binding it another process may take it
PORT_ATTEMPTS = 3


@dataclass(frozen=True)
class PostgresServer:
    port: int
    password: str
    #: the cluster's directory: data/, the unix socket, server.log
    directory: Path

    def url(self, database: str, password: str | None = None) -> str:
        """`--db` for `database`, the superuser's password in it (or `password`)."""
        return f"postgresql://{SUPERUSER}:{password or self.password}@{HOST}:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        """A new, empty database; its URL."""
        with psycopg.connect(self.url("postgres"), autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


def server_binaries() -> Path:
    """The newest installed PostgreSQL's bin directory."""
    found = sorted(INSTALLED.glob("*/bin/postgres"), key=lambda p: int(p.parent.parent.name))
    if not found:
        raise DatabaseError(f"no PostgreSQL server under {INSTALLED}: install Debian's "
                            "postgresql (`make setup` does)")
    return found[-1].parent


@contextmanager
def run_postgres(settings: Mapping[str, str] | None = None) -> Iterator[PostgresServer]:
    """A new cluster's server for the duration of the block; `settings` are passed as `-c`
    (the server's defaults otherwise)."""
    binaries = server_binaries()
    as_server = {"user": SERVER_USER, "group": SERVER_USER} if os.geteuid() == 0 else {}
    # Not under a root-private temporary directory (pytest's is, TMPDIR may be): the server user
    # must enter it.
    directory = Path(tempfile.mkdtemp(prefix="provernet-postgres-",
                                      dir="/tmp" if as_server else None))
    try:
        password = secrets.token_hex(16)
        (directory / "password").write_text(password)
        if as_server:
            for path in (directory, directory / "password"):
                shutil.chown(path, SERVER_USER, SERVER_USER)
        initdb = subprocess.run(
            [binaries / "initdb", "-D", directory / "data", "-U", SUPERUSER,
             f"--pwfile={directory / 'password'}", "--auth-local=trust",
             "--auth-host=scram-sha-256", "-E", "UTF8", "--no-locale", "--no-sync"],
            cwd=directory, capture_output=True, text=True, **as_server)
        if initdb.returncode != 0:
            raise DatabaseError(f"initdb failed: {_one_line(initdb.stderr)}")
        options = [arg for key, value in (settings or {}).items()
                   for arg in ("-c", f"{key}={value}")]
        for attempt in range(PORT_ATTEMPTS):
            server = PostgresServer(_free_port(), password, directory)
            with open(directory / "server.log", "ab") as log:
                process = subprocess.Popen(
                    [binaries / "postgres", "-D", directory / "data", "-p", str(server.port),
                     "-k", directory, "-c", f"listen_addresses={HOST}", *options],
                    cwd=directory, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                    start_new_session=True, **as_server)
            try:
                if _ready(process, server):
                    yield server
                    return
            finally:
                _stop(process)
        raise DatabaseError(f"PostgreSQL could not bind a free port in {PORT_ATTEMPTS} tries: "
                            f"{_one_line((directory / 'server.log').read_text())}")
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def _ready(process: subprocess.Popen, server: PostgresServer) -> bool:
    """True once the server takes its superuser's login; False if it exited because its port
    was taken."""
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log = (server.directory / "server.log").read_text()
            if "could not bind" in log or "could not create any TCP/IP sockets" in log:
                return False
            raise DatabaseError(f"PostgreSQL exited with status {process.returncode}: "
                                f"{_one_line(log)}")
        try:
            psycopg.connect(server.url("postgres")).close()
            return True
        except psycopg.OperationalError:
            time.sleep(0.05)
    raise DatabaseError(f"PostgreSQL did not take logins within {STARTUP_TIMEOUT_S:g} s: "
                        f"{_one_line((server.directory / 'server.log').read_text())}")


def _stop(process: subprocess.Popen) -> None:
    """Fast shutdown (SIGINT: sessions ended, a clean checkpoint), SIGKILL to the whole group if
    it lingers; the server is reaped either way."""
    process.send_signal(signal.SIGINT)  # to the postmaster alone: it ends its children itself
    try:
        process.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass  # gone meanwhile
        process.wait()


def _one_line(text: str, limit: int = 1000) -> str:
    return " | ".join(line.strip() for line in text.strip().splitlines()[-5:])[-limit:]
