"""The coordinator's Prometheus metrics (served with its health by `p2p.metrics_http`).

`CoordinatorMetrics` keeps them in a registry of its own (not prometheus_client's global one, so
that several coordinators in one process keep separate counts). The service, around the pure
core, reports what happens as it happens (sessions authenticated or refused, tasks drawn, opened
and sent, answers and proofs in, verification verdicts and times, receipts out, L1 actions done
or failed, core events); what the core holds (blocks by status, open rounds, assignments in
flight, L1's last committed and finalized block as the core has them) is read from it at each
scrape (`follow`), so it is never stale and costs nothing between scrapes.

Labels are bounded sets: task kinds as on the wire ("block", "batch"), refusal codes, receipt
statuses, event and L1 action types, block statuses (`coordinator.views.ProvingStatus`); never a
roller's address, a task id or a reason's text. docs/coordinator.md lists the metrics.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from coordinator.commands import Command, DrawLottery, Finalize, Settle, Slash
from coordinator.core import CoordinatorCore
from coordinator.views import ProvingStatus
from p2p.messages import BLOCK_TASK

PREFIX = "provernet_coordinator"
#: a block proof verifies in about 2 ms alone on this project's machine, less than 1 ms a proof
#: in a batch (docs/coordinator.md, "Verification"), counting from its arrival, so a wait in the
#: queue shows; an aggregate of K proofs (checked in Python) takes tens of milliseconds; the last
#: buckets show a starved machine
VERIFY_BUCKETS = (0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
#: block proofs checked together (coordinator.verifier): 1 under light load, up to the
#: configured maximum (32 by default) when proofs queue
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)
#: from BlockCommitted to the block's first task out: the sequencer's answer for the block's
#: inputs (milliseconds to a second) and one send
DISPATCH_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
#: blocks whose BlockCommitted time is kept until their first task goes out; a block no roller
#: is connected for may never have one, so the oldest are forgotten past this
MAX_DISPATCH_PENDING = 1024
#: the statuses a committed, not yet finalized block can have: each is exported, 0 or not
LIVE_STATUSES = (ProvingStatus.ASSIGNED, ProvingStatus.OPEN, ProvingStatus.PROVEN,
                 ProvingStatus.AGGREGATING, ProvingStatus.AGGREGATED)
L1_ACTIONS = {Finalize: "finalize", Settle: "settle", DrawLottery: "draw_lottery", Slash: "slash"}


class CoordinatorMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.auth_failures = Counter(
            f"{PREFIX}_auth_failures", "Roller sessions refused or broken before they were "
            "authenticated, by reason (version, expired, bad_signature, zero_weight, stream)",
            ["reason"], registry=r)
        self.tasks_assigned = Counter(
            f"{PREFIX}_tasks_assigned", "Tasks drawn for a roller (one per roller and round), "
            "by kind", ["kind"], registry=r)
        self.tasks_opened = Counter(f"{PREFIX}_tasks_opened", "Tasks opened to every staked "
                                    "roller after their drawn rounds, by kind", ["kind"],
                                    registry=r)
        self.tasks_sent = Counter(f"{PREFIX}_tasks_sent", "Task messages delivered to a "
                                  "roller's session, by kind", ["kind"], registry=r)
        self.tasks_expired = Counter(
            f"{PREFIX}_tasks_expired", "Assignments dropped undelivered because their deadline "
            "passed while the roller was not connected (it would only decline them), by kind",
            ["kind"], registry=r)
        self.tasks_accepted = Counter(f"{PREFIX}_tasks_accepted", "Accepts received, by kind",
                                      ["kind"], registry=r)
        self.tasks_declined = Counter(f"{PREFIX}_tasks_declined", "Declines received, by kind",
                                      ["kind"], registry=r)
        self.proofs_received = Counter(f"{PREFIX}_proofs_received", "Proofs and aggregates "
                                       "received, by kind", ["kind"], registry=r)
        self.proofs_verified = Counter(
            f"{PREFIX}_proofs_verified", "Signed submissions verified, by kind and result "
            "(valid, invalid)", ["kind", "result"], registry=r)
        self.verification_seconds = Histogram(
            f"{PREFIX}_proof_verification_seconds", "Seconds verifying a proof or aggregate, "
            "by kind", ["kind"], buckets=VERIFY_BUCKETS, registry=r)
        self.verification_batches = Histogram(
            f"{PREFIX}_verification_batch_proofs", "Block proofs checked together in one "
            "batch verification", buckets=BATCH_BUCKETS, registry=r)
        self.receipts = Counter(f"{PREFIX}_receipts", "Receipts sent to rollers, by status "
                                "(accepted, late, rejected)", ["status"], registry=r)
        self.dispatch_seconds = Histogram(
            f"{PREFIX}_task_dispatch_seconds", "Seconds from a block's BlockCommitted to its "
            "first task delivered to a roller", buckets=DISPATCH_BUCKETS, registry=r)
        self.events = Counter(f"{PREFIX}_core_events", "Events handed to the core, by type and "
                              "result (handled, refused)", ["event", "result"], registry=r)
        self.l1_actions = Counter(f"{PREFIX}_l1_actions", "L1 actions carried out (finalize, "
                                  "settle, draw_lottery, slash)", ["action"], registry=r)
        self.l1_action_failures = Counter(
            f"{PREFIX}_l1_action_failures", "L1 action attempts that failed and are retried, "
            "by action", ["action"], registry=r)
        self.l1_read_failures = Counter(
            f"{PREFIX}_l1_read_failures", "Failed reads of L1, by loop (follow: events; "
            "snapshot: roster snapshots)", ["loop"], registry=r)
        self.slash_refused = Counter(
            f"{PREFIX}_slash_evidence_refused", "Slashing evidence L1 refused for good (a forged "
            "signature, a statement L1 no longer holds)", registry=r)
        self.roster_snapshots = Counter(f"{PREFIX}_roster_snapshots",
                                        "Roster snapshots taken by this coordinator", registry=r)
        self.sessions = Gauge(f"{PREFIX}_sessions_connected",
                              "Authenticated roller sessions open", registry=r)
        self.l1_pending = Gauge(f"{PREFIX}_l1_actions_pending",
                                "L1 actions queued or being carried out", registry=r)
        self.open_rounds = Gauge(f"{PREFIX}_open_rounds",
                                 "Tasks open to every staked roller now", registry=r)
        self.in_flight = Gauge(f"{PREFIX}_assignments_in_flight", "Drawn assignments not decided "
                               "yet and within their window", registry=r)
        self.last_committed = Gauge(f"{PREFIX}_last_committed_block", "The newest block the core "
                                    "has as committed on L1 (NaN before it starts)", registry=r)
        self.last_finalized = Gauge(f"{PREFIX}_last_finalized_block", "The newest block the "
                                    "core has as finalized on L1 (NaN before it starts)",
                                    registry=r)
        self._core: Callable[[], CoordinatorCore | None] = lambda: None
        r.register(_ProvingStatuses(lambda: self._core()))
        #: block number -> time.monotonic() of its BlockCommitted, until its first task goes out
        self._committed_at: dict[int, float] = {}

    def follow(self, core: Callable[[], CoordinatorCore | None], sessions: Callable[[], int],
               l1_pending: Callable[[], int]) -> None:
        """Read the state gauges at each scrape: from the core (None before it is restored), the
        number of sessions, and the L1 actions pending."""
        self._core = core
        self.sessions.set_function(sessions)
        self.l1_pending.set_function(l1_pending)
        self.open_rounds.set_function(lambda: _of(core(), lambda c: len(c.open_tasks())))
        self.in_flight.set_function(lambda: _of(core(), lambda c: len(c.in_flight())))
        self.last_committed.set_function(lambda: _of(core(), lambda c: c.last_committed))
        self.last_finalized.set_function(lambda: _of(core(), lambda c: c.last_finalized))

    # ------------------------------------------------------------------ events

    def auth_failed(self, reason: str) -> None:
        self.auth_failures.labels(reason).inc()

    def event(self, name: str, handled: bool) -> None:
        self.events.labels(name, "handled" if handled else "refused").inc()

    def block_committed(self, number: int, *, now: float | None = None) -> None:
        """Block `number`'s BlockCommitted goes to the core now: its dispatch clock starts."""
        self._committed_at.pop(number, None)  # a recommit after a revert starts again
        self._committed_at[number] = time.monotonic() if now is None else now
        while len(self._committed_at) > MAX_DISPATCH_PENDING:
            del self._committed_at[next(iter(self._committed_at))]

    def task_assigned(self, kind: str) -> None:
        self.tasks_assigned.labels(kind).inc()

    def task_opened(self, kind: str) -> None:
        self.tasks_opened.labels(kind).inc()

    def task_sent(self, kind: str, index: int, *, now: float | None = None) -> None:
        self.tasks_sent.labels(kind).inc()
        committed = self._committed_at.pop(index, None) if kind == BLOCK_TASK else None
        if committed is not None:
            self.dispatch_seconds.observe((time.monotonic() if now is None else now) - committed)

    def task_expired(self, kind: str) -> None:
        self.tasks_expired.labels(kind).inc()

    def task_accepted(self, kind: str) -> None:
        self.tasks_accepted.labels(kind).inc()

    def task_declined(self, kind: str) -> None:
        self.tasks_declined.labels(kind).inc()

    def proof_received(self, kind: str) -> None:
        self.proofs_received.labels(kind).inc()

    def proof_verified(self, kind: str, valid: bool, seconds: float) -> None:
        self.proofs_verified.labels(kind, "valid" if valid else "invalid").inc()
        self.verification_seconds.labels(kind).observe(seconds)

    def verification_batch(self, proofs: int) -> None:
        self.verification_batches.observe(proofs)

    def receipt(self, status: str) -> None:
        self.receipts.labels(status).inc()

    def l1_action_done(self, command: Command) -> None:
        self.l1_actions.labels(L1_ACTIONS[type(command)]).inc()

    def l1_action_failed(self, command: Command) -> None:
        self.l1_action_failures.labels(L1_ACTIONS[type(command)]).inc()

    def l1_read_failed(self, loop: str) -> None:
        self.l1_read_failures.labels(loop).inc()

    def slash_evidence_refused(self) -> None:
        self.slash_refused.inc()

    def roster_snapshot_taken(self) -> None:
        self.roster_snapshots.inc()


def block_statuses(core: CoordinatorCore) -> dict[str, int]:
    """How many of the blocks committed and not yet finalized on L1 have each status."""
    counts = {status.value: 0 for status in LIVE_STATUSES}
    for block in range(core.last_finalized + 1, core.last_committed + 1):
        status = core.block_status(block).value
        counts[status] = counts.get(status, 0) + 1
    return counts


class _ProvingStatuses(Collector):
    """`provernet_coordinator_blocks{status}`, counted from the core at each scrape."""

    def __init__(self, core: Callable[[], CoordinatorCore | None]):
        self._core = core

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(f"{PREFIX}_blocks", "Blocks committed and not yet finalized "
                                   "on L1, by status (assigned, open, proven, aggregating, "
                                   "aggregated)", labels=["status"])
        core = self._core()
        if core is not None:
            for status, count in block_statuses(core).items():
                family.add_metric([status], count)
        yield family


def _of(core: CoordinatorCore | None, read: Callable[[CoordinatorCore], int]) -> float:
    """`read(core)`, or NaN (Prometheus's "no value") before the core exists."""
    return math.nan if core is None else read(core)
