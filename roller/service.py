"""The roller node: its services in one nursery, joined by zero-buffer channels.

`RollerService(config, chain, deployment, account).run(task_status=...)` locks the data
directory (`lock=False` when the caller holds it), opens the journal, picks the proving backend,
and starts, each with `nursery.start`:

- a libp2p node (`p2p.host.run_node`) on `config.listen`, dialling `config.bootstrap`, and the
  metrics and health server (`p2p.metrics_http`) on `config.metrics_listen`;
- `roller.settlement.SettlementReader`: settled outcomes from L1 into the journal;
- `roller.circuits.Circuits`: announced circuits fetched, checked against the verifiers of each
  rollup, measured; a prover of each per worker;
- `roller.pool.ProverPool`: `max_concurrent_tasks` workers proving accepted tasks, signing;
- `roller.intake.Intake`: a session per coordinator served; tasks, cancels and receipts in,
  accepts, declines and proofs out;
- `roller.discovery.Discovery`: the coordinators' gossip topic, and which coordinators (and
  rollups) are served.

The channels, each with no buffer, so that a service that falls behind holds up the one feeding
it rather than a queue growing:

    discovery --coordinator to serve--> intake --announced circuits--> circuits
    intake --accepted task--> pool --proven or failed task--> intake
    intake (admission) --calibration request--> circuits

Readiness (`task_status.started(self)`) is reported once every service runs and the node and
the metrics server listen. An error that no service expects ends the nursery, hence the node.

The node takes its prover (`make_prover`, a `roller.abc.ProverFactory`; default the real,
self-verifying `roller.proving.BlockProver`, or with `config.farm` the farm's
`roller.farm.prover.FarmProver`, whose live workers are then the node's concurrency) and its admission policy (`admission`, a function
of the node's own `roller.admission.CheckedAdmission` returning the policy to use; default that
one), so that a benchmark runs the real node with a stand-in prover, and the devnet's
misbehaving rollers (`provernet.devnet.behaviours`) wrap them. Everything that blocks (web3,
SQLite, proving) runs in worker threads.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import structlog
import trio
from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address
from libp2p.peer.id import ID

from market_contracts.bindings import Market
from market_contracts.chain import Chain
from market_contracts.deploy import Deployment
from p2p.artifacts import ArtifactStore
from p2p.config import P2PConfig
from p2p.host import Node, run_node
from p2p.metrics_http import MetricsServer
from roller.abc import AdmissionPolicy, ProverFactory, ProvingSite
from roller.admission import CheckedAdmission
from roller.capacity import ProvingSpeed
from roller.circuits import Announced, Calibrate, Circuits, SampleInputs
from roller.config import RollerConfig
from roller.datadir import DataDirLock, ensure_datadir
from roller.discovery import Discovery
from roller.errors import RollerError
from roller.farm.prover import farm_capacity, farm_provers, farm_site, watch_farm
from roller.farm.queue import FarmQueue, FarmUnavailable
from roller.intake import Intake
from roller.journal import JOURNAL_NAME, Journal, JournalTask, TaskState
from roller.metrics import RollerMetrics
from roller.pool import Failed, Proven, ProverPool
from roller.proving import BlockProver
from roller.settlement import CURSOR_NAME, SettlementReader
from roller.status import CoordinatorSession, Recent, RollerStatus, refresh_in_flight
from zkp.backends import select_backend
from zkp.builds import CircuitBuild

log = structlog.get_logger(__name__)

ARTIFACTS_DIR = "artifacts"

#: the node's admission policy -> the policy it runs with (default: that one)
AdmissionChoice = Callable[[CheckedAdmission], AdmissionPolicy]


class RollerService:
    """The roller node; see the module docstring."""

    def __init__(self, config: RollerConfig, chain: Chain, deployment: Deployment,
                 account: LocalAccount, *, sample_inputs: SampleInputs | None = None,
                 make_prover: ProverFactory | None = None,
                 admission: AdmissionChoice = lambda checked: checked,
                 clock: Callable[[], float] = time.time, p2p_config: P2PConfig | None = None,
                 lock: bool = True):
        if chain.chain_id != deployment.chain_id:
            raise RollerError(f"the L1 endpoint serves chain {chain.chain_id}, the deployment is "
                              f"on chain {deployment.chain_id}")
        self.config = config
        self.chain = chain
        self.deployment = deployment
        self.account = account
        self.market = Market(chain, deployment)
        self.metrics = RollerMetrics()
        self.discovery = Discovery(config, chain, deployment, self.market, clock)
        #: the metrics server's port, once it listens (config port 0 picks one)
        self.metrics_port: int | None = None
        self.speed: ProvingSpeed | None = None
        self._recent = Recent(clock)
        self._site: ProvingSite | None = None
        self._sample_inputs = sample_inputs
        self._make_prover = make_prover
        self._admission = admission
        self._clock = clock
        self._p2p_config = p2p_config
        self._lock = lock
        self._journal: Journal | None = None
        #: the farm's control connection (admission, metrics, status), with a farm
        self._farm: FarmQueue | None = None
        self._node: Node | None = None
        self._circuits: Circuits | None = None
        self._pool: ProverPool | None = None
        self._intake: Intake | None = None

    # ------------------------------------------------------------------ what tests and the devnet see

    @property
    def address(self) -> str:
        return self.account.address

    @property
    def peer_id(self) -> ID | None:
        return None if self._node is None else self._node.peer_id

    @property
    def node(self) -> Node | None:
        return self._node

    @property
    def journal(self) -> Journal | None:
        return self._journal

    @property
    def connected_coordinators(self) -> list[str]:
        """Coordinators with an authenticated session open now."""
        return [] if self._intake is None else sorted(self._intake.sessions)

    def circuit(self, zkey_hash: bytes) -> CircuitBuild | None:
        """The build of a fetched circuit whose key matched the verifiers of a rollup served, by
        its key's hash."""
        entry = None if self._circuits is None else self._circuits.get(zkey_hash)
        return entry.build if entry is not None and entry.ready else None

    def ready_for(self, rollup: str, zkey_hash: bytes) -> bool:
        """Whether tasks of `rollup` with the circuit whose key hashes to `zkey_hash` can be
        taken: the rollup is served and the circuit fetched and checked against its verifiers."""
        entry = None if self._circuits is None else self._circuits.get(zkey_hash)
        return entry is not None and entry.usable_for(to_checksum_address(rollup))

    async def status(self) -> RollerStatus:
        """What the node is doing now; the journal's part is read in a thread."""
        in_flight: list[JournalTask] = []
        speeds = []
        if self._journal is not None:
            in_flight = await trio.to_thread.run_sync(self._journal.in_flight)
            if self.speed is not None:
                speeds = await trio.to_thread.run_sync(self._journal.proving_speeds,
                                                       self.speed.backend)
        farm_workers = None
        if self._farm is not None:
            try:
                farm_workers = tuple(await trio.to_thread.run_sync(self._farm.workers))
            except FarmUnavailable:
                pass  # the view says the farm cannot be reached
        sessions = [] if self._intake is None else list(self._intake.sessions.values())
        rollup_of = self.discovery.rollup_of
        label = (lambda zkey: zkey.hex()[:16]) if self._circuits is None else self._circuits.label
        host, _ = self.config.metrics_address
        return RollerStatus(
            address=self.address,
            peer_id=None if self._node is None else str(self._node.peer_id),
            addrs=() if self._node is None else tuple(self._node.addrs),
            metrics_url=None if self.metrics_port is None else f"http://{host}:{self.metrics_port}",
            backend=None if self._site is None else self._site.description,
            backend_reason=None if self._site is None else self._site.reason,
            connected=tuple(CoordinatorSession(s.coordinator, rollup_of[s.coordinator].address,
                                               str(s.stream.peer_id), s.weight)
                            for s in sorted(sessions, key=lambda s: s.coordinator)),
            reconnecting=tuple(sorted(self.discovery.serving - {s.coordinator for s in sessions})),
            ignored=tuple(sorted(self.discovery.ignored.items())),
            speeds=tuple((label(r.circuit), r.kind, r.seconds) for r in speeds),
            in_flight=tuple(in_flight),
            recent=tuple(self._recent),
            last_proof_at=None if self._pool is None else self._pool.last_proof_at,
            farm_workers=farm_workers)

    # ------------------------------------------------------------------ running

    async def run(self, *, task_status: trio.TaskStatus[RollerService] = trio.TASK_STATUS_IGNORED
                  ) -> None:
        datadir = ensure_datadir(self.config.datadir)
        lock = DataDirLock(datadir) if self._lock else None
        try:
            # A journal of a roller that served only the deployment's rollup holds its tasks.
            old_tasks = None if self.deployment.rollup is None else self.deployment.rollup.address
            journal = await trio.to_thread.run_sync(partial(
                Journal.open, datadir / JOURNAL_NAME, rollup_of_old_tasks=old_tasks))
            try:
                await self._run(datadir, journal, task_status)
            finally:
                journal.close()
        finally:
            if lock is not None:
                lock.release()

    async def _run(self, datadir: Path, journal: Journal, task_status) -> None:
        config = self.config
        self._journal = journal
        if config.farm is not None:
            farm = self._farm = await trio.to_thread.run_sync(FarmQueue.open, config.farm,
                                                              "roller")
            capacity = partial(farm_capacity, farm, config.farm_slots, self.metrics)
            try:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(watch_farm, capacity)
                    await self._run_proving(datadir, journal, task_status, farm_site(farm),
                                            farm_provers(config.farm, self._clock), capacity,
                                            config.farm_slots)
            finally:
                farm.close()
            return
        backend = await trio.to_thread.run_sync(select_backend, config.backend)
        await self._run_proving(
            datadir, journal, task_status,
            ProvingSite(backend.name, backend.describe(), backend.reason), BlockProver,
            lambda: config.max_concurrent_tasks, config.max_concurrent_tasks)

    async def _run_proving(self, datadir: Path, journal: Journal, task_status, site: ProvingSite,
                           make_prover: ProverFactory, concurrency: Callable[[], int],
                           slots: int) -> None:
        """The services, proving with `make_prover` (unless one was injected) in `slots` pool
        workers, `concurrency()` of them usable now."""
        config = self.config
        self._site = site
        make_prover = self._make_prover or make_prover
        speed = self.speed = ProvingSpeed(journal, site.description)
        self.metrics.set_backend(site.name, site.description, site.reason)
        for record in await trio.to_thread.run_sync(journal.proving_speeds, site.description):
            self.metrics.set_speed(record.circuit, record.kind, record.seconds)
        host, port = config.metrics_address
        serve_send, serve_receive = trio.open_memory_channel[str](0)
        circuits_send, circuits_receive = trio.open_memory_channel[Announced | Calibrate](0)
        accepted_send, accepted_receive = trio.open_memory_channel[JournalTask](0)
        outbox_send, outbox_receive = trio.open_memory_channel[Proven | Failed](0)
        async with trio.open_nursery() as nursery:
            node = self._node = await nursery.start(partial(
                run_node, datadir, listen=config.listen, bootstrap=config.bootstrap,
                config=self._p2p_config))
            self.metrics_port = await nursery.start(MetricsServer(
                self.metrics.registry, self.metrics.health, host, port,
                remedy="set metrics_listen in roller.toml").run)
            await nursery.start(SettlementReader(
                self.market, self.address, journal, self.discovery.rollups, self.metrics,
                self._recent, self._clock, datadir / CURSOR_NAME,
                config.settlement_interval, config.settlement_log_chunk).run)
            # The pool, made below, is woken whenever a circuit becomes ready for a rollup.
            circuits = self._circuits = Circuits(
                node, ArtifactStore(datadir / ARTIFACTS_DIR), self.chain, self.address,
                self.discovery.rollups, speed, self.metrics, make_prover, config.backend,
                self._sample_inputs, on_ready=lambda: pool.wake())
            policy = self._admission(CheckedAdmission(
                config, self.address, journal, speed, circuits, self.discovery.rollups,
                circuits_send, self._clock, concurrency))
            pool = self._pool = ProverPool(
                slots, config.safety_margin, self.account,
                self.deployment.chain_id, journal, speed, self.metrics, circuits,
                self.discovery.rollups, self._clock, await self._resumed(journal, policy))
            self._intake = Intake(config, self.account, self.deployment.chain_id, node,
                                  self.discovery, journal, policy, pool, self.metrics,
                                  self._recent, self._clock)
            await nursery.start(circuits.run, circuits_receive)
            await nursery.start(pool.run, accepted_receive, outbox_send)
            await nursery.start(self._intake.run, serve_receive, outbox_receive, circuits_send,
                                accepted_send)
            await nursery.start(self.discovery.run, node, serve_send)
            log.info("roller started", address=self.address, peer_id=str(node.peer_id),
                     addrs=node.addrs, backend=site.description,
                     metrics=f"http://{host}:{self.metrics_port}")
            task_status.started(self)

    async def _resumed(self, journal: Journal, policy: AdmissionPolicy) -> list[JournalTask]:
        """Accepted tasks of an earlier run, to prove again; proven ones are sent once their
        coordinator's session is open again."""
        if not policy.delivers:
            return []
        unfinished = await trio.to_thread.run_sync(journal.unfinished)
        if unfinished:
            log.info("resuming tasks from the journal", tasks=[str(t.key) for t in unfinished])
        await refresh_in_flight(journal, self.metrics)
        return [task for task in unfinished
                if task.state in (TaskState.ACCEPTED, TaskState.PROVING)]
