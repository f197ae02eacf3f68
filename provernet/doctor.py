"""`provernet roller doctor`: check an operator's set-up, and say what is wrong and the fix.

Each check is a small function returning a `Check` (ok, warning, problem, or skipped when what
it needs failed first); the ones later checks build on also return what they found (the chain,
the deployment, the address). `diagnose` runs them all in order. docs/roller.md explains each.
Nothing here signs or sends a transaction.
"""

from __future__ import annotations

import errno
import socket
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from decimal import Decimal
from enum import StrEnum
from pathlib import Path

from multiaddr import Multiaddr
from rich.table import Table
from rich.text import Text
from web3.exceptions import Web3Exception

from market_contracts.bindings import Market
from market_contracts.chain import Chain, RpcChain
from market_contracts.deploy import Deployment, check_deployment
from market_contracts.errors import ChainError
from market_contracts.rules import MarketParams
from market_contracts.units import TOKEN_DECIMALS, format_tokens
from p2p.datadir import DataDirError, DataDirLocked
from provernet.commands.keys import signing_account, unlock
from roller.config import RollerConfig
from roller.datadir import LOCK_NAME, DataDirLock
from roller.farm.queue import FarmError, FarmQueue
from roller.errors import (ConfigError, KeystoreError, KeystoreMissing, PasswordUnavailable,
                           WrongPassword)
from roller.keys import PASSWORD_ENV, keystore_address
from zkp.backends import select_backend
from zkp.errors import BackendUnavailable

#: seconds the RPC check waits for an answer: the node's own reads allow 30 s, but an operator
#: waiting on a check wants the verdict on a dead or black-holed endpoint at once
RPC_TIMEOUT_S = 5.0
#: a block's timestamp is its proposer's clock; one more than this ahead of ours means our clock
#: is behind (task deadlines are unix seconds, judged against the coordinator's and L1's clocks)
CLOCK_BEHIND_LIMIT_S = 2
#: Ethereum makes a block every 12 s: a newest block older than this means our clock is ahead,
#: or the chain is not making blocks (a dev node that mines only on transactions)
BLOCK_AGE_LIMIT_S = 30


class Status(StrEnum):
    OK = "ok"
    WARNING = "warning"
    PROBLEM = "problem"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str
    #: what to do about a problem or warning; "" when nothing
    fix: str = ""

    def to_json(self) -> dict:
        return {**asdict(self), "status": str(self.status)}


def ok(name: str, detail: str) -> Check:
    return Check(name, Status.OK, detail)


def skipped(name: str, needs: str) -> Check:
    return Check(name, Status.SKIPPED, f"not checked: needs {needs}")


# ------------------------------------------------------------------ the checks

def check_config(load: Callable[[], RollerConfig]) -> tuple[Check, RollerConfig | None]:
    try:
        config = load()
    except ConfigError as exc:
        return Check("config", Status.PROBLEM, str(exc),
                     "correct roller.toml or the flag (docs/roller.md lists every key)"), None
    return ok("config", f"data directory {config.datadir}"), config


def check_rpc(url: str, timeout: float = RPC_TIMEOUT_S) -> tuple[Check, Chain | None]:
    """The endpoint answers, within `timeout` seconds; the chain it serves."""
    try:
        chain = RpcChain(url, request_timeout=timeout)
        block = chain.w3.eth.block_number
    except (ChainError, Web3Exception) as exc:
        return Check("RPC", Status.PROBLEM, str(exc),
                     "start the L1 node, or pass its URL with --rpc-url (rpc_url in "
                     "roller.toml)"), None
    return ok("RPC", f"{url} answers: {chain.client_version}, chain id {chain.chain_id}, "
                     f"block {block}"), chain


def check_deployment_file(path: Path) -> tuple[Check, Deployment | None]:
    try:
        deployment = Deployment.load(path)
    except ChainError as exc:
        return Check("deployment", Status.PROBLEM, str(exc),
                     "pass the file `provernet deploy` (or the devnet) wrote with --deployment, "
                     "or copy it to DATADIR/deployment.json"), None
    if deployment.rollup is None:
        return Check("deployment", Status.PROBLEM,
                     f"{path} names no rollup: a roller proves a rollup's blocks",
                     "use the deployment file of a market with a rollup (`provernet deploy "
                     "--rollup`, or the devnet's)"), None
    return ok("deployment", f"{path}: chain id {deployment.chain_id}, staking "
                            f"{deployment.staking}, rollup {deployment.rollup.address}"), deployment


def check_chain_id(chain: Chain, deployment: Deployment, url: str, path: Path) -> Check:
    if chain.chain_id != deployment.chain_id:
        return Check("chain id", Status.PROBLEM,
                     f"{url} serves chain id {chain.chain_id}; {path} is on chain id "
                     f"{deployment.chain_id}",
                     f"use the RPC URL of chain {deployment.chain_id}, or the deployment file "
                     f"of chain {chain.chain_id}")
    return ok("chain id", f"{chain.chain_id}, as the deployment's")


def check_contracts(chain: Chain, deployment: Deployment, path: Path) -> Check:
    """Code at every address the deployment names (a restarted dev node has none)."""
    try:
        check_deployment(chain, deployment, source=str(path))
    except ChainError as exc:
        return Check("contracts", Status.PROBLEM, str(exc),
                     "redeploy (`provernet deploy`) or use the deployment file of this chain")
    return ok("contracts", "code at every address the deployment names")


def check_keystore(datadir: Path, password_file: Path | None, dev_account: int | None,
                   chain: Chain | None) -> tuple[Check, str | None]:
    """The key `roller run` signs with unlocks; the address, if known even without it."""
    if dev_account is not None:
        if chain is None:
            return skipped("keystore", "a reachable RPC (--dev-account)"), None
        try:
            account = signing_account(chain, dev_account, datadir, password_file)
        except ChainError as exc:
            return Check("keystore", Status.PROBLEM, str(exc), "drop --dev-account, or pick an "
                         "account the node has"), None
        return ok("keystore", f"not used: development account {dev_account} "
                              f"({account.address}) signs"), account.address
    try:
        address = keystore_address(datadir)
    except KeystoreMissing as exc:
        return Check("keystore", Status.PROBLEM, str(exc),
                     f"`provernet keys new --datadir {datadir}` (or `keys import`)"), None
    except KeystoreError as exc:
        return Check("keystore", Status.PROBLEM, str(exc), "restore it from a backup"), None
    try:
        account = unlock(datadir, password_file)
    except (WrongPassword, PasswordUnavailable) as exc:
        return Check("keystore", Status.PROBLEM, str(exc),
                     f"give `roller run` the keystore's password: --password-file FILE or "
                     f"{PASSWORD_ENV}"), address
    except KeystoreError as exc:
        return Check("keystore", Status.PROBLEM, str(exc), "restore it from a backup"), address
    return ok("keystore", f"unlocks {account.address}"), account.address


def check_stake(market: Market, address: str) -> Check:
    """Staked, not paused, with weight: the coordinators draw only rollers with weight."""
    params = market.deployment.params
    try:
        info = market.roller_info(address)
        wallet = f"the account holds {format_tokens(market.token_balance(address))}"
    except (ChainError, Web3Exception) as exc:
        return Check("stake", Status.PROBLEM, f"cannot read the stake: {exc}",
                     "check the L1 node (see the RPC check)")
    if not info.registered or info.active == 0:
        return Check("stake", Status.PROBLEM, f"{address} has no active stake; {wallet}",
                     f"provernet roller stake {token_amount(params.min_stake)} (MIN_STAKE is "
                     f"{format_tokens(params.min_stake)})")
    if info.paused:
        return Check("stake", Status.PROBLEM, "paused: no tasks are assigned to it",
                     "provernet roller resume")
    if info.weight == 0:
        return _zero_weight(info.active, info.rep, params, wallet)
    return ok("stake", f"active {format_tokens(info.active)}, reputation {info.rep} / "
                       f"{params.rep_max}, weight {info.weight}")


def _zero_weight(active: int, rep: int, params: MarketParams, wallet: str) -> Check:
    if active < params.min_stake:
        return Check("stake", Status.PROBLEM,
                     f"active stake {format_tokens(active)} is below MIN_STAKE "
                     f"{format_tokens(params.min_stake)}: weight 0; {wallet}",
                     f"provernet roller stake {token_amount(params.min_stake - active)}")
    return Check("stake", Status.PROBLEM, f"reputation {rep}: weight 0, never drawn",
                 "none: a roller's reputation only rises with tasks it is drawn for; use "
                 "another account")


def token_amount(units: int) -> str:
    """Base units as `provernet roller stake` takes them: '100', '0.5'."""
    return format(Decimal(units).scaleb(-TOKEN_DECIMALS).normalize(), "f")


def check_gpu(backend: str, select: Callable = select_backend) -> Check:
    """CuPy and a CUDA device, when the backend may use them; without them `auto` proves on
    the CPU (a warning), `gpu` does not start (a problem)."""
    if backend == "cpu":
        return ok("GPU", "not used: backend = cpu")
    try:
        chosen = select(backend)
    except BackendUnavailable as exc:
        return Check("GPU", Status.PROBLEM, f"backend = gpu, but {exc}",
                     "install CuPy (`pip install 'provernet[gpu]'`, CUDA 12) and check the "
                     "driver (`nvidia-smi`), or set backend = auto")
    if chosen.name == "gpu":
        return ok("GPU", chosen.describe())
    return Check("GPU", Status.WARNING,
                 f"the CPU backend will be used: {chosen.reason}; a CPU proves a small block in "
                 "seconds, a GPU in about one",
                 "for GPU proving: a CUDA 12 device and CuPy (`pip install 'provernet[gpu]'`)")


def check_farm(url: str) -> Check:
    """A farm's database reachable, and its live, trusted workers: with none, every task is
    declined (a warning: workers may start after the roller)."""
    try:
        queue = FarmQueue.open(url, "doctor")
    except FarmError as exc:
        return Check("farm", Status.PROBLEM, str(exc),
                     "check the URL, that the server runs and that this login may connect")
    try:
        workers = [w for w in queue.workers() if w.live and w.quarantined is None]
    finally:
        queue.close()
    if not workers:
        return Check("farm", Status.WARNING, f"{queue.where}: no live worker; every task will "
                                             "be declined until one starts",
                     "start `provernet roller worker --farm URL` on the proving machines")
    backends = sorted({w.backend for w in workers})
    return ok("farm", f"{queue.where}: {len(workers)} live worker(s): {'; '.join(backends)}")


def check_datadir(datadir: Path) -> tuple[Check, bool]:
    """Whether a roller runs on the directory now (its lock is held); True if one does."""
    if not datadir.is_dir():
        return ok("data directory", f"{datadir} does not exist yet: `roller run` creates it"), False
    try:
        DataDirLock(datadir).release()
    except DataDirLocked as exc:
        return Check("data directory", Status.WARNING, str(exc),
                     "stop it before `roller run` starts another"), True
    except DataDirError as exc:
        return Check("data directory", Status.PROBLEM, str(exc),
                     f"make {datadir} writable by this user"), False
    return ok("data directory", f"{datadir}, no roller running on it ({LOCK_NAME} free)"), False


def check_port(name: str, host: str, port: int, fix: str) -> Check:
    """`host`:`port` can be listened on (port 0: a free one is picked at start)."""
    if port == 0:
        return ok(name, f"{host}:0: a free port is picked at start")
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            # As servers do, so that a port in TIME_WAIT after a restart counts as free.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
    except OSError as exc:
        reason = "in use" if exc.errno == errno.EADDRINUSE else (exc.strerror or str(exc))
        return Check(name, Status.PROBLEM, f"cannot listen on {host}:{port}: {reason}",
                     f"stop what listens there (`ss -ltnp 'sport = :{port}'` names it), or {fix}")
    return ok(name, f"{host}:{port} is free")


def listen_address(multiaddr: str) -> tuple[str, int] | None:
    """(host, tcp port) of a listen multiaddr; None if it has no IP address and TCP port."""
    addr = Multiaddr(multiaddr)
    names = {p.name for p in addr.protocols()}
    host_proto = next((p for p in ("ip4", "ip6") if p in names), None)
    if host_proto is None or "tcp" not in names:
        return None
    return addr.value_for_protocol(host_proto), int(addr.value_for_protocol("tcp"))


def check_clock(chain: Chain, now: Callable[[], float]) -> Check:
    """This machine's clock against the newest L1 block's timestamp."""
    try:
        block_timestamp = chain.latest_timestamp()
    except (ChainError, Web3Exception) as exc:
        return Check("clock", Status.PROBLEM, f"cannot read the newest L1 block: {exc}",
                     "check the L1 node (see the RPC check)")
    return clock_offset(now() - block_timestamp, dev_chain=chain.is_dev)


def clock_offset(offset: float, *, dev_chain: bool = False) -> Check:
    """The verdict on `offset`: this machine's clock minus the newest L1 block's timestamp
    (see the limits above). A development chain keeps a time of its own (it jumps with time
    travel, runs ahead when blocks come faster than one a second, stands still between
    transactions): there the warning says so."""
    own_time = (" (a development chain: its time may be its own, and then nothing is wrong)"
                if dev_chain else "")
    fix = "synchronise the clock (`timedatectl set-ntp true`, or chrony)"
    if offset < -CLOCK_BEHIND_LIMIT_S:
        return Check("clock", Status.WARNING,
                     f"this machine's clock is {-offset:.0f} s behind the newest L1 block's "
                     f"timestamp: deadlines would look further off than they are{own_time}", fix)
    if offset > BLOCK_AGE_LIMIT_S:
        return Check("clock", Status.WARNING,
                     f"the newest L1 block is {offset:.0f} s older than this machine's clock: "
                     f"the clock is ahead, or the chain makes no blocks{own_time}", fix)
    return ok("clock", f"{offset:+.0f} s from the newest L1 block's timestamp")


# ------------------------------------------------------------------ all of them

def diagnose(load: Callable[[], RollerConfig], password_file: Path | None,
             dev_account: int | None, *, rpc_timeout: float = RPC_TIMEOUT_S,
             clock: Callable[[], float] = time.time) -> list[Check]:
    """Every check, in order; those whose prerequisite failed are `skipped`."""
    config_check, config = check_config(load)
    if config is None:
        return [config_check]
    assert config.deployment is not None
    checks = [config_check]
    rpc, chain = check_rpc(config.rpc_url, rpc_timeout)
    deployment_check, deployment = check_deployment_file(config.deployment)
    checks += [rpc, deployment_check]
    market = None
    if chain is None or deployment is None:
        needs = "a reachable RPC" if chain is None else "a readable deployment file"
        checks += [skipped("chain id", needs), skipped("contracts", needs)]
    else:
        chain_id = check_chain_id(chain, deployment, config.rpc_url, config.deployment)
        contracts = (check_contracts(chain, deployment, config.deployment)
                     if chain_id.status is Status.OK
                     else skipped("contracts", "the deployment's chain"))
        checks += [chain_id, contracts]
        if contracts.status is Status.OK:
            market = Market(chain, deployment)
    keystore, address = check_keystore(config.datadir, password_file, dev_account, chain)
    checks.append(keystore)
    if market is None:
        checks.append(skipped("stake", "the deployment's contracts on a reachable chain"))
    elif address is None:
        checks.append(skipped("stake", "the roller's address (its keystore)"))
    else:
        checks.append(check_stake(market, address))
    checks.append(check_gpu(config.backend) if config.farm is None else check_farm(config.farm))
    datadir, running = check_datadir(config.datadir)
    checks.append(datadir)
    listen = listen_address(config.listen)
    ports = [("metrics port", *config.metrics_address,
              "set metrics_listen in roller.toml (--metrics-listen)")]
    if listen is None:
        checks.append(Check("libp2p port", Status.SKIPPED,
                            f"not checked: {config.listen} is not a TCP port on an IP address"))
    else:
        ports.insert(0, ("libp2p port", *listen, "set listen in roller.toml (--listen)"))
    for name, host, port, fix in ports:
        checks.append(skipped(name, "no roller running on the data directory (it holds the "
                                    "port)") if running else check_port(name, host, port, fix))
    checks.append(skipped("clock", "a reachable RPC") if chain is None
                  else check_clock(chain, clock))
    return checks


def failed(checks: list[Check]) -> bool:
    return any(c.status is Status.PROBLEM for c in checks)


SYMBOLS = {Status.OK: ("✓", "green"), Status.WARNING: ("!", "yellow"),
           Status.PROBLEM: ("✗", "bold red"), Status.SKIPPED: ("-", "dim")}


def doctor_table(checks: list[Check]) -> Table:
    problems = sum(c.status is Status.PROBLEM for c in checks)
    warnings = sum(c.status is Status.WARNING for c in checks)
    table = Table(title="provernet roller doctor", title_justify="left",
                  caption=f"{problems} problem(s), {warnings} warning(s)", caption_justify="left")
    table.add_column("check", no_wrap=True)
    table.add_column("", no_wrap=True)
    table.add_column("detail", ratio=3)
    table.add_column("fix", ratio=2)
    for c in checks:
        symbol, style = SYMBOLS[c.status]
        table.add_row(c.name, Text(symbol, style=style), Text(c.detail), Text(c.fix))
    return table
