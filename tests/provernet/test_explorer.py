"""The explorer's server and JSON API against a real chain: a small market on the embedded EVM
(its Rollup finalizing against `BatchVerifierStub`, so nothing is proven), with a settled batch,
a slash and a coordinator's audit log (one honest record, one doctored, one line that is no
record); the explorer served on a loopback port, read over HTTP as the page reads it.

The command runs as its own process against the same chain served over JSON-RPC (the embedded
L1 server), for its start-up errors and its URL. The vendored front-end files are the released
builds their README names."""

from __future__ import annotations

import hashlib
import json
import re
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest
import trio
from eth_utils import to_checksum_address

from coordinator.audit import audit_record_to_json
from coordinator.commands import AuditRecord, AuditRound
from coordinator.roster import prepare_roster
from factories import stub_rollup_world
from market_contracts import rules
from market_contracts.bindings import Market, slash_gas
from market_contracts.chain import EmbeddedChain, RpcChain
from market_contracts.ledger import OutcomeReport, draw_proof
from market_contracts.rollup import BlockStatus, CommittedBlock, Rollup
from market_contracts.rules import MarketParams, Outcome, TaskKind
from market_contracts.submissions import SlashEvidence
from market_contracts.units import ONE_TOKEN
from provernet.explorer.data import ExplorerData
from provernet.explorer.history import Event, History, Where
from provernet.explorer.server import STATIC, Explorer
from market_contracts.l1_server import EmbeddedL1Server
from provernet.world import ONE_TRANSFER
from zkp.aggregate import AggregateProof
from zkp.system import system

PARAMS = MarketParams.devnet().replace(k=2)
STAKES = (200, 300, 500)
JUNK = AggregateProof(a=((1, 2),) * 2, b=(((1, 2), (3, 4)),) * 2, c=(1, 2))
PROVERNET = Path(sys.executable).parent / "provernet"
#: seconds any one wait in these tests may take
WAIT_S = 60


@dataclass
class World:
    chain: EmbeddedChain
    market: Market
    rollup: Rollup
    owner: object
    stub: object
    rollers: list
    slashed: str
    audit_log: Path
    deployment_file: Path
    #: block -> {roller: slots} of its round 0, recomputed here
    drawn: dict[int, dict[str, int]]
    finalize_tx: str

    def finalize(self, first: int, provers: list[str]) -> str:
        self.chain.transact(self.owner, self.stub.functions.expect(
            self.rollup.batch_inputs(first, provers)))
        receipt = self.rollup.finalize_batch(self.owner, first, provers, JUNK)
        return receipt["transactionHash"].to_0x_hex()


def _seed(chain, rollup, kind, index, randomness):
    seed_of = rules.block_seed if kind is TaskKind.BLOCK else rules.batch_seed
    return seed_of(chain.chain_id, rollup.address, index, 0, randomness)


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    """Three rollers staked and snapshotted; blocks 1..4 committed with their randomness;
    batch 0 (blocks 1, 2) finalized and settled with every round-0 holder on time; the third
    roller slashed for a junk aggregate of batch 1 it signed. The audit log holds block 1's
    honest record, block 2's with its holders changed, and a line that is not a record."""
    files = tmp_path_factory.mktemp("explorer")
    chain = EmbeddedChain()
    owner = chain.dev_accounts[0]
    built, sequencer, coordinator = stub_rollup_world(chain, PARAMS)
    market, rollup, stub, deployment = built.market, built.rollup, built.stub, built.deployment
    deployment.save(files / "deployment.json")
    built.fund_rewards(1_000 * ONE_TOKEN)
    rollers = chain.dev_accounts[3:3 + len(STAKES)]
    for roller, tokens in zip(rollers, STAKES):
        built.stake_rollers([roller], [tokens * ONE_TOKEN], eth=0, tokens=tokens * ONE_TOKEN)
    snapshot_id = built.snapshot_roster()
    chain.mine()
    for n in range(1, 5):
        rollup.commit_block(sequencer, rollup.block(n - 1).new_root + 1, ONE_TRANSFER)
    chain.mine()
    randomness = {n: rollup.record_randomness(owner, n) for n in range(1, 5)}
    (snapshot,) = market.snapshots()
    roster = [(e.roller, e.weight) for e in snapshot.entries]

    def holders(kind, index, block):
        return rules.draw_slots(_seed(chain, rollup, kind, index, randomness[block]), roster,
                                PARAMS.m if kind is TaskKind.BLOCK else 1)

    drawn = {n: rules.slot_counts(holders(TaskKind.BLOCK, n, n)) for n in (1, 2, 3, 4)}
    provers = [next(iter(drawn[1])), next(iter(drawn[2]))]
    world = World(chain, market, rollup, owner, stub, rollers, rollers[2].address,
                  files / "audit.jsonl", files / "deployment.json", drawn, "")
    world.finalize_tx = world.finalize(1, provers)
    (aggregator,) = holders(TaskKind.AGGREGATION, 0, 2)
    records = sorted([OutcomeReport(roller, TaskKind.BLOCK, n, 0, slots, Outcome.ON_TIME)
                      for n in (1, 2) for roller, slots in drawn[n].items()]
                     + [OutcomeReport(aggregator, TaskKind.AGGREGATION, 0, 0, 1, Outcome.ON_TIME)],
                     key=OutcomeReport.sort_key)
    market.settle(coordinator, 0, records,
                  [draw_proof(snapshot_id, snapshot.entries, r.roller) for r in records])
    evidence = SlashEvidence.signed_aggregate(
        rollers[2], chain_id=chain.chain_id, rollup=rollup.address, staking=market.staking.address,
        index=1, round_=0, statement=rollup.batch_statement(1), provers=provers,
        aggregate=system("groth16").seal_aggregate(JUNK))
    market.slash_invalid_proof(owner, evidence, gas=slash_gas(evidence))

    def record(n, drawn_holders):
        counts = rules.slot_counts(drawn_holders)
        return audit_record_to_json(AuditRecord(
            TaskKind.BLOCK, n, randomness[n], rollup.draw_blocks(n)[0],
            prepare_roster(roster).hash,
            (AuditRound(0, _seed(chain, rollup, TaskKind.BLOCK, n, randomness[n]),
                        tuple(drawn_holders),
                        tuple((r, k, Outcome.ON_TIME) for r, k in counts.items())),),
            provers[n - 1], False))

    honest = record(1, holders(TaskKind.BLOCK, 1, 1))
    doctored = record(2, [rollers[0].address] * PARAMS.m)
    if rules.slot_counts(holders(TaskKind.BLOCK, 2, 2)) == {rollers[0].address: PARAMS.m}:
        doctored = record(2, [rollers[1].address] * PARAMS.m)
    world.audit_log.write_text(json.dumps(honest) + "\n{not a record\n" + json.dumps(doctored)
                               + "\n")
    return world


def _get(url: str) -> tuple[int, object]:
    try:
        with urllib.request.urlopen(url, timeout=WAIT_S) as response:
            body = response.read()
            status = response.status
            kind = response.headers.get_content_type()
    except urllib.error.HTTPError as error:
        body, status, kind = error.read(), error.code, error.headers.get_content_type()
    return status, json.loads(body) if kind == "application/json" else body.decode()


async def get(url: str) -> tuple[int, object]:
    return await trio.to_thread.run_sync(_get, url)


async def api(base: str, path: str):
    status, body = await get(base + "api/" + path)
    assert status == 200, (path, body)
    return body


async def serve(nursery, world: World, audit_log: Path | None = None, *, chain=None) -> str:
    chain = chain or world.chain
    market = Market(chain, world.market.deployment)
    explorer = Explorer(ExplorerData(market, Rollup(chain, world.rollup.address), audit_log),
                        port=0, poll_interval=0.2)
    return await nursery.start(explorer.run)


async def test_blocks_batches_rollers_and_slashes_as_l1_holds_them(world, nursery):
    base = await serve(nursery, world, world.audit_log)
    overview = await api(base, "overview")
    assert overview["counts"] | {"draws_matching": None} == {
        "committed": 4, "finalized": 2, "batches_finalized": 1, "batches_settled": 1,
        "rollers": 3, "slashes": 1, "draws_matching": None, "draws_mismatching": 1}
    assert overview["counts"]["draws_matching"] == 1
    assert overview["pools"]["reward_pool"]["units"] == str(
        world.market.reward_pool(world.rollup.address))
    assert [b["number"] for b in overview["latest_blocks"]] == [4, 3, 2, 1]
    assert overview["audit_log"]["records"] == 2
    (problem,) = overview["audit_log"]["problems"]
    assert problem.startswith("line 2: ")

    blocks = {b["number"]: b for b in await api(base, "blocks")}
    assert {n: (b["status"], b["check"]) for n, b in blocks.items()} == {
        1: ("settled", "match"), 2: ("settled", "mismatch"), 3: ("committed", "drawn"),
        4: ("committed", "drawn")}
    assert blocks[1]["finalized"]["transaction"] == world.finalize_tx

    one = await api(base, "blocks/1")
    assert one["draw"]["compared"] == ["audit log", "settlement"]
    assert one["draw"]["problems"] == []
    (round0,) = one["draw"]["rounds"]
    assert {s["roller"]: s["slots"] for s in round0["slots"]} == world.drawn[1]
    assert {o["roller"]: (o["slots"], o["outcome"], o["source"]) for o in round0["outcomes"]} == {
        roller: (slots, "on_time", "L1") for roller, slots in world.drawn[1].items()}
    # Split mode: each on-time slot of a drawn round earns R_BLOCK / M.
    assert sum(int(r["amount"]["units"]) for r in one["draw"]["rewards"]) == PARAMS.r_block
    two = await api(base, "blocks/2")
    assert two["draw"]["status"] == "mismatch"
    assert any("holders" in p for p in two["draw"]["problems"])
    three = await api(base, "blocks/3")
    assert three["draw"]["compared"] == [] and three["finalized"] is None
    assert {s["roller"]: s["slots"] for s in three["draw"]["rounds"][0]["slots"]} == world.drawn[3]

    (batch,) = await api(base, "batches")
    assert (batch["index"], batch["first_block"], batch["last_block"]) == (0, 1, 2)
    assert batch["finalized"]["transaction"] == world.finalize_tx
    assert batch["settled"] is not None and batch["aggregation"]["status"] == "match"
    assert len(batch["rewards"]) == 1

    rollers = {r["address"]: r for r in await api(base, "rollers")}
    assert set(rollers) == {r.address for r in world.rollers}
    slashed = await api(base, f"rollers/{world.slashed.lower()}")
    assert slashed["rep"] == 0 and int(slashed["slashed"]["units"]) > 0
    assert slashed["reputation"][0]["cause"] == "registered"
    assert slashed["reputation"][-1]["rep"] == 0
    assert slashed["reputation"][-1]["cause"] == "slashed (aggregation 1 round 0)"
    assert rollers[world.slashed]["slashed"] == slashed["slashed"]

    (slash,) = await api(base, "slashes")
    assert slash["roller"] == world.slashed and slash["kind"] == "aggregation"
    assert slash["signature_is_rollers"] is True
    evidence = SlashEvidence.from_json(slash["evidence"])
    assert evidence.roller == world.slashed and evidence.statement == world.rollup.batch_statement(1)


async def test_without_an_audit_log_draws_are_checked_against_settlements(world, nursery):
    base = await serve(nursery, world)
    blocks = {b["number"]: b["check"] for b in await api(base, "blocks")}
    assert blocks == {1: "match", 2: "match", 3: "drawn", 4: "drawn"}
    assert (await api(base, "overview"))["audit_log"] is None
    assert (await api(base, "blocks/2"))["draw"]["compared"] == ["settlement"]


async def test_unknown_block_or_roller_is_a_404_with_a_reason(world, nursery):
    base = await serve(nursery, world)
    assert await get(base + "api/blocks/99") == (
        404, {"error": "L1 holds no committed block 99"})
    assert await get(base + "api/rollers/0xnot") == (404, {"error": "'0xnot' is not an address"})
    status, body = await get(base + "api/rollers/" + "0x" + "11" * 20)
    assert status == 404 and "never registered" in body["error"]


async def test_the_page_and_its_libraries_are_served(world, nursery):
    base = await serve(nursery, world)
    status, page = await get(base)
    assert status == 200 and '<script type="importmap">' in page
    for name in re.findall(r'"(?:\./)?(static/[^"]+)"', page):
        status, _ = await get(base + name)
        assert status == 200, name


OURS, OTHER = "0x" + "aa" * 20, "0x" + "bb" * 20
ROLLER = "0x" + "cc" * 20


def _event(name: str, l1_block: int, **args) -> Event:
    return Event(name, args, Where(l1_block, 1_000 + l1_block, "0x" + "00" * 32, 0))


def _commit(l1_block: int, number: int, new_root: int) -> Event:
    where = Where(l1_block, 1_000 + l1_block, "0x" + "00" * 32, 0)
    block = CommittedBlock(number, new_root - 1, new_root, 0, None, l1_block, where.time,
                           BlockStatus.COMMITTED, roster_block=l1_block - 1,
                           randomness_block=l1_block + 1)
    return Event("BlockCommitted", {"blockNumber": number, "newRoot": new_root, "dataHash": 0},
                 where, block)


def _reputation(l1_block: int, rollup: str, outcome: Outcome) -> Event:
    return _event("ReputationChanged", l1_block, roller=ROLLER, rollup=rollup,
                  kind=int(TaskKind.BLOCK), task=1, round=0, slots=1, outcome=int(outcome),
                  oldRep=5_000, newRep=5_500)


def test_the_fold_follows_reverts_and_keeps_other_rollups_reputation_only():
    history = History(to_checksum_address(OURS), k=2)
    for event in [
        _commit(10, 1, 11), _commit(11, 2, 12), _commit(12, 3, 13),
        _event("BlocksReverted", 13, fromBlock=2, toBlock=3),
        _commit(14, 2, 22),
        _event("RandomnessRecorded", 15, blockNumber=2, randomness=b"\x07" * 32, sourceBlock=15),
        _event("BatchFinalized", 16, firstBlock=1, lastBlock=2, provers=[ROLLER, OTHER]),
        _reputation(17, OURS, Outcome.ON_TIME),
        _reputation(17, OTHER, Outcome.LATE),
        _event("RewardCredited", 17, roller=ROLLER, rollup=OTHER, kind=0, task=1, amount=5),
    ]:
        history.apply(event)
    assert sorted(history.blocks) == [1, 2]
    two = history.blocks[2]
    assert (two.block.new_root, two.randomness, two.prover) == (22, b"\x07" * 32, OTHER)
    assert two.committed.l1_block == 14 and two.finalized.l1_block == 16
    assert list(history.batches) == [0] and history.last_finalized == 2
    assert [c.outcome for c in history.reputation] == [Outcome.ON_TIME, Outcome.LATE]
    assert [c.outcome for c in history.settled_records()] == [Outcome.ON_TIME]
    assert history.rewards == [] and ROLLER in history.touched


def test_vendored_files_are_the_released_builds_the_readme_names():
    vendor = STATIC / "vendor"
    rows = re.findall(r"^\| ([\w.-]+\.js) \| ([\w.@-]+) \| .* \| ([0-9a-f]{64}) \|$",
                      (vendor / "README.md").read_text(), re.MULTILINE)
    assert {name for name, _, _ in rows} == {p.name for p in vendor.glob("*.js")}
    for name, _package, digest in rows:
        assert hashlib.sha256((vendor / name).read_bytes()).hexdigest() == digest, name


async def _next_version(base: str, after: int) -> dict:
    """Reads the event stream until it reports a version past `after`."""

    def read() -> dict:
        with urllib.request.urlopen(base + "api/events", timeout=WAIT_S) as stream:
            assert stream.headers.get_content_type() == "text/event-stream"
            for line in stream:
                if line.startswith(b"data: "):
                    status = json.loads(line[len(b"data: "):])
                    if status["version"] > after:
                        return status
        raise AssertionError("the event stream ended")

    return await trio.to_thread.run_sync(read)


async def test_a_finalization_reaches_the_event_stream_and_the_pages(world, nursery):
    snapshot = world.chain.snapshot()
    try:
        base = await serve(nursery, world)
        before = await api(base, "status")
        assert before["reachable"] is True and before["l1"]["head"] > 0
        with trio.fail_after(WAIT_S):
            waiting = trio.Event()

            async def watch():
                waiting.set()
                nonlocal moved
                moved = await _next_version(base, before["version"])

            moved = None
            async with trio.open_nursery() as inner:
                inner.start_soon(watch)
                await waiting.wait()
                await trio.to_thread.run_sync(world.finalize, 3, list(world.drawn[3])[:1] * 2)
        assert moved["l1"]["head"] > before["l1"]["head"]
        overview = await api(base, "overview")
        assert overview["counts"]["finalized"] == 4
        assert (await api(base, "blocks/3"))["status"] == "finalized"
    finally:
        world.chain.revert(snapshot)


async def test_an_unreachable_l1_shows_as_such_and_is_followed_again(world, nursery):
    port = _free_port()
    server_scope = trio.CancelScope()

    async def serve_l1(task_status=trio.TASK_STATUS_IGNORED):
        with server_scope:
            await EmbeddedL1Server(world.chain, port=port).run(task_status=task_status)

    url = await nursery.start(serve_l1)
    base = await serve(nursery, world, chain=await trio.to_thread.run_sync(RpcChain, url))
    assert (await api(base, "status"))["reachable"] is True
    server_scope.cancel()
    with trio.fail_after(WAIT_S):
        while (status := await api(base, "status"))["reachable"] is not False:
            await trio.sleep(0.1)
    assert "unreachable" in status["error"] or "cannot reach" in status["error"]
    assert url not in status["error"] and str(port) not in status["error"]
    # What was read stays served.
    assert (await api(base, "overview"))["counts"]["finalized"] == 2
    server_scope = trio.CancelScope()
    await nursery.start(serve_l1)
    with trio.fail_after(WAIT_S):
        while (await api(base, "status"))["reachable"] is not True:
            await trio.sleep(0.1)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# ---------------------------------------------------------------------- the command


def _explorer(*args: str, timeout: float = WAIT_S) -> subprocess.CompletedProcess:
    return subprocess.run([PROVERNET, "explorer", *args], capture_output=True, text=True,
                          timeout=timeout)


def test_a_dead_endpoint_is_one_error_line_at_start(world):
    done = _explorer("--rpc-url", "http://127.0.0.1:9", "--deployment", str(world.deployment_file))
    assert done.returncode == 1 and done.stdout == ""
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("Error: ") and "127.0.0.1:9" in line


async def test_the_command_serves_and_a_taken_port_is_one_error_line(world, nursery):
    url = await nursery.start(EmbeddedL1Server(world.chain).run)
    args = ["--rpc-url", url, "--deployment", str(world.deployment_file)]
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        done = await trio.to_thread.run_sync(
            lambda: _explorer(*args, "--port", str(taken.getsockname()[1])))
    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("Error: the explorer cannot listen on 127.0.0.1:"), line

    process = await trio.lowlevel.open_process(
        [PROVERNET, "explorer", *args, "--port", "0", "--audit-log", str(world.audit_log)],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        with trio.fail_after(WAIT_S):
            said = b""
            while b"\n" not in said:
                said += await process.stdout.receive_some()
        served = re.fullmatch(r"explorer at (http://127\.0\.0\.1:\d+/)", said.decode().strip())
        assert served, said
        overview = await api(served.group(1), "overview")
        assert overview["counts"]["finalized"] == 2 and overview["audit_log"]["records"] == 2
    finally:
        process.terminate()
        with trio.fail_after(WAIT_S):
            assert await process.wait() == 0
