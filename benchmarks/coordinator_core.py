"""Throughput of the coordinator's decision core alone: events handled per second.

    .venv/bin/python benchmarks/coordinator_core.py [--rollers 1000] [--blocks 10000] [--json]

The market of the simulation's scale (1,000 rollers, 10,000 blocks, the devnet parameters) with
honest rollers that answer at once: every assignment is accepted and proven in the millisecond it
is made, L1 confirms every Finalize and Settle at once, a block is committed every second of
virtual time, and the driver ticks at `next_wakeup()` as the service does. Two rosters: one that
never changes, and one where each settled batch changes the reputation of its rollers (the
contract's rule), so that the core prepares a new roster for nearly every batch, as it would on a
live chain. The time is the core's plus this thin driver's; no I/O. Both wall time and the
process's CPU time are shown: the run is single-threaded, so CPU time is what it costs when other
work shares the machine.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import deque
from pathlib import Path

# Run as a script, this file's folder comes first on the path; drop it, so that imports resolve
# as in the package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from eth_utils import keccak, to_checksum_address  # (imported after the path fix)
from rich.console import Console
from rich.table import Table

from coordinator.commands import Assign, Finalize, Settle
from coordinator.core import MS_PER_SECOND, CoordinatorCore
from coordinator.events import (
    BatchFinalized,
    BatchSettled,
    BlockCommitted,
    ProofReceived,
    TaskAccepted,
    Tick,
)
from market_contracts.rules import MarketParams, batches_through, next_reputation

CHAIN_ID = 31337
ROLLUP = "0x3eAabe171D8A4EACe693Ae2D9a1E40b458151a99"
BLOCK_INTERVAL = 1 * MS_PER_SECOND
STAKE = 1_000 * 10**18


def run(rollers: int, blocks: int, changing_roster: bool) -> dict:
    params = MarketParams.devnet()
    core = CoordinatorCore(params, CHAIN_ID, ROLLUP)
    addresses = [to_checksum_address(keccak(text=f"roller {i}")[:20]) for i in range(rollers)]
    # Stakes differ, so the draws are weighted for real.
    stakes = {a: STAKE * (1 + i % 7) for i, a in enumerate(addresses)}
    reps = dict.fromkeys(addresses, params.rep_init)

    def current_roster() -> tuple[tuple[str, int], ...]:
        return tuple((a, stakes[a] * reps[a]) for a in addresses)

    roster = current_roster()
    pending: deque = deque()
    counts = {"events": 0, "commands": 0, "settles": 0}

    def handle(event) -> None:
        nonlocal roster
        commands = core.handle(event)
        counts["events"] += 1
        counts["commands"] += len(commands)
        for c in commands:
            if isinstance(c, Assign):
                task = (c.kind, c.index, c.round, c.seed, c.roller)
                pending.append(TaskAccepted(*task, c.assigned_at))
                pending.append(ProofReceived(*task, True, f"{c.kind}-{c.index}-{c.roller}",
                                             c.assigned_at))
            elif isinstance(c, Finalize):
                pending.append(BatchFinalized(c.batch, event.at))
            elif isinstance(c, Settle):
                counts["settles"] += 1
                pending.append(BatchSettled(c.batch, event.at))
                if changing_roster:
                    for o in c.outcomes:
                        reps[o.roller] = next_reputation(reps[o.roller], o.outcome, params)
                    roster = current_roster()

    def drain() -> None:
        while pending:
            handle(pending.popleft())

    started, started_cpu = time.perf_counter(), time.process_time()
    for n in range(1, blocks + 1):
        at = n * BLOCK_INTERVAL
        while (wake := core.next_wakeup()) is not None and wake <= at:
            handle(Tick(wake))
            drain()
        handle(BlockCommitted(n, keccak(n.to_bytes(32, "big")), 1_000 + n,
                              keccak(b"statement" + n.to_bytes(32, "big")), roster, at))
        drain()
    while (wake := core.next_wakeup()) is not None:
        handle(Tick(wake))
        drain()
    seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - started_cpu

    assert core.last_finalized == blocks - blocks % params.k, core.last_finalized
    assert counts["settles"] == batches_through(blocks, params.k)
    return {"roster": "changing" if changing_roster else "fixed", "rollers": rollers,
            "blocks": blocks, **counts, "seconds": round(seconds, 2),
            "cpu_seconds": round(cpu_seconds, 2),
            "events_per_s": round(counts["events"] / seconds),
            "events_per_cpu_s": round(counts["events"] / cpu_seconds)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rollers", type=int, default=1_000)
    parser.add_argument("--blocks", type=int, default=10_000)
    parser.add_argument("--json", action="store_true", help="print JSON lines instead of a table")
    args = parser.parse_args()
    results = [run(args.rollers, args.blocks, changing) for changing in (False, True)]
    if args.json:
        for result in results:
            print(json.dumps(result))
        return
    table = Table(title=f"coordinator core: {args.rollers:,} rollers, {args.blocks:,} blocks, "
                        "instant honest proofs")
    for column in ("roster", "events", "commands", "wall s", "CPU s", "events/s",
                   "events/CPU s"):
        table.add_column(column, justify="left" if column == "roster" else "right")
    for r in results:
        table.add_row(r["roster"], f"{r['events']:,}", f"{r['commands']:,}", f"{r['seconds']:.2f}",
                      f"{r['cpu_seconds']:.2f}", f"{r['events_per_s']:,}",
                      f"{r['events_per_cpu_s']:,}")
    Console().print(table)


if __name__ == "__main__":
    main()
