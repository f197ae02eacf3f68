"""RollerStaking and CoordinatorRegistry behaviour, on the embedded EVM and on anvil."""

from __future__ import annotations

import dataclasses

import pytest
from eth_account import Account

from market_contracts.compile import load_artifact
from market_contracts.errors import (
    BelowMinStake,
    ContractRejected,
    InsufficientBalance,
    TransactionFailed,
    WithdrawBeforeRelease,
)
from market_contracts.ledger import OutcomeReport, sort_outcomes
from market_contracts.rules import (
    MAX_UNBONDING_ENTRIES,
    MarketParams,
    Outcome,
    TaskKind,
    next_reputation,
    split_reward,
)
from market_contracts.units import ONE_TOKEN


def report(roller, outcome, task=1, round_=0, kind=TaskKind.BLOCK, slots=1):
    return OutcomeReport(roller.address, kind, task, round_, slots, outcome)


def reason_of(excinfo) -> str:
    return excinfo.value.reason


# ---------------------------------------------------------------- staking


def test_first_stake_sets_initial_reputation_and_weight(world):
    roller = world.new_roller(stake_tokens=150)
    info = world.market.roller_info(roller.address)
    assert (info.active, info.rep, info.registered, info.paused) == (150 * ONE_TOKEN, 5_000, True, False)
    assert info.weight == 150 * ONE_TOKEN * 5_000
    assert world.market.roster() == [(roller.address, info.weight)]


def test_adding_stake_keeps_reputation(world):
    roller = world.new_roller(stake_tokens=150)
    world.market.stake(roller, 50 * ONE_TOKEN)
    info = world.market.roller_info(roller.address)
    assert info.active == 200 * ONE_TOKEN and info.rep == 5_000
    assert world.market.totals()["active"] == 200 * ONE_TOKEN


@pytest.mark.parametrize(
    ("tokens", "error", "reason"),
    [
        pytest.param(0, ContractRejected, "ZeroAmount", id="zero"),
        pytest.param(99, BelowMinStake, "BelowMinStake", id="below-min"),
        pytest.param(5_000, InsufficientBalance, "ERC20InsufficientBalance", id="over-balance"),
    ],
)
def test_invalid_stake_is_refused_and_changes_nothing(world, tokens, error, reason):
    account = world.new_account(tokens=1_000)
    with pytest.raises(error) as excinfo:
        world.market.stake(account, tokens * ONE_TOKEN)
    assert reason_of(excinfo) == reason
    assert "\n" not in str(excinfo.value)
    assert world.market.roller_info(account.address).registered is False
    assert world.market.token_balance(account.address) == 1_000 * ONE_TOKEN


def test_exactly_min_stake_is_selectable(world):
    roller = world.new_roller(stake_tokens=100)
    assert world.market.roller_info(roller.address).weight == 100 * ONE_TOKEN * 5_000


def test_largest_stake_is_accepted_and_one_more_is_not(world):
    max_stake = world.market.staking.functions.maxStake().call()
    whale = world.new_account(tokens=0)
    world.market.mint(world.owner, whale.address, max_stake + 1)
    world.market.stake(whale, max_stake)
    info = world.market.roller_info(whale.address)
    assert info.weight == max_stake * 5_000  # no overflow in stake * rep
    with pytest.raises(ContractRejected) as excinfo:
        world.market.stake(whale, 1)
    assert reason_of(excinfo) == "StakeTooLarge"


def test_unstake_moves_stake_to_unbonding_with_release_time(world):
    roller = world.new_roller(stake_tokens=300)
    release = world.market.request_unstake(roller, 100 * ONE_TOKEN)
    now = world.chain.latest_timestamp()
    assert release == now + world.params.unbonding
    info = world.market.roller_info(roller.address)
    assert (info.active, info.unbonding) == (200 * ONE_TOKEN, 100 * ONE_TOKEN)
    assert info.weight == 200 * ONE_TOKEN * 5_000  # unbonding stake does not count
    assert [(u.amount, u.release_time) for u in world.market.unbondings(roller.address)] == [
        (100 * ONE_TOKEN, release)]


def test_unstake_more_than_active_is_refused(world):
    roller = world.new_roller(stake_tokens=150)
    with pytest.raises(ContractRejected) as excinfo:
        world.market.request_unstake(roller, 151 * ONE_TOKEN)
    assert reason_of(excinfo) == "InsufficientStake"
    with pytest.raises(ContractRejected) as excinfo:
        world.market.request_unstake(roller, 0)
    assert reason_of(excinfo) == "ZeroAmount"


def test_unstaking_below_min_stake_makes_roller_unselectable(world):
    roller = world.new_roller(stake_tokens=150)
    world.market.request_unstake(roller, 60 * ONE_TOKEN)
    assert world.market.roller_info(roller.address).weight == 0
    assert world.market.roster() == [(roller.address, 0)]


def test_withdraw_is_refused_before_release_and_allowed_exactly_at_it(world):
    roller = world.new_roller(stake_tokens=300)
    release = world.market.request_unstake(roller, 100 * ONE_TOKEN)
    world.chain.set_next_block_timestamp(release - 1)
    with pytest.raises(WithdrawBeforeRelease) as excinfo:
        world.market.withdraw(roller)
    assert excinfo.value.error_args == (release,)
    assert "releases at" in str(excinfo.value)
    world.chain.set_next_block_timestamp(release)
    assert world.market.withdraw(roller) == 100 * ONE_TOKEN
    assert world.market.token_balance(roller.address) == 800 * ONE_TOKEN
    info = world.market.roller_info(roller.address)
    assert (info.active, info.unbonding) == (200 * ONE_TOKEN, 0)
    with pytest.raises(ContractRejected) as excinfo:
        world.market.withdraw(roller)
    assert reason_of(excinfo) == "NothingToWithdraw"


def test_withdraw_takes_only_released_entries(world):
    roller = world.new_roller(stake_tokens=400)
    first = world.market.request_unstake(roller, 100 * ONE_TOKEN)
    world.chain.set_next_block_timestamp(first + 10)
    second = world.market.request_unstake(roller, 50 * ONE_TOKEN)
    world.chain.set_next_block_timestamp(second - 1)
    assert world.market.withdraw(roller) == 100 * ONE_TOKEN
    assert [u.amount for u in world.market.unbondings(roller.address)] == [50 * ONE_TOKEN]
    world.chain.set_next_block_timestamp(second)
    assert world.market.withdraw(roller) == 50 * ONE_TOKEN
    assert world.market.unbondings(roller.address) == []


def test_pause_removes_weight_without_penalty_and_resume_restores_it(world):
    roller = world.new_roller(stake_tokens=200)
    world.market.pause(roller)
    info = world.market.roller_info(roller.address)
    assert (info.paused, info.weight, info.rep) == (True, 0, 5_000)
    with pytest.raises(ContractRejected) as excinfo:
        world.market.pause(roller)
    assert reason_of(excinfo) == "AlreadyPaused"
    world.market.resume(roller)
    assert world.market.roller_info(roller.address).weight == 200 * ONE_TOKEN * 5_000
    with pytest.raises(ContractRejected) as excinfo:
        world.market.resume(roller)
    assert reason_of(excinfo) == "NotPaused"


def test_pause_by_a_stranger_is_refused(world):
    stranger = world.new_account()
    with pytest.raises(ContractRejected) as excinfo:
        world.market.pause(stranger)
    assert reason_of(excinfo) == "UnknownRoller"


def test_roster_read_at_a_past_block_shows_the_past_weights(world):
    a = world.new_roller(stake_tokens=200)
    before = world.chain.w3.eth.block_number
    b = world.new_roller(stake_tokens=300)
    world.market.pause(a)
    assert world.market.roster(before) == [(a.address, 200 * ONE_TOKEN * 5_000)]
    assert world.market.roster() == [(a.address, 0), (b.address, 300 * ONE_TOKEN * 5_000)]


def test_roster_pages_cover_every_roller(world, monkeypatch):
    monkeypatch.setattr("market_contracts.bindings.ROSTER_PAGE_SIZE", 2)
    rollers = [world.new_roller(stake_tokens=100 + i) for i in range(5)]
    assert [a for a, _ in world.market.roster()] == [r.address for r in rollers]
    page = world.market.staking.functions.rosterPage(4, 10).call()
    assert page == [[rollers[4].address], [(104 * ONE_TOKEN) * 5_000]]
    assert world.market.staking.functions.rosterPage(9, 10).call() == [[], []]


# ---------------------------------------------------------------- rewards and settlement


def test_settlement_applies_reputation_and_pays_split_shares(world):
    world.fund_pool(1_000)
    a, b, c = (world.new_roller() for _ in range(3))
    params = world.params
    outcomes = sort_outcomes([report(a, Outcome.ON_TIME), report(b, Outcome.ON_TIME),
                              report(c, Outcome.MISSED, round_=1)])
    world.market.settle(world.coordinator, 0, outcomes)
    for roller, outcome in ((a, Outcome.ON_TIME), (b, Outcome.ON_TIME), (c, Outcome.MISSED)):
        info = world.market.roller_info(roller.address)
        assert info.rep == next_reputation(params.rep_init, outcome, params)
        assert info.claimable == (split_reward(0, 1, params) if outcome is Outcome.ON_TIME else 0)
    assert world.market.reward_pool() == 1_000 * ONE_TOKEN - params.r_block
    assert world.market.batch_settled(world.rollup.address, 0)
    rows = world.market.settled_records(world.rollup.address, 0)
    assert [row.report() for row in rows] == outcomes


def test_two_slots_earn_two_shares_and_the_open_round_earns_the_block(world):
    world.fund_pool(1_000)
    a, b = world.new_roller(), world.new_roller()
    params = world.params
    world.market.settle(world.coordinator, 0, [
        report(a, Outcome.ON_TIME, task=1, slots=2),
        report(b, Outcome.ON_TIME, task=2, round_=params.r_open)])
    assert world.market.roller_info(a.address).claimable == 2 * (params.r_block // params.m)
    assert world.market.roller_info(b.address).claimable == params.r_block


def test_on_time_aggregator_earns_the_aggregation_reward(world):
    world.fund_pool(1_000)
    agg = world.new_roller()
    world.market.settle(world.coordinator, 0, [report(agg, Outcome.ON_TIME, task=0, kind=TaskKind.AGGREGATION)])
    assert world.market.roller_info(agg.address).claimable == world.params.r_agg


def test_pool_pays_at_most_what_it_holds(world):
    world.fund_pool(3)  # less than one block reward of 10
    roller = world.new_roller()
    world.market.settle(world.coordinator, 0, [report(roller, Outcome.ON_TIME, round_=world.params.r_open)])
    assert world.market.roller_info(roller.address).claimable == 3 * ONE_TOKEN
    assert world.market.reward_pool() == 0


def test_claim_pays_out_and_then_has_nothing(world):
    world.fund_pool(100)
    roller = world.new_roller(stake_tokens=200)
    world.market.settle(world.coordinator, 0, [report(roller, Outcome.ON_TIME, slots=2)])
    assert world.market.claim(roller) == world.params.r_block
    assert world.market.token_balance(roller.address) == 800 * ONE_TOKEN + world.params.r_block
    with pytest.raises(ContractRejected) as excinfo:
        world.market.claim(roller)
    assert reason_of(excinfo) == "NothingToClaim"


@pytest.mark.parametrize(("rep", "outcome"), [
    pytest.param(600, Outcome.MISSED, id="missed-stops-at-rep-min"),
    pytest.param(500, Outcome.LATE, id="late-at-rep-min-stays"),
    pytest.param(300, Outcome.MISSED, id="below-rep-min-is-not-raised"),
])
def test_late_and_missed_never_go_below_rep_min_nor_raise(rep, outcome, world):
    params = world.params
    got = world.market.staking.functions.nextReputation(rep, int(outcome)).call()
    assert got == next_reputation(rep, outcome, params) == max(min(rep, params.rep_min),
                                                               rep - rep * params.gamma_bps // 10_000)


def test_reputation_is_kept_after_leaving_and_restaking(world):
    roller = world.new_roller(stake_tokens=100)
    world.market.settle(world.coordinator, 0, [report(roller, Outcome.MISSED)])
    lowered = world.market.roller_info(roller.address).rep
    release = world.market.request_unstake(roller, 100 * ONE_TOKEN)
    world.chain.set_next_block_timestamp(release)
    world.market.withdraw(roller)
    world.market.stake(roller, 100 * ONE_TOKEN)
    assert world.market.roller_info(roller.address).rep == lowered < world.params.rep_init


@pytest.mark.parametrize(
    ("batches", "reason"),
    [
        pytest.param([(0, [("a", 1, 0)]), (0, [("a", 2, 0)])], "BatchAlreadySettled", id="batch-twice"),
        pytest.param([(0, [("b", 1, 0), ("a", 1, 0)])], "OutcomesNotSorted", id="rollers-unsorted"),
        pytest.param([(0, [("a", 1, 0), ("a", 1, 0)])], "OutcomesNotSorted", id="duplicate-assignment"),
        pytest.param([(0, [("a", 2, 0), ("a", 1, 0)])], "OutcomesNotSorted", id="tasks-unsorted"),
        pytest.param([(0, [("a", 1, 1), ("a", 1, 0)])], "OutcomesNotSorted", id="rounds-unsorted"),
        pytest.param([(0, [])], "EmptySettlement", id="empty"),
        pytest.param([(0, [("stranger", 1, 0)])], "UnknownRoller", id="unknown-roller"),
        pytest.param([(0, [("a", 3, 0)])], "TaskNotInBatch", id="block-of-another-batch"),
        pytest.param([(1, [("a", 2, 0)])], "TaskNotInBatch", id="block-of-an-earlier-batch"),
        pytest.param([(0, [("a", 1, 4)])], "RoundTooLarge", id="round-above-r-open"),
    ],
)
def test_nothing_settles_twice_out_of_order_or_outside_its_batch(world, batches, reason):
    a, b = sorted((world.new_roller(), world.new_roller()), key=lambda acct: int(acct.address, 16))
    people = {"a": a, "b": b, "stranger": Account.create()}
    *ok, (last_batch, last) = batches
    for batch, rows in ok:
        world.market.settle(world.coordinator, batch, [report(people[n], Outcome.ON_TIME, task, rnd) for n, task, rnd in rows])
    before = [world.market.roller_info(r.address) for r in (a, b)]
    with pytest.raises(TransactionFailed) as excinfo:
        world.market.settle(world.coordinator, last_batch,
                            [report(people[n], Outcome.MISSED, task, rnd) for n, task, rnd in last])
    assert reason_of(excinfo) == reason
    assert "\n" not in str(excinfo.value)
    assert [world.market.roller_info(r.address) for r in (a, b)] == before


@pytest.mark.parametrize(("kind", "round_", "slots", "valid"), [
    pytest.param(TaskKind.BLOCK, 0, 2, True, id="block-m-slots"),
    pytest.param(TaskKind.BLOCK, 0, 3, False, id="block-above-m"),
    pytest.param(TaskKind.BLOCK, 0, 0, False, id="zero-slots"),
    pytest.param(TaskKind.BLOCK, 3, 1, True, id="open-round-one-slot"),
    pytest.param(TaskKind.BLOCK, 3, 2, False, id="open-round-two-slots"),
    pytest.param(TaskKind.AGGREGATION, 0, 1, True, id="aggregation-one-slot"),
    pytest.param(TaskKind.AGGREGATION, 1, 2, False, id="aggregation-two-slots"),
])
def test_slots_are_bounded_by_the_round(world, kind, round_, slots, valid):
    roller = world.new_roller()
    record = report(roller, Outcome.ON_TIME, task=0 if kind is TaskKind.AGGREGATION else 1,
                    round_=round_, kind=kind, slots=slots)
    if valid:
        world.market.settle(world.coordinator, 0, [record])
        return
    with pytest.raises(ContractRejected) as excinfo:
        world.market.settle(world.coordinator, 0, [record])
    assert reason_of(excinfo) == "TooManySlots"
    assert not world.market.batch_settled(world.rollup.address, 0)


def test_only_registered_coordinators_settle(world):
    roller = world.new_roller()
    for caller in (roller, world.owner):
        with pytest.raises(ContractRejected) as excinfo:
            world.market.settle(caller, 0, [report(roller, Outcome.ON_TIME)])
        assert reason_of(excinfo) == "NotCoordinator"
    world.market.remove_coordinator(world.owner, world.coordinator.address)
    with pytest.raises(ContractRejected) as excinfo:
        world.market.settle(world.coordinator, 0, [report(roller, Outcome.ON_TIME)])
    assert reason_of(excinfo) == "NotCoordinator"
    assert world.market.roller_info(roller.address).rep == 5_000


def test_a_coordinator_of_a_rollup_the_market_does_not_serve_cannot_settle(world):
    roller = world.new_roller()
    unserved = world.stub.address  # any address: the registry binds, the staking contract serves
    coordinator = world.new_account(tokens=0)
    world.market.register_coordinator(world.owner, coordinator.address, b"peer-x", "", unserved)
    assert world.market.coordinator_rollup(coordinator.address) == unserved
    with pytest.raises(ContractRejected) as excinfo:
        world.market.settle(coordinator, 0, [report(roller, Outcome.ON_TIME)])
    assert reason_of(excinfo) == "RollupNotEnabled"
    assert excinfo.value.error_args[0].lower() == unserved.lower()


def test_unbonding_entries_are_capped(world):
    roller = world.new_roller(stake_tokens=200)
    for _ in range(MAX_UNBONDING_ENTRIES):
        world.market.request_unstake(roller, ONE_TOKEN)
    with pytest.raises(ContractRejected) as excinfo:
        world.market.request_unstake(roller, ONE_TOKEN)
    assert excinfo.value.error_args == (MAX_UNBONDING_ENTRIES,)
    assert len(world.market.unbondings(roller.address)) == MAX_UNBONDING_ENTRIES
    world.chain.increase_time(world.params.unbonding)
    world.market.withdraw(roller)  # withdrawing frees the entries
    world.market.request_unstake(roller, ONE_TOKEN)


# ---------------------------------------------------------------- registry, token, deployment


def test_registry_is_owner_only_and_rejects_duplicates(world):
    stranger = world.new_account()
    with pytest.raises(TransactionFailed) as excinfo:
        world.market.register_coordinator(stranger, stranger.address, b"peer", "", world.rollup.address)
    assert reason_of(excinfo) == "OwnableUnauthorizedAccount"
    with pytest.raises(TransactionFailed) as excinfo:
        world.market.register_coordinator(world.owner, world.coordinator.address, b"peer", "",
                                          world.rollup.address)
    assert reason_of(excinfo) == "AlreadyRegistered"
    with pytest.raises(TransactionFailed) as excinfo:
        world.market.register_coordinator(world.owner, stranger.address, b"", "", world.rollup.address)
    assert reason_of(excinfo) == "EmptyPeerId"
    with pytest.raises(TransactionFailed) as excinfo:
        world.market.register_coordinator(world.owner, stranger.address, b"peer", "", "0x" + "00" * 20)
    assert reason_of(excinfo) == "ZeroAddress"
    with pytest.raises(TransactionFailed) as excinfo:
        world.market.remove_coordinator(world.owner, stranger.address)
    assert reason_of(excinfo) == "NotRegistered"
    info = world.market.registry.functions.coordinatorInfo(world.coordinator.address).call()
    assert (info[0], info[3]) == (b"peer-" + world.coordinator.address.encode(), world.rollup.address)
    assert world.market.coordinator_rollup(world.coordinator.address) == world.rollup.address
    assert world.market.coordinator_rollup(stranger.address) is None
    assert world.market.registry.functions.coordinators().call() == [world.coordinator.address]


def test_only_the_owner_mints(world):
    stranger = world.new_account()
    with pytest.raises(TransactionFailed) as excinfo:
        world.market.mint(stranger, stranger.address, 1)
    assert reason_of(excinfo) == "OwnableUnauthorizedAccount"


def test_market_parameters_are_readable_on_chain(world):
    assert world.market.params() == world.params


@pytest.mark.parametrize(
    ("change", "message"),
    [
        pytest.param({"rep_max": 0}, "repMax must be in 1..10000", id="rep-max-zero"),
        pytest.param({"min_stake": 0}, "minStake must be positive", id="min-stake-zero"),
        pytest.param({"r_open": 0}, "rOpen must be positive", id="r-open-zero"),
        pytest.param({"unbonding": 1_079}, "unbonding must be >= 2 x exposure: stake could leave "
                     "before its slash", id="unbonding-below-the-margin"),
    ],
)
def test_deployment_refuses_bad_parameters(world, change, message):
    params = MarketParams.devnet()
    names = [f.name for f in dataclasses.fields(MarketParams)]
    raw = list(params.as_tuple())
    for name, value in change.items():
        raw[names.index(name)] = value
    staking = load_artifact("RollerStaking")
    with pytest.raises(TransactionFailed) as excinfo:
        world.chain.deploy(world.owner, staking, world.market.token.address, world.market.registry.address, tuple(raw))
    assert excinfo.value.error_args == (message,)


def test_deployment_accepts_unbonding_exactly_at_the_margin(world):
    """1,080 s is 2 x (240 + 240 + 60): the least the devnet deadlines allow."""
    params = dataclasses.replace(MarketParams.devnet(), unbonding=1_080)
    staking = world.chain.deploy(world.owner, load_artifact("RollerStaking"), world.market.token.address,
                                 world.market.registry.address, params.as_tuple())
    assert staking.functions.params().call()[9] == 1_080


# ---------------------------------------------------------------- reentrancy


@pytest.mark.parametrize("attack", [1, 2], ids=["withdraw-in-withdraw", "claim-in-withdraw"])
def test_hostile_token_receiver_cannot_reenter(world, attack):
    chain, owner = world.chain, world.owner
    token = chain.deploy(owner, load_artifact("ReentrantToken"))
    staking = chain.deploy(owner, load_artifact("RollerStaking"), token.address,
                           world.market.registry.address, world.params.as_tuple())
    attacker = chain.deploy(owner, load_artifact("ReentrancyAttacker"), staking.address, token.address)
    chain.transact(owner, token.functions.mint(attacker.address, 1_000 * ONE_TOKEN))
    chain.transact(owner, token.functions.setHooked(attacker.address))
    chain.transact(owner, attacker.functions.stake(300 * ONE_TOKEN))
    chain.transact(owner, attacker.functions.requestUnstake(100 * ONE_TOKEN))
    chain.transact(owner, attacker.functions.requestUnstake(100 * ONE_TOKEN))
    chain.increase_time(world.params.unbonding + 1)
    with pytest.raises(TransactionFailed) as excinfo:
        chain.transact(owner, attacker.functions.withdraw(attack))
    assert reason_of(excinfo) == "ReentrancyGuardReentrantCall"
    assert token.functions.balanceOf(staking.address).call() == 300 * ONE_TOKEN
    assert staking.functions.rollerInfo(attacker.address).call()[1] == 200 * ONE_TOKEN
    chain.transact(owner, attacker.functions.withdraw(0))  # an honest withdraw still works
    assert token.functions.balanceOf(attacker.address).call() == 900 * ONE_TOKEN
