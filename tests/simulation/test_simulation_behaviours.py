"""Each behaviour of the catalogue, run against the real core and ledger, goes the way its attack
should: honest rollers are paid, lazy ones miss and lose reputation, invalid proofs and copies are
slashed, and so on. One small mixed run serves every check; the decision rules of the subtler
behaviours (admission, the cartel's lottery reading, outages) are also checked directly."""

from __future__ import annotations

import json

import numpy as np
import pytest

from market_contracts.rules import MarketParams, RewardMode, TaskKind, lottery_winner
from simulation.behaviours import (
    ADMISSION_MARGIN,
    CATALOGUE,
    Cartel,
    Context,
    Flaky,
    Honest,
    Offer,
    Response,
)
from simulation.engine import Simulation
from simulation.outputs import metrics_json
from simulation.scenario import parse_scenario

MIXED = {
    "seed": 2,
    "blocks": 300,
    "rollers": [
        {"behaviour": "honest", "count": 5, "profile": "gpu-h100"},
        {"behaviour": "honest", "count": 5, "profile": "gpu-4090"},
        {"behaviour": "lazy", "count": 2},
        {"behaviour": "invalid", "count": 2},
        {"behaviour": "copycat", "count": 2},
        {"behaviour": "slow", "count": 2, "profile": "cpu"},
        {"behaviour": "cartel", "count": 3},
        {"behaviour": "sybil", "count": 1, "identities": 3, "stake": 3000},
        {"behaviour": "overcommit", "count": 1, "stake": 6000},
        {"behaviour": "flaky", "count": 2, "mean_online": 300, "mean_offline": 120},
        {"behaviour": "newcomer", "count": 2, "join_block": 151},
    ],
}
REP_INIT = MarketParams.devnet().rep_init
STRATEGY_FIELDS = {
    "behaviour": str, "profiles": str, "rollers": int, "machines": int, "stake": float,
    "rewards": float, "slashed": float, "roi": float, "assigned": int, "declined": int,
    "on_time": int, "late": int, "missed": int, "invalid": int, "proofs": int,
    "compute_hours": float, "stake_share": float, "reward_share": float,
    "compute_share": float, "active_share": float,
}


@pytest.fixture(scope="module")
def metrics() -> dict:
    return Simulation(parse_scenario(MIXED)).run().metrics


@pytest.fixture(scope="module")
def strategies(metrics) -> dict:
    return metrics["strategies"]


def test_every_behaviour_of_the_catalogue_took_part(strategies):
    assert set(strategies) == set(CATALOGUE)


def test_honest_rollers_prove_on_time_and_profit(strategies):
    honest = strategies["honest"]
    assert honest["on_time"] > 0 and honest["roi"] > 0
    assert honest["missed"] == honest["invalid"] == 0 and honest["slashed"] == 0


def test_lazy_rollers_miss_and_lose_reputation(strategies):
    lazy = strategies["lazy"]
    assert lazy["missed"] > 0 and lazy["on_time"] == lazy["proofs"] == 0
    assert lazy["rewards"] == 0 and lazy["reputation"] < REP_INIT


def test_invalid_proofs_are_slashed(strategies):
    invalid = strategies["invalid"]
    assert invalid["invalid"] > 0 and invalid["slashed"] > 0 and invalid["roi"] < 0
    assert invalid["reputation"] == 0


def test_copied_proofs_are_invalid_for_the_copier(strategies):
    copycat = strategies["copycat"]
    assert copycat["invalid"] > 0 and copycat["on_time"] == copycat["proofs"] == 0
    assert copycat["slashed"] > 0 and copycat["roi"] < 0


def test_slow_and_overcommitted_rollers_are_late_or_miss(strategies):
    assert strategies["slow"]["late"] > 0
    over = strategies["overcommit"]
    assert over["late"] + over["missed"] > 0 and over["declined"] == 0


def test_flaky_rollers_miss_while_offline(strategies):
    assert strategies["flaky"]["missed"] > 0 and strategies["flaky"]["on_time"] > 0


def test_cartel_declines_the_tasks_it_would_lose(strategies):
    cartel = strategies["cartel"]
    assert cartel["declined"] > 0 and cartel["on_time"] > 0 and cartel["missed"] == 0


def test_sybil_identities_share_one_machine(strategies):
    assert (strategies["sybil"]["rollers"], strategies["sybil"]["machines"]) == (3, 1)


def test_newcomers_join_half_way(strategies):
    assert strategies["newcomer"]["active_share"] == 0.5 and strategies["newcomer"]["on_time"] > 0


def test_clear_attacks_earn_less_than_honest_rollers(strategies):
    for name in ("lazy", "invalid", "copycat", "slow", "overcommit"):
        assert strategies[name]["roi"] < strategies["honest"]["roi"], name


def test_metrics_schema(metrics):
    assert set(metrics) == {"scenario", "params", "strategies", "finality", "liveness", "series"}
    for name, strategy in metrics["strategies"].items():
        for field, kind in STRATEGY_FIELDS.items():
            assert isinstance(strategy[field], kind), (name, field)
        assert strategy["roi"] == pytest.approx(
            (strategy["rewards"] - strategy["slashed"]) / strategy["stake"], abs=1e-6)
    shares = [s["reward_share"] for s in metrics["strategies"].values()]
    assert sum(shares) == pytest.approx(1, abs=1e-5)
    assert set(metrics["finality"]) == {"blocks", "mean_s", "p50_s", "p90_s", "p99_s", "max_s"}
    assert metrics["finality"]["blocks"] == metrics["liveness"]["finalized_blocks"] == 300
    assert {"commit_slots", "l2_height", "redraws", "stalls", "reverts", "settled_batches",
            "max_blocks_waiting", "unslashed_aggregates"} <= set(metrics["liveness"])
    series = metrics["series"]
    assert len(series["t_hours"]) == len(series["blocks_waiting"]) == len(series["redraws"])
    assert all(len(v) == len(series["t_hours"]) for v in series["reputation"].values())
    assert metrics["params"]["reward_mode"] == "lottery" and metrics["params"]["r_block"] == 10
    assert json.loads(metrics_json(metrics)) == metrics


# ---------------------------------------------------------------- decision rules

PARAMS = MarketParams.devnet()
SEED = bytes(range(32))
SELECTION = ("0x" + "11" * 20, "0x" + "22" * 20, "0x" + "33" * 20)


def offer(estimated_arrival: int, kind: TaskKind = TaskKind.BLOCK) -> Offer:
    return Offer(kind, SEED, SELECTION, assigned_at=0, deadline=30_000,
                 estimated_arrival=estimated_arrival)


def context(peers=(), params=PARAMS) -> Context:
    return Context(params, np.random.default_rng(0), frozenset(peers))


def test_honest_admission_keeps_the_margin():
    limit = 30_000 - int(ADMISSION_MARGIN * 30_000)
    honest = Honest({}, context())
    assert honest.respond(offer(limit)) is Response.PROVE
    assert honest.respond(offer(limit + 1)) is Response.DECLINE


@pytest.mark.parametrize("withhold, otherwise", [("decline", Response.DECLINE),
                                                   ("silent", Response.IDLE)])
def test_cartel_proves_only_when_a_member_holds_the_best_ticket(withhold, otherwise):
    winner = lottery_winner((roller, SEED) for roller in SELECTION)
    losers = [r for r in SELECTION if r != winner]
    assert Cartel({"withhold": withhold}, context([winner])).respond(offer(0)) is Response.PROVE
    assert Cartel({"withhold": withhold}, context(losers)).respond(offer(0)) is otherwise
    # no lottery to steer: aggregations, and split mode
    assert Cartel({"withhold": withhold}, context(losers)).respond(
        offer(0, TaskKind.AGGREGATION)) is Response.PROVE
    split = context(losers, MarketParams(**{**vars(PARAMS), "reward_mode": RewardMode.SPLIT}))
    assert Cartel({"withhold": withhold}, split).respond(offer(0)) is Response.PROVE


def test_flaky_roller_is_offline_in_its_outages_only():
    flaky = Flaky({"mean_online": 10.0, "mean_offline": 10.0}, context())
    assert flaky.available(0, 0)
    down, up = flaky._outages[0]
    assert not flaky.available(down - 1, down)  # a job running into an outage is lost
    assert not flaky.available(up - 1, up - 1)
    assert flaky.available(up, up)  # the next outage starts at least 1 ms later
