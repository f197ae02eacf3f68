"""Factories for the contract tests: a deployed market per chain backend, reset between tests."""

from __future__ import annotations

from dataclasses import replace

import pytest
from eth_account import Account

from market_contracts.bindings import Market
from market_contracts.deploy import deploy_market
from market_contracts.rules import MarketParams, RewardMode
from market_contracts.units import ONE_TOKEN

ETH = 10**18


class MarketWorld:
    """A deployed market plus the people around it: an owner, a coordinator, rollers."""

    def __init__(self, chain, params: MarketParams):
        self.chain = chain
        self.owner = chain.dev_accounts[0]
        self.params = params
        self.market = Market(chain, deploy_market(chain, self.owner, params))
        self.coordinator = self.new_account(tokens=0)
        self.market.register_coordinator(self.owner, self.coordinator.address, b"peer-coordinator", "test")

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

    def fund_pool(self, tokens: int) -> None:
        self.market.mint(self.owner, self.owner.address, tokens * ONE_TOKEN)
        self.market.fund_rewards(self.owner, tokens * ONE_TOKEN)


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
def deployed_split_world(chain) -> MarketWorld:
    return MarketWorld(chain, replace(MarketParams.devnet(), reward_mode=RewardMode.SPLIT))


@pytest.fixture
def split_world(deployed_split_world):
    yield from rolled_back(deployed_split_world)
