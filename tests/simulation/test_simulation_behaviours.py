"""Each behaviour of the catalogue, run against the real core and ledger, goes the way its attack
should: honest rollers are paid, lazy ones miss and lose reputation, invalid proofs and copies are
slashed (blocks and aggregates), and so on. One small mixed run (split mode, the default) serves
every check, and one in lottery mode the cartel's; the decision rules of the subtler behaviours
(admission, the cartel's reading of a draw, open tasks, outages) are also checked directly."""

from __future__ import annotations

import json

import numpy as np
import pytest

from market_contracts.rules import MarketParams, RewardMode, TaskKind
from simulation.behaviours import (
    ADMISSION_MARGIN,
    CATALOGUE,
    Cartel,
    Context,
    Copycat,
    Flaky,
    Honest,
    Invalid,
    Lazy,
    Offer,
    OpenOffer,
    Response,
    Slow,
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


@pytest.fixture(scope="module")
def lottery() -> dict:
    """Honest rollers and a declining cartel of the same hardware, in lottery mode."""
    return Simulation(parse_scenario({
        "seed": 3, "blocks": 300, "market": {"reward_mode": "lottery"},
        "rollers": [{"behaviour": "honest", "count": 6, "profile": "gpu-4090"},
                    {"behaviour": "cartel", "count": 3, "profile": "gpu-4090"}],
    })).run().metrics

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


def test_invalid_proofs_are_slashed(strategies, metrics):
    invalid = strategies["invalid"]
    assert invalid["invalid"] > 0 and invalid["slashed"] > 0 and invalid["roi"] < 0
    assert invalid["reputation"] == 0
    assert metrics["liveness"]["slashed_blocks"] > 0

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


def test_split_mode_leaves_the_cartel_nothing_to_withhold(strategies, metrics):
    assert metrics["params"]["reward_mode"] == "split"
    cartel = strategies["cartel"]
    assert cartel["missed"] == 0 and cartel["on_time"] > 0
    # it declines only what honest admission declines
    assert cartel["declined"] / cartel["assigned"] < 0.1


def test_lottery_cartel_withholds_without_knowing_the_tickets(lottery):
    cartel, honest = lottery["strategies"]["cartel"], lottery["strategies"]["honest"]
    assert cartel["declined"] > cartel["on_time"] > 0 and cartel["missed"] == 0
    # what it skips it is not paid for: less per token staked than the honest rollers
    assert cartel["roi"] < honest["roi"]


def test_sybil_identities_share_one_machine(strategies):
    assert (strategies["sybil"]["rollers"], strategies["sybil"]["machines"]) == (3, 1)


def test_newcomers_join_half_way(strategies):
    assert strategies["newcomer"]["active_share"] == 0.5 and strategies["newcomer"]["on_time"] > 0


def test_clear_attacks_earn_less_than_honest_rollers(strategies):
    for name in ("lazy", "invalid", "copycat", "slow", "overcommit"):
        assert strategies[name]["roi"] < strategies["honest"]["roi"], name


def test_metrics_schema(metrics):
    assert set(metrics) == {"scenario", "params", "strategies", "finality", "liveness",
                            "operators", "series"}
    for name, strategy in metrics["strategies"].items():
        for field, kind in STRATEGY_FIELDS.items():
            assert isinstance(strategy[field], kind), (name, field)
        assert strategy["roi"] == pytest.approx(
            (strategy["rewards"] - strategy["slashed"]) / strategy["stake"], abs=1e-6)
    shares = [s["reward_share"] for s in metrics["strategies"].values()]
    assert sum(shares) == pytest.approx(1, abs=1e-5)
    assert set(metrics["finality"]) == {"blocks", "mean_s", "p50_s", "p90_s", "p99_s", "max_s"}
    assert metrics["finality"]["blocks"] == metrics["liveness"]["finalized_blocks"] == 300
    assert {"commit_slots", "l2_height", "redraws", "opened", "reverts", "recommits",
            "recommits_with_another_draw", "stale_messages", "slashed_blocks",
            "slashed_aggregations", "settled_batches", "max_blocks_waiting"} <= set(
        metrics["liveness"])
    assert metrics["operators"] == {"coordinator": {"behaviour": "honest"},
                                    "sequencer": {"behaviour": "honest"}}
    series = metrics["series"]
    assert len(series["t_hours"]) == len(series["blocks_waiting"]) == len(series["redraws"])
    assert all(len(v) == len(series["t_hours"]) for v in series["reputation"].values())
    assert metrics["params"]["reward_mode"] == "split" and metrics["params"]["r_block"] == 10
    assert json.loads(metrics_json(metrics)) == metrics


# ---------------------------------------------------------------- decision rules

PARAMS = MarketParams.devnet()
LOTTERY = PARAMS.replace(reward_mode=RewardMode.LOTTERY)
SEED = bytes(range(32))
A, B, C = "0x" + "11" * 20, "0x" + "22" * 20, "0x" + "33" * 20


def offer(estimated_arrival: int, kind: TaskKind = TaskKind.BLOCK,
          selection=((A, 1), (B, 1))) -> Offer:
    return Offer(kind, SEED, 1, selection, assigned_at=0, deadline=30_000,
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
def test_lottery_cartel_proves_only_when_it_holds_most_of_the_draw(withhold, otherwise):
    settings = {"withhold": withhold, "min_share": 0.5}
    # more than half the slots: prove; half or less: withhold
    assert Cartel(settings, context([A], LOTTERY)).respond(
        offer(0, selection=((A, 2),))) is Response.PROVE
    assert Cartel(settings, context([A, B], LOTTERY)).respond(
        offer(0, selection=((A, 1), (B, 1), (C, 1)))) is Response.PROVE
    assert Cartel(settings, context([A], LOTTERY)).respond(offer(0)) is otherwise
    assert Cartel({**settings, "min_share": 0.4}, context([A], LOTTERY)).respond(
        offer(0)) is Response.PROVE
    # no lottery to steer: aggregations, and split mode
    assert Cartel(settings, context([C], LOTTERY)).respond(
        offer(0, TaskKind.AGGREGATION)) is Response.PROVE
    assert Cartel(settings, context([C])).respond(offer(0)) is Response.PROVE


@pytest.mark.parametrize("behaviour, settings, idle, busy", [
    (Honest, {}, Response.PROVE, Response.IDLE),
    (Slow, {}, Response.PROVE, Response.PROVE),
    (Invalid, {"rate": 1.0}, Response.GARBAGE, Response.GARBAGE),
    (Invalid, {"rate": 0.0}, Response.PROVE, Response.IDLE),
    (Lazy, {}, Response.IDLE, Response.IDLE),
    (Copycat, {}, Response.IDLE, Response.IDLE),
])
def test_open_tasks_are_proven_by_those_with_a_free_prover(behaviour, settings, idle, busy):
    roller = behaviour(settings, context())
    assert roller.respond_open(OpenOffer(TaskKind.BLOCK, machine_idle=True)) is idle
    assert roller.respond_open(OpenOffer(TaskKind.BLOCK, machine_idle=False)) is busy


def test_flaky_roller_is_offline_in_its_outages_only():
    flaky = Flaky({"mean_online": 10.0, "mean_offline": 10.0}, context())
    assert flaky.available(0, 0)
    down, up = flaky._outages[0]
    assert not flaky.available(down - 1, down)  # a job running into an outage is lost
    assert not flaky.available(up - 1, up - 1)
    assert flaky.available(up, up)  # the next outage starts at least 1 ms later
