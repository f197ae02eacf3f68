"""An operator joins a running devnet from another terminal, as the devnet tells them to: import
a funded dev key, stake with `provernet roller stake`, and start `provernet roller run` as its
own process against the devnet's L1 JSON-RPC. The roller is drawn, proves, and stops cleanly on
Ctrl-C. On the embedded chain (served by the devnet) and on anvil."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
import trio
from click.testing import CliRunner

from market_contracts.rules import MarketParams
from provernet.cli import cli
from provernet.devnet import Devnet, DevnetConfig

PARAMS = MarketParams.devnet().replace(k=2, t=20, late_window=40, t_agg=20)
RUN_LIMIT_S = 600


def provernet(*args: str):
    return CliRunner().invoke(cli, list(args))


@pytest.mark.parametrize("l1", ["embedded", pytest.param("anvil", marks=pytest.mark.anvil)])
async def test_a_roller_started_elsewhere_joins_the_devnet_and_proves(tmp_path, l1):
    devnet = Devnet(DevnetConfig(datadir=tmp_path / "devnet", params=PARAMS, rollers=1, l1=l1,
                                 l1_port=0, block_interval=6.0, load=0.25, backend="cpu"))
    guest_dir = tmp_path / "guest"
    with trio.fail_after(RUN_LIMIT_S):
        async with trio.open_nursery() as nursery:
            await nursery.start(devnet.run)
            guest = devnet.guest_accounts[0]
            (tmp_path / "key.txt").write_text(guest.key.to_0x_hex())
            (tmp_path / "password.txt").write_text("guest password")
            market = ["--rpc-url", devnet.l1_url,
                      "--deployment", str(tmp_path / "devnet" / "deployment.json"),
                      "--datadir", str(guest_dir), "--password-file", str(tmp_path / "password.txt")]
            imported = await trio.to_thread.run_sync(
                provernet, "keys", "import", "--datadir", str(guest_dir), "--key-file",
                str(tmp_path / "key.txt"), "--password-file", str(tmp_path / "password.txt"))
            assert imported.exit_code == 0, imported.output
            staked = await trio.to_thread.run_sync(provernet, "roller", "stake", "150", *market)
            assert staked.exit_code == 0, staked.output
            process = subprocess.Popen(
                [Path(sys.executable).parent / "provernet", "roller", "run", *market,
                 "--bootstrap", devnet.coordinator.node.addrs[0], "--backend", "cpu",
                 "--metrics-listen", "127.0.0.1:0"],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            try:
                # In the roster snapshot the coordinator takes within the devnet's
                # snapshot_interval of the stake, then drawn (with one other roller and M = 2,
                # for every block) and proven.
                while devnet.coordinator.core.roller_counts(guest.address).on_time == 0:
                    assert process.poll() is None, process.stdout.read()
                    await trio.sleep(1)
            finally:
                process.send_signal(signal.SIGINT)
                output = await trio.to_thread.run_sync(lambda: process.communicate(timeout=60)[0])
            nursery.cancel_scope.cancel()
    assert process.returncode == 0, output
    assert "roller stopped" in output
