"""Stream protocols: framed, schema-checked message exchanges with one peer.

`/provernet/session/1.0.0` carries a roller's session with a coordinator (hello,
challenge, auth, welcome or refused, then tasks, accept/decline, proofs and
receipts); `/provernet/artifacts/1.0.0` carries circuit artifacts by content
hash (artifacts.py). Both speak `MessageStream`: `send(msg)` and
`receive(*types)`. A frame that is oversize, malformed, incomplete (the stream
ended, or the peer stopped sending, inside it: `P2PConfig.frame_timeout`), of an
unknown type or version, out of schema, or of a type the caller did not expect raises its
specific error, costs the peer its penalty, and resets that stream alone: the
connection and the peer's other streams go on (unless the penalty bans it).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import structlog
import trio
from libp2p.abc import INetStream
from libp2p.custom_types import TProtocol
from libp2p.exceptions import BaseLibp2pError
from libp2p.peer.id import ID

from p2p import messages
from p2p.errors import P2PError, RemoteError, StreamClosed, Timeout, UnexpectedMessage
from p2p.framing import FramedStream
from p2p.host import Node

log = structlog.get_logger(__name__)

SESSION_PROTOCOL = TProtocol("/provernet/session/1.0.0")
ARTIFACTS_PROTOCOL = TProtocol("/provernet/artifacts/1.0.0")

M = TypeVar("M")


class MessageStream:
    """One stream with one peer, speaking framed messages."""

    def __init__(self, node: Node, stream: INetStream):
        self.node = node
        self.stream = stream
        self.peer_id: ID = stream.muxed_conn.peer_id
        self._frames = FramedStream(stream, write_chunk_bytes=node.config.write_chunk_bytes,
                                    frame_timeout=node.config.frame_timeout)
        self._reset = False

    async def send(self, msg: Any) -> None:
        self._check_open()
        await self._frames.write_frame(messages.encode(msg), timeout=self.node.config.write_timeout)

    async def receive(self, *expected: type[M], timeout: float | None = None) -> M:
        """The next message, which must be of one of the `expected` types.

        An `error` message from the peer raises RemoteError unless `Error` is expected.
        Waits at most `timeout` seconds (default `P2PConfig.read_timeout`); a Timeout
        leaves the stream usable.
        """
        self._check_open()
        timeout = self.node.config.read_timeout if timeout is None else timeout
        try:
            frame = await self._frames.read_frame(limit=self.node.config.max_frame_bytes, timeout=timeout)
            msg = messages.decode(frame, limit=self.node.config.max_frame_bytes)
            if isinstance(msg, messages.Error) and messages.Error not in expected:
                raise RemoteError(msg.code, msg.reason)
            if not isinstance(msg, expected):
                raise UnexpectedMessage(messages.type_name(msg), tuple(t.TYPE for t in expected))
        except (Timeout, StreamClosed, RemoteError):
            raise
        except P2PError as e:
            await self.fail(e)
            raise
        return msg

    async def fail(self, error: P2PError) -> None:
        """The peer broke the protocol with `error`: penalise it and reset this stream."""
        log.info("stream protocol error", peer=str(self.peer_id), protocol=self.stream.get_protocol(),
                 error=str(error))
        self.node.penalise(self.peer_id, error)
        await self.reset()

    async def reset(self) -> None:
        self._reset = True
        # Cleanup must finish even when cancelled, and must not hang on a stalled connection.
        with trio.CancelScope(shield=True), trio.move_on_after(self.node.config.write_timeout):
            try:
                await self.stream.reset()
            except BaseLibp2pError:
                pass

    async def close(self) -> None:
        """Half-close: we send nothing more; the peer's pending messages can still be read."""
        if self._reset:
            return
        with trio.CancelScope(shield=True), trio.move_on_after(self.node.config.write_timeout):
            try:
                await self.stream.close()
            except BaseLibp2pError:
                pass

    def _check_open(self) -> None:
        if self._reset:
            raise StreamClosed("the stream was reset")


@asynccontextmanager
async def open_stream(node: Node, peer_id: ID, protocol: TProtocol = SESSION_PROTOCOL) -> AsyncIterator[MessageStream]:
    """A MessageStream to a connected (or dialable, known) peer; closed on exit."""
    node.check_not_banned(peer_id)
    try:
        with trio.fail_after(node.config.open_stream_timeout):
            stream = await node.host.new_stream(peer_id, [protocol])
    except trio.TooSlowError:
        raise Timeout(f"opening {protocol} to {peer_id}", node.config.open_stream_timeout) from None
    except BaseLibp2pError as e:
        raise StreamClosed(f"cannot open {protocol} to {peer_id}: {e}") from None
    ms = MessageStream(node, stream)
    try:
        yield ms
    finally:
        await ms.close()


Handler = Callable[[MessageStream], Awaitable[None]]


def serve(node: Node, protocol: TProtocol, handler: Handler) -> None:
    """Run `handler` for every stream a peer opens on `protocol`.

    Streams from banned peers are reset unread. An error escaping the handler is
    logged and resets that stream only; the stream is closed when the handler returns.
    """

    async def on_stream(stream: INetStream) -> None:
        peer = stream.muxed_conn.peer_id
        ms = MessageStream(node, stream)
        if node.is_banned(peer):
            log.info("refused stream from banned peer", peer=str(peer), protocol=protocol)
            await ms.reset()
            return
        try:
            await handler(ms)
        except P2PError as e:
            log.info("stream ended", peer=str(peer), protocol=protocol, error=str(e))
            await ms.reset()
        except Exception:
            # A bug in a handler must not reach libp2p, where it would end the whole
            # connection: it ends this stream, loudly.
            log.exception("stream handler failed", peer=str(peer), protocol=protocol)
            await ms.reset()
        else:
            await ms.close()

    node.host.set_stream_handler(protocol, on_stream)
