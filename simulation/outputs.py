"""What a run leaves in its output folder: `metrics.json`, the plots, and `report.md`."""

from __future__ import annotations

import json
from pathlib import Path

from simulation.engine import SimulationResult
from simulation.errors import SimulationError
from simulation.plots import write_plots
from simulation.report import render_report


def metrics_json(metrics: dict) -> str:
    return json.dumps(metrics, indent=2) + "\n"


def write_outputs(result: SimulationResult, out: Path, command: str) -> list[Path]:
    """`command` is quoted in the report, so that a reader can rerun it."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / "metrics.json").write_text(metrics_json(result.metrics))
        plots = write_plots(result.metrics, result.finality_s, out)
        (out / "report.md").write_text(render_report(result.metrics, command))
    except OSError as exc:
        raise SimulationError(f"cannot write the results to {out}: {exc.strerror or exc}") from None
    return [out / "metrics.json", *(out / name for name in plots), out / "report.md"]
