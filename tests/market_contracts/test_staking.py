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
from market_contracts.ledger import NO_DRAW, OutcomeReport, sort_outcomes
from market_contracts.rules import (
    MAX_UNBONDING_ENTRIES,
    MarketParams,
    Outcome,
    TaskKind,
    next_reputation,
    snapshot_entries,
    snapshot_root,
    split_reward,
)
from market_contracts.units import ONE_TOKEN


def report_of(roller: str, outcome, task=1, round_=0, kind=TaskKind.BLOCK, slots=1):
    return OutcomeReport(roller, kind, task, round_, slots, outcome)


def reason_of(excinfo) -> str:
    return excinfo.value.reason


# ---------------------------------------------------------------- staking


def test_first_stake_sets_initial_reputation_and_weight(world):
    roller = world.new_roller(stake_tokens=150)
    info = world.market.roller_info(roller.address)
    assert (info.active, info.rep, info.registered, info.paused) == (150 * ONE_TOKEN, 5_000, True, False)
    assert info.weight == 150 * ONE_TOKEN * 5_000
    assert world.market.roster()[-1] == (roller.address, info.weight)


def test_adding_stake_keeps_reputation(world):
    roller = world.new_roller(stake_tokens=150)
    world.market.stake(roller, 50 * ONE_TOKEN)
    info = world.market.roller_info(roller.address)
    assert info.active == 200 * ONE_TOKEN and info.rep == 5_000
    others = sum(world.market.roller_info(r.address).active for r in world.rollers)
    assert world.market.totals()["active"] == 200 * ONE_TOKEN + others


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
    assert world.market.roster()[-1] == (roller.address, 0)


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
    known = len(world.rollers)
    assert world.market.roster(before)[known:] == [(a.address, 200 * ONE_TOKEN * 5_000)]
    assert world.market.roster()[known:] == [(a.address, 0), (b.address, 300 * ONE_TOKEN * 5_000)]


def test_roster_pages_cover_every_roller(world, monkeypatch):
    monkeypatch.setattr("market_contracts.bindings.ROSTER_PAGE_SIZE", 2)
    rollers = [world.new_roller(stake_tokens=100 + i) for i in range(5)]
    known = len(world.rollers)
    assert [a for a, _ in world.market.roster()] == [r.address for r in world.rollers + rollers]
    page = world.market.staking.functions.rosterPage(known + 4, 10).call()
    assert page == [[rollers[4].address], [(104 * ONE_TOKEN) * 5_000]]
    assert world.market.staking.functions.rosterPage(known + 9, 10).call() == [[], []]


# ---------------------------------------------------------------- roster snapshots


def test_a_snapshot_holds_the_weighted_rollers_in_registration_order_under_the_rules_root(world):
    extra = [world.new_roller(stake_tokens=100 + i) for i in range(3)]
    world.market.pause(extra[1])  # weight 0: no entry
    world.market.request_unstake(world.rollers[0], 150 * ONE_TOKEN)  # below MIN_STAKE: no entry
    taken = world.market.snapshot_roster(world.owner)
    snapshot = world.market.snapshots()[taken]  # rebuilt from the event, checked against the root
    live = world.market.roster()
    assert snapshot.entries == snapshot_entries(live)
    assert [e.roller for e in snapshot.entries] == [
        r.address for r in world.rollers[1:] + [extra[0], extra[2]]]
    assert snapshot.total == sum(w for _, w in live)
    info = world.market.staking.functions.snapshotInfo(taken).call()
    assert tuple(info) == (snapshot.l1_block, snapshot.timestamp, snapshot.total,
                           snapshot_root(snapshot.entries), len(snapshot.entries))
    assert world.market.snapshot_count() == taken + 1


def test_a_snapshot_of_nobody_has_a_zero_root(world):
    for roller in world.rollers:
        world.market.pause(roller)
    taken = world.market.snapshot_roster(world.owner)
    snapshot = world.market.snapshots()[taken]
    assert (snapshot.entries, snapshot.total, snapshot.root) == ([], 0, bytes(32))


# ---------------------------------------------------------------- rewards and settlement


def test_settlement_applies_reputation_and_pays_split_shares(world):
    world.fund_pool(1_000)
    params = world.params
    on_time = world.records(TaskKind.BLOCK, 1, 0)
    missed = world.records(TaskKind.BLOCK, 1, 1, Outcome.MISSED)
    outcomes = sort_outcomes(on_time + missed)
    before = {r.address: world.market.roller_info(r.address).rep for r in world.rollers}
    world.settle(0, outcomes)
    expected_rep = dict(before)
    earned = dict.fromkeys(before, 0)
    for o in outcomes:
        expected_rep[o.roller] = next_reputation(expected_rep[o.roller], o.outcome, params)
        if o.outcome is Outcome.ON_TIME:
            earned[o.roller] += split_reward(0, o.slots, params)
    for roller, rep in expected_rep.items():
        info = world.market.roller_info(roller)
        assert (info.rep, info.claimable) == (rep, earned[roller])
    assert sum(earned.values()) == params.r_block  # M slots of R_BLOCK / M
    assert world.market.reward_pool() == 1_000 * ONE_TOKEN - params.r_block
    assert world.market.batch_settled(world.rollup.address, 0)
    rows = world.market.settled_records(world.rollup.address, 0)
    assert [row.report for row in rows] == outcomes


def test_a_holders_slots_earn_that_many_shares_and_the_open_round_earns_the_block(world):
    world.fund_pool(1_000)
    params = world.params
    drawn = world.records(TaskKind.BLOCK, 1, 0)
    rescue = report_of(world.prover_of(2), Outcome.ON_TIME, task=2, round_=params.r_open)
    world.settle(0, drawn + [rescue])
    paid = {o.roller: o.slots * (params.r_block // params.m) for o in drawn}
    paid[rescue.roller] = paid.get(rescue.roller, 0) + params.r_block
    for roller, amount in paid.items():
        assert world.market.roller_info(roller).claimable == amount


def test_on_time_aggregator_earns_the_aggregation_reward(world):
    world.fund_pool(1_000)
    (agg,) = world.records(TaskKind.AGGREGATION, 0, 0)
    world.settle(0, [agg])
    assert world.market.roller_info(agg.roller).claimable == world.params.r_agg


def test_pool_pays_at_most_what_it_holds(world):
    world.fund_pool(3)  # less than one block reward of 10
    rescuer = world.prover_of(1)
    world.settle(0, [report_of(rescuer, Outcome.ON_TIME, round_=world.params.r_open)])
    assert world.market.roller_info(rescuer).claimable == 3 * ONE_TOKEN
    assert world.market.reward_pool() == 0


def test_claim_pays_out_and_then_has_nothing(world):
    world.fund_pool(100)
    rescuer = next(r for r in world.rollers if r.address == world.prover_of(1))
    balance = world.market.token_balance(rescuer.address)
    world.settle(0, [report_of(rescuer.address, Outcome.ON_TIME, round_=world.params.r_open)])
    assert world.market.claim(rescuer) == world.params.r_block
    assert world.market.token_balance(rescuer.address) == balance + world.params.r_block
    with pytest.raises(ContractRejected) as excinfo:
        world.market.claim(rescuer)
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
    missed = world.records(TaskKind.BLOCK, 1, 0, Outcome.MISSED)[0]
    roller = next(r for r in world.rollers if r.address == missed.roller)
    world.settle(0, [missed])
    info = world.market.roller_info(roller.address)
    release = world.market.request_unstake(roller, info.active)
    world.chain.set_next_block_timestamp(release)
    world.market.withdraw(roller)
    world.market.stake(roller, 100 * ONE_TOKEN)
    assert world.market.roller_info(roller.address).rep == info.rep < world.params.rep_init


def holder_rows(world, rows):
    """(name, task, round) rows as block records and their draw proofs; "a" stands for the first
    holder of the task's round (by address), "stranger" for a roller that never staked (no draw
    proof: the contract refuses it before looking). A task outside the batch draws like any
    block the world committed."""
    records, draws = [], []
    for name, task, round_ in rows:
        if name == "stranger":
            records.append(report_of(Account.create().address, Outcome.MISSED, task, round_))
            draws.append(NO_DRAW)
            continue
        held = world.records(TaskKind.BLOCK, task, round_, Outcome.MISSED)[0]
        records.append(held)
        draws.extend(world.draws([held]))
    return records, draws


@pytest.mark.parametrize(
    ("batches", "reason"),
    [
        pytest.param([(0, [("a", 1, 0)]), (0, [("a", 2, 0)])], "BatchAlreadySettled", id="batch-twice"),
        pytest.param([(0, [("a", 1, 0), ("a", 1, 0)])], "OutcomesNotSorted", id="duplicate-assignment"),
        pytest.param([(0, [("a", 2, 0), ("a", 1, 0)])], "OutcomesNotSorted", id="tasks-unsorted"),
        pytest.param([(0, [("a", 1, 1), ("a", 1, 0)])], "OutcomesNotSorted", id="rounds-unsorted"),
        pytest.param([(0, [])], "EmptySettlement", id="empty"),
        pytest.param([(0, [("stranger", 1, 0)])], "UnknownRoller", id="unknown-roller"),
        pytest.param([(0, [("a", 3, 0)])], "TaskNotInBatch", id="block-of-another-batch"),
        pytest.param([(1, [("a", 2, 0)])], "TaskNotInBatch", id="block-of-an-earlier-batch"),
    ],
)
def test_nothing_settles_twice_out_of_order_or_outside_its_batch(world, batches, reason):
    *ok, (last_batch, last) = batches
    for batch, rows in ok:
        world.market.settle(world.coordinator, batch, *holder_rows(world, rows))
    before = [world.market.roller_info(r.address) for r in world.rollers]
    with pytest.raises(TransactionFailed) as excinfo:
        world.market.settle(world.coordinator, last_batch, *holder_rows(world, last))
    assert reason_of(excinfo) == reason
    assert "\n" not in str(excinfo.value)
    assert [world.market.roller_info(r.address) for r in world.rollers] == before


def test_records_of_two_rollers_must_ascend_by_address(world):
    # Block 1's open round: the first record is its L1 prover, so only the order can fail.
    lower = "0x" + "00" * 19 + "01"
    rows = [report_of(world.prover_of(1), Outcome.MISSED, 1, world.params.r_open),
            report_of(lower, Outcome.MISSED, 1, world.params.r_open)]
    with pytest.raises(ContractRejected) as excinfo:
        world.market.settle(world.coordinator, 0, rows, [NO_DRAW] * 2)
    assert reason_of(excinfo) == "OutcomesNotSorted"


def test_a_round_above_r_open_does_not_exist(world):
    row = report_of(world.rollers[0].address, Outcome.MISSED, round_=world.params.r_open + 1)
    with pytest.raises(ContractRejected) as excinfo:
        world.market.settle(world.coordinator, 0, [row], [NO_DRAW])
    assert reason_of(excinfo) == "RoundTooLarge"


@pytest.mark.parametrize(("kind", "round_", "extra", "valid"), [
    pytest.param(TaskKind.BLOCK, 0, 0, True, id="block-its-slots"),
    pytest.param(TaskKind.BLOCK, 0, "above-m", False, id="block-above-m"),
    pytest.param(TaskKind.BLOCK, 0, "zero", False, id="zero-slots"),
    pytest.param(TaskKind.BLOCK, 3, 0, True, id="open-round-one-slot"),
    pytest.param(TaskKind.BLOCK, 3, 1, False, id="open-round-two-slots"),
    pytest.param(TaskKind.AGGREGATION, 0, 0, True, id="aggregation-one-slot"),
    pytest.param(TaskKind.AGGREGATION, 1, 1, False, id="aggregation-two-slots"),
])
def test_slots_are_bounded_by_the_round(world, kind, round_, extra, valid):
    task = 0 if kind is TaskKind.AGGREGATION else 1
    if round_ == world.params.r_open:
        record = report_of(world.prover_of(task), Outcome.ON_TIME, task, round_, kind)
    else:
        record = world.records(kind, task, round_)[0]
    slots = {"above-m": world.params.m + 1, "zero": 0}.get(extra) if isinstance(extra, str) \
        else record.slots + extra
    record = dataclasses.replace(record, slots=slots)
    if valid:
        world.settle(0, [record])
        return
    with pytest.raises(ContractRejected) as excinfo:
        world.market.settle(world.coordinator, 0, [record], world.draws([record]))
    assert reason_of(excinfo) == "TooManySlots"
    assert not world.market.batch_settled(world.rollup.address, 0)


def test_only_registered_coordinators_settle(world):
    rows = world.records(TaskKind.BLOCK, 1, 0)
    for caller in (world.rollers[0], world.owner):
        with pytest.raises(ContractRejected) as excinfo:
            world.settle(0, rows, coordinator=caller)
        assert reason_of(excinfo) == "NotCoordinator"
    world.market.remove_coordinator(world.owner, world.coordinator.address)
    with pytest.raises(ContractRejected) as excinfo:
        world.settle(0, rows)
    assert reason_of(excinfo) == "NotCoordinator"
    assert world.market.roller_info(rows[0].roller).rep == 5_000


def test_a_coordinator_of_a_rollup_the_market_does_not_serve_cannot_settle(world):
    rows = world.records(TaskKind.BLOCK, 1, 0)
    unserved = world.stub.address  # any address: the registry binds, the staking contract serves
    coordinator = world.new_account(tokens=0)
    world.market.register_coordinator(world.owner, coordinator.address, b"peer-x", "", unserved)
    assert world.market.coordinator_rollup(coordinator.address) == unserved
    with pytest.raises(ContractRejected) as excinfo:
        world.settle(0, rows, coordinator=coordinator)
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
        pytest.param({"unbonding": 1_679}, "unbonding must be >= 2 x exposure: stake could leave "
                     "before its slash", id="unbonding-below-the-margin"),
        pytest.param({"unbonding": 1_680, "snapshot_max_age": 301}, "unbonding must be >= 2 x "
                     "exposure: stake could leave before its slash", id="snapshot-age-counts"),
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
    """1,680 s is 2 x (300 + 240 + 240 + 60): the least the devnet deadlines and snapshot age
    allow."""
    params = dataclasses.replace(MarketParams.devnet(), unbonding=1_680)
    staking = world.chain.deploy(world.owner, load_artifact("RollerStaking"), world.market.token.address,
                                 world.market.registry.address, params.as_tuple())
    assert MarketParams.from_tuple(staking.functions.params().call()) == params


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
