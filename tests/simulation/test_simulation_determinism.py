"""A seed gives one run: the same scenario and seed write the same metrics.json, byte for byte,
with every random part in play (outages, invalid proofs, a lottery drawn after settlement, a
misreporting coordinator and a rerolling sequencer); another seed gives another run."""

from __future__ import annotations

import pytest

from simulation.engine import Simulation
from simulation.outputs import metrics_json
from simulation.scenario import parse_scenario

SCENARIO = {
    "blocks": 80,
    "market": {"reward_mode": "lottery"},
    "rollers": [
        {"behaviour": "honest", "count": 6},
        {"behaviour": "flaky", "count": 2, "mean_online": 200, "mean_offline": 60},
        {"behaviour": "invalid", "count": 1, "rate": 0.3},
        {"behaviour": "cartel", "count": 2},
        {"behaviour": "honest", "label": "favoured"},
    ],
    "coordinator": {"behaviour": "misreport", "roller": "favoured", "removal_delay": 60},
    "sequencer": {"behaviour": "reroll", "roller": "favoured", "max_rerolls": 1},
}


def run(seed: int) -> str:
    return metrics_json(Simulation(parse_scenario({**SCENARIO, "seed": seed})).run().metrics)


@pytest.fixture(scope="module")
def seven() -> str:
    return run(7)


def test_same_seed_same_metrics(seven):
    assert '"misreported_batches"' in seven and '"rerolls"' in seven
    assert run(7) == seven


def test_other_seed_other_run(seven):
    assert run(8) != seven
