"""HTTP/1.1 on trio with h11, and JSON-RPC 2.0 over it: the one request loop of every server a
node runs (`p2p.metrics_http`, the sequencer's API, the embedded L1 chain's JSON-RPC).

`HttpServer` answers each request with its `answer(request, body) -> (status, body, content
type)`, keeping connections alive between requests, within bounds, so that no client can hold a
node: a request's headers (`MAX_HEADER_BYTES`) and body (`max_body`, 413 past it), the connections
open at once (`max_connections`, 503 past it), and time: a request must arrive whole, and its
answer be taken, within `io_timeout` (an idle kept-alive connection is closed after it too).

`JsonRpcServer`: `POST /` takes one JSON-RPC request or a batch (at most `max_batch`), each bound
to its method's signature (-32602 when the params do not fit) and run under `method_timeout`;
`GET /health` answers the service's `health()` as JSON. Errors are JSON-RPC error objects: the
standard codes for malformed requests (-32700 parse error, -32600 invalid request, -32601 method
not found, -32602 invalid params, -32603 internal error); a method raises `RpcError` to answer
exactly the error object it carries (the sequencer's refusals, `sequencer.rpc`; an Ethereum
node's errors, `market_contracts.l1_server`).
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import h11
import structlog
import trio

from p2p.errors import ListenError

log = structlog.get_logger(__name__)

MAX_HEADER_BYTES = 8 * 1024
RECEIVE_BYTES = 64 * 1024
#: how long and how much a refused request's rest is read before its connection closes
LINGER_SECONDS = 2.0
LINGER_BYTES = 4 * 1024 * 1024

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
#: a method that took longer than `method_timeout`
TIMED_OUT = -32001

#: (status, body, content type)
Answer = tuple[int, bytes, str]
Method = Callable[..., Awaitable[Any]]


class _HttpRefusal(Exception):
    """Answer with this HTTP status and message, then close the connection."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class HttpServer:
    """`answer` on `host`:`port` (0 picks a free port), bounded as the module says.

    `refuse_by_length`: a request whose Content-Length is over `max_body` is refused before any
    of its body is read, the 413 naming its length (an API, whose bodies matter); else the body
    is read up to `max_body` first, the 413 saying only that it is over (a GET-only server, to
    which any body is junk). A taken address is a `ListenError`: "cannot `what` on HOST:PORT:
    the reason; is something else there? `remedy`"."""

    def __init__(self, answer: Callable[[h11.Request, bytes], Awaitable[Answer]], *,
                 host: str, port: int, max_body: int, max_connections: int, io_timeout: float,
                 refuse_by_length: bool = True, what: str = "listen",
                 remedy: str = "pick another --listen"):
        self.answer = answer
        self.host = host
        self.port = port
        self.max_body = max_body
        self.max_connections = max_connections
        self.io_timeout = io_timeout
        self.refuse_by_length = refuse_by_length
        self.what = what
        self.remedy = remedy
        self._open = 0
        #: (host, port) actually bound, once `open` (port 0 picks a free one)
        self.address: tuple[str, int] | None = None

    async def open(self) -> list[trio.SocketListener]:
        """Listen (`serve` then answers): in two steps, so that a taken port is an error of the
        caller's own task, raised before it reports itself started."""
        try:
            listeners = await trio.open_tcp_listeners(self.port, host=self.host)
        except OSError as error:
            raise ListenError(f"cannot {self.what} on {self.host}:{self.port}: {error.strerror}; "
                              f"is something else there? {self.remedy}") from None
        self.address = listeners[0].socket.getsockname()[:2]
        return listeners

    async def serve(self, listeners: list[trio.SocketListener]) -> None:
        """Answer on `listeners` until cancelled."""
        await trio.serve_listeners(self._connection, listeners)

    async def _connection(self, stream: trio.SocketStream) -> None:
        async with stream:
            conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEADER_BYTES)
            if self._open >= self.max_connections:
                await self._refuse_busy(conn, stream)
                return
            self._open += 1
            try:
                await self._serve(conn, stream)
            except (trio.BrokenResourceError, trio.ClosedResourceError, trio.TooSlowError):
                pass  # the client went away or was too slow: nothing to answer
            except Exception:  # one connection's bug must not stop the server
                log.exception("HTTP connection failed", address=self.address)
            finally:
                self._open -= 1

    async def _refuse_busy(self, conn: h11.Connection, stream: trio.SocketStream) -> None:
        """503 to a connection past the limit (h11 answers only once a request has come)."""
        try:
            with trio.fail_after(self.io_timeout):
                await _next_event(conn, stream)
        except (h11.RemoteProtocolError, trio.BrokenResourceError, trio.TooSlowError):
            return
        await self._try_send(conn, stream, 503, b"too many connections; retry later\n",
                             "text/plain")

    async def _serve(self, conn: h11.Connection, stream: trio.SocketStream) -> None:
        while True:
            try:
                with trio.fail_after(self.io_timeout):
                    request = await self._read_request(conn, stream)
            except _HttpRefusal as refusal:
                await self._try_send(conn, stream, refusal.status, f"{refusal}\n".encode(),
                                     "text/plain")
                await _linger(stream)
                return
            except h11.RemoteProtocolError as error:
                await self._try_send(conn, stream, error.error_status_hint,
                                     f"bad HTTP request: {error}\n".encode(), "text/plain")
                return
            if request is None:
                return
            status, reply, content_type = await self.answer(*request)
            with trio.fail_after(self.io_timeout):
                await _send(conn, stream, status, reply, content_type)
            if conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                return
            conn.start_next_cycle()

    async def _read_request(self, conn: h11.Connection,
                            stream: trio.SocketStream) -> tuple[h11.Request, bytes] | None:
        """The next request and its body; None when the client closed."""
        head = await _next_event(conn, stream)
        if isinstance(head, h11.ConnectionClosed):
            return None
        length = dict(head.headers).get(b"content-length")
        if self.refuse_by_length and length is not None and int(length) > self.max_body:
            raise _HttpRefusal(413, f"request body of {int(length)} bytes; at most {self.max_body}")
        body = bytearray()
        while True:
            event = await _next_event(conn, stream)
            if isinstance(event, h11.EndOfMessage):
                return head, bytes(body)
            if isinstance(event, h11.ConnectionClosed):
                return None
            body += event.data
            if len(body) > self.max_body:
                raise _HttpRefusal(413, f"request body over {self.max_body} bytes")

    async def _try_send(self, conn: h11.Connection, stream: trio.SocketStream, status: int,
                        body: bytes, content_type: str) -> None:
        """An error response, if the connection is still in a state to take one."""
        if conn.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
            return
        try:
            with trio.fail_after(self.io_timeout):
                await _send(conn, stream, status, body, content_type)
        except (trio.BrokenResourceError, trio.ClosedResourceError, trio.TooSlowError):
            pass


async def _next_event(conn: h11.Connection, stream: trio.SocketStream) -> h11.Event:
    while True:
        event = conn.next_event()
        if event is not h11.NEED_DATA:
            return event
        conn.receive_data(await stream.receive_some(RECEIVE_BYTES))


async def _send(conn: h11.Connection, stream: trio.SocketStream, status: int, body: bytes,
                content_type: str) -> None:
    headers = [("content-type", content_type), ("content-length", str(len(body)))]
    if conn.their_state is not h11.DONE:  # the request was not read whole: close after
        headers.append(("connection", "close"))
    data = conn.send(h11.Response(status_code=status, headers=headers))
    data += conn.send(h11.Data(data=body)) + conn.send(h11.EndOfMessage())
    await stream.send_all(data)


async def _linger(stream: trio.SocketStream) -> None:
    """Read and discard what the client still sends, for a while, before closing: closing with
    unread data makes the kernel send a reset, which can destroy the answer in flight."""
    try:
        await stream.send_eof()
        with trio.move_on_after(LINGER_SECONDS):
            for _ in range(LINGER_BYTES // RECEIVE_BYTES):
                if not await stream.receive_some(RECEIVE_BYTES):
                    return
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass


# ---------------------------------------------------------------------- JSON-RPC


class RpcError(Exception):
    """A method's refusal that the client gets as exactly this JSON-RPC error object."""

    def __init__(self, code: int, message: str, data: Any = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data


class JsonRpcServer:
    """`methods` (name -> async function) as JSON-RPC 2.0 on `POST /`, and `health()` on
    `GET /health`. The defaults are the bounds of an API on loopback; a node's config sets its
    own. `name` is how an internal error names the service ("... failed inside the sequencer")."""

    def __init__(self, methods: Mapping[str, Method], health: Callable[[], Awaitable[Any]], *,
                 host: str = "127.0.0.1", port: int = 0, max_body: int = 64 * 1024,
                 max_batch: int = 100, max_connections: int = 256, io_timeout: float = 30.0,
                 method_timeout: float = 30.0, name: str = "the server",
                 remedy: str = "pick another --listen"):
        self.methods = dict(methods)
        self.health = health
        self.max_batch = max_batch
        self.method_timeout = method_timeout
        self.name = name
        self.http = HttpServer(self._answer, host=host, port=port, max_body=max_body,
                               max_connections=max_connections, io_timeout=io_timeout,
                               remedy=remedy)

    @property
    def address(self) -> tuple[str, int] | None:
        """(host, port) actually bound, once started (port 0 picks a free one)."""
        return self.http.address

    @property
    def max_body(self) -> int:
        return self.http.max_body

    async def run(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        """Serve until cancelled; `task_status.started(address)` once listening."""
        listeners = await self.http.open()
        host, port = self.address
        log.info("JSON-RPC listening", address=f"http://{host}:{port}")
        task_status.started(self.address)
        await self.http.serve(listeners)

    async def _answer(self, head: h11.Request, body: bytes) -> Answer:
        target = head.target.split(b"?")[0]
        if head.method == b"GET" and target == b"/health":
            return 200, _encode(await self.health()), "application/json"
        if target != b"/":
            return 404, b"not found: POST JSON-RPC to /, or GET /health\n", "text/plain"
        if head.method != b"POST":
            return 405, b"JSON-RPC takes POST\n", "text/plain"
        reply = await self.handle(body)
        return (200, reply, "application/json") if reply is not None else (204, b"", "text/plain")

    async def handle(self, body: bytes) -> bytes | None:
        """The reply to a request body; None when it held only notifications."""
        try:
            request = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            return _encode(_error(None, PARSE_ERROR, f"the body is not JSON: {exc}"))
        except RecursionError:
            # Arrays or objects nested past the interpreter's recursion limit (a few thousand
            # levels fit in `max_body`): no request is shaped so, and the parser cannot read it.
            return _encode(_error(None, PARSE_ERROR, "the body's JSON is nested too deeply"))
        if not isinstance(request, list):
            reply = await self._call(request)
            return None if reply is None else _encode(reply)
        if not request:
            return _encode(_error(None, INVALID_REQUEST, "an empty batch"))
        if len(request) > self.max_batch:
            return _encode(_error(None, INVALID_REQUEST,
                                  f"a batch of {len(request)} requests; at most {self.max_batch}"))
        replies = [reply for item in request if (reply := await self._call(item)) is not None]
        return _encode(replies) if replies else None

    async def _call(self, request: Any) -> dict | None:
        if not isinstance(request, dict):
            return _error(None, INVALID_REQUEST, "a request must be a JSON object")
        id_ = request.get("id")
        if not isinstance(id_, (str, int, type(None))) or isinstance(id_, bool):
            return _error(None, INVALID_REQUEST, "id must be a string, a number or null")
        method, params = request.get("method"), request.get("params", [])
        if request.get("jsonrpc") != "2.0" or not isinstance(method, str):
            return _error(id_, INVALID_REQUEST, 'a request needs "jsonrpc": "2.0" and a method')
        if not isinstance(params, (list, dict)):
            return _error(id_, INVALID_REQUEST, "params must be an array or an object")
        notification = "id" not in request
        handler = self.methods.get(method)
        if handler is None:
            reply = _error(id_, METHOD_NOT_FOUND, f"no method {method!r}; methods: "
                           f"{', '.join(sorted(self.methods))}")
            return None if notification else reply
        reply = await self._run(handler, method, id_, params)
        return None if notification else reply

    async def _run(self, handler: Method, method: str, id_: Any, params: list | dict) -> dict:
        try:
            bound = inspect.signature(handler).bind(
                *(params if isinstance(params, list) else ()),
                **(params if isinstance(params, dict) else {}))
        except TypeError as exc:
            return _error(id_, INVALID_PARAMS, f"{method}: {exc}")
        try:
            with trio.fail_after(self.method_timeout):
                result = await handler(*bound.args, **bound.kwargs)
        except RpcError as error:
            return _error(id_, error.code, error.message, error.data)
        except trio.TooSlowError:
            return _error(id_, TIMED_OUT, f"{method} did not finish within "
                                          f"{self.method_timeout:g} s; try again")
        except Exception:  # the client gets a bare internal error, the log the rest
            log.exception("JSON-RPC method failed", method=method)
            return _error(id_, INTERNAL_ERROR, f"{method} failed inside {self.name}; see its log")
        return {"jsonrpc": "2.0", "id": id_, "result": result}


def _error(id_: Any, code: int, message: str, data: Any = None) -> dict:
    error = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return {"jsonrpc": "2.0", "id": id_, "error": error}


def _encode(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()
