"""An HTTP relay between the nodes and the L1 JSON-RPC endpoint that can fail on command.

The chaos harness points every node's `--rpc-url` at it, so that an L1 outage can be made of the
ways a real endpoint fails (a hosted RPC provider, a load balancer in front of a node):

- `refuse`: connections are closed as soon as they open, and kept-alive ones at their next
  request (the endpoint is down);
- `error`: every request is answered `502 Bad Gateway` (the balancer is up, the node is not);
- `blackhole`: requests are read and never answered until the fault ends, then the connection is
  closed (a hung node: the client's read timeout is what notices);
- `lose_reply`: the request is forwarded and done by the node, but its answer is thrown away and
  the connection closed (the cruellest: a transaction was sent, the client cannot know it).

A freeze of the node itself (SIGSTOP on anvil) needs no relay; the harness does that directly.

One upstream connection per client connection, requests relayed one at a time in order, so
kept-alive connections behave as they do without the relay. h11 is the HTTP state machine on
both sides, as in the nodes' own servers and clients.
"""

from __future__ import annotations

import enum

import h11
import structlog
import trio

log = structlog.get_logger(__name__)

#: a JSON-RPC request or answer larger than this is not one the nodes send or get
MAX_MESSAGE_BYTES = 32 * 1024 * 1024
RECEIVE_BYTES = 64 * 1024
#: the relay's own limit on a request to arrive or an answer to come back: longer than any
#: node's request timeout, so that a slow node is the client's to give up on, not ours
IO_TIMEOUT_S = 120.0


class Fault(enum.Enum):
    NONE = "none"
    REFUSE = "refuse"
    ERROR = "error"
    BLACKHOLE = "blackhole"
    LOSE_REPLY = "lose_reply"


#: the faults `L1Proxy` makes (the harness adds `freeze`, SIGSTOP on the node)
PROXY_FAULTS = tuple(f.value for f in Fault if f is not Fault.NONE)


class _Closed(Exception):
    """The other side closed the connection before a whole message."""


class L1Proxy:
    """Relay HTTP on 127.0.0.1:`port` (0: a free one) to `upstream_port`; `fault` says how to
    fail, and may be changed at any time."""

    def __init__(self, upstream_port: int, *, port: int = 0, host: str = "127.0.0.1"):
        self.upstream_port = upstream_port
        self.host = host
        self.port = port
        self.fault = Fault.NONE
        #: set whenever `fault` goes back to NONE, so that held requests are let go
        self._healed = trio.Event()
        #: requests the relay failed on purpose, by fault
        self.failed: dict[str, int] = {f.value: 0 for f in Fault if f is not Fault.NONE}
        self.relayed = 0

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def set_fault(self, fault: Fault) -> None:
        self.fault = fault
        if fault is Fault.NONE:
            self._healed.set()
        elif self._healed.is_set():
            self._healed = trio.Event()

    async def run(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        listeners = await trio.open_tcp_listeners(self.port, host=self.host)
        self.port = listeners[0].socket.getsockname()[1]
        task_status.started(self.url)
        await trio.serve_listeners(self._connection, listeners)

    async def _connection(self, client: trio.SocketStream) -> None:
        upstream: trio.SocketStream | None = None
        try:
            async with client:
                inbound = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_MESSAGE_BYTES)
                outbound = None
                while True:
                    if self.fault is Fault.REFUSE:
                        self.failed[Fault.REFUSE.value] += 1
                        return
                    request, body = await _read_message(inbound, client, h11.Request)
                    if request is None:
                        return
                    fault = self.fault
                    if fault is Fault.REFUSE:
                        self.failed[fault.value] += 1
                        return
                    if fault is Fault.ERROR:
                        self.failed[fault.value] += 1
                        await _answer(inbound, client, 502, [("content-type", "text/plain")],
                                      b"bad gateway: the L1 node is unavailable (chaos fault)\n")
                        return
                    if fault is Fault.BLACKHOLE:
                        self.failed[fault.value] += 1
                        await self._healed.wait()
                        return
                    if upstream is None:
                        upstream = await trio.open_tcp_stream(self.host, self.upstream_port)
                        outbound = h11.Connection(h11.CLIENT)
                    headers = [(k, v) for k, v in request.headers if k.lower() != b"connection"]
                    await upstream.send_all(
                        outbound.send(h11.Request(method=request.method, target=request.target,
                                                  headers=headers))
                        + outbound.send(h11.Data(data=body)) + outbound.send(h11.EndOfMessage()))
                    response, reply = await _read_message(outbound, upstream, h11.Response)
                    if response is None:
                        return
                    if self.fault is Fault.LOSE_REPLY:
                        self.failed[Fault.LOSE_REPLY.value] += 1
                        return
                    self.relayed += 1
                    headers = [(k, v) for k, v in response.headers
                               if k.lower() not in (b"connection", b"transfer-encoding",
                                                    b"content-length")]
                    await _answer(inbound, client, response.status_code, headers, reply)
                    if outbound.our_state is h11.DONE and outbound.their_state is h11.DONE:
                        outbound.start_next_cycle()
                    else:
                        await upstream.aclose()
                        upstream = None
                    if inbound.our_state is not h11.DONE or inbound.their_state is not h11.DONE:
                        return
                    inbound.start_next_cycle()
        except (OSError, trio.BrokenResourceError, trio.ClosedResourceError, trio.TooSlowError,
                h11.ProtocolError, _Closed):
            pass  # either side went away, or the node is frozen: the client sees a dropped call
        finally:
            if upstream is not None:
                await upstream.aclose()


async def _read_message(conn: h11.Connection, stream: trio.SocketStream, kind: type):
    """The next request or response and its whole body; (None, b"") when the peer closed."""
    head, body = None, bytearray()
    with trio.fail_after(IO_TIMEOUT_S):
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                data = await stream.receive_some(RECEIVE_BYTES)
                conn.receive_data(data)
                if not data and head is None:
                    return None, b""
            elif isinstance(event, kind):
                head = event
            elif isinstance(event, h11.Data):
                body += event.data
                if len(body) > MAX_MESSAGE_BYTES:
                    raise _Closed(f"a message over {MAX_MESSAGE_BYTES} bytes")
            elif isinstance(event, h11.EndOfMessage):
                return head, bytes(body)
            elif isinstance(event, h11.ConnectionClosed):
                if head is None:
                    return None, b""
                raise _Closed("closed in the middle of a message")


async def _answer(conn: h11.Connection, stream: trio.SocketStream, status: int,
                  headers: list, body: bytes) -> None:
    data = conn.send(h11.Response(status_code=status,
                                  headers=[*headers, ("content-length", str(len(body)))]))
    data += conn.send(h11.Data(data=body)) + conn.send(h11.EndOfMessage())
    with trio.fail_after(IO_TIMEOUT_S):
        await stream.send_all(data)
