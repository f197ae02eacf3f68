"""The ledger (the Python model of RollerStaking v2) on its own: every refusal of `settle` beside
the nearest report it accepts, the draw checked against roster snapshots, rewards and their caps,
per-Rollup pools, the two-phase lottery, the unbonding cap and the order of a slash.
`test_ledger_vs_contract.py` holds it to the contract; these pin what the spec says it must do."""

from __future__ import annotations

import copy
import itertools
from dataclasses import replace

import pytest

from market_contracts.ledger import (
    NO_DRAW,
    DrawProof,
    Ledger,
    OutcomeReport,
    PendingLottery,
    Rejected,
    draw_proof,
    lottery_entries,
    lottery_entries_hash,
)
from market_contracts.rules import (
    MAX_UNBONDING_ENTRIES,
    MarketParams,
    Outcome,
    RewardMode,
    TaskKind,
    batch_of,
    batch_seed,
    block_seed,
    draw_slots,
    last_block_of,
    lottery_winner,
    slot_counts,
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


#: The draws the tests below settle: per (rollup, kind, task), per round, the slots each roller
#: holds. Equal weights, so each block's randomness is found by counting up from 1 to the first
#: that draws these (`randomness_drawing`; 0 is what the contract reads as not recorded).
DRAWS = {
    (ROLLUP, BLOCK, 5): {0: {A: 1, B: 1}, 1: {C: 2}, 2: {B: 2}},
    (ROLLUP, BLOCK, 6): {0: {A: 2}, 1: {A: 1, B: 1}},
    (ROLLUP, BLOCK, 7): {0: {C: 2}},
    (ROLLUP, BLOCK, 8): {0: {A: 1, C: 1}},
    (ROLLUP, AGG, 1): {0: {A: 1}, 1: {B: 1}},
    (ROLLUP, BLOCK, 9): {0: {A: 1, B: 1}},
    (OTHER_ROLLUP, BLOCK, 3): {0: {B: 1, C: 1}},
}
#: The prover `finalizeBatch` names for every block.
PROVER = A
SNAPSHOT_BLOCK, SNAPSHOT_TIME = 10, 1_000
BLOCKS = 12


def held(seed: bytes, roster, m: int) -> dict[str, int]:
    return slot_counts(draw_slots(seed, roster, m))


def randomness_drawing(ledger: Ledger, rollup: str, block: int) -> bytes:
    """The first randomness, counting up from 1, under which block `block` (and its batch, when it
    is the batch's last) draws what DRAWS says."""
    roster = [(e.roller, e.weight) for e in ledger.snapshots[-1].entries]
    k = ledger.rollups[rollup].k
    batch = batch_of(block, k)
    for i in itertools.count(1):
        randomness = i.to_bytes(32, "big")
        wanted = [(block_seed(ledger.chain_id, rollup, block, round_, randomness), PARAMS.m, slots)
                  for round_, slots in DRAWS.get((rollup, BLOCK, block), {}).items()]
        if block == last_block_of(batch, k):
            wanted += [(batch_seed(ledger.chain_id, rollup, batch, round_, randomness), 1, slots)
                       for round_, slots in DRAWS.get((rollup, AGG, batch), {}).items()]
        if all(held(seed, roster, m) == slots for seed, m, slots in wanted):
            return randomness


def make_ledger(params: MarketParams = PARAMS, pool: int = POOL, finalized: int = 2 * K) -> Ledger:
    """Rollup with K = 4 and batches 0 and 1 finalized; OTHER_ROLLUP (K = 2) with its own pool and
    coordinator; rollers A, B and C staked, a roster snapshot of them taken, blocks 1..12 of both
    committed after it with randomness recorded that draws DRAWS; PROVER proved every block."""
    ledger = Ledger(params)
    for roller in (A, B, C):
        ledger.mint(roller, STAKE)
        ledger.stake(roller, STAKE)
    ledger.take_snapshot(SNAPSHOT_BLOCK, SNAPSHOT_TIME)
    for rollup, k, coordinator in ((ROLLUP, K, COORDINATOR), (OTHER_ROLLUP, 2, OTHER_COORDINATOR)):
        ledger.add_rollup(rollup, k)
        ledger.register_coordinator(coordinator, rollup)
        for n in range(1, BLOCKS + 1):
            ledger.pin(rollup, n, SNAPSHOT_BLOCK + n - 1, SNAPSHOT_TIME + n)
            ledger.record_randomness(rollup, n, randomness_drawing(ledger, rollup, n))
        ledger.finalize(rollup, finalized, provers(1, finalized))
        ledger.mint(FUNDER, pool)
        if pool:
            ledger.fund_rewards(FUNDER, rollup, pool)
    return ledger


def provers(first: int, last: int) -> dict[int, str]:
    return dict.fromkeys(range(first, last + 1), PROVER)


def draws_for(ledger: Ledger, rollup: str, batch: int, records) -> list[DrawProof]:
    """Each record's proof from the snapshot its task draws from (what an honest coordinator
    sends); NO_DRAW for the open round and where there is nothing to prove."""
    draws = []
    for o in records:
        block = o.task if o.kind == BLOCK else last_block_of(batch, ledger.rollups[rollup].k)
        snapshot = ledger.roster_snapshot_of(rollup, block)
        entries = () if snapshot is None else ledger.snapshots[snapshot].entries
        if o.round == PARAMS.r_open or o.roller not in {e.roller for e in entries}:
            draws.append(NO_DRAW)
        else:
            draws.append(draw_proof(snapshot, entries, o.roller))
    return draws


def settle(ledger: Ledger, coordinator: str, batch: int, records, **kwargs) -> None:
    """`settle` with the draws an honest coordinator attaches."""
    rollup = ledger.coordinators.get(coordinator)
    draws = (draws_for(ledger, rollup, batch, records) if rollup in ledger.rollups
             else [NO_DRAW] * len(records))
    ledger.settle(coordinator, batch, records, draws, **kwargs)


def refused(ledger: Ledger, reason: str, operation, *args, **kwargs) -> None:
    """The operation is refused for `reason` and, like a reverted transaction, changes nothing."""
    before = copy.deepcopy(ledger)
    with pytest.raises(Rejected) as excinfo:
        operation(*args, **kwargs)
    assert excinfo.value.reason == reason
    assert ledger == before


# ---------------------------------------------------------------- settlement: refused beside accepted

#: (name, batch, records, reason): each refused report beside its nearest accepted one (reason
#: None), with the draws an honest coordinator attaches. Batch 1 holds blocks 5..8; batches 1 and
#: 0 are finalized. DRAWS says who holds what.
SETTLEMENTS = [
    ("one record", 1, [report(A)], None),
    ("empty", 1, [], "EmptySettlement"),
    ("sorted by kind, task, round, roller", 1,
     [report(B, task=5), report(A, task=6, slots=2), report(A, task=6, round_=1),
      report(B, task=6, round_=1), report(A, AGG, task=1)], None),
    ("roller order within a round", 1, [report(B), report(A)], "OutcomesNotSorted"),
    ("round order within a task", 1, [report(C, round_=1, slots=2), report(A)], "OutcomesNotSorted"),
    ("task order", 1, [report(A, task=6, slots=2), report(A, task=5)], "OutcomesNotSorted"),
    ("aggregation before block", 1, [report(A, AGG, task=1), report(A)], "OutcomesNotSorted"),
    ("duplicate record", 1, [report(A), report(A)], "OutcomesNotSorted"),
    ("duplicate with another outcome", 1, [report(A), report(A, outcome=LATE)], "OutcomesNotSorted"),
    ("first and last block of the batch", 1, [report(A, task=5), report(A, task=8)], None),
    ("block of the batch before", 1, [report(A, task=4)], "TaskNotInBatch"),
    ("block of the batch after", 1, [report(A, task=9)], "TaskNotInBatch"),
    ("block 0", 0, [report(A, task=0)], "TaskNotInBatch"),
    ("aggregation of the batch", 1, [report(A, AGG, task=1)], None),
    ("aggregation of another batch", 1, [report(A, AGG, task=0)], "TaskNotInBatch"),
    ("open round by the prover L1 recorded", 1, [report(PROVER, round_=PARAMS.r_open)], None),
    ("open round by another roller", 1, [report(B, round_=PARAMS.r_open)], "NotTheProver"),
    ("aggregation's open round: L1 names no aggregator, so it is not settled", 1,
     [report(C, AGG, task=1, round_=PARAMS.r_open)], "RoundTooLarge"),
    ("round after the open round", 1, [report(A, round_=PARAMS.r_open + 1)], "RoundTooLarge"),
    ("M slots", 1, [report(A, task=6, slots=PARAMS.m)], None),
    ("no slot", 1, [report(A, slots=0)], "TooManySlots"),
    ("M + 1 slots", 1, [report(A, task=6, slots=PARAMS.m + 1)], "TooManySlots"),
    ("two slots in the open round", 1, [report(A, round_=PARAMS.r_open, slots=2)], "TooManySlots"),
    ("two slots of an aggregation", 1, [report(A, AGG, task=1, slots=2)], "TooManySlots"),
    ("late and missed", 1, [report(A, outcome=LATE), report(B, outcome=MISSED)], None),
    ("invalid outcome", 1, [report(A, outcome=INVALID)], "InvalidNeedsEvidence"),
    ("unknown roller", 1, [report(UNSTAKED)], "UnknownRoller"),
    ("a roller in the snapshot but not drawn", 1, [report(C)], "NotDrawn"),
    ("fewer slots than the roller holds", 1, [report(A, task=6, slots=1)], "NotDrawn"),
    ("more slots than the roller holds", 1, [report(A, slots=2)], "NotDrawn"),
    ("a holder of round 1 reported in round 0", 1, [report(C, slots=2)], "NotDrawn"),
    ("an aggregation round's holder", 1, [report(B, AGG, task=1, round_=1)], None),
    ("another aggregation round's holder", 1, [report(B, AGG, task=1)], "NotDrawn"),
    ("first failure in report order is the reason", 1,
     [report(A, task=9), report(A, outcome=INVALID)], "TaskNotInBatch"),
    ("a draw is checked before the next record's order", 1,
     [report(C), report(A)], "NotDrawn"),
]


@pytest.mark.parametrize("name, batch, records, reason", SETTLEMENTS, ids=[s[0] for s in SETTLEMENTS])
def test_settle_refuses_each_bad_report_and_accepts_its_neighbour(name, batch, records, reason):
    ledger = make_ledger()
    if reason is None:
        settle(ledger, COORDINATOR, batch, records)
        assert ledger.batch_settled(ROLLUP, batch)
    else:
        refused(ledger, reason, settle, ledger, COORDINATOR, batch, records)


def test_the_draws_the_tests_settle_are_the_rules_draws():
    """DRAWS is what `rules.draw_slots` gives under the recorded randomness, so the accepted
    reports above are real draws (and the refused ones are not)."""
    ledger = make_ledger()
    roster = ledger.roster()
    for (rollup, kind, task), rounds in DRAWS.items():
        k = ledger.rollups[rollup].k
        block = task if kind == BLOCK else last_block_of(task, k)
        randomness = ledger.rollups[rollup].randomness[block]
        for round_, slots in rounds.items():
            if kind == BLOCK:
                assert held(block_seed(31337, rollup, task, round_, randomness), roster, 2) == slots
            else:
                assert held(batch_seed(31337, rollup, task, round_, randomness), roster, 1) == slots


# ---------------------------------------------------------------- the draw: forged proofs

def forged(ledger: Ledger, roller: str, **changes) -> DrawProof:
    """`roller`'s honest proof for block 5 with some fields changed."""
    return replace(draw_proof(0, ledger.snapshots[0].entries, roller), **changes)


def test_settle_checks_each_drawn_records_proof_against_the_tasks_snapshot():
    ledger = make_ledger()
    a_entry, b_entry = (e for e in ledger.snapshots[0].entries if e.roller in (A, B))
    honest = forged(ledger, A)
    records = [report(A)]
    cases = [
        ("DrawProofsMismatch", records, []),
        ("DrawProofsMismatch", records, [honest, honest]),
        ("WrongSnapshot", records, [forged(ledger, A, snapshot=1)]),
        # B's entry under A's name, and A's entry with B's interval: neither is a leaf
        ("NotInSnapshot", records, [forged(ledger, B)]),
        ("NotInSnapshot", records, [forged(ledger, A, start=b_entry.start)]),
        ("NotInSnapshot", records, [forged(ledger, A, weight=a_entry.weight * 2)]),
        ("NotInSnapshot", records, [forged(ledger, A, index=b_entry.index)]),
        ("NotInSnapshot", records, [forged(ledger, A, path=honest.path[:-1])]),
        ("NotInSnapshot", records, [forged(ledger, A, path=(bytes(32),) + honest.path[1:])]),
        ("NotInSnapshot", records, [NO_DRAW]),
    ]
    for reason, records_, draws in cases:
        refused(ledger, reason, ledger.settle, COORDINATOR, 1, records_, draws)
    ledger.settle(COORDINATOR, 1, records, [honest])
    assert ledger.batch_settled(ROLLUP, 1)


def test_the_open_round_ignores_its_draw_proof():
    ledger = make_ledger()
    ledger.settle(COORDINATOR, 1, [report(PROVER, round_=PARAMS.r_open)],
                  [forged(ledger, B, snapshot=7)])
    assert ledger.claimable[PROVER] == PARAMS.r_block


def test_randomness_not_recorded_is_refused_until_it_is():
    ledger = make_ledger(finalized=K)
    ledger.rollups[ROLLUP].randomness.clear()  # as if no one had recorded block 4's
    ledger.pin(ROLLUP, 4, 0, 0)  # a second pin of a number changes nothing
    draws = draws_for(ledger, ROLLUP, 0, [report(A, task=4)])
    refused(ledger, "RandomnessNotRecorded", ledger.settle, COORDINATOR, 0,
            [report(A, task=4)], draws)
    refused(ledger, "BlockNeverCommitted", ledger.record_randomness, ROLLUP, BLOCKS + 1, bytes(32))
    ledger.record_randomness(ROLLUP, 4, randomness_drawing(ledger, ROLLUP, 4))
    assert ledger.record_randomness(ROLLUP, 4, b"\xff" * 32) != b"\xff" * 32  # never changes
    roster = ledger.roster()
    seed = block_seed(31337, ROLLUP, 4, 0, ledger.rollups[ROLLUP].randomness[4])
    records = [report(roller, task=4, slots=slots)
               for roller, slots in sorted(held(seed, roster, PARAMS.m).items())]
    settle(ledger, COORDINATOR, 0, records)


def test_the_roster_is_the_last_snapshot_before_the_roster_block_unless_too_old():
    ledger = make_ledger()
    ledger.mint(UNSTAKED, STAKE)
    ledger.stake(UNSTAKED, STAKE)
    refused(ledger, "SnapshotAlreadyTaken", ledger.take_snapshot, SNAPSHOT_BLOCK, SNAPSHOT_TIME + 1)
    second = ledger.take_snapshot(100, SNAPSHOT_TIME + 50)
    assert [e.roller for e in ledger.snapshots[second].entries] == [A, B, C, UNSTAKED]
    ledger.pin(ROLLUP, 20, 99, SNAPSHOT_TIME + 60)  # roster block before the second snapshot
    ledger.pin(ROLLUP, 21, 100, SNAPSHOT_TIME + 60)
    ledger.pin(ROLLUP, 22, 100, SNAPSHOT_TIME + 50 + PARAMS.snapshot_max_age)
    ledger.pin(ROLLUP, 23, 100, SNAPSHOT_TIME + 51 + PARAMS.snapshot_max_age)  # too old: empty
    assert [ledger.roster_snapshot_of(ROLLUP, n) for n in (20, 21, 22, 23, 24)] == [
        0, second, second, None, None]
    # A block whose roster is empty has no drawn record: any snapshot named is the wrong one.
    ledger.finalize(ROLLUP, 24, provers(2 * K + 1, 24))
    for n in range(BLOCKS + 1, 25):
        ledger.pin(ROLLUP, n, 100, SNAPSHOT_TIME + 51 + PARAMS.snapshot_max_age)
        ledger.record_randomness(ROLLUP, n, bytes([1]) * 32)
    refused(ledger, "WrongSnapshot", ledger.settle, COORDINATOR, 5, [report(A, task=23)],
            [forged(ledger, A, snapshot=second)])
    settle(ledger, COORDINATOR, 5, [report(PROVER, task=23, round_=PARAMS.r_open)])


def test_finalize_records_only_the_newly_finalized_blocks_provers():
    ledger = make_ledger()
    with pytest.raises(ValueError, match="only blocks 9..12"):
        ledger.finalize(ROLLUP, 12, {8: B})
    ledger.finalize(ROLLUP, 12, {9: B})
    assert ledger.rollups[ROLLUP].provers[9] == B


def test_settle_refuses_callers_that_may_not_settle_this_batch():
    ledger = make_ledger()
    refused(ledger, "NotCoordinator", settle, ledger, STRANGER, 1, [report(A)])
    ledger.register_coordinator(STRANGER, "0x" + "dd" * 20)  # bound to a Rollup never enabled
    refused(ledger, "RollupNotEnabled", settle, ledger, STRANGER, 1, [report(A)])
    # Finalized up to block 8: batch 1 (blocks 5..8) settles, batch 2 (9..12) does not.
    refused(ledger, "BatchNotFinalized", settle, ledger, COORDINATOR, 2, [report(A, task=9)])
    ledger.finalize(ROLLUP, 11, provers(9, 11))
    refused(ledger, "BatchNotFinalized", settle, ledger, COORDINATOR, 2, [report(A, task=9)])
    ledger.finalize(ROLLUP, 12, provers(12, 12))
    settle(ledger, COORDINATOR, 2, [report(A, task=9)])


def test_a_batch_settles_once_per_rollup_across_coordinators():
    ledger = make_ledger()
    ledger.register_coordinator(STRANGER, ROLLUP)
    settle(ledger, COORDINATOR, 1, [report(A)])
    refused(ledger, "BatchAlreadySettled", settle, ledger, COORDINATOR, 1, [report(B)])
    refused(ledger, "BatchAlreadySettled", settle, ledger, STRANGER, 1, [report(B)])
    # Batch 1 of another Rollup is another batch (OTHER_ROLLUP's K is 2: blocks 3 and 4).
    settle(ledger, OTHER_COORDINATOR, 1, [report(B, task=3)])
    assert ledger.batch_settled(OTHER_ROLLUP, 1)


def test_a_removed_coordinators_batches_are_settled_by_another_of_its_rollup():
    ledger = make_ledger()
    ledger.register_coordinator(STRANGER, ROLLUP)
    ledger.remove_coordinator(COORDINATOR)
    refused(ledger, "NotCoordinator", settle, ledger, COORDINATOR, 1, [report(A)])
    settle(ledger, STRANGER, 1, [report(A)])
    refused(ledger, "NotRegistered", ledger.remove_coordinator, COORDINATOR)
    refused(ledger, "AlreadyRegistered", ledger.register_coordinator, STRANGER, OTHER_ROLLUP)


# ---------------------------------------------------------------- reputation

def test_reputation_changes_once_per_record_whatever_its_slots():
    ledger = make_ledger()
    ledger.rollers[C].rep = PARAMS.rep_min
    settle(ledger, COORDINATOR, 1, [
        report(A), report(B), report(C, round_=1, slots=2, outcome=MISSED),
        report(A, task=6, round_=1, outcome=LATE), report(B, task=6, round_=1, outcome=MISSED)])
    # 5000 on time: 5500; then late (-10%): 4950, or missed (-25%): 4125
    assert (ledger.roller(A).rep, ledger.roller(B).rep) == (4_950, 4_125)
    assert ledger.roller(C).rep == PARAMS.rep_min  # a reported miss never goes below REP_MIN


# ---------------------------------------------------------------- split rewards

def test_split_pays_each_on_time_slot_its_share_up_to_r_block_per_block():
    ledger = make_ledger()
    share = PARAMS.r_block // PARAMS.m
    settle(ledger, COORDINATOR, 1, [
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
    settle(ledger, COORDINATOR, 1, [report(A), report(B), report(A, task=6, slots=2)])
    assert ledger.claimable == {A: 5 * ONE_TOKEN, B: 2 * ONE_TOKEN}
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
#: Block 5's tickets: A and B hold one each, C two (round 1). Whose is the smallest under each
#: randomness is asserted below, beside its use.
RANDOMNESS_B_WINS, RANDOMNESS_A_WINS = bytes([2]) * 32, bytes([3]) * 32


def test_lottery_settle_commits_to_the_on_time_block_entries_and_pays_only_aggregation():
    ledger = make_ledger(LOTTERY)
    records = [report(A), report(B, outcome=LATE), report(A, task=6, slots=2),
               report(C, task=7, slots=2, outcome=MISSED), report(B, AGG, task=1, round_=1)]
    settle(ledger, COORDINATOR, 1, records, block_number=41)
    entries = [(5, A, 1), (6, A, 2)]
    assert lottery_entries(records) == entries
    assert ledger.pending_lottery(ROLLUP, 1) == PendingLottery(lottery_entries_hash(entries), 42)
    assert ledger.claimable == {B: PARAMS.r_agg}


@pytest.mark.parametrize("randomness, winner", [(RANDOMNESS_B_WINS, B), (RANDOMNESS_A_WINS, A)])
def test_draw_lottery_pays_r_block_per_block_to_its_smallest_ticket_once(randomness, winner):
    ledger = make_ledger(LOTTERY)
    settle(ledger, COORDINATOR, 1, [report(A), report(B), report(C, round_=1, slots=2),
                                    report(A, task=6, slots=2)], block_number=41)
    entries = [(5, A, 1), (5, B, 1), (5, C, 2), (6, A, 2)]
    assert lottery_winner(randomness, 5, [(A, 1), (B, 1), (C, 2)]) == winner
    draw = ledger.draw_lottery
    refused(ledger, "NoPendingLottery", draw, ROLLUP, 0, entries, randomness)
    refused(ledger, "NoPendingLottery", draw, OTHER_ROLLUP, 1, entries, randomness)
    refused(ledger, "RandomnessNotYetAvailable", draw, ROLLUP, 1, entries, randomness, block_number=42)
    refused(ledger, "WrongLotteryEntries", draw, ROLLUP, 1, entries[:3], randomness)
    refused(ledger, "WrongLotteryEntries", draw, ROLLUP, 1, [*entries[:3], (6, A, 1)], randomness)
    refused(ledger, "WrongLotteryEntries", draw, ROLLUP, 1, [entries[1], entries[0], *entries[2:]], randomness)
    draw(ROLLUP, 1, entries, randomness, block_number=43)
    expected = {A: PARAMS.r_block}  # block 6's only tickets are A's
    expected[winner] = expected.get(winner, 0) + PARAMS.r_block
    assert ledger.claimable == expected
    assert ledger.reward_pool(ROLLUP) == POOL - 2 * PARAMS.r_block
    assert ledger.pending_lottery(ROLLUP, 1) is None
    refused(ledger, "NoPendingLottery", draw, ROLLUP, 1, entries, randomness)


def test_a_lottery_without_on_time_blocks_is_not_pending():
    ledger = make_ledger(LOTTERY)
    settle(ledger, COORDINATOR, 1, [report(A, outcome=LATE), report(B, AGG, task=1, round_=1)])
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
