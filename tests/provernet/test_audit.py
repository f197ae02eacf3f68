"""`provernet audit` reproduces the shared vectors from the command line, and bad input ends in
a one-line error (the root CLI prints a RulesError as `Error: <message>`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from market_contracts.rules import InvalidAddress, InvalidNumber, InvalidRoster, InvalidSeed
from provernet.commands.audit import command

SEED = "0x" + "cd" * 32
ADDRESS = "0x3eAabe171D8A4EACe693Ae2D9a1E40b458151a99"


def _audit(*args: str) -> Result:
    return CliRunner().invoke(command, [str(arg) for arg in args])


def _json_line(result: Result) -> dict:
    assert result.exit_code == 0, result.output
    assert result.output.count("\n") == 1
    return json.loads(result.output)


def _vector_id(vector: dict) -> str:
    return f"block {vector['block_number']} round {vector['round']}"


def test_seed_reproduces_vectors(draw_vectors, subtests):
    for v in draw_vectors:
        with subtests.test(_vector_id(v)):
            result = _audit("seed", "--chain-id", v["chain_id"], "--rollup", v["rollup"],
                            "--block", v["block_number"], "--round", v["round"],
                            "--randomness", v["randomness"])
            assert _json_line(result) == {"seed": v["seed"]}


def test_batch_seed_reproduces_vector(vectors, subtests):
    cases = [v for v in vectors if v.get("kind") == "batch_seed"]
    assert cases, "no batch_seed vector in market-vectors.json"
    for v in cases:
        with subtests.test(f"batch {v['batch_index']}"):
            result = _audit("seed", "--batch", "--chain-id", v["chain_id"], "--rollup", v["rollup"],
                            "--block", v["batch_index"], "--round", v["round"],
                            "--randomness", v["randomness"])
            assert _json_line(result) == {"seed": v["seed"]}


def test_assign_reproduces_vectors(draw_vectors, subtests, tmp_path):
    for i, v in enumerate(draw_vectors):
        with subtests.test(_vector_id(v)):
            roster = tmp_path / f"roster-{i}.json"
            roster.write_text(json.dumps(v["roster"]))
            excludes = [arg for address in v["exclude"] for arg in ("--exclude", address)]
            result = _audit("assign", "--seed", v["seed"], "--roster", roster, "--m", v["m"],
                            *excludes)
            assert _json_line(result) == {"selected": v["selected"]}


def test_lottery_reproduces_vectors(draw_vectors, subtests):
    for v in draw_vectors:
        with subtests.test(_vector_id(v)):
            result = _audit("lottery", "--seed", v["seed"], "--provers", ",".join(v["selected"]))
            assert _json_line(result) == {"winner": v["lottery_winner_if_all_on_time"]}


def _roster_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "roster.json"
    path.write_text(text)
    return path


GOOD_ROSTER = json.dumps([[ADDRESS, "1000"]])


@pytest.mark.parametrize(("args", "roster_text", "error", "named"), [
    pytest.param(["seed", "--chain-id", 1, "--rollup", "0xabc", "--block", 1, "--round", 0,
                  "--randomness", SEED], None, InvalidAddress, "0xabc", id="seed: bad rollup"),
    pytest.param(["seed", "--chain-id", 1, "--rollup", ADDRESS, "--block", 1, "--round", 0,
                  "--randomness", "0x1234"], None, InvalidSeed, "0x1234",
                 id="seed: short randomness"),
    pytest.param(["seed", "--chain-id", 1, "--rollup", ADDRESS, "--block", 1, "--round", -1,
                  "--randomness", SEED], None, InvalidNumber, "-1", id="seed: negative round"),
    pytest.param(["assign", "--seed", "0xfeed", "--m", 1], GOOD_ROSTER, InvalidSeed, "0xfeed",
                 id="assign: short seed"),
    pytest.param(["assign", "--seed", SEED, "--m", 1, "--exclude", "nope"], GOOD_ROSTER,
                 InvalidAddress, "nope", id="assign: bad excluded address"),
    pytest.param(["assign", "--seed", SEED, "--m", 1], "{not json", InvalidRoster, "not JSON",
                 id="assign: roster not JSON"),
    pytest.param(["assign", "--seed", SEED, "--m", 1], '{"a": 1}', InvalidRoster,
                 "must hold a JSON list", id="assign: roster not a list"),
    pytest.param(["assign", "--seed", SEED, "--m", 1], json.dumps([[ADDRESS, 1000]]),
                 InvalidRoster, "1000", id="assign: weight not a string"),
    pytest.param(["assign", "--seed", SEED, "--m", 1], json.dumps([[ADDRESS, "-5"]]),
                 InvalidRoster, "-5", id="assign: negative weight"),
    pytest.param(["assign", "--seed", SEED, "--m", 1], json.dumps([[ADDRESS]]),
                 InvalidRoster, ADDRESS, id="assign: entry without weight"),
    pytest.param(["assign", "--seed", SEED, "--m", 1],
                 json.dumps([[ADDRESS, "1"], [ADDRESS.lower(), "2"]]), InvalidRoster, ADDRESS,
                 id="assign: duplicate address"),
    pytest.param(["assign", "--seed", SEED, "--m", 1], json.dumps([["0xbad", "1"]]),
                 InvalidAddress, "0xbad", id="assign: bad roster address"),
    pytest.param(["lottery", "--seed", SEED, "--provers", f"{ADDRESS},0xbad"], None,
                 InvalidAddress, "0xbad", id="lottery: bad prover"),
    pytest.param(["lottery", "--seed", "0x" + "zz" * 32, "--provers", ADDRESS], None,
                 InvalidSeed, "zz", id="lottery: seed not hex"),
])
def test_bad_input_is_a_one_line_rules_error(tmp_path, args, roster_text, error, named):
    if roster_text is not None:
        args = [*args, "--roster", _roster_file(tmp_path, roster_text)]
    result = _audit(*args)
    assert result.exit_code != 0
    assert result.output == ""
    assert isinstance(result.exception, error)
    message = str(result.exception)
    assert "\n" not in message
    assert named in message


def test_missing_roster_file_is_a_one_line_rules_error(tmp_path):
    missing = tmp_path / "absent.json"
    result = _audit("assign", "--seed", SEED, "--roster", missing, "--m", 1)
    assert result.exit_code != 0
    assert isinstance(result.exception, InvalidRoster)
    assert str(result.exception) == f"cannot read roster file {missing}: No such file or directory"


def test_malformed_option_is_a_usage_error():
    result = _audit("assign", "--seed", SEED, "--roster", "r.json", "--m", "two")
    assert result.exit_code == 2
    assert result.output.splitlines()[-1].startswith("Error: Invalid value for '--m'")


def test_subcommands():
    assert sorted(command.commands) == ["assign", "assignments", "lottery", "seed", "slash"]
