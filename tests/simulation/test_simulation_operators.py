"""The two adversaries that are not rollers, against the real core and ledger.

A misreporting coordinator tries v1's attacks through `settle` for its roller: the contract
refuses each of them (invented block, round past the open one, too many slots, honest rollers
reported invalid), accepts the misreport within the caps (its roller paid for every block and
aggregation, honest rollers reported missed), and once the audit has found it and the rollup team
removed it, refuses it as `NotCoordinator` while a replacement settles the core's outcomes.

A rerolling sequencer reverts and recommits every block whose draw leaves its roller out: the
randomness and roster are pinned per block number, so every recommit draws the same slots; it
gains nothing and delays finality.
"""

from __future__ import annotations

import pytest

from market_contracts.rules import MarketParams
from simulation.engine import Simulation
from simulation.l1 import BACKUP_COORDINATOR, COORDINATOR, RemoveCoordinator, SettleBatch
from simulation.scenario import parse_scenario

PARAMS = MarketParams.devnet()
TOKEN = 10**18
BLOCKS = 120
HONEST = [{"behaviour": "honest", "count": 6, "profile": "gpu-h100"}]


def run(**tables):
    return Simulation(parse_scenario({"seed": 3, "blocks": BLOCKS, **tables})).run()


@pytest.fixture(scope="module")
def misreport():
    return run(rollers=[*HONEST, {"behaviour": "lazy", "label": "colluder"}],
               coordinator={"behaviour": "misreport", "roller": "colluder",
                            "removal_delay": 30})


def test_the_contract_refuses_v1s_settlement_attacks(misreport):
    refused = misreport.metrics["operators"]["coordinator"]["refused"]
    assert {"TaskNotInBatch", "RoundTooLarge", "TooManySlots", "InvalidNeedsEvidence",
            "NotCoordinator"} == set(refused)


def test_a_misreport_within_the_caps_pays_the_colluder_until_removal(misreport):
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
    # the colluder never proved anything, and was paid at most the caps of what it settled
    colluder = misreport.metrics["strategies"]["colluder"]
    assert colluder["proofs"] == 0 and colluder["rewards"] > 0
    cap = len(by_misreporter) * (PARAMS.k * PARAMS.r_block + PARAMS.r_agg) // TOKEN
    assert colluder["rewards"] == cap
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
