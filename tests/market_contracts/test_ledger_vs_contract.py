"""Random operation sequences through RollerStaking v2 and through the pure ledger, side by side.

After every step the chain and the model must agree on every roller's stake, unbonding,
reputation, pause state, weight and claimable rewards, on token balances, on each Rollup's reward
pool, and on the totals; after a settlement or a draw, on that batch's settled flag and pending
lottery. A step one refuses the other must refuse for the same reason. The same run checks the
contract's invariants: the tokens it holds are exactly active + unbonding + pools + claimable,
nothing is withdrawn before its release time, nothing settles twice or before it is finalized,
only a Rollup's own coordinators settle its batches, and the token's supply falls by exactly
what slashing burned.

Two Rollups run over the stub batch verifier (it accepts the inputs it is told to expect, so a
batch finalizes without a proof): `finalize` moves a Rollup's `lastFinalized` on chain and tells
the ledger. A settlement report is built valid and then, most of the time, spoiled in one named
way, so that every refusal of the spec is met beside accepted reports.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from market_contracts.errors import TransactionFailed
from market_contracts.ledger import Ledger, OutcomeReport, Rejected, lottery_entries, max_slots, sort_outcomes
from market_contracts.rollup import Rollup
from market_contracts.rules import (
    MAX_UNBONDING_ENTRIES,
    Outcome,
    TaskKind,
    first_block_of,
    last_block_of,
    randomness_source,
)
from market_contracts.units import ONE_TOKEN

ROLLERS = 4
WALLET_TOKENS = 1_000
POOL_TOKENS = 35  # small, so that a pool runs dry during a run
#: Batches a Rollup finalizes at most in a run.
BATCHES = 5
# Amounts around the boundaries that matter (MIN_STAKE is 100 tokens).
AMOUNTS = st.sampled_from([0, 1, 50, 99, 100, 101, 150, 400, 1_200]).map(lambda t: t * ONE_TOKEN)
WHO = st.integers(0, ROLLERS - 1)
WHICH_ROLLUP = st.integers(0, 1)
#: Around UNBONDING (1 200 s at the devnet defaults).
WAITS = st.sampled_from([1, 600, 1_199, 1_200, 1_201])

#: How a valid report is spoiled before it is sent: each is one refusal of the spec ("none" and
#: "other rollup's coordinator" may well be accepted).
SPOILS = ["none", "none", "none", "unfinalized", "empty", "unsorted", "duplicate", "outside the batch",
          "other batch's aggregation", "round too large", "no slots", "too many slots",
          "invalid outcome", "unknown roller", "other rollup's coordinator",
          "rollup not enabled", "not a coordinator"]

#: A record before its roller is chosen: (roller index, kind, block offset in the batch (modulo
#: its size), round, slots, outcome); slots are cut to what the round allows.
RECORDS = st.lists(
    st.tuples(WHO, st.sampled_from(TaskKind), st.integers(0, 7), st.integers(0, 3),
              st.integers(1, 2), st.sampled_from([Outcome.ON_TIME, Outcome.LATE, Outcome.MISSED])),
    min_size=1, max_size=6,
)


@dataclass
class Stage:
    """What each run starts from: the world's market serving its Rollup (batches 0..2 finalized)
    and a second one (nothing committed), a coordinator bound to each, one bound to an address
    that is no enabled Rollup, rollers with wallets, and small reward pools."""

    world: object
    rollups: list[Rollup]
    coordinators: list[LocalAccount]
    stranger: LocalAccount
    accounts: list[LocalAccount]


def stage(world) -> Stage:
    second = world.add_rollup()
    rollups = [world.rollup, second]
    coordinators = [world.coordinator, world.new_coordinator(second)]
    stranger = world.new_account(tokens=0)
    world.market.register_coordinator(world.owner, stranger.address, b"peer", "test", world.stub.address)
    accounts = [world.new_account(tokens=WALLET_TOKENS) for _ in range(ROLLERS)]
    for account in accounts:
        # Approved once, so that each step is one transaction, whose block time is the model's.
        world.chain.transact(account, world.market.token.functions.approve(world.market.staking.address, 2**256 - 1))
    for rollup in rollups:
        world.fund_pool(POOL_TOKENS, rollup)
    return Stage(world, rollups, coordinators, stranger, accounts)


def staged(world):
    snapshot = world.chain.snapshot()
    yield stage(world)
    world.chain.revert(snapshot)


@pytest.fixture(scope="module")
def split_stage(deployed_world):
    yield from staged(deployed_world)


@pytest.fixture(scope="module")
def lottery_stage(deployed_lottery_world):
    yield from staged(deployed_lottery_world)


class MarketMachine(RuleBasedStateMachine):
    def __init__(self, stage: Stage):
        super().__init__()
        self.world, self.market, self.chain = stage.world, stage.world.market, stage.world.chain
        self.accounts, self.rollups, self.coordinators = stage.accounts, stage.rollups, stage.coordinators
        self.stranger = stage.stranger
        self.snapshot = self.chain.snapshot()
        self.now = self.chain.latest_timestamp()
        self.ledger = Ledger(params=self.world.params)
        owner = self.world.owner.address
        self.ledger.mint(owner, len(self.rollups) * POOL_TOKENS * ONE_TOKEN)
        for rollup, coordinator in zip(self.rollups, self.coordinators):
            self.ledger.add_rollup(rollup.address, rollup.batch_size())
            self.ledger.register_coordinator(coordinator.address, rollup.address)
            self.ledger.finalize(rollup.address, rollup.last_finalized())
            self.ledger.fund_rewards(owner, rollup.address, POOL_TOKENS * ONE_TOKEN)
        self.ledger.register_coordinator(self.stranger.address, self.world.stub.address)
        for account in self.accounts:
            self.ledger.mint(account.address, WALLET_TOKENS * ONE_TOKEN)
        #: a roller that never stakes
        self.outsider = Account.create().address
        #: what each accepted lottery settlement committed to, by (rollup, batch)
        self.entries: dict[tuple[str, int], list] = {}
        self.supply = self.market.token_supply()
        #: why the last step was refused, None if it was not
        self.last_reason: str | None = None

    def teardown(self):
        self.chain.revert(self.snapshot)

    def next_block(self) -> int:
        """The L1 block the next step's transaction lands in: each step mines exactly one."""
        return self.chain.w3.eth.block_number + 1

    def both(self, on_chain, in_model):
        """Runs one step on both sides at the same block time; they must agree on refusal."""
        self.now += 1
        self.chain.set_next_block_timestamp(self.now)
        chain_reason = model_reason = None
        block = self.next_block()
        try:
            on_chain()
        except TransactionFailed as exc:
            chain_reason = exc.reason
            if self.next_block() == block:
                # Refused before it was mined: mine its block, so the clock stays the model's.
                self.chain.mine()
        try:
            in_model()
        except Rejected as exc:
            model_reason = exc.reason
        assert chain_reason == model_reason
        self.last_reason = model_reason
        return model_reason is None

    @initialize()
    def rollers_staked_and_first_batches_finalized(self):
        """Random runs start where settlements can be accepted: three rollers staked and batch 0
        of both Rollups finalized."""
        for who in range(3):
            self.stake(who, 150 * ONE_TOKEN)
        self.finalize(1)  # the first Rollup's batches 0..2 are finalized already

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

    @rule(who=WHO, which=WHICH_ROLLUP, amount=AMOUNTS)
    def fund_rewards(self, who, which, amount):
        a, rollup = self.accounts[who], self.rollups[which].address
        self.both(lambda: self.market.fund_rewards(a, amount, rollup),
                  lambda: self.ledger.fund_rewards(a.address, rollup, amount))

    @rule(who=WHO)
    def claim(self, who):
        a = self.accounts[who]
        self.both(lambda: self.market.claim(a), lambda: self.ledger.claim(a.address))

    @rule(seconds=WAITS)
    def wait(self, seconds):
        self.now += seconds
        self.last_reason = None

    @rule(which=WHICH_ROLLUP)
    def finalize(self, which):
        """The Rollup commits and finalizes its next batch (up to batch BATCHES - 1)."""
        rollup = self.rollups[which]
        self.last_reason = None
        batch = rollup.last_finalized() // self.world.batch_size
        if batch == BATCHES:
            return
        self.world.finalize_through(batch, rollup)
        self.now = self.chain.latest_timestamp()  # several transactions, a second each
        self.ledger.finalize(rollup.address, rollup.last_finalized())

    def report(self, batch, rows, spoil) -> list[OutcomeReport]:
        """A report of `batch` from `rows`, valid unless `spoil` says how not."""
        registered = [a.address for a in self.accounts if self.ledger.roller(a.address).registered]
        pool = registered or [a.address for a in self.accounts]  # no one staked: UnknownRoller
        params = self.ledger.params
        records = {}
        for who, kind, offset, round_, slots, outcome in rows:
            k = self.world.batch_size
            task = first_block_of(batch, k) + offset % k if kind == TaskKind.BLOCK else batch
            record = OutcomeReport(pool[who % len(pool)], kind, task, round_,
                                   min(slots, max_slots(kind, round_, params)), outcome)
            records[record.sort_key()] = record
        outcomes = sort_outcomes(list(records.values()))
        first = outcomes[0]
        match spoil:
            case "empty":
                outcomes = []
            case "unsorted":
                outcomes.reverse()
            case "duplicate":
                outcomes.append(replace(outcomes[-1], outcome=Outcome.MISSED))
            case "outside the batch":
                outcomes[0] = replace(first, task=last_block_of(batch, self.world.batch_size) + 1)
            case "other batch's aggregation":
                outcomes.append(replace(first, kind=TaskKind.AGGREGATION, task=batch + 1, slots=1))
            case "round too large":
                outcomes[0] = replace(first, round=params.r_open + 1, slots=1)
            case "no slots":
                outcomes[0] = replace(first, slots=0)
            case "too many slots":
                outcomes[0] = replace(first, slots=max_slots(first.kind, first.round, params) + 1)
            case "invalid outcome":
                outcomes[0] = replace(first, outcome=Outcome.INVALID)
            case "unknown roller":
                outcomes[0] = replace(first, roller=self.outsider)
        if spoil not in ("unsorted", "duplicate"):
            # One fault at a time: a spoiled record goes where it sorts.
            outcomes = sort_outcomes(outcomes)
        return outcomes

    @rule(which=WHICH_ROLLUP, pick=st.integers(0, BATCHES - 1), rows=RECORDS, spoil=st.sampled_from(SPOILS))
    def settle(self, which, pick, rows, spoil):
        """Settles one of the Rollup's finalized batches (`pick` chooses it; settled already or
        not), or its first unfinalized one."""
        finalized = self.ledger.rollups[self.rollups[which].address].last_finalized // self.world.batch_size
        # With nothing finalized yet, every batch is unfinalized.
        batch = finalized if spoil == "unfinalized" or finalized == 0 else pick % finalized
        outcomes = self.report(batch, rows, spoil)
        caller = {"other rollup's coordinator": self.coordinators[1 - which],
                  "rollup not enabled": self.stranger,
                  "not a coordinator": self.accounts[0]}.get(spoil, self.coordinators[which])
        block = self.next_block()
        if self.both(lambda: self.market.settle(caller, batch, outcomes),
                     lambda: self.ledger.settle(caller.address, batch, outcomes, block_number=block)):
            rollup = self.ledger.coordinators[caller.address]
            self.entries[rollup, batch] = lottery_entries(outcomes)
            self.batch_matches_model(rollup, batch)

    @rule(who=WHO, which=WHICH_ROLLUP, batch=st.integers(0, BATCHES), tamper=st.booleans(),
          settled=st.integers(0, 3))
    def draw_lottery(self, who, which, batch, tamper, settled):
        """Anyone draws a lottery, with the entries settled or tampered ones: mostly of a batch
        settled in this run (`settled` picks it), otherwise of `batch`."""
        rollup = self.rollups[which].address
        if settled and self.entries:
            keys = sorted(self.entries)
            rollup, batch = keys[settled % len(keys)]
        entries = list(self.entries.get((rollup, batch), []))
        if tamper and entries:
            block, roller, slots = entries.pop()
            entries.append((block, roller, slots + 1))
        block = self.next_block()
        pending = self.ledger.pending_lottery(rollup, batch)
        randomness = bytes(32)  # refused before it is used
        if pending is not None and block > pending.target_block:
            source = randomness_source(pending.target_block, block)
            randomness = bytes(self.chain.w3.eth.get_block(source)["hash"])
        self.both(lambda: self.market.draw_lottery(self.accounts[who], rollup, batch, entries),
                  lambda: self.ledger.draw_lottery(rollup, batch, entries, randomness, block_number=block))
        self.batch_matches_model(rollup, batch)

    def batch_matches_model(self, rollup, batch):
        assert self.market.batch_settled(rollup, batch) == self.ledger.batch_settled(rollup, batch)
        on_chain, in_model = self.market.pending_lottery(rollup, batch), self.ledger.pending_lottery(rollup, batch)
        assert (on_chain is None) == (in_model is None)
        if in_model is not None:
            assert (on_chain.entries_hash, on_chain.target_block) == (in_model.entries_hash, in_model.target_block)

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
        for r in self.rollups:
            assert self.market.reward_pool(r.address) == self.ledger.reward_pool(r.address)
        totals = self.market.totals()
        assert totals == {"active": self.ledger.total_active, "unbonding": self.ledger.total_unbonding,
                          "reward_pool": self.ledger.total_reward_pool,
                          "claimable": self.ledger.total_claimable}
        held = self.market.token_balance(self.market.staking.address)
        assert held == sum(totals.values())
        assert self.market.token_supply() == self.supply - self.ledger.burned


SETTINGS = settings(max_examples=3, stateful_step_count=15, deadline=None)


def test_contract_and_ledger_agree_on_random_operation_sequences_in_split_mode(split_stage):
    run_state_machine_as_test(lambda: MarketMachine(split_stage), settings=SETTINGS)


def test_contract_and_ledger_agree_on_random_operation_sequences_in_lottery_mode(lottery_stage):
    run_state_machine_as_test(lambda: MarketMachine(lottery_stage), settings=SETTINGS)


def walk(machine, steps):
    """Runs scripted steps (rule, arguments, the reason both must refuse it for or None) through
    the machine, comparing chain and model after each."""
    try:
        for step, arguments, reason in steps:
            step(**arguments)
            assert machine.last_reason == reason, (step.__name__, arguments)
            machine.chain_matches_model()
    finally:
        machine.teardown()


ON, LATE, MISSED = Outcome.ON_TIME, Outcome.LATE, Outcome.MISSED
BLOCK, AGG = TaskKind.BLOCK, TaskKind.AGGREGATION


def test_contract_and_ledger_agree_on_settling_split_rewards(split_stage):
    """Random runs seldom settle a batch twice or drain a pool mid-settlement; this one does,
    step by step on the second Rollup: refused before finalization, the caps per block and per
    batch, a dry pool, once per Rollup, and each Rollup's pool its own."""
    machine = MarketMachine(split_stage)
    s = machine
    # Batch b: block 2b+1 pays 10 (two slots) then 0 (capped), block 2b+2 10 (the open round's
    # rescue), the aggregation 5 then 0 (capped): 25 of the pool of 35.
    rows = [(0, BLOCK, 0, 0, 2, ON), (1, BLOCK, 0, 1, 2, ON), (2, BLOCK, 1, 3, 1, ON),
            (1, BLOCK, 1, 0, 1, LATE), (0, AGG, 0, 0, 1, ON), (1, AGG, 0, 1, 1, ON)]
    second = {"which": 1, "pick": 0, "rows": rows}
    walk(machine, [
        *[(s.stake, {"who": who, "amount": 150 * ONE_TOKEN}, None) for who in range(3)],
        (s.settle, {**second, "spoil": "unfinalized"}, "BatchNotFinalized"),
        (s.finalize, {"which": 1}, None),
        (s.settle, {**second, "spoil": "too many slots"}, "TooManySlots"),
        (s.settle, {**second, "spoil": "unknown roller"}, "UnknownRoller"),
        (s.settle, {**second, "spoil": "rollup not enabled"}, "RollupNotEnabled"),
        (s.settle, {**second, "spoil": "none"}, None),
        (s.settle, {**second, "spoil": "none"}, "BatchAlreadySettled"),
        # The second Rollup's coordinator, sent to settle the first's batch 0, settles its own.
        (s.settle, {**second, "which": 0, "spoil": "other rollup's coordinator"}, "BatchAlreadySettled"),
        (s.finalize, {"which": 1}, None),
        (s.settle, {**second, "pick": 1, "spoil": "none"}, None),  # 10 left: the first record's
        (s.claim, {"who": 1}, "NothingToClaim"),
        (s.claim, {"who": 0}, None),
        (s.fund_rewards, {"who": 1, "which": 0, "amount": 100 * ONE_TOKEN}, None),
    ])
    accounts = [a.address for a in machine.accounts]
    assert machine.ledger.wallets[accounts[0]] == (WALLET_TOKENS - 150 + 10 + 5 + 10) * ONE_TOKEN
    assert machine.ledger.claimable == {accounts[0]: 0, accounts[1]: 0, accounts[2]: 10 * ONE_TOKEN}
    pools = [machine.ledger.reward_pool(rollup.address) for rollup in machine.rollups]
    assert pools == [(POOL_TOKENS + 100) * ONE_TOKEN, 0]


def test_contract_and_ledger_agree_on_drawing_lotteries(lottery_stage):
    """Settle, then draw: nothing pending, too early, with wrong entries, rightly, and again."""
    machine = MarketMachine(lottery_stage)
    s = machine
    rows = [(0, BLOCK, 0, 0, 2, ON), (1, BLOCK, 0, 0, 1, ON), (2, BLOCK, 1, 1, 1, ON),
            (1, BLOCK, 1, 0, 1, MISSED), (0, AGG, 0, 0, 1, ON)]
    draw = {"who": 3, "which": 1, "batch": 0, "tamper": False, "settled": 0}
    walk(machine, [
        *[(s.stake, {"who": who, "amount": 150 * ONE_TOKEN}, None) for who in range(3)],
        (s.finalize, {"which": 1}, None),
        (s.draw_lottery, draw, "NoPendingLottery"),
        (s.settle, {"which": 1, "pick": 0, "rows": rows, "spoil": "none"}, None),
        (s.draw_lottery, draw, "RandomnessNotYetAvailable"),
        (s.draw_lottery, {**draw, "tamper": True}, "WrongLotteryEntries"),
        (s.draw_lottery, draw, None),
        (s.draw_lottery, draw, "NoPendingLottery"),
    ])
    params = machine.ledger.params
    assert machine.ledger.total_claimable == 2 * params.r_block + params.r_agg  # blocks 1 and 2, batch 0


def test_contract_and_ledger_agree_on_the_unbonding_entry_cap(split_stage):
    """MAX_UNBONDING_ENTRIES pending entries, the next refused, and withdrawing frees room."""
    machine = MarketMachine(split_stage)
    s = machine
    walk(machine, [
        (s.stake, {"who": 0, "amount": 400 * ONE_TOKEN}, None),
        *[(s.unstake, {"who": 0, "amount": ONE_TOKEN}, None)] * MAX_UNBONDING_ENTRIES,
        (s.unstake, {"who": 0, "amount": ONE_TOKEN}, "TooManyUnbondings"),
        (s.withdraw, {"who": 0}, "NotYetReleased"),
        (s.wait, {"seconds": 1_200}, None),
        (s.withdraw, {"who": 0}, None),
        (s.unstake, {"who": 0, "amount": ONE_TOKEN}, None),
    ])
