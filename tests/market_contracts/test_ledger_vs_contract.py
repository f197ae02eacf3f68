"""Random operation sequences through RollerStaking and through the pure ledger, side by side.

After every step the chain and the model must agree on every roller's stake, unbonding,
reputation, pause state, weight and claimable rewards, on token balances and on the totals; a
step one refuses the other must refuse for the same reason. The same run checks the
contract's invariants: the tokens it holds are exactly active + unbonding + pool + claimable
(so total staked is the sum of the stakes), nothing is withdrawn before its release time
(the model refuses it), nothing settles twice and only coordinators settle.
"""

from __future__ import annotations

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from market_contracts.errors import TransactionFailed
from market_contracts.ledger import Ledger, OutcomeReport, Rejected, sort_outcomes
from market_contracts.rules import Outcome, TaskKind, block_seed
from market_contracts.units import ONE_TOKEN

ROLLERS = 4
WALLET_TOKENS = 1_000
POOL_TOKENS = 35  # small, so that the pool runs dry during a run
# Amounts around the boundaries that matter (MIN_STAKE is 100 tokens).
AMOUNTS = st.sampled_from([0, 1, 50, 99, 100, 101, 150, 400, 1_200]).map(lambda t: t * ONE_TOKEN)
WHO = st.integers(0, ROLLERS - 1)
PAUSES = st.sampled_from([1, 29, 59, 60, 61, 200])  # UNBONDING is 60 s

assignments = st.lists(
    st.tuples(WHO, st.sampled_from(TaskKind), st.integers(0, 3), st.integers(0, 1), st.sampled_from(Outcome)),
    max_size=6,
)


@pytest.fixture(scope="module")
def prepared(deployed_world):
    """The deployed market plus rollers with wallets and a small reward pool: each run starts here."""
    world = deployed_world
    snapshot = world.chain.snapshot()
    accounts = [world.new_account(tokens=WALLET_TOKENS) for _ in range(ROLLERS)]
    for account in accounts:
        # One transaction per step keeps the chain's block times equal to the model's clock.
        world.chain.transact(account, world.market.token.functions.approve(world.market.staking.address, 2**256 - 1))
    world.fund_pool(POOL_TOKENS)
    yield world, accounts
    world.chain.revert(snapshot)


class MarketMachine(RuleBasedStateMachine):
    def __init__(self, world, accounts):
        super().__init__()
        self.world, self.market, self.chain = world, world.market, world.chain
        self.accounts = accounts
        self.snapshot = self.chain.snapshot()
        self.now = self.chain.latest_timestamp() + 1
        self.ledger = Ledger(params=world.params, coordinators={world.coordinator.address},
                             reward_pool=POOL_TOKENS * ONE_TOKEN)
        for account in accounts:
            self.ledger.mint(account.address, WALLET_TOKENS * ONE_TOKEN)

    def teardown(self):
        self.chain.revert(self.snapshot)

    def both(self, on_chain, in_model):
        """Runs one step on both sides at the same block time; they must agree on refusal."""
        self.now += 1
        self.chain.set_next_block_timestamp(self.now)
        chain_reason = model_reason = None
        try:
            on_chain()
        except TransactionFailed as exc:
            chain_reason = exc.reason
            self.chain.mine()  # the failed step mined nothing; keep the clock where the model is
        try:
            in_model()
        except Rejected as exc:
            model_reason = exc.reason
        assert chain_reason == model_reason

    @rule(who=WHO, amount=AMOUNTS)
    def stake(self, who, amount):
        a = self.accounts[who]
        self.both(lambda: self.market.stake(a, amount), lambda: self.ledger.stake(a.address, amount))

    @rule(who=WHO, amount=AMOUNTS)
    def unstake(self, who, amount):
        a = self.accounts[who]
        self.both(lambda: self.market.request_unstake(a, amount),
                  lambda: self.ledger.request_unstake(a.address, amount, self.now))

    @rule(who=WHO)
    def withdraw(self, who):
        a = self.accounts[who]
        self.both(lambda: self.market.withdraw(a), lambda: self.ledger.withdraw(a.address, self.now))

    @rule(who=WHO)
    def pause(self, who):
        a = self.accounts[who]
        self.both(lambda: self.market.pause(a), lambda: self.ledger.pause(a.address))

    @rule(who=WHO)
    def resume(self, who):
        a = self.accounts[who]
        self.both(lambda: self.market.resume(a), lambda: self.ledger.resume(a.address))

    @rule(who=WHO, amount=AMOUNTS)
    def fund_rewards(self, who, amount):
        a = self.accounts[who]
        self.both(lambda: self.market.fund_rewards(a, amount), lambda: self.ledger.fund_rewards(a.address, amount))

    @rule(who=WHO)
    def claim(self, who):
        a = self.accounts[who]
        self.both(lambda: self.market.claim(a), lambda: self.ledger.claim(a.address))

    @rule(seconds=PAUSES)
    def wait(self, seconds):
        self.now += seconds

    @rule(batch=st.integers(0, 3), rows=assignments, sort=st.booleans(), by_coordinator=st.booleans())
    def settle(self, batch, rows, sort, by_coordinator):
        outcomes = [
            OutcomeReport(self.accounts[who].address, kind, task, round_, outcome,
                          block_seed(31337, self.market.staking.address, task, round_, b"\x07" * 32))
            for who, kind, task, round_, outcome in rows
        ]
        if sort:
            outcomes = sort_outcomes(outcomes)
        caller = self.world.coordinator if by_coordinator else self.accounts[0]
        self.both(lambda: self.market.settle(caller, batch, outcomes),
                  lambda: self.ledger.settle(caller.address, batch, outcomes))

    @invariant()
    def chain_matches_model(self):
        for account in self.accounts:
            info = self.market.roller_info(account.address)
            model = self.ledger.roller(account.address)
            assert (info.active, info.unbonding, info.rep, info.paused, info.registered) == (
                model.active, model.unbonding_total, model.rep, model.paused, model.registered)
            assert info.weight == self.ledger.weight_of(account.address)
            assert info.claimable == self.ledger.claimable.get(account.address, 0)
            assert self.market.token_balance(account.address) == self.ledger.wallets[account.address]
        assert self.market.roster() == self.ledger.roster()
        totals = self.market.totals()
        assert totals == {"active": self.ledger.total_active, "unbonding": self.ledger.total_unbonding,
                          "reward_pool": self.ledger.reward_pool, "claimable": self.ledger.total_claimable}
        held = self.market.token_balance(self.market.staking.address)
        assert held == sum(totals.values())


def test_contract_and_ledger_agree_on_random_operation_sequences(prepared):
    world, accounts = prepared
    run_state_machine_as_test(
        lambda: MarketMachine(world, accounts),
        settings=settings(max_examples=10, stateful_step_count=15, deadline=None),
    )
