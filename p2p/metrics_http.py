"""A node's HTTP endpoint for Prometheus and for its health: one server for every node.

The sequencer, the coordinator and the roller each keep their metrics in a registry of their own
(not prometheus_client's global one, so that several nodes in one process, as in the devnet and
the tests, keep separate counts) and say what "healthy" means for them; `MetricsServer` serves
both, on `p2p.http_server` (trio, h11, its bounds):

- `GET /metrics`: the registry in Prometheus's text format;
- `GET /health`: the node's `health()` as JSON, a dict with at least `"ok"` (a bool) and
  `"problems"` (a list of sentences, empty when ok); status 200 when ok, else 503, so a
  supervisor's probe needs no JSON parsing.

Its bounds: a request's body (`MAX_BODY_BYTES`, 413 past it; a GET has none), the connections
open at once (`MAX_CONNECTIONS`), and time: a request must arrive whole, and its answer be
taken, within `io_timeout`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import h11
import structlog
import trio
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from p2p.http_server import Answer, HttpServer

log = structlog.get_logger(__name__)

#: a GET has no body; a client sending one may send this much before it is cut off
MAX_BODY_BYTES = 64 * 1024
#: scrapers and probes open one connection each; more at once is a misbehaving client
MAX_CONNECTIONS = 64

Health = Callable[[], dict[str, Any]]


def listen_address(text: str) -> tuple[str, int]:
    """`host:port` (`[::1]:9464` for IPv6; port 0 picks a free one) as (host, port); ValueError
    with the reason if it is not one."""
    host, colon, port = text.rpartition(":")
    if not colon or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"{text!r} is not host:port, e.g. 127.0.0.1:9464 ([::1]:9464 for IPv6)")
    return host.strip("[]"), int(port)


class MetricsServer:
    """GET /metrics (`registry`) and GET /health (`health()`) on `host`:`port` (0 picks a free
    port). `remedy` ends the error of a taken address: what the operator changes to move it."""

    def __init__(self, registry: CollectorRegistry, health: Health, host: str = "127.0.0.1",
                 port: int = 9464, *, io_timeout: float = 10.0,
                 remedy: str = "pick another --metrics-listen"):
        self.registry = registry
        self.health = health
        #: a request must arrive whole, and its answer be taken, within `io_timeout` seconds;
        #: an idle kept-alive connection is closed after it too
        self.http = HttpServer(self._answer, host=host, port=port, max_body=MAX_BODY_BYTES,
                               max_connections=MAX_CONNECTIONS, io_timeout=io_timeout,
                               refuse_by_length=False, what="serve metrics", remedy=remedy)

    async def run(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        """Serve until cancelled; `task_status.started(port)` once listening."""
        listeners = await self.http.open()
        host, port = self.http.address
        log.info("metrics and health listening", address=f"http://{host}:{port}")
        task_status.started(port)
        await self.http.serve(listeners)

    async def _answer(self, request: h11.Request, body: bytes) -> Answer:
        target = request.target.split(b"?")[0]
        if target not in (b"/metrics", b"/health"):
            return 404, b"not found: GET /metrics or /health\n", "text/plain"
        if request.method != b"GET":
            return 405, b"only GET\n", "text/plain"
        if target == b"/metrics":
            return 200, generate_latest(self.registry), CONTENT_TYPE_LATEST
        health = self.health()
        return 200 if health["ok"] else 503, json.dumps(health).encode(), "application/json"
