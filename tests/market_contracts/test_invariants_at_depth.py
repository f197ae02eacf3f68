"""The long run's command (`benchmarks/invariants.py`: the contract-versus-ledger state machine at
depth, on anvil), run small: it runs what it is asked, checks every invariant after every step and
reports its figure. Its 1,000 x 100 run is in docs/reliability.md, "Contract invariants"."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARK = Path(__file__).resolve().parents[2] / "benchmarks" / "invariants.py"


@pytest.mark.anvil
def test_the_long_run_command_reports_sequences_steps_and_failures():
    ran = subprocess.run([sys.executable, str(BENCHMARK), "--sequences", "2", "--depth", "10",
                          "--workers", "2", "--json"], capture_output=True, text=True, timeout=300)
    assert ran.returncode == 0, ran.stderr[-3000:]
    figure = json.loads(ran.stdout)
    assert (figure["sequences"], figure["depth"], figure["failures"]) == (2, 10, 0)
    # hypothesis may open with a few shorter sequences: counted apart, their steps too
    assert 2 * 10 <= figure["steps"] < 2 * 10 + 10 * figure["short_sequences"] + 1
    assert [(w["mode"], w["sequences"]) for w in figure["workers"]] == [("split", 1), ("lottery", 1)]
    assert figure["wall_s"] > 0
