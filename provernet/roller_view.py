"""`provernet roller run` on a terminal: the node with a live view of what it does.

The view is a pure function of a `ViewSnapshot` (`render`): the node's `RollerStatus`, the
roller's standing as L1 last showed it, and the time. `watch` runs the node and redraws the view
every REFRESH_SECONDS; the standing (stake, reputation, weight, claimable rewards) is read from
L1 in a worker thread every STANDING_SECONDS, so a slow or dead endpoint never holds up the node
or the view: a failed read shows as a problem line above the last standing read.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import trio
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text
from web3.exceptions import Web3Exception

from market_contracts.errors import ChainError
from market_contracts.units import format_tokens
from p2p.messages import BLOCK_TASK, NO_DEADLINE
from provernet.views import ago, snapshot_line, until
from roller.farm.queue import Worker
from roller.journal import JournalTask
from roller.service import RollerService
from roller.status import RecentOutcome, RollerStatus

#: the node's log file in the data directory while the view has the terminal
LOG_NAME = "roller.log"
#: seconds between redraws: deadlines count down in seconds
REFRESH_SECONDS = 1.0
#: seconds between reads of the standing: it changes with settlements (a batch every T_agg or
#: so), and one read is about ten JSON-RPC calls
STANDING_SECONDS = 5.0
#: a standing read still unanswered after this is given up (its thread is abandoned) and shown
#: as a problem; the next read starts on schedule
STANDING_TIMEOUT = 15.0
#: task endings shown, newest first
OUTCOMES_SHOWN = 8

#: reads the roller's standing from L1 (blocking): `provernet.commands.roller.status_report`
ReadStanding = Callable[[], dict]


@dataclass(frozen=True)
class Standing:
    """The roller's standing as L1 last showed it, and why the latest read failed, if it did."""

    #: `status_report`'s JSON-ready values; None until a read succeeded
    report: dict | None = None
    read_at: float | None = None
    problem: str | None = None


@dataclass(frozen=True)
class ViewSnapshot:
    status: RollerStatus
    standing: Standing
    log_file: Path
    now: float


# ------------------------------------------------------------------ rendering (pure)

def render(snap: ViewSnapshot) -> Group:
    return Group(_header(snap), _standing(snap), _coordinators(snap.status),
                 _proving(snap.status, snap.now), _in_flight(snap.status.in_flight, snap.now),
                 _outcomes(snap.status.recent, snap.now))


def _header(snap: ViewSnapshot) -> Text:
    s = snap.status
    text = Text.assemble(("provernet roller ", "bold"), (s.address, "bold"))
    text.append(f"\n  peer {s.peer_id or 'starting'}")
    for addr in s.addrs:
        text.append(f"\n  listening on {addr}")
    if s.metrics_url:
        text.append(f"\n  metrics and health at {s.metrics_url}")
    text.append(f"\n  logs in {snap.log_file}   (Ctrl-C stops the node)")
    return text


def _standing(snap: ViewSnapshot) -> Table:
    standing = snap.standing
    table = Table(title="Standing on L1", show_header=False, title_justify="left")
    table.add_column("what", style="bold", no_wrap=True)
    table.add_column("value")
    if standing.problem is not None:
        since = ("never read yet" if standing.read_at is None
                 else f"the values below are from {ago(standing.read_at, snap.now)}")
        table.add_row(Text("problem", style="bold red"),
                      Text(f"cannot read L1: {standing.problem} ({since})", style="red"))
    report = standing.report
    if report is None:
        if standing.problem is None:
            table.add_row("state", "reading L1 ...")
        return table
    table.add_row("state", report["state"])
    table.add_row("active stake", format_tokens(int(report["active"])))
    table.add_row("unbonding", format_tokens(int(report["unbonding_total"])))
    table.add_row("reputation", f"{report['reputation']} / {report['rep_max']}")
    table.add_row("weight", f"{report['weight']} ({report['weight_share']:.2%} of total weight)")
    table.add_row("claimable rewards", format_tokens(int(report["claimable"])))
    table.add_row("wallet", format_tokens(int(report["wallet"])))
    table.add_row("roster snapshot", snapshot_line(report["snapshot"]))
    table.add_row("L1 block", f"{report['block']} (read {ago(standing.read_at, snap.now)})")
    return table


def _coordinators(s: RollerStatus) -> Table:
    table = Table(title=f"Coordinators ({len(s.connected)} connected)", title_justify="left")
    for column in ("coordinator", "rollup", "peer", "session"):
        table.add_column(column, no_wrap=column != "session")
    for c in s.connected:
        table.add_row(c.address, short(c.rollup), short_peer(c.peer),
                      Text(f"open; its weight for this roller: {c.weight}", style="green"))
    for address in s.reconnecting:
        table.add_row(address, "", "", Text("connecting (see the log)", style="yellow"))
    for address, why in s.ignored:
        table.add_row(address, "", "", Text(f"not served: {why}", style="dim"))
    if not (s.connected or s.reconnecting or s.ignored):
        table.add_row(Text("none yet: waiting for a coordinator's announcement", style="yellow"),
                      "", "", "")
    return table


def _proving(s: RollerStatus, now: float) -> Table:
    table = Table(title="Proving", show_header=False, title_justify="left")
    table.add_column("what", style="bold", no_wrap=True)
    table.add_column("value")
    # Text, not markup: a reason may hold brackets (pip install 'provernet[gpu]').
    table.add_row("backend", Text("starting ..." if s.backend is None
                                  else f"{s.backend} ({s.backend_reason})"))
    if s.backend is not None and s.backend.startswith("farm "):
        table.add_row("farm workers", _farm_workers(s.farm_workers))
    for circuit, kind, seconds in sorted(s.speeds, key=lambda r: (r[0], r[1] != BLOCK_TASK)):
        unit = "block proof" if kind == BLOCK_TASK else "proof aggregated"
        table.add_row("measured speed", Text(f"{seconds:.2f} s per {unit} ({circuit})"))
    if not s.speeds:
        table.add_row("measured speed", "not measured yet: measured once a circuit is fetched")
    table.add_row("last proof", "none yet" if s.last_proof_at is None
                  else ago(s.last_proof_at, now))
    return table


def _farm_workers(workers: tuple[Worker, ...] | None) -> Text:
    if workers is None:
        return Text("the farm's database cannot be reached", style="red")
    live = [w for w in workers if w.live and w.quarantined is None]
    lines = [f"{w.name}: {w.backend}, {w.jobs} jobs"
             + (f", {w.seconds_per_job:.2f} s each" if w.seconds_per_job else "") for w in live]
    lines += [f"{w.name}: quarantined ({w.quarantined})" for w in workers if w.quarantined]
    if not live:
        return Text("\n".join(["none live: every task is declined", *lines]), style="yellow")
    return Text("\n".join(lines))


def _in_flight(tasks: tuple[JournalTask, ...], now: float) -> Table:
    table = Table(title=f"Tasks in flight ({len(tasks)})", title_justify="left")
    for column in ("task", "coordinator", "state", "deadline", "late window closes"):
        table.add_column(column, no_wrap=True)
    for t in tasks:
        table.add_row(task_name(t.kind, t.index, t.round), short(t.coordinator), str(t.state),
                      _deadline(t.deadline, now, open_=t.open), _deadline(t.close_at, now,
                                                                          open_=t.open))
    return table


def _outcomes(recent: tuple[RecentOutcome, ...], now: float) -> Table:
    shown = list(reversed(recent[-OUTCOMES_SHOWN:]))
    table = Table(title=f"Recent outcomes ({len(shown)} latest)", title_justify="left")
    for column in ("when", "task", "outcome", "detail"):
        table.add_column(column, no_wrap=column != "detail")
    for o in shown:
        table.add_row(ago(o.at, now), task_name(o.task.kind, o.task.index, o.task.round),
                      Text(o.what, style=_outcome_style(o.what)), Text(outcome_detail(o)))
    return table


def outcome_detail(o: RecentOutcome) -> str:
    parts = [o.detail] if o.detail else []
    if o.reward is not None:
        parts.append(f"reward {format_tokens(o.reward)}")
    if o.reputation is not None:
        before, after = o.reputation
        parts.append(f"reputation {after - before:+d} ({before} -> {after})")
    return "; ".join(parts)


def _outcome_style(what: str) -> str:
    if what in ("on_time", "receipt accepted"):
        return "green"
    if what in ("failed", "invalid", "missed", "receipt rejected"):
        return "red"
    return "yellow"


def task_name(kind: str, index: int, round_: int) -> str:
    return f"{kind} {index} r{round_}"


def short(address: str) -> str:
    return address[:10] + "…"


def short_peer(peer: str) -> str:
    """Enough of a peer id to find it in the log: every one starts with the same 12D3KooW."""
    return f"{peer[:12]}…{peer[-6:]}"


def _deadline(at: int, now: float, *, open_: bool) -> str:
    if open_ or at >= NO_DEADLINE:
        return "none (open task)"
    return until(at, now)


# ------------------------------------------------------------------ running

class StandingReader:
    """Reads the standing from L1 every `every` seconds in a worker thread; `latest` is what
    the view shows."""

    def __init__(self, read: ReadStanding, *, clock: Callable[[], float] = time.time,
                 timeout: float = STANDING_TIMEOUT):
        self._read = read
        self._clock = clock
        self._timeout = timeout
        self.latest = Standing()

    async def read_once(self) -> None:
        problem = None
        with trio.move_on_after(self._timeout) as scope:
            try:
                report = await trio.to_thread.run_sync(self._read, abandon_on_cancel=True)
            except (ChainError, Web3Exception) as exc:
                problem = str(exc) or type(exc).__name__
        if scope.cancelled_caught:
            problem = f"no answer within {self._timeout:g} s"
        if problem is None:
            self.latest = Standing(report, self._clock())
        else:
            self.latest = Standing(self.latest.report, self.latest.read_at, problem)

    async def run(self, every: float = STANDING_SECONDS) -> None:
        while True:
            await self.read_once()
            await trio.sleep(every)


async def watch(service: RollerService, read_standing: ReadStanding, out: Console,
                log_file: Path, *, refresh: float = REFRESH_SECONDS,
                clock: Callable[[], float] = time.time) -> None:
    """Run the node and its live view until cancelled (or until the node fails)."""
    out.print(f"starting roller {service.address}; its logs go to {log_file}", markup=False,
              highlight=False)
    async with trio.open_nursery() as nursery:
        await nursery.start(service.run)
        standing = StandingReader(read_standing, clock=clock)
        nursery.start_soon(standing.run)
        with Live(console=out, auto_refresh=False) as live:
            while True:
                snapshot = ViewSnapshot(await service.status(), standing.latest, log_file,
                                        clock())
                live.update(render(snapshot), refresh=True)
                await trio.sleep(refresh)
