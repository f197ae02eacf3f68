"""L1 gas of the Rollup contract: commitBlock per L2 transfer, finalizeBatch per batch.

    .venv/bin/python benchmarks/rollup_gas.py [--json]

Runs on an anvil it starts. Every figure is a receipt's gasUsed: the 21,000 base, the calldata
and the execution.

commitBlock: blocks of N = 1, 4, 16, 64 transfers on a rollup of 64 record slots, measured by
`provernet.rollup_gas` (which `provernet bench rollup-gas` uses for one N): read its docstring
for the posted data.

finalizeBatch: K = 2 and 4 blocks of one transfer, finalized against `BatchVerifierStub` (the
tests' stand-in that accepts the inputs it was told): the contract's own part, the inputs it
builds and what it stores for good (roots, data hash, prover, draw pin: three fresh slots a
block); the pairing check is the batch verifier's, to be added: `provernet bench gas --k K`
(`provernet.verifier_gas`) measures it. Measured on each rollup's second batch.
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

from rich.console import Console  # (imported after the path fix)
from rich.table import Table

from market_contracts.anvil import run_anvil
from market_contracts.chain import Chain, RpcChain
from market_contracts.compile import load_artifact
from market_contracts.rollup import deploy_rollup_contract
from provernet.rollup_gas import (
    MAX_TRANSFERS,
    deploy_measured_rollup,
    l1_description,
    measure_commits,
)
from sequencer.block_data import Op, Record, calldata
from sequencer.circuit_inputs import SMALL
from zkp.builds import build_block_circuit

COMMIT_SIZES = (1, 4, 16, 64)
BATCH_SIZES = (2, 4)
#: the stub ignores the proof: any points of the right shape
ANY_A, ANY_B, ANY_C = (1, 2), ((1, 2), (3, 4)), (1, 2)


def commit_rows(chain: Chain, rollup, sequencer) -> list[dict]:
    rows = [asdict(figure) for figure in measure_commits(chain, rollup, sequencer, COMMIT_SIZES)]
    for row in rows:
        row["gas_per_transfer"] = row["gas"] // row["transfers"]
    return rows


def measure_finalizations(chain: Chain, deployer, sequencer) -> list[dict]:
    stub = chain.deploy(deployer, load_artifact("BatchVerifierStub"))
    provers = [account.address for account in chain.dev_accounts[2:2 + max(BATCH_SIZES)]]
    rows = []
    for k in BATCH_SIZES:
        rollup = deploy_rollup_contract(
            chain, deployer, sequencer=sequencer.address, verifier=stub.address,
            bridge=deployer.address, genesis_root=1, batch_size=k,
            max_transfers=SMALL.block_size, entries=SMALL.entries, ring_size=2 * k)
        for n in range(2 * k):
            rollup.commit_block(sequencer, 2 + n, calldata([Record(Op.TRANSFER, n, n + 1, 1)]))
        for first in (1, k + 1):
            chain.transact(deployer, stub.functions.expect(rollup.batch_inputs(first, provers[:k])))
            receipt = chain.transact(deployer, rollup.contract.functions.finalizeBatch(
                first, provers[:k], [ANY_A] * k, [ANY_B] * k, ANY_C))
        rows.append({"k": k, "gas": receipt["gasUsed"], "gas_per_block": receipt["gasUsed"] // k})
    return rows


def measure() -> dict:
    vk = build_block_circuit("small").setup.vk
    with run_anvil() as node:
        chain = RpcChain(node.url)
        deployer, sequencer = chain.dev_accounts[:2]
        rollup = deploy_measured_rollup(chain, deployer, sequencer, vk)
        return {
            "l1": l1_description(chain),
            "machine": f"{platform.machine()}, {platform.system()}, Python {platform.python_version()}",
            "commits": commit_rows(chain, rollup, sequencer),
            "finalizations": measure_finalizations(chain, deployer, sequencer),
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
    for column in ("transfers", "calldata bytes", "gas", "gas per transfer"):
        commits.add_column(column, justify="right")
    for row in results["commits"]:
        commits.add_row(str(row["transfers"]), f"{row['calldata_bytes']:,}", f"{row['gas']:,}",
                        f"{row['gas_per_transfer']:,}")
    console.print(commits)
    finals = Table(title=f"finalizeBatch gas without the pairing check ({results['l1']})")
    for column in ("K", "gas", "gas per block"):
        finals.add_column(column, justify="right")
    for row in results["finalizations"]:
        finals.add_row(str(row["k"]), f"{row['gas']:,}", f"{row['gas_per_block']:,}")
    console.print(finals)


if __name__ == "__main__":
    main()
