"""Speed of the simulation at the issue's scale: 1,000 rollers over 10,000 blocks in at most 60 s.

    .venv/bin/python benchmarks/simulate.py [--blocks 10000] [--seed 1] [--json]

The population is the mixed scenario's at ten times the size: 700 honest machines (H100 and
4090) and 300 addresses of every other behaviour (a sybil's 10 machines give 40 of them), on the
devnet market parameters, a block every 2 s. The time is the whole run (the coordinator's core,
the ledger, the rollers, the trio loop), without writing outputs. Both wall time and the
process's CPU time are shown: the run is single-threaded, so CPU time is what it costs when
other work shares the machine.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

# Run as a script, this file's folder comes first on the path; drop it, so that imports resolve
# as in the package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from rich.console import Console  # (imported after the path fix)
from rich.table import Table

from simulation.engine import Simulation
from simulation.scenario import parse_scenario

ROLLERS = [
    {"behaviour": "honest", "profile": "gpu-h100", "count": 400},
    {"behaviour": "honest", "profile": "gpu-4090", "count": 300},
    {"behaviour": "lazy", "count": 40},
    {"behaviour": "slow", "profile": "cpu", "count": 40},
    {"behaviour": "invalid", "count": 40},
    {"behaviour": "copycat", "count": 40},
    {"behaviour": "sybil", "profile": "gpu-h100", "count": 10, "stake": 4000, "identities": 4},
    {"behaviour": "cartel", "count": 40},
    {"behaviour": "overcommit", "count": 20, "stake": 6000},
    {"behaviour": "flaky", "count": 20, "mean_online": 3000, "mean_offline": 600},
]


def run(blocks: int, seed: int) -> dict:
    newcomers = {"behaviour": "newcomer", "count": 20, "join_block": blocks // 2 + 1}
    scenario = parse_scenario({"name": "benchmark", "seed": seed, "blocks": blocks,
                               "block_interval": 2.0, "rollers": [*ROLLERS, newcomers]})
    started, started_cpu = time.perf_counter(), time.process_time()
    simulation = Simulation(scenario)
    metrics = simulation.run().metrics
    seconds = time.perf_counter() - started
    cpu_seconds = time.process_time() - started_cpu
    return {"rollers": metrics["scenario"]["rollers"], "blocks": blocks,
            "events": simulation.core.sequence,
            "finalized_blocks": metrics["liveness"]["finalized_blocks"],
            "virtual_hours": metrics["liveness"]["virtual_hours"],
            "seconds": round(seconds, 2), "cpu_seconds": round(cpu_seconds, 2),
            "events_per_s": round(simulation.core.sequence / seconds)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args()
    result = run(args.blocks, args.seed)
    if args.json:
        print(json.dumps(result))
        return
    table = Table(title="simulation: mixed population, devnet parameters, a block every 2 s")
    for column in ("rollers", "blocks", "core events", "finalized", "virtual hours", "wall s",
                   "CPU s", "events/s"):
        table.add_column(column, justify="right")
    table.add_row(f"{result['rollers']:,}", f"{result['blocks']:,}", f"{result['events']:,}",
                  f"{result['finalized_blocks']:,}", f"{result['virtual_hours']:.2f}",
                  f"{result['seconds']:.2f}", f"{result['cpu_seconds']:.2f}",
                  f"{result['events_per_s']:,}")
    Console().print(table)


if __name__ == "__main__":
    main()
