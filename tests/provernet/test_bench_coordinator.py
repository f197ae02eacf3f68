"""`provernet bench coordinator`: the real coordinator on anvil with fixed-delay roller sessions,
a tiny run: its JSON lines, and its refusals of bad options."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from provernet.cli import cli


@pytest.mark.anvil
def test_bench_coordinator_assigns_and_verifies_on_anvil(small_circuit, build_cache,
                                                         monkeypatch):
    monkeypatch.setenv("PROVERNET_CACHE", str(build_cache))
    result = CliRunner().invoke(cli, ["bench", "coordinator", "--sessions", "2,3", "--seconds",
                                      "4", "--block-rate", "2", "--delay", "0.2",
                                      "--poll-interval", "0.1", "--json"])
    assert result.exit_code == 0, result.output
    figures = [json.loads(line) for line in result.stdout.strip().splitlines()[-2:]]
    assert [f["sessions"] for f in figures] == [2, 3]
    for f in figures:
        assert set(f) == {"sessions", "assignments_per_s", "proofs_verified_per_s",
                          "assign_p50_ms", "assign_p99_ms"}
        assert f["assignments_per_s"] > 0 and f["proofs_verified_per_s"] > 0
        assert 0 < f["assign_p50_ms"] <= f["assign_p99_ms"]


def test_bench_coordinator_refuses_bad_options():
    for options in (["--sessions", "0"], ["--sessions", "10,x"], ["--seconds", "0"],
                    ["--block-rate", "0"]):
        result = CliRunner().invoke(cli, ["bench", "coordinator", *options])
        assert result.exit_code == 2 and "Invalid value" in result.output, options
