"""`provernet simulate`: the market against adversarial rollers, in virtual time.

    provernet simulate SCENARIO.toml --out DIR [--seed N] [--json]
    provernet simulate sweep SCENARIO.toml --param M=1,2,3 --param reward_mode=lottery,split

docs/simulation.md describes the scenario format, the behaviours and what the runs found.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from simulation.engine import Simulation
from simulation.scenario import load_scenario
from simulation.sweep import comparison, parse_param, run_sweep

#: Off a terminal rich would squeeze tables into 80 columns; a pipe or file gets them whole.
UNBOUNDED_WIDTH = 10_000
SUMMARY_COLUMNS = ("rollers", "stake", "rewards", "slashed", "roi", "on_time", "late", "missed",
                   "invalid", "reputation")


class SimulateGroup(click.Group):
    """A group whose default subcommand is `run`: `provernet simulate SCENARIO.toml` runs it,
    while `provernet simulate sweep ...` names a subcommand."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ctx.help_option_names:
            args = ["run", *args]
        return super().parse_args(ctx, args)


command = SimulateGroup(
    "simulate",
    help="Simulate the market in virtual time: `simulate SCENARIO.toml --out DIR` runs a "
         "scenario (see `simulate run --help`); `simulate sweep` compares settings.")

_SCENARIO = click.argument("scenario", type=click.Path(dir_okay=False, path_type=Path))
_SEED = click.option("--seed", type=click.IntRange(min=0),
                     help="Seed of the run's random generator (default: the scenario's).")


@command.command("run")
@_SCENARIO
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder for metrics.json, the plots, report.md and report.html (created if "
                   "missing).")
@_SEED
@click.option("--json", "as_json", is_flag=True, help="Print metrics.json to stdout.")
def run_command(scenario: Path, out: Path, seed: int | None, as_json: bool) -> None:
    """Run SCENARIO.toml and write metrics.json, plots, report.md and report.html to --out."""
    loaded = load_scenario(scenario, {} if seed is None else {("seed",): seed})
    console = Console(stderr=True)
    if as_json or not console.is_terminal:
        result = Simulation(loaded).run()
    else:
        with Progress(TextColumn(f"simulating {loaded.name}"), BarColumn(), MofNCompleteColumn(),
                      TextColumn("blocks"), TimeElapsedColumn(), console=console,
                      transient=True) as progress:
            task = progress.add_task("", total=loaded.blocks)
            result = Simulation(
                loaded, progress=lambda slot: progress.update(task, completed=slot)).run()
    # Imported here: matplotlib takes about half a second to load, which every other
    # `provernet` command would pay at start-up.
    from simulation.outputs import metrics_json, write_outputs

    argv = ["provernet", "simulate", str(scenario), "--out", str(out)]
    if seed is not None:
        argv += ["--seed", str(seed)]
    files = write_outputs(result, out, shlex.join(argv))
    if as_json:
        click.echo(metrics_json(result.metrics), nl=False)
        return
    table = Table(title=f"{loaded.name}: {loaded.blocks:,} blocks, seed {loaded.seed}")
    table.add_column("strategy")
    for column in SUMMARY_COLUMNS:
        table.add_column(column.replace("_", " "), justify="right")
    for name, s in result.metrics["strategies"].items():
        table.add_row(name, *(_cell(s[c]) for c in SUMMARY_COLUMNS))
    _stdout().print(table)
    click.echo(f"wrote {', '.join(f.name for f in files)} to {out}")


@command.command("sweep")
@_SCENARIO
@click.option("--param", "params", multiple=True, required=True, metavar="NAME=V1,V2,...",
              help="A setting and its values: a market parameter (M, reward_mode, slash_bps, "
                   "...) or a run setting (blocks, block_interval, ...). Repeat to sweep a "
                   "grid.")
@_SEED
@click.option("--json", "as_json", is_flag=True,
              help="Print the rows as JSON objects (one list) instead of a table.")
def sweep_command(scenario: Path, params: tuple[str, ...], seed: int | None,
                  as_json: bool) -> None:
    """Run SCENARIO.toml for every combination of --param values and compare them."""
    parsed = [parse_param(p) for p in params]
    console = Console(stderr=True)
    show = console.is_terminal and not as_json
    with console.status("starting", spinner="dots") if show else _Quiet() as status:
        rows = run_sweep(scenario, parsed, seed, started=lambda i, n, settings: status.update(
            f"run {i + 1}/{n}: " + " ".join(f"{k}={v}" for k, v in settings.items())))
    header, table_rows = comparison(rows)
    if as_json:
        click.echo(json.dumps([dict(zip(header, row)) for row in table_rows], indent=2))
        return
    table = Table(title=f"sweep of {scenario.name}")
    for i, column in enumerate(header):
        table.add_column(column, justify="left" if i < len(parsed) else "right")
    for row in table_rows:
        table.add_row(*(_cell(v) for v in row))
    _stdout().print(table)


def _stdout() -> Console:
    console = Console()
    return console if console.is_terminal else Console(width=UNBOUNDED_WIDTH)


class _Quiet:
    """Stands in for a status line when none is shown."""

    def __enter__(self) -> _Quiet:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def update(self, text: str) -> None:
        return None


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.4f}" if abs(value) < 10 else f"{value:,.1f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)
