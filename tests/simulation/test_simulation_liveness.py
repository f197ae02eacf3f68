"""When nobody drawn proves a block (here the big stakes are lazy, the only prover is small), its
drawn rounds run out and the task opens to every staked roller: the honest roller proves it, the
chain moves on with no revert, and the rescue is paid. With the same stakes and no open round
to wait for (an honest majority), nothing opens."""

from __future__ import annotations

from simulation.engine import Simulation
from simulation.scenario import parse_scenario


def run(lazy_stake: int) -> dict:
    return Simulation(parse_scenario({
        "seed": 1,
        "blocks": 60,
        "rollers": [
            {"behaviour": "honest", "profile": "gpu-h100", "stake": 100},
            {"behaviour": "lazy", "count": 3, "stake": lazy_stake},
        ],
    })).run().metrics


def test_unproven_tasks_open_and_an_honest_roller_rescues_them():
    metrics = run(lazy_stake=5000)
    liveness = metrics["liveness"]
    assert liveness["opened"] > 0 and liveness["reverts"] == 0
    assert liveness["finalized_blocks"] == liveness["l2_height"] == liveness["commit_slots"]
    assert liveness["settled_batches"] == 60 // metrics["params"]["k"]
    honest, lazy = metrics["strategies"]["honest"], metrics["strategies"]["lazy"]
    assert honest["on_time"] > 0 and honest["roi"] > 0
    assert lazy["rewards"] == 0 and lazy["missed"] > 0


def test_nothing_opens_when_the_drawn_rollers_prove():
    assert run(lazy_stake=100)["liveness"]["opened"] < run(lazy_stake=5000)["liveness"]["opened"]
