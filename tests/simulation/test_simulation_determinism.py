"""A seed gives one run: the same scenario and seed write the same metrics.json, byte for byte;
another seed gives another run."""

from __future__ import annotations

from simulation.engine import Simulation
from simulation.outputs import metrics_json
from simulation.scenario import parse_scenario

SCENARIO = {
    "blocks": 120,
    "rollers": [
        {"behaviour": "honest", "count": 6},
        {"behaviour": "flaky", "count": 2, "mean_online": 200, "mean_offline": 60},
        {"behaviour": "invalid", "count": 1, "rate": 0.3},
        {"behaviour": "cartel", "count": 2},
    ],
}


def run(seed: int) -> str:
    return metrics_json(Simulation(parse_scenario({**SCENARIO, "seed": seed})).run().metrics)


def test_same_seed_same_metrics():
    assert run(7) == run(7)


def test_other_seed_other_run():
    assert run(7) != run(8)
