"""The metrics and health server over real HTTP on loopback, read back with prometheus_client's
own parser."""

from __future__ import annotations

import json

import h11
import pytest
import trio
from prometheus_client.parser import text_string_to_metric_families

from roller.errors import MetricsListenError
from roller.metrics import MetricsServer, RollerMetrics

CIRCUIT = b"\xcc" * 32


class Client:
    """HTTP/1.1 over one kept-alive connection, with h11 as the client's state machine."""

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
    async with await trio.open_tcp_stream("127.0.0.1", port) as stream:
        return await Client(stream).request(method, target)


def samples(text: str) -> dict[tuple[str, tuple], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


async def test_health_reports_what_is_missing_then_ok(nursery):
    metrics = RollerMetrics()
    port = await nursery.start(MetricsServer(metrics, "127.0.0.1", 0).run)
    status, headers, body = await get(port, "/health")
    assert (status, headers["content-type"]) == (503, "application/json")
    assert json.loads(body) == {
        "ok": False, "backend": None, "coordinators": 0, "tasks_in_flight": 0,
        "last_proof_at": None,
        "problems": ["no proving backend ready yet (loading or measuring)",
                     "no coordinator connected"]}

    metrics.set_backend("cpu", "cpu (2 threads of 2 cores)", "auto: no usable GPU")
    metrics.set_coordinators(2)
    metrics.set_in_flight(1)
    metrics.task_proven("block", 3.0, 0.25, now=1_700_000_000.5)
    status, _, body = await get(port, "/health")
    assert status == 200
    assert json.loads(body) == {"ok": True, "backend": "cpu", "coordinators": 2,
                                "tasks_in_flight": 1, "last_proof_at": 1_700_000_000.5,
                                "problems": []}


async def test_metrics_count_every_event(nursery):
    metrics = RollerMetrics()
    port = await nursery.start(MetricsServer(metrics, "127.0.0.1", 0).run)
    for _ in range(3):
        metrics.task_offered("block")
    metrics.task_offered("batch")
    metrics.task_accepted("block")
    metrics.task_accepted("batch")
    metrics.task_declined("block", "at_capacity")
    metrics.task_proven("block", 3.0, 0.25, now=1_700_000_000.0)
    metrics.task_proven("batch", 1.5, now=1_700_000_001.0)
    metrics.task_submitted("block")
    metrics.task_failed("batch")
    metrics.receipt("late")
    metrics.outcome("on_time")
    metrics.set_in_flight(2)
    metrics.set_speed(CIRCUIT, "block", 2.5)
    metrics.set_backend("cpu", "cpu (2 threads of 2 cores)", "cpu requested")
    metrics.set_coordinators(1)

    status, headers, body = await get(port, "/metrics")
    assert status == 200 and headers["content-type"].startswith("text/plain; version=")
    seen = samples(body.decode())
    p = "provernet_roller"
    expected = {
        (f"{p}_tasks_offered_total", (("kind", "block"),)): 3,
        (f"{p}_tasks_offered_total", (("kind", "batch"),)): 1,
        (f"{p}_tasks_accepted_total", (("kind", "block"),)): 1,
        (f"{p}_tasks_declined_total", (("kind", "block"), ("reason", "at_capacity"))): 1,
        (f"{p}_tasks_proven_total", (("kind", "batch"),)): 1,
        (f"{p}_tasks_submitted_total", (("kind", "block"),)): 1,
        (f"{p}_tasks_failed_total", (("kind", "batch"),)): 1,
        (f"{p}_receipts_total", (("status", "late"),)): 1,
        (f"{p}_outcomes_total", (("outcome", "on_time"),)): 1,
        (f"{p}_proving_seconds_count", (("kind", "block"),)): 1,
        (f"{p}_proving_seconds_sum", (("kind", "block"),)): 2.75,  # the witness excluded
        (f"{p}_proving_seconds_sum", (("kind", "batch"),)): 1.5,
        (f"{p}_witness_seconds_sum", ()): 0.25,
        (f"{p}_tasks_in_flight", ()): 2,
        (f"{p}_proving_speed_seconds", (("circuit", "cc" * 8), ("kind", "block"))): 2.5,
        (f"{p}_coordinators_connected", ()): 1,
        (f"{p}_last_proof_timestamp_seconds", ()): 1_700_000_001.0,
        (f"{p}_backend_info", (("backend", "cpu"), ("description", "cpu (2 threads of 2 cores)"),
                               ("reason", "cpu requested"))): 1,
    }
    assert {key: seen.get(key) for key in expected} == expected


async def test_one_connection_serves_several_requests_and_refuses_the_rest(nursery):
    port = await nursery.start(MetricsServer(RollerMetrics(), "127.0.0.1", 0).run)
    async with await trio.open_tcp_stream("127.0.0.1", port) as stream:
        client = Client(stream)
        assert (await client.request("GET", "/metrics"))[0] == 200
        assert (await client.request("GET", "/health?verbose=1"))[0] == 503
        assert (await client.request("GET", "/nothing"))[:3:2] == (
            404, b"not found: GET /metrics or /health\n")
        assert (await client.request("POST", "/metrics", b"x"))[0] == 405


async def test_a_silent_client_is_cut_off(nursery):
    port = await nursery.start(MetricsServer(RollerMetrics(), "127.0.0.1", 0,
                                             io_timeout=0.3).run)
    async with await trio.open_tcp_stream("127.0.0.1", port) as stream:
        await stream.send_all(b"GET /metrics HTTP/1.1\r\n")  # and never the rest
        with trio.fail_after(5):
            assert await stream.receive_some(1024) == b""  # closed without an answer


async def test_a_taken_port_is_a_clear_error(nursery):
    port = await nursery.start(MetricsServer(RollerMetrics(), "127.0.0.1", 0).run)
    with pytest.raises(MetricsListenError, match=f"cannot serve metrics on 127.0.0.1:{port}"):
        await MetricsServer(RollerMetrics(), "127.0.0.1", port).run()
