"""The two adversaries that are not rollers, against the real core and ledger.

A misreporting coordinator tries attacks through `settle` for its roller: the contract refuses
each of them (invented block, round past the open one, too many slots, honest rollers reported
invalid, its roller with slots it was not drawn for, its roller as the rescuer of a block another
proved or of an aggregation, whose open round is never settled), accepts the misreport of real
holders' outcomes within the caps (its roller on time where it was drawn, the other holders
missed), and once the audit has
found it and the rollup team removed it, refuses it as `NotCoordinator` while a replacement
settles the core's outcomes.

A rerolling sequencer reverts and recommits every block whose draw leaves its roller out: the
randomness and roster are pinned per block number, so every recommit draws the same slots; it
gains nothing and delays finality.
"""

from __future__ import annotations

import pytest

from market_contracts.rules import (
    MarketParams,
    Outcome,
    TaskKind,
    block_seed,
    draw_slots,
    slot_reward,
)
from simulation.engine import Simulation
from simulation.l1 import (
    BACKUP_COORDINATOR,
    CHAIN_ID,
    COORDINATOR,
    ROLLUP,
    RemoveCoordinator,
    Revert,
    SettleBatch,
)
from simulation.scenario import parse_scenario

PARAMS = MarketParams.devnet()
TOKEN = 10**18
BLOCKS = 120
HONEST = [{"behaviour": "honest", "count": 6, "profile": "gpu-h100"}]


def simulation(**tables):
    return Simulation(parse_scenario({"seed": 3, "blocks": BLOCKS, **tables}))


def run(**tables):
    return simulation(**tables).run()


@pytest.fixture(scope="module")
def misreport_simulation():
    return simulation(rollers=[*HONEST, {"behaviour": "lazy", "label": "colluder"}],
                      coordinator={"behaviour": "misreport", "roller": "colluder",
                                   "removal_delay": 30})


@pytest.fixture(scope="module")
def misreport(misreport_simulation):
    return misreport_simulation.run()


def test_the_contract_refuses_v1s_settlement_attacks(misreport):
    refused = misreport.metrics["operators"]["coordinator"]["refused"]
    assert {"TaskNotInBatch", "RoundTooLarge", "TooManySlots", "InvalidNeedsEvidence",
            "NotDrawn", "NotTheProver", "NotCoordinator"} == set(refused)
    # one of each per batch until the removal, and every batch tried after it; RoundTooLarge
    # twice: a block's round past R_OPEN and the aggregation's open round (never settled)
    attempts = refused["TaskNotInBatch"]
    assert attempts > 0 and refused["NotDrawn"] == refused["NotTheProver"] == attempts
    assert refused["RoundTooLarge"] == 2 * attempts


def test_a_misreport_within_the_caps_pays_the_colluder_until_removal(misreport,
                                                                     misreport_simulation):
    report = misreport.metrics["operators"]["coordinator"]
    journal = misreport.l1.journal
    settled = [e for e in journal if isinstance(e, SettleBatch)]
    by_misreporter = [e for e in settled if e.coordinator == COORDINATOR]
    assert report["misreported_batches"] == len(by_misreporter) > 0
    # the audit found the first misreport, the removal landed 30 s later, the rest is honest
    assert report["removed_at_s"] >= report["detected_at_s"] + 30
    assert [e for e in journal if isinstance(e, RemoveCoordinator)] == [
        RemoveCoordinator(COORDINATOR, BACKUP_COORDINATOR)]
    assert {e.coordinator for e in settled[len(by_misreporter):]} == {BACKUP_COORDINATOR}
    assert len(settled) == BLOCKS // PARAMS.k
    # the colluder never proved anything; it was paid its real slots' shares (reported on time,
    # at most R_BLOCK a block; R_AGG for a batch whose aggregation it was drawn for), and no
    # aggregation's open round was settled
    colluder_address = misreport_simulation.coordinator.favoured
    assert not any(o.kind is TaskKind.AGGREGATION and o.round >= PARAMS.r_open
                   for e in settled for o in e.outcomes)
    expected = 0
    for settlement in by_misreporter:
        slots: dict[int, int] = {}
        aggregated = False
        for o in settlement.outcomes:
            if o.roller == colluder_address:
                assert o.round < PARAMS.r_open and o.outcome is Outcome.ON_TIME
                if o.kind is TaskKind.BLOCK:
                    slots[o.task] = slots.get(o.task, 0) + o.slots
                else:
                    aggregated = True
        expected += PARAMS.r_agg * aggregated + sum(
            min(PARAMS.r_block, n * slot_reward(PARAMS)) for n in slots.values())
    colluder = misreport.metrics["strategies"]["colluder"]
    assert colluder["proofs"] == 0 and colluder["rewards"] == expected / TOKEN > 0
    # honest rollers were reported missed, never below REP_MIN, never slashed
    honest = misreport.metrics["strategies"]["honest"]
    assert honest["slashed"] == 0 and honest["reputation"] >= PARAMS.rep_min


def test_an_honest_coordinator_settles_alone():
    result = run(rollers=HONEST)
    assert result.metrics["operators"]["coordinator"] == {"behaviour": "honest"}
    assert {e.coordinator for e in result.l1.journal if isinstance(e, SettleBatch)} == {
        COORDINATOR}


@pytest.mark.parametrize("sequencer", [{}, {"behaviour": "reroll", "roller": "favoured"}])
def test_a_rerolling_sequencer_gains_no_draw(sequencer):
    favoured = {"behaviour": "honest", "label": "favoured", "profile": "gpu-h100"}
    metrics = run(rollers=[*HONEST, favoured], sequencer=sequencer).metrics
    liveness = metrics["liveness"]
    if not sequencer:
        assert liveness["reverts"] == liveness["recommits"] == 0
        assert liveness["l2_height"] == BLOCKS
        return
    assert liveness["reverts"] == metrics["operators"]["sequencer"]["rerolls"] > 0
    assert liveness["recommits"] > 0 and liveness["recommits_with_another_draw"] == 0
    # each reroll costs at least a commit slot (a revert takes the blocks after it too): fewer
    # blocks, every whole batch of them finalized
    assert liveness["l2_height"] <= BLOCKS - liveness["reverts"]
    assert liveness["finalized_blocks"] == liveness["l2_height"] // PARAMS.k * PARAMS.k


@pytest.mark.parametrize("chain_id, rollup", [
    (CHAIN_ID, ROLLUP), (5, "0x00000000000000000000000000000000000000aa")])
def test_a_rerolling_sequencer_reads_the_draw_under_the_runs_chain_and_rollup(chain_id, rollup):
    """It reverts exactly the blocks whose round-0 draw under the run's own seeds leaves its
    roller out (up to `max_rerolls` reverts of a number; a revert takes the blocks after it)."""
    favoured = {"behaviour": "honest", "label": "favoured", "profile": "gpu-h100"}
    scenario = parse_scenario({"seed": 3, "blocks": 40, "rollers": [*HONEST, favoured],
                               "sequencer": {"behaviour": "reroll", "roller": "favoured",
                                             "max_rerolls": 1}})
    simulation = Simulation(scenario, chain_id=chain_id, rollup=rollup)
    l1 = simulation.run().l1
    me = simulation.sequencer.favoured

    def drawn(n):
        pin = l1.pins[n]
        return me in draw_slots(block_seed(chain_id, rollup, n, 0, pin.randomness), pin.roster,
                                PARAMS.m)

    reverted = {e.from_block for e in l1.journal if isinstance(e, Revert)}
    assert reverted and not any(drawn(n) for n in reverted)
    # a number left alone after its first commit was one its roller was drawn for
    assert all(drawn(n) for n, commits in l1.commits.items() if commits == 1
               and n not in reverted and n + 1 in l1.commits)
