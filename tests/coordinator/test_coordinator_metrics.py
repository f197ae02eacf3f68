"""The coordinator's metrics: the block statuses and dispatch times it derives (pure), and a real
coordinator service on the embedded chain, its /metrics and /health over HTTP on loopback after
a block is committed on L1 and two rollers are refused at the door over libp2p."""

from __future__ import annotations

import json

import pytest
import trio
from eth_account import Account
from prometheus_client import generate_latest

from coordinator.metrics import CoordinatorMetrics, block_statuses
from coordinator.config import CoordinatorConfig
from coordinator.service import PROTOCOL_VERSION, CoordinatorService
from coordinator_harness import commit, new_core, roster
from p2p import messages as m
from p2p.host import open_node
from p2p.protocols import open_stream
from p2p.signing import sign_digest, signing_digest
from provernet.world import ONE_TRANSFER
from scrape import get, samples

P = "provernet_coordinator"


def test_block_statuses_count_the_blocks_not_finalized():
    core = new_core()
    core.handle(commit(1, 0, roster(3)))
    core.handle(commit(2, 0, roster(3)))
    assert block_statuses(core) == {"assigned": 2, "open": 0, "proven": 0, "aggregating": 0,
                                    "aggregated": 0}


def test_dispatch_time_runs_from_the_commit_to_the_blocks_first_task():
    metrics = CoordinatorMetrics()
    metrics.block_committed(7, now=100.0)
    metrics.task_sent("batch", 7, now=101.0)  # a batch's index is no block's
    metrics.task_sent("block", 7, now=100.25)
    metrics.task_sent("block", 7, now=105.0)  # a second roller's task: no second sample
    seen = samples(generate_latest(metrics.registry).decode())
    assert (seen[(f"{P}_task_dispatch_seconds_count", ())],
            seen[(f"{P}_task_dispatch_seconds_sum", ())]) == (1, 0.25)
    assert seen[(f"{P}_tasks_sent_total", (("kind", "block"),))] == 2


@pytest.fixture
def world(tmp_path, small_circuit, coordinator_world):
    """The coordinator service on `coordinator_world`, serving metrics on a free port."""
    w = coordinator_world
    service = CoordinatorService(
        CoordinatorConfig(datadir=tmp_path / "coordinator", sequencer_url="http://127.0.0.1:9",
                          poll_interval=0.1, metrics_listen="127.0.0.1:0"),
        w.chain, w.deployment, w.coordinator, small_circuit)
    return w.chain, w.sequencer, w.rollup, service


async def refused(node, service: CoordinatorService, account, versions: tuple[int, ...]) -> str:
    """The code a roller with `account` gets when it offers `versions`."""
    async with open_stream(node, service.node.peer_id) as session:
        await session.send(m.Hello(roller=bytes.fromhex(account.address[2:]), versions=versions))
        answer = await session.receive(m.Challenge, m.Refused)
        if isinstance(answer, m.Challenge):
            await session.send(m.Auth(signature=sign_digest(account.key, signing_digest(answer))))
            answer = await session.receive(m.Refused)
        return answer.code


async def test_a_real_coordinator_counts_what_happens(tmp_path, world):
    chain, sequencer, rollup, service = world
    async with trio.open_nursery() as nursery:
        with trio.fail_after(60):
            await nursery.start(service.run)
        status, _, body = await get(service.metrics_port, "/health")
        assert status == 200
        assert json.loads(body) == {"ok": True, "rollers": 0, "last_committed": 0,
                                    "last_finalized": 0, "open_rounds": 0, "l1_pending": 0,
                                    "problems": []}

        # A block on L1, and L1 moving on past its randomness block (as the devnet keeps it
        # moving): the coordinator records the randomness and hands the core BlockCommitted.
        await trio.to_thread.run_sync(rollup.commit_block, sequencer, 2, ONE_TRANSFER)
        with trio.fail_after(30):
            while service.core.last_committed < 1:
                await trio.to_thread.run_sync(chain.mine)
                await trio.sleep(0.1)

        stranger = Account.create()  # no stake: no weight
        async with open_node(tmp_path / "roller") as node:
            with trio.fail_after(20):
                await node.connect(service.node.addrs[0])
                assert await refused(node, service, stranger, (PROTOCOL_VERSION + 1,)) == "version"
                assert await refused(node, service, stranger, (PROTOCOL_VERSION,)) == "zero_weight"

        status, headers, body = await get(service.metrics_port, "/metrics")
        assert status == 200 and headers["content-type"].startswith("text/plain; version=")
        seen = samples(body.decode())
        expected = {
            (f"{P}_core_events_total", (("event", "BlockCommitted"), ("result", "handled"))): 1,
            (f"{P}_auth_failures_total", (("reason", "version"),)): 1,
            (f"{P}_auth_failures_total", (("reason", "zero_weight"),)): 1,
            (f"{P}_blocks", (("status", "assigned"),)): 1,
            (f"{P}_blocks", (("status", "proven"),)): 0,
            (f"{P}_last_committed_block", ()): 1,
            (f"{P}_last_finalized_block", ()): 0,
            (f"{P}_sessions_connected", ()): 0,
            (f"{P}_l1_actions_pending", ()): 0,
            (f"{P}_open_rounds", ()): 0,
        }
        assert {key: seen.get(key) for key in expected} == expected
        nursery.cancel_scope.cancel()
