"""Coordinator capacity under a fixed-delay prover: `provernet bench coordinator` (on anvil) and
`benchmarks/coordinator.py` (the longer study, on the embedded chain) share this.

Everything is the real thing except the prover. A fresh deployment (market and Rollup with the
small block circuit, devnet parameters: M = 2 rollers per block, K = 4 blocks per batch), N
staked rollers, and the real `CoordinatorService` (its own libp2p host, SQLite store, L1
follower, proof verification against `Rollup.publicInputs`, finalization and settlement on L1).
Its sequencer is a stub JSON-RPC server (`p2p.http_server.JsonRpcServer`) answering
`l2_getBlockInputs` with the skipped block's inputs, in a child process of its own
(`SequencerChild`), as a real sequencer is not in the coordinator's process.

Every block is the SKIPPED block: one record, a forced withdrawal that does not apply
(`skipped_record`), which changes no state. The committer, as the Rollup's sequencer and its
bridge, appends the request to the L1 queue and commits the block with the genesis root as its new
root, so every block has the same public inputs [root, root, dataHash, prover], and ONE real
Groth16 proof per roller, made with the real prover on `skipped_block_inputs(address)` (once:
cached beside the circuit, the roller keys being fixed), is a valid proof of every block for that
roller.

THE FIXED-DELAY ROLLER EXISTS ONLY FOR THESE MEASUREMENTS. Each is a real libp2p node (in child
processes of ROLLERS_PER_PROCESS, so that their work is not the coordinator's): it dials the
coordinator, authenticates with the session protocol (`roller.session.handshake`), checks each
task's signature and id (`roller.session.check_task`), accepts it, sleeps a fixed delay instead of
proving, and submits its precomputed proof signed for the task's statement. Aggregation tasks are
done for real (`zkp.aggregate`, no self-check), or declined (`aggregate=False`, no fault).

Load: with `block_rate` 0 the committer commits the next block as soon as fewer than `backlog`
committed blocks wait for their first valid proof (read from the coordinator's core), so the
coordinator always has work queued: saturation figures. With `block_rate` R it commits R blocks a
second (open loop; backlog 0), on a JSON-RPC node from a child process of its own, as a real
sequencer's work is not in the coordinator's process. An empty L1 block is mined whenever none came for
`L1_BLOCK_SECONDS`: a block's randomness is the hash of the L1 block after its commit.

Measured over the window after all N rollers are connected, from the rollers' side: tasks
received per second (assignments), block-proof verdicts received per second (proofs verified),
and the time from the committer's commit transaction returning to the block's first-round task
arriving at a roller (p50, p99: this includes the coordinator's L1 poll interval and the wait for
the L1 block after the commit).
"""

from __future__ import annotations

import functools
import json
import math
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AsyncExitStack, asynccontextmanager
from functools import partial
from dataclasses import dataclass
from pathlib import Path

import trio
from eth_account import Account
from eth_utils import keccak

from atomicfile import write_atomically
from p2p.messages import BATCH_TASK, BLOCK_TASK

#: each roller sends two transactions (approve, stake); anvil funds its dev accounts with
#: 10,000 ETH, which must cover 1,000 rollers
ROLLER_ETH = 10**18
#: the reward pool: larger than the devnet's, as a long run settles many batches
REWARD_POOL = 1_000_000 * 10**18
#: seconds to wait, after the window, for the tasks of blocks committed in it to arrive
DRAIN_SECONDS = 15.0
#: an empty L1 block is mined when none came for this long: a block's randomness needs the next
L1_BLOCK_SECONDS = 0.2
#: threads staking the rollers on a JSON-RPC node (each roller's transactions are its own; the
#: owner's funding ones share its nonce lock): anvil mines each at once
SETUP_THREADS = 32
#: rollers funded by one burst of the owner's pipelined transactions before waiting for them,
#: so that a transaction the node will not mine shows after a burst, not after all of them
FUNDING_CHUNK = 50
#: commits under way at once in open-loop mode (`Load.block_rate`)
COMMITTERS = 12
#: anvil's block interval for `provernet bench coordinator`, seconds: mining one block per
#: transaction (automine) costs anvil about 10 ms a block, which caps all of L1 near 100
#: transactions a second, commits, randomness records and settlements together; interval mining
#: puts many in a block, as a real L1 does (12 s there), short enough for the latency target
ANVIL_BLOCK_TIME = 0.1
#: seconds for every roller of the child processes to connect and authenticate
CONNECT_TIMEOUT = 600.0
#: fixed-delay rollers per child process: one process with 1,000 py-libp2p hosts failed after
#: about 250 had connected (a host's service raised out of libp2p's own nursery while
#: negotiating security), and several processes spread the rollers' work over the cores
ROLLERS_PER_PROCESS = 200
#: rollers of one child process connecting at once, and the tries each gets (a busy
#: coordinator fails some security handshakes)
CONNECTS_AT_ONCE = 4
CONNECT_ATTEMPTS = 5
NAME = "fixed-delay roller"


@dataclass(frozen=True)
class Load:
    """One run's load: N roller sessions and how blocks are committed."""

    sessions: int
    seconds: float
    #: the fixed-delay roller's proving delay, seconds
    delay: float = 0.5
    #: blocks committed per second; 0: as fast as the backlog allows
    block_rate: float = 0.0
    #: commit only while fewer committed blocks wait for a first valid proof; 0: no bound
    backlog: int = 3
    #: the coordinator's L1 poll interval, seconds (the devnet's)
    poll_interval: float = 0.5
    #: the rollers aggregate batches (so batches are finalized and settled) or decline them
    aggregate: bool = True


@dataclass
class Window:
    """What one run recorded: the window, the commits (block -> when its commit returned, Unix
    seconds) and the rollers' records (tasks and receipts as they arrived)."""

    sessions: int
    t0: float
    t1: float
    cpu_s: float
    first: int
    commits: dict[int, float]
    records: list[dict]
    statuses: Counter
    finalized: int
    rollers_cpu_s: float
    deploy_s: float
    m: int

    @property
    def seconds(self) -> float:
        return self.t1 - self.t0

    def latencies(self) -> list[float]:
        """Commit returned -> first-round block task at a roller, for blocks committed in it."""
        return [r["t"] - self.commits[r["index"]] for r in self.records
                if r["what"] == "task" and r["kind"] == BLOCK_TASK and r["round"] == 0
                and r["index"] >= self.first and r["index"] in self.commits
                and self.commits[r["index"]] < self.t1]

    def tasks(self) -> list[dict]:
        return [r for r in self.records if r["what"] == "task" and self.t0 <= r["t"] < self.t1]

    def receipts(self) -> list[dict]:
        return [r for r in self.records if r["what"] == "receipt" and self.t0 <= r["t"] < self.t1]

    def verified(self) -> list[dict]:
        """Block-proof verdicts: accepted, late or found invalid (a refusal is no verdict)."""
        return [r for r in self.receipts() if r["kind"] == BLOCK_TASK
                and (r["status"] in ("accepted", "late") or r["reason"].startswith("invalid"))]

    def figures(self) -> dict:
        """`provernet bench coordinator --json`'s object."""
        from provernet.market_report import percentile

        latencies = self.latencies()
        p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
        return {"sessions": self.sessions, "assignments_per_s": round(len(self.tasks()) / self.seconds, 2),
                "proofs_verified_per_s": round(len(self.verified()) / self.seconds, 2),
                "assign_p50_ms": None if p50 is None else round(p50 * 1000),
                "assign_p99_ms": None if p99 is None else round(p99 * 1000)}


# ====================================================================== set-up


def skipped_record():
    """Every block's one record: a forced withdrawal from leaf 0 of the empty genesis, which does
    not apply (FORCED_SKIP: that leaf's address is 0, not the request's), so the block changes
    no state. Each block takes a queue entry of its own (`commit_skipped`)."""
    from sequencer.accounts import AccountTree
    from sequencer.circuit_inputs import SMALL
    from sequencer.transition import forced_record

    return forced_record(AccountTree(SMALL.depth), 0, l2_address=1, amount=1, recipient=1)


def skipped_block_inputs(prover: str) -> dict:
    """The small block circuit's inputs of every block (`skipped_record`, on the empty
    genesis), bound to `prover`."""
    from sequencer.accounts import AccountTree
    from sequencer.circuit_inputs import SMALL, block_inputs

    return block_inputs(SMALL, AccountTree(SMALL.depth), [(skipped_record(), None)], prover)


def commit_skipped(rollup, account, root: int) -> int:
    """Append the skipped block's request to the queue and commit the block (`account` is the
    rollup's sequencer and bridge); its number."""
    from sequencer.block_data import calldata, queue_hash

    record = skipped_record()
    rollup.enqueue(account, queue_hash(record))
    return rollup.commit_block(account, root, calldata([record])).number


def roller_accounts(n: int) -> list:
    """N roller keys, the same every run (so that their proofs can be cached)."""
    return [Account.from_key(keccak(f"provernet bench coordinator roller {i}".encode()))
            for i in range(n)]


def roller_proofs(build, accounts, cache_dir: Path,
                  progress: Callable[[str], None] = lambda _: None) -> list[dict]:
    """One real proof of the skipped block per roller, with the real prover; cached by circuit
    and roller address (about a second each the first time)."""
    from zkp.groth16 import Prover
    from zkp.witness import WitnessCalculator
    from zkp.zkey import read_zkey

    folder = cache_dir / "bench" / f"coordinator-skipped-{build.zkey_hash.hex()[:32]}"
    folder.mkdir(parents=True, exist_ok=True)
    witness = prover = None
    proofs = []
    for number, account in enumerate(accounts):
        path = folder / f"{account.address.lower()}.json"
        if not path.exists():
            if prover is None:
                witness = WitnessCalculator(build.wasm)
                prover = Prover(read_zkey(build.zkey), "auto")
            progress(f"proving the skipped block for roller {number + 1} of {len(accounts)} "
                     "(once: proofs are cached)")
            inputs = skipped_block_inputs(account.address)
            proof, public = prover.prove(witness.calculate(inputs))
            body = {"a": list(proof.a), "b": [list(x) for x in proof.b], "c": list(proof.c),
                    "public": [int(x) for x in public]}
            write_atomically(path, json.dumps(body))
        proofs.append(json.loads(path.read_text()))
    return proofs


def deploy(chain, build, params, genesis_root: int, rollers, coordinator_p2p: Path,
           threads: int = 1):
    """The world as `provernet.world.devnet_world` builds it, with one rollup of the small
    block circuit (genesis `genesis_root`, its sequencer also its bridge), a larger reward pool
    and equal stakes: the rollers funded and staked `threads` at a time, and a roster snapshot
    taken."""
    from provernet.world import ROLLER_TOKENS, World, peer_id_in

    owner, sequencer, coordinator = chain.dev_accounts[:3]
    world = World.deploy(chain, params, owner)
    deployment = world.attach_rollup(sequencer.address, vk=build.setup.vk,
                                     genesis_root=genesis_root, bridge=sequencer.address)
    coordinator_p2p.mkdir(parents=True)
    world.register_coordinator(coordinator.address,
                               peer_id=peer_id_in(coordinator_p2p).to_bytes(),
                               name="coordinator capacity benchmark")
    world.fund_rewards(REWARD_POOL)
    stake = 2 * params.min_stake
    if threads == 1:
        world.stake_rollers(rollers, [stake] * len(rollers), eth=ROLLER_ETH)
    else:
        # The owner's funding pipelined (a transaction per block would take minutes for 1,000
        # rollers), then each roller stakes from its own account, `threads` at a time.
        market = world.market
        sender = PipelinedSender(chain, owner)
        for first in range(0, len(rollers), FUNDING_CHUNK):
            sent = []
            for account in rollers[first:first + FUNDING_CHUNK]:
                sent.append(sender.send(account.address, value=ROLLER_ETH, gas=21_000))
                sent.append(sender.send_call(market.token.functions.mint(account.address,
                                                                         ROLLER_TOKENS)))
            for tx_hash in sent:
                sender.wait(tx_hash)
        with ThreadPoolExecutor(threads) as pool:
            # list(): a failure raises here
            list(pool.map(lambda account: market.stake(account, stake), rollers))
    # The blocks' roster, as the devnet takes it; the coordinator keeps it fresh from there.
    world.snapshot_roster()
    return deployment


def stub_sequencer():
    """The coordinator's sequencer: `l2_getBlockInputs(number, prover)` for the committed
    (skipped) blocks, the only method the coordinator calls."""
    from p2p.http_server import JsonRpcServer

    @functools.cache
    def inputs_of(prover: str) -> dict:
        return skipped_block_inputs(prover)

    # Every block is the skipped block, and the coordinator asks only for blocks it read from L1.
    async def block_inputs(number, prover=None):
        if not isinstance(number, int) or number < 1:
            return None
        if prover is None:  # as the sequencer does: the inputs, the prover left out
            return {k: v for k, v in inputs_of("0x" + "00" * 20).items() if k != "prover"}
        return inputs_of(prover.lower())

    async def health():
        return {"status": "ok"}

    return JsonRpcServer({"l2_getBlockInputs": block_inputs}, health, port=0,
                         name="the benchmark's stub sequencer")


class PipelinedSender:
    """One account's transactions on a JSON-RPC node sent without waiting for each other: each
    signed with a nonce counted here and a gas limit estimated once per function, where
    `Chain.transact` estimates gas, reads the fees and, under the account's nonce lock, reads
    the pending nonce per transaction (on anvil with many transactions pending that took about
    50 ms a transaction, and concurrent senders of one account lost transactions)."""

    def __init__(self, chain, account):
        self.chain, self.account = chain, account
        self._lock = threading.Lock()
        self._nonce: int | None = None
        self._gas: dict[bytes, int] = {}

    def send(self, to: str, *, data: bytes = b"", value: int = 0, gas: int):
        w3 = self.chain.w3
        with self._lock:
            if self._nonce is None:
                self._nonce = w3.eth.get_transaction_count(self.account.address, "pending")
                # Ten times today's gas price: no transaction waits for a fee rise.
                self._gas_price = 10 * w3.eth.gas_price
            tx = {"to": to, "data": data, "value": value, "gas": gas, "nonce": self._nonce,
                  "gasPrice": self._gas_price, "chainId": self.chain.chain_id}
            self._nonce += 1
            return w3.eth.send_raw_transaction(self.account.sign_transaction(tx).raw_transaction)

    def send_call(self, fn):
        """Send a contract call; its gas limit is twice the first estimate for its selector."""
        data = bytes.fromhex(fn._encode_transaction_data()[2:])
        selector = data[:4]
        if selector not in self._gas:
            self._gas[selector] = 2 * self.chain.w3.eth.estimate_gas(
                {"from": self.account.address, "to": fn.address, "data": data})
        return self.send(fn.address, data=data, gas=self._gas[selector])

    def wait(self, tx_hash):
        receipt = self.chain.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=60,
                                                                 poll_latency=0.02)
        if receipt["status"] != 1:
            raise RuntimeError(f"transaction {tx_hash.hex()} failed on L1")
        return receipt


class PipelinedCommitter:
    """`commit_skipped` on a JSON-RPC node, several under way at once (`PipelinedSender`): each
    commit is sent after its queue entry, from the same account, so the node mines them in that
    order; only the first commit waits for its entry to be mined, as its gas is estimated (once,
    `PipelinedSender.send_call`) against it."""

    def __init__(self, chain, contract, account, root: int):
        self.contract, self.root = contract, root
        self.sender = PipelinedSender(chain, account)
        self._first = threading.Lock()
        self._estimated = False

    def __call__(self) -> int:
        from web3.logs import DISCARD

        from sequencer.block_data import calldata, queue_hash

        record = skipped_record()
        functions = self.contract.functions
        enqueued = self.sender.send_call(functions.enqueue(queue_hash(record)))
        with self._first:
            if not self._estimated:
                self.sender.wait(enqueued)
                self._estimated = True
        receipt = self.sender.wait(self.sender.send_call(
            functions.commitBlock(self.root, calldata([record]))))
        (event,) = self.contract.events.BlockCommitted().process_receipt(receipt, errors=DISCARD)
        return event["args"]["blockNumber"]


async def commit_open_loop(commit: Callable[[], int], rate: float, seconds: float,
                           committed: Callable[[int, float], None]) -> None:
    """Call `commit` `rate` times a second for `seconds`, each on a thread of its own (up to
    COMMITTERS at once), as a sequencer sends commits without waiting for the last; `committed`
    hears each block number and when its commit returned."""
    committers = trio.CapacityLimiter(COMMITTERS)
    t0 = time.time()

    async def commit_one() -> None:
        number = await trio.to_thread.run_sync(commit, limiter=committers)
        committed(number, time.time())

    async with trio.open_nursery() as nursery:
        for sent in range(math.ceil(rate * seconds)):
            await trio.sleep_until(trio.current_time() + max(0.0, t0 + sent / rate - time.time()))
            nursery.start_soon(commit_one)


class SequencerChild:
    """The benchmark's sequencer in a child process of its own (`sequencer_main`), as a real
    one is not in the coordinator's: it serves the stub's `l2_getBlockInputs` at `url`, and
    `commit_open_loop` on a JSON-RPC node when asked (`commit`)."""

    def __init__(self, child: trio.Process, lines: LineReader, url: str):
        self.child, self.lines, self.url = child, lines, url

    @classmethod
    @asynccontextmanager
    async def start(cls, chain_url: str | None, rollup: str, account, root: int
                    ) -> AsyncIterator[SequencerChild]:
        async with child_process("sequencer") as (child, lines):
            config = {"url": chain_url, "rollup": rollup, "key": account.key.hex(), "root": root}
            await child.stdin.send_all((json.dumps(config) + "\n").encode())
            with trio.fail_after(60):
                port = json.loads(await lines.readline())["port"]
            try:
                yield cls(child, lines, f"http://127.0.0.1:{port}")
            finally:
                await child.stdin.aclose()  # its end of input: it stops

    async def commit(self, load: Load, committed: Callable[[int, float], None]) -> None:
        request = {"rate": load.block_rate, "seconds": load.seconds}
        await self.child.stdin.send_all((json.dumps(request) + "\n").encode())
        with trio.fail_after(load.seconds + 120):
            while "done" not in (line := json.loads(await self.lines.readline())):
                committed(line["block"], line["t"])


async def sequencer_main() -> None:
    """The child process of `SequencerChild`: reads {"url", "rollup", "key", "root"} as one
    JSON line (url: the chain's JSON-RPC node, or null), serves the stub sequencer and prints
    {"port"}; then for each line {"rate", "seconds"} commits open loop, printing {"block", "t"}
    for each commit as it returns and then {"done": true}; it stops at the end of its input."""
    from market_contracts.chain import RpcChain
    from market_contracts.compile import load_artifact

    config = json.loads(await trio.to_thread.run_sync(sys.stdin.readline))
    commit = None
    if config["url"] is not None:
        chain = RpcChain(config["url"])
        contract = chain.w3.eth.contract(address=config["rollup"],
                                         abi=load_artifact("Rollup")["abi"])
        commit = PipelinedCommitter(chain, contract, Account.from_key(config["key"]),
                                    config["root"])

    def committed(number: int, at: float) -> None:
        print(json.dumps({"block": number, "t": at}), flush=True)

    async with trio.open_nursery() as nursery:
        _, port = await nursery.start(stub_sequencer().run)
        print(json.dumps({"port": port}), flush=True)
        while line := await trio.to_thread.run_sync(sys.stdin.readline):
            request = json.loads(line)
            await commit_open_loop(commit, request["rate"], request["seconds"], committed)
            print(json.dumps({"done": True}), flush=True)
        nursery.cancel_scope.cancel()


@asynccontextmanager
async def child_process(*args: str) -> AsyncIterator[tuple[trio.Process, LineReader]]:
    """A child process of this module (`__main__` below), its stdin open and its stdout read by
    lines; waited for on the way out, and killed if it does not end in 10 s."""
    child = await trio.lowlevel.open_process(
        [sys.executable, "-u", "-m", "provernet.bench_coordinator", *args],
        cwd=str(Path(__file__).resolve().parent.parent),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        yield child, LineReader(child.stdout)
    finally:
        with trio.move_on_after(10) as waited:
            await child.wait()
        if waited.cancelled_caught:
            child.kill()
            await child.wait()


class LineReader:
    def __init__(self, stream):
        self.stream = stream
        self.buffer = b""

    async def readline(self) -> str:
        while b"\n" not in self.buffer:
            chunk = await self.stream.receive_some(1 << 16)
            if not chunk:
                raise RuntimeError("a child process of the benchmark ended early; see its stderr")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        return line.decode()


# ====================================================================== one run


async def run_load(chain, build, genesis_root: int, accounts, proofs, load: Load, datadir: Path,
                   *, setup_threads: int = 1, wrap_commit=lambda fn: fn,
                   on_window_start=lambda: None, on_window_end=lambda: None,
                   progress: Callable[[str], None] = lambda _: None) -> Window:
    """Deploy on `chain`, run the coordinator and `load.sessions` fixed-delay rollers, commit
    blocks for `load.seconds`; what was recorded. `wrap_commit` wraps the committer's function,
    the hooks run as the window opens and closes (the study's CPU accounting)."""
    from coordinator.config import CoordinatorConfig
    from coordinator.service import CoordinatorService
    from coordinator.views import ProvingStatus
    from market_contracts.chain import EmbeddedChain
    from market_contracts.rollup import Rollup
    from market_contracts.rules import MarketParams
    from provernet.devnet import keep_l1_moving

    n = load.sessions
    params = MarketParams.devnet()
    rollers = accounts[:n]
    progress(f"deploying and staking {n} rollers")
    started = time.perf_counter()
    deployment = await trio.to_thread.run_sync(
        deploy, chain, build, params, genesis_root, rollers, datadir / "coordinator" / "p2p",
        setup_threads)
    deploy_s = time.perf_counter() - started
    rollup = Rollup.from_deployment(chain, deployment)
    sequencer_key, coordinator_key = chain.dev_accounts[1], chain.dev_accounts[2]

    commits: dict[int, float] = {}
    commit = (partial(commit_skipped, rollup, sequencer_key, genesis_root)
              if isinstance(chain, EmbeddedChain)
              else PipelinedCommitter(chain, rollup.contract, sequencer_key, genesis_root))
    # Open loop on a JSON-RPC node: the commits come from the sequencer's child process.
    commits_in_child = load.block_rate > 0 and not isinstance(chain, EmbeddedChain)

    def committed(number: int, at: float) -> None:
        commits[number] = at

    timed_commit = wrap_commit(commit)

    async with (SequencerChild.start(getattr(chain, "url", None), rollup.address, sequencer_key,
                                     genesis_root) as sequencer,
                trio.open_nursery() as nursery):
        nursery.start_soon(keep_l1_moving, chain, L1_BLOCK_SECONDS)
        service = CoordinatorService(
            CoordinatorConfig(datadir=datadir / "coordinator", sequencer_url=sequencer.url,
                              listen="/ip4/127.0.0.1/tcp/0", poll_interval=load.poll_interval),
            chain, deployment, coordinator_key, build)
        await nursery.start(service.run)

        # Sanity: the skipped block's inputs on L1 are those the proofs were made for.
        committed(await trio.to_thread.run_sync(timed_commit), time.time())
        expected = await trio.to_thread.run_sync(rollup.public_inputs, 1, rollers[0].address)
        if expected != proofs[0]["public"]:
            raise RuntimeError(f"L1's public inputs of the skipped block {expected} are not the "
                               f"proof's {proofs[0]['public']}: different genesis roots")

        config = {
            "coordinator": coordinator_key.address, "addrs": service.node.addrs,
            "chain_id": chain.chain_id, "rollup": rollup.address, "delay": load.delay,
            "aggregate": load.aggregate, "datadir": str(datadir / "rollers"),
        }
        progress(f"connecting {n} {NAME}s")
        specs = [{"key": a.key.hex(), **p} for a, p in zip(rollers, proofs)]
        async with AsyncExitStack() as children:
            workers = []
            for first_roller in range(0, n, ROLLERS_PER_PROCESS):
                worker, lines = await children.enter_async_context(child_process())
                share = {**config, "first": first_roller,
                         "rollers": specs[first_roller:first_roller + ROLLERS_PER_PROCESS]}
                await worker.stdin.send_all((json.dumps(share) + "\n").encode())
                workers.append((worker, lines))
            with trio.fail_after(CONNECT_TIMEOUT):
                connected = sum([json.loads(await lines.readline())["connected"]
                                 for _, lines in workers])
            if connected != n:
                raise RuntimeError(f"only {connected} of {n} rollers connected")
            with trio.fail_after(60):
                while len(service.sessions) < n:
                    await trio.sleep(0.05)

            # ------------------------------------------------ the measured window
            progress(f"{n} sessions: measuring for {load.seconds:g} s")
            on_window_start()
            t0, cpu0 = time.time(), time.process_time()
            t_end = t0 + load.seconds
            first = len(commits) + 1

            def unproven() -> int:
                core = service.core
                waiting = (ProvingStatus.UNKNOWN, ProvingStatus.ASSIGNED, ProvingStatus.OPEN)
                return sum(1 for b in commits if b >= first and core.block_status(b) in waiting)

            if commits_in_child:
                await sequencer.commit(load, committed)
            elif load.block_rate > 0:
                await commit_open_loop(timed_commit, load.block_rate, load.seconds, committed)
            else:
                while time.time() < t_end:
                    if load.backlog and unproven() >= load.backlog:
                        await trio.sleep(0.02)
                        continue
                    committed(await trio.to_thread.run_sync(timed_commit), time.time())
            t1, cpu1 = time.time(), time.process_time()
            on_window_end()
            core = service.core
            statuses = Counter(core.block_status(b).value for b in commits if b >= first)
            finalized = core.last_finalized
            # Let the tasks of the last blocks arrive (latency only; rates count the window).
            drain_end = time.time() + DRAIN_SECONDS
            while core.last_committed < max(commits) and time.time() < drain_end:
                await trio.sleep(0.1)
            await trio.sleep(1.0 + load.poll_interval)
            records, rollers_cpu = [], 0.0
            for worker, lines in workers:
                await worker.stdin.send_all(b"stop\n")
                with trio.fail_after(60):
                    stopped = json.loads(await lines.readline())
                records += stopped["records"]
                rollers_cpu += stopped["cpu_s"]
        nursery.cancel_scope.cancel()
    return Window(n, t0, t1, cpu1 - cpu0, first, commits, records, statuses, finalized,
                  rollers_cpu, deploy_s, params.m)


def measure_on_anvil(sessions: list[int], seconds: float, *, delay: float = 0.5,
                     backlog: int = 0, block_rate: float = 0.0, poll_interval: float = 0.1,
                     cache_dir: Path | None = None,
                     progress: Callable[[str], None] = lambda _: None) -> list[dict]:
    """`provernet bench coordinator`: one run per session count, each on a fresh anvil."""
    import structlog

    from market_contracts.anvil import run_anvil
    from market_contracts.chain import RpcChain
    from sequencer.accounts import AccountTree
    from sequencer.circuit_inputs import SMALL
    from zkp.builds import build_block_circuit
    from zkp.setup import default_cache_dir

    quiet_logging(structlog)
    cache = cache_dir or default_cache_dir()
    progress("building the small block circuit")
    build = build_block_circuit("small", cache)
    genesis_root = AccountTree(SMALL.depth).root  # the empty-account genesis
    accounts = roller_accounts(max(sessions))
    proofs = roller_proofs(build, accounts, cache, progress)
    results = []
    for n in sessions:
        load = Load(sessions=n, seconds=seconds, delay=delay, block_rate=block_rate,
                    backlog=backlog, poll_interval=poll_interval)
        with run_anvil(block_time=ANVIL_BLOCK_TIME) as node, tempfile.TemporaryDirectory(prefix="bench-coord-") as tmp:
            progress(f"anvil on {node.url}")
            chain = RpcChain(node.url)
            window = trio.run(lambda: run_load(
                chain, build, genesis_root, accounts, proofs, load, Path(tmp),
                setup_threads=SETUP_THREADS, progress=progress))
        results.append(window.figures())
    return results


def quiet_logging(structlog) -> None:
    """Warnings and errors only, on stderr: the measured process logs nothing per task."""
    import logging

    structlog.configure(
        processors=[structlog.processors.add_log_level,
                    structlog.dev.ConsoleRenderer(colors=False)],
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    logging.basicConfig(level=logging.ERROR, stream=sys.stderr, force=True)


# ====================================================================== the fixed-delay rollers


class FixedDelayProver:
    """THE STAND-IN FOR A PROVER OF THESE MEASUREMENTS, used nowhere else: it sleeps a fixed
    delay and hands in a proof made before the run. The proof is real and valid for every task
    here because every block is the skipped block (same public inputs for one roller)."""

    def __init__(self, delay: float, proof: dict):
        from zkp.proof import Proof

        self.delay = delay
        self.proof = Proof(tuple(proof["a"]), tuple(tuple(x) for x in proof["b"]),
                           tuple(proof["c"]))
        self.public = tuple(proof["public"])

    async def prove(self, inputs: bytes):
        """The precomputed proof after the fixed delay; the inputs must be the skipped block's."""
        from roller.proving import public_inputs

        if public_inputs(json.loads(inputs)) != self.public:
            raise ValueError("the task's inputs are not the skipped block this proof was made for")
        await trio.sleep(self.delay)
        return self.proof, self.public


async def fixed_delay_roller(node, config: dict, spec: dict, records: list, connected: list, *,
                             task_status=trio.TASK_STATUS_IGNORED) -> None:
    """One fixed-delay roller's session: connect, authenticate, then take every task."""
    from eth_utils import to_checksum_address
    from libp2p.peer.id import ID

    from market_contracts.rules import TaskKind
    from market_contracts.submissions import sign_submission
    from p2p import messages as m
    from p2p.protocols import open_stream
    from roller.session import TaskRefused, check_task, decline_reason, handshake
    from zkp.system import Groth16, SealedProof, system

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

        groth16 = system(Groth16.name)

        async def work(task: m.Task) -> None:
            if task.kind == BLOCK_TASK:
                proof, public = await prover.prove(task.inputs)
                sealed = groth16.seal(proof)
                signature = sign_submission(account, chain_id, rollup, TaskKind.BLOCK, task.index,
                                            task.round, task.statement, groth16.digest(sealed))
                await send(m.Proof(task_id=task.task_id, statement=task.statement,
                                   system=sealed.system, proof=sealed.data, signature=signature))
            else:
                items = task.inputs
                publics = [tuple(item.public) for item in items]
                combined = groth16.aggregate(
                    [groth16.open(SealedProof(item.system, item.proof)) for item in items], publics)
                provers = [to_checksum_address(p[3].to_bytes(20, "big")) for p in publics]
                sealed = groth16.seal_aggregate(combined)
                signature = sign_submission(
                    account, chain_id, rollup, TaskKind.AGGREGATION, task.index, task.round,
                    task.statement, groth16.aggregate_digest(sealed, provers))
                await send(m.Aggregate(task_id=task.task_id, statement=task.statement,
                                       system=sealed.system, aggregate=sealed.data,
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
                    if msg.kind == BATCH_TASK and not config["aggregate"]:
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
    """A child process holding a share of the fixed-delay rollers, each its own libp2p node
    (`first` is the share's first roller number). Reads its config as one JSON line, connects
    CONNECTS_AT_ONCE rollers at a time, retrying a failed connection (CONNECT_ATTEMPTS in all),
    prints {"connected"} once all are, and on the next line (any) prints the records and its CPU
    time."""
    from p2p.errors import P2PError
    from p2p.host import open_node
    from roller.session import SessionFailed

    config = json.loads(await trio.to_thread.run_sync(sys.stdin.readline))
    records: list[dict] = []
    connected: list[str] = []

    async def roller(number: int, spec: dict, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        async with open_node(Path(config["datadir"]) / f"roller-{number}",
                             listen="/ip4/127.0.0.1/tcp/0") as node:
            await fixed_delay_roller(node, config, spec, records, connected,
                                     task_status=task_status)

    async with trio.open_nursery() as nursery:
        limiter = trio.Semaphore(CONNECTS_AT_ONCE)

        async def connect(number: int, spec: dict) -> None:
            async with limiter:
                for attempt in range(1, CONNECT_ATTEMPTS + 1):
                    failure = None
                    try:
                        await nursery.start(roller, number, spec)
                    except* (P2PError, SessionFailed) as group:  # raised through the node's nursery
                        failure = group
                    if failure is None:
                        return
                    if attempt == CONNECT_ATTEMPTS:
                        raise failure
                    print(f"roller {number}: connecting failed ({failure.exceptions[0]}); "
                          f"trying again in {attempt} s", file=sys.stderr)
                    await trio.sleep(attempt)

        async with trio.open_nursery() as connecting:
            for number, spec in enumerate(config["rollers"], start=config["first"]):
                connecting.start_soon(connect, number, spec)
        print(json.dumps({"connected": len(connected)}), flush=True)
        cpu = time.process_time()
        await trio.to_thread.run_sync(sys.stdin.readline, abandon_on_cancel=True)
        print(json.dumps({"records": records, "cpu_s": time.process_time() - cpu}), flush=True)
        os._exit(0)  # the nodes' teardown is no part of the measurement


if __name__ == "__main__":
    import structlog

    quiet_logging(structlog)
    trio.run(sequencer_main if sys.argv[1:] == ["sequencer"] else worker_main)
