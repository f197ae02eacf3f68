"""`benchmarks/fuzz.py`, the fuzz command, as an operator runs it: a few gossip cases, and the one
JSON line per surface that it promises."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_fuzz_command_prints_one_json_line_per_surface():
    run = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "fuzz.py"), "--cases", "10",
                          "--seed", "3", "--surface", "gossip", "--json"],
                         capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert run.returncode == 0, run.stderr[-2000:]
    (line,) = run.stdout.splitlines()
    result = json.loads(line)
    assert {k: result[k] for k in ("surface", "cases", "crashes", "state_changes", "honest_ok")} == {
        "surface": "gossip", "cases": 10, "crashes": 0, "state_changes": 0, "honest_ok": True}
    assert result["wire_cases"] == 1 and sum(result["rejected"].values()) == 10
