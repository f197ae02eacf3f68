"""Constraints of a block's data commitment: SHA-256 of packed bytes against today's Poseidon chain.

    .venv/bin/python benchmarks/data_commitment.py [--json]

For blocks of N = 2, 4, 16, 64 transfers, each circuit compiled here (circom, --O2 as the block
circuit's builds, zkp.builds.OPTIMIZATION) and its constraints read from the .r1cs:

- sha256: zkp/circuits/data_commitment.circom's PackedDataCommitment over N * 12 bytes
  (sequencer/compact.py's packing): SHA-256 of ceil((96 N + 65) / 512) blocks of 512 bits, 8
  range-check constraints a byte, the digest mod 2^253 as one output.
- poseidon_chain: the dataHash of zkp/circuits/block.circom alone, as it writes it (CHAIN below:
  one Poseidon(3) of (chain, packed word, recipient) a transfer and the `enabled` selector),
  compiled on its own since block.circom has no separate template for it.
- block: the whole block circuit, Block(N, 8, the devnet's chain id) (the small profile's depth
  and chain id; block_small is N = 2), for N in BLOCK_SIZES only: its compile grows with N (the
  large profile, 32 transfers at depth 20, is not compiled here).

docs/rollup-data.md has the figures and what they mean.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

# Run as a script, this file's folder comes first on the path (and benchmarks/sequencer.py would
# shadow the sequencer package); drop it, so that imports resolve as in the package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from rich.console import Console  # (imported after the path fix)
from rich.table import Table

from sequencer.circuit_inputs import SMALL
from sequencer.compact import TRANSFER_BYTES
from zkp.builds import CIRCUITS_DIR, OPTIMIZATION
from zkp.circom import NODE_MODULES, compile_circuit
from zkp.r1cs import read_r1cs

SIZES = (2, 4, 16, 64)
#: block circuits compiled: 2 is block_small; 16 takes 60-70 s on this 2-core machine, 64 is left out
BLOCK_SIZES = (2, 4, 16)
#: block.circom's dataHash (its chainStep lines), as a circuit of its own
CHAIN = """
include "circomlib/circuits/poseidon.circom";

template DataHashChain(N) {
    signal input enabled[N];
    signal input packed[N];
    signal input toAddress[N];
    signal output dataHash;
    component chainStep[N];
    signal chain[N + 1];
    chain[0] <== 0;
    for (var i = 0; i < N; i++) {
        chainStep[i] = Poseidon(3);
        chainStep[i].inputs[0] <== chain[i];
        chainStep[i].inputs[1] <== packed[i];
        chainStep[i].inputs[2] <== toAddress[i];
        chain[i + 1] <== chain[i] + enabled[i] * (chainStep[i].out - chain[i]);
    }
    dataHash <== chain[N];
}
"""


def sources(n: int) -> dict[str, str]:
    """Each measured circuit's source for blocks of `n` transfers, by column."""
    circuits = {
        "sha256": 'include "data_commitment.circom";\n'
                  f"component main = PackedDataCommitment({n * TRANSFER_BYTES});\n",
        "poseidon_chain": CHAIN + f"component main = DataHashChain({n});\n",
    }
    if n in BLOCK_SIZES:
        circuits["block"] = (
            'include "block.circom";\ncomponent main {public [oldRoot, newRoot, dataHash, '
            f"prover]}} = Block({n}, {SMALL.depth}, {SMALL.chain_id});\n")
    return circuits


def constraints(folder: Path, name: str, body: str) -> tuple[int, float]:
    """The constraints of the circuit `body` (a main component and what it needs) at the block
    circuit's optimisation level, and the compile's seconds."""
    source = folder / f"{name}.circom"
    source.write_text("pragma circom 2.0.0;\n" + body)
    start = time.monotonic()
    compiled = compile_circuit(source, folder / name, (NODE_MODULES, CIRCUITS_DIR), OPTIMIZATION)
    seconds = time.monotonic() - start
    return len(read_r1cs(compiled.r1cs).constraints), seconds


def measure(progress=lambda _: None) -> dict:
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for n in SIZES:
            row = {"n": n, "packed_bytes": n * TRANSFER_BYTES}
            for column, body in sources(n).items():
                progress(f"compiling {column} for N = {n}")
                count, seconds = constraints(Path(scratch), f"{column}_{n}", body)
                row[column] = count
                row[f"{column}_per_transfer"] = count // n
                row[f"{column}_compile_s"] = round(seconds, 1)
            rows.append(row)
    return {"machine": f"{platform.machine()}, {platform.system()}, Python "
                       f"{platform.python_version()}", "optimization": f"--O{OPTIMIZATION}",
            "rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    as_json = parser.parse_args().json
    status = Console(stderr=True).status("starting")
    with status:
        results = measure(status.update)
    if as_json:
        print(json.dumps(results, indent=1))
        return
    table = Table(title=f"Constraints of a block's data commitment (circom {results['optimization']})")
    for column in ("N", "packed bytes", "SHA-256", "per transfer", "Poseidon chain",
                   "per transfer", "block circuit", "per transfer"):
        table.add_column(column, justify="right")
    for row in results["rows"]:
        cells = [str(row["n"]), str(row["packed_bytes"])]
        for column in ("sha256", "poseidon_chain", "block"):
            cells += ([f"{row[column]:,}", f"{row[f'{column}_per_transfer']:,}"]
                      if column in row else ["", ""])
        table.add_row(*cells)
    Console().print(table)


if __name__ == "__main__":
    main()
