"""When nobody can prove a block (here: the only provers are often offline, the third roller is
lazy), its task stalls; the sequencer reverts from it and commits the blocks again, and the chain
moves on, as the spec's rules leave no other way."""

from __future__ import annotations

from simulation.engine import Simulation
from simulation.scenario import parse_scenario

UNRELIABLE = {
    "seed": 1,
    "blocks": 200,
    "rollers": [
        {"behaviour": "flaky", "count": 2, "profile": "gpu-h100", "mean_online": 60,
         "mean_offline": 60},
        {"behaviour": "lazy"},
    ],
}


def test_stalled_blocks_are_reverted_and_committed_again():
    metrics = Simulation(parse_scenario(UNRELIABLE)).run().metrics
    liveness = metrics["liveness"]
    assert liveness["stalls"] > 0 and liveness["reverts"] > 0
    assert 0 < liveness["finalized_blocks"] <= liveness["l2_height"] < liveness["commit_slots"]
    assert metrics["finality"]["blocks"] == liveness["finalized_blocks"]
    assert liveness["settled_batches"] == liveness["finalized_blocks"] // metrics["params"]["k"]
    assert metrics["strategies"]["flaky"]["on_time"] > 0
