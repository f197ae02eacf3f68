"""Start-up as a user sees it: `provernet --help`, and `provernet zkp prove` against snarkjs.

    .venv/bin/python benchmarks/cli.py [--runs 5] [--json]

Every time is the wall time of the real command run as a subprocess, start-up included, the
median of --runs runs; the commands take turns, round by round, so that load from other work
on the machine falls on all of them alike. On block_small (zkp/circuits/block_small.circom, a
2^15 domain, our development key) with an empty block's inputs (provernet.calibration):
  help:         `provernet --help`
  prove, cold:  `provernet zkp prove --wasm --input --backend cpu` with an empty cache
                directory, so the witness calculator's wasm is compiled
  prove, warm:  the same with the compiled wasm in the cache (zkp.witness), as from the
                second run on
  snarkjs:      `snarkjs wtns calculate` then `snarkjs groth16 prove`, the two summed
snarkjs verifies our proof first. The target (issue 15): prove, witness included, in at most
half of snarkjs's time, and `--help` within 0.3 s.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Run as a script, this file's folder comes first on the path; drop it, so that imports resolve
# as in the package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from rich.console import Console  # (imported after the path fix)
from rich.table import Table

from provernet.calibration import empty_block_inputs
from provernet.services import provernet_binary
from zkp.builds import build_block_circuit
from zkp.zkey import read_zkey

REPO = Path(__file__).resolve().parents[1]
SNARKJS = REPO / "node_modules" / ".bin" / "snarkjs"
PROVERNET = provernet_binary()
#: who the benchmark block pays its reward to: any address does, the proving cost is the same
PROVER = "0x" + "11" * 20
#: the targets of issue 15: `--help` within this many seconds, and prove (warm) within this
#: fraction of snarkjs's witness and prove
HELP_TARGET_S = 0.3
PROVE_TARGET_RATIO = 0.5


def timed(command: list, env: dict | None = None) -> float:
    """Wall seconds of one run of `command`, which must succeed."""
    started = time.perf_counter()
    done = subprocess.run([str(part) for part in command], capture_output=True, text=True,
                          env=env)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, command))} failed:\n{done.stdout}{done.stderr}")
    return seconds


def measure(runs: int, work: Path) -> dict:
    build = build_block_circuit("small")
    inputs = work / "input.json"
    inputs.write_text(json.dumps(empty_block_inputs(PROVER)("block_small")))
    prove = [PROVERNET, "zkp", "prove", "--zkey", build.zkey, "--wasm", build.wasm,
             "--input", inputs, "--proof", work / "proof.json", "--public", work / "public.json",
             "--backend", "cpu"]
    warm_env = dict(os.environ, PROVERNET_CACHE=str(work / "warm-cache"))
    timed(prove, warm_env)  # fills the warm cache
    check = subprocess.run([SNARKJS, "groth16", "verify", build.verification_key,
                            work / "public.json", work / "proof.json"], capture_output=True,
                           text=True)
    if "OK" not in check.stdout:
        raise SystemExit(f"snarkjs rejected our proof: {check.stdout}{check.stderr}")
    witness = [SNARKJS, "wtns", "calculate", build.wasm, inputs, work / "witness.wtns"]
    snarkjs_prove = [SNARKJS, "groth16", "prove", build.zkey, work / "witness.wtns",
                     work / "snarkjs_proof.json", work / "snarkjs_public.json"]
    times: dict[str, list[float]] = {"help": [], "cold": [], "warm": [], "snarkjs": []}
    for round_ in range(runs):
        times["help"].append(timed([PROVERNET, "--help"]))
        cold_env = dict(os.environ, PROVERNET_CACHE=str(work / f"cold-cache-{round_}"))
        times["cold"].append(timed(prove, cold_env))
        times["warm"].append(timed(prove, warm_env))
        times["snarkjs"].append(timed(witness) + timed(snarkjs_prove))
    medians = {name: statistics.median(values) for name, values in times.items()}
    return {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "circuit": build.name,
        "domain": f"2^{read_zkey(build.zkey).domain_size.bit_length() - 1}",
        "runs": runs,
        "seconds": {name: round(value, 3) for name, value in medians.items()},
        "all_seconds": {name: [round(v, 3) for v in values] for name, values in times.items()},
        "cold_over_snarkjs": round(medians["cold"] / medians["snarkjs"], 3),
        "warm_over_snarkjs": round(medians["warm"] / medians["snarkjs"], 3),
        "help_target_met": medians["help"] <= HELP_TARGET_S,
        "prove_target_met": medians["warm"] <= PROVE_TARGET_RATIO * medians["snarkjs"],
    }


def show(result: dict) -> None:
    seconds = result["seconds"]
    table = Table(title=f"start-up, {result['circuit']} ({result['domain']} domain): wall "
                        f"seconds, median of {result['runs']} runs, start-up included")
    for heading in ("command", "provernet", "snarkjs", "provernet / snarkjs"):
        table.add_column(heading, justify="left" if heading == "command" else "right")
    table.add_row("provernet --help", f"{seconds['help']:.3f}", "", "")
    table.add_row("prove + witness, cold wasm cache", f"{seconds['cold']:.3f}",
                  f"{seconds['snarkjs']:.3f}", f"{result['cold_over_snarkjs']:.2f}")
    table.add_row("prove + witness, warm wasm cache", f"{seconds['warm']:.3f}",
                  f"{seconds['snarkjs']:.3f}", f"{result['warm_over_snarkjs']:.2f}")
    console = Console()
    console.print(f"machine: {result['machine']}", highlight=False)
    console.print(table)
    console.print(f"targets: --help <= {HELP_TARGET_S} s "
                  f"{'met' if result['help_target_met'] else '[red]NOT met[/]'}; prove (warm) <= "
                  f"{PROVE_TARGET_RATIO} x snarkjs "
                  f"{'met' if result['prove_target_met'] else '[red]NOT met[/]'}", highlight=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5,
                        help="runs of each command; the median counts")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="provernet-cli-bench-") as work:
        result = measure(args.runs, Path(work))
    if args.json:
        print(json.dumps(result))
        return
    show(result)


if __name__ == "__main__":
    main()
