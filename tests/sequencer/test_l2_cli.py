"""`provernet l2` against a sequencer on loopback, and `provernet sequencer run` as an operator
runs it: a process committing to a Rollup on anvil, its metrics scraped, stopped with Ctrl-C."""

from __future__ import annotations

import json
import signal
import stat
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import trio
from click.testing import CliRunner
from eth_account import Account

from market_contracts.anvil import free_port, run_anvil
from market_contracts.chain import RpcChain
from provernet.cli import cli
from sequencer.accounts import Account as L2Account
from sequencer.circuit_inputs import SMALL
from sequencer.genesis import dev_address, genesis_state
from sequencer.service import Sequencer
from sequencer_fakes import FakeRollup, config
from test_sequencer_l1 import deploy_l1

GENESIS = {i: L2Account(dev_address(i), 1_000) for i in range(4)}
GENESIS_ROOT = genesis_state(SMALL.depth, GENESIS).root


def scrape(port: int, path: str) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as answer:
        return answer.read().decode()


def provernet(*args: str, datadir: Path | None = None):
    env = {"PROVERNET_DATADIR": str(datadir)} if datadir else {}
    return CliRunner().invoke(cli, list(args), env=env)


def test_a_new_key_is_private_and_never_replaced(tmp_path):
    result = provernet("l2", "keys", "new", datadir=tmp_path)
    assert result.exit_code == 0, result.output
    address = result.output.split("L2 address: ")[1].split()[0]
    assert stat.S_IMODE((tmp_path / "l2-key.json").stat().st_mode) == 0o600
    assert provernet("l2", "keys", "show", datadir=tmp_path).output.strip() == address
    again = provernet("l2", "keys", "new", datadir=tmp_path)
    assert again.exit_code == 1
    assert again.output.splitlines()[-1] == (f"Error: an L2 key already exists at "
                                             f"{tmp_path / 'l2-key.json'}; use another --datadir")


async def test_the_wallet_through_a_running_sequencer(tmp_path, nursery):
    key = Account.create()
    rollup = FakeRollup(GENESIS_ROOT, key.address)
    sequencer = Sequencer(config(tmp_path / "node", block_interval=3600, genesis=GENESIS), rollup,
                          key, rollup.bridge)
    await nursery.start(sequencer.run)
    url = ["--sequencer", sequencer.url]
    wallet_dir = tmp_path / "wallet"

    async def run(*args: str, datadir: Path | None = None):
        return await trio.to_thread.run_sync(lambda: provernet(*args, datadir=datadir))

    result = await run("l2", "balance", "--dev-key", "0", *url)
    assert result.output.strip().endswith(
        f"account 0 ({dev_address(0):#066x}): balance 1000, next nonce 0")

    result = await run("l2", "transfer", "--dev-key", "0", "--to", "1", "--amount", "5", *url)
    assert result.exit_code == 0, result.output
    first_hash = result.output.split(": ")[-1].strip()
    assert "sent 5 from account 0 to account 1 (nonce 0)" in result.output

    address = (await run("l2", "keys", "new", datadir=wallet_dir)).output.split()[2]
    result = await run("l2", "transfer", "--dev-key", "0", "--to", address, "--amount", "7", *url)
    assert "sent 7 from account 0 to account 4 (nonce 1)" in result.output  # a new account
    result = await run("l2", "balance", *url, datadir=wallet_dir)
    assert "account 4" in result.output and "balance 0 (7 counting pending transfers)" in result.output

    result = await run("l2", "tx", first_hash, *url)
    assert "from account 0 (nonce 0) to account 1" in result.output
    assert "pending: accepted, waiting for the next block" in result.output
    await sequencer.builder.build_block()
    with trio.fail_after(5):
        while sequencer.committer.last_committed != 1:
            await trio.sleep(0.01)
    result = await run("l2", "tx", first_hash, "--json", *url)
    found = json.loads(result.output.strip().splitlines()[-1])
    assert (found["block"], found["blockStatus"]) == (1, "committed")

    for args, message in [
        (("--to", "1", "--amount", "5000"), "Error: account 0 holds 988, less than 5000"),
        (("--to", "99", "--amount", "1"), "Error: account index 99 is empty; give the "
                                          "recipient's address instead"),
        (("--to", "bob", "--amount", "1"), "Error: --to 'bob' is neither an account index"),
    ]:
        result = await run("l2", "transfer", "--dev-key", "0", *args, *url)
        assert result.exit_code == 1 and result.output.splitlines()[-1].startswith(message)
    result = await run("l2", "balance", "--dev-key", "3", "--sequencer", "http://127.0.0.1:9")
    assert result.exit_code == 1
    assert result.output.splitlines()[-1].startswith(
        "Error: cannot talk to the sequencer at http://127.0.0.1:9:")


@pytest.mark.anvil
def test_sequencer_run_commits_to_the_rollup_and_stops_on_ctrl_c(tmp_path):
    with run_anvil() as node:
        chain = RpcChain(node.url)
        world, rollup, _ = deploy_l1(chain)
        world.deployment.save(tmp_path / "deployment.json")
        genesis = tmp_path / "genesis.json"
        genesis.write_text(json.dumps({"accounts": [
            {"index": i, "address": hex(a.address), "balance": str(a.balance)}
            for i, a in GENESIS.items()]}))
        port, metrics_port = free_port(), free_port()
        url = f"http://127.0.0.1:{port}"
        process = subprocess.Popen(
            [Path(sys.executable).parent / "provernet", "sequencer", "run", "--rpc-url", node.url,
             "--datadir", str(tmp_path), "--dev-account", "1", "--listen", f"127.0.0.1:{port}",
             "--block-interval", "200ms", "--genesis", str(genesis),
             "--metrics-listen", f"127.0.0.1:{metrics_port}"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            deadline = time.monotonic() + 60
            while (result := provernet("l2", "balance", "--dev-key", "2", "--sequencer", url)
                   ).exit_code != 0:
                assert process.poll() is None and time.monotonic() < deadline, result.output
                time.sleep(0.2)
            sent = provernet("l2", "transfer", "--dev-key", "2", "--to", "3", "--amount", "9",
                             "--sequencer", url)
            assert sent.exit_code == 0, sent.output
            tx_hash = sent.output.split(": ")[-1].strip()
            while not (shown := provernet("l2", "tx", tx_hash, "--sequencer", url).output
                       ).rstrip().endswith(": committed"):
                assert time.monotonic() < deadline, shown
                time.sleep(0.2)
            assert rollup.last_committed() == 1
            committed = 'provernet_sequencer_blocks_committed_total{how="sent"} 1.0'
            while committed not in (exposition := scrape(metrics_port, "/metrics")):
                assert time.monotonic() < deadline, exposition
                time.sleep(0.1)
            assert json.loads(scrape(metrics_port, "/health"))["ok"] is True
        finally:
            process.send_signal(signal.SIGINT)
            output, _ = process.communicate(timeout=30)
        assert process.returncode == 0, output
        assert "sequencer stopped" in output and '"event": "block committed"' in output
