"""The market end to end, as `provernet devnet` runs it: the embedded chain, a sequencer, a
coordinator and four rollers, each with its own libp2p host on loopback, proving the small
block circuit on the CPU for real.

One network, one run, checked for everything the market promises (market rules v2): each block's
randomness is recorded on L1 after its commit and its slots drawn from the roster before it;
blocks are proven, aggregated K = 2 at a time, finalized and settled on L1; every draw recomputes
from public data with `provernet audit assignments`; a roller that signs invalid proofs is slashed
on-chain; a lazy one (accepts, never delivers) settles `missed`, loses reputation, and its blocks
finalize anyway, through later rounds or open proving, with no watchdog reverting them; honest
rollers earn; a valid proof copied under another roller's signature is invalid for that roller;
and a coordinator killed and restarted mid-batch carries on from its database. Deadlines are
short (T = 20 s) so the run takes a few minutes on two cores.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import trio
from eth_utils import keccak

from coordinator.commands import Assign
from coordinator.views import ProvingStatus
from market_contracts.rules import MarketParams, TaskKind
from coordinator.service import SentTask
from market_contracts.submissions import sign_submission
from p2p import messages as m
from provernet.devnet import Devnet, DevnetConfig
from provernet.market_report import market_report
from zkp.system import system

PARAMS = MarketParams.devnet().replace(k=2, t=20, late_window=40, t_agg=20)
#: blocks that must finalize and settle, and the run's limit
BLOCKS = 4
RUN_LIMIT_S = 900


def _by_behaviour(devnet: Devnet) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for roller in devnet.rollers:
        grouped.setdefault(roller.behaviour, []).append(roller.account.address)
    return grouped


def _settled(devnet: Devnet, blocks: int) -> bool:
    core = devnet.coordinator.core
    return all(core.block_status(n) is ProvingStatus.SETTLED for n in range(1, blocks + 1))


def _done(devnet: Devnet, blocks: int) -> bool:
    """Blocks 1..`blocks` finalized and settled, the invalid roller slashed, the lazy one's
    missed task settled on-chain (it is drawn sooner or later: it holds the largest stake)."""
    if devnet.rollup.last_finalized() < blocks or not _settled(devnet, blocks):
        return False
    report = market_report(devnet.market, devnet.rollup, devnet.behaviours, devnet.first_block)
    rollers = {r.behaviour: r for r in report.rollers}
    return rollers["invalid"].slashed > 0 and rollers["lazy"].outcomes["missed"] > 0


async def _copied_proof_verdicts(devnet: Devnet) -> list[tuple[bool, str]]:
    """What the coordinator makes of honest roller A's valid proof of a block as A signed it, and
    as honest roller B signed it for an assignment of B to that block (the proof hash leaves the
    inputs out, so B can sign A's proof as it stands)."""
    a, b = (r for r in devnet.rollers if r.behaviour == "honest")
    coordinator = devnet.coordinator
    ref, index, _round = coordinator.store.proofs_of(a.account.address, int(TaskKind.BLOCK))[0]
    proof = coordinator.store.proof(ref).proof
    statement = await trio.to_thread.run_sync(devnet.rollup.statement, index)
    verdicts = []
    for signer in (a, b):
        signature = sign_submission(signer.account, devnet.chain.chain_id, devnet.rollup.address,
                                    TaskKind.BLOCK, index, 0, statement,
                                    system(proof.system).digest(proof))
        assign = Assign(kind=TaskKind.BLOCK, index=index, round=0,
                        roller=signer.account.address, seed=bytes(32), slots=1,
                        statement=statement, assigned_at=0, deadline=0, close_at=0, proofs=())
        message = m.Proof(task_id=bytes(32), statement=statement, system=proof.system,
                          proof=proof.data, signature=signature)
        _proof, valid, problem = await coordinator._check_submission(
            SentTask(assign, signer.account.address), message)
        verdicts.append((valid, problem))
    return verdicts


async def _sealed_verdicts(devnet: Devnet) -> list[tuple[bool, bool, str]]:
    """(stored, valid, problem) the coordinator gives honest roller A's proof of a block, signed
    by A, cut one byte short (bytes that are no proof: an invalid, slashable proof) and tagged
    with a proof system the circuit does not use (refused, no evidence)."""
    a = next(r for r in devnet.rollers if r.behaviour == "honest")
    coordinator = devnet.coordinator
    ref, index, _round = coordinator.store.proofs_of(a.account.address, int(TaskKind.BLOCK))[0]
    proof = coordinator.store.proof(ref).proof
    statement = await trio.to_thread.run_sync(devnet.rollup.statement, index)
    assign = Assign(kind=TaskKind.BLOCK, index=index, round=0, roller=a.account.address,
                    seed=bytes(32), slots=1, statement=statement, assigned_at=0, deadline=0,
                    close_at=0, proofs=())
    verdicts = []
    for system_name, data in (("groth16", proof.data[:-1]), ("plonk", proof.data)):
        signature = sign_submission(a.account, devnet.chain.chain_id, devnet.rollup.address,
                                    TaskKind.BLOCK, index, 0, statement, keccak(data))
        message = m.Proof(task_id=bytes(32), statement=statement, system=system_name,
                          proof=data, signature=signature)
        stored, valid, problem = await coordinator._check_submission(
            SentTask(assign, a.account.address), message)
        verdicts.append((stored is not None, valid, problem))
    return verdicts


async def _wait_until(predicate, *args) -> None:
    while not await trio.to_thread.run_sync(predicate, *args):
        await trio.sleep(1)


async def test_the_market_finalizes_pays_honest_rollers_and_punishes_bad_ones(tmp_path):
    config = DevnetConfig(datadir=tmp_path, params=PARAMS, rollers=2,
                          bad_rollers=(("invalid", 1), ("lazy", 1)), l1_port=0,
                          block_interval=6.0, load=0.25, backend="cpu")
    devnet = Devnet(config)
    with trio.fail_after(RUN_LIMIT_S):
        async with trio.open_nursery() as nursery:
            await nursery.start(devnet.run)
            # Kill the coordinator once block 1 is proven, its batch usually not finalized yet:
            # when block 1 is the batch's last to be proven (its drawn rounds failed and its
            # open round proved it), aggregation follows within one poll of this wait.
            await _wait_until(lambda: devnet.coordinator.core.block_status(1) not in (
                ProvingStatus.UNKNOWN, ProvingStatus.ASSIGNED, ProvingStatus.OPEN))
            await devnet.restart_coordinator()
            await _wait_until(_done, devnet, BLOCKS)
            # As an auditor would: another process, reading L1 over JSON-RPC.
            audit = await trio.to_thread.run_sync(lambda: subprocess.run(
                [Path(sys.executable).parent / "provernet", "audit", "assignments",
                 str(tmp_path / "coordinator" / "audit.jsonl"), "--rpc-url", devnet.l1_url,
                 "--deployment", str(tmp_path / "deployment.json")],
                capture_output=True, text=True, timeout=300))
            report = await trio.to_thread.run_sync(
                market_report, devnet.market, devnet.rollup, devnet.behaviours, devnet.first_block)
            # The load's first deposit and withdrawal: the deposit included, the withdrawal
            # claimed on L1 once its block was finalized.
            lane = devnet.rollups[0]
            await _wait_until(lambda: lane.withdrawals_claimed)
            bridge = await trio.to_thread.run_sync(lane.bridge_status)
            original, copied = await _copied_proof_verdicts(devnet)
            truncated, other_system = await _sealed_verdicts(devnet)
            nursery.cancel_scope.cancel()

    # A valid proof of one honest roller, handed in (signed) by the other as its own, is an
    # invalid proof for the other: the coordinator (and the contract, slashing it) verifies it
    # against L1's inputs with the signer as prover.
    assert original[0] is True
    assert copied[0] is False and copied[1].startswith("invalid proof")
    # Proofs travel sealed: signed bytes that are no proof of the circuit's system are an invalid
    # proof (stored as evidence: the block verifier refuses them too); a proof of another system
    # is refused without evidence.
    assert truncated == (True, False, "invalid proof: a groth16 proof is 256 bytes "
                                      "(abi.encode(a, b, c)), got 255")
    assert other_system[:2] == (False, False) and "'plonk'" in other_system[2]

    assert audit.returncode == 0, audit.stdout + audit.stderr
    records = [json.loads(line) for line in audit.stdout.splitlines()]
    assert {r["kind"] for r in records} == {"block", "aggregation"}
    assert all(r["ok"] for r in records) and len(records) >= BLOCKS + BLOCKS // PARAMS.k

    assert report.finalized_blocks >= BLOCKS and report.batches_finalized >= BLOCKS // PARAMS.k
    assert bridge["deposits_included"] >= 1 and bridge["withdrawals_claimed"] >= 1
    rollers = {r.address: r for r in report.rollers}
    grouped = _by_behaviour(devnet)
    (invalid,), (lazy,) = grouped["invalid"], grouped["lazy"]
    assert rollers[invalid].reputation == 0 and rollers[invalid].slashed > 0
    assert rollers[invalid].outcomes["invalid"] >= 1
    assert rollers[lazy].outcomes["missed"] >= 1 and rollers[lazy].reputation < PARAMS.rep_init
    assert rollers[lazy].outcomes["on_time"] == 0 and rollers[lazy].rewards == 0
    honest = [rollers[a] for a in grouped["honest"]]
    # Only honest rollers hand in valid proofs, and every finalized block had one.
    assert sum(r.outcomes["on_time"] + r.outcomes["late"] for r in honest) >= BLOCKS
    assert sum(r.outcomes["on_time"] for r in honest) >= 1
    assert sum(r.rewards for r in honest) > 0
    assert all(r.outcomes["invalid"] == 0 and r.slashed == 0 for r in honest)
