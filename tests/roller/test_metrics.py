"""The roller's metrics and health over real HTTP on loopback (the server itself:
tests/p2p/test_metrics_http.py), read back with prometheus_client's own parser."""

from __future__ import annotations

import json

from p2p.metrics_http import MetricsServer
from roller.metrics import RollerMetrics
from scrape import get, samples

CIRCUIT = b"\xcc" * 32


def server(metrics: RollerMetrics) -> MetricsServer:
    """As RollerService serves them, on a free port."""
    return MetricsServer(metrics.registry, metrics.health, "127.0.0.1", 0)


async def test_health_reports_what_is_missing_then_ok(nursery):
    metrics = RollerMetrics()
    port = await nursery.start(server(metrics).run)
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

    # An L1 read that fails is a problem until one succeeds again.
    metrics.set_l1_error("cannot reach JSON-RPC endpoint http://127.0.0.1:8545")
    status, _, body = await get(port, "/health")
    assert status == 503 and json.loads(body)["problems"] == [
        "L1: cannot reach JSON-RPC endpoint http://127.0.0.1:8545"]
    metrics.set_l1_error(None)
    status, _, _ = await get(port, "/health")
    assert status == 200

    # With a farm, a farm without a live worker is one too.
    metrics.set_farm_workers(0)
    status, _, body = await get(port, "/health")
    assert status == 503 and json.loads(body)["problems"] == [
        "the farm has no live worker: every task is declined"]
    metrics.set_farm_workers(3)
    status, _, _ = await get(port, "/health")
    assert status == 200
    _, _, body = await get(port, "/metrics")
    assert samples(body.decode())[("provernet_roller_farm_workers", ())] == 3


async def test_metrics_count_every_event(nursery):
    metrics = RollerMetrics()
    port = await nursery.start(server(metrics).run)
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
