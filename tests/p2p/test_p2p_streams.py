"""Framing and stream protocols on real libp2p streams: bad frames end that stream only."""

from __future__ import annotations

import msgpack
import pytest
import trio
from libp2p.custom_types import TProtocol

from p2p import messages as m
from p2p.config import P2PConfig
from p2p.errors import (MalformedMessage, MessageTooLarge, P2PError, SchemaViolation, StreamClosed, Timeout,
                        UnexpectedMessage, UnknownMessageType, UnsupportedVersion)
from p2p.framing import FramedStream, encode_varint, parse_varint
from p2p.protocols import SESSION_PROTOCOL, open_stream, serve
from p2p_nodes import running_nodes

ECHO = TProtocol("/provernet/test-echo/1.0.0")
CONFIG = P2PConfig(score_recovery_per_second=0.0)
HELLO = m.Hello(roller=bytes(20), versions=(1,))


@pytest.mark.parametrize("n", [0, 1, 127, 128, 300, 65_535, 2**32, 2**64 - 1])
def test_varints_round_trip(n):
    data = encode_varint(n)
    assert parse_varint(data + b"\xff") == (n, len(data))
    assert parse_varint(data[:-1]) is None


@pytest.mark.parametrize("data", [b"\x80\x00", b"\xff" * 10])
def test_varints_must_be_short(data):
    with pytest.raises(MalformedMessage):
        parse_varint(data)


async def _echo(stream):
    while True:
        try:
            ping = await stream.receive(m.Ping)
        except StreamClosed:
            return
        await stream.send(m.Pong(nonce=ping.nonce))


def _frame(payload: bytes) -> bytes:
    return encode_varint(len(payload)) + payload


# Raw bytes a misbehaving peer writes where the server expects `hello`, and what it gets.
BAD_FRAMES = [
    ("oversize", encode_varint(2 << 20), MessageTooLarge),  # only the header: nothing more is read
    ("long-prefix", b"\x80\x00", MalformedMessage),
    ("not-msgpack", _frame(b"\xc1\xc1"), MalformedMessage),
    ("not-a-map", _frame(msgpack.packb([1, 2, 3])), MalformedMessage),
    ("version", _frame(msgpack.packb({"v": 9, "type": "hello"})), UnsupportedVersion),
    ("unknown-type", _frame(msgpack.packb({"v": 1, "type": "teleport"})), UnknownMessageType),
    ("schema", _frame(msgpack.packb({"v": 1, "type": "hello", "roller": b"x", "versions": [1]})),
     SchemaViolation),
    ("unexpected", _frame(m.encode(m.Ping(nonce=1))), UnexpectedMessage),
]


@pytest.mark.parametrize("name, raw, error", BAD_FRAMES, ids=[c[0] for c in BAD_FRAMES])
async def test_bad_frames_end_only_their_stream(tmp_path, name, raw, error):
    failures = []

    async def strict(stream):
        try:
            await stream.receive(m.Hello)
        except P2PError as e:
            failures.append(e)
            raise

    async with running_nodes(tmp_path, "server", "client", config=CONFIG) as (server, client):
        serve(server, SESSION_PROTOCOL, strict)
        serve(server, ECHO, _echo)
        with trio.fail_after(10):
            await client.connect(server.addrs[0])
            async with open_stream(client, server.peer_id, ECHO) as other:
                raw_stream = await client.host.new_stream(server.peer_id, [SESSION_PROTOCOL])
                await raw_stream.write(raw)
                with pytest.raises(StreamClosed):  # the server reset this stream...
                    await FramedStream(raw_stream, write_chunk_bytes=65_535).read_frame(limit=1 << 20, timeout=5)
                assert [type(e) for e in failures] == [error]
                assert server.scores.score(str(client.peer_id)) == -CONFIG.penalty_for(failures[0])
                await other.send(m.Ping(nonce=7))  # ...and nothing else
                assert await other.receive(m.Pong) == m.Pong(nonce=7)
            assert client.peer_id in server.host.get_network().connections


async def test_a_timeout_leaves_the_stream_usable(tmp_path):
    async with running_nodes(tmp_path, "server", "client", config=CONFIG) as (server, client):
        serve(server, ECHO, _echo)
        with trio.fail_after(10):
            await client.connect(server.addrs[0])
            async with open_stream(client, server.peer_id, ECHO) as stream:
                with pytest.raises(Timeout):
                    await stream.receive(m.Pong, timeout=0.2)
                await stream.send(m.Ping(nonce=1))
                assert await stream.receive(m.Pong) == m.Pong(nonce=1)
        assert server.scores.score(str(client.peer_id)) == 0


async def test_large_frames_are_written_in_noise_sized_pieces(tmp_path):
    """A 700 KiB block task crosses the wire in writes of at most 65,535 bytes."""
    task = m.Task(task_id=bytes(32), kind="block", index=1, round=0, seed=bytes(32), slots=1,
                  statement=bytes(32), open=False, assigned_at=1,
                  deadline=2, close_at=3, circuit=bytes(32), inputs=bytes(range(256)) * 2800,
                  signature=bytes(65))
    received = []

    async def take(stream):
        received.append(await stream.receive(m.Task))

    async with running_nodes(tmp_path, "server", "client", config=CONFIG) as (server, client):
        serve(server, SESSION_PROTOCOL, take)
        with trio.fail_after(10):
            await client.connect(server.addrs[0])
            async with open_stream(client, server.peer_id) as stream:
                sizes = []
                write = stream.stream.write

                async def recording_write(data):
                    sizes.append(len(data))
                    await write(data)

                stream.stream.write = recording_write
                await stream.send(task)
            while not received:
                await trio.sleep(0.01)
    assert received == [task]
    assert max(sizes) == 65_535 and sum(sizes) > 700_000
