"""Liveness after faults, at the network layer: a peer that went down and came back on the same
port and key (a coordinator restarted on its data directory) is reached by the next dial, not
after py-libp2p's negative cache of failed peers (60 s) has expired."""

from __future__ import annotations

import socket

import pytest
import trio

from p2p.config import P2PConfig
from p2p.errors import DialFailed, Timeout
from p2p.host import open_node

CONFIG = P2PConfig(dial_timeout=5)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_a_peer_restarted_on_the_same_port_is_dialled_at_once(tmp_path):
    listen = f"/ip4/127.0.0.1/tcp/{free_port()}"
    async with open_node(tmp_path / "dialler", config=CONFIG) as dialler:
        async with open_node(tmp_path / "restarting", listen=listen, config=CONFIG) as peer:
            peer_id, addrs = peer.peer_id, peer.addrs
            with trio.fail_after(10):
                await dialler.connect_peer(peer_id, addrs)
        # Down: the dial fails, and py-libp2p marks the peer as failed.
        with trio.fail_after(10):
            while dialler.host.get_network().connections.get(peer_id):
                await trio.sleep(0.05)  # the closed connection is noticed
            with pytest.raises((DialFailed, Timeout)):
                await dialler.connect_peer(peer_id, addrs)
        async with open_node(tmp_path / "restarting", listen=listen, config=CONFIG) as again:
            assert again.peer_id == peer_id
            # Back: the very next dial reaches it.
            with trio.fail_after(5):
                await dialler.connect_peer(peer_id, addrs)
            assert dialler.host.get_network().connections.get(peer_id)
