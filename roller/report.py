"""What `provernet roller status` shows of the roller's own tasks, from its journal.

`tasks_report` gives JSON-ready values (for `--json` and for tests); `render_tasks_report`
prints them as tables. Each task says why it ended as it did: the decline or failure reason,
the coordinator's receipt and its reason, and, once its batch has settled on-chain, the outcome,
the reward and the reputation change.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.table import Table

from market_contracts.units import format_tokens
from roller.journal import Journal, JournalTask, TaskState


def tasks_report(journal: Journal, limit: int = 50) -> dict[str, Any]:
    """Tasks in flight, the `limit` latest tasks, and totals over the whole journal; token
    amounts are decimal strings of base units, times unix seconds."""
    summary = journal.summary()
    return {
        "in_flight": [task_row(t) for t in journal.in_flight()],
        "history": [task_row(t) for t in journal.history(limit)],
        "totals": {"states": summary["states"], "outcomes": summary["outcomes"],
                   "reward": str(summary["reward"])},
    }


def task_row(task: JournalTask) -> dict[str, Any]:
    rep_change = (None if task.rep_after is None or task.rep_before is None
                  else task.rep_after - task.rep_before)
    return {
        "task_id": task.task_id.hex(),
        "coordinator": task.coordinator,
        "kind": task.kind,
        "index": task.index,
        "round": task.round,
        "state": str(task.state),
        "receipt": task.receipt,
        "why": why(task),
        "assigned_at": task.assigned_at,
        "deadline": task.deadline,
        "offered_at": task.offered_at,
        "proving_at": task.proving_at,
        "attempts": task.attempts,
        "proven_at": task.proven_at,
        "submitted_at": task.submitted_at,
        "finished_at": task.finished_at,
        "outcome": task.outcome,
        "reward": None if task.reward is None else str(task.reward),
        "rep_before": task.rep_before,
        "rep_after": task.rep_after,
        "rep_change": rep_change,
    }


def why(task: JournalTask) -> str | None:
    """One line on how the task ended, or None while nothing needs explaining."""
    if task.state is TaskState.DECLINED:
        return f"declined: {task.reason}"
    if task.state is TaskState.FAILED:
        return f"failed: {task.reason}"
    if task.state is TaskState.RECEIPTED and task.receipt != "accepted":
        return f"proof {task.receipt}" + (f": {task.reason}" if task.reason else "")
    return None


def render_tasks_report(report: dict[str, Any], console: Console) -> None:
    console.print(_in_flight_table(report["in_flight"]))
    console.print(_history_table(report["history"]))
    totals = report["totals"]
    states = ", ".join(f"{n} {state}" for state, n in totals["states"].items() if n)
    outcomes = ", ".join(f"{n} {outcome}" for outcome, n in totals["outcomes"].items() if n)
    console.print(f"All tasks: {states or 'none'}")
    console.print(f"Settled: {outcomes or 'none yet'}; rewards "
                  f"{format_tokens(int(totals['reward']))}")


def _in_flight_table(rows: list[dict[str, Any]]) -> Table:
    table = Table(title=f"Tasks in flight ({len(rows)})")
    for column in ("task", "coordinator", "state", "deadline", "proving since"):
        table.add_column(column, no_wrap=True)
    for row in rows:
        table.add_row(_name(row), row["coordinator"], row["state"], _clock(row["deadline"]),
                      _clock(row["proving_at"]))
    return table


def _history_table(rows: list[dict[str, Any]]) -> Table:
    table = Table(title=f"Latest tasks ({len(rows)})")
    table.add_column("task", no_wrap=True)
    table.add_column("offered", no_wrap=True)
    table.add_column("state", no_wrap=True)
    table.add_column("outcome")
    table.add_column("reward", justify="right")
    table.add_column("reputation", justify="right")
    table.add_column("why")
    for row in rows:
        state = row["state"] + (f" ({row['receipt']})" if row["receipt"] else "")
        table.add_row(_name(row), _clock(row["offered_at"]), state, row["outcome"] or "",
                      "" if row["reward"] is None else format_tokens(int(row["reward"])),
                      _reputation(row), row["why"] or "")
    return table


def _name(row: dict[str, Any]) -> str:
    return f"{row['kind']} {row['index']} r{row['round']}"


def _reputation(row: dict[str, Any]) -> str:
    if row["rep_change"] is None:
        return ""
    return f"{row['rep_change']:+d} ({row['rep_before']} -> {row['rep_after']})"


def _clock(timestamp: float | None) -> str:
    if timestamp is None:
        return ""
    return datetime.fromtimestamp(timestamp, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")
