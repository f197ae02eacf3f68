"""The roller node against a fake coordinator on real libp2p hosts, on the embedded chain.

The fake coordinator is a real node: it announces itself on the gossip topic with a signed
announcement (and is registered on-chain), serves the small block circuit's manifest, key and
wasm by hash, and speaks the session protocol (challenge, welcome or refused, signed tasks,
receipts) as each test scripts it. The deployment's verifiers are made from the same key, and
blocks 1 and 2 are committed on the Rollup, so the roller's checks against L1 (statements, public
inputs) pass for real.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pytest
import trio
from eth_abi import encode
from eth_account import Account
from eth_utils import keccak, to_checksum_address
from structlog.testing import capture_logs

from market_contracts.bindings import Market
from market_contracts.chain import EmbeddedChain
from market_contracts.deploy import Deployment
from market_contracts.ledger import OutcomeReport, draw_proof
from market_contracts.rollup import Rollup, attach_rollup, deploy_rollup_contract
from market_contracts.rules import MarketParams, Outcome, TaskKind
from coordinator.l1 import EMBEDDED_FINALIZE_GAS
from market_contracts.submissions import SlashEvidence, recover_submitter
from market_contracts.units import ONE_TOKEN
from farm_workers import running_farm
from market_contracts.errors import ChainError
from p2p import messages as m
from p2p.errors import RegistryUnavailable
from p2p.artifacts import ArtifactStore, serve_artifacts
from p2p.gossip import join_coordinators, sign_announcement
from p2p.host import DEFAULT_LISTEN, open_node
from p2p.protocols import SESSION_PROTOCOL, MessageStream, serve
from p2p.signing import recover_signer, sign_digest, signing_digest
from provernet import world as builder
from provernet.devnet.behaviours import tampering
from roller.config import RollerConfig
from roller.journal import JOURNAL_NAME, Journal, SpeedRecord, TaskKey, TaskOffer, TaskState
from roller.proving import BlockProver, BlockResult
from roller.discovery import NotServed
from roller.service import RollerService
from roller.session import offer_from_task
from sequencer.accounts import AccountTree
from sequencer.blocks import L2Block, dev_transfer, l2_chain
from sequencer.circuit_inputs import SMALL, block_inputs
from sequencer.genesis import devnet_genesis
from zkp.backends import select_backend
from zkp.aggregate import aggregate, verify_aggregate
from zkp.builds import CircuitBuild, manifest
from zkp.proof import Proof
from zkp.system import SealedProof, system
from zkp.verify import verify

CHALLENGE_SECONDS = 60


@dataclass
class World:
    chain: EmbeddedChain
    deployment: Deployment
    market: Market
    rollup: Rollup
    build: CircuitBuild
    block: L2Block
    #: blocks 1 and 2, committed: batch 0 (K = 2)
    blocks: list[L2Block]
    #: L1's statements of blocks 1 and 2, and of batch 0
    statements: list[bytes]
    batch_statement: bytes
    #: blocks 1 and 2 proven by `reporter` (another roller): what an aggregator combines
    proven: list[BlockResult]
    coordinator: object  # LocalAccount, registered
    roller: object       # LocalAccount, staked
    reporter: object
    coordinator_dir: Path
    store: ArtifactStore
    manifest_hash: bytes
    #: the roster snapshot of blocks 1 and 2 (`roller` alone)
    snapshot: int


@pytest.fixture(scope="module")
def world(small_circuit, tmp_path_factory) -> World:
    chain = EmbeddedChain()
    owner, sequencer, coordinator, roller, reporter = chain.dev_accounts[:5]
    genesis = devnet_genesis(SMALL.depth, 4, 1_000)
    blocks = l2_chain(genesis, [[dev_transfer(0, 1, 5, 0)], [dev_transfer(1, 2, 3, 0)]])
    built = builder.World.deploy(chain, MarketParams.devnet())
    deployment = built.attach_rollup(sequencer.address, vk=small_circuit.setup.vk,
                                     genesis_root=genesis.root, batch_size=2)
    rollup, market = built.rollup, built.market
    built.stake_rollers([roller], [200 * ONE_TOKEN], eth=0, tokens=200 * ONE_TOKEN)
    # The blocks' roster: the snapshot before their commits, the roller alone in it.
    snapshot = built.snapshot_roster()
    for block in blocks:
        rollup.commit_block(sequencer, block.after.root, block.data)
    rollup.record_randomness(owner, 1)
    coordinator_dir = tmp_path_factory.mktemp("coordinator")
    built.register_coordinator(coordinator.address,
                               peer_id=builder.peer_id_in(coordinator_dir).to_bytes(),
                               name="fake coordinator")
    built.fund_rewards(100 * ONE_TOKEN)
    store = ArtifactStore(tmp_path_factory.mktemp("served"))
    manifest_hash = store.put(manifest(small_circuit))
    assert store.import_file(small_circuit.zkey) == small_circuit.zkey_hash
    assert store.import_file(small_circuit.wasm) == small_circuit.wasm_hash
    prover = BlockProver(small_circuit, "cpu")
    proven = [prover.prove_block(json.dumps(block_inputs(
        SMALL, b.before, b.ops, reporter.address)).encode(), reporter.address) for b in blocks]
    return World(chain, deployment, market, rollup, small_circuit, blocks[0], blocks,
                 [rollup.statement(n) for n in (1, 2)], rollup.batch_statement(0), proven,
                 coordinator, roller, reporter, coordinator_dir, store, manifest_hash, snapshot)


@pytest.fixture(autouse=True)
def verifier_cache(tmp_path_factory, monkeypatch):
    """The compiled verifiers `vk_matches_verifier` compares with, kept for the whole run."""
    monkeypatch.setenv("PROVERNET_CACHE", str(tmp_path_factory.getbasetemp() / "verifier-cache"))


# ---------------------------------------------------------------------- the fake coordinator

def raw(address: str) -> bytes:
    return bytes.fromhex(address[2:])


def expected_task_id(world: World, kind: int, index: int, round_: int, seed: bytes,
                     statement: bytes) -> bytes:
    """Written out here rather than imported: the test checks the roller's own computation."""
    return keccak(encode(["uint256", "address", "uint8", "uint256", "uint256", "bytes32", "bytes32",
                          "address"],
                         [world.chain.chain_id, world.rollup.address, kind, index, round_, seed,
                          statement, world.roller.address]))


def block_task(world: World, *, index: int = 1, round_: int = 0, window: float = 60,
               signer=None, task_id: bytes | None = None, inputs: bytes | None = None,
               statement: bytes | None = None, slots: int = 1, opened: bool = False) -> m.Task:
    now = int(time.time() * 1000)
    seed = os.urandom(32)
    if inputs is None:
        inputs = json.dumps(block_inputs(SMALL, world.block.before, world.block.ops,
                                         world.roller.address)).encode()
    if statement is None:
        statement = world.statements[index - 1] if index <= len(world.statements) else bytes(32)
    task = m.Task(task_id=task_id or expected_task_id(world, 0, index, round_, seed, statement),
                  kind="block", index=index, round=round_, seed=seed, slots=slots,
                  statement=statement, open=opened, assigned_at=now,
                  deadline=m.NO_DEADLINE if opened else now + int(window * 1000),
                  close_at=m.NO_DEADLINE if opened else now + int(2 * window * 1000),
                  circuit=world.build.zkey_hash, inputs=inputs, signature=bytes(65))
    key = (signer or world.coordinator).key
    return dataclasses.replace(task, signature=sign_digest(key, signing_digest(task)))


async def authenticate(stream: MessageStream, world: World,
                       refuse: tuple[str, str] | None = None) -> m.Hello:
    hello = await stream.receive(m.Hello)
    challenge = m.Challenge(nonce=os.urandom(32), coordinator=raw(world.coordinator.address),
                            chain_id=world.chain.chain_id,
                            expires_at=int(time.time()) + CHALLENGE_SECONDS)
    await stream.send(challenge)
    auth = await stream.receive(m.Auth)
    assert recover_signer(signing_digest(challenge), auth.signature) == to_checksum_address(hello.roller)
    if refuse is not None:
        await stream.send(m.Refused(code=refuse[0], reason=refuse[1]))
    else:
        await stream.send(m.Welcome(weight=10**22, session=os.urandom(16)))
    return hello


Script = Callable[[MessageStream, trio.MemorySendChannel], Awaitable[None]]


@asynccontextmanager
async def fake_coordinator(world: World, script: Script, listen: str = DEFAULT_LISTEN
                           ) -> AsyncIterator[tuple[object, trio.MemoryReceiveChannel]]:
    """A coordinator node running `script` on each session; what the script reports comes out
    of the channel (asserting in the test's own task, not in a stream handler)."""
    send, receive = trio.open_memory_channel(math.inf)

    async def session(stream: MessageStream) -> None:
        try:
            await script(stream, send)
        except Exception as exc:  # reported to the test, which fails on it
            send.send_nowait(("error", exc))
            raise

    async with open_node(world.coordinator_dir, listen=listen) as node:
        serve_artifacts(node, world.store)
        serve(node, SESSION_PROTOCOL, session)
        registered = world.coordinator.address
        async with join_coordinators(node, is_registered=lambda a: a == registered) as topic:

            async def announce() -> None:
                while True:  # often, so that the roller hears one as soon as it is in the mesh
                    fields = dict(coordinator=raw(registered), peer_id=node.peer_id.to_bytes(),
                                  addrs=tuple(node.addrs), chain_id=world.chain.chain_id,
                                  staking=raw(world.deployment.staking),
                                  rollup=raw(world.rollup.address),
                                  circuits=(world.manifest_hash,), seq=time.time_ns() // 10**6,
                                  timestamp=int(time.time()))
                    await topic.publish(sign_announcement(world.coordinator.key, fields))
                    await trio.sleep(0.3)

            async with trio.open_nursery() as nursery:
                nursery.start_soon(announce)
                yield node, receive
                nursery.cancel_scope.cancel()


def roller_config(tmp_path: Path, coordinator_node, **overrides) -> RollerConfig:
    return RollerConfig(datadir=tmp_path / "roller", bootstrap=(coordinator_node.addrs[0],),
                        backend="cpu", metrics_listen="127.0.0.1:0", reconnect_initial=0.3,
                        reconnect_max=2.0, ping_interval=60, settlement_interval=0.2,
                        **overrides)


@asynccontextmanager
async def running_roller(world: World, config: RollerConfig, **kwargs) -> AsyncIterator[RollerService]:
    service = RollerService(config, world.chain, world.deployment, world.roller, **kwargs)
    async with trio.open_nursery() as nursery:
        await nursery.start(service.run)
        yield service
        nursery.cancel_scope.cancel()


async def next_report(channel: trio.MemoryReceiveChannel, what: str):
    name, value = await channel.receive()
    if name == "error":
        raise AssertionError(f"the fake coordinator failed: {value!r}") from value
    assert name == what, (name, value)
    return value


async def until(condition: Callable[[], object], interval: float = 0.05):
    while not (value := condition()):
        await trio.sleep(interval)
    return value


def seed_speeds(datadir: Path, circuit: bytes, seconds: float) -> Journal:
    """A journal in which this machine's CPU has already been measured (no calibration)."""
    datadir.mkdir(mode=0o700, parents=True, exist_ok=True)
    journal = Journal.open(datadir / JOURNAL_NAME)
    backend = select_backend("cpu").describe()
    for kind in ("block", "batch"):
        journal.save_proving_speed(SpeedRecord(backend, circuit, kind, seconds, 1, time.time()))
    return journal


GROTH16 = system("groth16")


def sealed(msg: m.Proof) -> SealedProof:
    return SealedProof(msg.system, msg.proof)


def as_proof(msg: m.Proof) -> Proof:
    return GROTH16.open(sealed(msg))


async def health(port: int) -> tuple[int, dict]:
    async with await trio.open_tcp_stream("127.0.0.1", port) as stream:
        await stream.send_all(b"GET /health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        data = b""
        while chunk := await stream.receive_some(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


# ---------------------------------------------------------------------- tests

async def test_a_block_task_is_calibrated_for_accepted_proven_signed_and_settled(world, tmp_path):
    measured = trio.Event()

    async def script(stream, report):
        await authenticate(stream, world)
        report.send_nowait(("welcomed", None))
        await measured.wait()
        task = block_task(world)
        await stream.send(task)
        report.send_nowait(("task", task))
        report.send_nowait(("reply", await stream.receive(m.Accept, m.Decline)))
        proof = await stream.receive(m.Proof, timeout=60)
        report.send_nowait(("proof", proof))
        await stream.send(m.Receipt(task_id=proof.task_id, status="accepted", reason="on time"))
        await trio.sleep_forever()

    sample = partial(lambda address, name: block_inputs(SMALL, AccountTree(SMALL.depth), [], address),
                     world.roller.address)
    async with fake_coordinator(world, script) as (node, reports):
        config = roller_config(tmp_path, node)
        with trio.fail_after(90):
            async with running_roller(world, config, sample_inputs=sample) as roller:
                assert roller.peer_id is not None and roller.address == world.roller.address
                await next_report(reports, "welcomed")
                assert await until(lambda: roller.connected_coordinators) == [world.coordinator.address]
                zkey = world.build.zkey_hash
                await until(lambda: roller.speed.measured(zkey))  # calibrated on the sample
                measured.set()
                task = await next_report(reports, "task")
                assert isinstance(await next_report(reports, "reply"), m.Accept)
                # Accepted (journaled before the accept was sent) and proving for seconds: in flight.
                (flying,) = (await roller.status()).in_flight
                assert (flying.index, flying.deadline) == (1, task.deadline // 1000)  # ms on the wire
                proof = await next_report(reports, "proof")

                public = world.block.inputs(SMALL, world.roller.address)
                assert proof.task_id == task.task_id and proof.statement == world.statements[0]
                signer = recover_submitter(world.chain.chain_id, world.rollup.address,
                                           TaskKind.BLOCK, 1, 0, world.statements[0],
                                           GROTH16.digest(sealed(proof)), proof.signature)
                assert signer == world.roller.address
                verdict = await trio.to_thread.run_sync(verify, world.build.setup.vk,
                                                        as_proof(proof), public)
                assert verdict.valid

                key = TaskKey(world.coordinator.address, world.rollup.address, "block", 1, 0,
                              world.statements[0])
                done = await until(lambda: (t := roller.journal.get(key)).receipt and t)
                assert (done.state, done.receipt, done.attempts) == (TaskState.RECEIPTED, "accepted", 1)
                assert done.signature == proof.signature and done.public == tuple(public)
                now = await roller.status()
                assert [(c.address, c.peer) for c in now.connected] == [
                    (world.coordinator.address, str(node.peer_id))]
                assert now.in_flight == () and now.last_proof_at is not None
                assert [(o.task, o.what) for o in now.recent] == [(key, "receipt accepted")]

                status, body = await health(roller.metrics_port)
                assert status == 200 and body["ok"] and body["coordinators"] == 1

                # Batch 0 is finalized and the coordinator settles it on-chain: the roller reads
                # the settlement into its journal.
                await trio.to_thread.run_sync(finalize_batch_0, world)
                params = world.deployment.params
                # Alone in the snapshot, the roller holds every slot of round 0.
                (snapshot,) = world.market.snapshots()
                outcome = OutcomeReport(world.roller.address, TaskKind.BLOCK, 1, 0, params.m,
                                        Outcome.ON_TIME)
                draw = draw_proof(world.snapshot, snapshot.entries, world.roller.address)
                await trio.to_thread.run_sync(world.market.settle, world.coordinator, 0,
                                              [outcome], [draw])
                settled = await until(lambda: (t := roller.journal.get(key)).outcome and t)
                noted = (await roller.status()).recent[-1]
                assert (noted.task, noted.what, noted.reward) == (key, "on_time", settled.reward)
                assert noted.reputation == (settled.rep_before, settled.rep_after)
                # split mode: each on-time slot of M earns R_BLOCK // M
                assert (settled.outcome, settled.reward) == (
                    "on_time", params.m * (params.r_block // params.m))
                assert settled.rep_after == settled.rep_before + (
                    params.rep_max - settled.rep_before) * params.alpha_bps // 10_000


def announcement(world: World, coordinator: str, rollup: str) -> m.Announce:
    """What the roller's decision to serve reads of an announcement (gossip checked the rest)."""
    return m.Announce(coordinator=raw(coordinator), peer_id=b"peer", addrs=(),
                      chain_id=world.chain.chain_id, staking=raw(world.deployment.staking),
                      rollup=raw(rollup), circuits=(), seq=0, timestamp=0, signature=bytes(65))


async def test_a_coordinator_is_served_for_the_rollup_the_registry_binds_it_to(world, tmp_path):
    """The market serves a second rollup, a rollup that is not this release's Rollup contract
    (an EIP-1167 proxy to the real one: it answers every view alike, but whoever controls what
    it delegates to could move a block's inputs after a roller signed) added by the deployer,
    and a Rollup never added; each has a coordinator. The roller serves a coordinator for the
    rollup the registry binds it to, only for a rollup enabled, listed (`rollups`) and genuine."""
    owner = world.chain.dev_accounts[0]
    entry = world.deployment.rollup
    second = attach_rollup(world.chain, owner, world.deployment, sequencer=owner.address,
                           vk=world.build.setup.vk, bridge=owner.address,
                           genesis_root=world.block.before.root, batch_size=2,
                           max_transfers=SMALL.block_size, entries=SMALL.entries).rollup
    proxy = bytes.fromhex("3d602d80600a3d3981f3363d3d373d3d3d363d73") + raw(entry.address) + \
        bytes.fromhex("5af43d82803e903d91602b57fd5bf3")
    rogue = world.chain.transact(owner, data=proxy)["contractAddress"]
    world.market.add_rollup(owner, rogue, entry.block_verifier)
    unadded = deploy_rollup_contract(world.chain, owner, sequencer=owner.address,
                                     verifier=entry.verifier, bridge=owner.address,
                                     genesis_root=0, batch_size=2, max_transfers=4,
                                     entries=SMALL.entries).address
    coordinators = {}
    for rollup in (second.address, rogue, unadded):
        coordinators[rollup] = Account.create().address
        world.market.register_coordinator(owner, coordinators[rollup], b"peer", "test", rollup)
    roller = RollerService(RollerConfig(datadir=tmp_path), world.chain, world.deployment,
                           world.roller)

    served = await roller.discovery.rollup_to_serve(
        announcement(world, world.coordinator.address, world.rollup.address))
    assert (served.address, served.entry, served.batch_size) == (world.rollup.address, entry, 2)
    served = await roller.discovery.rollup_to_serve(
        announcement(world, coordinators[second.address], second.address))
    assert (served.address, served.entry) == (second.address, second)
    for coordinator, rollup, why in [
        (world.coordinator.address, second.address,
         f"it announces rollup {second.address}, but the registry binds it to rollup "
         f"{world.rollup.address}"),
        (coordinators[rogue], rogue, f"the code at {rogue} is not this release's Rollup contract"),
        (coordinators[unadded], unadded, f"rollup {unadded} is not enabled in the staking"),
        (Account.create().address, world.rollup.address, "the registry names no rollup for it"),
    ]:
        with pytest.raises(NotServed, match=f"^{why}"):
            await roller.discovery.rollup_to_serve(announcement(world, coordinator, rollup))
    listed = RollerService(RollerConfig(datadir=tmp_path, rollups=(world.rollup.address,)),
                           world.chain, world.deployment, world.roller)
    with pytest.raises(NotServed, match="^rollup .* is not among the rollups in the config"):
        await listed.discovery.rollup_to_serve(
            announcement(world, coordinators[second.address], second.address))

    # L1 down: the registry cannot judge a coordinator now. Gossip ignores its announcement
    # without blaming the peer that forwarded it, and it is not served (until L1 answers).
    blind = RollerService(RollerConfig(datadir=tmp_path), world.chain, world.deployment,
                          world.roller)

    def unreachable(_address):
        raise ChainError("cannot reach JSON-RPC endpoint http://127.0.0.1:8545")

    blind.discovery.market.coordinator_rollup = unreachable
    fresh = Account.create().address
    with pytest.raises(RegistryUnavailable, match="cannot reach JSON-RPC"):
        await blind.discovery.is_registered(fresh)
    with pytest.raises(NotServed, match="^cannot ask the registry about"):
        await blind.discovery.rollup_to_serve(announcement(world, fresh, world.rollup.address))


def finalize_batch_0(world: World) -> None:
    """Finalize blocks 1 and 2 with the reporter's proofs (settling needs a finalized batch)."""
    combined = aggregate([r.proof for r in world.proven], [r.public for r in world.proven])
    world.rollup.finalize_batch(world.coordinator, 1, [world.reporter.address] * 2, combined,
                                gas=EMBEDDED_FINALIZE_GAS)


async def test_tasks_it_must_not_take_are_declined_and_not_journaled(world, tmp_path):
    ready = trio.Event()
    stranger = Account.from_key(b"\x42" * 32)

    async def script(stream, report):
        await authenticate(stream, world)
        forged = block_task(world, signer=stranger)
        wrong_id = block_task(world, task_id=b"\x07" * 32)
        await ready.wait()
        other_block = block_task(world, index=3)  # not committed on L1
        too_slow = block_task(world, window=30)   # 30 s to prove what takes 100 s here
        # a block reverted and committed again: the task's statement is no longer L1's
        stale = block_task(world, statement=b"\x01" * 32)
        # an open task is one slot: one claiming two is not a task of the protocol
        open_two_slots = block_task(world, round_=3, slots=2, opened=True)
        for task in (forged, wrong_id, other_block, too_slow, stale, open_two_slots):
            await stream.send(task)
            reply = await stream.receive(m.Accept, m.Decline)
            report.send_nowait(("reply", (task, reply)))
        await trio.sleep_forever()

    seed_speeds(tmp_path / "roller", world.build.zkey_hash, 100.0).close()
    async with fake_coordinator(world, script) as (node, reports):
        with trio.fail_after(60):
            async with running_roller(world, roller_config(tmp_path, node)) as roller:
                await until(lambda: roller.circuit(world.build.zkey_hash))
                ready.set()
                replies = [await next_report(reports, "reply") for _ in range(6)]
                codes = []
                for task, reply in replies:
                    assert isinstance(reply, m.Decline) and reply.task_id == task.task_id
                    codes.append(reply.reason.split(":")[0])
                assert codes == ["bad_signature", "bad_task_id", "not_on_l1", "too_slow",
                                 "stale_statement", "bad_open_task"]
                assert stranger.address in replies[0][1].reason

                journal = roller.journal
                coordinator = world.coordinator.address
                assert journal.find(coordinator, replies[0][0].task_id) is None
                assert journal.find(coordinator, replies[1][0].task_id) is None
                slow = journal.find(coordinator, replies[3][0].task_id)
                assert slow.state is TaskState.DECLINED and slow.reason.startswith("too_slow: would finish at")
                assert journal.find(coordinator, replies[2][0].task_id).state is TaskState.DECLINED
                assert journal.find(coordinator, replies[4][0].task_id).state is TaskState.DECLINED
                assert journal.find(coordinator, replies[5][0].task_id) is None


async def test_a_restarted_roller_resumes_an_accepted_task_and_submits_it(world, tmp_path):
    """The journal holds a task accepted before a restart and never proven: the new run proves
    it and submits it without being sent the task again."""
    task = block_task(world, round_=1)

    async def script(stream, report):
        await authenticate(stream, world)
        proof = await stream.receive(m.Proof, timeout=60)
        report.send_nowait(("proof", proof))
        await stream.send(m.Receipt(task_id=proof.task_id, status="accepted", reason="on time"))
        await trio.sleep_forever()

    journal = seed_speeds(tmp_path / "roller", world.build.zkey_hash, 1.0)
    offer: TaskOffer = offer_from_task(task, world.coordinator.address, world.rollup.address)
    journal.offer(offer)
    journal.accept(offer.key)
    journal.close()
    async with fake_coordinator(world, script) as (node, reports):
        with trio.fail_after(60):
            async with running_roller(world, roller_config(tmp_path, node)) as roller:
                proof = await next_report(reports, "proof")
                public = world.block.inputs(SMALL, world.roller.address)
                assert proof.task_id == task.task_id and proof.statement == world.statements[0]
                assert recover_submitter(world.chain.chain_id, world.rollup.address, TaskKind.BLOCK,
                                         1, 1, world.statements[0],
                                         GROTH16.digest(sealed(proof)),
                                         proof.signature) == world.roller.address
                assert (await trio.to_thread.run_sync(verify, world.build.setup.vk,
                                                      as_proof(proof), public)).valid
                done = await until(lambda: (t := roller.journal.get(offer.key)).receipt and t)
                assert (done.state, done.attempts) == (TaskState.RECEIPTED, 1)


async def test_an_open_task_is_accepted_proven_and_signed_for_its_round(world, tmp_path):
    """A task open to every staked roller (no drawn round proved it): taken like any other, with
    no deadline, and signed for the open round and the block's statement."""
    ready = trio.Event()
    task = block_task(world, round_=world.deployment.params.r_open, opened=True)

    async def script(stream, report):
        await authenticate(stream, world)
        await ready.wait()
        await stream.send(task)
        report.send_nowait(("reply", await stream.receive(m.Accept, m.Decline)))
        report.send_nowait(("proof", await stream.receive(m.Proof, timeout=60)))
        await trio.sleep_forever()

    seed_speeds(tmp_path / "roller", world.build.zkey_hash, 1.0).close()
    async with fake_coordinator(world, script) as (node, reports):
        with trio.fail_after(60):
            async with running_roller(world, roller_config(tmp_path, node)) as roller:
                await until(lambda: roller.circuit(world.build.zkey_hash))
                ready.set()
                assert isinstance(await next_report(reports, "reply"), m.Accept)
                proof = await next_report(reports, "proof")
                journaled = roller.journal.find(world.coordinator.address, task.task_id)
    assert journaled.open is True and journaled.slots == 1
    assert proof.statement == world.statements[0]
    assert recover_submitter(world.chain.chain_id, world.rollup.address, TaskKind.BLOCK, 1,
                             task.round, world.statements[0], GROTH16.digest(sealed(proof)),
                             proof.signature) == world.roller.address
    public = world.block.inputs(SMALL, world.roller.address)
    assert verify(world.build.setup.vk, as_proof(proof), public).valid


async def test_a_zero_weight_refusal_is_logged_and_retried_after_a_growing_delay(world, tmp_path):
    async def script(stream, report):
        await authenticate(stream, world, refuse=("zero_weight", "no stake, no tasks"))
        report.send_nowait(("hello", trio.current_time()))

    with capture_logs() as logs:
        async with fake_coordinator(world, script) as (node, reports):
            with trio.fail_after(30):
                async with running_roller(world, roller_config(tmp_path, node)) as roller:
                    times = [await next_report(reports, "hello") for _ in range(3)]
                    assert roller.connected_coordinators == []
    # reconnect_initial 0.3 s, doubling: 0.3 s, then 0.6 s (less the time a handshake takes)
    assert times[1] - times[0] >= 0.3 and times[2] - times[1] >= 0.6
    refusals = [e for e in logs if e["event"] == "coordinator refused the session"]
    assert refusals and refusals[0]["code"] == "zero_weight"
    assert refusals[0]["reason"] == "no stake, no tasks" and "stake" in refusals[0]["hint"]
    assert refusals[0]["log_level"] == "warning"


async def test_the_invalid_behaviour_submits_slashable_evidence(world, tmp_path):
    """Devnet aid: a proof for the right inputs, signed, that does not verify."""
    ready = trio.Event()

    async def script(stream, report):
        await authenticate(stream, world)
        await ready.wait()
        task = block_task(world, round_=2)
        await stream.send(task)
        await stream.receive(m.Accept)
        report.send_nowait(("proof", await stream.receive(m.Proof, timeout=60)))
        await trio.sleep_forever()

    seed_speeds(tmp_path / "roller", world.build.zkey_hash, 1.0).close()
    async with fake_coordinator(world, script) as (node, reports):
        with trio.fail_after(60):
            async with running_roller(world, roller_config(tmp_path, node),
                                      make_prover=tampering(BlockProver)) as roller:
                await until(lambda: roller.circuit(world.build.zkey_hash))
                ready.set()
                proof = await next_report(reports, "proof")
    public = world.block.inputs(SMALL, world.roller.address)
    assert proof.statement == world.statements[0]
    assert not verify(world.build.setup.vk, as_proof(proof), public).valid
    evidence = SlashEvidence(chain_id=world.chain.chain_id, rollup=world.rollup.address,
                             staking=world.deployment.staking, kind=TaskKind.BLOCK, index=1,
                             round=2, statement=proof.statement, proof=sealed(proof),
                             signature=proof.signature, roller=world.roller.address)
    assert evidence.signer() == world.roller.address
    result = world.market.check_slash(world.reporter.address, evidence)  # eth_call: nothing sent
    assert result.amount > 0


async def test_a_batch_task_is_aggregated_signed_and_submitted(world, tmp_path):
    """Batch 0 is blocks 1 and 2 (K = 2), proven by another roller: the aggregator combines the
    two proofs, checks them against L1, and signs the aggregate."""
    results = world.proven
    items = tuple(m.BatchItem(index=i + 1, system="groth16", proof=GROTH16.encode(r.proof),
                              public=r.public) for i, r in enumerate(results))
    publics = [list(r.public) for r in results]
    ready = trio.Event()

    async def script(stream, report):
        await authenticate(stream, world)
        await ready.wait()
        now, seed = int(time.time() * 1000), os.urandom(32)
        task = m.Task(task_id=expected_task_id(world, 1, 0, 0, seed, world.batch_statement),
                      kind="batch", index=0, round=0, seed=seed, slots=1,
                      statement=world.batch_statement, open=False, assigned_at=now, deadline=now + 60_000, close_at=now + 120_000,
                      circuit=world.build.zkey_hash, inputs=items, signature=bytes(65))
        task = dataclasses.replace(task, signature=sign_digest(world.coordinator.key,
                                                               signing_digest(task)))
        await stream.send(task)
        report.send_nowait(("reply", await stream.receive(m.Accept, m.Decline)))
        report.send_nowait(("aggregate", await stream.receive(m.Aggregate, timeout=60)))
        await trio.sleep_forever()

    seed_speeds(tmp_path / "roller", world.build.zkey_hash, 1.0).close()
    async with fake_coordinator(world, script) as (node, reports):
        with trio.fail_after(60):
            async with running_roller(world, roller_config(tmp_path, node)) as roller:
                await until(lambda: roller.circuit(world.build.zkey_hash))
                ready.set()
                assert isinstance(await next_report(reports, "reply"), m.Accept)
                aggregate = await next_report(reports, "aggregate")
                key = TaskKey(world.coordinator.address, world.rollup.address, "batch", 0, 0,
                              world.batch_statement)
                task = await until(lambda: (t := roller.journal.get(key)).state is TaskState.SUBMITTED and t)
                assert task.units == 2
    assert aggregate.statement == world.batch_statement
    sealed_aggregate = SealedProof(aggregate.system, aggregate.aggregate)
    digest = GROTH16.aggregate_digest(sealed_aggregate, [world.reporter.address] * 2)
    assert recover_submitter(world.chain.chain_id, world.rollup.address, TaskKind.AGGREGATION, 0, 0,
                             world.batch_statement, digest,
                             aggregate.signature) == world.roller.address
    combined = GROTH16.open_aggregate(sealed_aggregate)
    assert verify_aggregate(world.build.setup.vk, combined, publics).valid


async def test_a_proof_without_receipt_is_resubmitted_after_reconnecting(world, tmp_path):
    """The session drops after the proof and before its receipt: the roller sends the same signed
    proof again on its next session, and takes a `duplicate` answer as "already received"."""
    ready = trio.Event()
    sessions = []

    async def script(stream, report):
        await authenticate(stream, world)
        sessions.append(stream)
        if len(sessions) == 1:
            await ready.wait()
            await stream.send(block_task(world, round_=3))
            await stream.receive(m.Accept)
            report.send_nowait(("first", await stream.receive(m.Proof, timeout=60)))
            await stream.reset()  # gone before the receipt
            return
        proof = await stream.receive(m.Proof)
        report.send_nowait(("again", proof))
        await stream.send(m.Receipt(task_id=proof.task_id, status="rejected", reason="duplicate"))
        await trio.sleep_forever()

    seed_speeds(tmp_path / "roller", world.build.zkey_hash, 1.0).close()
    async with fake_coordinator(world, script) as (node, reports):
        with trio.fail_after(60):
            async with running_roller(world, roller_config(tmp_path, node)) as roller:
                await until(lambda: roller.circuit(world.build.zkey_hash))
                ready.set()
                first = await next_report(reports, "first")
                again = await next_report(reports, "again")
                assert again == first  # the same signed proof, not a second one
                key = TaskKey(world.coordinator.address, world.rollup.address, "block", 1, 3,
                              world.statements[0])
                done = await until(lambda: (t := roller.journal.get(key)).receipt and t)
    assert (done.state, done.receipt, done.attempts) == (TaskState.RECEIPTED, "accepted", 1)
    assert done.reason.startswith("already received")


# ---------------------------------------------------------------------- the command line

def test_roller_run_options_and_a_missing_deployment(tmp_path):
    from click.testing import CliRunner

    from provernet.cli import cli

    runner = CliRunner()
    shown = runner.invoke(cli, ["roller", "run", "--help"])
    assert shown.exit_code == 0
    for option in ("--config", "--datadir", "--rpc-url", "--deployment", "--bootstrap", "--listen",
                   "--backend", "--farm", "--metrics-listen", "--password-file",
                   "--dev-account"):
        assert option in shown.output
    assert "--behaviour" not in shown.output  # a devnet aid, hidden from operators
    worker = runner.invoke(cli, ["roller", "worker", "--help"])
    assert worker.exit_code == 0 and "--behaviour" not in worker.output
    result = runner.invoke(cli, ["roller", "run", "--datadir", str(tmp_path), "--rpc-url", "http://127.0.0.1:9"])
    assert result.exit_code == 1
    assert f"no deployment file at {tmp_path / 'deployment.json'}" in result.output
    bad = runner.invoke(cli, ["roller", "run", "--datadir", str(tmp_path), "--bootstrap", "nonsense"])
    assert bad.exit_code == 1 and "key 'bootstrap'" in bad.output
    not_a_farm = runner.invoke(cli, ["roller", "run", "--datadir", str(tmp_path), "--farm",
                                     "redis://127.0.0.1:6379"])
    assert not_a_farm.exit_code == 1 and "key 'farm': expected a PostgreSQL URL" in not_a_farm.output


def test_the_status_tasks_report_reads_the_journal(tmp_path):
    from provernet.commands.roller import journal_report

    assert journal_report(tmp_path) is None
    journal = seed_speeds(tmp_path, b"\x01" * 32, 1.0)
    offer = TaskOffer(b"\x02" * 32, "0x5B38Da6a701c568545dCfcB03FcB875f56beddC4",
                      "0x5FbDB2315678afecb367f032d93F642f64180aa3", "block", 7, 0,
                      b"\x03" * 32, b"\x04" * 32, 1, False, 100, 130, 160, b"\x01" * 32, b"{}")
    journal.offer(offer)
    journal.decline(offer.key, "too_slow: would finish late")
    journal.close()
    report = journal_report(tmp_path)
    assert report["history"][0]["why"] == "declined: too_slow: would finish late"
    assert report["totals"]["states"]["declined"] == 1


@pytest.mark.postgres
async def test_a_farm_roller_proves_on_its_workers_and_a_restart_keeps_its_journal(
        world, tmp_path, postgres_database):
    """`roller run --farm`: the same node, its blocks proven by two worker processes, the proof
    verified and signed at home; measured on the farm (calibration goes through it too). A task
    accepted before a restart is proven through the farm by the new run; the first one is still
    journaled as done."""
    measured = trio.Event()

    async def script(stream, report):
        await authenticate(stream, world)
        await measured.wait()
        task = block_task(world, round_=3)
        await stream.send(task)
        report.send_nowait(("reply", await stream.receive(m.Accept, m.Decline)))
        proof = await stream.receive(m.Proof, timeout=60)
        report.send_nowait(("proof", proof))
        await stream.send(m.Receipt(task_id=proof.task_id, status="accepted", reason="on time"))
        await trio.sleep_forever()

    sample = partial(lambda address, name: block_inputs(SMALL, AccountTree(SMALL.depth), [],
                                                        address), world.roller.address)
    public = world.block.inputs(SMALL, world.roller.address)
    with running_farm(postgres_database, tmp_path / "farm") as farm:
        for name in ("w1", "w2"):
            await trio.to_thread.run_sync(farm.start_worker, name)
        async with fake_coordinator(world, script) as (node, reports):
            config = roller_config(tmp_path, node, farm=farm.url)
            with trio.fail_after(120):
                async with running_roller(world, config, sample_inputs=sample) as roller:
                    status = await roller.status()
                    assert status.backend == f"farm {farm.queue.where}"
                    assert [w.name for w in status.farm_workers] == ["w1", "w2"]
                    await until(lambda: roller.speed.measured(world.build.zkey_hash))
                    measured.set()
                    assert isinstance(await next_report(reports, "reply"), m.Accept)
                    proof = await next_report(reports, "proof")
                    assert (await trio.to_thread.run_sync(verify, world.build.setup.vk,
                                                          as_proof(proof), public)).valid
                    first = TaskKey(world.coordinator.address, world.rollup.address, "block", 1,
                                    3, world.statements[0])
                    await until(lambda: roller.journal.get(first).receipt)
                    status, body = await health(roller.metrics_port)
                    assert status == 200 and body["problems"] == []
                    assert roller.metrics.registry.get_sample_value(
                        "provernet_roller_farm_workers") == 2
        # Both workers live and trusted; the proofs (calibration's and the task's) were theirs.
        workers = await trio.to_thread.run_sync(farm.queue.workers)
        assert [(w.name, w.live, w.quarantined) for w in workers] == [
            ("w1", True, None), ("w2", True, None)]
        assert sum(w.jobs for w in workers) >= 2

        # Restart: a task accepted (journaled) and not proven before the node stopped.
        task = block_task(world, round_=4)
        journal = Journal.open(tmp_path / "roller" / JOURNAL_NAME)
        offer = offer_from_task(task, world.coordinator.address, world.rollup.address)
        journal.offer(offer)
        journal.accept(offer.key)
        journal.close()

        async def resumed(stream, report):
            await authenticate(stream, world)
            proof = await stream.receive(m.Proof, timeout=60)
            report.send_nowait(("proof", proof))
            await stream.send(m.Receipt(task_id=proof.task_id, status="accepted",
                                        reason="on time"))
            await trio.sleep_forever()

        async with fake_coordinator(world, resumed) as (node, reports):
            config = roller_config(tmp_path, node, farm=farm.url)
            with trio.fail_after(120):
                async with running_roller(world, config) as roller:
                    proof = await next_report(reports, "proof")
                    assert proof.task_id == task.task_id
                    assert (await trio.to_thread.run_sync(verify, world.build.setup.vk,
                                                          as_proof(proof), public)).valid
                    done = await until(lambda: (t := roller.journal.get(offer.key)).receipt and t)
                    assert done.state is TaskState.RECEIPTED
                    assert roller.journal.get(first).state is TaskState.RECEIPTED
