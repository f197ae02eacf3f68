"""A node's HTTP endpoint for Prometheus and for its health: one server for every node.

The sequencer, the coordinator and the roller each keep their metrics in a registry of their own
(not prometheus_client's global one, so that several nodes in one process, as in the devnet and
the tests, keep separate counts) and say what "healthy" means for them; `MetricsServer` serves
both, on trio with h11 as the HTTP state machine:

- `GET /metrics`: the registry in Prometheus's text format;
- `GET /health`: the node's `health()` as JSON, a dict with at least `"ok"` (a bool) and
  `"problems"` (a list of sentences, empty when ok); status 200 when ok, else 503, so a
  supervisor's probe needs no JSON parsing.

Bounds, so that no client can hold a node: a request's headers (`MAX_HEADER_BYTES`) and body
(`MAX_BODY_BYTES`, 413 past it; a GET has none), and time: a request must arrive whole, and its
answer be taken, within `io_timeout` (an idle kept-alive connection is closed after it too).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import h11
import structlog
import trio
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from p2p.errors import MetricsListenError

log = structlog.get_logger(__name__)

MAX_HEADER_BYTES = 8 * 1024
#: a GET has no body; a client sending one may send this much before it is cut off
MAX_BODY_BYTES = 64 * 1024
RECEIVE_BYTES = 16 * 1024

Health = Callable[[], dict[str, Any]]


def listen_address(text: str) -> tuple[str, int]:
    """`host:port` (`[::1]:9464` for IPv6; port 0 picks a free one) as (host, port); ValueError
    with the reason if it is not one."""
    host, colon, port = text.rpartition(":")
    if not colon or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"{text!r} is not host:port, e.g. 127.0.0.1:9464 ([::1]:9464 for IPv6)")
    return host.strip("[]"), int(port)


class _Refusal(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class MetricsServer:
    """GET /metrics (`registry`) and GET /health (`health()`) on `host`:`port` (0 picks a free
    port). `remedy` ends the error of a taken address: what the operator changes to move it."""

    def __init__(self, registry: CollectorRegistry, health: Health, host: str = "127.0.0.1",
                 port: int = 9464, *, io_timeout: float = 10.0,
                 remedy: str = "pick another --metrics-listen"):
        self.registry = registry
        self.health = health
        self.host = host
        self.port = port
        #: a request must arrive whole, and its answer be taken, within this; an idle kept-alive
        #: connection is closed after it too
        self.io_timeout = io_timeout
        self.remedy = remedy

    async def run(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        """Serve until cancelled; `task_status.started(port)` once listening."""
        try:
            listeners = await trio.open_tcp_listeners(self.port, host=self.host)
        except OSError as error:
            raise MetricsListenError(
                f"cannot serve metrics on {self.host}:{self.port}: {error.strerror}; is something "
                f"else there? {self.remedy}") from None
        port = listeners[0].socket.getsockname()[1]
        log.info("metrics and health listening", address=f"http://{self.host}:{port}")
        task_status.started(port)
        await trio.serve_listeners(self._connection, listeners)

    async def _connection(self, stream: trio.SocketStream) -> None:
        async with stream:
            conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEADER_BYTES)
            try:
                await self._serve(conn, stream)
            except (trio.BrokenResourceError, trio.ClosedResourceError, trio.TooSlowError):
                pass  # the client went away or was too slow: nothing to answer
            except Exception:  # one connection's bug must not stop the server
                log.exception("metrics connection failed")

    async def _serve(self, conn: h11.Connection, stream: trio.SocketStream) -> None:
        while True:
            try:
                with trio.fail_after(self.io_timeout):
                    request = await _read_request(conn, stream)
            except h11.RemoteProtocolError as error:
                await self._send(conn, stream, error.error_status_hint,
                                 f"bad HTTP request: {error}\n".encode(), "text/plain")
                return
            except _Refusal as refusal:
                await self._send(conn, stream, refusal.status, f"{refusal}\n".encode(),
                                 "text/plain")
                return
            if request is None:
                return
            await self._send(conn, stream, *self._answer(request))
            if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                return
            conn.start_next_cycle()

    def _answer(self, request: h11.Request) -> tuple[int, bytes, str]:
        target = request.target.split(b"?")[0]
        if target not in (b"/metrics", b"/health"):
            return 404, b"not found: GET /metrics or /health\n", "text/plain"
        if request.method != b"GET":
            return 405, b"only GET\n", "text/plain"
        if target == b"/metrics":
            return 200, generate_latest(self.registry), CONTENT_TYPE_LATEST
        health = self.health()
        return 200 if health["ok"] else 503, json.dumps(health).encode(), "application/json"

    async def _send(self, conn: h11.Connection, stream: trio.SocketStream, status: int,
                    body: bytes, content_type: str) -> None:
        if conn.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
            return
        headers = [("content-type", content_type), ("content-length", str(len(body)))]
        if conn.their_state is not h11.DONE:  # the request was not read whole: close after
            headers.append(("connection", "close"))
        data = conn.send(h11.Response(status_code=status, headers=headers))
        data += conn.send(h11.Data(data=body)) + conn.send(h11.EndOfMessage())
        with trio.fail_after(self.io_timeout):
            await stream.send_all(data)


async def _read_request(conn: h11.Connection, stream: trio.SocketStream) -> h11.Request | None:
    """The next request, its body read and dropped; None when the client closed."""
    request = None
    body = 0
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            conn.receive_data(await stream.receive_some(RECEIVE_BYTES))
        elif isinstance(event, h11.ConnectionClosed):
            return None
        elif isinstance(event, h11.Request):
            request = event
        elif isinstance(event, h11.Data):
            body += len(event.data)
            if body > MAX_BODY_BYTES:
                raise _Refusal(413, f"request body over {MAX_BODY_BYTES} bytes")
        elif isinstance(event, h11.EndOfMessage):
            return request
