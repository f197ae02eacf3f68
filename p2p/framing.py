"""Length-prefixed frames over one libp2p stream.

A frame is an unsigned LEB128 varint (the length, shortest form, at most 10
bytes) followed by that many bytes, as libp2p's own protocols frame messages.
The reader checks the length against its limit before reading the body, so an
oversize frame costs the reader nothing; it reads a whole frame under one
deadline, so a peer that trickles bytes cannot hold a reader past it. The
writer splits each frame into writes of at most `P2PConfig.write_chunk_bytes`
(65,535 by default), the most one Noise transport message carries.

The defaults (`P2PConfig`): 1 MiB per session or artifact frame, 4 KiB per
gossip message, 30 s to read or write a frame.
"""

from __future__ import annotations

import trio
from libp2p.abc import INetStream
from libp2p.exceptions import BaseLibp2pError
from libp2p.network.stream.exceptions import StreamEOF, StreamReset

from p2p.errors import MalformedMessage, MessageTooLarge, StreamClosed, Timeout

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
    """Frames in and out of `stream`. Reads keep a buffer, so a read cut short by a
    timeout loses nothing and the next read continues where it stopped."""

    def __init__(self, stream: INetStream, *, write_chunk_bytes: int):
        self.stream = stream
        self.write_chunk_bytes = write_chunk_bytes
        self._buffer = bytearray()

    async def read_frame(self, *, limit: int, timeout: float) -> bytes:
        try:
            with trio.fail_after(timeout):
                while (header := parse_varint(self._buffer)) is None:
                    await self._fill()
                length, used = header
                if length > limit:
                    raise MessageTooLarge(length, limit)
                while len(self._buffer) < used + length:
                    await self._fill()
        except trio.TooSlowError:
            raise Timeout("reading a frame", timeout) from None
        frame = bytes(self._buffer[used:used + length])
        del self._buffer[:used + length]
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

    async def _fill(self) -> None:
        try:
            chunk = await self.stream.read(READ_SIZE)
        except BaseLibp2pError as e:
            raise StreamClosed(_describe(e)) from None
        if not chunk:  # some muxers signal end of stream with b"" rather than StreamEOF
            raise StreamClosed("the peer closed the stream")
        self._buffer += chunk


def _describe(error: BaseLibp2pError) -> str:
    if isinstance(error, StreamEOF):
        return "the peer closed the stream"
    if isinstance(error, StreamReset):
        return "the stream was reset"
    return str(error) or type(error).__name__
