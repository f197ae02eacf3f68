"""`provernet bench farm`, run for real in a process of its own: its own throwaway PostgreSQL, a
worker process, the small block circuit proven in process and on the farm; its JSON line, and
its refusals of bad options."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from provernet.cli import cli

PROVERNET = Path(sys.executable).parent / "provernet"


@pytest.mark.postgres
def test_bench_farm_prints_its_figures(small_circuit, build_cache):
    done = subprocess.run(
        [PROVERNET, "bench", "farm", "--workers", "1", "--seconds", "2", "--json"],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "PROVERNET_CACHE": str(build_cache)})
    assert done.returncode == 0, done.stderr[-3000:]
    (line,) = done.stdout.strip().splitlines()  # exactly one object: nothing else on stdout
    figures = json.loads(line)
    assert figures["workers"] == 1 and figures["threads_per_worker"] == 1
    assert figures["seconds"] == 2
    assert figures["proofs"] > 0
    assert figures["proofs_per_s"] == pytest.approx(figures["proofs"] / figures["seconds"],
                                                    rel=0.01)
    # One job at a time, a farm proof takes at least the worker's own proof, and more than
    # nothing in process.
    assert figures["farm_latency_s"] >= figures["worker_proof_s"] > 0
    assert figures["in_process_latency_s"] > 0
    assert figures["in_process_proofs_per_s"] == pytest.approx(
        1 / figures["in_process_latency_s"], rel=0.01)
    assert figures["overhead_ms"] == pytest.approx(
        (figures["farm_latency_s"] - figures["in_process_latency_s"]) * 1000, abs=2)
    assert figures["queue_ms"] == pytest.approx(
        (figures["farm_latency_s"] - figures["worker_proof_s"]) * 1000, abs=2)
    assert f"{os.cpu_count()} cores" in figures["machine"]


def test_bench_farm_refuses_bad_options():
    for options in (["--workers", "0"], ["--seconds", "0"], ["--threads", "0"]):
        result = CliRunner().invoke(cli, ["bench", "farm", *options])
        assert result.exit_code == 2 and "Invalid value" in result.output, result.output
