"""The roller's Prometheus metrics, and the facts its `/health` reports.

`RollerMetrics` holds the counters, histograms and gauges in a registry of its own (not
prometheus_client's global one, so that two rollers in one process, as in the devnet and the
tests, do not share counts) and the few facts `/health` reports. `p2p.metrics_http.MetricsServer`
serves them: `GET /metrics`, and `GET /health` as JSON `{"ok", "backend", "coordinators",
"tasks_in_flight", "last_proof_at", "problems"}`, status 200 when ok (a proving backend is ready
and a coordinator is connected, and with a farm a worker is live), else 503.

Labels are bounded sets (task kinds, decline codes, receipt statuses, outcomes, circuits served),
never task ids or reasons' text: each label value is a time series kept for the process's life.
docs/roller.md lists the metrics.
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

PREFIX = "provernet_roller"
#: a block proof takes about a second on a GPU and a few on a CPU (small profile) up to minutes
#: (large profile on a CPU); the last buckets show tasks that cannot meet a 30 s deadline
PROVING_BUCKETS = (0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120, 300)
WITNESS_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


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
        self.farm_workers = Gauge(f"{PREFIX}_farm_workers", "A farm's live, trusted workers "
                                  "(only with a farm)", registry=r)
        #: with a farm, its live, trusted workers when last counted; None without one
        self._farm_workers: int | None = None
        self._backend_name: str | None = None
        self._coordinators = 0
        self._in_flight = 0
        self._last_proof_at: float | None = None
        #: why the last read of L1 (the settlement follower's) failed; None once one succeeds
        self._l1_error: str | None = None

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

    def set_l1_error(self, error: str | None) -> None:
        self._l1_error = error

    def set_farm_workers(self, count: int) -> None:
        self._farm_workers = count
        self.farm_workers.set(count)

    def set_coordinators(self, count: int) -> None:
        self._coordinators = count
        self.coordinators.set(count)

    def health(self) -> dict:
        problems = []
        if self._backend_name is None:
            problems.append("no proving backend ready yet (loading or measuring)")
        if self._coordinators == 0:
            problems.append("no coordinator connected")
        if self._l1_error is not None:
            problems.append(f"L1: {self._l1_error}")
        if self._farm_workers == 0:
            problems.append("the farm has no live worker: every task is declined")
        return {"ok": not problems, "backend": self._backend_name,
                "coordinators": self._coordinators, "tasks_in_flight": self._in_flight,
                "last_proof_at": self._last_proof_at, "problems": problems}

