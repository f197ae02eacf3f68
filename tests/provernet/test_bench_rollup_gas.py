"""`provernet bench rollup-gas`: commitBlock of a real block on anvil, its JSON, the figure against
a model of the reworked Rollup (docs/rollup-data.md: the 21,000 base, the calldata as EIP-7623
prices it, and the execution: four overwritten slots, the event, SHA-256 and the records), issue
13's targets at N = 16 and 64, no access list, and its refusals of N out of range."""

from __future__ import annotations

import json
import random

import pytest
from click.testing import CliRunner

from provernet.cli import cli
from provernet.rollup_gas import SEED, posted_transfers
from sequencer.block_data import calldata
from zkp.field import R

#: commitBlock's execution for a block of N transfers (measured: 23,008 at N = 4, 23,131 at 16,
#: 23,727 at 64 on anvil 1.7.1, Bpo1): the four overwritten slots (20,000 with the cold read),
#: the event (1,006: its number as data), SHA-256 of the body (about 600 with the records' copy)
#: and the call's own work (dispatch, ABI decoding, checks: about 1,300), then the records' ops,
#: read three a word
EXECUTION_FIXED, EXECUTION_PER_TRANSFER = 22_950, 12
#: the model fits within this; a transfer more or less is 300 gas or more, a slot 5,000
TOLERANCE_GAS = 150
#: EIP-7623: a transaction pays at least 10 gas a calldata token, else 4 a token plus execution
STANDARD_GAS_PER_TOKEN, FLOOR_GAS_PER_TOKEN, BASE_GAS = 4, 10, 21_000
#: issue 13's targets: at most 3,000 gas a transfer in a block of 16, 1,000 in one of 64
TARGET_GAS_PER_TRANSFER = {16: 3_000, 64: 1_000}


def bench(n: int) -> dict:
    result = CliRunner().invoke(cli, ["bench", "rollup-gas", "--n", str(n), "--json"])
    assert result.exit_code == 0, result.output
    (line,) = result.stdout.strip().splitlines()
    return json.loads(line)


def tokens_of(n: int) -> int:
    """EIP-7623's calldata tokens of the bench's commit of n transfers (the same seeded block)."""
    rng = random.Random(f"{SEED}-{n}")
    data = calldata(posted_transfers(n, rng))
    root = rng.randrange(R)
    call = (bytes(4)  # the selector: four nonzero bytes in fact, counted below
            + root.to_bytes(32, "big") + (64).to_bytes(32, "big") + len(data).to_bytes(32, "big")
            + data.ljust(-(-len(data) // 32) * 32, b"\0"))
    return 4 * 4 + sum(1 if byte == 0 else 4 for byte in call[4:])


@pytest.mark.anvil
@pytest.mark.parametrize("n", [8, *TARGET_GAS_PER_TRANSFER])
def test_bench_rollup_gas_measures_commit_block_on_anvil(small_circuit, build_cache, monkeypatch, n):
    monkeypatch.setenv("PROVERNET_CACHE", str(build_cache))
    figure = bench(n)
    assert set(figure) == {"n", "commit_gas", "gas_per_transfer", "calldata_bytes", "access_list",
                           "l1"}
    assert figure["n"] == n
    tokens = tokens_of(n)
    model = BASE_GAS + max(STANDARD_GAS_PER_TOKEN * tokens + EXECUTION_FIXED + EXECUTION_PER_TRANSFER * n,
                           FLOOR_GAS_PER_TOKEN * tokens)
    assert abs(figure["commit_gas"] - model) <= TOLERANCE_GAS, (figure, model)
    assert figure["gas_per_transfer"] == figure["commit_gas"] / n
    # the selector, the root, the bytes' offset and length, then the count byte and 11 bytes a
    # transfer, padded to words
    assert figure["calldata_bytes"] == 4 + 3 * 32 + -(-(1 + 11 * n) // 32) * 32
    assert figure["l1"].startswith("anvil/")
    # sent as the binding sends it: an access list would cost more than it saves
    assert figure["access_list"] is False
    if n in TARGET_GAS_PER_TRANSFER:
        assert figure["gas_per_transfer"] <= TARGET_GAS_PER_TRANSFER[n]


@pytest.mark.parametrize("n, says", [("0", "0 is not in the range"),
                                     ("65", "the measured rollup takes at most 64")])
def test_bench_rollup_gas_refuses_n_out_of_range(n, says):
    result = CliRunner().invoke(cli, ["bench", "rollup-gas", "--n", n])
    assert result.exit_code == 2 and "Invalid value for --n" in result.output.replace("'", "")
    assert says in result.output
