"""L1 gas of the Rollup contract: commitBlock per L2 transfer, finalizeBatch per batch.

    .venv/bin/python benchmarks/rollup_gas.py [--json]

Runs on an anvil it starts. Every figure is a receipt's gasUsed: the 21,000 base, the calldata
and the execution.

commitBlock: blocks of N = 4, 16, 64 transfers on a rollup with maxTransfers = 64, and an empty
block for the fixed part, measured by `provernet.rollup_gas` (which `provernet bench rollup-gas`
uses for one N): read its docstring for the posted data and the warm-up block.

finalizeBatch: K = 2 and 4 real proofs of the small block profile (zkp/circuits/block_small.circom,
our development setup, cached), each block proven by a different address. Measured on each
rollup's second batch, since the first pays for the first write of lastFinalized.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from dataclasses import asdict
from pathlib import Path

# Run as a script, this file's folder comes first on the path (and benchmarks/sequencer.py would
# shadow the sequencer package); drop it, so that imports resolve as in the package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from eth_account import Account  # (imported after the path fix)
from rich.console import Console
from rich.table import Table

from market_contracts.anvil import run_anvil
from market_contracts.chain import Chain, RpcChain
from market_contracts.rollup import deploy_rollup
from market_contracts.units import ONE_TOKEN
from provernet.rollup_gas import (
    MAX_TRANSFERS,
    deploy_measured_rollup,
    l1_description,
    measure_commits,
)
from sequencer.circuit_inputs import SMALL, block_inputs
from sequencer.genesis import dev_address, dev_private_key, devnet_genesis
from sequencer.transactions import DEVNET_CHAIN_ID, Transfer, block_data, sign_transfer
from sequencer.transition import apply_block
from zkp.aggregate import aggregate
from zkp.builds import build_block_circuit
from zkp.groth16 import Prover
from zkp.witness import WitnessCalculator
from zkp.zkey import read_zkey

COMMIT_SIZES = (0, 4, 16, 64)
BATCH_SIZES = (2, 4)


def commit_rows(chain: Chain, rollup, sequencer) -> list[dict]:
    figures = measure_commits(chain, rollup, sequencer, COMMIT_SIZES)
    rows = [asdict(figure) for figure in figures]
    empty = rows[0]["gas"]
    for row in rows[1:]:
        row["gas_per_transfer"] = row["gas"] // row["transfers"]
        row["marginal_gas_per_transfer"] = (row["gas"] - empty) // row["transfers"]
    return rows


def proven_blocks(count: int) -> tuple[list, list[tuple[list, list[int]]], object]:
    """`count` L2 blocks of two transfers each, their proofs by distinct provers, and the key."""
    build = build_block_circuit("small")
    prover = Prover(read_zkey(build.zkey), "cpu")
    calculator = WitnessCalculator(build.wasm)
    accounts = 2 * count + 1
    state = devnet_genesis(SMALL.depth, accounts, 1_000 * ONE_TOKEN)
    blocks, proofs = [], []
    for b in range(count):
        transfers = [sign_transfer(Transfer(s, s + 1, dev_address(s + 1), ONE_TOKEN, 0),
                                   dev_private_key(s), DEVNET_CHAIN_ID)
                     for s in (2 * b, 2 * b + 1)]
        after = apply_block(state, transfers, DEVNET_CHAIN_ID)
        address = Account.create().address
        inputs = block_inputs(SMALL, state, transfers, address)
        proof, public = prover.prove(calculator.calculate(inputs))
        blocks.append((state.root, after.root, block_data(transfers), address))
        proofs.append((proof, public))
        state = after
    return blocks, proofs, build.setup.vk


def measure_finalizations(chain: Chain, deployer, sequencer, blocks, proofs, vk) -> list[dict]:
    rows = []
    for k in BATCH_SIZES:
        rollup = deploy_rollup(chain, deployer, sequencer=sequencer.address, vk=vk,
                               genesis_root=blocks[0][0], batch_size=k, max_transfers=SMALL.block_size)
        for old_root, new_root, data, _ in blocks[: 2 * k]:
            rollup.commit_block(sequencer, old_root, new_root, data)
        for first in (0, k):
            batch = range(first, first + k)
            agg = aggregate([proofs[i][0] for i in batch], [proofs[i][1] for i in batch])
            receipt = rollup.finalize_batch(deployer, first + 1, [blocks[i][3] for i in batch], agg)
        rows.append({"k": k, "gas": receipt["gasUsed"], "gas_per_block": receipt["gasUsed"] // k})
    return rows


def measure() -> dict:
    blocks, proofs, vk = proven_blocks(2 * max(BATCH_SIZES))
    with run_anvil() as node:
        chain = RpcChain(node.url)
        deployer, sequencer = chain.dev_accounts[:2]
        rollup = deploy_measured_rollup(chain, deployer, sequencer, vk)
        return {
            "l1": l1_description(chain),
            "machine": f"{platform.machine()}, {platform.system()}, Python {platform.python_version()}",
            "commits": commit_rows(chain, rollup, sequencer),
            "finalizations": measure_finalizations(chain, deployer, sequencer, blocks, proofs, vk),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    results = measure()
    if parser.parse_args().json:
        print(json.dumps(results, indent=1))
        return
    console = Console()
    commits = Table(title=f"commitBlock gas ({results['l1']}, maxTransfers = {MAX_TRANSFERS})")
    for column in ("transfers", "calldata bytes", "gas", "gas per transfer",
                   "gas per transfer above an empty block"):
        commits.add_column(column, justify="right")
    for row in results["commits"]:
        commits.add_row(str(row["transfers"]), f"{row['calldata_bytes']:,}", f"{row['gas']:,}",
                        f"{row.get('gas_per_transfer', 0):,}" if row["transfers"] else "",
                        f"{row.get('marginal_gas_per_transfer', 0):,}" if row["transfers"] else "")
    console.print(commits)
    finals = Table(title=f"finalizeBatch gas ({results['l1']})")
    for column in ("K", "gas", "gas per block"):
        finals.add_column(column, justify="right")
    for row in results["finalizations"]:
        finals.add_row(str(row["k"]), f"{row['gas']:,}", f"{row['gas_per_block']:,}")
    console.print(finals)


if __name__ == "__main__":
    main()
