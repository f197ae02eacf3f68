"""`provernet bench rollup-gas`: commitBlock of a real block on anvil, its JSON, the figure against
docs/rollup.md's model of what today's Rollup costs, and its refusals of N out of range."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from provernet.cli import cli

#: docs/rollup.md, "Measured: L1 gas": commitBlock of N >= 1 transfers costs FIXED + PER_TRANSFER N
FIXED_GAS, PER_TRANSFER_GAS = 126_450, 47_231
#: the model fits the measured blocks within 20 gas; a block's random data moves its calldata by a
#: few zero bytes (12 gas each). Missing the warm-up block (+17k), the 21,000 base, a transfer
#: or a Poseidon call is far outside.
TOLERANCE_GAS = 200
N = 8


@pytest.mark.anvil
def test_bench_rollup_gas_measures_commit_block_on_anvil(small_circuit, build_cache, monkeypatch):
    monkeypatch.setenv("PROVERNET_CACHE", str(build_cache))
    result = CliRunner().invoke(cli, ["bench", "rollup-gas", "--n", str(N), "--json"])
    assert result.exit_code == 0, result.output
    (line,) = result.stdout.strip().splitlines()
    figure = json.loads(line)
    assert set(figure) == {"n", "commit_gas", "gas_per_transfer", "calldata_bytes", "l1"}
    assert figure["n"] == N
    assert abs(figure["commit_gas"] - (FIXED_GAS + PER_TRANSFER_GAS * N)) <= TOLERANCE_GAS
    assert figure["gas_per_transfer"] == figure["commit_gas"] / N
    # the call's selector, two roots, the array's offset and length, two words a transfer
    assert figure["calldata_bytes"] == 4 + 4 * 32 + N * 2 * 32
    assert figure["l1"].startswith("anvil/")


@pytest.mark.parametrize("n, says", [("0", "0 is not in the range"),
                                     ("65", "the measured rollup takes at most 64")])
def test_bench_rollup_gas_refuses_n_out_of_range(n, says):
    result = CliRunner().invoke(cli, ["bench", "rollup-gas", "--n", n])
    assert result.exit_code == 2 and "Invalid value for --n" in result.output.replace("'", "")
    assert says in result.output
