"""Reading a node's `/metrics` and `/health` as Prometheus and a probe do: HTTP/1.1 over a real
loopback connection (h11 as the client's state machine), and the exposition read back with
prometheus_client's own parser. Shared by the tests of every node (tests/ is on sys.path: its
conftest.py is there)."""

from __future__ import annotations

import h11
import trio
from prometheus_client.parser import text_string_to_metric_families


class Client:
    """HTTP/1.1 over one kept-alive connection."""

    def __init__(self, stream: trio.SocketStream):
        self.stream = stream
        self.conn = h11.Connection(h11.CLIENT)

    async def request(self, method: str, target: str, body: bytes = b"") -> tuple[int, dict, bytes]:
        headers = [("host", "localhost"), ("content-length", str(len(body)))]
        data = self.conn.send(h11.Request(method=method, target=target, headers=headers))
        data += self.conn.send(h11.Data(data=body)) if body else b""
        await self.stream.send_all(data + self.conn.send(h11.EndOfMessage()))
        response, content = None, b""
        with trio.fail_after(10):
            while True:
                event = self.conn.next_event()
                if event is h11.NEED_DATA:
                    self.conn.receive_data(await self.stream.receive_some(65536))
                elif isinstance(event, h11.Response):
                    response = event
                elif isinstance(event, h11.Data):
                    content += event.data
                elif isinstance(event, h11.EndOfMessage):
                    break
        if self.conn.our_state is h11.DONE and self.conn.their_state is h11.DONE:
            self.conn.start_next_cycle()
        return response.status_code, {k.decode(): v.decode() for k, v in response.headers}, content


async def get(port: int, target: str, method: str = "GET") -> tuple[int, dict, bytes]:
    """(status, headers, body) of one request to 127.0.0.1:`port`."""
    async with await trio.open_tcp_stream("127.0.0.1", port) as stream:
        return await Client(stream).request(method, target)


def samples(text: str) -> dict[tuple[str, tuple], float]:
    """Every sample of an exposition: {(name, sorted labels): value}."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}
