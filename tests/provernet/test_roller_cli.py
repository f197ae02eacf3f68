"""`provernet deploy` and `provernet roller ...` against a real JSON-RPC node (anvil)."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from eth_account import Account

from market_contracts.anvil import run_anvil
from market_contracts.bindings import Market
from market_contracts.chain import connect
from market_contracts.deploy import Deployment
from market_contracts.units import ONE_TOKEN
from provernet.cli import cli
from roller.keys import import_keystore

pytestmark = pytest.mark.anvil

PASSWORD = "correct horse battery staple"


@pytest.fixture(scope="module")
def node():
    with run_anvil() as anvil:
        yield anvil


@pytest.fixture
def operator(node, tmp_path):
    """A deployed market on anvil and an operator with a keystore, ETH and 500 tokens."""
    return make_operator(node, tmp_path)


def make_operator(node, tmp_path, *deploy_args: str) -> dict:
    deployment_file = tmp_path / "deployment.json"
    result = CliRunner().invoke(cli, ["deploy", "--rpc-url", node.url, "--dev-account", "0",
                                      "--out", str(deployment_file), *deploy_args])
    assert result.exit_code == 0, result.output
    chain = connect(node.url)
    market = Market(chain, Deployment.load(deployment_file))
    account = Account.create()
    chain.send_eth(chain.dev_accounts[0], account.address, 10**18)
    market.mint(chain.dev_accounts[0], account.address, 500 * ONE_TOKEN)
    datadir = tmp_path / "roller"
    import_keystore(datadir, account.key.hex(), PASSWORD, scrypt_n=2**4)
    password_file = tmp_path / "password"
    password_file.write_text(PASSWORD + "\n")
    common = ["--rpc-url", node.url, "--deployment", str(deployment_file), "--datadir", str(datadir)]
    return {"market": market, "chain": chain, "account": account, "common": common,
            "password": ["--password-file", str(password_file)], "deployment": deployment_file,
            "datadir": datadir}


def roller(operator, *args, signed=True):
    extra = operator["password"] if signed else []
    return CliRunner().invoke(cli, ["roller", *args, *operator["common"], *extra])


def status(operator) -> dict:
    result = roller(operator, "status", "--json", signed=False)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def assert_one_line_error(result, *fragments):
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_stake_unstake_withdraw_pause_resume_and_status(operator):
    result = roller(operator, "stake", "150")
    assert result.exit_code == 0, result.output
    assert "active stake is now 150 PNT" in result.stdout
    report = status(operator)
    assert (report["active"], report["reputation"], report["state"]) == (str(150 * ONE_TOKEN), 5_000, "selectable")
    assert report["weight_share"] == 1.0
    # Staked, but drawn only from the next roster snapshot: none is taken yet, then one is.
    assert report["snapshot"] is None
    assert "none taken yet" in roller(operator, "status", signed=False).stdout
    market = operator["market"]
    taken = market.snapshot_roster(operator["chain"].dev_accounts[0])
    assert status(operator)["snapshot"]["id"] == taken
    assert status(operator)["snapshot"]["weight"] == report["weight"]

    assert roller(operator, "unstake", "40.5").exit_code == 0
    report = status(operator)
    assert report["unbonding_total"] == str(40_500_000_000_000_000_000)
    (entry,) = report["unbonding"]
    assert entry["release_time"] > operator["chain"].latest_timestamp()
    assert report["state"] == "selectable" and report["active"] == str(109_500_000_000_000_000_000)

    assert_one_line_error(roller(operator, "withdraw"), "nothing to withdraw yet", "releases at")
    operator["chain"].increase_time(operator["market"].deployment.params.unbonding)
    result = roller(operator, "withdraw")
    assert result.exit_code == 0 and "withdrew 40.5 PNT" in result.stdout

    assert roller(operator, "pause").exit_code == 0
    assert status(operator)["state"] == "paused"
    assert roller(operator, "resume").exit_code == 0
    assert status(operator)["state"] == "selectable"

    human = roller(operator, "status", signed=False)
    assert human.exit_code == 0 and "reputation" in human.stdout and "100.00% of total weight" in human.stdout
    # The stake changed since, but the newest snapshot holds the roller as it was then; a new one
    # taken after it unstakes everything leaves it out.
    assert f"in the newest (#{taken}," in human.stdout
    assert roller(operator, "unstake", "109.5").exit_code == 0
    market.snapshot_roster(operator["chain"].dev_accounts[0])
    assert status(operator)["snapshot"]["weight"] == "0"
    assert "not in the newest" in roller(operator, "status", signed=False).stdout


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        pytest.param(["stake", "99"], ["below MIN_STAKE of 100 PNT", "stake at least 1 PNT more"], id="below-min"),
        pytest.param(["stake", "600"], ["balance too low", "holds 500 PNT", "needs 600 PNT"], id="balance"),
        pytest.param(["stake", "ten"], ["not an amount of tokens"], id="not-a-number"),
        pytest.param(["claim"], ["no rewards to claim"], id="nothing-to-claim"),
        pytest.param(["withdraw"], ["nothing is unbonding"], id="nothing-unbonding"),
    ],
)
def test_refusals_are_one_line_with_the_fix(operator, args, fragments):
    assert_one_line_error(roller(operator, *args), *fragments)


def test_wrong_password_is_one_line(operator, tmp_path):
    wrong = tmp_path / "wrong"
    wrong.write_text("nope\n")
    result = CliRunner().invoke(cli, ["roller", "stake", "150", *operator["common"], "--password-file", str(wrong)])
    assert_one_line_error(result, "wrong password")


def test_unreachable_rpc_is_one_line(operator):
    common = list(operator["common"])
    common[1] = "http://127.0.0.1:9"  # discard port: nothing listens
    result = CliRunner().invoke(cli, ["roller", "status", *common])
    assert_one_line_error(result, "cannot reach", "127.0.0.1:9")


def test_wrong_chain_id_is_one_line(operator, tmp_path):
    data = json.loads(operator["deployment"].read_text())
    data["chain_id"] = 1
    other = tmp_path / "mainnet.json"
    other.write_text(json.dumps(data))
    result = CliRunner().invoke(cli, ["roller", "status", "--rpc-url", operator["common"][1],
                                      "--deployment", str(other), "--datadir", operator["common"][5]])
    assert_one_line_error(result, "chain id 31337", "chain id 1")


def test_unknown_deployment_is_one_line(operator, tmp_path):
    result = CliRunner().invoke(cli, ["roller", "status", "--rpc-url", operator["common"][1],
                                      "--deployment", str(tmp_path / "missing.json")])
    assert_one_line_error(result, "no deployment file")


def test_the_installed_console_script_runs(operator):
    """The `provernet` entry point itself, as an operator runs it."""
    script = Path(sys.executable).parent / "provernet"
    proc = subprocess.run([str(script), "roller", "status", "--json", *operator["common"]],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["state"] == "not staked"


# ---------------------------------------------------------------------- `roller run` on a terminal

TERMINAL_ENV = {"TERM": "xterm-256color", "COLUMNS": "160", "LINES": "80"}
#: colours, cursor moves and the like
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
#: the node starts (imports, libp2p, the standing's first read) in a few seconds on 2 cores
START_LIMIT_S = 60


def on_a_terminal(args: list[str], ready) -> tuple[int, str]:
    """Run `provernet ARGS` with a pseudo-terminal as its stdin, stdout and stderr; once
    `ready(output)`, stop it with SIGINT (Ctrl-C) and return its exit status and its output
    without the terminal's escape sequences."""
    master, slave = pty.openpty()
    process = subprocess.Popen([str(Path(sys.executable).parent / "provernet"), *args],
                               stdin=slave, stdout=slave, stderr=slave,
                               env={**os.environ, **TERMINAL_ENV}, close_fds=True)
    os.close(slave)
    output = b""

    def text() -> str:
        return ANSI_ESCAPE.sub("", output.decode(errors="replace"))

    def read(timeout: float) -> bool:
        nonlocal output
        if select.select([master], [], [], timeout)[0]:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the process closed the terminal
                return False
            output += chunk
            return bool(chunk)
        return process.poll() is None

    try:
        deadline = time.monotonic() + START_LIMIT_S
        while not ready(text()):
            assert process.poll() is None, text()
            assert time.monotonic() < deadline, text()
            read(0.5)
        process.send_signal(signal.SIGINT)
        while read(0.5):
            pass
        return process.wait(timeout=30), text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(master)


@pytest.fixture
def staked_on_a_rollup(node, tmp_path):
    """An operator staked 150 tokens on a market with a rollup (what `roller run` needs)."""
    staked = make_operator(node, tmp_path, "--rollup")
    staked["market"].stake(staked["account"], 150 * ONE_TOKEN)
    return staked


def test_on_a_terminal_the_node_shows_a_live_view_and_logs_to_a_file(staked_on_a_rollup):
    operator = staked_on_a_rollup
    log_file = operator["datadir"] / "roller.log"
    args = ["roller", "run", *operator["common"], *operator["password"], "--backend", "cpu",
            "--metrics-listen", "127.0.0.1:0"]
    status, output = on_a_terminal(args, lambda out: "150 PNT" in out and "Proving" in out)
    assert status == 0, output
    for fragment in (f"provernet roller {operator['account'].address}", f"logs in {log_file}",
                     "Standing on L1", "selectable", "5000 / 10000", "100.00% of total weight",
                     "none yet: waiting for a coordinator's announcement", "Tasks in flight (0)",
                     "cpu (", "roller stopped"):
        assert fragment in output, fragment
    # The logs went to the file, as JSON lines, and not onto the view.
    events = [json.loads(line)["event"] for line in log_file.read_text().splitlines()]
    assert "roller started" in events and "stopping" in events
    assert "roller started" not in output


def test_no_view_prints_the_logs_on_the_terminal(staked_on_a_rollup):
    operator = staked_on_a_rollup
    args = ["roller", "run", *operator["common"], *operator["password"], "--backend", "cpu",
            "--metrics-listen", "127.0.0.1:0", "--no-view"]
    status, output = on_a_terminal(args, lambda out: "roller started" in out)
    assert status == 0, output
    assert "Standing on L1" not in output and "roller stopped" in output
    assert not (operator["datadir"] / "roller.log").exists()
