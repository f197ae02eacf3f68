"""Random operation sequences through RollerStaking and through the pure ledger, side by side.

After every step the chain and the model must agree on every roller's stake, unbonding,
reputation, pause state, weight and claimable rewards, on token balances and on the totals; a
step one refuses the other must refuse for the same reason. The same run checks the
contract's invariants: the tokens it holds are exactly active + unbonding + pool + claimable
(so total staked is the sum of the stakes), nothing is withdrawn before its release time
(the model refuses it), nothing settles twice and only coordinators settle, and the token's
supply falls by exactly what slashing burned.

Slashing runs against a Rollup with two committed blocks and a real generated verifier; the
proofs signed here have a coordinate not below q, which the verifier refuses before any pairing,
so a slash costs no pairing check on the embedded chain.
"""

from __future__ import annotations

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from py_ecc import optimized_bn128 as bn

from market_contracts.compile import load_artifact
from market_contracts.errors import TransactionFailed
from market_contracts.ledger import Ledger, OutcomeReport, Rejected, sort_outcomes
from market_contracts.rollup import deploy_poseidon, deploy_rollup_contract
from market_contracts.rules import Outcome, TaskKind, block_seed
from market_contracts.submissions import SlashEvidence
from market_contracts.units import ONE_TOKEN
from market_contracts.verifiers import deploy_verifier
from zkp.field import Q
from zkp.proof import Proof, VerificationKey

ROLLERS = 4
WALLET_TOKENS = 1_000
POOL_TOKENS = 35  # small, so that the pool runs dry during a run
# Amounts around the boundaries that matter (MIN_STAKE is 100 tokens).
AMOUNTS = st.sampled_from([0, 1, 50, 99, 100, 101, 150, 400, 1_200]).map(lambda t: t * ONE_TOKEN)
WHO = st.integers(0, ROLLERS - 1)
PAUSES = st.sampled_from([1, 29, 59, 60, 61, 200])  # UNBONDING is 60 s

#: Committed L2 blocks: (old root, new root), posting no data (data hash 0).
ROOTS = {1: (0, 11), 2: (11, 22)}
#: Refused by the verifier before any pairing: a coordinate not below q.
INVALID_PROOF = Proof(a=(Q, 0), b=((0, 0), (0, 0)), c=(0, 0))

assignments = st.lists(
    st.tuples(WHO, st.sampled_from(TaskKind), st.integers(0, 3), st.integers(0, 1), st.sampled_from(Outcome)),
    max_size=6,
)


def any_key() -> VerificationKey:
    """A key of four public inputs, as the block circuit's; its points do not matter here."""
    x, y = bn.normalize(bn.G2)
    g1, g2 = (1, 2), (tuple(x.coeffs), tuple(y.coeffs))
    return VerificationKey(g1, g2, g2, g2, (g1,) * 5)


@pytest.fixture(scope="module")
def prepared(deployed_world):
    """The deployed market with slashing wired to a Rollup holding blocks 1 and 2, plus rollers
    with wallets and a small reward pool: each run starts here."""
    world = deployed_world
    snapshot = world.chain.snapshot()
    chain, owner = world.chain, world.owner
    rollup = deploy_rollup_contract(
        chain, owner, sequencer=owner.address,
        verifier=chain.deploy(owner, load_artifact("BatchVerifierStub")).address,
        poseidon=deploy_poseidon(chain, owner), genesis_root=0, batch_size=2, max_transfers=1)
    world.market.set_rollup(owner, rollup.address, deploy_verifier(chain, owner, any_key()).address)
    for old_root, new_root in ROOTS.values():
        rollup.commit_block(owner, old_root, new_root, [])
    world.rollup = rollup
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
        self.supply = self.market.token_supply()

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

    @rule(who=WHO, reporter=WHO, block=st.sampled_from(sorted(ROOTS)), round_=st.integers(0, 1))
    def slash(self, who, reporter, block, round_):
        roller, sender = self.accounts[who], self.accounts[reporter]
        evidence = SlashEvidence.signed(
            roller, chain_id=self.chain.chain_id, rollup=self.world.rollup.address,
            staking=self.market.staking.address, index=block, round_=round_, proof=INVALID_PROOF,
            public_inputs=[*ROOTS[block], 0, int(roller.address, 16)])
        self.both(lambda: self.market.slash_invalid_proof(sender, evidence),
                  lambda: self.ledger.slash(roller.address, sender.address, evidence.offense_key()))

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
        assert self.market.token_supply() == self.supply - self.ledger.burned


def test_contract_and_ledger_agree_on_random_operation_sequences(prepared):
    world, accounts = prepared
    run_state_machine_as_test(
        lambda: MarketMachine(world, accounts),
        settings=settings(max_examples=10, stateful_step_count=15, deadline=None),
    )


def test_contract_and_ledger_agree_on_slashing(prepared):
    """Random runs seldom slash a roller that has stake; this one does, step by step: active stake
    first, then unbonding entries newest first (released ones last), once per offense, a roller
    reporting itself, and restaking after a slash (reputation stays 0)."""
    world, accounts = prepared
    machine = MarketMachine(world, accounts)
    tokens = ONE_TOKEN
    steps = [
        (machine.stake, {"who": 0, "amount": 400 * tokens}),
        (machine.stake, {"who": 1, "amount": 150 * tokens}),
        (machine.unstake, {"who": 0, "amount": 150 * tokens}),
        (machine.unstake, {"who": 0, "amount": 200 * tokens}),
        (machine.wait, {"seconds": 61}),
        (machine.unstake, {"who": 0, "amount": 30 * tokens}),
        # 40 of 400: the 20 active, then 20 of the newest entry (30 -> 10)
        (machine.slash, {"who": 0, "reporter": 1, "block": 1, "round_": 0}),
        (machine.slash, {"who": 0, "reporter": 2, "block": 1, "round_": 1}),  # AlreadySlashed
        # 36 of 360: the newest entry's 10, then 26 of the released 200
        (machine.slash, {"who": 0, "reporter": 2, "block": 2, "round_": 0}),
        (machine.withdraw, {"who": 0}),
        (machine.slash, {"who": 1, "reporter": 1, "block": 2, "round_": 1}),
        (machine.slash, {"who": 3, "reporter": 1, "block": 1, "round_": 0}),  # UnknownRoller
        (machine.stake, {"who": 0, "amount": 100 * tokens}),
    ]
    try:
        for step, arguments in steps:
            step(**arguments)
            machine.chain_matches_model()
        # 90% of each slash: 40, 36 and 15 tokens
        assert machine.ledger.burned == 819 * tokens // 10
    finally:
        machine.teardown()
