"""Every node's metrics and health server over real HTTP on loopback: the registry it is given,
the health callable's verdict as the status, its bounds, and a taken port as a clear error."""

from __future__ import annotations

import json

import pytest
import trio
from prometheus_client import CollectorRegistry, Counter

from p2p.errors import ListenError
from p2p.metrics_http import MAX_BODY_BYTES, MetricsServer, listen_address
from scrape import Client, get, samples


class Node:
    """A registry with one counter, and a health that is what the test says."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.events = Counter("provernet_test_events", "Events", registry=self.registry)
        self.problems: list[str] = []

    def health(self) -> dict:
        return {"ok": not self.problems, "problems": list(self.problems)}

    def server(self, **kwargs) -> MetricsServer:
        return MetricsServer(self.registry, self.health, "127.0.0.1", 0, **kwargs)


async def test_metrics_are_the_registrys_and_health_is_the_nodes_verdict(nursery):
    node = Node()
    port = await nursery.start(node.server().run)
    node.events.inc(3)
    status, headers, body = await get(port, "/metrics")
    assert status == 200 and headers["content-type"].startswith("text/plain; version=")
    assert samples(body.decode())[("provernet_test_events_total", ())] == 3

    assert (await get(port, "/health"))[::2] == (200, b'{"ok": true, "problems": []}')
    node.problems.append("not reconciled with L1 yet")
    status, headers, body = await get(port, "/health")
    assert (status, headers["content-type"]) == (503, "application/json")
    assert json.loads(body) == {"ok": False, "problems": ["not reconciled with L1 yet"]}


async def test_one_connection_serves_several_requests_and_refuses_the_rest(nursery):
    node = Node()
    node.problems.append("down")
    port = await nursery.start(node.server().run)
    async with await trio.open_tcp_stream("127.0.0.1", port) as stream:
        client = Client(stream)
        assert (await client.request("GET", "/metrics"))[0] == 200
        assert (await client.request("GET", "/health?verbose=1"))[0] == 503
        assert (await client.request("GET", "/nothing"))[:3:2] == (
            404, b"not found: GET /metrics or /health\n")
        assert (await client.request("POST", "/metrics", b"x"))[0] == 405


async def test_a_body_past_the_limit_is_refused(nursery):
    port = await nursery.start(Node().server().run)
    async with await trio.open_tcp_stream("127.0.0.1", port) as stream:
        status, headers, body = await Client(stream).request("GET", "/metrics",
                                                             b"x" * (MAX_BODY_BYTES + 1))
    assert (status, headers["connection"]) == (413, "close")
    assert body == f"request body over {MAX_BODY_BYTES} bytes\n".encode()


async def test_a_silent_client_is_cut_off(nursery):
    port = await nursery.start(Node().server(io_timeout=0.3).run)
    async with await trio.open_tcp_stream("127.0.0.1", port) as stream:
        await stream.send_all(b"GET /metrics HTTP/1.1\r\n")  # and never the rest
        with trio.fail_after(5):
            assert await stream.receive_some(1024) == b""  # closed without an answer


async def test_a_taken_port_is_a_clear_error(nursery):
    port = await nursery.start(Node().server().run)
    with pytest.raises(ListenError,
                       match=f"cannot serve metrics on 127.0.0.1:{port}: .*; is something else "
                             "there\\? set metrics_listen in roller.toml$"):
        await MetricsServer(CollectorRegistry(), Node().health, "127.0.0.1", port,
                            remedy="set metrics_listen in roller.toml").run()


@pytest.mark.parametrize("text, address", [
    ("127.0.0.1:9465", ("127.0.0.1", 9465)),
    ("[::1]:0", ("::1", 0)),
    ("localhost:65535", ("localhost", 65535)),
])
def test_listen_address(text, address):
    assert listen_address(text) == address


@pytest.mark.parametrize("text", ["9465", ":9465", "localhost:", "localhost:65536", "host:x"])
def test_a_bad_listen_address_says_what_is_expected(text):
    with pytest.raises(ValueError, match=f"^{text!r} is not host:port, e.g. 127.0.0.1:9464"):
        listen_address(text)
