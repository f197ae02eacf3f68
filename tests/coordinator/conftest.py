"""A real coordinator's world on the embedded chain, for the tests that run the service."""

from __future__ import annotations

from dataclasses import dataclass, replace

import pytest
from eth_account.signers.local import LocalAccount

from market_contracts.bindings import Market
from market_contracts.chain import EmbeddedChain
from market_contracts.compile import load_artifact
from market_contracts.deploy import Deployment, deploy_market
from market_contracts.rollup import Rollup, deploy_poseidon, deploy_rollup_contract
from market_contracts.rules import MarketParams

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


@pytest.fixture
def coordinator_world() -> CoordinatorWorld:
    """A market and a Rollup (verifier a stub: no proof is checked here) with a registered
    coordinator, on a fresh embedded chain."""
    chain = EmbeddedChain()
    owner, sequencer, coordinator = chain.dev_accounts[:3]
    deployment = deploy_market(chain, owner, PARAMS)
    stub = chain.deploy(owner, load_artifact("BatchVerifierStub"))
    rollup = deploy_rollup_contract(chain, owner, sequencer=sequencer.address,
                                    verifier=stub.address, poseidon=deploy_poseidon(chain, owner),
                                    genesis_root=1, batch_size=PARAMS.k, max_transfers=1)
    market = Market(chain, deployment)
    market.add_rollup(owner, rollup.address, stub.address)
    market.register_coordinator(owner, coordinator.address, b"peer", "test", rollup.address)
    return CoordinatorWorld(chain, replace(deployment, rollup=rollup.deployment()), rollup,
                            sequencer, coordinator)
