"""A client of the sequencer's JSON-RPC API (h11 over one kept-alive trio connection).

The wallet commands, the tests and the throughput benchmark use it. Every call is
under a timeout; a kept-alive connection the server closed meanwhile is
reopened once, which is safe because every method is idempotent (resending a
transfer returns its hash again).
"""

from __future__ import annotations

import itertools
import json
from typing import Any
from urllib.parse import urlsplit

import h11
import trio

from sequencer.errors import RequestRefused, SequencerUnreachable
from sequencer.transactions import Transfer
from sequencer.wire import hex32, transfer_to_json

DEFAULT_URL = "http://127.0.0.1:8600"
MAX_REPLY_BYTES = 16 * 1024 * 1024


class SequencerClient:
    """Use as `async with SequencerClient(url) as client:`."""

    def __init__(self, url: str = DEFAULT_URL, *, timeout: float = 30.0):
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise SequencerUnreachable(
                f"{url!r} is not an http:// URL of a sequencer (e.g. {DEFAULT_URL})")
        self.url = url
        self.host = parts.hostname
        self.port = parts.port or 80
        self.path = parts.path or "/"
        self.timeout = timeout
        self._ids = itertools.count(1)
        self._stream: trio.SocketStream | None = None
        self._conn: h11.Connection | None = None

    async def __aenter__(self) -> SequencerClient:
        return self

    async def __aexit__(self, *_exc) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._stream is not None:
            await self._stream.aclose()
            self._stream = self._conn = None

    # ------------------------------------------------------------------ the API

    async def send_transfer(self, transfer: Transfer) -> str:
        """Send a signed transaction, a transfer or a withdrawal; its hash."""
        return await self.call("l2_sendTransfer", transfer_to_json(transfer))

    async def account(self, index: int) -> dict | None:
        return await self.call("l2_getAccount", index)

    async def account_index(self, address: int) -> int | None:
        return await self.call("l2_getAccountIndex", hex32(address))

    async def free_index(self) -> int | None:
        return await self.call("l2_getFreeIndex")

    async def transfer(self, hash_: str) -> dict | None:
        return await self.call("l2_getTransfer", hash_)

    async def l1_message(self, position: int) -> dict | None:
        return await self.call("l2_getL1Message", position)

    async def block(self, number: int) -> dict | None:
        return await self.call("l2_getBlock", number)

    async def block_inputs(self, number: int, prover: str | None = None) -> dict | None:
        return await self.call("l2_getBlockInputs", number, prover)

    async def status(self) -> dict:
        return await self.call("l2_status")

    async def call(self, method: str, *params: Any) -> Any:
        """One JSON-RPC call; a JSON-RPC error raises `RequestRefused`."""
        id_ = next(self._ids)
        body = json.dumps({"jsonrpc": "2.0", "id": id_, "method": method,
                           "params": list(params)}).encode()
        reply = await self.post(body)
        if not isinstance(reply, dict) or reply.get("id") != id_:
            raise SequencerUnreachable(f"{self.url} answered {method} with something other than "
                                       "its JSON-RPC reply")
        if "error" in reply:
            error = reply["error"]
            data = error.get("data")
            name = data.get("error") if isinstance(data, dict) else None
            raise RequestRefused(str(error.get("message")), int(error.get("code", 0)), name)
        return reply.get("result")

    async def post(self, body: bytes) -> Any:
        """POST a JSON-RPC body (a request or a batch); the decoded JSON reply."""
        try:
            with trio.fail_after(self.timeout):
                try:
                    status, reply = await self._exchange(body)
                except (trio.BrokenResourceError, trio.ClosedResourceError, _ClosedEarly):
                    await self.aclose()  # a kept-alive connection the server has since closed
                    status, reply = await self._exchange(body)
        except trio.TooSlowError:
            await self.aclose()
            raise SequencerUnreachable(
                f"{self.url} did not answer within {self.timeout:g} s") from None
        except (OSError, trio.BrokenResourceError, _ClosedEarly, h11.ProtocolError) as exc:
            await self.aclose()
            cause = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise SequencerUnreachable(f"cannot talk to the sequencer at {self.url}: {cause}; "
                                       "is it running?") from None
        if status == 204:  # only notifications were sent: nothing to answer
            return None
        if status != 200:
            raise SequencerUnreachable(f"{self.url} answered HTTP {status}: "
                                       f"{reply.decode(errors='replace').strip()[:200]}")
        try:
            return json.loads(reply)
        except ValueError:
            raise SequencerUnreachable(f"{self.url} answered something that is not JSON") from None

    async def _exchange(self, body: bytes) -> tuple[int, bytes]:
        if self._stream is None:
            self._stream = await trio.open_tcp_stream(self.host, self.port)
            self._conn = h11.Connection(h11.CLIENT)
        conn = self._conn
        request = h11.Request(method="POST", target=self.path, headers=[
            ("host", f"{self.host}:{self.port}"), ("content-type", "application/json"),
            ("content-length", str(len(body)))])
        await self._stream.send_all(conn.send(request) + conn.send(h11.Data(data=body))
                                    + conn.send(h11.EndOfMessage()))
        status, reply = None, bytearray()
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                data = await self._stream.receive_some(64 * 1024)
                if not data:
                    raise _ClosedEarly("the connection closed before a whole answer")
                conn.receive_data(data)
            elif isinstance(event, h11.Response):
                status = event.status_code
            elif isinstance(event, h11.Data):
                reply += event.data
                if len(reply) > MAX_REPLY_BYTES:
                    raise _ClosedEarly(f"an answer over {MAX_REPLY_BYTES} bytes")
            elif isinstance(event, h11.EndOfMessage):
                break
            elif isinstance(event, h11.ConnectionClosed):
                raise _ClosedEarly("the connection closed before a whole answer")
        if conn.our_state is h11.DONE and conn.their_state is h11.DONE:
            conn.start_next_cycle()
        else:
            await self.aclose()
        return status, bytes(reply)


class SequencerClientPool(SequencerClient):
    """`size` kept-alive connections for a caller with many calls under way at once (the
    coordinator fetches the circuit inputs of every commit): each call takes an idle one. One
    connection made them wait for each other's round trips. Use as `async with`."""

    def __init__(self, url: str = DEFAULT_URL, *, size: int, timeout: float = 30.0):
        super().__init__(url, timeout=timeout)
        self._idle = [SequencerClient(url, timeout=timeout) for _ in range(size)]
        self._slots = trio.Semaphore(size)

    async def aclose(self) -> None:
        for client in self._idle:
            await client.aclose()

    async def post(self, body: bytes) -> Any:
        async with self._slots:
            client = self._idle.pop()
            try:
                return await client.post(body)
            finally:
                self._idle.append(client)


class _ClosedEarly(Exception):
    pass
