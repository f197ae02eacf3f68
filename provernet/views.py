"""How the market looks to a person: the console the commands print to, and the phrases (a
roller's state and weight share, unbondings, snapshots, times, the machine) that `roller
status`, the roller's live view, the explorer, the devnet and the benchmarks share."""

from __future__ import annotations

import math
import os

from rich.console import Console

from market_contracts.bindings import RollerInfo, Unbonding
from market_contracts.units import format_tokens, format_utc

# Piped output (logs, CI) gets no terminal width; tables of full addresses need this much.
PIPED_WIDTH = 140


def console() -> Console:
    probe = Console()
    return probe if probe.is_terminal else Console(width=PIPED_WIDTH)


def share(weight: int, total: int) -> float:
    return weight / total if total else 0.0


def roller_state(r: RollerInfo) -> str:
    if not r.registered:
        return "not staked"
    if r.paused:
        return "paused"
    return "selectable" if r.weight > 0 else "not selectable"


def unbonding_lines(entries: list[Unbonding], now: int) -> list[str]:
    lines = []
    for e in entries:
        when = "releasable now" if e.release_time <= now else until(e.release_time, now)
        lines.append(f"{format_tokens(e.amount)} releases at {format_utc(e.release_time)} ({when})")
    return lines


def snapshot_line(snapshot: dict | None) -> str:
    """Where a roller stands in the newest roster snapshot (`roller status`'s "snapshot")."""
    if snapshot is None:
        return "none taken yet: nobody is drawn until one is"
    taken = f"#{snapshot['id']}, taken {format_utc(snapshot['timestamp'])}"
    if int(snapshot["weight"]) == 0:
        return f"not in the newest ({taken}): the stake counts from the next snapshot"
    return f"in the newest ({taken}) with weight {snapshot['weight']}"


def until(at: float, now: float) -> str:
    """'in 12 s', or 'passed 3 s ago'."""
    seconds = at - now
    return f"in {math.ceil(seconds)} s" if seconds > 0 else f"passed {ago(at, now)}"


def ago(at: float, now: float) -> str:
    """'12 s ago', '5 min ago', '3 h ago'."""
    seconds = max(0, int(now - at))
    if seconds < 120:
        return f"{seconds} s ago"
    minutes = seconds // 60
    return f"{minutes} min ago" if minutes < 120 else f"{minutes // 60} h ago"


def machine() -> str:
    """The machine a benchmark's figures come from, as its report names it: cores, CPU model,
    and the load average at the end (a shared machine's figures move with it)."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            model = next(line.split(":", 1)[1].strip() for line in cpuinfo
                         if line.startswith("model name"))
    except (OSError, StopIteration):
        model = "unknown CPU"
    return f"{os.cpu_count()} cores, {model}, load average {os.getloadavg()[0]:.2f} at the end"
