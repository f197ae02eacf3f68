"""The attacks of the v2 review, each run against the contracts: the refused attempt and the
accepted honest case side by side (docs/market-spec.md names the property each one breaks).

Slashing attacks with real proofs (a copied proof, a junk aggregate, a stale statement, the gas
of a slash over 16 unbonding entries) are in test_slashing.py, where the block circuit is built.
"""

from __future__ import annotations

import dataclasses

import pytest
from eth_utils import is_address, to_checksum_address

from market_contracts.compile import load_artifact
from market_contracts.errors import (
    ContractRejected,
    RollupRejected,
    TransactionFailed,
    WithdrawBeforeRelease,
)
from market_contracts.ledger import NO_DRAW, DrawProof, OutcomeReport, draw_proof, sort_outcomes
from market_contracts.rules import (
    BLOCKHASH_WINDOW,
    Outcome,
    TaskKind,
    exposure,
    first_block_of,
    lottery_winner,
    next_reputation,
    randomness_source,
    roster_snapshot_for,
)
from market_contracts.units import ONE_TOKEN
from sequencer.block_data import Op, Record, calldata

#: The conftest's test rollup: batches of 2 blocks, batches 0..2 finalized when the world is made.
BATCH_SIZE = 2
FINALIZED_BATCHES = 3


def first_block(batch: int) -> int:
    return first_block_of(batch, BATCH_SIZE)


@pytest.fixture(autouse=True)
def _the_conftest_world_matches(deployed_world):
    assert (deployed_world.batch_size, deployed_world.finalized_batches) == (BATCH_SIZE, FINALIZED_BATCHES)


def record(roller, outcome=Outcome.ON_TIME, task=1, round_=0, kind=TaskKind.BLOCK, slots=1):
    return report_of(roller.address, outcome, task, round_, kind, slots)


def report_of(roller: str, outcome=Outcome.ON_TIME, task=1, round_=0, kind=TaskKind.BLOCK, slots=1):
    return OutcomeReport(roller, kind, task, round_, slots, outcome)


def refused(excinfo) -> str:
    assert "\n" not in str(excinfo.value)
    return excinfo.value.reason


def error_args(excinfo) -> tuple:
    """The refusal's arguments, addresses checksummed (they decode in lower case)."""
    return tuple(to_checksum_address(arg) if isinstance(arg, str) and is_address(arg) else arg
                 for arg in excinfo.value.error_args)


def block_hash(chain, number: int) -> bytes:
    return bytes(chain.w3.eth.get_block(number)["hash"])


def mine_through(chain, number: int) -> None:
    """Mine until L1 block `number` exists, so that the next transaction lands after it. A
    refused transaction mines a block on the embedded chain but not on anvil (which refuses it
    at estimation), so tests that were just refused do not know where they stand."""
    while chain.w3.eth.block_number < number:
        chain.mine()


# ---------------------------------------------------------------- (a) invented work


def claimables(world) -> dict[str, int]:
    return {r.address: world.market.roller_info(r.address).claimable for r in world.rollers}


@pytest.mark.parametrize("batch", [FINALIZED_BATCHES, 1_000], ids=["not-yet-finalized", "made-up"])
def test_a_batch_that_is_not_finalized_cannot_be_settled(world, batch):
    world.fund_pool(100)
    row = record(world.rollers[0], task=first_block(batch))
    with pytest.raises(ContractRejected) as excinfo:
        world.market.settle(world.coordinator, batch, [row], [NO_DRAW])
    assert refused(excinfo) == "BatchNotFinalized"
    assert sum(claimables(world).values()) == 0
    world.finalize_through(FINALIZED_BATCHES)  # once L1 finalizes it, it settles
    world.settle(FINALIZED_BATCHES, world.records(TaskKind.BLOCK, first_block(FINALIZED_BATCHES), 0))
    assert sum(claimables(world).values()) == world.params.r_block


def test_a_roller_never_drawn_is_refused_while_the_drawn_are_paid(world):
    world.fund_pool(100)
    drawn = world.records(TaskKind.BLOCK, 1, 0)
    outsider = next(r for r in world.rollers if r.address not in {o.roller for o in drawn})
    invented = sort_outcomes(drawn + [record(outsider)])
    with pytest.raises(ContractRejected) as excinfo:
        world.settle(0, invented)
    assert refused(excinfo) == "NotDrawn"
    assert error_args(excinfo)[:2] == (outsider.address, TaskKind.BLOCK)
    assert error_args(excinfo)[4:] == (1, 0)  # claimed 1, holds none
    world.settle(0, drawn)
    paid = claimables(world)
    assert paid[outsider.address] == 0
    assert sum(paid.values()) == world.params.r_block


def test_a_drawn_roller_cannot_claim_more_slots_than_it_holds(world):
    # A holder of fewer than M slots in some drawn round (there is one unless every round of
    # every block drew one roller twice).
    single = next(o for n in range(1, first_block(FINALIZED_BATCHES))
                  for r in range(world.params.r_open) for o in world.records(TaskKind.BLOCK, n, r)
                  if o.slots < world.params.m)
    batch = (single.task - 1) // BATCH_SIZE
    with pytest.raises(ContractRejected) as excinfo:
        world.settle(batch, [dataclasses.replace(single, slots=single.slots + 1)])
    assert refused(excinfo) == "NotDrawn"
    assert error_args(excinfo)[4:] == (single.slots + 1, single.slots)
    world.settle(batch, [single])


def test_a_draw_proof_from_another_snapshot_is_refused(world):
    later = world.market.snapshot_roster(world.owner)  # taken after every world block's commit
    (row, *_) = world.records(TaskKind.BLOCK, 1, 0)
    _, entries = world.roster_of(TaskKind.BLOCK, 1)
    assert world.market.snapshots()[later].entries == entries  # same rollers, same weights
    with pytest.raises(ContractRejected) as excinfo:
        world.market.settle(world.coordinator, 0, [row], [draw_proof(later, entries, row.roller)])
    assert refused(excinfo) == "WrongSnapshot"
    assert error_args(excinfo) == (TaskKind.BLOCK, 1, later)
    world.settle(0, [row])


@pytest.mark.parametrize("forgery", ["weight", "start", "index", "path", "no-path", "other-roller"])
def test_a_forged_entry_or_path_is_not_in_the_snapshot(world, forgery):
    (row, *_) = world.records(TaskKind.BLOCK, 1, 0)
    snapshot, entries = world.roster_of(TaskKind.BLOCK, 1)
    honest = draw_proof(snapshot, entries, row.roller)
    total = sum(e.weight for e in entries)
    other = next(e.roller for e in entries if e.roller != row.roller)
    forged = {
        "weight": dataclasses.replace(honest, start=0, weight=total),  # the whole interval
        "start": dataclasses.replace(honest, start=(honest.start + 1) % total),
        "index": dataclasses.replace(honest, index=honest.index + 1),
        "path": dataclasses.replace(honest, path=(bytes(32),) + honest.path[1:]),
        "no-path": dataclasses.replace(honest, path=()),
        # another roller's entry and path, as if it were the record's roller's
        "other-roller": draw_proof(snapshot, entries, other),
    }[forgery]
    with pytest.raises(ContractRejected) as excinfo:
        world.market.settle(world.coordinator, 0, [row], [forged])
    assert refused(excinfo) == "NotInSnapshot"
    assert error_args(excinfo)[0] == row.roller
    world.market.settle(world.coordinator, 0, [row], [honest])


def test_a_draw_needs_recorded_randomness(world):
    world.finalize_through(FINALIZED_BATCHES, record=False)
    n = first_block(FINALIZED_BATCHES)
    snapshot, entries = world.roster_of(TaskKind.BLOCK, n)
    roller = world.rollers[0].address
    with pytest.raises(ContractRejected) as excinfo:
        world.market.settle(world.coordinator, FINALIZED_BATCHES, [record(world.rollers[0], task=n)],
                            [draw_proof(snapshot, entries, roller)])
    assert refused(excinfo) == "RandomnessNotRecorded"
    assert error_args(excinfo) == (n,)
    world.rollup.record_randomness(world.owner, n)
    world.settle(FINALIZED_BATCHES, world.records(TaskKind.BLOCK, n, 0))


def test_the_open_round_of_a_block_pays_only_the_prover_l1_recorded(world):
    world.fund_pool(100)
    r_open = world.params.r_open
    prover = world.prover_of(1)
    impostor = next(r.address for r in world.rollers if r.address != prover)
    with pytest.raises(ContractRejected) as excinfo:
        world.settle(0, [report_of(impostor, round_=r_open)])
    assert refused(excinfo) == "NotTheProver"
    assert error_args(excinfo) == (impostor, 1, prover)
    world.settle(0, [report_of(prover, round_=r_open)])
    assert claimables(world)[prover] == world.params.r_block


def test_a_snapshot_too_old_at_the_first_commit_leaves_the_block_without_a_roster(world):
    params = world.params
    taken = world.market.snapshots()[world.snapshot_id]
    last_world_block = first_block(FINALIZED_BATCHES) - 1
    assert world.market.roster_snapshot_of(world.rollup.address, last_world_block) == world.snapshot_id
    # The next block, first committed one second past SNAPSHOT_MAX_AGE.
    world.chain.set_next_block_timestamp(taken.timestamp + params.snapshot_max_age + 1)
    world.finalize_through(FINALIZED_BATCHES)
    n = first_block(FINALIZED_BATCHES)
    roster_block, _, draw_time = world.rollup.draw_blocks(n)
    assert draw_time == taken.timestamp + params.snapshot_max_age + 1
    assert roster_snapshot_for([(taken.l1_block, taken.timestamp)], roster_block, draw_time,
                               params.snapshot_max_age) is None
    assert world.market.roster_snapshot_of(world.rollup.address, n) is None
    _, entries = world.roster_of(TaskKind.BLOCK, last_world_block)
    for row in (record(world.rollers[0], task=n), record(world.rollers[0], task=n + 1)):
        with pytest.raises(ContractRejected) as excinfo:
            world.market.settle(world.coordinator, FINALIZED_BATCHES, [row],
                                [draw_proof(world.snapshot_id, entries, row.roller)])
        assert refused(excinfo) == "WrongSnapshot"
    # The open round still pays the block's rescuer; and a fresh snapshot is the roster of the
    # blocks committed after it.
    world.settle(FINALIZED_BATCHES, [report_of(world.prover_of(n), task=n, round_=params.r_open)])
    fresh = world.market.snapshot_roster(world.owner)
    world.finalize_through(FINALIZED_BATCHES + 1)
    n = first_block(FINALIZED_BATCHES + 1)
    assert world.market.roster_snapshot_of(world.rollup.address, n) == fresh
    world.settle(FINALIZED_BATCHES + 1, world.records(TaskKind.BLOCK, n, 0))


def test_a_snapshot_exactly_max_age_old_is_still_the_roster(world):
    taken = world.market.snapshots()[world.snapshot_id]
    world.chain.set_next_block_timestamp(taken.timestamp + world.params.snapshot_max_age)
    world.finalize_through(FINALIZED_BATCHES)
    n = first_block(FINALIZED_BATCHES)
    assert world.rollup.draw_blocks(n)[2] == taken.timestamp + world.params.snapshot_max_age
    assert world.market.roster_snapshot_of(world.rollup.address, n) == world.snapshot_id


def test_staking_after_the_snapshot_changes_nothing_for_the_block(world):
    whale = world.new_roller(stake_tokens=900)  # after the snapshot, before the commit
    world.finalize_through(FINALIZED_BATCHES)
    n = first_block(FINALIZED_BATCHES)
    snapshot, entries = world.roster_of(TaskKind.BLOCK, n)
    assert snapshot == world.snapshot_id
    assert whale.address not in {e.roller for e in entries}
    total = sum(e.weight for e in entries)
    # The whale's stake would own the draw if it counted; it has no entry to prove it with.
    weight = world.market.roller_info(whale.address).weight
    claim = DrawProof(snapshot, len(entries), total, weight, ())
    with pytest.raises(ContractRejected) as excinfo:
        world.market.settle(world.coordinator, FINALIZED_BATCHES,
                            [record(whale, task=n, slots=world.params.m)], [claim])
    assert refused(excinfo) == "NotInSnapshot"
    world.settle(FINALIZED_BATCHES, world.records(TaskKind.BLOCK, n, 0))


def test_one_snapshot_per_l1_block(world):
    twice = world.chain.deploy(world.owner, load_artifact("SnapshotTwice"))
    count = world.market.snapshot_count()
    with pytest.raises(TransactionFailed) as excinfo:
        world.chain.transact(world.owner, twice.functions.snapshotTwice(world.market.staking.address))
    assert excinfo.value.reason == "SnapshotAlreadyTaken"
    assert world.market.snapshot_count() == count
    # One in each of two blocks is fine.
    first, second = (world.market.snapshot_roster(world.owner) for _ in range(2))
    assert (first, second) == (count, count + 1)


def test_draw_proofs_are_one_per_record(world):
    rows = world.records(TaskKind.BLOCK, 1, 0)
    draws = world.draws(rows)
    for wrong in (draws[:-1], draws + [NO_DRAW]):
        with pytest.raises(ContractRejected) as excinfo:
            world.market.settle(world.coordinator, 0, rows, wrong)
        assert refused(excinfo) == "DrawProofsMismatch"
        assert error_args(excinfo) == (len(rows), len(wrong))
    world.market.settle(world.coordinator, 0, rows, draws)


# ---------------------------------------------------------------- (b) caps


def test_an_aggregation_reported_on_time_in_every_round_pays_r_agg_once(world):
    params = world.params
    world.fund_pool(1_000)
    rows = [o for n in range(params.r_open) for o in world.records(TaskKind.AGGREGATION, 0, n)]
    world.settle(0, rows)
    assert sum(claimables(world).values()) == params.r_agg
    assert world.market.reward_pool() == 1_000 * ONE_TOKEN - params.r_agg
    # Rounds up to 39, as the v1 contract took them: an aggregation's open round and every round
    # after it cannot be settled (L1 names no aggregator to check a rescue against).
    many = [record(world.rollers[0], task=1, round_=n, kind=TaskKind.AGGREGATION)
            for n in range(params.r_open, 40)]
    with pytest.raises(ContractRejected) as excinfo:
        world.market.settle(world.coordinator, 1, many, [NO_DRAW] * len(many))
    assert refused(excinfo) == "RoundTooLarge"


def test_a_block_reported_on_time_by_many_pays_r_block_once(world):
    params = world.params
    world.fund_pool(1_000)
    rows = [o for n in range(params.r_open) for o in world.records(TaskKind.BLOCK, 1, n)]
    rows.append(report_of(world.prover_of(1), round_=params.r_open))
    world.settle(0, rows)
    assert sum(claimables(world).values()) == params.r_block


# ---------------------------------------------------------------- (c) the lottery's randomness


def test_the_lottery_is_drawn_from_a_block_after_the_settlement(lottery_world):
    world = lottery_world
    world.fund_pool(1_000)
    rows = world.records(TaskKind.BLOCK, 1, 0) + world.records(TaskKind.BLOCK, 2, 0)
    receipt = world.settle(0, rows)
    settle_block = receipt["blockNumber"]
    assert sum(claimables(world).values()) == 0  # nothing paid at settlement
    pending = world.market.pending_lottery(world.rollup.address, 0)
    assert pending.target_block == settle_block + 1
    entries = [(o.task, o.roller, o.slots) for o in rows]
    # The coordinator cannot draw in the settlement's own block nor the next: the hash it would
    # need did not exist when it sent the report.
    with pytest.raises(ContractRejected) as excinfo:
        world.market.draw_lottery(world.coordinator, world.rollup.address, 0, entries)
    assert refused(excinfo) == "RandomnessNotYetAvailable"
    # Nor change who holds tickets afterwards.
    with pytest.raises(ContractRejected) as excinfo:
        world.market.draw_lottery(world.owner, world.rollup.address, 0, entries[:-1])
    assert refused(excinfo) == "WrongLotteryEntries"

    mine_through(world.chain, pending.target_block)
    randomness = block_hash(world.chain, pending.target_block)
    world.market.draw_lottery(world.owner, world.rollup.address, 0, entries)
    winners = [lottery_winner(randomness, n, [(o.roller, o.slots) for o in rows if o.task == n])
               for n in (1, 2)]
    for roller, claimable in claimables(world).items():
        assert claimable == winners.count(roller) * world.params.r_block
    with pytest.raises(ContractRejected) as excinfo:
        world.market.draw_lottery(world.owner, world.rollup.address, 0, entries)
    assert refused(excinfo) == "NoPendingLottery"


# ---------------------------------------------------------------- (d) reputation without evidence


def test_an_invalid_outcome_needs_evidence_and_missed_stops_at_rep_min(world):
    params = world.params
    (victim, *_) = world.records(TaskKind.BLOCK, 1, 0)
    with pytest.raises(ContractRejected) as excinfo:
        world.settle(0, [dataclasses.replace(victim, outcome=Outcome.INVALID)])
    assert refused(excinfo) == "InvalidNeedsEvidence"
    assert world.market.roller_info(victim.roller).rep == params.rep_init
    # A coordinator reporting every drawn holder missed in every round of every block it can.
    expected = {r.address: params.rep_init for r in world.rollers}
    for batch in range(FINALIZED_BATCHES):
        rows = [o for n in range(first_block(batch), first_block(batch) + BATCH_SIZE)
                for r in range(params.r_open)
                for o in world.records(TaskKind.BLOCK, n, r, Outcome.MISSED)]
        world.settle(batch, rows)
        for o in rows:
            expected[o.roller] = next_reputation(expected[o.roller], o.outcome, params)
    for roller, rep in expected.items():
        info = world.market.roller_info(roller)
        assert info.rep == rep >= params.rep_min and info.weight > 0
    assert min(expected.values()) == params.rep_min  # 24 drawn slots: someone hit the floor


# ---------------------------------------------------------------- (e) one settlement per batch


def test_a_batch_settles_once_across_coordinators_and_survives_a_removal(world):
    world.fund_pool(100)
    other = world.new_coordinator()
    rows = world.records(TaskKind.BLOCK, 1, 0)
    world.settle(0, rows)
    with pytest.raises(ContractRejected) as excinfo:
        world.settle(0, rows, coordinator=other)
    assert refused(excinfo) == "BatchAlreadySettled"
    world.market.remove_coordinator(world.owner, world.coordinator.address)
    rows = world.records(TaskKind.BLOCK, first_block(1), 0)
    with pytest.raises(ContractRejected) as excinfo:
        world.settle(1, rows)
    assert refused(excinfo) == "NotCoordinator"
    world.settle(1, rows, coordinator=other)
    assert world.market.batch_settled(world.rollup.address, 1)


# ---------------------------------------------------------------- (f) pools per rollup


def test_a_coordinator_pays_only_from_its_own_rollups_pool(world):
    rollup_b = world.add_rollup()
    world.finalize_through(0, rollup_b)
    coordinator_b = world.new_coordinator(rollup_b)
    world.fund_pool(100, rollup_b)
    # A's coordinator settles A's batch 0: A's pool is empty, B's is not touched.
    world.settle(0, world.records(TaskKind.BLOCK, 1, 0))
    assert sum(claimables(world).values()) == 0
    assert world.market.reward_pool(rollup_b.address) == 100 * ONE_TOKEN
    # B's own coordinator settles B's batch 0 (a separate batch 0, its own draw) from B's pool.
    world.settle(0, world.records(TaskKind.BLOCK, 1, 0, rollup=rollup_b), coordinator_b, rollup_b)
    assert sum(claimables(world).values()) == world.params.r_block
    assert world.market.reward_pool(rollup_b.address) == 100 * ONE_TOKEN - world.params.r_block
    assert world.market.reward_pool() == 0


# ---------------------------------------------------------------- (g) the sequencer and the draw


def test_revert_and_recommit_keep_the_draw_blocks_and_the_randomness(world):
    rollup = world.rollup
    committed = world.commit()
    n = committed.number
    assert (committed.roster_block, committed.randomness_block) == (
        committed.l1_block - 1, committed.l1_block + 1)
    # Unknown at commit: recording in the very next block is refused, the one after works.
    with pytest.raises(RollupRejected) as excinfo:
        rollup.record_randomness(world.owner, n)
    assert refused(excinfo) == "RandomnessNotYetAvailable"
    mine_through(world.chain, committed.randomness_block)
    randomness = rollup.record_randomness(world.owner, n)
    assert randomness == block_hash(world.chain, committed.randomness_block)
    rollup.revert_blocks(world.sequencer, n)
    recommitted = rollup.commit_block(world.sequencer, committed.new_root + 7,
                                      calldata([Record(Op.TRANSFER, 2, 3, 4)]))
    assert recommitted.statement() != committed.statement()
    assert rollup.draw_blocks(n) == (committed.roster_block, committed.randomness_block,
                                     committed.timestamp)
    assert rollup.record_randomness(world.owner, n) == randomness == rollup.block(n).randomness
    with pytest.raises(RollupRejected) as excinfo:
        rollup.record_randomness(world.owner, n + 5)
    assert refused(excinfo) == "BlockNeverCommitted"


def test_randomness_falls_back_after_256_blocks(world):
    committed = world.commit()
    target = committed.randomness_block
    for _ in range(BLOCKHASH_WINDOW + 40):
        world.chain.mine()
    receipt_block = world.chain.w3.eth.block_number + 1
    recorded = world.rollup.record_randomness(world.owner, committed.number)
    source = randomness_source(target, receipt_block)
    assert source == target + BLOCKHASH_WINDOW  # a whole period after the target
    assert recorded == block_hash(world.chain, source)


# ---------------------------------------------------------------- (i) stake and its slash


def test_stake_cannot_leave_within_the_exposure(world):
    roller = world.new_roller()
    release = world.market.request_unstake(roller, 200 * ONE_TOKEN)
    world.chain.increase_time(exposure(world.params))  # the last moment evidence may land
    with pytest.raises(WithdrawBeforeRelease):
        world.market.withdraw(roller)
    assert world.market.roller_info(roller.address).unbonding == 200 * ONE_TOKEN  # still slashable
    world.chain.set_next_block_timestamp(release)
    assert world.market.withdraw(roller) == 200 * ONE_TOKEN
