"""Length-prefixed frames over one libp2p stream.

A frame is an unsigned LEB128 varint (the length, shortest form, at most 10
bytes) followed by that many bytes, as libp2p's own protocols frame messages.
The reader checks the length against its limit before reading the body, so an
oversize frame costs the reader nothing; it reads a whole frame under one
deadline, so a peer that trickles bytes cannot hold a reader past it. Once a
frame's first byte has come, the rest must follow within `frame_timeout`
whatever the reader's own deadline (a session reader waits for the next frame
with none), and a stream that ends inside a frame is no clean end: both raise
`IncompleteFrame`, which costs the peer its penalty. The writer splits each
frame into writes of at most `P2PConfig.write_chunk_bytes` (65,535 by
default), the most one Noise transport message carries.

The defaults (`P2PConfig`): 1 MiB per session or artifact frame, 4 KiB per
gossip message, 30 s to read or write a frame, 30 s for the rest of a frame
once begun.
"""

from __future__ import annotations

import math

import trio
from libp2p.abc import INetStream
from libp2p.exceptions import BaseLibp2pError
from libp2p.network.stream.exceptions import StreamEOF, StreamReset

from p2p.errors import (IncompleteFrame, MalformedMessage, MessageTooLarge, P2PError,
                        StreamClosed, Timeout)

MAX_VARINT_BYTES = 10  # a 64-bit length
READ_SIZE = 64 << 10


def encode_varint(n: int) -> bytes:
    if n < 0:
        raise ValueError("varint of a negative number")
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def parse_varint(buf: bytes | bytearray) -> tuple[int, int] | None:
    """(value, bytes used) from the start of `buf`, or None if `buf` ends inside the varint."""
    value = 0
    for i, byte in enumerate(buf[:MAX_VARINT_BYTES]):
        value |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            # A trailing zero group means a longer encoding than needed: refuse, so that
            # every length has one encoding.
            if i > 0 and byte == 0:
                raise MalformedMessage("length prefix is not in shortest form")
            return value, i + 1
    if len(buf) >= MAX_VARINT_BYTES:
        raise MalformedMessage(f"length prefix longer than {MAX_VARINT_BYTES} bytes")
    return None


class FramedStream:
    """Frames in and out of `stream`. Reads keep a buffer, so a read cut short by the reader's
    timeout loses nothing and the next read continues where it stopped; the frame's own time
    (`frame_timeout`) runs from its first byte across reads."""

    def __init__(self, stream: INetStream, *, write_chunk_bytes: int,
                 frame_timeout: float = math.inf):
        self.stream = stream
        self.write_chunk_bytes = write_chunk_bytes
        self.frame_timeout = frame_timeout
        self._buffer = bytearray()
        #: when the first byte of the frame now in the buffer came (trio time); None: empty
        self._frame_started: float | None = None

    async def read_frame(self, *, limit: int, timeout: float) -> bytes:
        deadline = trio.current_time() + timeout
        while (header := parse_varint(self._buffer)) is None:
            await self._fill(deadline, timeout)
        length, used = header
        if length > limit:
            raise MessageTooLarge(length, limit)
        while len(self._buffer) < used + length:
            await self._fill(deadline, timeout)
        frame = bytes(self._buffer[used:used + length])
        del self._buffer[:used + length]
        # What is left came with this frame: the next one has begun.
        self._frame_started = trio.current_time() if self._buffer else None
        return frame

    async def write_frame(self, data: bytes, *, timeout: float) -> None:
        payload = encode_varint(len(data)) + data
        step = self.write_chunk_bytes
        try:
            with trio.fail_after(timeout):
                for start in range(0, len(payload), step):
                    await self.stream.write(payload[start:start + step])
        except trio.TooSlowError:
            raise Timeout("writing a frame", timeout) from None
        except BaseLibp2pError as e:
            raise StreamClosed(_describe(e)) from None

    async def _fill(self, deadline: float, timeout: float) -> None:
        """Read more into the buffer by `deadline` (the reader's) and by the end of the frame's
        own time: Timeout or IncompleteFrame; a stream that ends: StreamClosed between frames,
        IncompleteFrame inside one."""
        stalled_at = (math.inf if self._frame_started is None
                      else self._frame_started + self.frame_timeout)
        with trio.move_on_at(min(deadline, stalled_at)):
            try:
                chunk = await self.stream.read(READ_SIZE)
            except BaseLibp2pError as e:
                raise self._ended(_describe(e)) from None
            if not chunk:  # some muxers signal end of stream with b"" rather than StreamEOF
                raise self._ended("the peer closed the stream")
            if not self._buffer:
                self._frame_started = trio.current_time()
            self._buffer += chunk
            return
        if trio.current_time() >= stalled_at:
            raise IncompleteFrame(f"nothing more came for {self.frame_timeout:g} s",
                                  len(self._buffer))
        raise Timeout("reading a frame", timeout)

    def _ended(self, reason: str) -> P2PError:
        if self._buffer:
            return IncompleteFrame(f"the stream ended inside it: {reason}", len(self._buffer))
        return StreamClosed(reason)


def _describe(error: BaseLibp2pError) -> str:
    if isinstance(error, StreamEOF):
        return "the peer closed the stream"
    if isinstance(error, StreamReset):
        return "the stream was reset"
    return str(error) or type(error).__name__
