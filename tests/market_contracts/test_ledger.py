"""The ledger (the Python model of RollerStaking v2) on its own: every refusal of `settle` beside
the nearest report it accepts, rewards and their caps, per-Rollup pools, the two-phase lottery,
the unbonding cap and the order of a slash. `test_ledger_vs_contract.py` holds it to the
contract; these pin what the spec says it must do."""

from __future__ import annotations

import copy
from dataclasses import replace

import pytest

from market_contracts.ledger import (
    Ledger,
    OutcomeReport,
    PendingLottery,
    Rejected,
    lottery_entries,
    lottery_entries_hash,
)
from market_contracts.rules import (
    MAX_UNBONDING_ENTRIES,
    MarketParams,
    Outcome,
    RewardMode,
    TaskKind,
    lottery_winner,
)
from market_contracts.units import ONE_TOKEN

PARAMS = MarketParams.devnet()  # R_BLOCK 10, M 2, R_AGG 5 tokens, R_OPEN 3, K 4
ROLLUP, OTHER_ROLLUP = "0x" + "aa" * 20, "0x" + "bb" * 20
COORDINATOR, OTHER_COORDINATOR, STRANGER = "0x" + "c1" * 20, "0x" + "c2" * 20, "0x" + "0c" * 20
FUNDER = "0x" + "f0" * 20
#: Sorted by address, so reports over them are sorted by roller.
A, B, C, UNSTAKED = "0x" + "01" * 20, "0x" + "02" * 20, "0x" + "03" * 20, "0x" + "04" * 20
K = 4
POOL = 1_000 * ONE_TOKEN
STAKE = 200 * ONE_TOKEN
ON, LATE, MISSED, INVALID = Outcome.ON_TIME, Outcome.LATE, Outcome.MISSED, Outcome.INVALID
BLOCK, AGG = TaskKind.BLOCK, TaskKind.AGGREGATION


def report(roller, kind=BLOCK, task=5, round_=0, slots=1, outcome=ON) -> OutcomeReport:
    return OutcomeReport(roller, kind, task, round_, slots, outcome)


def make_ledger(params: MarketParams = PARAMS, pool: int = POOL, finalized: int = 2 * K) -> Ledger:
    """Rollup with K = 4 and batches 0 and 1 finalized; OTHER_ROLLUP (K = 2) with its own pool and
    coordinator; rollers A, B and C staked."""
    ledger = Ledger(params)
    for rollup, k, coordinator in ((ROLLUP, K, COORDINATOR), (OTHER_ROLLUP, 2, OTHER_COORDINATOR)):
        ledger.add_rollup(rollup, k)
        ledger.register_coordinator(coordinator, rollup)
        ledger.finalize(rollup, finalized)
        ledger.mint(FUNDER, pool)
        if pool:
            ledger.fund_rewards(FUNDER, rollup, pool)
    for roller in (A, B, C):
        ledger.mint(roller, STAKE)
        ledger.stake(roller, STAKE)
    return ledger


def refused(ledger: Ledger, reason: str, operation, *args, **kwargs) -> None:
    """The operation is refused for `reason` and, like a reverted transaction, changes nothing."""
    before = copy.deepcopy(ledger)
    with pytest.raises(Rejected) as excinfo:
        operation(*args, **kwargs)
    assert excinfo.value.reason == reason
    assert ledger == before


# ---------------------------------------------------------------- settlement: refused beside accepted

#: (name, batch, records, reason): each refused report beside its nearest accepted one (reason
#: None). Batch 1 holds blocks 5..8; Batch 1 and 0 are finalized.
SETTLEMENTS = [
    ("one record", 1, [report(A)], None),
    ("empty", 1, [], "EmptySettlement"),
    ("sorted by kind, task, round, roller", 1,
     [report(B, task=5), report(A, task=6), report(A, task=6, round_=1), report(B, task=6, round_=1),
      report(A, AGG, task=1)], None),
    ("roller order within a round", 1, [report(B), report(A)], "OutcomesNotSorted"),
    ("round order within a task", 1, [report(A, round_=1), report(A)], "OutcomesNotSorted"),
    ("task order", 1, [report(A, task=6), report(A, task=5)], "OutcomesNotSorted"),
    ("aggregation before block", 1, [report(A, AGG, task=1), report(A)], "OutcomesNotSorted"),
    ("duplicate record", 1, [report(A), report(A)], "OutcomesNotSorted"),
    ("duplicate with another outcome", 1, [report(A), report(A, outcome=LATE)], "OutcomesNotSorted"),
    ("first and last block of the batch", 1, [report(A, task=5), report(A, task=8)], None),
    ("block of the batch before", 1, [report(A, task=4)], "TaskNotInBatch"),
    ("block of the batch after", 1, [report(A, task=9)], "TaskNotInBatch"),
    ("block 0", 0, [report(A, task=0)], "TaskNotInBatch"),
    ("aggregation of the batch", 1, [report(A, AGG, task=1)], None),
    ("aggregation of another batch", 1, [report(A, AGG, task=0)], "TaskNotInBatch"),
    ("open round", 1, [report(A, round_=PARAMS.r_open)], None),
    ("round after the open round", 1, [report(A, round_=PARAMS.r_open + 1)], "RoundTooLarge"),
    ("M slots", 1, [report(A, slots=PARAMS.m)], None),
    ("no slot", 1, [report(A, slots=0)], "TooManySlots"),
    ("M + 1 slots", 1, [report(A, slots=PARAMS.m + 1)], "TooManySlots"),
    ("two slots in the open round", 1, [report(A, round_=PARAMS.r_open, slots=2)], "TooManySlots"),
    ("two slots of an aggregation", 1, [report(A, AGG, task=1, slots=2)], "TooManySlots"),
    ("late and missed", 1, [report(A, outcome=LATE), report(B, outcome=MISSED)], None),
    ("invalid outcome", 1, [report(A, outcome=INVALID)], "InvalidNeedsEvidence"),
    ("unknown roller", 1, [report(UNSTAKED)], "UnknownRoller"),
    ("first failure in report order is the reason", 1,
     [report(A, task=9), report(A, outcome=INVALID)], "TaskNotInBatch"),
]


@pytest.mark.parametrize("name, batch, records, reason", SETTLEMENTS, ids=[s[0] for s in SETTLEMENTS])
def test_settle_refuses_each_bad_report_and_accepts_its_neighbour(name, batch, records, reason):
    ledger = make_ledger()
    if reason is None:
        ledger.settle(COORDINATOR, batch, records)
        assert ledger.batch_settled(ROLLUP, batch)
    else:
        refused(ledger, reason, ledger.settle, COORDINATOR, batch, records)


def test_settle_refuses_callers_that_may_not_settle_this_batch():
    ledger = make_ledger()
    refused(ledger, "NotCoordinator", ledger.settle, STRANGER, 1, [report(A)])
    ledger.register_coordinator(STRANGER, "0x" + "dd" * 20)  # bound to a Rollup never enabled
    refused(ledger, "RollupNotEnabled", ledger.settle, STRANGER, 1, [report(A)])
    # Finalized up to block 8: batch 1 (blocks 5..8) settles, batch 2 (9..12) does not.
    refused(ledger, "BatchNotFinalized", ledger.settle, COORDINATOR, 2, [report(A, task=9)])
    ledger.finalize(ROLLUP, 11)
    refused(ledger, "BatchNotFinalized", ledger.settle, COORDINATOR, 2, [report(A, task=9)])
    ledger.finalize(ROLLUP, 12)
    ledger.settle(COORDINATOR, 2, [report(A, task=9)])


def test_a_batch_settles_once_per_rollup_across_coordinators():
    ledger = make_ledger()
    ledger.register_coordinator(STRANGER, ROLLUP)
    ledger.settle(COORDINATOR, 1, [report(A)])
    refused(ledger, "BatchAlreadySettled", ledger.settle, COORDINATOR, 1, [report(B)])
    refused(ledger, "BatchAlreadySettled", ledger.settle, STRANGER, 1, [report(B)])
    # Batch 1 of another Rollup is another batch (OTHER_ROLLUP's K is 2: blocks 3 and 4).
    ledger.settle(OTHER_COORDINATOR, 1, [report(B, task=3)])
    assert ledger.batch_settled(OTHER_ROLLUP, 1)


def test_a_removed_coordinators_batches_are_settled_by_another_of_its_rollup():
    ledger = make_ledger()
    ledger.register_coordinator(STRANGER, ROLLUP)
    ledger.remove_coordinator(COORDINATOR)
    refused(ledger, "NotCoordinator", ledger.settle, COORDINATOR, 1, [report(A)])
    ledger.settle(STRANGER, 1, [report(A)])
    refused(ledger, "NotRegistered", ledger.remove_coordinator, COORDINATOR)
    refused(ledger, "AlreadyRegistered", ledger.register_coordinator, STRANGER, OTHER_ROLLUP)


# ---------------------------------------------------------------- reputation

def test_reputation_changes_once_per_record_whatever_its_slots():
    ledger = make_ledger()
    ledger.rollers[C].rep = PARAMS.rep_min
    ledger.settle(COORDINATOR, 1, [
        report(A, slots=2), report(B), report(C, outcome=MISSED),
        report(A, round_=1, outcome=LATE), report(B, task=6, outcome=MISSED)])
    # 5000 on time: 5500; then late (-10%): 4950, or missed (-25%): 4125
    assert (ledger.roller(A).rep, ledger.roller(B).rep) == (4_950, 4_125)
    assert ledger.roller(C).rep == PARAMS.rep_min  # a reported miss never goes below REP_MIN


# ---------------------------------------------------------------- split rewards

def test_split_pays_each_on_time_slot_its_share_up_to_r_block_per_block():
    ledger = make_ledger()
    share = PARAMS.r_block // PARAMS.m
    ledger.settle(COORDINATOR, 1, [
        report(A, task=5, slots=1), report(B, task=5, slots=1, outcome=LATE),
        report(C, task=5, round_=1, slots=2),          # only R_BLOCK - share left for block 5
        report(B, task=5, round_=2, slots=2),          # block 5 has had R_BLOCK
        report(A, task=6, round_=PARAMS.r_open),       # the open round's proof earns R_BLOCK
        report(A, AGG, task=1), report(B, AGG, task=1, round_=1),  # one R_AGG per batch
    ])
    assert ledger.claimable == {A: share + PARAMS.r_block + PARAMS.r_agg, C: share, B: 0}
    assert ledger.reward_pool(ROLLUP) == POOL - 2 * PARAMS.r_block - PARAMS.r_agg
    assert ledger.reward_pool(OTHER_ROLLUP) == POOL  # a coordinator pays from its own Rollup's pool


def test_a_dry_pool_pays_what_it_holds_in_settlement_order():
    ledger = make_ledger(pool=0)
    ledger.mint(FUNDER, 7 * ONE_TOKEN)
    ledger.fund_rewards(FUNDER, ROLLUP, 7 * ONE_TOKEN)
    ledger.settle(COORDINATOR, 1, [report(A), report(B), report(C, task=6)])
    assert ledger.claimable == {A: 5 * ONE_TOKEN, B: 2 * ONE_TOKEN, C: 0}
    assert ledger.reward_pool(ROLLUP) == 0


def test_funding_goes_to_one_enabled_rollups_pool():
    ledger = make_ledger()
    ledger.mint(FUNDER, 3)
    ledger.fund_rewards(FUNDER, OTHER_ROLLUP, 3)
    assert (ledger.reward_pool(ROLLUP), ledger.reward_pool(OTHER_ROLLUP)) == (POOL, POOL + 3)
    assert ledger.total_reward_pool == 2 * POOL + 3
    refused(ledger, "ZeroAmount", ledger.fund_rewards, FUNDER, ROLLUP, 0)
    refused(ledger, "RollupNotEnabled", ledger.fund_rewards, FUNDER, STRANGER, 1)
    refused(ledger, "ERC20InsufficientBalance", ledger.fund_rewards, FUNDER, ROLLUP, 1)
    refused(ledger, "RollupAlreadyAdded", ledger.add_rollup, ROLLUP, K)


# ---------------------------------------------------------------- lottery

LOTTERY = replace(PARAMS, reward_mode=RewardMode.LOTTERY)
#: Block 5's tickets: A holds one, B two. B's smallest under randomness 0x00.., A's under 0x03..
RANDOMNESS_B_WINS, RANDOMNESS_A_WINS = bytes(32), bytes([3]) * 32


def test_lottery_settle_commits_to_the_on_time_block_entries_and_pays_only_aggregation():
    ledger = make_ledger(LOTTERY)
    records = [report(A, slots=2), report(B, outcome=LATE), report(C, task=6),
               report(A, task=7, outcome=MISSED), report(B, AGG, task=1)]
    ledger.settle(COORDINATOR, 1, records, block_number=41)
    entries = [(5, A, 2), (6, C, 1)]
    assert lottery_entries(records) == entries
    assert ledger.pending_lottery(ROLLUP, 1) == PendingLottery(lottery_entries_hash(entries), 42)
    assert ledger.claimable == {B: PARAMS.r_agg}


@pytest.mark.parametrize("randomness, winner", [(RANDOMNESS_B_WINS, B), (RANDOMNESS_A_WINS, A)])
def test_draw_lottery_pays_r_block_per_block_to_its_smallest_ticket_once(randomness, winner):
    ledger = make_ledger(LOTTERY)
    ledger.settle(COORDINATOR, 1, [report(A), report(B, slots=2), report(C, task=6)], block_number=41)
    entries = [(5, A, 1), (5, B, 2), (6, C, 1)]
    assert lottery_winner(randomness, 5, [(A, 1), (B, 2)]) == winner
    draw = ledger.draw_lottery
    refused(ledger, "NoPendingLottery", draw, ROLLUP, 0, entries, randomness)
    refused(ledger, "NoPendingLottery", draw, OTHER_ROLLUP, 1, entries, randomness)
    refused(ledger, "RandomnessNotYetAvailable", draw, ROLLUP, 1, entries, randomness, block_number=42)
    refused(ledger, "WrongLotteryEntries", draw, ROLLUP, 1, entries[:2], randomness)
    refused(ledger, "WrongLotteryEntries", draw, ROLLUP, 1, [(5, A, 1), (5, B, 3), (6, C, 1)], randomness)
    refused(ledger, "WrongLotteryEntries", draw, ROLLUP, 1, [entries[1], entries[0], entries[2]], randomness)
    draw(ROLLUP, 1, entries, randomness, block_number=43)
    assert ledger.claimable == {winner: PARAMS.r_block, C: PARAMS.r_block}
    assert ledger.reward_pool(ROLLUP) == POOL - 2 * PARAMS.r_block
    assert ledger.pending_lottery(ROLLUP, 1) is None
    refused(ledger, "NoPendingLottery", draw, ROLLUP, 1, entries, randomness)


def test_a_lottery_without_on_time_blocks_is_not_pending():
    ledger = make_ledger(LOTTERY)
    ledger.settle(COORDINATOR, 1, [report(A, outcome=LATE), report(B, AGG, task=1)])
    assert ledger.pending_lottery(ROLLUP, 1) is None


# ---------------------------------------------------------------- stake, unbonding, slashing

def test_at_most_max_unbonding_entries_pending_and_withdraw_frees_them():
    ledger = make_ledger()
    for second in range(MAX_UNBONDING_ENTRIES):
        ledger.request_unstake(A, 1, now=second)
    refused(ledger, "TooManyUnbondings", ledger.request_unstake, A, 1, now=100)
    refused(ledger, "InsufficientStake", ledger.request_unstake, A, STAKE, now=100)
    ledger.withdraw(A, now=PARAMS.unbonding)  # the first entry, released at UNBONDING
    ledger.request_unstake(A, 1, now=PARAMS.unbonding)
    assert len(ledger.roller(A).unbonding) == MAX_UNBONDING_ENTRIES


def test_slash_takes_active_stake_first_then_unbonding_entries_newest_first():
    ledger = make_ledger()
    tokens = ONE_TOKEN
    ledger.request_unstake(A, 150 * tokens, now=0)
    ledger.request_unstake(A, 45 * tokens, now=1)
    # 10% of 200: the 5 active, then 15 of the newest entry (45 -> 30)
    split = ledger.slash(A, B, b"offense-1")
    assert (split.amount, split.reporter_share, split.burned) == (20 * tokens, 2 * tokens, 18 * tokens)
    assert ledger.roller(A).active == 0
    assert [amount for amount, _ in ledger.roller(A).unbonding] == [150 * tokens, 30 * tokens]
    refused(ledger, "AlreadySlashed", ledger.slash, A, C, b"offense-1")
    # 10% of 180: the newest entry's 18 (30 -> 12)
    ledger.slash(A, C, b"offense-2")
    assert [amount for amount, _ in ledger.roller(A).unbonding] == [150 * tokens, 12 * tokens]
    assert ledger.roller(A).rep == 0 and ledger.burned == 18 * tokens + 162 * tokens // 10
    refused(ledger, "UnknownRoller", ledger.slash, UNSTAKED, B, b"offense-3")
