"""A block's data commitment: constraints of SHA-256 of packed bytes against today's Poseidon chain,
and the L1 price of the packed block's calldata.

    .venv/bin/python benchmarks/data_commitment.py [--json]

For blocks of N = 2, 4, 16, 64 transfers, each circuit compiled here (circom, --O2 as the block
circuit's builds, zkp.builds.OPTIMIZATION) and its constraints read from the .r1cs:

- sha256: zkp/circuits/data_commitment.circom's PackedDataCommitment over N * 11 bytes (N
  TRANSFER records, sequencer/block_data.py): SHA-256 of ceil((88 N + 65) / 512) blocks of 512
  bits, 8 range-check constraints a byte, the digest mod 2^253 as one output.
- poseidon_chain: the dataHash the block circuit had before issue 13 (CHAIN below: one
  Poseidon(3) of (chain, packed word, recipient) a transfer and an `enabled` selector), for
  comparison.
- block: the whole block circuit, Block(N, 8, the devnet's chain id, 1 entry) (the small
  profile's depth, chain id and entries; block_small is N = 2), for N in BLOCK_SIZES only: its
  compile grows with N (the large profile, 32 records at depth 20, is not compiled here). Its
  commitment covers the N records and the entry, SHA-256 inside.

Calldata: on an anvil started here, for each N, one transaction carrying the candidate commit's
calldata, `commitBlock(uint256 newRoot, bytes data)` with the N transfers' records
(block_data.calldata of posted_transfers of provernet.rollup_gas, amounts rounded as a wallet
would, block_data.round_amount), sent
to an account with no code: its gasUsed is the 21,000 base and the calldata's price alone, the
EIP-7623 floor 21,000 + 10 tokens (a zero byte one token, any other four) since nothing executes.
A commitBlock that executes E gas pays 21,000 + max(4 tokens + E, 10 tokens).

docs/rollup-data.md has the figures and what they mean.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import sys
import tempfile
import time
from pathlib import Path

# Run as a script, this file's folder comes first on the path (and benchmarks/sequencer.py would
# shadow the sequencer package); drop it, so that imports resolve as in the package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from eth_abi import encode  # (imported after the path fix)
from eth_utils import function_signature_to_4byte_selector
from rich.console import Console
from rich.table import Table

from market_contracts.anvil import run_anvil
from market_contracts.chain import RpcChain
from provernet.rollup_gas import SEED, l1_description, posted_transfers
from sequencer.circuit_inputs import SMALL
from sequencer.block_data import RECORD_BYTES, Op, Record, calldata, round_amount
from zkp.builds import CIRCUITS_DIR, OPTIMIZATION
from zkp.circom import NODE_MODULES, compile_circuit
from zkp.field import R
from zkp.r1cs import read_r1cs

SIZES = (2, 4, 16, 64)
#: block circuits compiled: 2 is block_small; 16 takes 60-70 s on this 2-core machine; not 64
BLOCK_SIZES = (2, 4, 16)
#: the block circuit's dataHash before issue 13 (its chainStep lines), as a circuit of its own
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
#: the candidate commit: the old root is the contract's own (docs/rollup-data.md, storage)
CANDIDATE_COMMIT = "commitBlock(uint256,bytes)"
#: EIP-7623: a zero byte of calldata is one token, any other four; the floor is 10 gas a token
NONZERO_BYTE_TOKENS = 4
FLOOR_GAS_PER_TOKEN = 10
STANDARD_GAS_PER_TOKEN = 4
#: sent to no code, so that the receipt holds the base and the calldata's price only
NO_CODE = "0x000000000000000000000000000000000000dEaD"


def sources(n: int) -> dict[str, str]:
    """Each measured circuit's source for blocks of `n` transfers, by column."""
    circuits = {
        "sha256": 'include "data_commitment.circom";\n'
                  f"component main = PackedDataCommitment({n * RECORD_BYTES});\n",
        "poseidon_chain": CHAIN + f"component main = DataHashChain({n});\n",
    }
    if n in BLOCK_SIZES:
        circuits["block"] = (
            'include "block.circom";\ncomponent main {public [oldRoot, newRoot, dataHash, '
            f"prover]}} = Block({n}, {SMALL.depth}, {SMALL.chain_id}, {SMALL.entries});\n")
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


def candidate_calldata(n: int) -> bytes:
    """The commit's calldata for a block of `n` transfers as a busy rollup posts them."""
    rng = random.Random(f"{SEED}-{n}")
    records = [Record(Op.TRANSFER, t.from_index, t.to_index, round_amount(t.amount))
               for t in posted_transfers(n, rng)]
    return (function_signature_to_4byte_selector(CANDIDATE_COMMIT)
            + encode(["uint256", "bytes"], [rng.randrange(R), calldata(records)]))


def tokens(calldata: bytes) -> int:
    zero = calldata.count(0)
    return zero + NONZERO_BYTE_TOKENS * (len(calldata) - zero)


def calldata_rows(progress=lambda _: None) -> tuple[str, list[dict]]:
    """The node, and per N the candidate calldata's size, tokens, floor and gasUsed on it."""
    progress("starting anvil")
    with run_anvil() as node:
        chain = RpcChain(node.url)
        sender = chain.dev_accounts[0]
        rows = []
        for n in SIZES:
            progress(f"sending the calldata of {n} transfers")
            data = candidate_calldata(n)
            receipt = chain.transact(sender, to=NO_CODE, data=data)
            count = tokens(data)
            rows.append({"n": n, "calldata_bytes": len(data),
                         "nonzero_bytes": len(data) - data.count(0), "tokens": count,
                         "gas_used": receipt["gasUsed"],
                         "floor_gas": 21_000 + FLOOR_GAS_PER_TOKEN * count,
                         "standard_gas": 21_000 + STANDARD_GAS_PER_TOKEN * count})
        return l1_description(chain), rows


def measure(progress=lambda _: None) -> dict:
    l1, posted = calldata_rows(progress)
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for n in SIZES:
            row = {"n": n, "packed_bytes": n * RECORD_BYTES}
            for column, body in sources(n).items():
                progress(f"compiling {column} for N = {n}")
                count, seconds = constraints(Path(scratch), f"{column}_{n}", body)
                row[column] = count
                row[f"{column}_per_transfer"] = count // n
                row[f"{column}_compile_s"] = round(seconds, 1)
            rows.append(row)
    return {"machine": f"{platform.machine()}, {platform.system()}, Python "
                       f"{platform.python_version()}", "optimization": f"--O{OPTIMIZATION}",
            "rows": rows, "l1": l1, "calldata": posted}


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
    table = Table(title="Constraints of a block's data commitment "
                        f"(circom {results['optimization']})")
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
    table = Table(title=f"The candidate commit's calldata ({results['l1']}): "
                        f"{CANDIDATE_COMMIT}, sent to no code")
    for column in ("N", "bytes", "nonzero", "tokens", "gasUsed", "21,000 + 10 tokens",
                   "21,000 + 4 tokens", "gasUsed per transfer"):
        table.add_column(column, justify="right")
    for row in results["calldata"]:
        table.add_row(str(row["n"]), f"{row['calldata_bytes']:,}", f"{row['nonzero_bytes']:,}",
                      f"{row['tokens']:,}", f"{row['gas_used']:,}", f"{row['floor_gas']:,}",
                      f"{row['standard_gas']:,}", f"{row['gas_used'] / row['n']:,.0f}")
    Console().print(table)


if __name__ == "__main__":
    main()
