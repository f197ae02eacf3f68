"""`report.md`: the run in words, one table per concern, and the plots."""

from __future__ import annotations

from simulation.plots import PLOTS

STRATEGY_COLUMNS = (
    ("rollers", "rollers"), ("stake", "stake"), ("rewards", "rewards"), ("slashed", "slashed"),
    ("roi", "ROI"), ("on_time", "on time"), ("late", "late"), ("missed", "missed"),
    ("invalid", "invalid"), ("declined", "declined"), ("reward_per_proof", "reward/proof"),
    ("reward_share", "reward share"), ("stake_share", "stake share"),
    ("compute_share", "compute share"), ("reputation", "final rep"),
)


def render_report(metrics: dict, command: str) -> str:
    scenario, liveness, finality = metrics["scenario"], metrics["liveness"], metrics["finality"]
    lines = [
        f"# Simulation: {scenario['name']}",
        "",
        f"`{command}`",
        "",
        f"{scenario['rollers']:,} roller addresses, {scenario['blocks']:,} commit slots every "
        f"{scenario['block_interval_s']:g} s, seed {scenario['seed']}; "
        f"{liveness['virtual_hours']:g} virtual hours. Market parameters:",
        "",
        ", ".join(f"{k} = {v}" for k, v in metrics["params"].items()) + ".",
        "",
        "## Strategies",
        "",
        "ROI is (rewards - slashed) / stake over the run, in tokens; outcomes are counts of "
        "assignments.",
        "",
        _table([label for _, label in STRATEGY_COLUMNS],
               [[_cell(s[key]) for key, _ in STRATEGY_COLUMNS]
                for s in metrics["strategies"].values()],
               first=list(metrics["strategies"])),
        "",
        "## Finality and liveness",
        "",
        _table(["blocks finalized", "mean s", "p50 s", "p90 s", "p99 s", "max s"],
               [[_cell(finality[k]) for k in ("blocks", "mean_s", "p50_s", "p90_s", "p99_s",
                                               "max_s")]]),
        "",
        _table(list(liveness), [[_cell(v) for v in liveness.values()]]),
        "",
        "## Plots",
        "",
    ]
    for name, title in PLOTS.items():
        lines += [f"### {title}", "", f"![{title}]({name})", ""]
    return "\n".join(lines)


def _table(header: list[str], rows: list[list[str]], first: list[str] | None = None) -> str:
    if first is not None:
        header = ["strategy", *header]
        rows = [[name, *row] for name, row in zip(first, rows)]
    lines = ["| " + " | ".join(header) + " |",
             "| " + " | ".join("---" if i == 0 and first else "---:" for i in range(len(header)))
             + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)
