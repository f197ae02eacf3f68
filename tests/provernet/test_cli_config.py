"""Options layer as documented: flags over environment over the --config TOML file."""

import json

from click.testing import CliRunner

from provernet.cli import cli

VECTOR = {"chain-id": 31337, "rollup": "0x3eAabe171D8A4EACe693Ae2D9a1E40b458151a99", "block": 650634,
          "round": 0, "randomness": "0x68eb1378145326173bad355e00e85985c0dce7a46e063732de9d2c21439eb6d6"}
SEED = "0xcd79848ff9efa4dc1eb1084d5351cd32f32aa099d55b13c38ecf2cab65f880d8"


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
