"""What a run leaves in its output folder: `metrics.json`, the plots, `report.md`, and
`report.html` (the same report as one page, the plots inside it)."""

from __future__ import annotations

import json
from pathlib import Path

from simulation.engine import SimulationResult
from simulation.errors import SimulationError
from simulation.plots import write_plots
from simulation.report import render_html, render_report, report_title


def metrics_json(metrics: dict) -> str:
    return json.dumps(metrics, indent=2) + "\n"


def write_outputs(result: SimulationResult, out: Path, command: str) -> list[Path]:
    """`command` is quoted in the report, so that a reader can rerun it."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / "metrics.json").write_text(metrics_json(result.metrics))
        plots = write_plots(result.metrics, result.finality_s, out)
        report = render_report(result.metrics, command)
        (out / "report.md").write_text(report, encoding="utf-8")
        # The page embeds the very PNG files just written: one rendering of each figure.
        images = {name: (out / name).read_bytes() for name in plots}
        (out / "report.html").write_text(
            render_html(report, report_title(result.metrics), images), encoding="utf-8")
    except OSError as exc:
        raise SimulationError(f"cannot write the results to {out}: {exc.strerror or exc}") from None
    return [out / "metrics.json", *(out / name for name in plots), out / "report.md",
            out / "report.html"]
