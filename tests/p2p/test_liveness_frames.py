"""Liveness after faults, at the framing layer: a peer that ends its stream inside a frame, or stops
sending inside one, is cut off and penalised (`IncompleteFrame`, `penalty_incomplete_frame`), even
by a reader that waits for its next frame without a limit of its own (a session's main loop);
a peer that ends its stream between frames is a clean end, and costs nothing."""

from __future__ import annotations

import math

import pytest
import trio

from p2p import messages as m
from p2p.config import P2PConfig
from p2p.errors import IncompleteFrame, P2PError, StreamClosed
from p2p.framing import encode_varint
from p2p.protocols import SESSION_PROTOCOL, open_stream, serve
from p2p_nodes import running_nodes

#: a stall is cut off after this; short, so the test waits for it in real time
FRAME_TIMEOUT = 0.5
CONFIG = P2PConfig(frame_timeout=FRAME_TIMEOUT)
HALF_A_FRAME = encode_varint(100) + b"\x81" * 10


def serve_without_limit(node, errors: trio.MemorySendChannel) -> None:
    """A reader that waits for a hello as long as it takes, as a session waits for the next
    message; what ends it comes out of `errors`, with the time it took."""

    async def handler(stream):
        started = trio.current_time()
        try:
            await stream.receive(m.Hello, timeout=math.inf)
        except P2PError as error:
            errors.send_nowait((error, trio.current_time() - started))
            raise

    serve(node, SESSION_PROTOCOL, handler)


@pytest.mark.parametrize("then", ["closes", "stalls"])
async def test_half_a_frame_costs_the_peer_and_a_stall_is_bounded(tmp_path, then):
    send, receive = trio.open_memory_channel(math.inf)
    async with running_nodes(tmp_path, "reader", "peer", config=CONFIG) as (reader, peer):
        serve_without_limit(reader, send)
        with trio.fail_after(10):
            await peer.connect(reader.addrs[0])
            async with open_stream(peer, reader.peer_id) as stream:
                await stream.stream.write(HALF_A_FRAME)
                if then == "closes":
                    await stream.stream.close()
                error, seconds = await receive.receive()
        assert isinstance(error, IncompleteFrame) and error.received == len(HALF_A_FRAME)
        if then == "stalls":
            assert FRAME_TIMEOUT <= seconds < FRAME_TIMEOUT + 2
            assert "nothing more came for 0.5 s" in str(error)
        else:
            assert "the stream ended inside it" in str(error)
        assert reader.scores.score(str(peer.peer_id)) == pytest.approx(
            -CONFIG.penalty_incomplete_frame, abs=0.5)


async def test_a_stream_closed_between_frames_costs_nothing(tmp_path):
    send, receive = trio.open_memory_channel(math.inf)
    async with running_nodes(tmp_path, "reader", "peer", config=CONFIG) as (reader, peer):
        serve_without_limit(reader, send)
        with trio.fail_after(10):
            await peer.connect(reader.addrs[0])
            async with open_stream(peer, reader.peer_id) as stream:
                await stream.stream.close()
                error, _ = await receive.receive()
        assert isinstance(error, StreamClosed)
        assert reader.scores.score(str(peer.peer_id)) == 0


async def test_a_slow_frame_that_completes_in_time_is_read(tmp_path):
    """Bytes trickling in, the whole frame within `frame_timeout`: read, nobody penalised."""
    hello = m.encode(m.Hello(roller=b"\x12" * 20, versions=(1,)))
    frame = encode_varint(len(hello)) + hello
    got = trio.Event()

    async def handler(stream):
        await stream.receive(m.Hello, timeout=math.inf)
        got.set()

    async with running_nodes(tmp_path, "reader", "peer", config=CONFIG) as (reader, peer):
        serve(reader, SESSION_PROTOCOL, handler)
        with trio.fail_after(10):
            await peer.connect(reader.addrs[0])
            async with open_stream(peer, reader.peer_id) as stream:
                for piece in (frame[:3], frame[3:10], frame[10:]):
                    await stream.stream.write(piece)
                    await trio.sleep(FRAME_TIMEOUT / 5)
                await got.wait()
        assert reader.scores.score(str(peer.peer_id)) == 0
