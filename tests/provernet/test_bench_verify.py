"""`provernet bench verify`: real proofs of the small block circuit through the coordinator's
verifier, its JSON line and its refusals of bad options."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from provernet.cli import cli


def test_bench_verify_prints_its_figures(small_circuit, build_cache, monkeypatch):
    monkeypatch.setenv("PROVERNET_CACHE", str(build_cache))
    result = CliRunner().invoke(cli, ["bench", "verify", "--seconds", "0.5", "--batch", "4",
                                      "--threads", "2", "--json"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(figures) == {"proofs", "seconds", "proofs_per_s"}
    assert figures["proofs"] > 0 and figures["seconds"] >= 0.5
    assert figures["proofs_per_s"] == pytest.approx(figures["proofs"] / figures["seconds"],
                                                    rel=0.01)


def test_bench_verify_refuses_bad_options():
    for options in (["--seconds", "0"], ["--batch", "0"], ["--threads", "0"]):
        result = CliRunner().invoke(cli, ["bench", "verify", *options])
        assert result.exit_code == 2 and "Invalid value" in result.output
