"""Liveness after faults, on the roller's side (docs/reliability.md, "Liveness after faults"):
a coordinator restarted on its port and key has its session back within seconds, and a block
reverted and committed again with the same contents (same statement, seeds and task id) is drawn
anew and taken, though the roller journaled the old draw.

The coordinator is `test_roller_service`'s fake one: a real libp2p node speaking the session
protocol, on the embedded chain's market."""

from __future__ import annotations

import dataclasses
import socket

import pytest
import trio

from p2p import messages as m
from p2p.signing import sign_digest, signing_digest
from roller.config import RollerConfig
from roller.errors import JournalError
from roller.journal import Journal, TaskKey, TaskOffer, TaskState, is_new_draw
from roller.service import RollerService
from test_roller_service import (authenticate, block_task, fake_coordinator, next_report,
                                 roller_config, seed_speeds, until, verifier_cache, world)

__all__ = ["verifier_cache", "world"]  # fixtures, used by name

#: how long the coordinator stays down: several of the roller's redials fail meanwhile (and
#: py-libp2p's negative cache, were it left in force, would refuse dials for 60 s after the first)
DOWN_SECONDS = 5.0
#: the roller is back in a session within its longest backoff, plus a dial and a handshake
BACK_WITHIN = RollerConfig.reconnect_max + 3.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_a_restarted_coordinator_has_its_session_back_within_seconds(world, tmp_path):
    listen = f"/ip4/127.0.0.1/tcp/{free_port()}"

    async def script(stream, report):
        await authenticate(stream, world)
        report.send_nowait(("welcomed", trio.current_time()))
        await trio.sleep_forever()

    async with trio.open_nursery() as nursery:
        async with fake_coordinator(world, script, listen) as (node, reports):
            # The roller's own backoff at its defaults: what an operator runs.
            config = dataclasses.replace(roller_config(tmp_path, node),
                                         reconnect_initial=RollerConfig.reconnect_initial,
                                         reconnect_max=RollerConfig.reconnect_max)
            roller = RollerService(config, world.chain, world.deployment, world.roller)
            with trio.fail_after(60):
                await nursery.start(roller.run)
                await next_report(reports, "welcomed")
                await until(lambda: roller.connected_coordinators)
        with trio.fail_after(10):
            await until(lambda: not roller.connected_coordinators)
        await trio.sleep(DOWN_SECONDS)
        async with fake_coordinator(world, script, listen) as (node, reports):
            restarted = trio.current_time()
            with trio.fail_after(BACK_WITHIN + 5):
                welcomed = await next_report(reports, "welcomed")
                await until(lambda: roller.connected_coordinators)
            assert welcomed - restarted < BACK_WITHIN
            assert roller.connected_coordinators == [world.coordinator.address]
        nursery.cancel_scope.cancel()


def redrawn(world, task: m.Task, later_ms: int) -> m.Task:
    """`task` drawn again `later_ms` later: same id (same statement and seed), new times."""
    again = dataclasses.replace(task, assigned_at=task.assigned_at + later_ms,
                                deadline=task.deadline + later_ms,
                                close_at=task.close_at + later_ms, signature=bytes(65))
    return dataclasses.replace(again, signature=sign_digest(world.coordinator.key,
                                                            signing_digest(again)))


async def test_a_recommitted_blocks_new_draw_is_taken_by_a_roller_that_saw_the_old_one(
        world, tmp_path):
    """Block 1 is drawn, accepted, then reverted (the coordinator cancels it) and committed again
    with the same contents: the new draw has the old one's id. It is taken and proven, not
    answered with the old draw's `failed: cancelled`; a resend of the new draw is answered from
    the journal (the same proof), not drawn again."""
    ready, failed = trio.Event(), trio.Event()

    async def script(stream, report):
        await authenticate(stream, world)
        await ready.wait()
        old = block_task(world)
        await stream.send(old)
        report.send_nowait(("old", (old, await stream.receive(m.Accept, m.Decline))))
        await stream.send(m.Cancel(task_id=old.task_id, reason="its block was reverted on L1"))
        await failed.wait()
        new = redrawn(world, old, 2_000)
        await stream.send(new)
        report.send_nowait(("new", (new, await stream.receive(m.Accept, m.Decline))))
        report.send_nowait(("proof", await stream.receive(m.Proof, timeout=60)))
        await stream.send(new)
        report.send_nowait(("resent", await stream.receive(m.Accept, m.Decline, m.Proof)))
        await trio.sleep_forever()

    seed_speeds(tmp_path / "roller", world.build.zkey_hash, 1.0).close()
    key = TaskKey(world.coordinator.address, world.rollup.address, "block", 1, 0,
                  world.statements[0])
    async with fake_coordinator(world, script) as (node, reports):
        with trio.fail_after(60):
            roller = RollerService(roller_config(tmp_path, node), world.chain, world.deployment,
                                   world.roller)
            async with trio.open_nursery() as nursery:
                await nursery.start(roller.run)
                await until(lambda: roller.circuit(world.build.zkey_hash))
                ready.set()
                old, reply = await next_report(reports, "old")
                assert isinstance(reply, m.Accept), reply
                cancelled = await until(
                    lambda: (t := roller.journal.get(key)).state is TaskState.FAILED and t)
                assert cancelled.reason.startswith("cancelled by the coordinator")
                failed.set()
                new, reply = await next_report(reports, "new")
                assert new.task_id == old.task_id
                assert isinstance(reply, m.Accept), reply
                proof = await next_report(reports, "proof")
                assert proof.task_id == new.task_id and proof.statement == world.statements[0]
                assert await next_report(reports, "resent") == proof
                journaled = roller.journal.get(key)
                assert journaled.assigned_at == new.assigned_at // 1000
                assert journaled.state is TaskState.SUBMITTED
                nursery.cancel_scope.cancel()


async def test_cancels_of_tasks_never_sent_are_remembered_only_so_many(world, tmp_path):
    """A cancel that overtakes its task declines it when it comes; but a coordinator that sends
    cancels of tasks it never sends does not grow the node's memory: the newest
    `cancels_remembered` are kept."""
    ready = trio.Event()
    task = block_task(world, round_=5)

    async def script(stream, report):
        await authenticate(stream, world)
        await ready.wait()
        for n in range(40):
            await stream.send(m.Cancel(task_id=n.to_bytes(32, "big"), reason="never sent"))
        await stream.send(m.Cancel(task_id=task.task_id, reason="overtaken"))
        await stream.send(m.Ping(nonce=1))  # answered once the cancels before it are handled
        await stream.receive(m.Pong)
        await stream.send(task)
        report.send_nowait(("reply", await stream.receive(m.Accept, m.Decline)))
        await trio.sleep_forever()

    seed_speeds(tmp_path / "roller", world.build.zkey_hash, 1.0).close()
    async with fake_coordinator(world, script) as (node, reports):
        with trio.fail_after(60):
            roller = RollerService(roller_config(tmp_path, node, cancels_remembered=8),
                                   world.chain, world.deployment, world.roller)
            async with trio.open_nursery() as nursery:
                await nursery.start(roller.run)
                await until(lambda: roller.circuit(world.build.zkey_hash))
                ready.set()
                reply = await next_report(reports, "reply")
                assert isinstance(reply, m.Decline) and reply.reason.startswith("cancelled")
                assert len(roller._intake._cancelled_ids) <= 8
                nursery.cancel_scope.cancel()


# ---------------------------------------------------------------------- the journal's part

COORDINATOR = "0x5B38Da6a701c568545dCfcB03FcB875f56beddC4"
ROLLUP = "0x5FbDB2315678afecb367f032d93F642f64180aa3"


def offer(assigned_at: int = 100) -> TaskOffer:
    return TaskOffer(b"\x02" * 32, COORDINATOR, ROLLUP, "block", 7, 0, b"\x03" * 32, b"\x04" * 32,
                     1, False, assigned_at, assigned_at + 30, assigned_at + 60, b"\x01" * 32,
                     b"{}")


@pytest.mark.parametrize("end", ["declined", "failed"])
def test_the_journal_reopens_a_declined_or_failed_task_drawn_again(tmp_path, end):
    journal = Journal.open(tmp_path / "journal.sqlite")
    first = journal.offer(offer())
    if end == "declined":
        journal.decline(first.key, "too_slow: would finish late")
    else:
        journal.accept(first.key)
        journal.fail(first.key, "cancelled by the coordinator: its block was reverted on L1")
    assert journal.get(first.key).state == end
    assert not is_new_draw(journal.get(first.key), offer())  # the same draw sent again
    with pytest.raises(JournalError, match="only a declined or failed task drawn again"):
        journal.redraw(offer())
    again = journal.redraw(offer(assigned_at=130), now=5.0)
    assert (again.state, again.assigned_at, again.deadline, again.reason, again.offered_at,
            again.finished_at) == (TaskState.OFFERED, 130, 160, None, 5.0, None)
    assert journal.accept(again.key).state is TaskState.ACCEPTED
    # An accepted task is no redraw: the coordinator has its answer.
    assert not is_new_draw(journal.get(first.key), offer(assigned_at=200))
    with pytest.raises(JournalError, match="is accepted"):
        journal.redraw(offer(assigned_at=200))
    journal.close()


def test_an_open_task_declined_for_a_passing_reason_is_decided_afresh_when_sent_again(tmp_path):
    """An open task has no deadline and no next round: one every roller declined while L1 was
    down (found by the chaos campaign, docs/reliability.md) must be taken when sent again."""
    journal = Journal.open(tmp_path / "journal.sqlite")
    open_task = dataclasses.replace(offer(), open=True)
    first = journal.offer(open_task)
    journal.decline(first.key, "l1_unavailable: cannot read block 7 from L1")
    assert is_new_draw(journal.get(first.key), open_task)  # the same open task, sent again
    assert journal.redraw(open_task).state is TaskState.OFFERED
    assert journal.accept(first.key).state is TaskState.ACCEPTED
    assert not is_new_draw(journal.get(first.key), open_task)
    journal.close()
