"""The market as an operator runs it: anvil, and each node its own `provernet ... run` process.

`ChaosNetwork` deploys the market and the Rollup on anvil exactly as `provernet devnet` does
(`provernet.world.devnet_world`: the coordinator registered with its libp2p peer id, the reward
pool funded, the rollers staked, the first roster snapshot), then starts
`provernet sequencer run`, `provernet coordinator run` and `provernet roller run` (CPU backend,
the small block circuit) as child processes on fixed ports, each on its own data directory, each
reaching L1 through the fault relay (`proxy.L1Proxy`). `NodeProcess` starts, SIGKILLs and
restarts one of them on the same data directory, command line and ports, so that a restarted
coordinator is where its rollers knew it.

Node accounts are anvil's dev accounts: 0 the owner (deploys, stakes, never a node), 1 the
sequencer, 2 the coordinator, 6.. the rollers (3-5 are the devnet's guest accounts).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import structlog
import trio

from market_contracts.anvil import free_port
from market_contracts.chain import RpcChain
from market_contracts.rules import MarketParams
from provernet.services import provernet_binary
from provernet.world import L2_ACCOUNTS, L2_BALANCE, World, devnet_world, peer_id_in
from sequencer.blocks import dev_transfer
from sequencer.client import SequencerClient
from sequencer.errors import RequestRefused, SequencerUnreachable
from zkp.builds import build_block_circuit

log = structlog.get_logger(__name__)

SEQUENCER_ACCOUNT = 1
COORDINATOR_ACCOUNT = 2
#: the first roller's dev account: after the devnet's guest accounts 3-5
FIRST_ROLLER_ACCOUNT = 6
#: anvil funds 10 dev accounts: 6..9 leave room for four rollers
MAX_ROLLERS = 4
#: a node's /health must answer within this of its start (a roller loads the circuit and
#: measures its speed first: tens of seconds on two busy cores)
START_TIMEOUT_S = 240.0
HEALTH_TIMEOUT_S = 2.0
#: SIGTERM's grace at the end of a run before SIGKILL
STOP_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class NodeHealth:
    #: None when nothing answered (not listening, or too slow)
    ok: bool | None
    problems: tuple[str, ...] = ()


@dataclass(eq=False)
class NodeProcess:
    """One node's process: its command line, log file and /health port, kept across restarts."""

    name: str
    argv: list[str]
    log_path: Path
    metrics_port: int
    process: subprocess.Popen | None = None
    starts: int = 0

    def start(self) -> None:
        with open(self.log_path, "ab") as log_file:
            log_file.write(f"--- start {self.starts + 1}: {' '.join(self.argv)}\n".encode())
            log_file.flush()
            self.process = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=log_file,
                                            stderr=log_file, start_new_session=True)
        self.starts += 1

    def kill(self) -> None:
        """SIGKILL to its process group (anything it spawned too), and reap it: as a crash or
        the OOM killer would stop it."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass  # gone already
        self.process.wait()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    async def health(self, client: httpx.AsyncClient) -> NodeHealth:
        try:
            answer = await client.get(f"http://127.0.0.1:{self.metrics_port}/health",
                                      timeout=HEALTH_TIMEOUT_S)
            body = answer.json()
        except (httpx.HTTPError, ValueError):
            return NodeHealth(None)
        return NodeHealth(bool(body.get("ok")), tuple(body.get("problems", ())))

    async def wait_answering(self, client: httpx.AsyncClient, timeout: float,
                             *, healthy: bool = False) -> bool:
        """Until its /health answers (with `healthy`, answers ok); False if it exits or the time
        runs out first."""
        with trio.move_on_after(timeout):
            while self.running:
                health = await self.health(client)
                if health.ok if healthy else health.ok is not None:
                    return True
                await trio.sleep(0.5)
        return False

    def stop(self) -> None:
        if not self.running:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.kill()

    def tracebacks(self) -> int:
        """Python tracebacks its log holds: a failure nothing handled, or handled as a crash."""
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return text.count("Traceback (most recent call last)")


@dataclass(frozen=True)
class NetworkConfig:
    datadir: Path
    params: MarketParams
    rollers: int = 2
    #: the sequencer's --block-interval (seconds)
    block_interval: float = 6.0
    #: anvil's block time: L1 moves on its own, as a block's randomness needs
    l1_block_time: float = 1.0


@dataclass(eq=False)
class ChaosNetwork:
    """The deployed market and its node processes (`start` deploys and starts them all)."""

    config: NetworkConfig
    chain: RpcChain
    #: the URL the nodes use: the fault relay's
    node_rpc_url: str
    nodes: dict[str, NodeProcess] = field(default_factory=dict)
    first_block: int = 0
    sequencer_url: str = ""
    deployment_path: Path | None = None
    world: World | None = None

    @property
    def sequencer_account(self):
        return self.chain.dev_accounts[SEQUENCER_ACCOUNT]

    @property
    def coordinator_account(self):
        return self.chain.dev_accounts[COORDINATOR_ACCOUNT]

    @property
    def roller_accounts(self) -> list:
        return [self.chain.dev_accounts[FIRST_ROLLER_ACCOUNT + i]
                for i in range(self.config.rollers)]

    @property
    def node_accounts(self) -> dict[str, str]:
        """Each node's L1 address, by node name."""
        accounts = {"sequencer": self.sequencer_account.address,
                    "coordinator": self.coordinator_account.address}
        for i, account in enumerate(self.roller_accounts):
            accounts[f"roller-{i}"] = account.address
        return accounts

    def deploy(self) -> None:
        """The market, the Rollup, the registered coordinator, staked rollers: as the devnet."""
        config = self.config
        if not 1 <= config.rollers <= MAX_ROLLERS:
            raise ValueError(f"{config.rollers} rollers; anvil's dev accounts allow 1 to "
                             f"{MAX_ROLLERS}")
        self.first_block = self.chain.w3.eth.block_number
        self.world = devnet_world(
            self.chain, build_block_circuit("small").setup.vk, config.datadir,
            [(self.sequencer_account, self.coordinator_account)], self.roller_accounts,
            config.params)
        self.deployment_path = config.datadir / "deployment.json"

    def _commands(self) -> None:
        config, base = self.config, [str(provernet_binary())]
        datadir = str(config.datadir)
        logs = config.datadir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        sequencer_port, coordinator_port = free_port(), free_port()
        self.sequencer_url = f"http://127.0.0.1:{sequencer_port}"
        metrics = {name: free_port() for name in self.node_accounts}
        self.nodes["sequencer"] = NodeProcess("sequencer", [
            *base, "sequencer", "run", "--rpc-url", self.node_rpc_url, "--datadir", datadir,
            "--dev-account", str(SEQUENCER_ACCOUNT), "--listen", f"127.0.0.1:{sequencer_port}",
            "--block-interval", f"{config.block_interval:g}s",
            "--genesis-accounts", str(L2_ACCOUNTS), "--genesis-balance", str(L2_BALANCE),
            "--metrics-listen", f"127.0.0.1:{metrics['sequencer']}"],
            logs / "sequencer.log", metrics["sequencer"])
        self.nodes["coordinator"] = NodeProcess("coordinator", [
            *base, "coordinator", "run", "--rpc-url", self.node_rpc_url, "--datadir", datadir,
            "--dev-account", str(COORDINATOR_ACCOUNT), "--sequencer", self.sequencer_url,
            "--listen", f"/ip4/127.0.0.1/tcp/{coordinator_port}", "--poll-interval", "0.5",
            "--snapshot-interval", "5", "--metrics-listen", f"127.0.0.1:{metrics['coordinator']}"],
            logs / "coordinator.log", metrics["coordinator"])
        # The peer id `deploy` registered on L1, from the key it made in the coordinator's
        # data directory: the rollers dial it there.
        peer = peer_id_in(config.datadir / "coordinator" / "p2p")
        bootstrap = f"/ip4/127.0.0.1/tcp/{coordinator_port}/p2p/{peer}"
        for i in range(config.rollers):
            name = f"roller-{i}"
            self.nodes[name] = NodeProcess(name, [
                *base, "roller", "run", "--datadir", str(config.datadir / name),
                "--rpc-url", self.node_rpc_url, "--deployment", str(self.deployment_path),
                "--bootstrap", bootstrap, "--backend", "cpu", "--no-view",
                "--dev-account", str(FIRST_ROLLER_ACCOUNT + i),
                "--metrics-listen", f"127.0.0.1:{metrics[name]}"],
                logs / f"{name}.log", metrics[name])

    async def start(self, client: httpx.AsyncClient) -> None:
        """Deploy, then start every node and wait until each reports itself healthy (a roller
        has its circuit and its speed)."""
        await trio.to_thread.run_sync(self.deploy)
        self._commands()
        for node in self.nodes.values():
            node.start()
            if not await node.wait_answering(client, START_TIMEOUT_S, healthy=True):
                raise RuntimeError(f"{node.name} did not become healthy within "
                                   f"{START_TIMEOUT_S:g} s; see {node.log_path}")

    def stop(self) -> None:
        for node in reversed(list(self.nodes.values())):
            node.stop()


class LoadGenerator:
    """Transfers between the genesis's dev-key accounts, recording every one the sequencer
    accepted, by hash. A send that gets no answer is retried with the same transfer (the
    sequencer answers a resent transfer with its hash), so that an accepted one is recorded
    even if its first answer was lost to a kill, and a sender's nonces never skip."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.nonces = [0] * L2_ACCOUNTS
        self.accepted: list[str] = []
        self.refused = 0
        #: sends that got no answer (the sequencer down): the same transfer went again
        self.unanswered = 0

    async def send_one(self, client: SequencerClient) -> None:
        rng = self.rng
        sender, recipient = rng.sample(range(L2_ACCOUNTS), 2)
        transfer = dev_transfer(sender, recipient, rng.randrange(1, 1000), self.nonces[sender])
        while True:
            try:
                self.accepted.append(await client.send_transfer(transfer))
                self.nonces[sender] += 1
                return
            except SequencerUnreachable:
                self.unanswered += 1
                await trio.sleep(1.0)
            except RequestRefused as error:
                self.refused += 1
                log.warning("chaos load: transfer refused", error=str(error))
                return

    async def run(self, client: SequencerClient, rate: float, stop: trio.Event) -> None:
        """`rate` transfers a second on average until `stop`."""
        while True:
            with trio.move_on_after(self.rng.expovariate(rate)):
                await stop.wait()
            if stop.is_set():
                return
            await self.send_one(client)
