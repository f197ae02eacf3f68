"""The roller node: discovery, sessions with coordinators, task intake, proving, submission,
and settlement, around the pieces of the other roller modules.

`RollerService(config, chain, deployment, account).run(task_status=...)` runs it all in one
nursery:

- a libp2p node (`p2p.host.run_node`) on `config.listen`, dialling `config.bootstrap`, and the
  metrics and health server (`p2p.metrics_http`) on `config.metrics_listen`; readiness is reported
  (`task_status.started(self)`) once both listen;
- the coordinators' gossip topic: announcements are validated by `p2p.gossip` against the
  registry on L1 (`Market.coordinator_rollup`), and the roller serves those whose chain id and
  staking contract are its deployment's (and that `config.coordinators` lists, if it is set),
  which the registry binds to the rollup they announce, for a rollup it serves (`ServedRollup`:
  enabled in the staking contract, listed in `config.rollups` if that is set, and this release's
  Rollup contract);
- per coordinator, a session supervisor: dial the announced peer, fetch and check the announced
  circuits (`roller.artifacts`; the key must be the one of its rollup's verifiers), run the
  session (`roller.session`), and on any failure reconnect after `config.reconnect_delay`;
- task intake: a task is of its coordinator's rollup, which decides what its id, statement,
  inputs, signature and settlement refer to; it is checked (signature, id, times:
  `session.check_task`), its circuit must be fetched and checked against that rollup's
  verifiers, its statement must be L1's current one and its inputs what L1 holds, and `capacity.Admission` must find time
  for it among the accepted tasks; admission and the journal's accept happen under one lock, so
  the roller never holds more than it can finish;
- `max_concurrent_tasks` provers taking accepted tasks earliest effective deadline first; each
  proof is verified by `BlockProver`, its statement and public inputs are checked against
  the Rollup once more just before signing (a block reverted meanwhile is not signed for), then
  it is signed (v2: the statement and the hash of the proof alone), journaled and submitted; a
  proof whose session is down waits in the journal and is resubmitted when the session is back;
- open tasks (a task no drawn round proved, open to every staked roller) are taken like any
  other: accepted if admission finds time, proven, and the first valid proof is the one paid;
- a settlement reader that polls RollerStaking's `ReputationChanged`, `RewardCredited` and
  `BatchSettled` logs for this roller, of every rollup, and fills the journal's outcomes.

Everything that blocks (web3, SQLite, proving) runs in `trio.to_thread.run_sync`. The data
directory is locked for the service's lifetime (`lock=False` when the caller holds it).

Devnet behaviours (`behaviour`, hidden from operators): `invalid` proves honestly, then negates
the proof's C so that it no longer verifies and signs and submits that (slashable evidence);
`lazy` accepts every task that passes the protocol checks and never delivers. They exist to
exercise the coordinator's and the contracts' defences, never for a real node.
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import structlog
import trio
from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address
from libp2p.peer.id import ID

from market_contracts.bindings import Market
from market_contracts.chain import Chain
from market_contracts.deploy import Deployment, RollupDeployment
from market_contracts.errors import ChainError, TransactionFailed
from market_contracts.rollup import Rollup
from market_contracts.rules import TaskKind
from market_contracts.submissions import sign_submission
from p2p.artifacts import ArtifactStore
from p2p.config import P2PConfig
from p2p.database import DatabaseUnwritable
from p2p.errors import P2PError, RemoteError, Timeout
from p2p.gossip import CoordinatorDirectory, Outcome, Verdict, join_coordinators
from p2p.host import Node, run_node
from p2p.metrics_http import MetricsServer
from p2p.messages import Accept, Announce, Cancel, Decline, Ping, Pong, Receipt, Task
from p2p.protocols import open_stream
from roller import capacity
from roller.artifacts import CircuitUnavailable, fetch_circuit
from roller.capacity import Admission, ProvingSpeed, Work, calibrate, pending_work
from roller.config import RollerConfig
from roller.datadir import DataDirLock, ensure_datadir
from roller.errors import ConfigError, InvalidTaskInputs, JournalError, ProvingError, RollerError, UnknownTask
from roller.journal import (JOURNAL_NAME, OUTCOMES, Journal, JournalTask, TaskKey, TaskOffer,
                            TaskState, decode_batch_inputs, is_new_draw)
from roller.metrics import RollerMetrics
from roller.proving import (BlockProver, SignedResult, submission_hash, tamper,
                            vk_matches_verifier)
from roller.session import (TASK_KINDS, Session, SessionFailed, SessionRefused, TaskRefused,
                            check_task, decline_reason, handshake, offer_from_task, submission)
from zkp.backends import Backend, select_backend
from zkp.builds import CircuitBuild
from zkp.errors import ZkpError
from zkp.system import SealedProof

log = structlog.get_logger(__name__)

BEHAVIOURS = ("honest", "invalid", "lazy")
#: with no message from the coordinator for this long, ping it; with none for twice as long,
#: the session is taken for dead
PING_INTERVAL = 15.0
#: how often the settlement logs are read
SETTLEMENT_INTERVAL = 5.0
#: blocks per eth_getLogs request
LOG_CHUNK_BLOCKS = 5_000
#: accepted announcements waiting for discovery; more are dropped (each coordinator re-announces)
ANNOUNCEMENT_QUEUE = 64
#: how long a registry answer is trusted (the validator asks per announcement), and how long a
#: rollup found not servable stays so before L1 is asked again (the deployer may add it)
REGISTRY_TTL = 60.0
#: seconds an L1 read on the announcements' path may take before the answer is "not now"
L1_READ_TIMEOUT = 10.0
#: the next L1 block the settlement reader reads, kept across restarts
CURSOR_NAME = "settlement.block"
ARTIFACTS_DIR = "artifacts"
#: a receipt reason that means "the coordinator already had this proof" (a resubmission)
DUPLICATE = "duplicate"
#: task endings `status()` keeps for the live view, newest last
RECENT_OUTCOMES = 20

SampleInputs = Callable[[str], Mapping[str, Any] | None]
T = TypeVar("T")


class NotOnL1(ProvingError):
    """The proof's statement or public inputs are not what the Rollup holds for that block (or
    batch) and prover: an honest roller does not sign it."""


class NotServed(RollerError):
    """An announced coordinator, or its rollup, this roller does not serve; the message says
    why."""


@dataclass(frozen=True)
class ServedRollup:
    """A rollup this roller serves, as L1 wires it: its contract, its entry (the batch verifier
    it finalizes with, and the block verifier the staking contract slashes its proofs with, both
    read from L1, not from a file) and its batch size. Read once: the deployer adds a rollup and
    its block verifier once, and the rest is the Rollup's code."""

    rollup: Rollup
    entry: RollupDeployment
    batch_size: int

    @property
    def address(self) -> str:
        return self.rollup.address


@dataclass(frozen=True)
class RecentOutcome:
    """How one task ended, as the node saw it happen."""

    at: float
    task: TaskKey
    #: declined, failed, cancelled, "receipt accepted" (rejected, late), or the settled outcome
    #: (on_time, late, missed, invalid)
    what: str
    #: the reason of a decline, failure, cancellation or receipt; "" when there is none
    detail: str = ""
    #: settlements: base units credited, and the reputation before and after
    reward: int | None = None
    reputation: tuple[int, int] | None = None


@dataclass(frozen=True)
class CoordinatorSession:
    address: str
    #: the rollup its tasks are of
    rollup: str
    peer: str
    #: the roller's weight as the coordinator's welcome stated it
    weight: int


@dataclass(frozen=True)
class RollerStatus:
    """What the node is doing, read-only (`RollerService.status`; the live view shows it)."""

    address: str
    peer_id: str | None
    addrs: tuple[str, ...]
    metrics_url: str | None
    #: the proving backend's description and why it was chosen; None while it starts
    backend: str | None
    backend_reason: str | None
    connected: tuple[CoordinatorSession, ...]
    #: served, but with no session open now (connecting, or waiting to reconnect)
    reconnecting: tuple[str, ...]
    #: announced but not served: (address, why)
    ignored: tuple[tuple[str, str], ...]
    #: modelled seconds per unit on this backend: (circuit, kind, seconds)
    speeds: tuple[tuple[str, str, float], ...]
    #: accepted and not yet answered by a receipt, earliest deadline first
    in_flight: tuple[JournalTask, ...]
    #: the latest task endings, oldest first
    recent: tuple[RecentOutcome, ...]
    last_proof_at: float | None


@dataclass(eq=False)
class _Circuit:
    """One announced circuit (by manifest hash): fetched, checked against the verifiers of each
    rollup it was announced for, provable."""

    manifest: bytes
    build: CircuitBuild | None = None
    #: the rollups it was announced for: each one's verifiers are checked once it is fetched
    wanted: set[str] = field(default_factory=set)
    #: per rollup checked: why its tasks of this circuit are declined (the key is not the one
    #: of that rollup's verifiers), or None when usable for them
    verdicts: dict[str, str | None] = field(default_factory=dict)
    calibrating: bool = False
    provers: dict[int, BlockProver] = field(default_factory=dict)
    locks: dict[int, trio.Lock] = field(default_factory=lambda: defaultdict(trio.Lock))
    loading: trio.Lock = field(default_factory=trio.Lock)

    @property
    def label(self) -> str:
        name = self.build.name if self.build is not None else "?"
        return f"{name} ({self.manifest.hex()[:16]})"

    def usable_for(self, rollup: str) -> bool:
        return self.build is not None and rollup in self.verdicts and self.verdicts[rollup] is None

    @property
    def ready(self) -> bool:
        """Fetched, and its key is the one of some served rollup's verifiers."""
        return self.build is not None and None in self.verdicts.values()


class RollerService:
    """The roller node; see the module docstring."""

    def __init__(self, config: RollerConfig, chain: Chain, deployment: Deployment,
                 account: LocalAccount, *, sample_inputs: SampleInputs | None = None,
                 behaviour: str = "honest", clock: Callable[[], float] = time.time,
                 p2p_config: P2PConfig | None = None, lock: bool = True,
                 ping_interval: float = PING_INTERVAL,
                 settlement_interval: float = SETTLEMENT_INTERVAL):
        if behaviour not in BEHAVIOURS:
            raise ConfigError(f"unknown roller behaviour {behaviour!r}; the behaviours are "
                              f"{', '.join(BEHAVIOURS)}")
        if chain.chain_id != deployment.chain_id:
            raise RollerError(f"the L1 endpoint serves chain {chain.chain_id}, the deployment is "
                              f"on chain {deployment.chain_id}")
        self.config = config
        self.chain = chain
        self.deployment = deployment
        self.account = account
        self.behaviour = behaviour
        self.chain_id = deployment.chain_id
        self.market = Market(chain, deployment)
        self.metrics = RollerMetrics()
        #: the metrics server's port, once it listens (config port 0 picks one)
        self.metrics_port: int | None = None
        self.speed: ProvingSpeed | None = None
        self._backend: Backend | None = None
        #: appended from the settlement reader's thread too: deque appends are atomic
        self._recent: deque[RecentOutcome] = deque(maxlen=RECENT_OUTCOMES)
        self._last_proof_at: float | None = None
        self._sample_inputs = sample_inputs
        self._clock = clock
        self._p2p_config = p2p_config
        self._lock = lock
        self._ping_interval = ping_interval
        self._settlement_interval = settlement_interval
        self._journal: Journal | None = None
        self._node: Node | None = None
        self._nursery: trio.Nursery | None = None
        self._store: ArtifactStore | None = None
        self._sessions: dict[str, Session] = {}
        self._serving: set[str] = set()
        self._ignored: dict[str, str] = {}
        #: coordinator -> (the rollup the registry binds it to, until when that is trusted)
        self._registered: dict[str, tuple[str, float]] = {}
        #: the rollups served, by address; and those refused, with why and until when
        self._rollups: dict[str, ServedRollup] = {}
        self._refused_rollups: dict[str, tuple[str, float]] = {}
        #: each served coordinator's rollup: its tasks are of it
        self._rollup_of: dict[str, ServedRollup] = {}
        self._circuits: dict[bytes, _Circuit] = {}
        self._by_zkey: dict[bytes, _Circuit] = {}
        self._queue: dict[TaskKey, JournalTask] = {}
        self._cancelled: set[TaskKey] = set()
        self._cancelled_ids: set[tuple[str, bytes]] = set()
        self._intake = trio.Lock()
        self._changed_event = trio.Event()

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
        return sorted(self._sessions)

    def circuit(self, zkey_hash: bytes) -> CircuitBuild | None:
        """The build of a fetched circuit whose key matched the verifiers of a rollup served, by
        its key's hash."""
        entry = self._by_zkey.get(zkey_hash)
        return entry.build if entry is not None and entry.ready else None

    async def status(self) -> RollerStatus:
        """What the node is doing now; the journal's part is read in a thread."""
        in_flight: list[JournalTask] = []
        speeds = []
        if self._journal is not None:
            in_flight = await self._db(self._journal.in_flight)
            if self.speed is not None:
                speeds = await self._db(self._journal.proving_speeds, self.speed.backend)
        sessions = list(self._sessions.values())
        host, _ = self.config.metrics_address
        return RollerStatus(
            address=self.address,
            peer_id=None if self._node is None else str(self._node.peer_id),
            addrs=() if self._node is None else tuple(self._node.addrs),
            metrics_url=None if self.metrics_port is None else f"http://{host}:{self.metrics_port}",
            backend=None if self._backend is None else self._backend.describe(),
            backend_reason=None if self._backend is None else self._backend.reason,
            connected=tuple(CoordinatorSession(s.coordinator, self._rollup_of[s.coordinator].address,
                                               str(s.stream.peer_id), s.weight)
                            for s in sorted(sessions, key=lambda s: s.coordinator)),
            reconnecting=tuple(sorted(self._serving - set(self._sessions))),
            ignored=tuple(sorted(self._ignored.items())),
            speeds=tuple((self._circuit_label(r.circuit), r.kind, r.seconds) for r in speeds),
            in_flight=tuple(in_flight),
            recent=tuple(self._recent),
            last_proof_at=self._last_proof_at)

    def ready_for(self, rollup: str, zkey_hash: bytes) -> bool:
        """Whether tasks of `rollup` with the circuit whose key hashes to `zkey_hash` can be
        taken: the rollup is served and the circuit fetched and checked against its verifiers."""
        entry = self._by_zkey.get(zkey_hash)
        return entry is not None and entry.usable_for(to_checksum_address(rollup))

    def _circuit_label(self, zkey_hash: bytes) -> str:
        entry = self._by_zkey.get(zkey_hash)
        return entry.label if entry is not None else zkey_hash.hex()[:16]

    def _note(self, task: TaskKey, what: str, detail: str = "", **settled: Any) -> None:
        """Keep how a task ended for `status()`."""
        self._recent.append(RecentOutcome(self._clock(), task, what, detail, **settled))

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
        self._journal = journal
        backend = await trio.to_thread.run_sync(select_backend, self.config.backend)
        self._backend = backend
        self.speed = ProvingSpeed(journal, backend.describe())
        self.metrics.set_backend(backend.name, backend.describe(), backend.reason)
        for record in await self._db(journal.proving_speeds, backend.describe()):
            self.metrics.set_speed(record.circuit, record.kind, record.seconds)
        self._store = ArtifactStore(datadir / ARTIFACTS_DIR)
        host, port = self.config.metrics_address
        send, announcements = trio.open_memory_channel[Announce](ANNOUNCEMENT_QUEUE)
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            self._node = await nursery.start(partial(
                run_node, datadir, listen=self.config.listen, bootstrap=self.config.bootstrap,
                config=self._p2p_config))
            self.metrics_port = await nursery.start(MetricsServer(
                self.metrics.registry, self.metrics.health, host, port,
                remedy="set metrics_listen in roller.toml").run)
            directory = await nursery.start(self._gossip, send)
            await self._resume()
            for slot in range(self.config.max_concurrent_tasks):
                nursery.start_soon(self._worker, slot)
            nursery.start_soon(self._settlement_loop, datadir / CURSOR_NAME)
            nursery.start_soon(self._discover, directory, announcements)
            log.info("roller started", address=self.address, peer_id=str(self._node.peer_id),
                     addrs=self._node.addrs, backend=backend.describe(), behaviour=self.behaviour,
                     metrics=f"http://{host}:{self.metrics_port}")
            if self.behaviour != "honest":
                log.warning("DEVNET BEHAVIOUR: this roller misbehaves on purpose",
                            behaviour=self.behaviour)
            task_status.started(self)

    async def _db(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await trio.to_thread.run_sync(partial(fn, *args, **kwargs))

    def _changed(self) -> None:
        """Wake whoever waits for the queue or the circuits to change."""
        self._changed_event.set()
        self._changed_event = trio.Event()

    async def _refresh_in_flight(self) -> None:
        assert self._journal is not None
        self.metrics.set_in_flight(len(await self._db(self._journal.in_flight)))

    async def _resume(self) -> None:
        """Accepted tasks of an earlier run go back into the queue; proven ones are sent once
        their coordinator's session is open again."""
        assert self._journal is not None
        unfinished = await self._db(self._journal.unfinished)
        if self.behaviour == "lazy":
            return
        for task in unfinished:
            if task.state in (TaskState.ACCEPTED, TaskState.PROVING):
                self._queue[task.key] = task
        if unfinished:
            log.info("resuming tasks from the journal", tasks=[str(t.key) for t in unfinished])
        await self._refresh_in_flight()

    # ------------------------------------------------------------------ discovery

    async def _gossip(self, send: trio.MemorySendChannel[Announce], *,
                      task_status: trio.TaskStatus[CoordinatorDirectory]) -> None:
        def on_outcome(outcome: Outcome) -> None:
            if outcome.verdict is Verdict.ACCEPT and outcome.announcement is not None:
                try:
                    send.send_nowait(outcome.announcement)
                except trio.WouldBlock:
                    pass  # discovery is behind; the coordinator announces again shortly

        assert self._node is not None
        async with join_coordinators(self._node, is_registered=self._is_registered,
                                     now=self._clock, on_outcome=on_outcome) as topic:
            task_status.started(topic.directory)
            await trio.sleep_forever()

    async def _is_registered(self, address: str) -> bool:
        """The registry's answer on L1. It must be the true one, also for coordinators this
        roller does not serve: gossip through this node depends on it."""
        return await self._registered_rollup(address) is not None

    async def _registered_rollup(self, address: str) -> str | None:
        """The rollup the registry binds coordinator `address` to (registering binds one); None
        if it is not registered, or L1 cannot be read now (logged). A rollup is trusted for
        REGISTRY_TTL: the registry's owner may remove a coordinator and bind it anew."""
        cached = self._registered.get(address)
        if cached is not None and cached[1] > trio.current_time():
            return cached[0]
        try:
            with trio.fail_after(L1_READ_TIMEOUT):
                rollup = await trio.to_thread.run_sync(
                    self.market.coordinator_rollup, address, abandon_on_cancel=True)
        except (ChainError, trio.TooSlowError) as exc:
            log.warning("cannot ask the registry about a coordinator", coordinator=address,
                        error=str(exc) or "timed out")
            return None
        except Exception as exc:  # web3 raises a variety; the validator must answer
            log.warning("cannot ask the registry about a coordinator", coordinator=address,
                        error=f"{type(exc).__name__}: {exc}")
            return None
        if rollup is None:
            return None
        rollup = to_checksum_address(rollup)
        self._registered[address] = (rollup, trio.current_time() + REGISTRY_TTL)
        return rollup

    async def _rollup_to_serve(self, ann: Announce) -> ServedRollup:
        """The rollup whose tasks the announced coordinator would send, if this roller serves
        it; else `NotServed`. The coordinator must be bound to the rollup it announces: one
        bound to rollup X announcing Y is refused (its tasks would be checked, and signed for,
        against a rollup whose batches it cannot settle)."""
        address = to_checksum_address(ann.coordinator)
        wanted = self.config.coordinators
        if wanted is not None and address not in wanted:
            raise NotServed("not among the coordinators in the configuration")
        mismatches = []
        if ann.chain_id != self.chain_id:
            mismatches.append(f"chain {ann.chain_id}, not {self.chain_id}")
        if to_checksum_address(ann.staking) != self.deployment.staking:
            mismatches.append(f"staking {to_checksum_address(ann.staking)}, not "
                              f"{self.deployment.staking}")
        if mismatches:
            raise NotServed("it serves another deployment: " + "; ".join(mismatches))
        announced = to_checksum_address(ann.rollup)
        bound = await self._registered_rollup(address)
        if bound is None:
            raise NotServed("the registry names no rollup for it (not registered, or L1 cannot "
                            "be read now)")
        if bound != announced:
            raise NotServed(f"it announces rollup {announced}, but the registry binds it to "
                            f"rollup {bound}")
        return await self._served_rollup(announced)

    async def _served_rollup(self, address: str) -> ServedRollup:
        """Rollup `address` as served, read from L1 the first time; `NotServed` if this roller
        does not serve it (that answer is kept for REGISTRY_TTL: the deployer may add it)."""
        served = self._rollups.get(address)
        if served is not None:
            return served
        refused = self._refused_rollups.get(address)
        if refused is not None and refused[1] > trio.current_time():
            raise NotServed(refused[0])
        try:
            with trio.fail_after(L1_READ_TIMEOUT):
                served = await trio.to_thread.run_sync(self._bind_rollup, address,
                                                       abandon_on_cancel=True)
        except NotServed as exc:
            self._refused_rollups[address] = (str(exc), trio.current_time() + REGISTRY_TTL)
            log.warning("not serving rollup", rollup=address, reason=str(exc))
            raise
        except (ChainError, trio.TooSlowError) as exc:
            raise NotServed(f"cannot read rollup {address} from L1 now: "
                            f"{str(exc) or 'timed out'}") from None
        except Exception as exc:  # web3 raises a variety: asked again with the next announcement
            raise NotServed(f"cannot read rollup {address} from L1 now: "
                            f"{type(exc).__name__}: {exc}") from None
        self._rollups[address] = served
        log.info("serving rollup", rollup=address, batch_verifier=served.entry.verifier,
                 block_verifier=served.entry.block_verifier, batch_size=served.batch_size)
        return served

    def _bind_rollup(self, address: str) -> ServedRollup:
        """Rollup `address` as served, or `NotServed` (blocking: reads L1). The staking
        contract's deployer adds rollups; a roller serves one only if it is enabled there (else
        its batches are never settled, nor its proofs judged), listed in `config.rollups` if
        that is set, and is this release's Rollup contract (`Rollup.is_this_release`: another
        contract could move a block's inputs after a roller signed for them, and have a valid
        proof slashed). Its verifiers are checked against each circuit (`_verifier_problem`)."""
        wanted = self.config.rollups
        if wanted is not None and address not in wanted:
            raise NotServed(f"rollup {address} is not among the rollups in the configuration")
        if not self.market.rollup_enabled(address):
            raise NotServed(f"rollup {address} is not enabled in the staking contract "
                            f"{self.deployment.staking}: its batches cannot be settled")
        rollup = Rollup(self.chain, address)
        if not rollup.is_this_release():
            raise NotServed(f"the code at {address} is not this release's Rollup contract: what "
                            "it reports about a block could change after a proof is signed")
        entry = replace(rollup.deployment(), block_verifier=self.market.block_verifier_of(address))
        return ServedRollup(rollup, entry, rollup.batch_size())

    async def _discover(self, directory: CoordinatorDirectory,
                        announcements: trio.MemoryReceiveChannel[Announce]) -> None:
        assert self._nursery is not None
        async for ann in announcements:
            address = to_checksum_address(ann.coordinator)
            if address in self._serving:
                continue
            try:
                served = await self._rollup_to_serve(ann)
            except NotServed as exc:
                if self._ignored.get(address) != str(exc):
                    log.info("not serving coordinator", coordinator=address, reason=str(exc))
                    self._ignored[address] = str(exc)
                continue
            self._ignored.pop(address, None)
            self._serving.add(address)
            self._rollup_of[address] = served
            log.info("serving coordinator", coordinator=address, peer=str(ID(ann.peer_id)),
                     rollup=served.address)
            self._nursery.start_soon(self._serve_coordinator, directory, address)

    # ------------------------------------------------------------------ sessions

    async def _serve_coordinator(self, directory: CoordinatorDirectory, address: str) -> None:
        """Keep a session with `address` open: reconnect after each end, backing off."""
        failures = 0
        while True:
            ann = directory.get(address)
            problem = None
            if ann is not None:
                try:
                    self._rollup_of[address] = await self._rollup_to_serve(ann)
                except NotServed as exc:
                    problem = str(exc)
            if ann is not None and problem is None and self._node is not None and (
                    ann.timestamp < self._clock() - self._node.config.announce_max_age):
                problem = "it stopped announcing itself"
            if ann is None or problem is not None:
                # A new announcement (with a fresh timestamp) starts serving it again.
                log.info("no longer serving coordinator", coordinator=address, reason=problem)
                self._serving.discard(address)
                return
            welcomed: list[bool] = []
            try:
                await self._session(address, ann, welcomed)
                log.info("session ended", coordinator=address)
            except SessionRefused as exc:
                hint = {"zero_weight": "this roller has no weight: stake at least MIN_STAKE "
                                       "(`provernet roller stake AMOUNT`) or resume it",
                        "wrong_chain": "the coordinator is on another chain"}.get(exc.code)
                log.warning("coordinator refused the session", coordinator=address,
                            code=exc.code, reason=exc.reason, **({"hint": hint} if hint else {}))
            except RemoteError as exc:
                log.warning("coordinator ended the session", coordinator=address, code=exc.code,
                            reason=exc.reason)
            except (P2PError, SessionFailed) as exc:
                log.warning("session with coordinator failed", coordinator=address,
                            error=str(exc))
            except Exception:  # a fault of this node's: logged loudly, and the session retried
                log.exception("session with coordinator failed", coordinator=address)
            failures = 1 if welcomed else failures + 1
            delay = self.config.reconnect_delay(failures)
            log.info("reconnecting to coordinator", coordinator=address, after_seconds=delay)
            await trio.sleep(delay)

    async def _session(self, address: str, ann: Announce, welcomed: list[bool]) -> None:
        assert self._node is not None
        peer = ID(ann.peer_id)
        await self._node.connect_peer(peer, ann.addrs)
        self._prepare_circuits(ann, peer, self._rollup_of[address])
        async with open_stream(self._node, peer) as stream:
            welcome = await handshake(stream, self.account, address, self.chain_id)
            welcomed.append(True)
            session = Session(stream, address, welcome)
            self._sessions[address] = session
            self.metrics.set_coordinators(len(self._sessions))
            log.info("session open", coordinator=address, weight=welcome.weight,
                     session=welcome.session.hex())
            error: BaseException | None = None
            try:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._guarded, self._resubmit, session)
                    try:
                        await self._read(session, nursery)
                    except (P2PError, SessionFailed) as exc:
                        error = exc
                    nursery.cancel_scope.cancel()
            finally:
                if self._sessions.get(address) is session:
                    del self._sessions[address]
                self.metrics.set_coordinators(len(self._sessions))
            if error is not None:
                raise error

    async def _read(self, session: Session, nursery: trio.Nursery) -> None:
        """Dispatch the coordinator's messages until the stream fails."""
        outstanding: int | None = None
        while True:
            try:
                msg = await session.stream.receive(Task, Cancel, Receipt, Ping, Pong,
                                                   timeout=self._ping_interval)
            except Timeout:
                if outstanding is not None:
                    raise SessionFailed(f"the coordinator sent nothing for "
                                        f"{2 * self._ping_interval:g} s, not even a pong") from None
                outstanding = secrets.randbits(63)
                await session.send(Ping(nonce=outstanding))
                continue
            outstanding = None
            if isinstance(msg, Task):
                nursery.start_soon(self._guarded, self._on_task, session, msg)
            elif isinstance(msg, Cancel):
                await self._guarded(self._on_cancel, session, msg)
            elif isinstance(msg, Receipt):
                await self._guarded(self._on_receipt, session, msg)
            elif isinstance(msg, Ping):
                await session.send(Pong(nonce=msg.nonce))

    async def _guarded(self, fn: Callable[..., Awaitable[None]], *args: Any) -> None:
        """Run one piece of a session's work; a failure is logged and ends only that piece."""
        try:
            await fn(*args)
        except P2PError as exc:
            log.info("session message not sent", error=str(exc))
        except Exception:
            log.exception("roller task failed")

    async def _send(self, session: Session, msg: Any) -> bool:
        try:
            await session.send(msg)
        except P2PError as exc:
            log.info("message not sent: the session is failing", coordinator=session.coordinator,
                     message=type(msg).__name__, error=str(exc))
            return False
        return True

    # ------------------------------------------------------------------ circuits

    def _prepare_circuits(self, ann: Announce, peer: ID, served: ServedRollup) -> None:
        """Fetch every announced circuit not already here, and check it against the verifiers
        of `served` (the announcing coordinator's rollup), in the background."""
        assert self._nursery is not None
        for manifest in ann.circuits:
            entry = self._circuits.get(manifest)
            if entry is None:
                entry = self._circuits[manifest] = _Circuit(manifest)
                self._nursery.start_soon(self._prepare, entry, peer)
            if served.address not in entry.wanted:
                entry.wanted.add(served.address)
                if entry.build is not None:  # else `_prepare` checks it once fetched
                    self._nursery.start_soon(self._check_circuit, entry, served)

    async def _prepare(self, entry: _Circuit, peer: ID) -> None:
        assert self._node is not None and self._store is not None
        try:
            build = await fetch_circuit(self._node, peer, entry.manifest, self._store)
        except CircuitUnavailable as exc:
            # Not this circuit's fault, perhaps: tried again with the coordinator's next session.
            log.warning("circuit not available", manifest=entry.manifest.hex(), error=str(exc))
            del self._circuits[entry.manifest]
            return
        except Exception:  # a fault of this node's: logged loudly, fetched again next session
            log.exception("circuit not available", manifest=entry.manifest.hex())
            del self._circuits[entry.manifest]
            return
        entry.build = build
        self._by_zkey[build.zkey_hash] = entry
        for rollup in list(entry.wanted):
            await self._check_circuit(entry, self._rollups[rollup])

    async def _check_circuit(self, entry: _Circuit, served: ServedRollup) -> None:
        """Check a fetched circuit against the verifiers of `served`; once one rollup takes it,
        measure its speed."""
        assert entry.build is not None
        try:
            problem = await trio.to_thread.run_sync(self._verifier_problem, entry.build, served)
        except (ChainError, ZkpError) as exc:
            # Checked again with the next session of a coordinator of that rollup.
            log.warning("circuit not checked", circuit=entry.label, rollup=served.address,
                        error=str(exc))
            entry.wanted.discard(served.address)
            return
        except Exception:  # web3 and the compiler fail in more ways than these
            log.exception("circuit not checked", circuit=entry.label, rollup=served.address)
            entry.wanted.discard(served.address)
            return
        entry.verdicts[served.address] = problem
        if problem is not None:
            log.error("circuit refused: its key is not the one of the rollup's verifiers; its "
                      "tasks of that rollup are declined", circuit=entry.label,
                      rollup=served.address, problem=problem)
            return
        self._changed()
        log.info("circuit ready", circuit=entry.label, rollup=served.address,
                 zkey=entry.build.zkey_hash.hex())
        sample = await trio.to_thread.run_sync(self._sample, entry.build)
        if sample is not None:
            await self._calibrate(entry, sample)

    def _verifier_problem(self, build: CircuitBuild, served: ServedRollup) -> str | None:
        """Why proofs of `build` for `served` could be judged otherwise on-chain, or None
        (blocking)."""
        entry = served.entry
        if not vk_matches_verifier(build, self.chain, entry.verifier, "batch"):
            return (f"the key of circuit {build.name} ({build.zkey_hash.hex()[:16]}) is not the "
                    f"one of rollup {served.address}'s batch verifier at {entry.verifier}")
        if not vk_matches_verifier(build, self.chain, entry.block_verifier, "block"):
            return (f"the key of circuit {build.name} ({build.zkey_hash.hex()[:16]}) is not the "
                    f"one of the block verifier at {entry.block_verifier}, which slashing uses "
                    f"for rollup {served.address}")
        return None

    def _sample(self, build: CircuitBuild) -> bytes | None:
        """A sample block input for calibration, from the injected factory, or None."""
        if self._sample_inputs is None:
            return None
        try:
            inputs = self._sample_inputs(build.name)
        except Exception as exc:  # the factory is the caller's: any failure means "no sample"
            log.warning("no sample inputs for calibration; measuring on the first task's inputs",
                        circuit=build.name, error=f"{type(exc).__name__}: {exc}")
            return None
        return None if inputs is None else json.dumps(inputs).encode()

    async def _calibrate(self, entry: _Circuit, sample: bytes) -> None:
        """Measure the proving speed of `entry` once per backend (kept in the journal)."""
        assert self.speed is not None and entry.build is not None
        zkey = entry.build.zkey_hash
        if entry.calibrating or await self._db(self.speed.measured, zkey):
            return
        entry.calibrating = True
        try:
            prover = await self._prover(entry, 0)
            async with entry.locks[0]:
                log.info("measuring proving speed", circuit=entry.label,
                         backend=self.speed.backend)
                per_block, per_proof = await trio.to_thread.run_sync(
                    calibrate, prover, self.speed, sample, self.address)
            self.metrics.set_speed(zkey, "block", per_block)
            self.metrics.set_speed(zkey, "batch", per_proof)
            log.info("proving speed measured", circuit=entry.label, seconds_per_block=per_block,
                     seconds_per_aggregated_proof=per_proof)
        except (ProvingError, ZkpError) as exc:
            log.warning("calibration failed", circuit=entry.label, error=str(exc))
        except Exception:  # measured again with the next task of the circuit
            log.exception("calibration failed", circuit=entry.label)
        finally:
            entry.calibrating = False

    async def _prover(self, entry: _Circuit, slot: int) -> BlockProver:
        assert entry.build is not None
        async with entry.loading:
            if slot not in entry.provers:
                entry.provers[slot] = await trio.to_thread.run_sync(
                    BlockProver, entry.build, self.config.backend)
        return entry.provers[slot]

    # ------------------------------------------------------------------ task intake

    async def _on_task(self, session: Session, task: Task) -> None:
        assert self._journal is not None
        coordinator = session.coordinator
        # The coordinator's rollup, as the registry binds it: what the task is checked against.
        rollup = self._rollup_of[coordinator].address
        try:
            check_task(task, coordinator=coordinator, chain_id=self.chain_id, rollup=rollup,
                       roller=self.address)
        except TaskRefused as exc:
            log.warning("task refused", coordinator=coordinator, task_id=task.task_id.hex(),
                        kind=task.kind, index=task.index, round=task.round, reason=str(exc))
            self.metrics.task_declined(task.kind, exc.code)
            await self._send(session, Decline(task_id=task.task_id, reason=exc.wire_reason))
            return
        # One task at a time from here: the same task can arrive twice at once (a resend racing
        # the first copy), and only the first copy may decide it.
        async with self._intake:
            existing = await self._db(self._journal.find, coordinator, task.task_id)
            offer = offer_from_task(task, coordinator, rollup)
            if existing is not None and is_new_draw(existing, offer):
                # The same task drawn anew: its block was reverted and committed again with the
                # same contents (same statement, seeds and id). The old draw's end is no answer.
                await self._db(self._journal.redraw, offer, now=self._clock())
                self._cancelled.discard(offer.key)
                self._cancelled_ids.discard((coordinator, task.task_id))
                self.metrics.task_offered(task.kind)
                log.info("task drawn again", task=str(offer.key), was=str(existing.state))
            elif existing is not None and existing.state is not TaskState.OFFERED:
                await self._answer_again(session, existing)
                return
            elif existing is None:
                try:
                    await self._db(self._journal.offer, offer, now=self._clock())
                except JournalError as exc:
                    log.warning("task not journaled", coordinator=coordinator, error=str(exc))
                    await self._send(session, Decline(task_id=task.task_id,
                                                      reason=decline_reason("journal", str(exc))))
                    return
                self.metrics.task_offered(task.kind)
            refusal = await self._refusal(offer)
            if refusal is None:
                refusal = await self._admit(offer)
            if refusal is None and (coordinator, task.task_id) in self._cancelled_ids:
                refusal = TaskRefused("cancelled", "the coordinator cancelled it")
            now = self._clock()
            if refusal is None:
                accepted = await self._db(self._journal.accept, offer.key, now=now)
            else:
                await self._db(self._journal.decline, offer.key, refusal.wire_reason, now=now)
        if refusal is not None:
            self.metrics.task_declined(task.kind, refusal.code)
            log.info("task declined", task=str(offer.key), reason=str(refusal))
            self._note(offer.key, "declined", str(refusal))
            await self._send(session, Decline(task_id=task.task_id, reason=refusal.wire_reason))
            return
        self.metrics.task_accepted(task.kind)
        log.info("task accepted", task=str(offer.key), deadline=offer.deadline)
        await self._send(session, Accept(task_id=task.task_id))
        if self.behaviour != "lazy":
            self._queue[accepted.key] = accepted
            self._changed()
        await self._refresh_in_flight()

    async def _answer_again(self, session: Session, task: JournalTask) -> None:
        """The coordinator sent a task already journaled (after a reconnect): answer as before."""
        if task.state in (TaskState.DECLINED, TaskState.FAILED):
            reason = task.reason or "declined"
            if task.state is TaskState.FAILED and not reason.startswith("failed"):
                reason = decline_reason("failed", reason)
            await self._send(session, Decline(task_id=task.task_id, reason=reason))
        elif task.state in (TaskState.ACCEPTED, TaskState.PROVING):
            await self._send(session, Accept(task_id=task.task_id))
        elif task.state in (TaskState.PROVEN, TaskState.SUBMITTED):
            await self._send_proof(session, task.key, again=True)

    async def _refusal(self, offer: TaskOffer) -> TaskRefused | None:
        """Why the task cannot be taken whatever the load: its circuit, its inputs against L1."""
        if self.behaviour == "lazy":
            return None
        entry = self._by_zkey.get(offer.circuit)
        if entry is None or offer.rollup not in entry.verdicts:
            return TaskRefused("circuit_mismatch",
                               f"circuit {offer.circuit.hex()[:16]} is none this roller has "
                               f"fetched and checked against rollup {offer.rollup}'s verifiers "
                               "(yet)")
        problem = entry.verdicts[offer.rollup]
        if problem is not None:
            return TaskRefused("circuit_mismatch", problem)
        try:
            await trio.to_thread.run_sync(self._check_inputs, offer)
        except TaskRefused as exc:
            return exc
        return None

    async def _admit(self, offer: TaskOffer) -> TaskRefused | None:
        """`capacity.Admission` on the accepted tasks still needing the prover."""
        if self.behaviour == "lazy":
            return None
        assert self.speed is not None and self._journal is not None
        speeds = await self._db(self.speed.snapshot)
        in_flight = pending_work(await self._db(self._journal.unfinished))
        admission = Admission(speeds, self.config.max_concurrent_tasks, self.config.safety_margin)
        decision = admission.decide(Work.of(offer), self._clock(), in_flight)
        if isinstance(decision, capacity.Decline):
            if decision.code == "unmeasured" and offer.kind == "block":
                entry = self._by_zkey.get(offer.circuit)
                if entry is not None and entry.usable_for(offer.rollup) and not entry.calibrating:
                    assert self._nursery is not None
                    # No sample input from the node: the task's own inputs are a valid block.
                    self._nursery.start_soon(self._calibrate, entry, offer.inputs)
            return TaskRefused(decision.code, decision.reason)
        return None

    def _check_inputs(self, offer: TaskOffer) -> None:
        """TaskRefused unless the task's inputs are for this roller and are what its rollup holds
        (blocking: reads the Rollup)."""
        served = self._rollups[offer.rollup]
        self._require_statement(served.rollup, offer.kind, offer.index, offer.statement)
        if offer.kind == "block":
            try:
                inputs = json.loads(offer.inputs)
                given = [_number(inputs[name]) for name in ("oldRoot", "newRoot", "dataHash",
                                                            "prover")]
            except (ValueError, TypeError, KeyError, UnicodeDecodeError) as exc:
                raise TaskRefused("bad_inputs", f"the circuit inputs are malformed: {exc!r}") from None
            if given[3] != int(self.address, 16):
                raise TaskRefused("wrong_prover", f"the inputs bind the proof to {given[3]:#042x}, "
                                                  f"not to this roller ({self.address})")
            self._require_on_l1(served.rollup, offer.index, given)
            return
        try:
            items = decode_batch_inputs(offer.inputs)
        except InvalidTaskInputs as exc:
            raise TaskRefused("bad_inputs", str(exc)) from None
        size = served.batch_size
        first = offer.index * size + 1
        indices = [index for index, _, _ in items]
        if indices != list(range(first, first + size)):
            raise TaskRefused("bad_inputs", f"batch {offer.index} is blocks {first}.."
                                            f"{first + size - 1}; the task holds "
                                            f"{indices[0]}..{indices[-1]}")
        for index, _, public in items:
            self._require_on_l1(served.rollup, index, list(public))

    @staticmethod
    def _require_statement(rollup: Rollup, kind: str, index: int, statement: bytes) -> None:
        """TaskRefused unless `statement` is L1's current statement of the block or batch: one
        that was reverted (and maybe committed again) is no longer what a proof would be about."""
        current = _read_l1(f"{kind} {index}", _l1_statement, rollup, kind, index)
        if current != statement:
            raise TaskRefused("stale_statement", f"{kind} {index}'s statement on L1 is "
                                                 f"{current.hex()[:16]}, not the task's "
                                                 f"{statement.hex()[:16]}")

    @staticmethod
    def _require_on_l1(rollup: Rollup, index: int, public: Sequence[int]) -> None:
        """TaskRefused unless `public` is [oldRoot, newRoot, dataHash, prover] of block `index`
        as the Rollup holds it for that prover."""
        if len(public) != 4 or not 0 <= public[3] < 2**160:
            raise TaskRefused("bad_inputs", f"block {index}'s public inputs are not "
                                            "[oldRoot, newRoot, dataHash, prover]")
        prover = to_checksum_address(public[3].to_bytes(20, "big"))
        expected = _read_l1(f"block {index}", rollup.public_inputs, index, prover)
        if list(public) != list(expected):
            raise TaskRefused("wrong_inputs", f"block {index}'s inputs are not what L1 holds "
                                              f"for it (L1: {_short(expected)}, task: "
                                              f"{_short(public)})")

    async def _on_cancel(self, session: Session, cancel: Cancel) -> None:
        assert self._journal is not None
        task = await self._db(self._journal.find, session.coordinator, cancel.task_id)
        if task is None or task.state is TaskState.OFFERED:
            self._cancelled_ids.add((session.coordinator, cancel.task_id))
            return
        if task.state not in (TaskState.ACCEPTED, TaskState.PROVING, TaskState.PROVEN):
            return
        self._cancelled.add(task.key)
        self._queue.pop(task.key, None)
        try:
            await self._db(self._journal.fail, task.key,
                           f"cancelled by the coordinator: {cancel.reason}", now=self._clock())
        except JournalError as exc:
            log.info("cancel not journaled", task=str(task.key), error=str(exc))
            return
        self.metrics.task_failed(task.kind)
        log.info("task cancelled", task=str(task.key), reason=cancel.reason)
        self._note(task.key, "cancelled", cancel.reason)
        await self._refresh_in_flight()

    async def _on_receipt(self, session: Session, receipt: Receipt) -> None:
        assert self._journal is not None
        task = await self._db(self._journal.find, session.coordinator, receipt.task_id)
        if task is None:
            log.info("receipt for no task of ours", coordinator=session.coordinator,
                     task_id=receipt.task_id.hex())
            return
        duplicate = receipt.status == "rejected" and DUPLICATE in receipt.reason.lower()
        if task.state is TaskState.SUBMITTED:
            status, reason = receipt.status, receipt.reason
            if duplicate:
                # A resubmission after a reconnect: the coordinator had the proof already.
                status, reason = "accepted", f"already received ({receipt.reason})"
            await self._db(self._journal.record_receipt, task.key, status, reason,
                           now=self._clock())
            self.metrics.receipt(status)
            log.info("receipt", task=str(task.key), status=status, reason=reason)
            self._note(task.key, f"receipt {status}", reason)
            await self._refresh_in_flight()
        elif (task.state in (TaskState.ACCEPTED, TaskState.PROVING, TaskState.PROVEN)
              and receipt.status == "rejected" and not duplicate):
            # The coordinator will not take a proof of it (closed, not assigned, ...): stop.
            await self._fail(task.key, f"the coordinator rejected it: {receipt.reason}",
                             tell=False)

    # ------------------------------------------------------------------ proving

    async def _next_task(self) -> JournalTask:
        """The accepted task to prove next: earliest effective deadline first, among those
        whose circuit is ready for their rollup (a task resumed from the journal waits for a
        coordinator of its rollup to announce it)."""
        order = Admission({}, 1, self.config.safety_margin).order
        while True:
            ready = {str(t.key): t for t in self._queue.values()
                     if (entry := self._by_zkey.get(t.circuit)) and entry.usable_for(t.rollup)}
            if ready:
                first = order(Work.of(t) for t in ready.values())[0]
                task = self._queue.pop(ready[first.label].key)
                return task
            await self._changed_event.wait()

    async def _worker(self, slot: int) -> None:
        while True:
            task = await self._next_task()
            try:
                await self._prove(slot, task)
            except DatabaseUnwritable:
                raise  # the journal cannot keep what this node does: it stops, in one line
            except Exception:  # one task's unforeseen failure must not stop the node
                log.exception("proving a task failed", task=str(task.key))

    async def _prove(self, slot: int, task: JournalTask) -> None:
        assert self._journal is not None and self.speed is not None
        key = task.key
        if key in self._cancelled:
            return
        if self._clock() >= task.close_at:
            await self._fail(key, "its late window closed before it could be proven")
            return
        entry = self._by_zkey[task.circuit]
        try:
            prover = await self._prover(entry, slot)
            async with entry.locks[slot]:
                if key in self._cancelled:
                    return
                await self._db(self._journal.start_proving, key, now=self._clock())
                await self._refresh_in_flight()
                log.info("proving", task=str(key), backend=prover.backend_description)
                result = await trio.to_thread.run_sync(prover.run, task, self.address,
                                                       self._signer(task))
        except JournalError as exc:  # e.g. cancelled (failed) meanwhile
            log.info("task not proven", task=str(key), error=str(exc))
            return
        except (ProvingError, ZkpError) as exc:
            await self._fail(key, str(exc))
            return
        except DatabaseUnwritable:
            raise
        except Exception as exc:  # one task's unforeseen failure must not stop the node
            log.exception("proving failed", task=str(key))
            await self._fail(key, f"proving failed: {type(exc).__name__}: {exc}")
            return
        if key in self._cancelled:
            log.info("proof dropped: the task was cancelled while it was proven", task=str(key))
            return
        if self.behaviour == "invalid":
            result = self._tampered(task, result)
        try:
            await self._db(self._journal.record_proof, key, result.proof, result.public,
                           result.signature, now=self._clock())
        except JournalError as exc:
            log.info("proof not journaled", task=str(key), error=str(exc))
            return
        per_unit = await self._db(self.speed.observe, task.circuit, task.kind, result.seconds,
                                  task.units)
        self.metrics.set_speed(task.circuit, task.kind, per_unit)
        self.metrics.task_proven(task.kind, result.seconds, result.witness_seconds,
                                 now=self._clock())
        log.info("task proven", task=str(key), seconds=round(result.seconds, 3))
        self._last_proof_at = self._clock()
        session = self._sessions.get(key.coordinator)
        if session is None:
            log.info("proof waits for the coordinator's session", task=str(key))
        else:
            await self._send_proof(session, key)
        await self._refresh_in_flight()

    def _signer(self, task: TaskOffer):
        """`BlockProver.run`'s `sign`: called with a verified proof; checks its public inputs
        against L1 once more, then signs the submission (blocking, in the prover's thread)."""

        rollup = self._rollups[task.rollup].rollup

        def sign(kind: str, index: int, round_: int, proof: SealedProof,
                 public: Sequence) -> bytes:
            self._signing_check(lambda: self._require_statement(rollup, kind, index,
                                                                task.statement))
            if kind == "block":
                self._signing_check(lambda: self._require_on_l1(rollup, index, list(public)))
            else:
                items = decode_batch_inputs(task.inputs)
                for (block, _, _), inputs in zip(items, public, strict=True):
                    self._signing_check(lambda: self._require_on_l1(rollup, block, list(inputs)))
            return self._sign(task, submission_hash(kind, proof, public))

        return sign

    @staticmethod
    def _signing_check(check: Callable[[], None]) -> None:
        try:
            check()
        except TaskRefused as exc:
            raise NotOnL1(f"not signing: {exc.reason}") from None

    def _sign(self, task: TaskOffer, digest: bytes) -> bytes:
        return sign_submission(self.account, self.chain_id, task.rollup,
                               TASK_KINDS[task.kind], task.index, task.round, task.statement,
                               digest)

    def _tampered(self, task: TaskOffer, result: SignedResult) -> SignedResult:
        """Devnet `invalid` behaviour: the proof made invalid, and signed as it is sent."""
        bad = tamper(task.kind, result.proof)
        signature = self._sign(task, submission_hash(task.kind, bad, result.public))
        log.warning("DEVNET BEHAVIOUR invalid: submitting a tampered proof", task=str(task.key))
        return replace(result, proof=bad, signature=signature)

    async def _fail(self, key: TaskKey, reason: str, *, tell: bool = True) -> None:
        """Journal the task as failed; tell the coordinator (a decline after accepting lets it
        redraw at once instead of at the deadline)."""
        assert self._journal is not None
        self._queue.pop(key, None)
        self._cancelled.add(key)
        try:
            task = await self._db(self._journal.fail, key, reason, now=self._clock())
        except JournalError as exc:
            log.info("failure not journaled", task=str(key), error=str(exc))
            return
        self.metrics.task_failed(task.kind)
        log.warning("task failed", task=str(key), reason=reason)
        self._note(key, "failed", reason)
        session = self._sessions.get(key.coordinator)
        if tell and session is not None:
            await self._send(session, Decline(task_id=task.task_id,
                                              reason=decline_reason("failed", reason)))
        await self._refresh_in_flight()

    # ------------------------------------------------------------------ submission

    async def _send_proof(self, session: Session, key: TaskKey, *, again: bool = False) -> None:
        """Send a proven task's proof on `session` (once per session unless `again`)."""
        assert self._journal is not None
        async with session.submit_lock:
            task = await self._db(self._journal.get, key)
            if task.state is TaskState.PROVEN:
                task = await self._db(self._journal.mark_submitted, key, now=self._clock())
                self.metrics.task_submitted(task.kind)
            elif task.state is not TaskState.SUBMITTED or (
                    task.task_id in session.sent and not again):
                return
            session.sent.add(task.task_id)
            if await self._send(session, submission(task)):
                log.info("proof submitted", task=str(key))

    async def _resubmit(self, session: Session) -> None:
        """Proofs made while the session was down, and proofs without a receipt: send them."""
        assert self._journal is not None
        for task in await self._db(self._journal.in_flight):
            if task.coordinator == session.coordinator and task.state in (
                    TaskState.PROVEN, TaskState.SUBMITTED):
                log.info("resubmitting proof", task=str(task.key), state=str(task.state))
                await self._send_proof(session, task.key)

    # ------------------------------------------------------------------ settlement

    async def _settlement_loop(self, cursor_file: Path) -> None:
        assert self.deployment is not None
        cursor = await trio.to_thread.run_sync(_read_cursor, cursor_file, self.deployment.block)
        while True:
            try:
                cursor = await trio.to_thread.run_sync(self._settle_from, cursor, cursor_file)
                self.metrics.set_l1_error(None)
            except ChainError as exc:
                self.metrics.set_l1_error(str(exc))
                log.warning("cannot read settlements from L1", error=str(exc))
            except Exception as exc:  # web3 transport errors come in many types
                self.metrics.set_l1_error(f"{type(exc).__name__}: {exc}")
                log.warning("cannot read settlements from L1", error=f"{type(exc).__name__}: {exc}")
            await trio.sleep(self._settlement_interval)

    def _settle_from(self, cursor: int, cursor_file: Path) -> int:
        """Read settlements from L1 block `cursor` to the latest; the next block to read."""
        latest = self.chain.w3.eth.block_number
        while cursor <= latest:
            end = min(latest, cursor + LOG_CHUNK_BLOCKS - 1)
            self._settle_range(cursor, end)
            cursor = end + 1
            _write_cursor(cursor_file, cursor)
        return cursor

    def _settle_range(self, start: int, end: int) -> None:
        assert self._journal is not None
        events = self.market.staking.events
        changes = events.ReputationChanged().get_logs(
            argument_filters={"roller": self.address}, from_block=start, to_block=end)
        if not changes:
            return
        settled_by = {log_["transactionHash"]: to_checksum_address(log_["args"]["coordinator"])
                      for log_ in events.BatchSettled().get_logs(from_block=start, to_block=end)}
        # Rollups this roller never took a task of have no task to settle here: their contracts
        # (served or not, genuine or not) are not even read.
        rollups = {address: (self._rollups[address].rollup if address in self._rollups
                             else Rollup(self.chain, address))
                   for address in self._journal.rollups()}
        rewards: dict[tuple, int] = defaultdict(int)
        for log_ in events.RewardCredited().get_logs(
                argument_filters={"roller": self.address}, from_block=start, to_block=end):
            args = log_["args"]
            rewards[(log_["transactionHash"], args["kind"], args["task"])] += args["amount"]
        for log_ in changes:
            coordinator = settled_by.get(log_["transactionHash"])
            if coordinator is None:
                continue  # a slash, not a settlement: the settlement reports it again
            args = log_["args"]
            rollup = rollups.get(to_checksum_address(args["rollup"]))
            if rollup is None:
                continue
            kind = "block" if args["kind"] == TaskKind.BLOCK else "batch"
            # A settled batch is finalized: L1's statement of each task is the final one.
            key = TaskKey(coordinator, rollup.address, kind, args["task"], args["round"],
                          _l1_statement(rollup, kind, args["task"]))
            outcome = OUTCOMES[args["outcome"]]
            reward = rewards.get((log_["transactionHash"], args["kind"], args["task"]), 0)
            try:
                before = self._journal.get(key)
                self._journal.settle(key, outcome, reward, args["oldRep"], args["newRep"],
                                     now=self._clock())
            except UnknownTask:
                continue  # settled for an assignment this journal never saw
            except JournalError as exc:
                log.warning("settlement not journaled", task=str(key), error=str(exc))
                continue
            if before.settled_at is None:
                self.metrics.outcome(outcome)
                log.info("task settled", task=str(key), outcome=outcome, reward=reward,
                         reputation=f"{args['oldRep']} -> {args['newRep']}")
                self._note(key, outcome, reward=reward,
                           reputation=(args["oldRep"], args["newRep"]))


def _l1_statement(rollup: Rollup, kind: str, index: int) -> bytes:
    return rollup.statement(index) if kind == "block" else rollup.batch_statement(index)


def _number(value: Any) -> int:
    if isinstance(value, str) and value[:2].lower() == "0x":
        return int(value, 16)
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TypeError(f"{value!r} is not a number")
    return int(value)


def _read_l1(what: str, read, *args):
    """`read(*args)` from L1, its failures as the TaskRefused a task is declined with: the block
    or batch `what` names is not committed, or L1 cannot be read now."""
    try:
        return read(*args)
    except TransactionFailed as exc:
        if exc.reason == "BlockNotCommitted":
            raise TaskRefused("not_on_l1", f"{what} is not committed on L1") from None
        raise TaskRefused("l1_unavailable", f"cannot read {what} from L1: {exc}") from None
    except ChainError as exc:
        raise TaskRefused("l1_unavailable", f"cannot read {what} from L1: {exc}") from None


def _short(values: Sequence[int]) -> str:
    return "[" + ", ".join(f"{v:#x}"[:12] for v in values) + "]"


def _read_cursor(path: Path, default: int) -> int:
    try:
        return max(int(path.read_text().strip()), default)
    except (FileNotFoundError, ValueError):
        return default


def _write_cursor(path: Path, block: int) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(f"{block}\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
