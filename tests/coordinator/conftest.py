"""A real coordinator's world on the embedded chain, for the tests that run the service."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from eth_account.signers.local import LocalAccount

from factories import stub_rollup_world
from market_contracts.chain import EmbeddedChain
from market_contracts.deploy import Deployment
from market_contracts.rollup import Rollup
from market_contracts.rules import MarketParams
from provernet.world import World

PARAMS = MarketParams.devnet()


@dataclass(frozen=True)
class CoordinatorWorld:
    chain: EmbeddedChain
    #: the market's contracts and the Rollup
    deployment: Deployment
    rollup: Rollup
    #: the Rollup's sequencer, which commits blocks
    sequencer: LocalAccount
    #: a registered coordinator, bound to the Rollup
    coordinator: LocalAccount
    #: what built it, for a test's further steps (staking rollers)
    built: World


@pytest.fixture
def coordinator_world() -> CoordinatorWorld:
    """A market and a Rollup (verifier a stub: no proof is checked here) with a registered
    coordinator, on a fresh embedded chain."""
    chain = EmbeddedChain()
    world, sequencer, coordinator = stub_rollup_world(chain, PARAMS)
    return CoordinatorWorld(chain, world.deployment, world.rollup, sequencer, coordinator, world)
