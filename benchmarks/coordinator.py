"""Coordinator capacity on this machine: the real coordinator, with a fixed-delay prover, on the
embedded chain (the longer study; `provernet bench coordinator` measures it on anvil).

    .venv/bin/python benchmarks/coordinator.py [--rollers 4,16,32] [--seconds 60] [--delay 0.5]
        [--block-rate 0] [--backlog 3] [--poll-interval 0.5] [--decline-aggregation] [--json]

The set-up, the fixed-delay rollers (THEY EXIST ONLY FOR THESE MEASUREMENTS), the load and what
is measured are `provernet.bench_coordinator`'s: read its docstring. Here the chain is the
embedded one, in the coordinator's process, so the coordinator's load includes verifying each
aggregate and finalizing each batch on the embedded chain (its pairing check, ~1.5 s per batch in
py-evm) and settling it; `--decline-aggregation` makes the rollers decline aggregation tasks
instead (no fault), which leaves finalization out. On top of the shared figures this study
reports the CPU time of the coordinator's process (coordinator, embedded L1, the stub sequencer,
the committer) and, by wrapping (thread CPU time, nothing edited), the share of its main steps.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path

# Run as a script, this file's folder comes first on the path; drop it, so that imports resolve
# as in the package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import structlog  # (imported after the path fix)
import trio
from rich.console import Console
from rich.table import Table

from market_contracts.rules import MarketParams, batches_through
from p2p.messages import BATCH_TASK, BLOCK_TASK
from provernet.bench_coordinator import (
    NAME,
    Load,
    Window,
    roller_accounts,
    roller_proofs,
    run_load,
)
from provernet.market_report import percentile
from provernet.views import machine


# ====================================================================== measuring by wrapping


class Steps:
    """CPU seconds (of the calling thread) and calls per named step, wrapped around functions."""

    def __init__(self):
        self._lock = threading.Lock()
        self.cpu: dict[str, float] = defaultdict(float)
        self.wall: dict[str, float] = defaultdict(float)
        self.calls: Counter[str] = Counter()

    def reset(self) -> None:
        with self._lock:
            self.cpu.clear()
            self.wall.clear()
            self.calls.clear()

    def snapshot(self) -> dict[str, dict]:
        with self._lock:
            return {name: {"calls": self.calls[name], "cpu_s": round(self.cpu[name], 3),
                           "wall_s": round(self.wall[name], 3)} for name in self.calls}

    def wrap(self, name: str, fn):
        def timed(*args, **kwargs):
            cpu, wall = time.thread_time(), time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                with self._lock:
                    self.cpu[name] += time.thread_time() - cpu
                    self.wall[name] += time.perf_counter() - wall
                    self.calls[name] += 1

        timed.__wrapped__ = fn
        return timed


STEPS = Steps()
#: step -> what it is, in the CPU table
STEP_NAMES = {
    "verify_proof": "verify block proofs (coordinator.verifier: a call per batch, native checks)",
    "verify_aggregate": "verify an aggregate (zkp.verify_aggregate)",
    "l1_finalize": "finalize a batch on L1 (py-evm pairing precompile)",
    "l1_settle": "settle a batch on L1",
    "l1_public_inputs": "read a block's public inputs from L1",
    "l1_scan": "scan L1 logs",
    "l1_snapshot": "read the live roster and the snapshots, take roster snapshots",
    "l1_commit": "commit a block on L1 (the benchmark, as sequencer)",
}


def instrument() -> None:
    """Wrap the coordinator's heavy steps, where it looks them up at call time."""
    import coordinator.service as service
    import coordinator.verifier as verifier
    from coordinator.l1 import CoordinatorL1

    if hasattr(verifier.verify_batch, "__wrapped__"):
        return
    verifier.verify_batch = STEPS.wrap("verify_proof", verifier.verify_batch)
    service.verify_aggregate = STEPS.wrap("verify_aggregate", service.verify_aggregate)
    for method, step in (("finalize", "l1_finalize"), ("settle", "l1_settle"),
                         ("public_inputs", "l1_public_inputs"), ("scan", "l1_scan"),
                         ("refresh_snapshot", "l1_snapshot")):
        setattr(CoordinatorL1, method, STEPS.wrap(step, getattr(CoordinatorL1, method)))


class CountingWarnings:
    """A structlog processor: counts warnings and errors by event, keeps them off the table."""

    def __init__(self, verbose: bool):
        self.counts: Counter[str] = Counter()
        self.verbose = verbose

    def __call__(self, _logger, method: str, event: dict):
        self.counts[f"{method}: {event.get('event')}"] += 1
        if not self.verbose:
            raise structlog.DropEvent
        return event


def configure_logging(verbose: bool) -> CountingWarnings:
    counter = CountingWarnings(verbose)
    structlog.configure(
        processors=[counter, structlog.processors.add_log_level,
                    structlog.dev.ConsoleRenderer(colors=False)],
        wrapper_class=structlog.make_filtering_bound_logger(30),  # warnings and errors
        logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    import logging
    logging.basicConfig(level=logging.ERROR, stream=sys.stderr, force=True)
    return counter


# ====================================================================== set-up


def unit_costs(build, proof: dict, k: int) -> dict[str, float]:
    """Seconds of one core for one verification of a proof and of a K-proof aggregate."""
    from zkp.aggregate import aggregate, verify_aggregate
    from zkp.proof import Proof
    from zkp.verify import verify

    p = Proof(tuple(proof["a"]), tuple(map(tuple, proof["b"])), tuple(proof["c"]))
    start = time.thread_time()
    if not verify(build.setup.vk, p, proof["public"]).valid:
        raise SystemExit("the prover's proof of the skipped block does not verify")
    proof_s = time.thread_time() - start
    combined = aggregate([p] * k, [proof["public"]] * k)
    start = time.thread_time()
    if not verify_aggregate(build.setup.vk, combined, [proof["public"]] * k).valid:
        raise SystemExit("the aggregate of the skipped block's proofs does not verify")
    return {"verify_proof_s": round(proof_s, 4),
            "verify_aggregate_s": round(time.thread_time() - start, 4)}


# ====================================================================== one run


async def run_one(n: int, args, build, accounts, proofs, genesis_root: int,
                  warnings: CountingWarnings) -> dict:
    from market_contracts.chain import EmbeddedChain

    warnings.counts.clear()
    load = Load(sessions=n, seconds=args.seconds, delay=args.delay, block_rate=args.block_rate,
                backlog=args.backlog, poll_interval=args.poll_interval,
                aggregate=not args.decline_aggregation)
    steps: dict = {}
    with tempfile.TemporaryDirectory(prefix="coordinator-bench-") as tmp:
        window = await run_load(EmbeddedChain(), build, genesis_root, accounts, proofs, load,
                                Path(tmp), wrap_commit=lambda fn: STEPS.wrap("l1_commit", fn),
                                on_window_start=STEPS.reset,
                                on_window_end=lambda: steps.update(STEPS.snapshot()))
    result = summarize(args, window, steps, dict(warnings.counts))
    # from the rollers' ready to their stop: a little longer than the window
    result["rollers_process_cpu_s"] = round(window.rollers_cpu_s, 2)
    return result


def summarize(args, window: Window, steps: dict, warnings: dict) -> dict:
    seconds, cpu = window.seconds, window.cpu_s
    tasks, receipts, verified = window.tasks(), window.receipts(), window.verified()
    aggregates = [r for r in receipts if r["kind"] == BATCH_TASK]
    latencies = window.latencies()
    committed = [b for b, t in window.commits.items()
                 if b >= window.first and window.t0 <= t < window.t1]
    expected_tasks = len(committed) * window.m
    p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
    statuses_all = Counter(r["status"] for r in receipts)
    profile = {name: {**value, "share_of_process_cpu": round(value["cpu_s"] / cpu, 3) if cpu else 0}
               for name, value in sorted(steps.items(), key=lambda kv: -kv[1]["cpu_s"])}
    accounted = sum(value["cpu_s"] for value in steps.values())
    profile["other"] = {"calls": 0, "cpu_s": round(max(0.0, cpu - accounted), 3), "wall_s": 0.0,
                        "share_of_process_cpu": round(max(0.0, cpu - accounted) / cpu, 3)
                        if cpu else 0}
    top = max((k for k in profile if k != "other"), key=lambda k: profile[k]["cpu_s"],
              default="other")
    return {
        "rollers": window.sessions, "prover": f"{NAME} ({args.delay:g} s, precomputed proof)",
        "load": (f"{args.block_rate:g} blocks/s" if args.block_rate > 0 else "saturating")
                + (f", backlog {args.backlog}" if args.backlog else ""),
        "aggregation": "declined" if args.decline_aggregation else "real (zkp.aggregate)",
        "seconds": round(seconds, 2),
        "blocks_committed": len(committed),
        "blocks_per_s": round(len(committed) / seconds, 3),
        "tasks_received": len(tasks),
        "tasks_per_s": round(len(tasks) / seconds, 3),
        "block_tasks_per_s": round(sum(r["kind"] == BLOCK_TASK for r in tasks) / seconds, 3),
        "proofs_verified": len(verified),
        "proofs_verified_per_s": round(len(verified) / seconds, 3),
        "aggregates_verified": len(aggregates),
        "receipts": dict(statuses_all),
        "block_status_at_end": dict(window.statuses),
        "batches_finalized": batches_through(window.finalized, MarketParams.devnet().k),
        "commit_to_task_p50_ms": None if p50 is None else round(p50 * 1000),
        "commit_to_task_p99_ms": None if p99 is None else round(p99 * 1000),
        "commit_to_task_samples": len(latencies),
        "commit_to_task_missing": max(0, expected_tasks - sum(1 for r in window.records
            if r["what"] == "task" and r["kind"] == BLOCK_TASK and r["round"] == 0
            and r["index"] in committed)),
        "process_cpu_s": round(cpu, 2),
        "process_cpu_of_one_core": round(cpu / seconds, 3),
        "top_step": top,
        "cpu_steps": profile,
        "deploy_s": round(window.deploy_s, 1),
        "warnings": warnings,
    }


# ====================================================================== the whole benchmark


async def run_all(args, warnings: CountingWarnings) -> dict:
    from sequencer.accounts import AccountTree
    from sequencer.circuit_inputs import SMALL
    from zkp.builds import build_block_circuit
    from zkp.setup import default_cache_dir

    instrument()
    build = await trio.to_thread.run_sync(build_block_circuit, "small")
    genesis_root = AccountTree(SMALL.depth).root  # the empty-account genesis
    accounts = roller_accounts(max(args.rollers))
    started = time.perf_counter()
    proofs = await trio.to_thread.run_sync(roller_proofs, build, accounts, default_cache_dir())
    proving_s = time.perf_counter() - started
    if proofs[0]["public"][:2] != [genesis_root, genesis_root]:
        raise SystemExit("the skipped block's proof does not start from the deployed genesis root")
    costs = await trio.to_thread.run_sync(unit_costs, build, proofs[0], 4)
    runs = []
    for n in args.rollers:
        runs.append(await run_one(n, args, build, accounts, proofs, genesis_root, warnings))
    return {"machine": machine(), "command": " ".join(["benchmarks/coordinator.py", *sys.argv[1:]]),
            "prover": f"{NAME}: sleeps {args.delay:g} s, then submits a proof made before the run "
                      "(this benchmark only)",
            "proofs_ready_s": round(proving_s, 1), "unit_costs": costs, "runs": runs}


def print_table(result: dict) -> None:
    console = Console()
    if not console.is_terminal:
        console = Console(width=150)
    runs = result["runs"]
    first = runs[0]
    table = Table(title=f"coordinator capacity: {first['prover']}, load {first['load']}, "
                        f"aggregation {first['aggregation']}, {first['seconds']:.0f} s each")
    for column in ("connected rollers", "blocks/s", "tasks assigned/s", "proofs verified/s",
                   "aggregates verified", "batches finalized", "commit→task p50", "p99",
                   "CPU (of 1 core)", "top step (share of CPU)"):
        table.add_column(column, justify="left" if column.startswith("top") else "right",
                         no_wrap=column.startswith("top"))
    for r in runs:
        top = r["cpu_steps"][r["top_step"]]
        table.add_row(
            str(r["rollers"]), f"{r['blocks_per_s']:.2f}", f"{r['tasks_per_s']:.2f}",
            f"{r['proofs_verified_per_s']:.2f}", str(r["aggregates_verified"]),
            str(r["batches_finalized"]), _ms(r["commit_to_task_p50_ms"]),
            _ms(r["commit_to_task_p99_ms"]), f"{100 * r['process_cpu_of_one_core']:.0f}%",
            f"{r['top_step']} {100 * top['share_of_process_cpu']:.0f}%")
    console.print(table)

    steps = Table(title="CPU of the coordinator's process by step, over the window "
                        "(thread CPU time, by wrapping)")
    steps.add_column("step")
    for r in runs:
        steps.add_column(f"N={r['rollers']}: CPU s (calls)", justify="right")
    names = [name for name in STEP_NAMES if any(name in r["cpu_steps"] for r in runs)] + ["other"]
    for name in names:
        row = [STEP_NAMES.get(name, "other: event loop (libp2p, store, core), web3, sequencer")]
        for r in runs:
            s = r["cpu_steps"].get(name)
            row.append("-" if s is None else f"{s['cpu_s']:.1f} ({s['calls']})"
                       if name != "other" else f"{s['cpu_s']:.1f}")
        steps.add_row(*row)
    console.print(steps)
    costs = result["unit_costs"]
    console.print(f"one core, alone: verify a proof {costs['verify_proof_s']:.3f} s, an aggregate "
                  f"of 4 {costs['verify_aggregate_s']:.3f} s; {result['machine']}")
    for r in runs:
        console.print(f"N={r['rollers']}: receipts {r['receipts']}, {r['blocks_committed']} blocks "
                      f"committed in the window, at its end {r['block_status_at_end']}")
        if r["warnings"]:
            console.print(f"N={r['rollers']} coordinator warnings: {r['warnings']}")
        if r["commit_to_task_missing"]:
            console.print(f"N={r['rollers']}: {r['commit_to_task_missing']} first-round block "
                          "tasks had not arrived by the end")


def _ms(value) -> str:
    return "-" if value is None else f"{value:,} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rollers", type=lambda s: [int(x) for x in s.split(",")],
                        default=[4, 16, 32], help="connected roller counts, comma-separated")
    parser.add_argument("--seconds", type=float, default=60.0, help="measured window per count")
    parser.add_argument("--delay", type=float, default=0.5,
                        help=f"the {NAME}'s fixed proving delay, seconds")
    parser.add_argument("--block-rate", type=float, default=0.0,
                        help="blocks committed per second; 0: as fast as the backlog allows")
    parser.add_argument("--backlog", type=int, default=3,
                        help="commit only while fewer committed blocks wait for a first valid "
                             "proof; 0: no bound")
    parser.add_argument("--poll-interval", type=float, default=0.5,
                        help="the coordinator's L1 poll interval, seconds (devnet's 0.5)")
    parser.add_argument("--decline-aggregation", action="store_true",
                        help=f"the {NAME}s decline batch tasks: no finalization")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--verbose", action="store_true", help="show the coordinator's warnings")
    args = parser.parse_args()
    if args.block_rate <= 0 and args.backlog <= 0:
        parser.error("with --block-rate 0 a --backlog is needed, or blocks pile up without bound")
    warnings = configure_logging(args.verbose)
    result = trio.run(run_all, args, warnings)
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        print_table(result)


if __name__ == "__main__":
    main()
