"""What the roller node reports of itself: `RollerStatus` (read by the live view), the task
endings it keeps for it (`Recent`), and the in-flight gauge every service refreshes."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import trio

from roller.farm.queue import Worker
from roller.journal import Journal, JournalTask, TaskKey
from roller.metrics import RollerMetrics

#: task endings `RollerStatus.recent` keeps, newest last
RECENT_OUTCOMES = 20


@dataclass(frozen=True)
class RecentOutcome:
    """How one task ended, as the node saw it happen."""

    at: float
    task: TaskKey
    #: declined, failed, cancelled, "receipt accepted" (rejected, late), or the settled outcome
    #: (on_time, late, missed, invalid)
    what: str
    #: the reason of a decline, failure, cancellation or receipt; "" when there is none
    detail: str = ""
    #: settlements: base units credited, and the reputation before and after
    reward: int | None = None
    reputation: tuple[int, int] | None = None


class Recent:
    """The latest task endings, oldest first. Appended from the settlement reader's thread too:
    deque appends are atomic."""

    def __init__(self, clock: Callable[[], float]):
        self._clock = clock
        self._outcomes: deque[RecentOutcome] = deque(maxlen=RECENT_OUTCOMES)

    def note(self, task: TaskKey, what: str, detail: str = "", **settled: Any) -> None:
        self._outcomes.append(RecentOutcome(self._clock(), task, what, detail, **settled))

    def __iter__(self):
        return iter(tuple(self._outcomes))


@dataclass(frozen=True)
class CoordinatorSession:
    address: str
    #: the rollup its tasks are of
    rollup: str
    peer: str
    #: the roller's weight as the coordinator's welcome stated it
    weight: int


@dataclass(frozen=True)
class RollerStatus:
    """What the node is doing, read-only (`RollerService.status`; the live view shows it)."""

    address: str
    peer_id: str | None
    addrs: tuple[str, ...]
    metrics_url: str | None
    #: the proving backend's description and why it was chosen; None while it starts
    backend: str | None
    backend_reason: str | None
    connected: tuple[CoordinatorSession, ...]
    #: served, but with no session open now (connecting, or waiting to reconnect)
    reconnecting: tuple[str, ...]
    #: announced but not served: (address, why)
    ignored: tuple[tuple[str, str], ...]
    #: modelled seconds per unit on this backend: (circuit, kind, seconds)
    speeds: tuple[tuple[str, str, float], ...]
    #: accepted and not yet answered by a receipt, earliest deadline first
    in_flight: tuple[JournalTask, ...]
    #: the latest task endings, oldest first
    recent: tuple[RecentOutcome, ...]
    last_proof_at: float | None
    #: with a farm, its live workers and those quarantined (`FarmQueue.workers`); None without
    #: a farm, or while its database cannot be reached
    farm_workers: tuple[Worker, ...] | None = None


async def refresh_in_flight(journal: Journal, metrics: RollerMetrics) -> None:
    """Set the in-flight gauge from the journal (read in a thread)."""
    metrics.set_in_flight(len(await trio.to_thread.run_sync(journal.in_flight)))
