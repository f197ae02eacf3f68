"""The roller's Prometheus metrics, and the HTTP server for them and for its health.

`RollerMetrics` holds the counters, histograms and gauges in a registry of its own (not
prometheus_client's global one, so that two rollers in one process, as in the devnet and the
tests, do not share counts) and the few facts `/health` reports. `MetricsServer` serves, on
trio with h11 as the HTTP state machine:

- `GET /metrics`: the registry in Prometheus's text format;
- `GET /health`: JSON `{"ok", "backend", "coordinators", "tasks_in_flight", "last_proof_at",
  "problems"}`, status 200 when ok (a proving backend is ready and a coordinator is connected),
  else 503, so a supervisor's probe needs no JSON parsing.

Labels are bounded sets (task kinds, decline codes, receipt statuses, outcomes, circuits served),
never task ids or reasons' text: each label value is a time series kept for the process's life.
docs/roller.md lists the metrics.
"""

from __future__ import annotations

import json
import time

import h11
import structlog
import trio
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    generate_latest,
)

from roller.errors import MetricsListenError

log = structlog.get_logger(__name__)

PREFIX = "provernet_roller"
#: a block proof takes about a second on a GPU and a few on a CPU (small profile) up to minutes
#: (large profile on a CPU); the last buckets show tasks that cannot meet a 30 s deadline
PROVING_BUCKETS = (0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120, 300)
WITNESS_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
MAX_HEADER_BYTES = 8 * 1024
#: a GET has no body; a client sending one may send this much before it is cut off
MAX_BODY_BYTES = 64 * 1024
RECEIVE_BYTES = 16 * 1024


class RollerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.offered = Counter(f"{PREFIX}_tasks_offered", "Tasks offered by coordinators",
                               ["kind"], registry=r)
        self.accepted = Counter(f"{PREFIX}_tasks_accepted", "Tasks accepted", ["kind"],
                                registry=r)
        self.declined = Counter(f"{PREFIX}_tasks_declined",
                                "Tasks declined, by reason (capacity.Decline.code)",
                                ["kind", "reason"], registry=r)
        self.proven = Counter(f"{PREFIX}_tasks_proven", "Tasks proven and self-verified",
                              ["kind"], registry=r)
        self.submitted = Counter(f"{PREFIX}_tasks_submitted", "Proofs submitted", ["kind"],
                                 registry=r)
        self.failed = Counter(f"{PREFIX}_tasks_failed", "Accepted tasks that failed", ["kind"],
                              registry=r)
        self.receipts = Counter(f"{PREFIX}_receipts", "Coordinators' receipts, by status",
                                ["status"], registry=r)
        self.outcomes = Counter(f"{PREFIX}_outcomes", "Settled outcomes (on_time, late, missed, "
                                "invalid)", ["outcome"], registry=r)
        self.proving_seconds = Histogram(
            f"{PREFIX}_proving_seconds", "Seconds proving (or aggregating) and self-verifying a "
            "task, the witness excluded", ["kind"], buckets=PROVING_BUCKETS, registry=r)
        self.witness_seconds = Histogram(
            f"{PREFIX}_witness_seconds", "Seconds computing a block's witness",
            buckets=WITNESS_BUCKETS, registry=r)
        self.in_flight = Gauge(f"{PREFIX}_tasks_in_flight",
                               "Accepted tasks not yet answered by a receipt", registry=r)
        self.speed = Gauge(f"{PREFIX}_proving_speed_seconds",
                           "Modelled seconds per unit (a block proof, or a proof aggregated)",
                           ["circuit", "kind"], registry=r)
        self.coordinators = Gauge(f"{PREFIX}_coordinators_connected",
                                  "Coordinators with an open session", registry=r)
        self.last_proof = Gauge(f"{PREFIX}_last_proof_timestamp_seconds",
                                "Unix time of the last proof made", registry=r)
        self.backend = Info(f"{PREFIX}_backend", "The proving backend, its hardware, and why "
                            "it was chosen", registry=r)
        self._backend_name: str | None = None
        self._coordinators = 0
        self._in_flight = 0
        self._last_proof_at: float | None = None

    # ------------------------------------------------------------------ events

    def task_offered(self, kind: str) -> None:
        self.offered.labels(kind).inc()

    def task_accepted(self, kind: str) -> None:
        self.accepted.labels(kind).inc()

    def task_declined(self, kind: str, code: str) -> None:
        self.declined.labels(kind, code).inc()

    def task_proven(self, kind: str, seconds: float, witness_seconds: float | None = None, *,
                    now: float | None = None) -> None:
        """`seconds` is the whole task; for a block, `witness_seconds` is the witness's share."""
        self.proven.labels(kind).inc()
        self.proving_seconds.labels(kind).observe(seconds - (witness_seconds or 0.0))
        if witness_seconds is not None:
            self.witness_seconds.observe(witness_seconds)
        self._last_proof_at = time.time() if now is None else now
        self.last_proof.set(self._last_proof_at)

    def task_submitted(self, kind: str) -> None:
        self.submitted.labels(kind).inc()

    def task_failed(self, kind: str) -> None:
        self.failed.labels(kind).inc()

    def receipt(self, status: str) -> None:
        self.receipts.labels(status).inc()

    def outcome(self, outcome: str) -> None:
        self.outcomes.labels(outcome).inc()

    # ------------------------------------------------------------------ state

    def set_backend(self, name: str, description: str, reason: str) -> None:
        self._backend_name = name
        self.backend.info({"backend": name, "description": description, "reason": reason})

    def set_speed(self, circuit: bytes, kind: str, seconds: float) -> None:
        self.speed.labels(circuit.hex()[:16], kind).set(seconds)

    def set_in_flight(self, count: int) -> None:
        self._in_flight = count
        self.in_flight.set(count)

    def set_coordinators(self, count: int) -> None:
        self._coordinators = count
        self.coordinators.set(count)

    def health(self) -> dict:
        problems = []
        if self._backend_name is None:
            problems.append("no proving backend ready yet (loading or measuring)")
        if self._coordinators == 0:
            problems.append("no coordinator connected")
        return {"ok": not problems, "backend": self._backend_name,
                "coordinators": self._coordinators, "tasks_in_flight": self._in_flight,
                "last_proof_at": self._last_proof_at, "problems": problems}

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class _Refusal(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class MetricsServer:
    """GET /metrics and GET /health on `host`:`port` (0 picks a free port)."""

    def __init__(self, metrics: RollerMetrics, host: str = "127.0.0.1", port: int = 9464, *,
                 io_timeout: float = 10.0):
        self.metrics = metrics
        self.host = host
        self.port = port
        #: a request must arrive whole, and its answer be taken, within this; an idle kept-alive
        #: connection is closed after it too
        self.io_timeout = io_timeout

    async def run(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        """Serve until cancelled; `task_status.started(port)` once listening."""
        try:
            listeners = await trio.open_tcp_listeners(self.port, host=self.host)
        except OSError as error:
            raise MetricsListenError(
                f"cannot serve metrics on {self.host}:{self.port}: {error.strerror}; is something "
                "else there? set metrics_listen in roller.toml") from None
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
            return 200, self.metrics.exposition(), CONTENT_TYPE_LATEST
        health = self.metrics.health()
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
