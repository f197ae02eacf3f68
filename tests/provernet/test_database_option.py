"""`--db` of `provernet sequencer run` and `coordinator run`, from the flag or from the TOML
config: a location of no known form is refused before anything starts, as a usage error naming
the option and the forms; the default is documented."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from provernet.cli import cli

FORMS = "give a path, sqlite:///ABSOLUTE/PATH or postgresql://USER@HOST:PORT/DATABASE"


@pytest.mark.parametrize("node", ["sequencer", "coordinator"])
def test_a_location_of_no_known_form_is_a_usage_error(node, tmp_path):
    datadir = tmp_path / "datadir"
    datadir.mkdir()
    config = tmp_path / "provernet.toml"
    config.write_text(f'[{node}.run]\ndb = "mysql://op@db/{node}"\n')
    for args in (["--db", "mysql://op@db/x"], []):
        result = CliRunner().invoke(cli, ["--config", str(config), node, "run", *args,
                                          "--rpc-url", "http://127.0.0.1:9",
                                          "--datadir", str(datadir)])
        assert result.exit_code == 2
        assert result.output.splitlines()[-1] == (
            f"Error: Invalid value for '--db': mysql:// is no database this node can use: {FORMS}")
    assert list(datadir.iterdir()) == []  # nothing started, nothing written


@pytest.mark.parametrize("node", ["sequencer", "coordinator"])
def test_the_default_is_documented(node):
    result = CliRunner().invoke(cli, [node, "run", "--help"], terminal_width=200)
    assert result.exit_code == 0
    assert f"[default: DATADIR/{node}/{node}.sqlite]" in result.output
