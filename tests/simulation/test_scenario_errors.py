"""A scenario that cannot run as written says which key is wrong and why, by its path in the file;
the command line shows that as one line."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from provernet.cli import cli
from simulation.errors import (
    InvalidValue,
    MissingKey,
    UnknownKey,
    UnreadableScenario,
    WrongType,
)
from simulation.scenario import load_scenario, parse_scenario

HONEST = {"behaviour": "honest", "count": 2}


def scenario(**changes) -> dict:
    return {"blocks": 10, "rollers": [HONEST], **changes}


@pytest.mark.parametrize("data, error, path", [
    (scenario(blok=3), UnknownKey, "blok"),
    (scenario(market={"mm": 2}), UnknownKey, "market.mm"),
    (scenario(rollers=[HONEST, {"behaviour": "honest", "identities": 2}]), UnknownKey,
     "rollers[1].identities"),
    (scenario(profiles={"fast": {"block": {"dist": "fixed", "seconds": 1}, "speed": 2}}),
     UnknownKey, "profiles.fast.speed"),
    (scenario(market={"m": "two"}), WrongType, "market.m"),
    (scenario(blocks=1.5), WrongType, "blocks"),
    (scenario(block_interval="2s"), WrongType, "block_interval"),
    (scenario(rollers=[{"behaviour": "honest", "count": "3"}]), WrongType, "rollers[0].count"),
    (scenario(rollers=[{"behaviour": "lazy", "stake": True}]), WrongType, "rollers[0].stake"),
    (scenario(rollers=[{"behaviour": "flaky", "mean_online": "long"}]), WrongType,
     "rollers[0].mean_online"),
    (scenario(rollers={"behaviour": "honest"}), WrongType, "rollers"),
    (scenario(blocks=0), InvalidValue, "blocks"),
    (scenario(market={"reward_mode": "raffle"}), InvalidValue, "market.reward_mode"),
    (scenario(market={"late_window": 10}), InvalidValue, "market"),
    (scenario(rollers=[{"behaviour": "evil"}]), InvalidValue, "rollers[0].behaviour"),
    (scenario(rollers=[{"behaviour": "honest", "profile": "tpu"}]), InvalidValue,
     "rollers[0].profile"),
    (scenario(rollers=[{"behaviour": "honest", "stake": 99}]), InvalidValue, "rollers[0].stake"),
    (scenario(rollers=[{"behaviour": "sybil", "stake": 300, "identities": 4}]), InvalidValue,
     "rollers[0].stake"),
    (scenario(rollers=[{"behaviour": "invalid", "rate": 1.5}]), InvalidValue, "rollers[0].rate"),
    (scenario(rollers=[{"behaviour": "cartel", "withhold": "loudly"}]), InvalidValue,
     "rollers[0].withhold"),
    (scenario(rollers=[{"behaviour": "newcomer", "join_block": 11}]), InvalidValue,
     "rollers[0].join_block"),
    (scenario(profiles={"x": {"block": {"dist": "uniform"}}}), InvalidValue,
     "profiles.x.block.dist"),
    (scenario(profiles={"gpu-h100": {"block": {"dist": "lognormal", "median": 4, "sigma": -1}}}),
     InvalidValue, "profiles.gpu-h100.block"),
    (scenario(coordinator={"behaviour": "greedy"}), InvalidValue, "coordinator.behaviour"),
    (scenario(coordinator={"behaviour": "misreport"}), MissingKey, "coordinator.roller"),
    (scenario(coordinator={"behaviour": "misreport", "roller": "whale"}), InvalidValue,
     "coordinator.roller"),
    (scenario(coordinator={"behaviour": "misreport", "roller": "honest", "delay": 1}),
     UnknownKey, "coordinator.delay"),
    (scenario(coordinator={"roller": "honest"}), UnknownKey, "coordinator.roller"),
    (scenario(coordinator={"behaviour": "misreport", "roller": "honest",
                           "removal_delay": -1}), InvalidValue, "coordinator.removal_delay"),
    (scenario(sequencer={"behaviour": 1}), WrongType, "sequencer.behaviour"),
    (scenario(sequencer={"behaviour": "reroll", "roller": "honest", "max_rerolls": 0}),
     InvalidValue, "sequencer.max_rerolls"),
    (scenario(sequencer="reroll"), WrongType, "sequencer"),
    ({"blocks": 10}, MissingKey, "rollers"),
    (scenario(rollers=[{"behaviour": "newcomer"}]), MissingKey, "rollers[0].join_block"),
    (scenario(rollers=[{"count": 2}]), MissingKey, "rollers[0].behaviour"),
    (scenario(profiles={"x": {"block": {"dist": "fixed", "seconds": 1}}}), MissingKey,
     "profiles.x.aggregation"),
    (scenario(profiles={"x": {"block": {"dist": "gamma", "mean": 1}}}), MissingKey,
     "profiles.x.block.shape"),
])
def test_error_names_the_key(data, error, path):
    with pytest.raises(error) as raised:
        parse_scenario(data)
    assert str(raised.value).startswith(path), str(raised.value)


def test_operators_default_to_honest_and_take_their_knobs():
    parsed = parse_scenario(scenario())
    assert (parsed.coordinator.behaviour.name, parsed.sequencer.behaviour.name) == (
        "honest", "honest")
    parsed = parse_scenario(scenario(sequencer={"behaviour": "reroll", "roller": "honest"}))
    assert parsed.sequencer.settings == {"roller": "honest", "max_rerolls": 3}


def test_a_builtin_profile_can_be_overridden_in_part():
    parsed = parse_scenario(scenario(profiles={"gpu-h100": {"slots": 2}},
                                     rollers=[{"behaviour": "honest", "profile": "gpu-h100"}]))
    assert parsed.rollers[0].profile.slots == 2
    assert parsed.rollers[0].profile.block.median == 4.0


def test_unreadable_files(tmp_path):
    with pytest.raises(UnreadableScenario, match="cannot read"):
        load_scenario(tmp_path / "missing.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("blocks = [\n")
    with pytest.raises(UnreadableScenario, match="not valid TOML"):
        load_scenario(broken)


def test_the_command_line_shows_one_line(tmp_path):
    path = tmp_path / "typo.toml"
    path.write_text('blocks = 10\n[market]\nm = "two"\n[[rollers]]\nbehaviour = "honest"\n')
    result = CliRunner().invoke(cli, ["simulate", str(path), "--out", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        "Error: market.m must be an integer, got 'two' (a string)"]
