"""`provernet roller doctor` against a real JSON-RPC node (anvil) with the market deployed, and
its checks one by one."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from eth_account import Account

from market_contracts.anvil import free_port, run_anvil
from market_contracts.bindings import Market
from market_contracts.chain import connect
from market_contracts.deploy import Deployment
from market_contracts.units import ONE_TOKEN
from provernet.cli import cli
from provernet.doctor import (BLOCK_AGE_LIMIT_S, CLOCK_BEHIND_LIMIT_S, Check, Status, check_farm,
                              check_gpu,
                              check_port, check_rpc, clock_offset, doctor_table, listen_address,
                              token_amount)
from roller.datadir import DataDirLock
from roller.farm.queue import FarmQueue
from roller.keys import import_keystore
from zkp.errors import BackendUnavailable

pytestmark = pytest.mark.anvil

PASSWORD = "correct horse battery staple"
#: a dead endpoint is refused at once; the whole doctor must not take longer than this
DEAD_RPC_LIMIT_S = 5.0


@pytest.fixture(scope="module")
def market(tmp_path_factory):
    """anvil with the market and a rollup deployed."""
    with run_anvil() as node:
        deployment_file = tmp_path_factory.mktemp("market") / "deployment.json"
        result = CliRunner().invoke(cli, ["deploy", "--rpc-url", node.url, "--dev-account", "0",
                                          "--rollup", "--out", str(deployment_file)])
        assert result.exit_code == 0, result.output
        yield Market(connect(node.url), Deployment.load(deployment_file)), node.url, deployment_file


def operator(market, tmp_path: Path, *, stake: int = 0) -> dict:
    """A fresh account with ETH, 500 tokens and `stake` of them staked, in a keystore."""
    market_, url, deployment_file = market
    chain = market_.chain
    account = Account.create()
    chain.send_eth(chain.dev_accounts[0], account.address, 10**18)
    market_.mint(chain.dev_accounts[0], account.address, 500 * ONE_TOKEN)
    if stake:
        market_.stake(account, stake)
    datadir = tmp_path / "roller"
    import_keystore(datadir, account.key.hex(), PASSWORD, scrypt_n=2**4)
    password_file = tmp_path / "password"
    password_file.write_text(PASSWORD + "\n")
    # Ports of their own: the defaults may be taken by whatever else runs on the machine.
    options = ["--rpc-url", url, "--deployment", str(deployment_file), "--datadir", str(datadir),
               "--password-file", str(password_file),
               "--listen", f"/ip4/127.0.0.1/tcp/{free_port()}",
               "--metrics-listen", f"127.0.0.1:{free_port()}"]
    return {"account": account, "options": options, "datadir": datadir, "market": market_}


def doctor(options: list[str]) -> tuple[int, dict[str, dict]]:
    result = CliRunner().invoke(cli, ["roller", "doctor", "--json", *options])
    assert result.exit_code in (0, 1), result.output
    return result.exit_code, {c["name"]: c for c in json.loads(result.stdout)}


def replaced(options: list[str], flag: str, value: str) -> list[str]:
    changed = list(options)
    changed[changed.index(flag) + 1] = value
    return changed


def test_a_staked_roller_is_all_good(market, tmp_path):
    staked = operator(market, tmp_path, stake=150 * ONE_TOKEN)
    status, checks = doctor(staked["options"])
    assert status == 0, checks
    assert list(checks) == ["config", "RPC", "deployment", "chain id", "contracts", "keystore",
                            "stake", "GPU", "data directory", "libp2p port", "metrics port",
                            "clock"]
    not_ok = {name: c for name, c in checks.items() if c["status"] != "ok"}
    # No GPU here: proving on the CPU is a warning, not a problem.
    assert set(not_ok) <= {"GPU"}, not_ok
    assert f"unlocks {staked['account'].address}" in checks["keystore"]["detail"]
    assert "active 150 PNT, reputation 5000 / 10000" in checks["stake"]["detail"]
    assert "chain id 31337" in checks["RPC"]["detail"]


def test_the_table_shows_each_check_with_its_mark(market, tmp_path):
    unstaked = operator(market, tmp_path)
    result = CliRunner().invoke(cli, ["roller", "doctor", *unstaked["options"]])
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert any(line.startswith("│ stake") and "│ ✗ │" in line for line in lines), result.stdout
    assert any(line.startswith("│ RPC") and "│ ✓ │" in line for line in lines), result.stdout
    assert "1 problem(s)" in result.stdout


def test_a_dead_rpc_fails_at_once_with_the_fix(market, tmp_path):
    staked = operator(market, tmp_path)
    started = time.monotonic()
    status, checks = doctor(replaced(staked["options"], "--rpc-url", "http://127.0.0.1:9"))
    assert time.monotonic() - started < DEAD_RPC_LIMIT_S
    assert status == 1
    rpc = checks["RPC"]
    assert rpc["status"] == "problem" and "cannot reach" in rpc["detail"]
    assert "--rpc-url" in rpc["fix"]
    for needs_l1 in ("chain id", "contracts", "stake", "clock"):
        assert checks[needs_l1]["status"] == "skipped", needs_l1
    # What needs no chain is still checked.
    assert checks["keystore"]["status"] == "ok" and checks["deployment"]["status"] == "ok"


def test_an_endpoint_that_never_answers_is_given_up_after_the_timeout():
    """A port that accepts connections (the kernel's backlog) but never answers."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        started = time.monotonic()
        check, chain = check_rpc(f"http://127.0.0.1:{silent.getsockname()[1]}", timeout=1.0)
        assert time.monotonic() - started < 4
    assert chain is None and check.status is Status.PROBLEM
    assert "timed out" in check.detail.lower() or "timeout" in check.detail.lower(), check.detail


def test_a_wrong_password_fails_the_keystore_check(market, tmp_path):
    staked = operator(market, tmp_path, stake=150 * ONE_TOKEN)
    wrong = tmp_path / "wrong"
    wrong.write_text("nope\n")
    status, checks = doctor(replaced(staked["options"], "--password-file", str(wrong)))
    assert status == 1
    keystore = checks["keystore"]
    assert keystore["status"] == "problem" and "wrong password" in keystore["detail"]
    assert "--password-file" in keystore["fix"]
    # The address is in the keystore in clear: the stake is still checked.
    assert checks["stake"]["status"] == "ok"


def test_an_unstaked_key_fails_the_stake_check_with_the_stake_command(market, tmp_path):
    unstaked = operator(market, tmp_path)
    status, checks = doctor(unstaked["options"])
    assert status == 1
    stake = checks["stake"]
    assert stake["status"] == "problem"
    assert "has no active stake; the account holds 500 PNT" in stake["detail"]
    assert stake["fix"].startswith("provernet roller stake 100 ")


def test_a_paused_roller_is_told_to_resume(market, tmp_path):
    paused = operator(market, tmp_path, stake=150 * ONE_TOKEN)
    paused["market"].pause(paused["account"])
    status, checks = doctor(paused["options"])
    assert status == 1
    assert checks["stake"]["status"] == "problem" and checks["stake"]["fix"] == "provernet roller resume"


def test_a_port_in_use_fails_the_port_check(market, tmp_path):
    staked = operator(market, tmp_path, stake=150 * ONE_TOKEN)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        status, checks = doctor(replaced(staked["options"], "--metrics-listen", f"127.0.0.1:{port}"))
    assert status == 1
    metrics = checks["metrics port"]
    assert metrics["status"] == "problem" and f"127.0.0.1:{port}: in use" in metrics["detail"]
    assert "metrics_listen" in metrics["fix"]
    assert checks["libp2p port"]["status"] == "ok"


def test_a_running_roller_is_named_and_its_ports_not_blamed(market, tmp_path):
    staked = operator(market, tmp_path, stake=150 * ONE_TOKEN)
    with DataDirLock(staked["datadir"]):
        status, checks = doctor(staked["options"])
    assert status == 0
    assert checks["data directory"]["status"] == "warning"
    assert "another roller" in checks["data directory"]["detail"]
    assert checks["metrics port"]["status"] == checks["libp2p port"]["status"] == "skipped"


def test_a_deployment_of_another_chain(market, tmp_path):
    staked = operator(market, tmp_path)
    _, _, deployment_file = market
    data = json.loads(deployment_file.read_text())
    data["chain_id"] = 1
    other = tmp_path / "mainnet.json"
    other.write_text(json.dumps(data))
    status, checks = doctor(replaced(staked["options"], "--deployment", str(other)))
    assert status == 1
    assert checks["chain id"]["status"] == "problem"
    assert "serves chain id 31337" in checks["chain id"]["detail"]
    assert checks["contracts"]["status"] == checks["stake"]["status"] == "skipped"


def test_a_bad_config_file_stops_there(tmp_path):
    config = tmp_path / "roller.toml"
    config.write_text("safety-margn = 0.3\n")
    status, checks = doctor(["--config", str(config)])
    assert status == 1 and list(checks) == ["config"]
    assert "did you mean 'safety_margin'" in checks["config"]["detail"]


# ---------------------------------------------------------------------- checks alone

class Chosen:
    def __init__(self, name: str, reason: str):
        self.name, self.reason = name, reason

    def describe(self) -> str:
        return f"{self.name} (test device)"


def test_gpu_check_verdicts():
    assert check_gpu("cpu").status is Status.OK
    no_gpu = check_gpu("auto", lambda _: Chosen("cpu", "auto: no usable GPU (no CuPy)"))
    assert no_gpu.status is Status.WARNING and "the CPU backend will be used" in no_gpu.detail
    gpu = check_gpu("auto", lambda _: Chosen("gpu", "auto: CuPy sees a CUDA device"))
    assert gpu == Check("GPU", Status.OK, "gpu (test device)")

    def unavailable(_name):
        raise BackendUnavailable("CuPy sees no CUDA device")

    required = check_gpu("gpu", unavailable)
    assert required.status is Status.PROBLEM and "provernet[gpu]" in required.fix


def test_gpu_check_on_this_machine():
    """The real selection: a warning without CuPy and a CUDA device, ok with them."""
    try:
        import cupy  # noqa: F401
        usable = cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:  # no CuPy, or no driver: either way no GPU to prove on
        usable = False
    assert check_gpu("auto").status is (Status.OK if usable else Status.WARNING)


@pytest.mark.postgres
def test_farm_check_verdicts(postgres_database):
    """With a farm the GPU is the workers' business: the check is the farm reachable (a problem
    if not), and its live workers (a warning with none: every task would be declined)."""
    unreachable = check_farm("postgresql://u:secret@127.0.0.1:9/farm?connect_timeout=2")
    assert unreachable.status is Status.PROBLEM and "secret" not in unreachable.detail
    assert check_farm(postgres_database).status is Status.WARNING
    worker = FarmQueue.open(postgres_database, "test")
    try:
        worker.register("gpu-box", "gpu (NVIDIA H100)")
        verdict = check_farm(postgres_database)
        assert verdict.status is Status.OK and "1 live worker(s): gpu (NVIDIA H100)" in verdict.detail
    finally:
        worker.close()
    assert check_farm(postgres_database).status is Status.WARNING  # its session ended: gone


def test_clock_offset_limits():
    assert clock_offset(0).status is Status.OK
    assert clock_offset(BLOCK_AGE_LIMIT_S).status is Status.OK
    assert clock_offset(-CLOCK_BEHIND_LIMIT_S).status is Status.OK
    behind = clock_offset(-CLOCK_BEHIND_LIMIT_S - 1)
    assert behind.status is Status.WARNING and "behind" in behind.detail
    ahead = clock_offset(BLOCK_AGE_LIMIT_S + 1)
    assert ahead.status is Status.WARNING and "older than this machine's clock" in ahead.detail
    assert "development chain" not in ahead.detail
    assert "development chain" in clock_offset(-CLOCK_BEHIND_LIMIT_S - 1, dev_chain=True).detail


def test_port_and_listen_address():
    assert listen_address("/ip4/127.0.0.1/tcp/4001") == ("127.0.0.1", 4001)
    assert listen_address("/ip6/::1/tcp/0") == ("::1", 0)
    assert listen_address("/dns4/example.org/tcp/4001") is None
    assert check_port("libp2p port", "127.0.0.1", 0, "").status is Status.OK
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert check_port("metrics port", "127.0.0.1", port, "").status is Status.PROBLEM
    assert check_port("metrics port", "127.0.0.1", port, "").status is Status.OK


def test_token_amounts_as_the_stake_command_takes_them():
    assert token_amount(100 * ONE_TOKEN) == "100"
    assert token_amount(ONE_TOKEN // 2) == "0.5"
    assert token_amount(1) == "0.000000000000000001"


def test_the_table_keeps_brackets_in_text():
    from rich.console import Console
    import io

    console = Console(record=True, width=200, file=io.StringIO())
    console.print(doctor_table([Check("GPU", Status.PROBLEM, "needs [gpu]", "pip install 'provernet[gpu]'")]))
    shown = console.export_text()
    assert "needs [gpu]" in shown and "'provernet[gpu]'" in shown and "1 problem(s)" in shown
