"""Fixtures shared by every test package.

`chain` runs each test that asks for it twice: on the embedded py-evm chain, and on a real
JSON-RPC node (anvil, marked `anvil` so `-m "not anvil"` skips it). It is module-scoped, since
deploying contracts per test is the slow part; tests that change state roll it back with
`chain.snapshot()` / `chain.revert()` (see `fresh_chain`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from market_contracts.anvil import run_anvil
from market_contracts.chain import Chain, EmbeddedChain, RpcChain
from postgres import db, postgres_database, postgres_server  # noqa: F401 (fixtures, see there)
from zkp.builds import CircuitBuild, build_block_circuit


@pytest.fixture(scope="module",
                params=["embedded", pytest.param("anvil", marks=pytest.mark.anvil)])
def chain(request) -> Iterator[Chain]:
    if request.param == "embedded":
        yield EmbeddedChain()
        return
    with run_anvil() as node:
        yield RpcChain(node.url)


@pytest.fixture
def fresh_chain(chain: Chain) -> Iterator[Chain]:
    """`chain`, with whatever the test does undone afterwards."""
    snapshot = chain.snapshot()
    yield chain
    chain.revert(snapshot)


# The worked cases of docs/market-spec.md, written by `python -m market_contracts.vectors`
# (tests/market_contracts/test_rules.py checks that it still writes this file byte for byte).
@pytest.fixture(scope="session")
def vectors_path() -> Path:
    return Path(__file__).resolve().parent / "vectors/market-vectors.json"


@pytest.fixture(scope="session")
def vectors(vectors_path: Path) -> dict:
    return json.loads(vectors_path.read_text())


@pytest.fixture(scope="session")
def build_cache(tmp_path_factory) -> Path:
    """One cache of compiled circuits and keys for the whole run, shared by the xdist workers
    (its builds are content-addressed and made under a lock), so each circuit compiles once."""
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if "PYTEST_XDIST_WORKER" in os.environ else base
    return shared / "provernet-cache"


@pytest.fixture(scope="session")
def small_circuit(build_cache: Path) -> CircuitBuild:
    """The `small` block circuit profile (2 transfers, depth 8) with its development key, as the
    devnet builds it: about 20 s the first time in a run."""
    return build_block_circuit("small", build_cache)
