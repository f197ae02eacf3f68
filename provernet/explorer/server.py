"""The explorer's HTTP server: one page (static files, a single-page app with hash routes), a
JSON API for every page, and Server-Sent Events that tell the page when L1 moved.

Starlette (ASGI) on Hypercorn's trio worker, so that the server is a trio service like every
other node: `Explorer.run` serves in the caller's nursery, reports its URL through
`task_status.started` once the first read of L1 is done, and follows L1 every `poll_interval`
seconds, reading in a worker thread so that no request waits on L1. Requests are answered from
the pages the last refresh built; a refresh that finds L1 unreachable keeps them and says so.
"""

from __future__ import annotations

import json
import logging
import time
from functools import partial
from pathlib import Path

import structlog
import trio
from eth_utils import is_address, to_checksum_address
from hypercorn.config import Config
from hypercorn.trio import serve
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from market_contracts.errors import RpcUnreachable
from provernet.explorer.data import ExplorerData

log = structlog.get_logger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
#: Loopback: the explorer shows only public data, but exposing a port is the operator's choice.
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
#: Seconds between reads of L1: about one L1 block on the devnet, so a page trails the chain by
#: about a second; a public endpoint's rate limits allow it (one eth_getLogs a refresh, plus a
#: call per roller an event named).
POLL_INTERVAL = 1.0
#: Seconds between keep-alive comments on an idle event stream, well inside the idle timeouts
#: of proxies and of the browser.
KEEPALIVE_S = 15.0
#: What `/api/events` tells a browser to wait before reconnecting, in milliseconds.
RECONNECT_MS = 2_000


class ExplorerError(Exception):
    """The explorer cannot start (its port is taken, its address cannot be bound)."""


class Explorer:
    """Serves the explorer over `data` on host:port (0: a free port)."""

    def __init__(self, data: ExplorerData, *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
                 poll_interval: float = POLL_INTERVAL):
        self.data = data
        self.host, self.port = host, port
        self.poll_interval = poll_interval
        #: every page's JSON as the last successful refresh built it; None before the first
        self.pages: dict | None = None
        #: what the event stream sends: the pages' version and L1's state
        self.status = {"version": 0, "l1": None, "reachable": None, "error": None,
                       "checked": None}
        self._changed = trio.Event()
        self.app = Starlette(routes=[
            Route("/", self._index),
            Route("/api/status", self._status),
            Route("/api/events", self._events),
            Route("/api/overview", partial(self._page, "overview")),
            Route("/api/blocks", partial(self._page, "blocks")),
            Route("/api/blocks/{number:int}", self._block),
            Route("/api/batches", partial(self._page, "batches")),
            Route("/api/rollers", partial(self._page, "rollers")),
            Route("/api/rollers/{address}", self._roller),
            Route("/api/slashes", partial(self._page, "slashes")),
            Mount("/static", StaticFiles(directory=STATIC), name="static"),
        ])

    async def run(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        config = Config()
        config.bind = [f"[{self.host}]:{self.port}" if ":" in self.host
                       else f"{self.host}:{self.port}"]
        config.accesslog = None
        # Through the standard library's logging: the devnet sends that to its log file.
        config.errorlog = logging.getLogger("hypercorn.error")
        async with trio.open_nursery() as nursery:
            try:
                binds = await nursery.start(partial(serve, self.app, config))
            except BaseExceptionGroup as group:
                refused, other = group.split(OSError)
                if refused is None or other is not None:
                    raise
                cause = _leaf(refused)
                raise ExplorerError(f"the explorer cannot listen on {config.bind[0]}: "
                                    f"{cause.strerror or cause}") from None
            await self._refresh()
            nursery.start_soon(self._follow)
            url = binds[0] + "/"
            log.info("explorer serving", url=url)
            task_status.started(url)

    async def _follow(self) -> None:
        while True:
            await trio.sleep(self.poll_interval)
            await self._refresh()

    async def _refresh(self) -> None:
        checked = time.time()
        try:
            pages, head = await trio.to_thread.run_sync(self.data.refresh)
        except RpcUnreachable as exc:
            if self.status["reachable"] is not False:
                log.warning("explorer: L1 unreachable", error=str(exc))
            self._publish(reachable=False, error=str(exc), checked=checked)
            return
        version = self.status["version"] + (pages != self.pages)
        self.pages = pages
        self._publish(version=version, l1=head.to_json(), reachable=True, error=None,
                      checked=checked)

    def _publish(self, **changes) -> None:
        self.status = self.status | changes
        changed, self._changed = self._changed, trio.Event()
        changed.set()

    # ------------------------------------------------------------------ endpoints

    async def _index(self, _request: Request) -> Response:
        return FileResponse(STATIC / "index.html")

    async def _status(self, _request: Request) -> Response:
        return JSONResponse(self.status)

    async def _events(self, _request: Request) -> Response:
        """The status now and after every refresh, as Server-Sent Events."""

        async def stream():
            yield f"retry: {RECONNECT_MS}\n\n"
            while True:
                changed = self._changed
                yield f"data: {json.dumps(self.status)}\n\n"
                with trio.move_on_after(KEEPALIVE_S) as waited:
                    await changed.wait()
                if waited.cancelled_caught:
                    yield ": keep-alive\n\n"

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store"})

    async def _page(self, name: str, _request: Request) -> Response:
        if self.pages is None:
            return _not_yet()
        return JSONResponse(self.pages[name])

    async def _block(self, request: Request) -> Response:
        if self.pages is None:
            return _not_yet()
        number = request.path_params["number"]
        detail = self.pages["block"].get(number)
        if detail is None:
            return JSONResponse({"error": f"L1 holds no committed block {number}"}, 404)
        return JSONResponse(detail)

    async def _roller(self, request: Request) -> Response:
        if self.pages is None:
            return _not_yet()
        address = request.path_params["address"]
        if not is_address(address):
            return JSONResponse({"error": f"{address!r} is not an address"}, 404)
        detail = self.pages["roller"].get(to_checksum_address(address))
        if detail is None:
            return JSONResponse({"error": f"{address} never registered as a roller"}, 404)
        return JSONResponse(detail)


def _not_yet() -> Response:
    return JSONResponse({"error": "L1 has not been read yet"}, 503)


def _leaf(group: BaseException) -> BaseException:
    while isinstance(group, BaseExceptionGroup):
        group = group.exceptions[0]
    return group
