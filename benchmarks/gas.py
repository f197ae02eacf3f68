"""Gas of every market operation, v2, on the embedded EVM, beside the v1 figures.

    .venv/bin/python -m benchmarks.gas [--json] [--v1 V1.json]

(as a module: run as a file, benchmarks/sequencer.py would shadow the sequencer package)

`--v1` takes the JSON that v1's own benchmark printed (`benchmarks/gas.py --json` of commit
428b0f4, run from a worktree of it) and puts its figures in a column beside v2's; rows that v1
did not measure, or that v1 did not have, are left empty there.

Settlement is measured as a coordinator sends it, with the draw proofs: a roster snapshot of 8
rollers taken before the blocks are committed, one drawn record per block (the first holder of its
round 0, with the slots it holds: every record reads its block's draw from the Rollup, the dearest
case), one record in eight missed, the whole report of one batch (K = records blocks) in one call,
split mode. The lottery is drawn for a settled batch of 16 records. `snapshotRoster` is measured
with 10, 100 and 500 registered rollers, every one weighted. Slashes send junk (a real proof or
aggregate with C negated) of block_tiny (tests/zkp/circuits, development key), checked by the
real generated verifiers; commitBlock posts a block of two transfers to the same Rollup.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

# Run as a script, this file's folder comes first on the path (and benchmarks/sequencer.py would
# shadow the sequencer package); drop it, so that imports resolve as in the package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from rich.console import Console  # (imported after the path fix)
from rich.table import Table

from market_contracts.bindings import slash_gas
from market_contracts.chain import EmbeddedChain
from market_contracts.ledger import DrawProof, OutcomeReport, draw_proof
from market_contracts.rollup import Rollup
from market_contracts.rules import (
    MarketParams,
    Outcome,
    RewardMode,
    TaskKind,
    block_seed,
    draw_slots,
    slot_counts,
)
from market_contracts.submissions import SlashEvidence
from market_contracts.units import ONE_TOKEN
from provernet.world import ONE_TRANSFER, World
from sequencer.blocks import dev_transfer as transfer
from sequencer.blocks import l2_chain
from sequencer.circuit_inputs import BlockCircuit, block_inputs
from sequencer.genesis import devnet_genesis
from sequencer.transactions import DEVNET_CHAIN_ID
from zkp.aggregate import AggregateProof, aggregate
from zkp.field import Q
from zkp.groth16 import Prover
from zkp.setup import cached_setup
from zkp.system import system
from zkp.witness import WitnessCalculator
from zkp.zkey import read_zkey

SETTLE_SIZES = (1, 16, 64)
LOTTERY_RECORDS = 16
#: the proof system the slashing rows sign and send proofs of
GROTH16 = system("groth16")
ROLLERS = 8
#: One record in MISSED_EVERY is missed.
MISSED_EVERY = 8
#: Registered (and weighted) rollers of the `snapshotRoster` rows.
SNAPSHOT_ROSTERS = (10, 100, 500)
REPO = Path(__file__).resolve().parents[1]
TINY = BlockCircuit("block_tiny", block_size=2, depth=4, chain_id=DEVNET_CHAIN_ID, entries=1)
TINY_SOURCE = Path("tests/zkp/circuits/block_tiny.circom")
GENESIS = devnet_genesis(TINY.depth, 6, 1000)
BLOCKS = l2_chain(GENESIS, [[transfer(0, 1, 300, 0), transfer(1, 2, 40, 0)], [transfer(2, 3, 5, 0)]])
#: The slashes' rollup aggregates K = 2 blocks.
SLASH_K = 2


def any_aggregate(k: int) -> AggregateProof:
    """Points of the right shape: the stub verifier ignores the proof."""
    return AggregateProof(((1, 2),) * k, (((1, 2), (3, 4)),) * k, (1, 2))


def gas_of(receipt) -> int:
    return receipt["gasUsed"]


def row(operation: str, gas: int, records: int | None = None) -> dict:
    return {"operation": operation, "records": records, "gas": gas,
            "gas_per_record": gas // records if records else None}


class Bench:
    """One market (`provernet.world`) with rollers that approved the staking contract once (so
    that stake rows measure stake alone), and rollups finalized through the batch verifier
    stub."""

    def __init__(self, chain: EmbeddedChain, params: MarketParams):
        self.chain, self.params = chain, params
        self.world = World.deploy(chain, params)
        self.owner, self.market = self.world.owner, self.world.market
        self.stub = self.world.stub
        self.sequencer = self.account()
        self.rollers = [self.account(tokens=1_000) for _ in range(ROLLERS)]
        for roller in self.rollers:
            chain.transact(roller, self.market.token.functions.approve(
                self.market.staking.address, 2**256 - 1))

    def account(self, tokens: int = 0):
        return self.world.new_account(eth=10**18, tokens=tokens * ONE_TOKEN)

    def finalized_rollup(self, blocks: int):
        """A funded rollup of batches of `blocks` blocks with batch 0 finalized (drawn from a
        roster snapshot taken just before, randomness recorded), and its coordinator."""
        rollup = Rollup.from_deployment(self.chain, self.world.attach_rollup(
            self.sequencer.address, genesis_root=1, batch_size=blocks, max_transfers=1))
        coordinator = self.account()
        self.world.register_coordinator(coordinator.address, rollup=rollup.address,
                                        peer_id=b"bench", name="")
        self.world.fund_rewards(10_000 * ONE_TOKEN, rollup.address)
        self.world.snapshot_roster()
        for n in range(1, blocks + 1):
            rollup.commit_block(self.sequencer, n + 1, ONE_TRANSFER)
        provers = [self.owner.address] * blocks
        self.chain.transact(self.owner, self.stub.functions.expect(rollup.batch_inputs(1, provers)))
        rollup.finalize_batch(self.owner, 1, provers, any_aggregate(blocks))
        for n in range(1, blocks + 1):
            rollup.record_randomness(self.owner, n)
        return rollup, coordinator

    def records(self, rollup: Rollup, count: int) -> tuple[list[OutcomeReport], list[DrawProof]]:
        """`count` records of batch 0 (of `count` blocks), one a block: its round 0's first
        holder, with the draw proofs."""
        records, draws = [], []
        for n in range(1, count + 1):
            snapshot = self.market.roster_snapshot_of(rollup.address, n)
            entries = self.market.snapshots()[snapshot].entries
            seed = block_seed(self.chain.chain_id, rollup.address, n, 0, rollup.randomness(n))
            held = slot_counts(draw_slots(seed, [(e.roller, e.weight) for e in entries],
                                          self.params.m))
            roller, slots = next(iter(held.items()))
            outcome = Outcome.MISSED if n % MISSED_EVERY == 0 else Outcome.ON_TIME
            records.append(OutcomeReport(roller, TaskKind.BLOCK, n, 0, slots, outcome))
            draws.append(draw_proof(snapshot, entries, roller))
        return records, draws


def measure_staking(bench: Bench) -> list[dict]:
    s, a, chain = bench.market.staking.functions, bench.rollers[0], bench.chain
    rows = [row("stake (first)", gas_of(chain.transact(a, s.stake(200 * ONE_TOKEN)))),
            row("stake (add)", gas_of(chain.transact(a, s.stake(100 * ONE_TOKEN)))),
            row("unstake (request)", gas_of(chain.transact(a, s.requestUnstake(100 * ONE_TOKEN))))]
    for roller in bench.rollers[1:]:
        chain.transact(roller, s.stake(200 * ONE_TOKEN))
    chain.increase_time(bench.params.unbonding)
    rows.append(row("withdraw", gas_of(chain.transact(a, s.withdraw()))))
    for size in SETTLE_SIZES:
        rollup, coordinator = bench.finalized_rollup(size)
        rows.append(row("settle", gas_of(bench.market.settle(
            coordinator, 0, *bench.records(rollup, size))), size))
    claimant = next(r for r in bench.rollers if bench.market.roller_info(r.address).claimable)
    rows.append(row("claim", gas_of(chain.transact(claimant, s.claim()))))
    return rows


def measure_lottery(bench: Bench) -> list[dict]:
    for roller in bench.rollers:
        bench.chain.transact(roller, bench.market.staking.functions.stake(200 * ONE_TOKEN))
    rollup, coordinator = bench.finalized_rollup(LOTTERY_RECORDS)
    records, draws = bench.records(rollup, LOTTERY_RECORDS)
    settled = bench.market.settle(coordinator, 0, records, draws)
    bench.chain.mine()
    entries = [(r.task, r.roller, r.slots) for r in records if r.outcome is Outcome.ON_TIME]
    drawn = bench.market.draw_lottery(bench.owner, rollup.address, 0, entries)
    return [row("settle (lottery)", gas_of(settled), LOTTERY_RECORDS),
            row("drawLottery", gas_of(drawn), LOTTERY_RECORDS)]


def measure_snapshots() -> list[dict]:
    """`snapshotRoster` over 10, 100 and 500 registered rollers, all weighted: its gas grows with
    them (a storage read of each, a leaf, a level of hashing, the event's data)."""
    bench = Bench(EmbeddedChain(), MarketParams.devnet())
    staking = bench.market.staking.functions
    rows = []
    registered = 0
    for size in SNAPSHOT_ROSTERS:
        while registered < size:
            roller = bench.account(tokens=100)
            bench.chain.transact(roller, bench.market.token.functions.approve(
                bench.market.staking.address, 100 * ONE_TOKEN))
            bench.chain.transact(roller, staking.stake(100 * ONE_TOKEN))
            registered += 1
        rows.append(row("snapshotRoster", gas_of(bench.chain.transact(
            bench.owner, staking.snapshotRoster())), size))
    return rows


def negated(point):
    x, y = point
    return x, (Q - y) % Q


def measure_rollup_and_slashing(bench: Bench, workdir: Path) -> list[dict]:
    """Real verifiers of block_tiny: commit its blocks, record randomness, slash junk."""
    chain, owner, market = bench.chain, bench.owner, bench.market
    subprocess.run([str(REPO / "node_modules" / ".bin" / "circom2"), str(TINY_SOURCE), "--r1cs",
                    "--wasm", "--O2", "-l", "node_modules", "-o", str(workdir)],
                   cwd=REPO, check=True, capture_output=True)
    key = cached_setup(workdir / "block_tiny.r1cs", workdir / "setup-cache")
    prover = Prover(read_zkey(key.zkey), "cpu")
    calculator = WitnessCalculator(workdir / "block_tiny_js" / "block_tiny.wasm")
    roller = bench.rollers[0]
    proofs = [prover.prove(calculator.calculate(
        block_inputs(TINY, block.before, block.ops, roller.address)))[0] for block in BLOCKS]

    deployment = bench.world.attach_rollup(bench.sequencer.address, vk=key.vk,
                                           genesis_root=GENESIS.root, batch_size=SLASH_K,
                                           max_transfers=TINY.block_size, entries=TINY.entries)
    rollup = Rollup.from_deployment(chain, deployment)
    commits = [gas_of(chain.transact(bench.sequencer, rollup.contract.functions.commitBlock(
        block.after.root, block.data))) for block in BLOCKS]
    chain.mine()
    recorded = chain.transact(owner, rollup.contract.functions.recordRandomness(1))

    common = dict(chain_id=chain.chain_id, rollup=rollup.address, staking=deployment.staking,
                  round_=0)
    junk_block = SlashEvidence.signed(roller, **common, index=1, statement=rollup.statement(1),
                                      proof=GROTH16.seal(replace(proofs[0], c=negated(proofs[0].c))))
    agg = aggregate(proofs, [block.inputs(TINY, roller.address) for block in BLOCKS])
    junk_aggregate = SlashEvidence.signed_aggregate(
        roller, **common, index=0, statement=rollup.batch_statement(0),
        provers=[roller.address] * SLASH_K,
        aggregate=GROTH16.seal_aggregate(replace(agg, c=negated(agg.c))))
    slashes = []
    for evidence in (junk_block, junk_aggregate):
        result = market.slash_invalid_proof(owner, evidence, gas=slash_gas(evidence))
        slashes.append(gas_of(chain.w3.eth.get_transaction_receipt(result.transaction)))
    return [row("commitBlock (2 transfers)", commits[0]),
            row("recordRandomness", gas_of(recorded)),
            row("slash block proof", slashes[0]),
            row(f"slash aggregate (K = {SLASH_K})", slashes[1])]


def measure() -> list[dict]:
    split = Bench(EmbeddedChain(), MarketParams.devnet())
    rows = measure_staking(split)
    with tempfile.TemporaryDirectory() as workdir:
        rows += measure_rollup_and_slashing(split, Path(workdir))
    lottery = Bench(EmbeddedChain(), MarketParams.devnet().replace(reward_mode=RewardMode.LOTTERY))
    return rows + measure_lottery(lottery) + measure_snapshots()


def with_v1(rows: list[dict], v1_rows: list[dict]) -> list[dict]:
    """v2's rows, each with the v1 figure of the same operation and size (None where v1's
    benchmark has none)."""
    v1 = {(r["operation"], r.get("outcomes")): r["gas"] for r in v1_rows}
    return [r | {"v1_gas": v1.get((r["operation"], r["records"]))} for r in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    parser.add_argument("--v1", type=Path, help="v1's `benchmarks/gas.py --json` output")
    args = parser.parse_args()
    rows = measure()
    if args.v1:
        rows = with_v1(rows, json.loads(args.v1.read_text()))
    if args.json:
        print(json.dumps(rows, indent=1))
        return
    table = Table(title="Market contracts gas (embedded EVM, solc 0.8.37, optimizer 200 runs)")
    columns = ["operation", "records", "v2 gas", "v2 gas per record"] + (["v1 gas"] if args.v1 else [])
    for column in columns:
        table.add_column(column, justify="left" if column == "operation" else "right")
    for r in rows:
        cells = [r["operation"], str(r["records"] or ""), f"{r['gas']:,}",
                 f"{r['gas_per_record']:,}" if r["gas_per_record"] else ""]
        if args.v1:
            cells.append(f"{r['v1_gas']:,}" if r["v1_gas"] else "")
        table.add_row(*cells)
    Console().print(table)


if __name__ == "__main__":
    main()
