"""The contract-versus-ledger state machine at depth: many random operation sequences through
RollerStaking v2 on anvil and through the pure ledger, every invariant checked after every step.

    .venv/bin/python benchmarks/invariants.py --sequences 1000 --depth 100 [--workers 2]
        [--max-wall-s S] [--json]

The machine is `MarketMachine` of tests/market_contracts/test_ledger_vs_contract.py (its
docstring lists the invariants); `make test` runs it a few short sequences, this runs it as long as
asked. Each worker starts its own anvil and market (split mode for even workers, lottery mode for
odd ones) and runs its share of the sequences, CHUNK at a time, until they are done or
`--max-wall-s` has passed; hypothesis stops a worker at its first failure, shrinks it and the
worker reports it. Prints a table, or (`--json`) `{"sequences", "steps", "failures", "wall_s",
...}`: `sequences` counts the sequences that ran `depth` random steps after the machine's
initialization (hypothesis starts each run with a few shorter ones: `short_sequences`), `steps`
every random step taken (after each, every invariant was checked).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import time
import traceback
from pathlib import Path

# Run as a script, this file's folder comes first on the path (and benchmarks/sequencer.py would
# shadow the sequencer package); drop it, so that imports resolve as in the package. The state
# machine and its world are the tests' own: their folders go on the path.
REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path[:0] = [str(REPO_ROOT / "tests" / "market_contracts"), str(REPO_ROOT / "tests"), str(REPO_ROOT)]

from hypothesis import HealthCheck, settings  # (imported after the path fix)
from hypothesis.stateful import run_state_machine_as_test
from rich.console import Console
from rich.table import Table

from market_contracts.anvil import run_anvil
from market_contracts.chain import RpcChain
from market_contracts.rules import MarketParams, RewardMode

#: Without a deadline: one step is a few transactions and reads on a real node.
SEQUENCE_SETTINGS = dict(deadline=None, database=None, suppress_health_check=list(HealthCheck))
#: Sequences per hypothesis run: small enough that `--max-wall-s` is kept to within minutes on
#: a loaded machine and that each run's progress is printed, large enough that hypothesis's
#: few short opening sequences stay few.
CHUNK = 25


def run_worker(worker: int, sequences: int, depth: int, max_wall_s: float) -> dict:
    """Runs `sequences` sequences of `depth` steps on a market of its own, for `max_wall_s` at
    most; the tally."""
    from conftest import MarketWorld  # tests/market_contracts/conftest.py
    from test_ledger_vs_contract import MarketMachine, stage

    mode = RewardMode.SPLIT if worker % 2 == 0 else RewardMode.LOTTERY
    tally = {"worker": worker, "mode": mode.name.lower(), "sequences": 0, "short_sequences": 0,
             "steps": 0, "failures": 0, "failure": None}

    class Counted(MarketMachine):
        def teardown(self):
            # Checked once after the initialization, then once after each step.
            steps = self.checks - 1
            tally["sequences" if steps >= depth else "short_sequences"] += 1
            tally["steps"] += steps
            super().teardown()

    with run_anvil() as node:
        world = MarketWorld(RpcChain(node.url), MarketParams.devnet().replace(reward_mode=mode))
        staged = stage(world)
        started = time.monotonic()
        while (tally["sequences"] < sequences and not tally["failures"]
               and time.monotonic() - started < max_wall_s):
            try:
                # Hypothesis counts the initialization as a step.
                run_state_machine_as_test(lambda: Counted(staged), settings=settings(
                    max_examples=min(CHUNK, sequences - tally["sequences"]),
                    stateful_step_count=depth + 1, **SEQUENCE_SETTINGS))
            except Exception:  # noqa: BLE001 (the falsifying example is the report, not a crash)
                tally["failures"] += 1
                tally["failure"] = traceback.format_exc()
            print(f"worker {worker}: {tally['sequences']} sequences, {tally['steps']} steps, "
                  f"{tally['failures']} failures, {time.monotonic() - started:.0f} s",
                  file=sys.stderr, flush=True)
        tally["wall_s"] = round(time.monotonic() - started, 1)
    return tally


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sequences", type=int, default=1000)
    parser.add_argument("--depth", type=int, default=100, help="steps per sequence")
    parser.add_argument("--workers", type=int, default=1,
                        help="processes, each with its own anvil (at most one per core)")
    parser.add_argument("--max-wall-s", type=float, default=float("inf"),
                        help="stop starting new sequences after this many seconds")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.sequences < 1 or args.depth < 1 or args.workers < 1:
        parser.error("--sequences, --depth and --workers must be positive")
    shares = [args.sequences // args.workers + (w < args.sequences % args.workers)
              for w in range(args.workers)]
    started = time.monotonic()
    if args.workers == 1:
        tallies = [run_worker(0, shares[0], args.depth, args.max_wall_s)]
    else:
        with multiprocessing.get_context("spawn").Pool(args.workers) as pool:
            tallies = pool.starmap(run_worker, [(w, n, args.depth, args.max_wall_s)
                                                for w, n in enumerate(shares) if n])
    wall = time.monotonic() - started
    result = {
        "sequences": sum(t["sequences"] for t in tallies),
        "short_sequences": sum(t["short_sequences"] for t in tallies),
        "steps": sum(t["steps"] for t in tallies),
        "depth": args.depth,
        "failures": sum(t["failures"] for t in tallies),
        "wall_s": round(wall, 1),
        "workers": tallies,
    }
    if args.json:
        print(json.dumps(result))
    else:
        table = Table("worker", "mode", "sequences", "steps", "failures", "wall s")
        for t in tallies:
            table.add_row(str(t["worker"]), t["mode"], str(t["sequences"]), str(t["steps"]),
                          str(t["failures"]), str(t["wall_s"]))
        table.add_row("all", "", str(result["sequences"]), str(result["steps"]),
                      str(result["failures"]), str(result["wall_s"]))
        Console().print(table)
        for t in tallies:
            if t["failure"]:
                print(t["failure"], file=sys.stderr)
    sys.exit(1 if result["failures"] else 0)


if __name__ == "__main__":
    main()
