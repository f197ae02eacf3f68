"""Time the native BN254 kernels: G1 MSM, G2 MSM and the NTT, best of several runs.

    .venv/bin/python benchmarks/kernels.py [--sizes 10 12 14 16] [--repeat 3] [--threads N]
                                           [--kernels adx|portable] [--snarkjs]

Bases are random multiples of the generators (made with the library's fixed-base
multiplication), scalars random below r. --snarkjs times ffjavascript (snarkjs's arithmetic:
wasm, its own worker threads) in node on the same bases and scalars, for comparison.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from zkp import native
from zkp.field import R, ints_to_limbs
from zkp.points import g1_to_montgomery, g2_to_montgomery
from zkp.setup import G1_GENERATOR, G2_GENERATOR

REPO = Path(__file__).resolve().parents[1]
# ffjavascript in node, on the files this script writes: best of `repeat` in milliseconds.
FFJAVASCRIPT = """
import { buildBn128 } from "ffjavascript";
import { readFileSync } from "fs";
const [dir, repeat] = [process.argv[1], Number(process.argv[2])];
const curve = await buildBn128();
const read = (name) => new Uint8Array(readFileSync(`${dir}/${name}`));
const best = async (f) => {
    let ms = Infinity;
    for (let i = 0; i < repeat; i++) {
        const start = performance.now();
        await f();
        ms = Math.min(ms, performance.now() - start);
    }
    return ms;
};
const scalars = read("scalars"), g1 = read("g1"), g2 = read("g2"), fr = read("fr");
console.log(JSON.stringify({
    threads: curve.tm.concurrency,
    g1: await best(() => curve.G1.multiExpAffine(g1, scalars)),
    g2: await best(() => curve.G2.multiExpAffine(g2, scalars)),
    ntt: await best(() => curve.Fr.fft(fr)),
}));
await curve.terminate();
"""


def best_ms(function, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best * 1000


def inputs(log_n: int, rng: random.Random):
    n = 1 << log_n
    logs = ints_to_limbs([rng.randrange(R) for _ in range(n)])
    g1 = native.g1_mul_many(g1_to_montgomery([G1_GENERATOR])[0], logs)
    g2 = native.g2_mul_many(g2_to_montgomery([G2_GENERATOR])[0], logs)
    scalars = ints_to_limbs([rng.randrange(R) for _ in range(n)])
    fr = native.fr_to_montgomery(ints_to_limbs([rng.randrange(R) for _ in range(n)]))
    return g1, g2, scalars, fr


def ffjavascript_ms(g1, g2, scalars, fr, repeat: int) -> dict:
    with tempfile.TemporaryDirectory() as d:
        for name, array in (("g1", g1), ("g2", g2), ("scalars", scalars), ("fr", fr)):
            (Path(d) / name).write_bytes(array.tobytes())
        done = subprocess.run(
            ["node", "--input-type=module", "-e", FFJAVASCRIPT, d, str(repeat)],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        )
    return json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 12, 14, 16], help="log2 n")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=native.threads)
    parser.add_argument("--kernels", choices=native.KERNELS, help="default: the best this CPU runs")
    parser.add_argument("--snarkjs", action="store_true", help="also time ffjavascript in node")
    args = parser.parse_args()
    if args.kernels:
        native.use_kernels(args.kernels)
    native.threads = args.threads

    table = Table(
        title=f"native BN254 kernels ({native.kernels()}, {args.threads} threads), "
        f"best of {args.repeat}, ms"
    )
    table.add_column("n", justify="right")
    for name in ("G1 MSM", "G2 MSM", "NTT"):
        table.add_column(name, justify="right")
        if args.snarkjs:
            table.add_column(f"{name} snarkjs", justify="right")

    rng = random.Random(1)
    for log_n in args.sizes:
        g1, g2, scalars, fr = inputs(log_n, rng)
        ours = [
            best_ms(lambda: native.msm_g1(g1, scalars), args.repeat),
            best_ms(lambda: native.msm_g2(g2, scalars), args.repeat),
            best_ms(lambda: native.ntt(fr), args.repeat),
        ]
        row = [f"2^{log_n}"]
        if args.snarkjs:
            theirs = ffjavascript_ms(g1, g2, scalars, fr, args.repeat)
            for mine, key in zip(ours, ("g1", "g2", "ntt")):
                row += [f"{mine:.1f}", f"{theirs[key]:.1f} ({theirs[key] / mine:.1f}x)"]
        else:
            row += [f"{mine:.1f}" for mine in ours]
        table.add_row(*row)
    Console().print(table)
    if args.snarkjs:
        print("snarkjs: ffjavascript's multiExpAffine and Fr.fft with its default worker threads;")
        print("(Nx) = snarkjs time / ours")


if __name__ == "__main__":
    main()
