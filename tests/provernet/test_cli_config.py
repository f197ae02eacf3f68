"""Options layer as documented: flags over environment over the --config TOML file."""

import json
from pathlib import Path

from click.testing import CliRunner

from provernet.cli import cli

#: the first block-seed vector of tests/vectors/market-vectors.json (market rules v2)
_CASE = json.loads((Path(__file__).parents[1] / "vectors" / "market-vectors.json").read_text())[
    "block_seed"][0]
VECTOR = {"chain-id": _CASE["chain_id"], "rollup": _CASE["rollup"], "block": _CASE["block"],
          "round": _CASE["round"], "randomness": _CASE["randomness"]}
SEED = _CASE["seed"]


def seed_of(result) -> str:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["seed"]


def test_config_file_supplies_options(tmp_path):
    config = tmp_path / "provernet.toml"
    config.write_text("[audit.seed]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in VECTOR.items()))
    assert seed_of(CliRunner().invoke(cli, ["--config", str(config), "audit", "seed"])) == SEED


def test_flag_beats_environment_beats_config(tmp_path):
    config = tmp_path / "provernet.toml"
    values = dict(VECTOR, round=5)  # the file says round 5; env and flag override it
    config.write_text("[audit.seed]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in values.items()))
    runner = CliRunner()
    from_env = seed_of(runner.invoke(cli, ["--config", str(config), "audit", "seed"],
                                     env={"PROVERNET_AUDIT_SEED_ROUND": "0"}))
    assert from_env == SEED
    from_flag = seed_of(runner.invoke(cli, ["--config", str(config), "audit", "seed", "--round", "0"],
                                      env={"PROVERNET_AUDIT_SEED_ROUND": "7"}))
    assert from_flag == SEED


def test_unreadable_config_is_a_usage_error(tmp_path):
    config = tmp_path / "broken.toml"
    config.write_text("[audit.seed\n")
    result = CliRunner().invoke(cli, ["--config", str(config), "audit", "seed"])
    assert result.exit_code == 2 and "cannot read" in result.stderr
