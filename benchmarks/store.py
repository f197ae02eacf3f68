"""The coordinator's store on SQLite against PostgreSQL: events appended per second, and the time
a restart takes to read them back.

    .venv/bin/python benchmarks/store.py [--events 10000] [--rounds 3] [--postgresql URL] [--json]

Each event is appended as the service appends it: one call, committed (and so on disk) when it
returns, one after another from one connection. The events are what a busy coordinator's log
holds most of, a roller's accept and then its proof, for tasks of 1,000 rollers. The restart
opens the store again and reads every event back (`restore`, no snapshot), as a coordinator that
has taken none since those events does. SQLite is the default file in a temporary data
directory; PostgreSQL is a new database on the server `--postgresql` names, or else on a
throwaway server started here with the server's default settings (fsync and synchronous_commit
on), on loopback, so each commit's latency is the server's and not a network's. Both are bound
by the disk's flush: on a machine shared with other work its latency drifts, so the backends take
turns, a new store each round, and each figure is the median of the rounds.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

# Run as a script, this file's folder comes first on the path; drop it, so that imports resolve
# as in the package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import psycopg  # (imported after the path fix)
from eth_utils import keccak, to_checksum_address
from rich.console import Console
from rich.table import Table

from coordinator.events import Event, ProofReceived, TaskAccepted
from coordinator.store import CoordinatorStore
from market_contracts.rules import TaskKind
from p2p.postgres_server import run_postgres

ROLLERS = 1_000


def events(count: int) -> list[Event]:
    """Accept, then proof, of a block task each for a roller in turn."""
    rollers = [to_checksum_address(keccak(text=f"roller {i}")[:20]) for i in range(ROLLERS)]
    made: list[Event] = []
    for n in range(count):
        block, roller = n // 2 + 1, rollers[n // 2 % ROLLERS]
        seed, at = keccak(block.to_bytes(32, "big")), 1_700_000_000_000 + n
        if n % 2 == 0:
            made.append(TaskAccepted(TaskKind.BLOCK, block, 0, seed, roller, at))
        else:
            made.append(ProofReceived(TaskKind.BLOCK, block, 0, seed, roller, True,
                                      "0x" + keccak(seed + bytes.fromhex(roller[2:])).hex(), at))
    return made


def run_sql(url: str, statement: str) -> None:
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(statement)


def new_database(server: str, name: str) -> str:
    """Create database `name` on the server `server` (a URL) names; its URL."""
    run_sql(server, f'CREATE DATABASE "{name}"')
    return urlunsplit(urlsplit(server)._replace(path="/" + name))


def measure(datadir: Path, db: str | None, log: list[Event]) -> tuple[float, float]:
    """Seconds to append `log` to a new store, and to open it again and restore it."""
    store = CoordinatorStore.open(datadir, db)
    started = time.perf_counter()
    for number, event in enumerate(log):
        store.append_event(number, event)
    appending = time.perf_counter() - started
    store.close()

    started = time.perf_counter()
    store = CoordinatorStore.open(datadir, db)
    restored = store.restore()
    restoring = time.perf_counter() - started
    store.close()
    assert [e for _, e in restored.events] == log
    return appending, restoring


def summary(backend: str, events: int, rounds: list[tuple[float, float]]) -> dict:
    appending = statistics.median(a for a, _ in rounds)
    restoring = statistics.median(r for _, r in rounds)
    return {"backend": backend, "events": events, "rounds": len(rounds),
            "append_seconds": round(appending, 2), "appends_per_s": round(events / appending),
            "append_ms": round(appending / events * 1000, 3),
            "restore_seconds": round(restoring, 3), "restored_per_s": round(events / restoring)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--postgresql", metavar="URL",
                        help="a server to create the benchmark's databases on, and drop them "
                             "after (its user may CREATE DATABASE); default: a throwaway server "
                             "started here")
    parser.add_argument("--json", action="store_true", help="print JSON lines instead of a table")
    args = parser.parse_args()
    log = events(args.events)
    with ExitStack() as stack:
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        if args.postgresql:
            server, prefix = args.postgresql, f"provernet_bench_{uuid.uuid4().hex[:8]}"
        else:
            server, prefix = stack.enter_context(run_postgres()).url("postgres"), "bench"
        times: dict[str, list[tuple[float, float]]] = {"SQLite": [], "PostgreSQL": []}
        for n in range(args.rounds):
            times["SQLite"].append(measure(scratch / f"sqlite-{n}", None, log))
            database = new_database(server, f"{prefix}_{n}")
            try:
                times["PostgreSQL"].append(measure(scratch / f"postgresql-{n}", database, log))
            finally:
                run_sql(server, f'DROP DATABASE "{prefix}_{n}" WITH (FORCE)')
        results = [summary(backend, args.events, rounds) for backend, rounds in times.items()]
    if args.json:
        for result in results:
            print(json.dumps(result))
        return
    table = Table(title=f"coordinator store: {args.events:,} events appended one commit each, "
                        f"then restored (median of {args.rounds} rounds)")
    for column in ("backend", "appends/s", "ms per append", "restore s", "restored events/s"):
        table.add_column(column, justify="left" if column == "backend" else "right")
    for r in results:
        table.add_row(r["backend"], f"{r['appends_per_s']:,}", f"{r['append_ms']:.3f}",
                      f"{r['restore_seconds']:.3f}", f"{r['restored_per_s']:,}")
    Console().print(table)


if __name__ == "__main__":
    main()
