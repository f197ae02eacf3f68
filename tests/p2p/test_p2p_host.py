"""Hosts: persisted identity, readiness, dialling, bans."""

from __future__ import annotations

import os
import stat

import pytest
import trio

from p2p.config import P2PConfig
from p2p.errors import BadSignature, DialFailed, KeyFileError, PeerBanned, StreamClosed, Timeout
from p2p.host import IDENTITY_FILE, load_or_create_identity, open_node, run_node
from p2p.messages import Ping, Pong
from p2p.protocols import SESSION_PROTOCOL, open_stream, serve
from p2p_nodes import running_nodes


async def test_identity_survives_a_restart(tmp_path):
    async with open_node(tmp_path) as node:
        first = node.peer_id
        assert node.addrs and all(a.startswith("/ip4/127.0.0.1/tcp/") and a.endswith(f"/p2p/{first}")
                                  for a in node.addrs)
    key = tmp_path / IDENTITY_FILE
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == [IDENTITY_FILE]  # no temporary file left
    async with trio.open_nursery() as nursery:
        node = await nursery.start(run_node, tmp_path)  # the service form reports the same identity
        assert node.peer_id == first
        nursery.cancel_scope.cancel()


def test_key_readable_by_others_is_refused(tmp_path):
    load_or_create_identity(tmp_path)
    os.chmod(tmp_path / IDENTITY_FILE, 0o644)
    with pytest.raises(KeyFileError, match="chmod 600"):
        load_or_create_identity(tmp_path)


def test_corrupt_key_is_refused(tmp_path):
    key = tmp_path / IDENTITY_FILE
    key.write_bytes(b"not a key")
    key.chmod(0o600)
    with pytest.raises(KeyFileError, match="not a libp2p private key"):
        load_or_create_identity(tmp_path)


async def test_dial_errors_are_specific(tmp_path):
    async with running_nodes(tmp_path, "a", "b", config=P2PConfig(dial_timeout=2)) as (a, b):
        with pytest.raises(DialFailed, match="/p2p/"):
            await a.connect("/ip4/127.0.0.1/tcp/1")  # no peer id to check the remote against
        with pytest.raises((DialFailed, Timeout)):
            await a.connect(f"/ip4/127.0.0.1/tcp/1/p2p/{b.peer_id}")


async def test_bootstrap_skips_unreachable_peers(tmp_path):
    async with running_nodes(tmp_path, "a", "b", "down", config=P2PConfig(dial_timeout=2)) as (a, b, down):
        unreachable = f"/ip4/127.0.0.1/tcp/1/p2p/{down.peer_id}"
        with trio.fail_after(10):
            assert await b.connect_bootstrap([unreachable, a.addrs[0]]) == [a.peer_id]


async def test_connect_to_an_announced_peer(tmp_path):
    async with running_nodes(tmp_path, "a", "b", "c") as (a, b, c):
        with trio.fail_after(10):
            await b.connect_peer(a.peer_id, a.addrs)  # as announced: with the /p2p/ suffix
            await c.connect_peer(a.peer_id, [addr.rsplit("/p2p/", 1)[0] for addr in a.addrs])
        assert {b.peer_id, c.peer_id} <= set(a.host.get_network().connections)
        with pytest.raises(DialFailed):
            await b.connect_peer(a.peer_id, [])


async def test_a_node_keeps_max_connections_and_refuses_the_next(tmp_path):
    """`max_connections` is the node's limit, in place of py-libp2p's own (which refused a
    coordinator's 251st roller): here 3, so the fourth peer is refused."""
    config = P2PConfig(max_connections=3, dial_timeout=5)
    async with running_nodes(tmp_path, "hub", "p1", "p2", "p3", "p4", config=config) as (
            hub, *peers):
        with trio.fail_after(30):
            for peer in peers[:3]:
                await peer.connect_peer(hub.peer_id, hub.addrs)
            with pytest.raises((DialFailed, Timeout)):
                await peers[3].connect_peer(hub.peer_id, hub.addrs)


async def _pong(stream):
    ping = await stream.receive(Ping)
    await stream.send(Pong(nonce=ping.nonce))


async def test_a_ban_cuts_off_that_peer_only(tmp_path):
    async with running_nodes(tmp_path, "judge", "bad", "good") as (judge, bad, good):
        serve(judge, SESSION_PROTOCOL, _pong)
        with trio.fail_after(10):
            await bad.connect(judge.addrs[0])
            await good.connect(judge.addrs[0])
            judge.penalise(bad.peer_id, BadSignature("forged"))  # 100 points: a ban at the defaults
            assert judge.is_banned(bad.peer_id) and not judge.is_banned(good.peer_id)
            while bad.peer_id in judge.host.get_network().connections:
                await trio.sleep(0.01)
            with pytest.raises(PeerBanned):
                await judge.connect(bad.addrs[0])
            # Dialled from its side, the banned peer gets no further than the connection.
            with pytest.raises((DialFailed, StreamClosed)):
                await bad.connect(judge.addrs[0])
                async with open_stream(bad, judge.peer_id) as stream:
                    await stream.send(Ping(nonce=1))
                    await stream.receive(Pong, timeout=2)
            async with open_stream(good, judge.peer_id) as stream:
                await stream.send(Ping(nonce=2))
                assert await stream.receive(Pong) == Pong(nonce=2)
