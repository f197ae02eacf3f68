"""The attacks of the v2 review, each run against the contracts: the refused attempt and the
accepted honest case side by side (docs/market-spec.md names the property each one breaks).

Slashing attacks with real proofs (a copied proof, a junk aggregate, a stale statement, the gas
of a slash over 16 unbonding entries) are in test_slashing.py, where the block circuit is built.
"""

from __future__ import annotations

import pytest

from market_contracts.errors import ContractRejected, RollupRejected, WithdrawBeforeRelease
from market_contracts.ledger import OutcomeReport
from market_contracts.rules import (
    BLOCKHASH_WINDOW,
    Outcome,
    TaskKind,
    exposure,
    lottery_winner,
    randomness_source,
)
from market_contracts.units import ONE_TOKEN

from market_contracts.rules import first_block_of

#: The conftest's test rollup: batches of 2 blocks, batches 0..2 finalized when the world is made.
BATCH_SIZE = 2
FINALIZED_BATCHES = 3


def first_block(batch: int) -> int:
    return first_block_of(batch, BATCH_SIZE)


@pytest.fixture(autouse=True)
def _the_conftest_world_matches(deployed_world):
    assert (deployed_world.batch_size, deployed_world.finalized_batches) == (BATCH_SIZE, FINALIZED_BATCHES)


def record(roller, outcome=Outcome.ON_TIME, task=1, round_=0, kind=TaskKind.BLOCK, slots=1):
    return OutcomeReport(roller.address, kind, task, round_, slots, outcome)


def refused(excinfo) -> str:
    assert "\n" not in str(excinfo.value)
    return excinfo.value.reason


def block_hash(chain, number: int) -> bytes:
    return bytes(chain.w3.eth.get_block(number)["hash"])


def mine_through(chain, number: int) -> None:
    """Mine until L1 block `number` exists, so that the next transaction lands after it. A
    refused transaction mines a block on the embedded chain but not on anvil (which refuses it
    at estimation), so tests that were just refused do not know where they stand."""
    while chain.w3.eth.block_number < number:
        chain.mine()


# ---------------------------------------------------------------- (a) invented work


@pytest.mark.parametrize("batch", [FINALIZED_BATCHES, 1_000], ids=["not-yet-finalized", "made-up"])
def test_a_batch_that_is_not_finalized_cannot_be_settled(world, batch):
    roller = world.new_roller()
    world.fund_pool(100)
    with pytest.raises(ContractRejected) as excinfo:
        world.market.settle(world.coordinator, batch, [record(roller, task=first_block(batch))])
    assert refused(excinfo) == "BatchNotFinalized"
    assert world.market.roller_info(roller.address).claimable == 0
    world.finalize_through(FINALIZED_BATCHES)  # once L1 finalizes it, it settles
    world.market.settle(world.coordinator, FINALIZED_BATCHES,
                        [record(roller, task=first_block(FINALIZED_BATCHES), slots=2)])
    assert world.market.roller_info(roller.address).claimable == world.params.r_block


# ---------------------------------------------------------------- (b) caps


def test_an_aggregation_reported_on_time_in_every_round_pays_r_agg_once(world):
    params = world.params
    world.fund_pool(1_000)
    rollers = [world.new_roller() for _ in range(params.r_open + 1)]
    rows = [record(r, task=0, round_=n, kind=TaskKind.AGGREGATION)
            for n, r in enumerate(rollers)]
    world.market.settle(world.coordinator, 0, rows)
    assert sum(world.market.roller_info(r.address).claimable for r in rollers) == params.r_agg
    assert world.market.reward_pool() == 1_000 * ONE_TOKEN - params.r_agg
    # Rounds 0..39, as the v1 contract took them: a round above R_OPEN does not exist.
    many = [record(rollers[0], task=1, round_=n, kind=TaskKind.AGGREGATION) for n in range(40)]
    with pytest.raises(ContractRejected) as excinfo:
        world.market.settle(world.coordinator, 1, many)
    assert refused(excinfo) == "RoundTooLarge"


def test_a_block_reported_on_time_by_many_pays_r_block_once(world):
    params = world.params
    world.fund_pool(1_000)
    rollers = sorted((world.new_roller() for _ in range(3)), key=lambda a: int(a.address, 16))
    rows = [record(r, round_=n, slots=2) for n in range(params.r_open) for r in rollers]
    rows.append(record(rollers[0], round_=params.r_open))
    world.market.settle(world.coordinator, 0, rows)
    assert sum(world.market.roller_info(r.address).claimable for r in rollers) == params.r_block


# ---------------------------------------------------------------- (c) the lottery's randomness


def test_the_lottery_is_drawn_from_a_block_after_the_settlement(lottery_world):
    world = lottery_world
    world.fund_pool(1_000)
    a, b = sorted((world.new_roller(), world.new_roller()), key=lambda x: int(x.address, 16))
    rows = [record(a, task=1), record(b, task=1, slots=1), record(a, task=2, slots=2)]
    receipt = world.market.settle(world.coordinator, 0, rows)
    settle_block = receipt["blockNumber"]
    assert world.market.roller_info(a.address).claimable == 0  # nothing paid at settlement
    pending = world.market.pending_lottery(world.rollup.address, 0)
    assert pending.target_block == settle_block + 1
    entries = [(1, a.address, 1), (1, b.address, 1), (2, a.address, 2)]
    # The coordinator cannot draw in the settlement's own block nor the next: the hash it would
    # need did not exist when it sent the report.
    with pytest.raises(ContractRejected) as excinfo:
        world.market.draw_lottery(world.coordinator, world.rollup.address, 0, entries)
    assert refused(excinfo) == "RandomnessNotYetAvailable"
    # Nor change who holds tickets afterwards.
    with pytest.raises(ContractRejected) as excinfo:
        world.market.draw_lottery(world.owner, world.rollup.address, 0, entries[:2])
    assert refused(excinfo) == "WrongLotteryEntries"

    mine_through(world.chain, pending.target_block)
    randomness = block_hash(world.chain, pending.target_block)
    world.market.draw_lottery(world.owner, world.rollup.address, 0, entries)
    winners = [lottery_winner(randomness, 1, [(a.address, 1), (b.address, 1)]),
               lottery_winner(randomness, 2, [(a.address, 2)])]
    for roller in (a, b):
        expected = winners.count(roller.address) * world.params.r_block
        assert world.market.roller_info(roller.address).claimable == expected
    with pytest.raises(ContractRejected) as excinfo:
        world.market.draw_lottery(world.owner, world.rollup.address, 0, entries)
    assert refused(excinfo) == "NoPendingLottery"


# ---------------------------------------------------------------- (d) reputation without evidence


def test_an_invalid_outcome_needs_evidence_and_missed_stops_at_rep_min(world):
    params = world.params
    victim = world.new_roller()
    with pytest.raises(ContractRejected) as excinfo:
        world.market.settle(world.coordinator, 0, [record(victim, Outcome.INVALID)])
    assert refused(excinfo) == "InvalidNeedsEvidence"
    assert world.market.roller_info(victim.address).rep == params.rep_init
    # A coordinator reporting the victim missed in every round of every block it can.
    for batch in range(FINALIZED_BATCHES):
        rows = [record(victim, Outcome.MISSED, task=n, round_=r)
                for n in range(first_block(batch), first_block(batch) + BATCH_SIZE)
                for r in range(params.r_open + 1)]
        world.market.settle(world.coordinator, batch, rows)
    info = world.market.roller_info(victim.address)
    assert info.rep == params.rep_min and info.weight > 0


# ---------------------------------------------------------------- (e) one settlement per batch


def test_a_batch_settles_once_across_coordinators_and_survives_a_removal(world):
    roller = world.new_roller()
    world.fund_pool(100)
    other = world.new_coordinator()
    world.market.settle(world.coordinator, 0, [record(roller)])
    with pytest.raises(ContractRejected) as excinfo:
        world.market.settle(other, 0, [record(roller)])
    assert refused(excinfo) == "BatchAlreadySettled"
    world.market.remove_coordinator(world.owner, world.coordinator.address)
    with pytest.raises(ContractRejected) as excinfo:
        world.market.settle(world.coordinator, 1, [record(roller, task=first_block(1))])
    assert refused(excinfo) == "NotCoordinator"
    world.market.settle(other, 1, [record(roller, task=first_block(1))])
    assert world.market.batch_settled(world.rollup.address, 1)


# ---------------------------------------------------------------- (f) pools per rollup


def test_a_coordinator_pays_only_from_its_own_rollups_pool(world):
    rollup_b = world.add_rollup()
    world.finalize_through(0, rollup_b)
    coordinator_b = world.new_coordinator(rollup_b)
    world.fund_pool(100, rollup_b)
    roller = world.new_roller()
    # A's coordinator settles A's batch 0: A's pool is empty, B's is not touched.
    world.market.settle(world.coordinator, 0, [record(roller, slots=2)])
    assert world.market.roller_info(roller.address).claimable == 0
    assert world.market.reward_pool(rollup_b.address) == 100 * ONE_TOKEN
    # B's own coordinator settles B's batch 0 (a separate batch 0) from B's pool.
    world.market.settle(coordinator_b, 0, [record(roller, slots=2)])
    assert world.market.roller_info(roller.address).claimable == world.params.r_block
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
    recommitted = rollup.commit_block(world.sequencer, committed.old_root, committed.new_root + 7, [])
    assert recommitted.statement() != committed.statement()
    assert rollup.draw_blocks(n) == (committed.roster_block, committed.randomness_block)
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
