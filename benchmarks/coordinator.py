"""Coordinator capacity on this machine: the real coordinator, with a fixed-delay prover.

    .venv/bin/python benchmarks/coordinator.py [--rollers 4,16,32] [--seconds 60] [--delay 0.5]
        [--block-rate 0] [--backlog 3] [--poll-interval 0.5] [--decline-aggregation] [--json]

Everything is the real thing except the prover. Per roller count N, a fresh deployment on the
embedded chain (market and Rollup with the small block circuit, devnet parameters: M = 2 rollers
per block, K = 4 blocks per batch, T = 30 s), N staked rollers, and the real `CoordinatorService`
(its own libp2p host, SQLite store, L1 follower, proof verification against
`Rollup.publicInputs`, finalization and settlement on L1). Its sequencer is a stub JSON-RPC server
(`sequencer.rpc.JsonRpcServer`) that answers `l2_getBlockInputs` with the empty block's inputs.

Every block is EMPTY: the benchmark commits `commitBlock(root, root, [])` itself, as the Rollup's
sequencer, so every block has the same public inputs [root, root, dataHash([]), prover], and ONE
real Groth16 proof per roller, made up front with the real prover on
`empty_block_inputs(address)("block_small")`, is a valid proof of every block for that roller.

THE FIXED-DELAY ROLLER EXISTS ONLY IN THIS BENCHMARK. It is a real libp2p node per roller (all of
them in one child process, so that their work is not the coordinator's): it dials the coordinator,
authenticates with the session protocol (`roller.session.handshake`), checks each task's signature
and id (`roller.session.check_task`), accepts it, sleeps `--delay` seconds instead of proving,
and submits its precomputed proof signed for the task's statement (`sign_submission`). Aggregation tasks are
done for real (`zkp.aggregate`, ~50 ms; the fixed-delay roller skips the self-check of the
aggregate that a real roller makes), so the coordinator's load includes verifying each aggregate
and finalizing each batch on the embedded chain (its pairing check, ~1.5 s per batch in py-evm,
runs inside the coordinator's process) and settling it; `--decline-aggregation` makes the rollers
decline them instead (no fault), which leaves finalization out.

Load: with `--block-rate 0` (the default) the benchmark commits the next block as soon as fewer
than `--backlog` committed blocks are waiting for their first valid proof (read from the
coordinator's core), so the coordinator always has work queued: the rates are its saturation
figures. With `--block-rate R` it commits R blocks a second (open loop; add `--backlog 0`).

Measured over `--seconds` after all N rollers are connected: tasks sent to the rollers and proofs
verified (block-proof receipts) per second, both counted by the rollers; the time from the
benchmark's commit transaction returning to the block's task arriving at the fixed-delay roller
(p50, p99; this includes the coordinator's L1 poll interval and, market rules v2, the wait for
the L1 block after the commit, whose hash is the block's randomness: the benchmark mines an empty
L1 block whenever none came for 0.2 s); the CPU time of the coordinator's
process (coordinator, embedded L1, the stub sequencer, the benchmark's committer) and, by wrapping
(thread CPU time, nothing edited), the share of its main steps.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from contextlib import AsyncExitStack
from pathlib import Path

# Run as a script, this file's folder comes first on the path; drop it, so that imports resolve
# as in the package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import structlog  # (imported after the path fix)
import trio
from eth_account import Account
from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parent.parent
ROLLER_TOKENS = 1_000 * 10**18
ROLLER_ETH = 10 * 10**18
REWARD_POOL = 10_000 * 10**18
#: seconds to wait, after the window, for the tasks of blocks committed in it to arrive
DRAIN_SECONDS = 15.0
#: an empty L1 block is mined when none came for this long: a block's randomness needs the next
L1_BLOCK_SECONDS = 0.2
NAME = "fixed-delay roller"


# ====================================================================== measuring by wrapping


class Steps:
    """CPU seconds (of the calling thread) and calls per named step, wrapped around functions."""

    def __init__(self):
        self._lock = threading.Lock()
        self.cpu: dict[str, float] = defaultdict(float)
        self.wall: dict[str, float] = defaultdict(float)
        self.calls: Counter[str] = Counter()

    def reset(self) -> None:
        with self._lock:
            self.cpu.clear()
            self.wall.clear()
            self.calls.clear()

    def snapshot(self) -> dict[str, dict]:
        with self._lock:
            return {name: {"calls": self.calls[name], "cpu_s": round(self.cpu[name], 3),
                           "wall_s": round(self.wall[name], 3)} for name in self.calls}

    def wrap(self, name: str, fn):
        def timed(*args, **kwargs):
            cpu, wall = time.thread_time(), time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                with self._lock:
                    self.cpu[name] += time.thread_time() - cpu
                    self.wall[name] += time.perf_counter() - wall
                    self.calls[name] += 1

        timed.__wrapped__ = fn
        return timed


STEPS = Steps()
#: step -> what it is, in the CPU table
STEP_NAMES = {
    "verify_proof": "verify block proofs (coordinator.verifier: a call per batch, native checks)",
    "verify_aggregate": "verify an aggregate (zkp.verify_aggregate)",
    "l1_finalize": "finalize a batch on L1 (py-evm pairing precompile)",
    "l1_settle": "settle a batch on L1",
    "l1_public_inputs": "read a block's public inputs from L1",
    "l1_scan": "scan L1 logs",
    "l1_snapshot": "read the live roster and the snapshots, take roster snapshots",
    "l1_commit": "commit a block on L1 (the benchmark, as sequencer)",
}


def instrument() -> None:
    """Wrap the coordinator's heavy steps, where it looks them up at call time."""
    import coordinator.service as service
    import coordinator.verifier as verifier
    from coordinator.l1 import CoordinatorL1

    if hasattr(verifier.verify_batch, "__wrapped__"):
        return
    verifier.verify_batch = STEPS.wrap("verify_proof", verifier.verify_batch)
    service.verify_aggregate = STEPS.wrap("verify_aggregate", service.verify_aggregate)
    for method, step in (("finalize", "l1_finalize"), ("settle", "l1_settle"),
                         ("public_inputs", "l1_public_inputs"), ("scan", "l1_scan"),
                         ("refresh_snapshot", "l1_snapshot")):
        setattr(CoordinatorL1, method, STEPS.wrap(step, getattr(CoordinatorL1, method)))


class CountingWarnings:
    """A structlog processor: counts warnings and errors by event, keeps them off the table."""

    def __init__(self, verbose: bool):
        self.counts: Counter[str] = Counter()
        self.verbose = verbose

    def __call__(self, _logger, method: str, event: dict):
        self.counts[f"{method}: {event.get('event')}"] += 1
        if not self.verbose:
            raise structlog.DropEvent
        return event


def configure_logging(verbose: bool) -> CountingWarnings:
    counter = CountingWarnings(verbose)
    structlog.configure(
        processors=[counter, structlog.processors.add_log_level,
                    structlog.dev.ConsoleRenderer(colors=False)],
        wrapper_class=structlog.make_filtering_bound_logger(30),  # warnings and errors
        logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    import logging
    logging.basicConfig(level=logging.ERROR, stream=sys.stderr, force=True)
    return counter


# ====================================================================== set-up


def make_proofs(build, accounts) -> list[dict]:
    """One real proof of an empty block per roller, with the real prover."""
    from provernet.calibration import empty_block_inputs
    from zkp.groth16 import Prover
    from zkp.witness import WitnessCalculator
    from zkp.zkey import read_zkey

    witness = WitnessCalculator(build.wasm)
    prover = Prover(read_zkey(build.zkey), "auto")
    proofs = []
    for account in accounts:
        inputs = empty_block_inputs(account.address)("block_small")
        proof, public = prover.prove(witness.calculate(inputs))
        proofs.append({"a": list(proof.a), "b": [list(x) for x in proof.b], "c": list(proof.c),
                       "public": [int(x) for x in public]})
    return proofs


def unit_costs(build, proof: dict, k: int) -> dict[str, float]:
    """Seconds of one core for one verification of a proof and of a K-proof aggregate."""
    from zkp.aggregate import aggregate, verify_aggregate
    from zkp.proof import Proof
    from zkp.verify import verify

    p = Proof(tuple(proof["a"]), tuple(map(tuple, proof["b"])), tuple(proof["c"]))
    start = time.thread_time()
    if not verify(build.setup.vk, p, proof["public"]).valid:
        raise SystemExit("the prover's proof of the empty block does not verify")
    proof_s = time.thread_time() - start
    combined = aggregate([p] * k, [proof["public"]] * k)
    start = time.thread_time()
    if not verify_aggregate(build.setup.vk, combined, [proof["public"]] * k).valid:
        raise SystemExit("the aggregate of the empty block's proofs does not verify")
    return {"verify_proof_s": round(proof_s, 4),
            "verify_aggregate_s": round(time.thread_time() - start, 4)}


def deploy(chain, build, params, genesis_root: int, rollers, coordinator_p2p: Path):
    """Market, Rollup and coordinator registration as `provernet.devnet` makes them; the rollers
    funded and staked (equal stakes), and a roster snapshot taken of them."""
    from libp2p.peer.id import ID

    from market_contracts.bindings import Market
    from market_contracts.deploy import deploy_market
    from market_contracts.rollup import attach_rollup
    from p2p.host import load_or_create_identity
    from sequencer.circuit_inputs import SMALL

    owner, sequencer, coordinator = chain.dev_accounts[:3]
    deployment = attach_rollup(chain, owner, deploy_market(chain, owner, params),
                               sequencer=sequencer.address, vk=build.setup.vk,
                               genesis_root=genesis_root, batch_size=params.k,
                               max_transfers=SMALL.block_size)
    market = Market(chain, deployment)
    coordinator_p2p.mkdir(parents=True)
    peer = ID.from_pubkey(load_or_create_identity(coordinator_p2p).public_key)
    market.register_coordinator(owner, coordinator.address, peer.to_bytes(),
                                "coordinator capacity benchmark", deployment.rollup.address)
    market.mint(owner, owner.address, REWARD_POOL)
    market.fund_rewards(owner, REWARD_POOL)
    for account in rollers:
        chain.send_eth(owner, account.address, ROLLER_ETH)
        market.mint(owner, account.address, ROLLER_TOKENS)
        market.stake(account, 2 * params.min_stake)
    # The blocks' roster, as the devnet takes it; the coordinator keeps it fresh from there.
    market.snapshot_roster(owner)
    return deployment


def stub_sequencer(inputs_of):
    """The coordinator's sequencer: `l2_getBlockInputs(number, prover)` for the committed (empty)
    blocks, the only method the coordinator calls."""
    from sequencer.rpc import JsonRpcServer

    state = {"committed": 0, "calls": 0}

    async def block_inputs(number, prover=None):
        state["calls"] += 1
        if not isinstance(number, int) or not 1 <= number <= state["committed"] or prover is None:
            return None
        return inputs_of(prover)

    async def health():
        return {"status": "ok", "committed": state["committed"]}

    server = JsonRpcServer({"l2_getBlockInputs": block_inputs}, health, port=0,
                           name="the benchmark's stub sequencer")
    return server, state


# ====================================================================== one run


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


async def run_one(n: int, args, build, accounts, proofs, genesis_root: int,
                  warnings: CountingWarnings) -> dict:
    from coordinator.service import CoordinatorConfig, CoordinatorService
    from coordinator.views import BlockStatus
    from market_contracts.chain import EmbeddedChain
    from market_contracts.rollup import Rollup
    from market_contracts.rules import MarketParams
    from provernet.calibration import empty_block_inputs
    from provernet.devnet import keep_l1_moving

    params = MarketParams.devnet()
    rollers = accounts[:n]
    warnings.counts.clear()
    with tempfile.TemporaryDirectory(prefix="coordinator-bench-") as tmp:
        datadir = Path(tmp)
        chain = EmbeddedChain()
        started = time.perf_counter()
        deployment = await trio.to_thread.run_sync(
            deploy, chain, build, params, genesis_root, rollers, datadir / "coordinator" / "p2p")
        deploy_s = time.perf_counter() - started
        rollup = Rollup.from_deployment(chain, deployment)
        sequencer_key, coordinator_key = chain.dev_accounts[1], chain.dev_accounts[2]

        inputs_cache: dict[str, dict] = {}

        def inputs_of(prover: str) -> dict:
            key = prover.lower()
            if key not in inputs_cache:
                inputs_cache[key] = empty_block_inputs(prover)("block_small")
            return inputs_cache[key]

        server, seq_state = stub_sequencer(inputs_of)
        #: block number -> when the benchmark's commit transaction returned (Unix seconds)
        commits: dict[int, float] = {}

        def commit() -> int:
            block = rollup.commit_block(sequencer_key, genesis_root, genesis_root, [])
            commits[block.number] = time.time()
            return block.number

        timed_commit = STEPS.wrap("l1_commit", commit)

        async with trio.open_nursery() as nursery:
            # Randomness is the hash of the L1 block after a commit: keep the idle chain moving.
            nursery.start_soon(keep_l1_moving, chain, L1_BLOCK_SECONDS)
            host, port = await nursery.start(server.run)
            service = CoordinatorService(
                CoordinatorConfig(datadir=datadir / "coordinator",
                                  sequencer_url=f"http://{host}:{port}",
                                  listen="/ip4/127.0.0.1/tcp/0",
                                  poll_interval=args.poll_interval),
                chain, deployment, coordinator_key, build)
            await nursery.start(service.run)

            # Sanity: an empty block's inputs on L1 are those the proofs were made for.
            await trio.to_thread.run_sync(timed_commit)
            seq_state["committed"] = 1
            expected = await trio.to_thread.run_sync(rollup.public_inputs, 1, rollers[0].address)
            if expected != proofs[0]["public"]:
                raise SystemExit(f"L1's public inputs of an empty block {expected} are not the "
                                 f"proof's {proofs[0]['public']}: different genesis roots")

            config = {
                "coordinator": coordinator_key.address, "addrs": service.node.addrs,
                "chain_id": chain.chain_id, "rollup": rollup.address, "delay": args.delay,
                "aggregate": not args.decline_aggregation, "datadir": str(datadir / "rollers"),
                "rollers": [{"key": a.key.hex(), **p} for a, p in zip(rollers, proofs)],
            }
            worker = await trio.lowlevel.open_process(
                [sys.executable, "-u", str(Path(__file__).resolve()), "--worker"], cwd=str(REPO),
                stdin=subprocess.PIPE, stdout=subprocess.PIPE)
            try:
                lines = LineReader(worker.stdout)
                await worker.stdin.send_all((json.dumps(config) + "\n").encode())
                with trio.fail_after(120):
                    ready = json.loads(await lines.readline())
                if ready.get("connected") != n:
                    raise SystemExit(f"only {ready.get('connected')} of {n} rollers connected")
                with trio.fail_after(30):
                    while len(service.sessions) < n:
                        await trio.sleep(0.05)

                # ------------------------------------------------ the measured window
                STEPS.reset()
                t0, cpu0 = time.time(), time.process_time()
                t_end = t0 + args.seconds
                first = len(commits) + 1
                interval = 1 / args.block_rate if args.block_rate > 0 else 0.0

                def unproven() -> int:
                    core = service.core
                    waiting = (BlockStatus.UNKNOWN, BlockStatus.ASSIGNED, BlockStatus.OPEN)
                    return sum(1 for b in commits if b >= first
                               and core.block_status(b) in waiting)

                while True:
                    now = time.time()
                    if now >= t_end:
                        break
                    if interval:
                        due = t0 + (len(commits) - first + 1) * interval
                        if due > now:
                            await trio.sleep(min(due, t_end) - now)
                            continue
                    if args.backlog and unproven() >= args.backlog:
                        await trio.sleep(0.02)
                        continue
                    number = await trio.to_thread.run_sync(timed_commit)
                    seq_state["committed"] = number
                t1, cpu1 = time.time(), time.process_time()
                steps = STEPS.snapshot()
                core = service.core
                statuses = Counter(core.block_status(b).value for b in commits if b >= first)
                finalized = core.last_finalized
                # Let the tasks of the last blocks arrive (latency only; rates count the window).
                drain_end = time.time() + DRAIN_SECONDS
                while core.last_committed < max(commits) and time.time() < drain_end:
                    await trio.sleep(0.1)
                await trio.sleep(1.0 + args.poll_interval)
                await worker.stdin.send_all(b"stop\n")
                with trio.fail_after(60):
                    stopped = json.loads(await lines.readline())
                records, rollers_cpu = stopped["records"], stopped["cpu_s"]
            finally:
                with trio.move_on_after(10) as waited:
                    await worker.wait()
                if waited.cancelled_caught:
                    worker.kill()
                    await worker.wait()
            nursery.cancel_scope.cancel()

    result = summarize(n, args, t0, t1, cpu1 - cpu0, first, commits, records, steps, statuses,
                       finalized, params, deploy_s, dict(warnings.counts))
    # from the rollers' ready to their stop: a little longer than the window
    result["rollers_process_cpu_s"] = round(rollers_cpu, 2)
    return result


def summarize(n, args, t0, t1, cpu, first, commits, records, steps, statuses, finalized, params,
              deploy_s, warnings) -> dict:
    seconds = t1 - t0
    window = [r for r in records if t0 <= r["t"] < t1]
    tasks = [r for r in window if r["what"] == "task"]
    receipts = [r for r in window if r["what"] == "receipt"]
    verified = [r for r in receipts if r["kind"] == "block"
                and (r["status"] in ("accepted", "late") or r["reason"].startswith("invalid"))]
    aggregates = [r for r in receipts if r["kind"] == "batch"]
    latencies = [r["t"] - commits[r["index"]] for r in records
                 if r["what"] == "task" and r["kind"] == "block" and r["round"] == 0
                 and first <= r["index"] and r["index"] in commits and commits[r["index"]] < t1]
    committed = [b for b, t in commits.items() if b >= first and t0 <= t < t1]
    expected_tasks = len(committed) * params.m
    p50, p99 = percentile(latencies, 0.50), percentile(latencies, 0.99)
    statuses_all = Counter(r["status"] for r in receipts)
    profile = {name: {**value, "share_of_process_cpu": round(value["cpu_s"] / cpu, 3) if cpu else 0}
               for name, value in sorted(steps.items(), key=lambda kv: -kv[1]["cpu_s"])}
    accounted = sum(value["cpu_s"] for value in steps.values())
    profile["other"] = {"calls": 0, "cpu_s": round(max(0.0, cpu - accounted), 3), "wall_s": 0.0,
                        "share_of_process_cpu": round(max(0.0, cpu - accounted) / cpu, 3)
                        if cpu else 0}
    top = max((k for k in profile if k != "other"), key=lambda k: profile[k]["cpu_s"],
              default="other")
    return {
        "rollers": n, "prover": f"{NAME} ({args.delay:g} s, precomputed proof)",
        "load": (f"{args.block_rate:g} blocks/s" if args.block_rate > 0 else "saturating")
                + (f", backlog {args.backlog}" if args.backlog else ""),
        "aggregation": "declined" if args.decline_aggregation else "real (zkp.aggregate)",
        "seconds": round(seconds, 2),
        "blocks_committed": len(committed),
        "blocks_per_s": round(len(committed) / seconds, 3),
        "tasks_received": len(tasks),
        "tasks_per_s": round(len(tasks) / seconds, 3),
        "block_tasks_per_s": round(sum(r["kind"] == "block" for r in tasks) / seconds, 3),
        "proofs_verified": len(verified),
        "proofs_verified_per_s": round(len(verified) / seconds, 3),
        "aggregates_verified": len(aggregates),
        "receipts": dict(statuses_all),
        "block_status_at_end": dict(statuses),
        "batches_finalized": finalized // params.k,
        "commit_to_task_p50_ms": None if p50 is None else round(p50 * 1000),
        "commit_to_task_p99_ms": None if p99 is None else round(p99 * 1000),
        "commit_to_task_samples": len(latencies),
        "commit_to_task_missing": max(0, expected_tasks - sum(1 for r in records
            if r["what"] == "task" and r["kind"] == "block" and r["round"] == 0
            and r["index"] in committed)),
        "process_cpu_s": round(cpu, 2),
        "process_cpu_of_one_core": round(cpu / seconds, 3),
        "top_step": top,
        "cpu_steps": profile,
        "deploy_s": round(deploy_s, 1),
        "warnings": warnings,
    }


class LineReader:
    def __init__(self, stream):
        self.stream = stream
        self.buffer = b""

    async def readline(self) -> str:
        while b"\n" not in self.buffer:
            chunk = await self.stream.receive_some(1 << 16)
            if not chunk:
                raise SystemExit("the fixed-delay rollers' process ended early; see its stderr")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return line.decode()


# ====================================================================== the fixed-delay rollers


class FixedDelayProver:
    """THIS BENCHMARK'S STAND-IN FOR A PROVER, used nowhere else: it sleeps a fixed delay and
    hands in a proof made before the run. The proof is real and valid for every task of this
    benchmark because every block is empty (same public inputs for one roller)."""

    def __init__(self, delay: float, proof: dict):
        from zkp.proof import Proof

        self.delay = delay
        self.proof = Proof(tuple(proof["a"]), tuple(tuple(x) for x in proof["b"]),
                           tuple(proof["c"]))
        self.public = tuple(proof["public"])

    async def prove(self, inputs: bytes):
        """The precomputed proof after the fixed delay; the inputs must be the empty block's."""
        given = json.loads(inputs)
        named = [int(given[k]) for k in ("oldRoot", "newRoot", "dataHash", "prover")]
        if named != list(self.public):
            raise ValueError("the task's inputs are not the empty block this proof was made for")
        await trio.sleep(self.delay)
        return self.proof, self.public


async def fixed_delay_roller(node, config: dict, spec: dict, records: list, connected: list, *,
                             task_status=trio.TASK_STATUS_IGNORED) -> None:
    """One fixed-delay roller's session: connect, authenticate, then take every task."""
    from eth_utils import to_checksum_address
    from libp2p.peer.id import ID

    from market_contracts.rules import TaskKind
    from market_contracts.submissions import aggregate_hash, block_proof_hash, sign_submission
    from p2p import messages as m
    from p2p.protocols import open_stream
    from roller.session import TaskRefused, check_task, decline_reason, handshake
    from zkp.aggregate import aggregate
    from zkp.proof import Proof

    account = Account.from_key(spec["key"])
    prover = FixedDelayProver(config["delay"], spec)
    coordinator = to_checksum_address(config["coordinator"])
    chain_id, rollup = config["chain_id"], config["rollup"]
    peer = ID.from_base58(config["addrs"][0].rsplit("/p2p/", 1)[1])
    await node.connect_peer(peer, config["addrs"])
    kinds: dict[bytes, tuple[str, int, int]] = {}

    def record(what: str, task: bytes, **fields) -> None:
        kind, index, round_ = kinds.get(task, ("?", -1, -1))
        records.append({"what": what, "t": time.time(), "roller": account.address, "kind": kind,
                        "index": index, "round": round_, **fields})

    async with open_stream(node, peer) as stream:
        await handshake(stream, account, coordinator, chain_id)
        lock = trio.Lock()

        async def send(msg) -> None:
            async with lock:
                await stream.send(msg)

        async def work(task: m.Task) -> None:
            if task.kind == "block":
                proof, public = await prover.prove(task.inputs)
                signature = sign_submission(account, chain_id, rollup, TaskKind.BLOCK, task.index,
                                            task.round, task.statement, block_proof_hash(proof))
                await send(m.Proof(task_id=task.task_id, statement=task.statement, a=proof.a,
                                   b=proof.b, c=proof.c, signature=signature))
            else:
                items = task.inputs
                publics = [tuple(item.public) for item in items]
                combined = aggregate([Proof(item.a, item.b, item.c) for item in items], publics)
                provers = [to_checksum_address(p[3].to_bytes(20, "big")) for p in publics]
                signature = sign_submission(
                    account, chain_id, rollup, TaskKind.AGGREGATION, task.index, task.round,
                    task.statement, aggregate_hash(provers, combined.a, combined.b, combined.c))
                await send(m.Aggregate(task_id=task.task_id, statement=task.statement,
                                       a=combined.a, b=combined.b, c=combined.c,
                                       signature=signature))
            record("submitted", task.task_id)

        connected.append(account.address)
        task_status.started()
        async with trio.open_nursery() as nursery:
            while True:
                msg = await stream.receive(m.Task, m.Cancel, m.Receipt, m.Ping, timeout=math.inf)
                if isinstance(msg, m.Task):
                    kinds[msg.task_id] = (msg.kind, msg.index, msg.round)
                    record("task", msg.task_id)
                    try:
                        check_task(msg, coordinator=coordinator, chain_id=chain_id,
                                   rollup=rollup, roller=account.address)
                    except TaskRefused as refused:
                        await send(m.Decline(task_id=msg.task_id, reason=refused.wire_reason))
                        continue
                    if msg.kind == "batch" and not config["aggregate"]:
                        await send(m.Decline(task_id=msg.task_id, reason=decline_reason(
                            "busy", f"the {NAME} of this benchmark does not aggregate")))
                        continue
                    await send(m.Accept(task_id=msg.task_id))
                    nursery.start_soon(work, msg)
                elif isinstance(msg, m.Receipt):
                    record("receipt", msg.task_id, status=msg.status, reason=msg.reason)
                elif isinstance(msg, m.Ping):
                    await send(m.Pong(nonce=msg.nonce))


async def worker_main() -> None:
    """The child process: every fixed-delay roller, each its own libp2p node."""
    from p2p.host import open_node

    config = json.loads(await trio.to_thread.run_sync(sys.stdin.readline))
    records: list[dict] = []
    connected: list[str] = []
    async with AsyncExitStack() as stack:
        nursery = await stack.enter_async_context(trio.open_nursery())
        for number, spec in enumerate(config["rollers"]):
            node = await stack.enter_async_context(open_node(
                Path(config["datadir"]) / f"roller-{number}", listen="/ip4/127.0.0.1/tcp/0"))
            await nursery.start(fixed_delay_roller, node, config, spec, records, connected)
        print(json.dumps({"connected": len(connected)}), flush=True)
        cpu = time.process_time()
        await trio.to_thread.run_sync(sys.stdin.readline, abandon_on_cancel=True)
        print(json.dumps({"records": records, "cpu_s": time.process_time() - cpu}), flush=True)
        os._exit(0)  # the nodes' teardown is no part of the measurement


# ====================================================================== the whole benchmark


async def run_all(args, warnings: CountingWarnings) -> dict:
    from sequencer.accounts import AccountTree
    from sequencer.circuit_inputs import SMALL
    from zkp.builds import build_block_circuit

    instrument()
    build = await trio.to_thread.run_sync(build_block_circuit, "small")
    genesis_root = AccountTree(SMALL.depth).root  # the empty-account genesis
    accounts = [Account.create() for _ in range(max(args.rollers))]
    started = time.perf_counter()
    proofs = await trio.to_thread.run_sync(make_proofs, build, accounts)
    proving_s = time.perf_counter() - started
    if proofs[0]["public"][:2] != [genesis_root, genesis_root]:
        raise SystemExit("the empty block's proof does not start from the deployed genesis root")
    costs = await trio.to_thread.run_sync(unit_costs, build, proofs[0], 4)
    runs = []
    for n in args.rollers:
        runs.append(await run_one(n, args, build, accounts, proofs, genesis_root, warnings))
    return {"machine": machine(), "command": " ".join(["benchmarks/coordinator.py", *sys.argv[1:]]),
            "prover": f"{NAME}: sleeps {args.delay:g} s, then submits a proof made before the run "
                      "(this benchmark only)",
            "proofs_made_s": round(proving_s, 1), "unit_costs": costs, "runs": runs}


def machine() -> str:
    try:
        model = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                     if line.startswith("model name"))
    except (OSError, StopIteration):
        model = "unknown CPU"
    return f"{os.cpu_count()} cores, {model}, load average {os.getloadavg()[0]:.2f} at the end"


def print_table(result: dict) -> None:
    console = Console()
    if not console.is_terminal:
        console = Console(width=150)
    runs = result["runs"]
    first = runs[0]
    table = Table(title=f"coordinator capacity: {first['prover']}, load {first['load']}, "
                        f"aggregation {first['aggregation']}, {first['seconds']:.0f} s each")
    for column in ("connected rollers", "blocks/s", "tasks assigned/s", "proofs verified/s",
                   "aggregates verified", "batches finalized", "commit→task p50", "p99",
                   "CPU (of 1 core)", "top step (share of CPU)"):
        table.add_column(column, justify="left" if column.startswith("top") else "right",
                         no_wrap=column.startswith("top"))
    for r in runs:
        top = r["cpu_steps"][r["top_step"]]
        table.add_row(
            str(r["rollers"]), f"{r['blocks_per_s']:.2f}", f"{r['tasks_per_s']:.2f}",
            f"{r['proofs_verified_per_s']:.2f}", str(r["aggregates_verified"]),
            str(r["batches_finalized"]), _ms(r["commit_to_task_p50_ms"]),
            _ms(r["commit_to_task_p99_ms"]), f"{100 * r['process_cpu_of_one_core']:.0f}%",
            f"{r['top_step']} {100 * top['share_of_process_cpu']:.0f}%")
    console.print(table)

    steps = Table(title="CPU of the coordinator's process by step, over the window "
                        "(thread CPU time, by wrapping)")
    steps.add_column("step")
    for r in runs:
        steps.add_column(f"N={r['rollers']}: CPU s (calls)", justify="right")
    names = [name for name in STEP_NAMES if any(name in r["cpu_steps"] for r in runs)] + ["other"]
    for name in names:
        row = [STEP_NAMES.get(name, "other: event loop (libp2p, store, core), web3, sequencer")]
        for r in runs:
            s = r["cpu_steps"].get(name)
            row.append("-" if s is None else f"{s['cpu_s']:.1f} ({s['calls']})"
                       if name != "other" else f"{s['cpu_s']:.1f}")
        steps.add_row(*row)
    console.print(steps)
    costs = result["unit_costs"]
    console.print(f"one core, alone: verify a proof {costs['verify_proof_s']:.3f} s, an aggregate "
                  f"of 4 {costs['verify_aggregate_s']:.3f} s; {result['machine']}")
    for r in runs:
        console.print(f"N={r['rollers']}: receipts {r['receipts']}, {r['blocks_committed']} blocks "
                      f"committed in the window, at its end {r['block_status_at_end']}")
        if r["warnings"]:
            console.print(f"N={r['rollers']} coordinator warnings: {r['warnings']}")
        if r["commit_to_task_missing"]:
            console.print(f"N={r['rollers']}: {r['commit_to_task_missing']} first-round block "
                          "tasks had not arrived by the end")


def _ms(value) -> str:
    return "-" if value is None else f"{value:,} ms"


def main() -> None:
    if "--worker" in sys.argv[1:]:
        configure_logging(verbose=False)
        trio.run(worker_main)
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rollers", type=lambda s: [int(x) for x in s.split(",")],
                        default=[4, 16, 32], help="connected roller counts, comma-separated")
    parser.add_argument("--seconds", type=float, default=60.0, help="measured window per count")
    parser.add_argument("--delay", type=float, default=0.5,
                        help=f"the {NAME}'s fixed proving delay, seconds")
    parser.add_argument("--block-rate", type=float, default=0.0,
                        help="blocks committed per second; 0: as fast as the backlog allows")
    parser.add_argument("--backlog", type=int, default=3,
                        help="commit only while fewer committed blocks wait for a first valid "
                             "proof; 0: no bound")
    parser.add_argument("--poll-interval", type=float, default=0.5,
                        help="the coordinator's L1 poll interval, seconds (devnet's 0.5)")
    parser.add_argument("--decline-aggregation", action="store_true",
                        help=f"the {NAME}s decline batch tasks: no finalization")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--verbose", action="store_true", help="show the coordinator's warnings")
    args = parser.parse_args()
    if args.block_rate <= 0 and args.backlog <= 0:
        parser.error("with --block-rate 0 a --backlog is needed, or blocks pile up without bound")
    warnings = configure_logging(args.verbose)
    result = trio.run(run_all, args, warnings)
    if args.json:
        print(json.dumps(result, indent=1))
    else:
        print_table(result)


if __name__ == "__main__":
    main()
