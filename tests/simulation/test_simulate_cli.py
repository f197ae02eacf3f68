"""`provernet simulate` end to end on a tiny scenario: every output written, `--json` printing
metrics.json, `--seed` taking over the file's seed, and `simulate sweep` comparing runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from provernet.cli import cli

TINY = """
name = "tiny"
seed = 4
blocks = 40

[[rollers]]
behaviour = "honest"
count = 4
profile = "gpu-h100"

[[rollers]]
behaviour = "lazy"
count = 1
"""
OUTPUTS = {"metrics.json", "report.md", "report.html", "reward_share.png", "reputation.png",
           "roi.png", "finality.png", "liveness.png"}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def tiny(tmp_path) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(TINY)
    return path


def invoke(*args: str):
    result = CliRunner().invoke(cli, ["simulate", *args])
    assert result.exit_code == 0, result.output
    return result


def test_run_writes_every_output(tiny, tmp_path):
    out = tmp_path / "out"
    result = invoke(str(tiny), "--out", str(out))
    assert {p.name for p in out.iterdir()} == OUTPUTS
    plots = {name for name in OUTPUTS if name.endswith(".png")}
    for name in plots:
        assert (out / name).read_bytes().startswith(PNG_MAGIC), name
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["strategies"]) == {"honest", "lazy"}
    report = (out / "report.md").read_text()
    assert f"`provernet simulate {tiny} --out {out}`" in report
    assert "| honest |" in report and "| lazy |" in report
    assert all(f"]({name})" in report for name in plots)
    assert "honest" in result.stdout and f"to {out}" in result.stdout


def test_json_prints_metrics_and_seed_overrides(tiny, tmp_path):
    out = tmp_path / "out"
    result = invoke(str(tiny), "--out", str(out), "--seed", "9", "--json")
    printed = json.loads(result.stdout)
    assert printed == json.loads((out / "metrics.json").read_text())
    assert printed["scenario"]["seed"] == 9


def test_sweep_compares_every_combination(tiny):
    result = invoke("sweep", str(tiny), "--param", "M=1,2", "--param", "reward_mode=lottery,split",
                    "--json")
    rows = json.loads(result.stdout)
    assert [(r["M"], r["reward_mode"]) for r in rows] == [
        (1, "lottery"), (1, "split"), (2, "lottery"), (2, "split")]
    assert all(r["ROI honest"] > 0 and r["ROI lazy"] == 0 for r in rows)
    table = invoke("sweep", str(tiny), "--param", "m=1,2").stdout
    assert "ROI honest" in table and "finality p50 s" in table


def test_sweep_refuses_an_unknown_setting_or_a_bad_value(tiny):
    result = CliRunner().invoke(cli, ["simulate", "sweep", str(tiny), "--param", "speed=1,2"])
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: --param speed: not a scenario setting")
    result = CliRunner().invoke(cli, ["simulate", "sweep", str(tiny), "--param", "M=1,two"])
    assert result.exit_code == 1
    assert result.stderr == "Error: market.m must be an integer, got 'two' (a string)\n"
