"""Sweeps: one scenario run over a grid of settings, compared side by side.

`--param M=1,2,3 --param reward_mode=lottery,split` runs every combination (here six), each with
the scenario's seed, and gives one row per run: the settings, each strategy's ROI, and finality
and liveness figures.
"""

from __future__ import annotations

import itertools
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from simulation.engine import Simulation
from simulation.errors import InvalidSweep, UnknownKey
from simulation.scenario import load_scenario, override_path


@dataclass(frozen=True)
class SweepParam:
    name: str
    path: tuple[str, ...]
    values: tuple[object, ...]


@dataclass(frozen=True)
class SweepRow:
    settings: dict[str, object]
    metrics: dict


def parse_param(text: str) -> SweepParam:
    """`NAME=V1,V2,...`; values are TOML literals (1, 2.5, true), bare words are strings."""
    name, sep, values = text.partition("=")
    if not sep or not name.strip() or not values.strip():
        raise InvalidSweep(f"--param {text!r}: write NAME=VALUE[,VALUE...], e.g. M=1,2,3")
    try:
        path = override_path(name)
    except UnknownKey as exc:
        raise InvalidSweep(f"--param {exc}") from None
    return SweepParam(name.strip(), path, tuple(_literal(v.strip()) for v in values.split(",")))


def _literal(text: str) -> object:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def run_sweep(scenario: Path, params: Sequence[SweepParam], seed: int | None = None,
              started: Callable[[int, int, dict], None] | None = None) -> list[SweepRow]:
    """Every combination of the params' values, in order; `seed` replaces the file's seed (a
    `seed` param replaces both). `started(i, total, settings)` is called before each run."""
    base = {} if seed is None else {("seed",): seed}
    combos = list(itertools.product(*(p.values for p in params)))
    # Every combination is checked before the first runs, so a bad value fails at once.
    loaded = [load_scenario(scenario, {**base, **{p.path: v for p, v in zip(params, combo)}})
              for combo in combos]
    rows = []
    for i, (combo, parsed) in enumerate(zip(combos, loaded)):
        settings = {p.name: v for p, v in zip(params, combo)}
        if started is not None:
            started(i, len(combos), settings)
        rows.append(SweepRow(settings, Simulation(parsed).run().metrics))
    return rows


def comparison(rows: Sequence[SweepRow]) -> tuple[list[str], list[list[object]]]:
    """A header and one row per run: the settings, ROI per strategy, then finality and
    liveness."""
    strategies = list(dict.fromkeys(s for row in rows for s in row.metrics["strategies"]))
    settings = list(rows[0].settings) if rows else []
    header = [*settings, *(f"ROI {s}" for s in strategies), "finality p50 s", "finality p99 s",
              "redraws", "finalized blocks"]
    table = []
    for row in rows:
        m = row.metrics
        table.append([
            *row.settings.values(),
            *(m["strategies"][s]["roi"] if s in m["strategies"] else None for s in strategies),
            m["finality"]["p50_s"], m["finality"]["p99_s"], m["liveness"]["redraws"],
            m["liveness"]["finalized_blocks"],
        ])
    return header, table
