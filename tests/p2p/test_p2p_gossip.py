"""The coordinators topic between three real hosts: a coordinator, a roller, and an attacker
that publishes raw bytes (it runs no validator of its own)."""

from __future__ import annotations

import math
import os
from contextlib import asynccontextmanager

import pytest
import trio
from eth_account import Account

from p2p import messages as m
from p2p.config import P2PConfig
from p2p.errors import (BadSignature, MalformedMessage, MessageTooLarge, RegistryUnavailable,
                        ReplayedMessage, StaleMessage, UnknownCoordinator)
from p2p.gossip import (COORDINATORS_TOPIC, AnnouncementValidator, CoordinatorDirectory, Verdict,
                        join_coordinators, sign_announcement)
from p2p_nodes import running_nodes

NOW = 1_800_000_000
COORDINATOR = Account.from_key(b"\x01" * 32)
STRANGER = Account.from_key(b"\x02" * 32)
FORGER = Account.from_key(b"\x03" * 32)


def registered(address: str) -> bool:
    return address == COORDINATOR.address


async def registered_async(address: str) -> bool:
    await trio.sleep(0)  # as an L1 lookup would
    return registered(address)


def fields(account, *, seq=1, timestamp=NOW, peer_id=b"\x00" * 38, coordinator=None):
    return dict(coordinator=bytes.fromhex((coordinator or account).address[2:]), peer_id=peer_id,
                addrs=["/ip4/127.0.0.1/tcp/4001"], chain_id=31337, staking=b"\x05" * 20, rollup=b"\x06" * 20,
                circuits=[b"\x07" * 32], seq=seq, timestamp=timestamp)


def announce(account, **kw) -> m.Announce:
    return sign_announcement(account.key, fields(account, **kw))


@asynccontextmanager
async def three_hosts(tmp_path, config):
    """(coordinator topic, roller topic, attacker node, roller's outcomes channel)."""
    send, outcomes = trio.open_memory_channel(math.inf)
    async with running_nodes(tmp_path, "coordinator", "roller", "attacker", config=config) as (c, r, a):
        async with join_coordinators(c, is_registered=registered, now=lambda: NOW) as c_topic, \
                join_coordinators(r, is_registered=registered_async, now=lambda: NOW,
                                  on_outcome=send.send_nowait) as r_topic:
            await a.pubsub.subscribe(COORDINATORS_TOPIC)  # raw: no validator on the attacker
            with trio.fail_after(10):
                await c.connect(r.addrs[0])
                await a.connect(r.addrs[0])
                await c_topic.wait_for_peer(r.peer_id, timeout=5)
                await r_topic.wait_for_peer(c.peer_id, timeout=5)
                await r_topic.wait_for_peer(a.peer_id, timeout=5)
                await a.pubsub.wait_for_mesh(r.peer_id, COORDINATORS_TOPIC, timeout=5)
            yield c_topic, r_topic, a, outcomes


async def next_outcome(outcomes):
    with trio.fail_after(5):
        return await outcomes.receive()


async def test_announcements_are_validated_and_senders_penalised(tmp_path):
    config = P2PConfig(ban_threshold=-1000, score_recovery_per_second=0)
    async with three_hosts(tmp_path, config) as (c_topic, r_topic, attacker, outcomes):
        c, r = c_topic.node, r_topic.node
        first = announce(COORDINATOR, peer_id=c.peer_id.to_bytes())
        await c_topic.publish(first)
        outcome = await next_outcome(outcomes)
        assert (outcome.peer, outcome.verdict, outcome.announcement) == (c.peer_id, Verdict.ACCEPT, first)
        assert r_topic.directory.get(COORDINATOR.address) == first

        bad = [
            ("forged", m.encode(announce(FORGER, coordinator=COORDINATOR)), Verdict.REJECT, BadSignature),
            ("unregistered", m.encode(announce(STRANGER)), Verdict.REJECT, UnknownCoordinator),
            ("stale", m.encode(announce(COORDINATOR, seq=9, timestamp=NOW - config.announce_max_age - 1)),
             Verdict.IGNORE, StaleMessage),
            ("replayed", m.encode(first), Verdict.IGNORE, ReplayedMessage),
            ("oversize", os.urandom(config.max_gossip_bytes + 1), Verdict.REJECT, MessageTooLarge),
            ("malformed", b"\xc1not msgpack", Verdict.REJECT, MalformedMessage),
        ]
        expected_score = 0.0
        for name, data, verdict, error in bad:
            await attacker.pubsub.publish(COORDINATORS_TOPIC, data)
            outcome = await next_outcome(outcomes)
            assert (outcome.peer, outcome.verdict, type(outcome.error)) == (attacker.peer_id, verdict, error), name
            expected_score -= config.penalty_for(outcome.error)
            assert r.scores.score(str(attacker.peer_id)) == expected_score, name
        assert expected_score == -225

        # The coordinator is unaffected, its next announcement goes through, and nothing bad
        # reached it through the roller.
        assert r.scores.score(str(c.peer_id)) == 0
        second = announce(COORDINATOR, seq=2, peer_id=c.peer_id.to_bytes())
        await c_topic.publish(second)
        assert (await next_outcome(outcomes)).verdict is Verdict.ACCEPT
        assert await r_topic.directory.wait_for(COORDINATOR.address, min_seq=2, timeout=5) == second
        assert c_topic.directory.all() == [second]


async def test_a_forger_is_banned_and_the_coordinator_still_heard(tmp_path):
    async with three_hosts(tmp_path, P2PConfig()) as (c_topic, r_topic, attacker, outcomes):
        c, r = c_topic.node, r_topic.node
        await attacker.pubsub.publish(COORDINATORS_TOPIC, m.encode(announce(FORGER, coordinator=COORDINATOR)))
        assert type((await next_outcome(outcomes)).error) is BadSignature
        assert r.is_banned(attacker.peer_id)
        with trio.fail_after(5):
            while attacker.peer_id in r.host.get_network().connections:
                await trio.sleep(0.01)
        await c_topic.publish(announce(COORDINATOR, peer_id=c.peer_id.to_bytes()))
        assert (await next_outcome(outcomes)).verdict is Verdict.ACCEPT
        assert not r.is_banned(c.peer_id)


async def test_publishing_an_invalid_announcement_fails_at_home(tmp_path):
    async with running_nodes(tmp_path, "c") as (c,):
        async with join_coordinators(c, is_registered=registered, now=lambda: NOW) as topic:
            with pytest.raises(UnknownCoordinator):
                await topic.publish(announce(STRANGER))
            with pytest.raises(StaleMessage):
                await topic.publish(announce(COORDINATOR, timestamp=NOW + 3600))


def test_directory_keeps_the_latest_fresh_entry():
    directory = CoordinatorDirectory()
    directory.record(announce(COORDINATOR, seq=1, timestamp=NOW - 400))
    with pytest.raises(ReplayedMessage):
        directory.record(announce(COORDINATOR, seq=1))
    assert directory.active(NOW, max_age=300) == []
    directory.record(announce(COORDINATOR, seq=2))
    assert [a.seq for a in directory.active(NOW, max_age=300)] == [2]


async def test_validation_order_prefers_cheap_checks():
    """A replay is recognised without asking the registry (an L1 call)."""
    asked = []

    def is_registered(address):
        asked.append(address)
        return True

    validator = AnnouncementValidator(P2PConfig(), CoordinatorDirectory(), is_registered, now=lambda: NOW)
    first = announce(COORDINATOR)
    assert (await validator.validate(None, m.encode(first))).verdict is Verdict.ACCEPT
    outcome = await validator.validate(None, m.encode(first))
    assert (outcome.verdict, type(outcome.error)) == (Verdict.IGNORE, ReplayedMessage)
    assert asked == [COORDINATOR.address]


async def test_an_announcement_the_registry_cannot_judge_now_is_ignored_not_blamed():
    """Our L1 endpoint down is not the forwarding peer's fault: penalising honest peers for it
    would cut this node off the mesh. The same announcement is accepted once L1 answers."""
    l1_up = False

    async def is_registered(address):
        if not l1_up:
            raise RegistryUnavailable("cannot ask the registry now: connection refused")
        return registered(address)

    validator = AnnouncementValidator(P2PConfig(), CoordinatorDirectory(), is_registered,
                                      now=lambda: NOW)
    first = announce(COORDINATOR)
    outcome = await validator.validate(None, m.encode(first))
    assert (outcome.verdict, type(outcome.error)) == (Verdict.IGNORE, RegistryUnavailable)
    assert validator.directory.get(COORDINATOR.address) is None
    l1_up = True
    assert (await validator.validate(None, m.encode(first))).verdict is Verdict.ACCEPT
    stranger = await validator.validate(None, m.encode(announce(STRANGER)))
    assert (stranger.verdict, type(stranger.error)) == (Verdict.REJECT, UnknownCoordinator)
