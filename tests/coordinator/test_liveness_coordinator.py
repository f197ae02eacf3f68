"""Liveness after faults, on the coordinator's side (docs/reliability.md, "Liveness after faults"):
an assignment whose deadline passed while its roller was away is dropped, not sent (the roller
could only decline it; the core has drawn the next round); a bad or replayed auth signature and a
hello cut off inside its frame cost the peer its penalty. The real service runs on the embedded
chain; rollers are real libp2p hosts on loopback speaking the roller's own handshake."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import trio

from coordinator.commands import Assign
from coordinator.config import CoordinatorConfig
from coordinator.service import CoordinatorService, now_ms
from market_contracts.rules import MarketParams, TaskKind
from p2p import messages as m
from p2p.errors import StreamClosed
from p2p.framing import encode_varint
from p2p.host import open_node
from p2p.protocols import open_stream
from p2p.signing import sign_digest, signing_digest
from roller.session import handshake

PARAMS = MarketParams.devnet()
EXPIRED_TOTAL = "provernet_coordinator_tasks_expired_total"


class InputsOnly:
    """The sequencer as far as a block task's message needs it: some circuit inputs."""

    async def block_inputs(self, index: int) -> dict:
        return {"block": index}


@asynccontextmanager
async def running_coordinator(world, build, datadir, staked: int = 1
                              ) -> AsyncIterator[tuple[CoordinatorService, list]]:
    rollers = world.chain.dev_accounts[5:5 + staked]
    world.built.stake_rollers(rollers, [2 * PARAMS.min_stake] * staked, eth=0,
                              tokens=2 * PARAMS.min_stake)
    service = CoordinatorService(
        CoordinatorConfig(datadir=datadir / "coordinator", sequencer_url="http://127.0.0.1:9",
                          poll_interval=0.2),
        world.chain, world.deployment, world.coordinator, build)
    async with trio.open_nursery() as nursery:
        with trio.fail_after(60):
            await nursery.start(service.run)
        service.sequencer = InputsOnly()
        yield service, rollers
        nursery.cancel_scope.cancel()


def assignment(roller: str, index: int, deadline_in_ms: int, key: int) -> Assign:
    now = now_ms()
    return Assign(TaskKind.BLOCK, index, 0, roller, os.urandom(32), 1, os.urandom(32),
                  now - 30_000, now + deadline_in_ms, now + 120_000, key=(10**9, key))


async def test_a_task_past_its_deadline_is_dropped_not_sent(tmp_path, small_circuit,
                                                            coordinator_world):
    async with running_coordinator(coordinator_world, small_circuit, tmp_path) as (service,
                                                                                    (roller,)):
        # Drawn while the roller was away (its session broke when the coordinator restarted):
        # one whose deadline passed while it waited, in the outbox first, and one still due.
        expired = assignment(roller.address, 1, -1_000, 0)
        due = assignment(roller.address, 2, 60_000, 1)
        for command in (expired, due):
            service._remember(command)
            assert await service._queue_task(command, roller.address)
        registry = service.metrics.registry
        async with open_node(tmp_path / "roller") as node:
            with trio.fail_after(20):
                await node.connect(service.node.addrs[0])
                async with open_stream(node, service.node.peer_id) as stream:
                    await handshake(stream, roller, service.address, service.chain.chain_id)
                    task = await stream.receive(m.Task)
                    assert task.index == 2 and task.deadline == due.deadline
                    await nothing_more(stream)
        assert registry.get_sample_value(EXPIRED_TOTAL, {"kind": "block"}) == 1
        assert service.outbox[roller.address] == {}
        # Both are done: a restart sends neither again.
        with trio.fail_after(10):
            while not {expired.key, due.key} <= (
                    await trio.to_thread.run_sync(service.store.restore)).done:
                await trio.sleep(0.05)


async def nothing_more(stream) -> None:
    """Nothing else comes on `stream` for a second (the expired task is not sent after)."""
    with trio.move_on_after(1) as waited:
        msg = await stream.receive(m.Task, m.Cancel, m.Receipt)
        raise AssertionError(f"sent after the task due: {msg}")
    assert waited.cancelled_caught


async def answer_with(node, service, roller, signature_of) -> m.Refused | m.Welcome:
    """A session from `node` claiming to be `roller`, answering the challenge with
    `signature_of(challenge)`: the coordinator's reply."""
    async with open_stream(node, service.node.peer_id) as stream:
        await stream.send(m.Hello(roller=bytes.fromhex(roller.address[2:]), versions=(1,)))
        challenge = await stream.receive(m.Challenge)
        await stream.send(m.Auth(signature=signature_of(challenge)))
        return await stream.receive(m.Refused, m.Welcome)


async def test_bad_or_replayed_auth_and_half_a_hello_cost_the_peer(tmp_path, small_circuit,
                                                                   coordinator_world):
    async with running_coordinator(coordinator_world, small_circuit, tmp_path) as (service,
                                                                                    (roller,)):
        scores = service.node.scores
        forger = coordinator_world.chain.dev_accounts[9]
        async with open_node(tmp_path / "honest") as honest, \
                open_node(tmp_path / "forger") as forging, \
                open_node(tmp_path / "replayer") as replaying, \
                open_node(tmp_path / "garbler") as garbling, \
                open_node(tmp_path / "cut") as cutting:
            with trio.fail_after(30):
                for node in (honest, forging, replaying, garbling, cutting):
                    await node.connect(service.node.addrs[0])
                answered: list[bytes] = []

                def sign(challenge):
                    answered.append(sign_digest(roller.key, signing_digest(challenge)))
                    return answered[-1]

                assert isinstance(await answer_with(honest, service, roller, sign), m.Welcome)
                # Signed by another key; the honest roller's answer to another challenge; bytes
                # that recover to no key at all.
                for node, signature_of in [
                        (forging, lambda c: sign_digest(forger.key, signing_digest(c))),
                        (replaying, lambda c: answered[0]),
                        (garbling, lambda c: b"\xff" * 65)]:
                    reply = await answer_with(node, service, roller, signature_of)
                    assert isinstance(reply, m.Refused) and reply.code == "bad_signature"
                # A hello cut off inside its frame.
                async with open_stream(cutting, service.node.peer_id) as stream:
                    await stream.stream.write(encode_varint(60) + b"\x81" * 20)
                    await stream.stream.close()
                    with pytest.raises(StreamClosed):
                        await stream.receive(m.Challenge)
        p2p = service.node.config
        assert scores.score(str(honest.peer_id)) == 0
        for node in (forging, replaying, garbling):  # one bad signature bans, at the defaults
            assert service.node.is_banned(node.peer_id)
        assert scores.score(str(cutting.peer_id)) == pytest.approx(-p2p.penalty_incomplete_frame,
                                                                   abs=0.5)
