"""Proving speed: our `cpu` backend against snarkjs on the same .zkey, kernels by size, and
verification gas single against batched.

    .venv/bin/python benchmarks/prove.py [--sizes 10,12,14,16] [--runs 3] [--no-gas]

For each size 2^k it builds a Poseidon-chain circuit just under 2^k constraints (domain 2^k),
makes our development key once (cached), computes one witness, and times, best of --runs:
  ours:    read the .zkey and the .wtns, prove (what `snarkjs groth16 prove` does)
  snarkjs: snarkjs.groth16.prove(zkey, wtns) in one warm Node process (benchmarks/
           snarkjs_prove.mjs), so Node's start-up is not counted against it
Every proof of ours is checked by snarkjs before it is timed. Writes benchmarks/out/prove.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import time
from pathlib import Path

import kernels
from rich.console import Console
from rich.table import Table

from provernet import verifier_gas
from zkp import native
from zkp.builds import chain_length, poseidon_chain
from zkp.groth16 import Prover
from zkp.r1cs import read_r1cs
from zkp.setup import cached_setup
from zkp.snarkjs_json import write_proof, write_public_signals
from zkp.witness import WitnessCalculator
from zkp.wtns import read_wtns, write_wtns
from zkp.zkey import read_zkey

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
SNARKJS = HERE.parent / "node_modules" / ".bin" / "snarkjs"
GAS_KS = (1, 2, 4, 8, 16, 32)
KERNEL_SIZES = (10, 12, 14, 16)

console = Console()


def prove_row(log_size: int, runs: int) -> dict:
    length = chain_length(log_size)
    folder = poseidon_chain(length)
    name = f"chain_{length}"
    r1cs_path = folder / f"{name}.r1cs"
    started = time.perf_counter()
    keys = cached_setup(r1cs_path)
    setup_seconds = time.perf_counter() - started
    wtns = OUT / f"{name}.wtns"
    witness = WitnessCalculator(folder / f"{name}_js" / f"{name}.wasm").calculate(
        {"a": 1, "b": 2, "c": 3})
    write_wtns(wtns, witness)

    def ours():
        return Prover(read_zkey(keys.zkey), "cpu").prove(read_wtns(wtns))

    proof, public = ours()
    write_proof(OUT / "proof.json", proof)
    write_public_signals(OUT / "public.json", public)
    check = subprocess.run([SNARKJS, "groth16", "verify", keys.verification_key,
                            OUT / "public.json", OUT / "proof.json"], capture_output=True, text=True)
    if "OK" not in check.stdout:
        raise SystemExit(f"snarkjs rejected our proof at 2^{log_size}: {check.stdout}")
    ours_seconds = kernels.best_ms(ours, runs) / 1000
    theirs = subprocess.run(["node", HERE / "snarkjs_prove.mjs", keys.zkey, wtns, str(runs)],
                            capture_output=True, text=True, check=True)
    snarkjs_seconds = min(json.loads(theirs.stdout))
    return {
        "log_domain": log_size,
        "constraints": len(read_r1cs(r1cs_path).constraints),
        "setup_s": setup_seconds if keys.made else None,
        "ours_s": ours_seconds,
        "snarkjs_s": snarkjs_seconds,
        "speedup": snarkjs_seconds / ours_seconds,
    }


def kernel_rows(runs: int) -> list[dict]:
    rng = random.Random(1)
    rows = []
    for log_n in KERNEL_SIZES:
        g1, g2, scalars, fr = kernels.inputs(log_n, rng)
        rows.append({
            "log_n": log_n,
            "msm_g1_ms": kernels.best_ms(lambda: native.msm_g1(g1, scalars), runs),
            "msm_g2_ms": kernels.best_ms(lambda: native.msm_g2(g2, scalars), runs),
            "ntt_ms": kernels.best_ms(lambda: native.ntt(fr), runs),
        })
    return rows


def show(title: str, rows: list[dict], columns: dict[str, str]) -> None:
    table = Table(title=title)
    for heading in columns.values():
        table.add_column(heading, justify="right")
    for row in rows:
        table.add_row(*(_cell(row[key]) for key in columns))
    console.print(table)


def _cell(value) -> str:
    if value is None:
        return "cached"
    if isinstance(value, float):
        return f"{value:.3g}" if value < 100 else f"{value:,.0f}"
    return f"{value:,}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10,12,14,16", help="log2 domain sizes")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-gas", action="store_true", help="skip the gas table (about a minute)")
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    machine = f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, " \
              f"{native.default_threads()} threads, kernels {native.kernels()}"
    console.print(f"machine: {machine}")

    proofs = []
    for log_size in (int(s) for s in args.sizes.split(",")):
        with console.status(f"2^{log_size}: compile, set up, prove"):
            proofs.append(prove_row(log_size, args.runs))
    show("Groth16 prove: ours (cpu) against snarkjs, same .zkey and witness, seconds", proofs, {
        "log_domain": "domain 2^k", "constraints": "constraints", "setup_s": "our setup",
        "ours_s": "ours", "snarkjs_s": "snarkjs", "speedup": "snarkjs / ours"})

    with console.status("kernels"):
        kernels = kernel_rows(args.runs)
    show("Kernels alone (cpu), milliseconds", kernels,
         {"log_n": "log2 n", "msm_g1_ms": "G1 MSM", "msm_g2_ms": "G2 MSM", "ntt_ms": "NTT"})

    gas = []
    if not args.no_gas:
        with console.status("gas") as status:
            gas = [f.as_json() for f in verifier_gas.measure(list(GAS_KS), progress=status.update)]
        show("Verification gas (calldata included, 21,000 base not)", gas, {
            "k": "K", "single_verify_gas": "single", "aggregate_verify_gas": "batch of K",
            "gas_per_proof": "per proof"})

    report = {"machine": machine, "proofs": proofs, "kernels": kernels, "gas": gas}
    (OUT / "prove.json").write_text(json.dumps(report, indent=1) + "\n")
    console.print(f"wrote {OUT / 'prove.json'}")


if __name__ == "__main__":
    main()
