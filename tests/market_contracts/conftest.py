"""Factories for the contract tests: a deployed market serving a Rollup, per chain backend, reset
between tests.

The Rollup finalizes against `BatchVerifierStub` (it accepts exactly the inputs it is told to
expect), so settlement tests get finalized batches without proving anything; the slashing tests
attach a Rollup with real verifiers instead.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from eth_account import Account

from market_contracts.bindings import Market
from market_contracts.compile import load_artifact
from market_contracts.deploy import deploy_market
from market_contracts.rollup import Rollup, deploy_poseidon, deploy_rollup_contract
from market_contracts.rules import MarketParams, RewardMode, first_block_of, last_block_of
from market_contracts.units import ONE_TOKEN
from zkp.aggregate import AggregateProof

ETH = 10**18
#: Blocks per batch of the test rollups: small, since every block is a commit transaction.
BATCH_SIZE = 2
#: Batches 0..FINALIZED_BATCHES-1 are finalized when the world is made.
FINALIZED_BATCHES = 3
GENESIS_ROOT = 1


class MarketWorld:
    """A deployed market serving one Rollup, plus the people around it: an owner (deployer), a
    sequencer, a coordinator bound to the rollup, rollers."""

    def __init__(self, chain, params: MarketParams):
        self.chain = chain
        self.owner = chain.dev_accounts[0]
        self.params = params
        deployment = deploy_market(chain, self.owner, params)
        self.market = Market(chain, deployment)
        self.stub = chain.deploy(self.owner, load_artifact("BatchVerifierStub"))
        self.poseidon = deploy_poseidon(chain, self.owner)
        self.sequencer = self.new_account(tokens=0)
        self.rollup = self.add_rollup()
        self.market = Market(chain, replace(deployment, rollup=replace(
            self.rollup.deployment(), block_verifier=self.stub.address)))
        self.coordinator = self.new_coordinator()
        self.finalize_through(FINALIZED_BATCHES - 1)

    batch_size = BATCH_SIZE
    finalized_batches = FINALIZED_BATCHES

    @staticmethod
    def first_block(batch: int) -> int:
        return first_block_of(batch, BATCH_SIZE)

    def add_rollup(self) -> Rollup:
        """A new Rollup (batches of BATCH_SIZE) that the market serves; the stub stands in for
        its block verifier, which only slashing calls."""
        rollup = deploy_rollup_contract(
            self.chain, self.owner, sequencer=self.sequencer.address, verifier=self.stub.address,
            poseidon=self.poseidon, genesis_root=GENESIS_ROOT, batch_size=BATCH_SIZE,
            max_transfers=1)
        self.market.add_rollup(self.owner, rollup.address, self.stub.address)
        return rollup

    def new_coordinator(self, rollup: Rollup | None = None):
        account = self.new_account(tokens=0)
        self.market.register_coordinator(self.owner, account.address, b"peer-" + account.address.encode(),
                                         "test", (rollup or self.rollup).address)
        return account

    def commit(self, rollup: Rollup | None = None):
        """Commit the next (empty) block; its new root is one more than the last."""
        rollup = rollup or self.rollup
        last = rollup.block(rollup.last_committed())
        return rollup.commit_block(self.sequencer, last.new_root, last.new_root + 1, [])

    def finalize_through(self, batch: int, rollup: Rollup | None = None) -> None:
        """Commit and finalize every batch up to `batch`."""
        rollup = rollup or self.rollup
        while rollup.last_committed() < last_block_of(batch, BATCH_SIZE):
            self.commit(rollup)
        provers = [self.owner.address] * BATCH_SIZE
        proof = AggregateProof(a=((1, 2),) * BATCH_SIZE, b=(((1, 2), (3, 4)),) * BATCH_SIZE, c=(1, 2))
        while rollup.last_finalized() < last_block_of(batch, BATCH_SIZE):
            first = rollup.last_finalized() + 1
            self.chain.transact(self.owner, self.stub.functions.expect(
                rollup.batch_inputs(first, provers)))
            rollup.finalize_batch(self.owner, first, provers, proof)

    def new_account(self, tokens: int = 1_000):
        account = Account.create()
        self.chain.send_eth(self.owner, account.address, 10 * ETH)
        if tokens:
            self.market.mint(self.owner, account.address, tokens * ONE_TOKEN)
        return account

    def new_roller(self, stake_tokens: int = 200, tokens: int = 1_000):
        account = self.new_account(tokens)
        self.market.stake(account, stake_tokens * ONE_TOKEN)
        return account

    def fund_pool(self, tokens: int, rollup: Rollup | None = None) -> None:
        self.market.mint(self.owner, self.owner.address, tokens * ONE_TOKEN)
        self.market.fund_rewards(self.owner, tokens * ONE_TOKEN, (rollup or self.rollup).address)


def rolled_back(world: MarketWorld):
    """Hands the world to one test and undoes whatever the test did."""
    snapshot = world.chain.snapshot()
    yield world
    world.chain.revert(snapshot)


@pytest.fixture(scope="module")
def deployed_world(chain) -> MarketWorld:
    return MarketWorld(chain, MarketParams.devnet())


@pytest.fixture
def world(deployed_world):
    yield from rolled_back(deployed_world)


@pytest.fixture(scope="module")
def deployed_lottery_world(chain) -> MarketWorld:
    return MarketWorld(chain, MarketParams.devnet().replace(reward_mode=RewardMode.LOTTERY))


@pytest.fixture
def lottery_world(deployed_lottery_world):
    yield from rolled_back(deployed_lottery_world)
