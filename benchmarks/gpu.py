"""The gpu backend against the cpu backend on this machine, at the sizes its targets are set at.

    python benchmarks/gpu.py [provernet zkp bench options, e.g. --max-log 20 --circuits random20]

This is `provernet zkp bench --backend gpu` (provernet/commands/zkp.py) with its defaults: G1
MSM 2^16..2^24, G2 MSM 2^16..2^22, NTT 2^16..2^24, and whole proofs of the large block circuit
and of a 2^20-constraint Poseidon chain. It prints the table and writes gpu.json to $OUT when set
(the device machine's result folder), else to benchmarks/out/. Targets on an H100: G1 MSM 2^20
<= 10 ms, a 2^20-constraint proof <= 250 ms, the GPU >= 20x the CPU at 2^20.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from provernet.commands.zkp import bench_command


def main() -> None:
    out = Path(os.environ.get("OUT") or Path(__file__).resolve().parent / "out")
    out.mkdir(parents=True, exist_ok=True)
    bench_command.main(["--backend", "gpu", "--json", str(out / "gpu.json"), *sys.argv[1:]],
                       prog_name="benchmarks/gpu.py")


if __name__ == "__main__":
    main()
