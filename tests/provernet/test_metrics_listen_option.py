"""`--metrics-listen` of `provernet sequencer run` and `coordinator run`: a bad address is refused
before anything starts, as a usage error naming the option and the expected form."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from provernet.cli import cli


@pytest.mark.parametrize("node", ["sequencer", "coordinator"])
@pytest.mark.parametrize("value", ["9465", "localhost:99999", ":9465"])
def test_a_bad_address_is_a_usage_error(node, value, tmp_path):
    result = CliRunner().invoke(cli, [node, "run", "--metrics-listen", value, "--rpc-url",
                                      "http://127.0.0.1:9", "--datadir", str(tmp_path)])
    assert result.exit_code == 2
    assert result.output.splitlines()[-1] == (
        f"Error: Invalid value for '--metrics-listen': {value!r} is not host:port, e.g. "
        "127.0.0.1:9464 ([::1]:9464 for IPv6)")
    assert list(tmp_path.iterdir()) == []  # nothing started, nothing written


@pytest.mark.parametrize("node, default", [("sequencer", "127.0.0.1:9465"),
                                           ("coordinator", "127.0.0.1:9466")])
def test_the_default_address_is_documented(node, default):
    result = CliRunner().invoke(cli, [node, "run", "--help"], terminal_width=200)
    assert result.exit_code == 0
    assert f"[default: {default}]" in result.output
