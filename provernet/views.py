"""How the market looks to a person: rich tables shared by `roller status` and the devnet."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

# Piped output (logs, CI) gets no terminal width; tables of full addresses need this much.
PIPED_WIDTH = 140


def console() -> Console:
    probe = Console()
    return probe if probe.is_terminal else Console(width=PIPED_WIDTH)

from market_contracts.bindings import RollerInfo, Unbonding
from market_contracts.units import format_tokens, format_utc


def share(weight: int, total: int) -> float:
    return weight / total if total else 0.0


def rollers_table(rollers: list[RollerInfo], total_weight: int, rep_max: int, title: str = "Rollers") -> Table:
    table = Table(title=title)
    table.add_column("roller", no_wrap=True, min_width=42)
    for column in ("stake", "unbonding", f"rep (/{rep_max})", "weight share", "claimable"):
        table.add_column(column, justify="right")
    table.add_column("state")
    for r in rollers:
        table.add_row(
            r.address,
            format_tokens(r.active),
            format_tokens(r.unbonding),
            str(r.rep),
            f"{share(r.weight, total_weight):.1%}",
            format_tokens(r.claimable),
            roller_state(r),
        )
    return table


def roller_state(r: RollerInfo) -> str:
    if not r.registered:
        return "not staked"
    if r.paused:
        return "paused"
    return "selectable" if r.weight > 0 else "not selectable"


def unbonding_lines(entries: list[Unbonding], now: int) -> list[str]:
    lines = []
    for e in entries:
        when = "releasable now" if e.release_time <= now else f"in {e.release_time - now} s"
        lines.append(f"{format_tokens(e.amount)} releases at {format_utc(e.release_time)} ({when})")
    return lines
