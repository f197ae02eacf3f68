"""The whole market on one machine: L1, contracts, a sequencer, a coordinator and rollers.

`Devnet.run` deploys the contracts with the small block circuit (development setup, INSECURE),
funds and stakes the rollers, and runs every node as a trio service in one nursery, each with
its own data directory and (coordinator, rollers) its own libp2p host on loopback, plus a load
generator that keeps the sequencer busy with L2 transfers between the devnet's dev-key accounts.
On the embedded chain it also serves L1 over JSON-RPC, so a roller in another terminal can join.

With `rollups` N > 1 the one market (token, registry, RollerStaking) serves N Rollups, each
deployed with its own verifiers, added to the staking contract with a funded reward pool, and run
by its own sequencer and coordinator (`DevnetRollup`: own keys, data directories, ports, load);
one set of rollers serves them all. Rollup 1 keeps the one-rollup names (`deployment.json`,
`sequencer/`, `coordinator/`); rollup i > 1 has `deployment-i.json`, `sequencer-i/`,
`coordinator-i/`. Each deployment file is the shared market with that rollup: what
`provernet coordinator run` or `provernet explorer` takes for it.

Market rules v2 need L1 to move on its own: a block's randomness is the hash of the L1 block after
its commit, and the embedded chain (like anvil without a block time) mines only on transactions.
So on a dev L1 the devnet mines an empty block whenever none came for `L1_BLOCK_SECONDS`. No
watchdog reverts stuck blocks any more: a task no drawn round proves opens to every staked roller.

A block's roster is the roster snapshot taken before its commit (market-spec.md, "Roster
snapshots"): the devnet takes the first once its rollers have staked, before the sequencer
commits anything, and the coordinator takes the next ones (`snapshot_interval`, a few seconds
here, so that a roller joining from another terminal is drawn soon after it stakes).

Misbehaving rollers (`bad_rollers`) are the real roller node built with the wrappers of
`provernet.devnet.behaviours`.

With `farm_workers` N > 0 the first roller proves on a farm (docs/farm.md): the devnet starts a
PostgreSQL server of its own (Debian's binaries, as the tests do) and N `provernet roller worker`
processes against it, each logging to DATADIR/farm-worker-i.log.
"""

from __future__ import annotations

import contextlib
import random
import re
import shutil
import subprocess
from collections.abc import Iterator
from functools import partial
from dataclasses import dataclass, field
from pathlib import Path

import structlog
import trio
from eth_account import Account
from eth_account.signers.local import LocalAccount

from coordinator.config import CoordinatorConfig
from coordinator.service import CoordinatorService
from coordinator.views import ProvingStatus
from market_contracts.anvil import free_port, run_anvil
from market_contracts.bindings import Market
from market_contracts.bridge import Bridge
from market_contracts.chain import Chain, EmbeddedChain, RpcChain
from market_contracts.deploy import Deployment
from market_contracts.errors import ChainError
from market_contracts.l1_server import EmbeddedL1Server
from market_contracts.rollup import Rollup
from market_contracts.rules import MarketParams
from market_contracts.units import ONE_TOKEN
from provernet.calibration import empty_block_inputs
from p2p.postgres_server import run_postgres
from provernet.devnet.behaviours import roller_options
from provernet.explorer.data import ExplorerData
from provernet.services import farm_worker_command
from provernet.explorer.server import Explorer
from provernet.world import GUEST_ACCOUNTS, L2_ACCOUNTS, devnet_world, l2_genesis
from roller.config import RollerConfig
from roller.farm.queue import FarmQueue
from roller.service import RollerService
from sequencer.block_data import round_amount
from sequencer.blocks import dev_transfer
from sequencer.circuit_inputs import SMALL
from sequencer.client import SequencerClient
from sequencer.errors import SequencerError
from sequencer.config import SequencerConfig
from sequencer.genesis import dev_address, dev_private_key
from sequencer.relayer import BridgeMessages
from sequencer.service import Sequencer
from sequencer.transactions import Kind, Transfer, sign_transfer
from zkp.builds import CircuitBuild, build_block_circuit

log = structlog.get_logger(__name__)

#: on a dev L1, an empty block is mined when none came for this long (randomness needs blocks)
L1_BLOCK_SECONDS = 1.0
#: seconds the rollers have to fetch the circuit and measure their speed at start
READY_TIMEOUT = 300
#: one load operation in BRIDGE_SHARE is a deposit, one a withdrawal (the rest are transfers)
BRIDGE_SHARE = 8
#: deposits go to the dev-key addresses 0 .. L2_ACCOUNTS + DEPOSIT_ADDRESSES - 1: the last few
#: have no genesis account, so their first deposit opens one
DEPOSIT_ADDRESSES = 4
#: how often the devnet looks for finalized withdrawals to claim on L1
CLAIM_POLL_SECONDS = 2.0
#: the coordinator's `snapshot_interval` on the devnet: short, so a new stake is drawn soon
SNAPSHOT_INTERVAL = 5.0
#: what `Devnet` writes in its data directory (`DevnetRollup.suffix`: rollup i > 1 adds -i)
_NODE_DIR = re.compile(r"(sequencer|coordinator)(-\d+)?|roller-\d+|farm-worker-\d+")
_DEPLOYMENT_FILE = re.compile(r"deployment(-\d+)?\.json")


@dataclass(frozen=True)
class DevnetConfig:
    datadir: Path
    params: MarketParams = field(default_factory=MarketParams.devnet)
    #: honest rollers
    rollers: int = 3
    #: misbehaving rollers by behaviour ("invalid", "lazy")
    bad_rollers: tuple[tuple[str, int], ...] = ()
    #: "embedded", "anvil", or a JSON-RPC URL
    l1: str = "embedded"
    #: where the embedded L1 is served; None: not served, 0: a free port
    l1_port: int | None = 0
    block_interval: float = 8.0
    #: L2 transfers the load generator sends per second
    load: float = 0.2
    #: the proving backend of the devnet's own rollers
    backend: str = "auto"
    #: seconds between the coordinator's reads of L1
    poll_interval: float = 0.5
    #: least seconds between the coordinator's roster snapshots after the roster changed
    snapshot_interval: float = SNAPSHOT_INTERVAL
    #: where the market explorer is served on 127.0.0.1; None: not served, 0: a free port. It
    #: shows the first rollup (`provernet explorer --deployment DATADIR/deployment-2.json` the
    #: second)
    explorer_port: int | None = None
    #: Rollups on the one market, each with its own sequencer and coordinator
    rollups: int = 1
    #: workers of a farm that the first roller proves on (docs/farm.md): the devnet starts a
    #: PostgreSQL server of its own and this many `provernet roller worker` processes, one
    #: CPU thread each; 0: every roller proves in its own process
    farm_workers: int = 0


@dataclass(frozen=True)
class DevnetRoller:
    account: LocalAccount
    behaviour: str
    service: RollerService


@dataclass(eq=False)
class DevnetRollup:
    """One of the devnet's rollups: its deployment file (the shared market and this rollup), its
    contract, and the sequencer and coordinator that run it, with their keys."""

    #: 0 for the first rollup
    index: int
    deployment: Deployment
    rollup: Rollup
    sequencer_key: LocalAccount
    coordinator_key: LocalAccount
    sequencer: Sequencer | None = None
    coordinator: CoordinatorService | None = None
    transfers_sent: int = 0
    deposits_sent: int = 0
    #: the load's withdrawals by hash, and those it has claimed on L1 once finalized
    withdrawals: list[str] = field(default_factory=list)
    withdrawals_claimable: int = 0
    withdrawals_claimed: set[str] = field(default_factory=set)

    @property
    def bridge(self) -> Bridge:
        return Bridge(self.rollup.chain, self.deployment.rollup.bridge)

    def bridge_status(self) -> dict[str, int]:
        """The L1 queue as the Rollup holds it (every entry is one of the load's deposits: the
        devnet forces no withdrawal) and the load's withdrawals (blocking: reads the Rollup)."""
        queued, included = self.rollup.queue_length(), self.rollup.queue_next()
        claimed = len(self.withdrawals_claimed)
        return {"deposits_sent": self.deposits_sent, "deposits_queued": queued - included,
                "deposits_included": included, "withdrawals_sent": len(self.withdrawals),
                "withdrawals_claimable": self.withdrawals_claimable,
                "withdrawals_claimed": claimed}
    #: the coordinator's libp2p address: fixed, so that a restarted one is where rollers knew it
    coordinator_listen: str = ""
    coordinator_scope: trio.CancelScope | None = None
    coordinator_stopped: trio.Event | None = None

    @property
    def suffix(self) -> str:
        """What its files and directories add to the one-rollup names: "" for the first."""
        return "" if self.index == 0 else f"-{self.index + 1}"

    def settled(self, blocks: int) -> bool:
        """Whether blocks 1..`blocks` are finalized on L1 and their batches settled, as the
        coordinator has read them back from L1 (blocking: reads the Rollup)."""
        core = self.coordinator.core
        return (self.rollup.last_finalized() >= blocks
                and all(core.block_status(n) is ProvingStatus.SETTLED for n in range(1, blocks + 1)))


class Devnet:
    def __init__(self, config: DevnetConfig):
        self.config = config
        self.chain: Chain | None = None
        self.market: Market | None = None
        #: the rollups in order; the first is the one `deployment`, `rollup`, `sequencer` and
        #: `coordinator` name
        self.rollups: list[DevnetRollup] = []
        self.build: CircuitBuild | None = None
        self.l1_url: str | None = None
        self.explorer_url: str | None = None
        #: with `farm_workers`, the farm the first roller proves on
        self.farm_url: str | None = None
        self.rollers: list[DevnetRoller] = []
        #: the L1 block the deployment started at: reports read events from there
        self.first_block = 0
        #: the deployer: it deposits from L1 and claims withdrawals (it holds each L2 token)
        self.world_owner: LocalAccount | None = None

    @property
    def behaviours(self) -> dict[str, str]:
        return {r.account.address: r.behaviour for r in self.rollers}

    @property
    def deployment(self) -> Deployment | None:
        return self.rollups[0].deployment if self.rollups else None

    @property
    def rollup(self) -> Rollup | None:
        return self.rollups[0].rollup if self.rollups else None

    @property
    def sequencer(self) -> Sequencer | None:
        return self.rollups[0].sequencer if self.rollups else None

    @property
    def coordinator(self) -> CoordinatorService | None:
        return self.rollups[0].coordinator if self.rollups else None

    async def run(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        config = self.config
        _clear(config.datadir)
        with self._l1() as chain:
            self.chain = chain
            self.first_block = chain.w3.eth.block_number
            self.build = await trio.to_thread.run_sync(build_block_circuit, "small")
            accounts = [(b, Account.create()) for b, n in self._roller_plan() for _ in range(n)]
            self.rollups = await trio.to_thread.run_sync(
                self._deploy, [account for _, account in accounts])
            self.market = Market(chain, self.deployment)
            async with trio.open_nursery() as nursery:
                if chain.is_dev:
                    nursery.start_soon(keep_l1_moving, chain)
                if isinstance(chain, EmbeddedChain) and config.l1_port is not None:
                    server = EmbeddedL1Server(chain, port=config.l1_port)
                    self.l1_url = await nursery.start(server.run)
                if config.explorer_port is not None:
                    explorer = Explorer(ExplorerData(
                        self.market, self.rollup, config.datadir / "coordinator" / "audit.jsonl"),
                        port=config.explorer_port)
                    self.explorer_url = await nursery.start(explorer.run)
                self._nursery = nursery
                for lane in self.rollups:
                    lane.sequencer = Sequencer(SequencerConfig(
                        datadir=config.datadir / f"sequencer{lane.suffix}",
                        genesis=l2_genesis(), circuit=SMALL,
                        block_interval=config.block_interval, port=0, l1_poll_interval=1.0,
                        relayer_poll_interval=1.0,
                        relayer_start_block=lane.deployment.rollup.block),
                        lane.rollup, lane.sequencer_key, BridgeMessages(lane.bridge))
                    await nursery.start(lane.sequencer.run)
                    lane.coordinator_listen = f"/ip4/127.0.0.1/tcp/{free_port()}"
                    await self._start_coordinator(lane)
                # Every coordinator's address: each roller's gossip mesh starts from all of them.
                bootstrap = tuple(lane.coordinator.node.addrs[0] for lane in self.rollups)
                if config.farm_workers:
                    self.farm_url = await nursery.start(self._run_farm)
                for number, (behaviour, account) in enumerate(accounts):
                    service = RollerService(
                        RollerConfig(datadir=config.datadir / f"roller-{number}",
                                     bootstrap=bootstrap, backend=config.backend,
                                     metrics_listen="127.0.0.1:0",
                                     farm=self.farm_url if number == 0 else None),
                        chain, self.deployment, account, sample_inputs=empty_block_inputs(account.address),
                        **roller_options(behaviour))
                    await nursery.start(service.run)
                    self.rollers.append(DevnetRoller(account, behaviour, service))
                await self._rollers_ready()
                for lane in self.rollups:
                    nursery.start_soon(self._generate_load, lane)
                    nursery.start_soon(self._claim_withdrawals, lane)
                task_status.started(self)

    async def _run_farm(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        """A PostgreSQL server and `farm_workers` worker processes until cancelled; started with
        the farm's URL."""
        config = self.config
        server = run_postgres()
        postgres = await trio.to_thread.run_sync(server.__enter__)
        try:
            url = await trio.to_thread.run_sync(postgres.create_database, "farm")
            async with trio.open_nursery() as workers:
                for number in range(config.farm_workers):
                    name = f"farm-worker-{number}"
                    with open(config.datadir / f"{name}.log", "wb") as log_file:
                        # Cancelled with the devnet: SIGTERM, which the worker takes as "stop".
                        await workers.start(partial(
                            trio.run_process,
                            farm_worker_command(url, name, config.datadir / name,
                                                backend=config.backend),
                            stdout=log_file, stderr=subprocess.STDOUT, check=False))
                # Live before the rollers start: the first one measures its speed on them.
                queue = await trio.to_thread.run_sync(FarmQueue.open, url, "devnet")
                try:
                    with trio.fail_after(READY_TIMEOUT):
                        while await trio.to_thread.run_sync(queue.capacity) < config.farm_workers:
                            await trio.sleep(0.2)
                finally:
                    queue.close()
                task_status.started(url)
                await trio.sleep_forever()
        finally:
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(server.__exit__, None, None, None)

    async def _start_coordinator(self, lane: DevnetRollup) -> None:
        # The first coordinator is every other's way into the gossip mesh.
        bootstrap = () if lane.index == 0 else tuple(self.rollups[0].coordinator.node.addrs[:1])
        lane.coordinator = CoordinatorService(
            CoordinatorConfig(datadir=self.config.datadir / f"coordinator{lane.suffix}",
                              sequencer_url=lane.sequencer.url, listen=lane.coordinator_listen,
                              bootstrap=bootstrap, poll_interval=self.config.poll_interval,
                              snapshot_interval=self.config.snapshot_interval),
            self.chain, lane.deployment, lane.coordinator_key, self.build)
        lane.coordinator_stopped = trio.Event()
        lane.coordinator_scope = await self._nursery.start(_cancellable, lane.coordinator.run,
                                                           lane.coordinator_stopped)

    async def restart_coordinator(self, index: int = 0) -> None:
        """Stop rollup `index`'s coordinator as a kill would (its state is what its database
        holds) and start a new one on the same data directory and address."""
        lane = self.rollups[index]
        lane.coordinator_scope.cancel()
        with trio.fail_after(READY_TIMEOUT):
            await lane.coordinator_stopped.wait()
        await self._start_coordinator(lane)

    def _roller_plan(self) -> list[tuple[str, int]]:
        return [("honest", self.config.rollers), *self.config.bad_rollers]

    @contextlib.contextmanager
    def _l1(self) -> Iterator[Chain]:
        if self.config.l1 == "embedded":
            yield EmbeddedChain()
        elif self.config.l1 == "anvil":
            with run_anvil() as node:
                self.l1_url = node.url
                yield RpcChain(node.url)
        else:
            self.l1_url = self.config.l1
            yield RpcChain(self.config.l1)

    # ------------------------------------------------------------------ set-up

    @property
    def guest_accounts(self) -> list[LocalAccount]:
        """Dev accounts the devnet funds with tokens for rollers that join from outside."""
        return list(self.chain.dev_accounts[GUEST_ACCOUNTS])

    def _node_keys(self, index: int) -> tuple[LocalAccount, LocalAccount]:
        """Rollup `index`'s sequencer and coordinator keys: dev accounts 1 and 2 for the first,
        fresh keys (funded by `devnet_world`) for the others."""
        if index == 0:
            return self.chain.dev_accounts[1], self.chain.dev_accounts[2]
        return Account.create(), Account.create()

    def _deploy(self, rollers: list[LocalAccount]) -> list[DevnetRollup]:
        """The devnet's world (`provernet.world.devnet_world`) with `rollers` staked; one lane
        a rollup."""
        node_keys = [self._node_keys(index) for index in range(self.config.rollups)]
        world = devnet_world(self.chain, self.build.setup.vk, self.config.datadir, node_keys,
                             rollers, self.config.params)
        self.world_owner = world.owner
        return [DevnetRollup(index, deployment, Rollup.from_deployment(self.chain, deployment),
                             *keys)
                for index, (deployment, keys) in enumerate(zip(world.deployments, node_keys))]

    async def _rollers_ready(self) -> None:
        """Until every roller has fetched the circuit, checked it against every rollup's
        verifiers and measured its speed: before that a roller declines what it is drawn for,
        and a small devnet's first blocks would run out of rollers to draw."""
        zkey = self.build.zkey_hash
        with trio.fail_after(READY_TIMEOUT):
            while not all(all(r.service.ready_for(lane.rollup.address, zkey)
                              for lane in self.rollups)
                          and r.service.speed is not None and r.service.speed.measured(zkey)
                          for r in self.rollers):
                await trio.sleep(0.2)

    # ------------------------------------------------------------------ load

    async def _generate_load(self, lane: DevnetRollup) -> None:
        """`load` L2 operations a second on average on `lane`'s rollup (each rollup its own
        draws: their blocks differ): mostly transfers between the dev-key accounts, and about
        one in BRIDGE_SHARE a deposit from L1 (to a dev-key address, opening an account past the
        genesis ones at times) or a withdrawal to the deployer's L1 address, which
        `_claim_withdrawals` claims once its block is finalized. The first two are a deposit
        and a withdrawal, so that even a short devnet shows the bridge both ways."""
        if self.config.load <= 0:
            return
        rng = random.Random(lane.index)
        nonces = [0] * L2_ACCOUNTS
        depositor = self.world_owner
        async with SequencerClient(lane.sequencer.url) as client:
            while True:
                await trio.sleep(rng.expovariate(self.config.load))
                draw = rng.random() if lane.deposits_sent and lane.withdrawals else (
                    0.0 if not lane.deposits_sent else 1 / BRIDGE_SHARE)
                if draw < 1 / BRIDGE_SHARE:
                    to = dev_address(rng.randrange(L2_ACCOUNTS + DEPOSIT_ADDRESSES))
                    amount = round_amount(rng.randrange(1, 1000) * ONE_TOKEN)
                    try:
                        await trio.to_thread.run_sync(lane.bridge.deposit, depositor, to, amount)
                    except ChainError as error:
                        log.warning("load deposit refused", error=str(error))
                        continue
                    lane.deposits_sent += 1
                    continue
                sender, recipient = rng.sample(range(L2_ACCOUNTS), 2)
                withdraw = draw < 2 / BRIDGE_SHARE
                amount = rng.randrange(1, 1000)
                tx = (sign_transfer(Transfer(sender, 0, int(depositor.address, 16), amount,
                                             nonces[sender], kind=Kind.WITHDRAW),
                                    dev_private_key(sender), SMALL.chain_id) if withdraw
                      else dev_transfer(sender, recipient, amount, nonces[sender]))
                try:
                    hash_ = await client.send_transfer(tx)
                except SequencerError as error:
                    log.warning("load transaction refused", error=str(error))
                    continue
                nonces[sender] += 1
                if withdraw:
                    lane.withdrawals.append(hash_)
                else:
                    lane.transfers_sent += 1

    async def _claim_withdrawals(self, lane: DevnetRollup) -> None:
        """Claim on L1 each of the load's withdrawals once its block is finalized, as a wallet
        would (`l2 claim`), with the exit the sequencer reports."""
        async with SequencerClient(lane.sequencer.url) as client:
            while True:
                await trio.sleep(CLAIM_POLL_SECONDS)
                claimable = 0
                for hash_ in [h for h in lane.withdrawals if h not in lane.withdrawals_claimed]:
                    found = await client.transfer(hash_)
                    if found is None or not found.get("claimable"):
                        continue
                    claimable += 1
                    paid = found["exit"]
                    try:
                        await trio.to_thread.run_sync(
                            lambda: lane.bridge.claim_withdrawal(
                                self.world_owner, paid["block"], paid["position"],
                                paid["recipient"], int(paid["amount"]),
                                [bytes.fromhex(p[2:]) for p in paid["proof"]]))
                    except ChainError as error:
                        log.warning("load claim refused", error=str(error))
                        continue
                    lane.withdrawals_claimed.add(hash_)
                    claimable -= 1
                lane.withdrawals_claimable = claimable


async def keep_l1_moving(chain: Chain, interval: float = L1_BLOCK_SECONDS) -> None:
    """Mine an empty block on a dev chain whenever none came for `interval` seconds: a block's
    randomness is recorded from the L1 block after its commit, which an idle dev chain (mining
    only on transactions) would never mine."""
    last = None
    while True:
        await trio.sleep(interval)
        head = await trio.to_thread.run_sync(lambda: chain.w3.eth.block_number)
        if head == last:
            await trio.to_thread.run_sync(chain.mine)
            head += 1
        last = head


async def _cancellable(service, stopped: trio.Event, *,
                       task_status=trio.TASK_STATUS_IGNORED) -> None:
    """Run `service` in a cancel scope of its own; `started` gives the scope, and `stopped` is
    set once the service has wound down."""
    try:
        with trio.CancelScope() as scope:
            await service(task_status=_Forward(task_status, scope))
    finally:
        stopped.set()


class _Forward:
    """A task status that reports `scope` when the service inside reports itself started."""

    def __init__(self, task_status, scope: trio.CancelScope):
        self._task_status, self._scope = task_status, scope

    def started(self, _value=None) -> None:
        self._task_status.started(self._scope)


def _clear(datadir: Path) -> None:
    """Remove what an earlier devnet left in `datadir`: each run starts a new chain, and nodes
    must not resume state that belongs to another one. Only the devnet's own entries go."""
    datadir.mkdir(parents=True, exist_ok=True)
    for entry in datadir.iterdir():
        if entry.is_dir() and _NODE_DIR.fullmatch(entry.name):
            shutil.rmtree(entry)
        elif _DEPLOYMENT_FILE.fullmatch(entry.name):
            entry.unlink()
