"""Fixtures shared by every test package.

`chain` runs each test that asks for it twice: on the embedded py-evm chain, and on a real
JSON-RPC node (anvil, marked `anvil` so `-m "not anvil"` skips it). It is module-scoped, since
deploying contracts per test is the slow part; tests that change state roll it back with
`chain.snapshot()` / `chain.revert()` (see `fresh_chain`).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from market_contracts.anvil import run_anvil
from market_contracts.chain import Chain, EmbeddedChain, RpcChain


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
