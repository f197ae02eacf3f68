"""The coordinator node: the decision core wrapped in its I/O.

Services in one nursery, each a loop around the core:

- `_follow_l1` turns L1 events (commits, reverts, finalizations, the Rollup's settlements) into
  core events; its cursor is stored, and facts read twice are no-ops for the core. A commit
  becomes `BlockCommitted` once its randomness can be recorded (L1 past its randomness block):
  the follower records it (`Rollup.recordRandomnessMany`, one transaction for a poll's commits;
  a block someone recorded is skipped) and hands the core the block's roster snapshot (the
  `rosterSnapshotOf` rule applied to the snapshots' events; its entries in snapshot order, none
  if it has none), then goes on; until then it waits there.
- `_snapshot_roster` keeps the roster snapshots fresh (`coordinator.l1.snapshot_due`): one after
  the live roster changed, at most every `snapshot_interval`, and one before the newest grows
  older than half of SNAPSHOT_MAX_AGE while anyone is staked.
- `_tick` sends `Tick` when the core's next timer falls due.
- `_announce` publishes the signed announcement on the coordinators' topic.
- `_l1_worker`, one per lane, carries out finalizations, settlements (each drawn record with its
  `DrawProof`), lottery draws and slashings: each kind one at a time in the order the core
  emitted it (a batch must be finalized before the next), apart from the other kinds, from a
  bounded queue; what they change on L1 comes back to the core through `_follow_l1`.
- one task per roller session (`/provernet/session/1.0.0`): challenge-response authentication,
  then tasks out and accepts, declines, proofs in. A task open to everyone (`Open`) goes to every
  session, and to each session that connects while it is open. A submission must sign L1's
  current statement of its block or batch (else it is refused with no outcome: the block was
  reverted and maybe committed again); an open round's proof is taken only from a roller with
  weight now; then the proof is verified, before the core hears of it, against the inputs the
  Rollup contract holds (the signer as prover).
- `verifier` (`coordinator.verifier.ProofVerifier`) verifies the sessions' block proofs on
  worker threads, those that arrive together in one batch check.

With `metrics_listen` set, the metrics and health server (`p2p.metrics_http`) serves
`coordinator.metrics`, counted here around the core (the core itself stays pure).

Every event is stored before the core sees it (`_submit`); the commands it returns are carried
out and their keys recorded. After a restart the stored events are replayed and the commands
not recorded as done are carried out again, each written to be harmless when repeated (a task
resent, a finalization L1 already has).
"""

from __future__ import annotations

import json
import math
import secrets
import time
from dataclasses import dataclass, field, replace

import structlog
import trio
from eth_account.signers.local import LocalAccount
from eth_utils import keccak, to_canonical_address, to_checksum_address

from coordinator.audit import audit_record_to_json
from coordinator.commands import (
    Assign,
    AuditRecord,
    Cancel,
    Command,
    DrawLottery,
    Finalize,
    Open,
    Reply,
    ReplyStatus,
    Settle,
    Slash,
)
from coordinator.config import CoordinatorConfig
from coordinator.core import CoordinatorCore
from coordinator.errors import CoordinatorError
from coordinator.events import (
    BatchFinalized,
    BatchSettled,
    BlockCommitted,
    BlocksReverted,
    Event,
    ProofReceived,
    TaskAccepted,
    TaskDeclined,
    Tick,
)
from coordinator.l1 import (
    Committed,
    CoordinatorL1,
    Finalized,
    Reverted,
    Settled,
)
from coordinator.metrics import CoordinatorMetrics
from coordinator.store import CoordinatorStore, StoredProof
from coordinator.verifier import ProofVerifier
from market_contracts.bindings import Market
from market_contracts.chain import Chain
from market_contracts.deploy import Deployment
from market_contracts.errors import ChainError, InvalidEvidence, TransactionFailed
from market_contracts.rollup import Rollup
from market_contracts.rules import Outcome, TaskKind, blocks_of
from market_contracts.submissions import (
    SlashEvidence,
    recover_submitter,
    submission_digest,
    task_id,
)
from p2p import messages as m
from p2p.artifacts import ArtifactStore, serve_artifacts
from p2p.backoff import Backoff
from p2p.errors import BadSignature, P2PError, RegistryUnavailable
from p2p.gossip import join_coordinators, sign_announcement
from p2p.host import Node, open_node
from p2p.metrics_http import MetricsServer, listen_address
from p2p.protocols import SESSION_PROTOCOL, MessageStream, serve
from p2p.signing import recover_signer, sign_digest, signing_digest
from sequencer.client import SequencerClientPool
from sequencer.errors import SequencerError
from zkp.builds import CircuitBuild, manifest
from zkp import native
from zkp.system import MalformedProof, SealedProof, system

log = structlog.get_logger(__name__)

PROTOCOL_VERSION = 1
NO_SIGNATURE = bytes(65)
#: the L1 actions' lanes, each carried out in the order the core emitted it, apart from the
#: others: L1 orders them already (a settlement is commanded once L1 has the batch finalized, a
#: lottery once it has it settled), and one lane's wait (a lottery's target block, a slow
#: finalization) must not hold up another's
_L1_LANES = (Finalize, Settle, DrawLottery, Slash)
#: what each L1 loop does, for the health's problems
_L1_LOOPS = {"follow": "reading events", "snapshot": "taking roster snapshots",
             Finalize.__name__: "finalizing a batch", Settle.__name__: "settling a batch",
             DrawLottery.__name__: "drawing a lottery", Slash.__name__: "slashing"}


def now_ms() -> int:
    return int(time.time() * 1000)


def deliverable(command: Assign, now: int) -> bool:
    """An assignment is worth sending until its deadline: a roller handed one later can only
    decline it (no proof can be on time), and the core draws the next round at the deadline
    whether or not this one went out. Sent before, it is answered until its window closes."""
    return now < command.deadline


@dataclass
class Handled:
    """An event the core handled, waiting to be stored (`_store_events`) before its commands
    are carried out; `stored` is set once they are under way."""

    number: int
    event: Event
    commands: list[Command]
    #: the submission a `ProofReceived` names, stored with it
    proof: StoredProof | None = None
    stored: trio.Event = field(default_factory=trio.Event)


def _carried_out_on_store(command: Command) -> bool:
    """An audit record is carried out by writing it, in the transaction that stores its event;
    a reply by its session, which has waited for that transaction."""
    return isinstance(command, (AuditRecord, Reply))


@dataclass(frozen=True)
class SentTask:
    """A task as one roller was sent it: its `Assign`, or an `Open` sent to its session."""

    command: Assign | Open
    roller: str

    @property
    def open(self) -> bool:
        return isinstance(self.command, Open)


class RollerSession:
    """An authenticated roller's stream; several tasks write to it, one at a time."""

    def __init__(self, roller: str, stream: MessageStream):
        self.roller = roller
        self.stream = stream
        self._lock = trio.Lock()

    async def send(self, msg: object) -> None:
        async with self._lock:
            await self.stream.send(msg)


class CoordinatorService:
    def __init__(self, config: CoordinatorConfig, chain: Chain, deployment: Deployment,
                 account: LocalAccount, build: CircuitBuild):
        if deployment.rollup is None:
            raise CoordinatorError("the deployment names no rollup: deploy one first "
                                   "(provernet deploy --rollup)")
        self.config = config
        self.chain = chain
        self.deployment = deployment
        self.account = account
        self.build = build
        self.market = Market(chain, deployment)
        self.rollup = Rollup.from_deployment(chain, deployment)
        self.l1 = CoordinatorL1(chain, self.market, self.rollup, account,
                                log_range=config.log_range,
                                records_per_transaction=config.records_per_transaction,
                                snapshots_kept=config.snapshots_kept)
        self.params = self.l1.params
        if self.l1.batch_size != self.params.k:
            raise CoordinatorError(
                f"the Rollup finalizes batches of {self.l1.batch_size} blocks but the market's K "
                f"is {self.params.k}: they must agree")
        self.manifest = manifest(build)
        self.sessions: dict[str, RollerSession] = {}
        #: every task sent (or to send) to a roller, by id, until its batch is settled
        #: (`_forget`): what the rollers' messages name
        self.tasks: dict[bytes, SentTask] = {}
        #: tasks not yet delivered, by roller (it is not connected, or its stream broke)
        self.outbox: dict[str, dict[bytes, m.Task]] = {}
        self.core: CoordinatorCore | None = None
        self.node: Node | None = None
        self._changed = trio.Event()
        #: the commits the follower handed the core, by block number, until finalized: a
        #: proof's statement and public inputs come from them, not from a call a proof
        self._commits: dict[int, Committed] = {}
        #: block circuit inputs without the prover, with the statement they were fetched for,
        #: by block number, until finalized (`_block_inputs`)
        self._inputs: dict[int, tuple[bytes, dict]] = {}
        #: events the core handled that are not yet stored, in order (at most
        #: `config.max_unstored`: `_room`), and the keys of commands carried out since the last
        #: store write; `_store_due` wakes the writer
        self._unstored: list[Handled] = []
        self._done_keys: list[tuple[int, int]] = []
        self._store_due = trio.Event()
        self._outstanding: set[tuple[int, int]] = set()
        self._since_snapshot = 0
        #: the blocks whose inputs a task is fetching, set once it has them (or failed)
        self._fetching: dict[int, trio.Event] = {}
        self._l1_lanes = {lane: trio.open_memory_channel[Command](config.l1_queue)
                          for lane in _L1_LANES}
        #: the L1 action each lane is carrying out, by lane
        self._l1_current: dict[type, Command] = {}
        #: the last error of each L1 loop while it is failing: "follow", "snapshot", or a lane's
        #: command name
        self._l1_errors: dict[str, str] = {}
        self.metrics = CoordinatorMetrics()
        threads = config.verify_threads
        #: the circuit's proof system (`zkp.system`): what decodes, verifies and hashes its proofs
        self.proof_system = system(build.system)
        self.verifier = ProofVerifier(
            self.proof_system, build.setup.vk,
            threads=native.default_threads() if threads is None else threads,
            max_batch=config.verify_batch, window=config.verify_window,
            on_batch=self.metrics.verification_batch)
        self.metrics.follow(lambda: self.core, lambda: len(self.sessions), self._l1_pending)
        #: the metrics server's port, once it listens (None when it is off)
        self.metrics_port: int | None = None

    @property
    def address(self) -> str:
        return self.account.address

    # ------------------------------------------------------------------ running

    async def run(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        config = self.config
        if not await self._l1_call(self.market.is_coordinator, self.address):
            raise CoordinatorError(
                f"{self.address} is not a registered coordinator: the registry's owner must "
                "register it first")
        bound = await self._l1_call(self.market.coordinator_rollup, self.address)
        if bound != self.rollup.address:
            raise CoordinatorError(
                f"{self.address} is registered for rollup {bound}, not {self.rollup.address}: "
                "a coordinator settles the batches of the rollup it is bound to only")
        self.store = await trio.to_thread.run_sync(CoordinatorStore.open, config.datadir,
                                                   config.db)
        try:
            pending = await trio.to_thread.run_sync(self._restore)
            artifacts = ArtifactStore(config.datadir / "artifacts")
            for path in (self.build.zkey, self.build.wasm):
                await trio.to_thread.run_sync(artifacts.import_file, path)
            self.manifest_hash = await trio.to_thread.run_sync(artifacts.put, self.manifest)
            async with (open_node(config.datadir / "p2p", listen=config.listen,
                                  bootstrap=config.bootstrap) as node,
                        SequencerClientPool(config.sequencer_url,
                                            size=config.sequencer_connections,
                                            timeout=config.call_timeout) as seq):
                self.node, self.sequencer = node, seq
                serve_artifacts(node, artifacts)
                serve(node, SESSION_PROTOCOL, self._session)
                async with join_coordinators(node, is_registered=self._is_registered) as topic:
                    self.topic = topic
                    async with trio.open_nursery() as nursery:
                        self._nursery = nursery
                        nursery.start_soon(self._store_events)
                        await trio.to_thread.run_sync(
                            self._write, [], [], [c for c in pending if _carried_out_on_store(c)])
                        for command in pending:
                            if not _carried_out_on_store(command):
                                await self._dispatch(command)
                        nursery.start_soon(self._follow_l1)
                        nursery.start_soon(self._snapshot_roster)
                        nursery.start_soon(self._tick)
                        nursery.start_soon(self._announce)
                        for _, receive in self._l1_lanes.values():
                            nursery.start_soon(self._l1_worker, receive)
                        await nursery.start(self.verifier.run)
                        if config.metrics_listen:
                            host, port = listen_address(config.metrics_listen)
                            self.metrics_port = await nursery.start(MetricsServer(
                                self.metrics.registry, self.health, host, port,
                                remedy="pick another --metrics-listen").run)
                        log.info("coordinator running", address=self.address,
                                 peer_id=str(node.peer_id), addrs=node.addrs,
                                 db=self.store.where)
                        task_status.started(self)
        finally:
            self.store.close()

    def health(self) -> dict:
        """The metrics server's `/health`: ok while L1 is read and acted on without errors (the
        last attempt of the event follower, of the roster snapshots and of the L1 action under
        way succeeded) and the L1 action queue has room. No roller connected is reported
        (`rollers`) but is no fault of the coordinator's: it does not fail the check."""
        problems = [f"L1 {_L1_LOOPS[loop]} fails: {error}"
                    for loop, error in sorted(self._l1_errors.items())]
        pending = self._l1_pending()
        for lane, (_, receive) in self._l1_lanes.items():
            if receive.statistics().current_buffer_used >= self.config.l1_queue:
                problems.append(f"{self.config.l1_queue} L1 actions wait for {_L1_LOOPS[lane.__name__]}: "
                                "the queue is full and the core waits")
        core = self.core
        return {"ok": not problems, "rollers": len(self.sessions),
                "last_committed": core.last_committed, "last_finalized": core.last_finalized,
                "open_rounds": len(core.open_tasks()), "l1_pending": pending,
                "problems": problems}

    def _restore(self) -> list[Command]:
        """The core after replaying the stored events, and the commands not yet carried out."""
        restored = self.store.restore()
        if restored.snapshot is not None:
            core = CoordinatorCore.from_snapshot(restored.snapshot)
        else:
            base = self.store.meta("base_finalized")
            if base is None:
                base = str(self.l1.last_finalized())
                self.store.set_meta("base_finalized", base)
            core = CoordinatorCore(self.params, self.chain.chain_id, self.rollup.address,
                                   last_finalized=int(base))
        pending = []
        for number, event in restored.events:
            if number != core.sequence:
                raise CoordinatorError(f"the event log skips from {core.sequence} to {number}: "
                                       "the database is damaged")
            for command in core.handle(event):
                self._remember(command)
                if command.key not in restored.done:
                    pending.append(command)
            if isinstance(event, BatchSettled):
                self._forget(event.batch)
        self.core = core
        if restored.events:
            log.info("coordinator restored", events=len(restored.events), pending=len(pending))
        return pending

    def _remember(self, command: Command) -> None:
        if isinstance(command, Assign):
            self.tasks[self._task_id(command, command.roller)] = SentTask(command, command.roller)

    def _forget(self, batch: int) -> None:
        """Drop the tasks of a settled batch, and their undelivered messages: the core keeps
        none of them (it refuses a message naming one as an unknown task), and `tasks` would
        otherwise keep every assignment ever made."""
        blocks = blocks_of(batch, self.params.k)
        for tid, sent in list(self.tasks.items()):
            c = sent.command
            if c.index in blocks if c.kind is TaskKind.BLOCK else c.index == batch:
                del self.tasks[tid]
                self.outbox.get(sent.roller, {}).pop(tid, None)

    def _task_id(self, c: Assign | Open, roller: str) -> bytes:
        return task_id(self.chain.chain_id, self.rollup.address, c.kind, c.index, c.round,
                       c.seed, c.statement, roller)

    # ------------------------------------------------------------------ the core

    async def _submit(self, event: Event, proof: StoredProof | None = None) -> list[Command]:
        """Hand `event` to the core; once it is stored (with the `proof` it names, if any),
        what the core commanded, carried out (or under way)."""
        await self._room()
        handled = self._hand(event, proof)
        if handled is None:
            return []
        await self._stored(handled)
        return handled.commands

    def _hand(self, event: Event, proof: StoredProof | None = None) -> Handled | None:
        """Hand `event` to the core and queue it for the writer; None if the core refused it.

        Group commit: the core handles each event as it comes, and `_store_events` writes all
        those handled meanwhile in one transaction, then carries out their commands in order.
        Nothing a command does (a task sent, a receipt, an L1 action, an audit record) happens
        before its event is stored, so a kill loses only events whose effects never left the
        process: the follower reads L1 again from its stored cursor, and a roller sends again
        what got no receipt. One transaction (one disk flush) an event held the core up."""
        try:
            commands = self.core.handle(event)
        except CoordinatorError as error:
            self.metrics.event(type(event).__name__, handled=False)
            log.warning("event refused", event=type(event).__name__, error=str(error))
            return None
        self.metrics.event(type(event).__name__, handled=True)
        handled = Handled(self.core.sequence - 1, event, commands, proof)
        self._unstored.append(handled)
        self._store_due.set()
        return handled

    async def _room(self) -> None:
        """Backpressure on the core's intake: while `config.max_unstored` handled events wait
        for the writer, wait until it has stored them (call right before `_hand`)."""
        while len(self._unstored) >= self.config.max_unstored:
            await self._unstored[-1].stored.wait()

    async def _stored(self, handled: Handled) -> None:
        """Wait until `handled` (and every event before it) is stored and its commands are
        under way."""
        await handled.stored.wait()
        self._changed.set()

    async def _store_events(self) -> None:
        """Store the events handled since the last write, and the keys of the commands carried
        out since, in one transaction; then carry out the events' commands, in order."""
        try:
            while True:
                await self._store_due.wait()
                self._store_due = trio.Event()
                await self._store_handled()
        finally:
            # A stop (not a kill) stores what the core handled: its commands, not carried out,
            # are a restart's to carry out.
            with trio.CancelScope(shield=True):
                batch, self._unstored = self._unstored, []
                done, self._done_keys = self._done_keys, []
                if batch or done:
                    await trio.to_thread.run_sync(self._write, batch, done, [])

    async def _store_handled(self) -> None:
        batch, self._unstored = self._unstored, []
        done, self._done_keys = self._done_keys, []
        now = [c for handled in batch for c in handled.commands if _carried_out_on_store(c)]
        await trio.to_thread.run_sync(self._write, batch, done, now)
        for handled in batch:
            for command in handled.commands:
                self._remember(command)
                if not _carried_out_on_store(command):
                    self._outstanding.add(command.key)
                    await self._dispatch(command)
            handled.stored.set()
        self._since_snapshot += len(batch)
        if (batch and self._since_snapshot >= self.config.snapshot_every
                and not self._outstanding and not self._unstored):
            # The core has handled nothing unstored: its state is that after the last event.
            await trio.to_thread.run_sync(self.store.save_snapshot, batch[-1].number,
                                          self.core.snapshot())
            self._since_snapshot = 0

    def _write(self, batch: list[Handled], done: list[tuple[int, int]],
               now: list[Command]) -> None:
        """One store transaction: the handled events and the proofs they name; with them, the
        commands carried out by storing them (audit records, also appended to audit.jsonl, and
        replies, which their sessions send)."""
        audits = [audit_record_to_json(c) for c in now if isinstance(c, AuditRecord)]
        self.store.write([(h.number, h.event) for h in batch], done + [c.key for c in now],
                         [(TaskKind[r["kind"].upper()], r["index"], r) for r in audits],
                         [h.proof for h in batch if h.proof is not None])
        if audits:
            with open(self.config.datadir / "audit.jsonl", "a") as file:
                file.writelines(json.dumps(record) + "\n" for record in audits)

    async def _done(self, command: Command) -> None:
        """`command` is carried out: its key goes into the next store write. Until then a kill
        makes a restart carry it out again, which every command allows (a task sent twice is
        answered once, an L1 action done already is skipped)."""
        self._done_keys.append(command.key)
        self._outstanding.discard(command.key)
        self._store_due.set()

    async def _dispatch(self, command: Command) -> None:
        if isinstance(command, Assign):
            self._nursery.start_soon(self._assign, command)
        elif isinstance(command, Open):
            self._nursery.start_soon(self._open, command)
        elif isinstance(command, Cancel):
            self._nursery.start_soon(self._cancel, command)
        else:
            assert isinstance(command, (Finalize, Settle, DrawLottery, Slash)), command
            # The workers never wait on the core, so waiting here for room cannot deadlock.
            send, _ = self._l1_lanes[type(command)]
            await send.send(command)

    async def _tick(self) -> None:
        while True:
            wake = self.core.next_wakeup()
            now = now_ms()
            if wake is not None and wake <= now:
                await self._submit(Tick(now))
                continue
            self._changed = trio.Event()
            with trio.move_on_after(math.inf if wake is None else (wake - now) / 1000):
                await self._changed.wait()

    # ------------------------------------------------------------------ L1

    async def _l1_call(self, fn, *args):
        with trio.fail_after(self.config.call_timeout):
            # web3 cannot be interrupted: a call past its timeout is left to finish in its thread
            return await trio.to_thread.run_sync(fn, *args, abandon_on_cancel=True)

    async def _is_registered(self, address: str) -> bool:
        try:
            return await self._l1_call(self.market.is_coordinator, address)
        except (ChainError, trio.TooSlowError) as error:  # our L1's fault, not the peer's
            raise RegistryUnavailable(f"cannot ask the registry about {address} now: "
                                      f"{str(error) or 'timed out'}") from None

    async def _follow_l1(self) -> None:
        cursor = int(self.store.meta("l1_cursor") or self.deployment.rollup.block)
        failures = 0
        while True:
            try:
                head = await self._l1_call(self.l1.head)
                if head >= cursor:
                    cursor = await self._follow(cursor, head)
                    await trio.to_thread.run_sync(self.store.set_meta, "l1_cursor", str(cursor))
                failures = 0
            except (ChainError, trio.TooSlowError) as error:
                failures += 1
                self._l1_failed("follow", error)
                log.warning("reading L1 failed", error=str(error) or "timed out",
                            retry_in=self._retry_delay(failures))
                await trio.sleep(self._retry_delay(failures))
                continue
            self._l1_errors.pop("follow", None)
            await trio.sleep(self.config.poll_interval)

    async def _follow(self, cursor: int, head: int) -> int:
        """Hand the core the facts of L1 blocks cursor..head, in chain order; the next L1 block
        to read. A commit whose randomness cannot be recorded yet stops it there: the next poll
        reads that L1 block again (the facts before it in that block are no-ops the second
        time). The commits are drawn together (`CoordinatorL1.draw_inputs`: one randomness
        transaction and no call a block), since one round trip a block capped the blocks
        followed a second."""
        facts = await self._l1_call(self.l1.scan, cursor, head)
        blocks = [fact.block for fact in facts if isinstance(fact, Committed)]
        drawn = iter(await self._l1_call(self.l1.draw_inputs, blocks) if blocks else ())
        # The facts go to the core one after the other, and the cursor moves once the last is
        # stored: waiting for each to be stored would take a store write a fact.
        last: Handled | None = None
        next_cursor = head + 1
        for fact in facts:
            await self._room()
            at = now_ms()
            if isinstance(fact, Committed):
                block = fact.block
                inputs = next(drawn, None)
                if inputs is None:
                    next_cursor = block.l1_block
                    break
                log.info("randomness recorded", block=block.number,
                         randomness="0x" + inputs.randomness.hex(),
                         roster_snapshot=inputs.snapshot, rollers=len(inputs.roster))
                event: Event = BlockCommitted(block.number, inputs.randomness,
                                              block.roster_block, fact.statement,
                                              inputs.roster, at)
                self.metrics.block_committed(block.number)
                self._commits[block.number] = fact
            elif isinstance(fact, Reverted):
                event = BlocksReverted(fact.from_block, at)
            elif isinstance(fact, Finalized):
                event = BatchFinalized(fact.batch, at)
                for number in blocks_of(fact.batch, self.params.k):
                    self._commits.pop(number, None)
                    self._inputs.pop(number, None)
            else:
                assert isinstance(fact, Settled)
                event = BatchSettled(fact.batch, at)
            last = self._hand(event) or last
            if isinstance(fact, Settled):
                self._forget(fact.batch)
        if last is not None:
            await self._stored(last)
        return next_cursor

    async def _snapshot_roster(self) -> None:
        """Take a roster snapshot whenever `snapshot_due` says so, checking every poll."""
        failures = 0
        while True:
            try:
                taken = await self._l1_call(self.l1.refresh_snapshot,
                                            self.config.snapshot_interval)
                failures = 0
            except (ChainError, trio.TooSlowError) as error:
                failures += 1
                self._l1_failed("snapshot", error)
                log.warning("taking a roster snapshot failed", error=str(error) or "timed out",
                            retry_in=self._retry_delay(failures))
                await trio.sleep(self._retry_delay(failures))
                continue
            self._l1_errors.pop("snapshot", None)
            if taken is not None:
                self.metrics.roster_snapshot_taken()
                log.info("roster snapshot taken", snapshot=taken)
            await trio.sleep(self.config.poll_interval)

    def _retry_delay(self, failures: int) -> float:
        return Backoff(self.config.retry_initial, self.config.retry_max).delay(failures)

    async def _l1_worker(self, receive: trio.MemoryReceiveChannel[Command]) -> None:
        """Carry out a lane's L1 commands in order, retrying each until it lands (or L1 has
        it)."""
        async for command in receive:
            lane = type(command)
            self._l1_current[lane] = command
            failures = 0
            while True:
                try:
                    await self._carry_out(command)
                    break
                except (ChainError, trio.TooSlowError) as error:
                    failures += 1
                    self._l1_failed(lane.__name__, error)
                    self.metrics.l1_action_failed(command)
                    log.warning("L1 action failed", action=type(command).__name__,
                                error=str(error) or "timed out",
                                retry_in=self._retry_delay(failures))
                    await trio.sleep(self._retry_delay(failures))
            self._l1_errors.pop(lane.__name__, None)
            self.metrics.l1_action_done(command)
            await self._done(command)
            del self._l1_current[lane]

    def _l1_pending(self) -> int:
        """L1 actions queued or being carried out."""
        queued = sum(receive.statistics().current_buffer_used
                     for _, receive in self._l1_lanes.values())
        return queued + len(self._l1_current)

    def _l1_failed(self, loop: str, error: Exception) -> None:
        self._l1_errors[loop] = str(error) or "timed out"
        if loop in ("follow", "snapshot"):  # an action's failures are counted by action
            self.metrics.l1_read_failed(loop)

    async def _carry_out(self, command: Command) -> None:
        """One L1 action. What it changes (a finalization, a settlement) reaches the core from
        L1's logs, read by `_follow_l1`: the worker never waits on the core."""
        if isinstance(command, Finalize):
            stored = await trio.to_thread.run_sync(self.store.proof, command.aggregate_ref)
            aggregate = self.proof_system.open_aggregate(stored.proof)
            await self._l1_call(self.l1.finalize, command.first_block, command.provers, aggregate)
            log.info("batch finalized", batch=command.batch, first_block=command.first_block)
        elif isinstance(command, Settle):
            await self._l1_call(self.l1.settle, command.batch, command.outcomes)
            log.info("batch settled", batch=command.batch, outcomes=len(command.outcomes))
        elif isinstance(command, DrawLottery):
            while not await self._l1_call(self.l1.lottery_due, command.batch):
                await trio.sleep(self.config.poll_interval)
            await self._l1_call(self.l1.draw_lottery, command.batch, command.entries)
            log.info("lottery drawn", batch=command.batch, entries=len(command.entries))
        elif isinstance(command, Slash):
            stored = await trio.to_thread.run_sync(self.store.proof, command.ref)
            refused = await self._l1_call(self.l1.slash, self._evidence(command, stored))
            if refused is None:
                log.info("roller slashed", roller=command.roller, kind=command.kind.name.lower(),
                         index=command.index)
            else:
                self.metrics.slash_evidence_refused()
                log.error("slashing evidence refused", reason=refused, roller=command.roller,
                          kind=command.kind.name.lower(), index=command.index,
                          round=command.round)

    def _evidence(self, command: Slash, stored: StoredProof) -> SlashEvidence:
        """The signed submission `command.ref` names, as `slashInvalidProof` (a block) or
        `slashInvalidAggregate` (a batch) takes it."""
        common = dict(chain_id=self.chain.chain_id, rollup=self.rollup.address,
                      staking=self.deployment.staking, kind=command.kind, index=command.index,
                      round=command.round, statement=stored.statement,
                      signature=stored.signature, roller=command.roller)
        if command.kind is TaskKind.BLOCK:
            return SlashEvidence(**common, proof=stored.proof)
        return SlashEvidence(**common, provers=stored.provers, aggregate=stored.proof)

    # ------------------------------------------------------------------ announcing

    async def _announce(self) -> None:
        while True:
            fields = dict(
                coordinator=to_canonical_address(self.address),
                peer_id=self.node.peer_id.to_bytes(), addrs=tuple(self.node.addrs[:m.MAX_ADDRS]),
                chain_id=self.chain.chain_id,
                staking=to_canonical_address(self.deployment.staking),
                rollup=to_canonical_address(self.rollup.address),
                circuits=(self.manifest_hash,), seq=now_ms(), timestamp=int(time.time()))
            try:
                await self.topic.publish(sign_announcement(self.account.key, fields))
            except P2PError as error:
                # Publishing checks the announcement as peers will, the registry on L1
                # included: an L1 outage (RegistryUnavailable) skips this announcement, the next
                # one goes out.
                log.warning("announcing failed", error=str(error) or "timed out")
            await trio.sleep(self.config.announce_interval)

    # ------------------------------------------------------------------ tasks out

    async def _assign(self, command: Assign) -> None:
        if not deliverable(command, now_ms()):
            await self._done(command)  # replayed after its deadline: nothing worth sending
            return
        self.metrics.task_assigned(command.kind.wire)
        if await self._queue_task(command, command.roller):
            await self._deliver(command.roller)

    async def _open(self, command: Open) -> None:
        """Send the open task to every connected session; one that connects later gets it from
        `core.open_tasks()` while it is still open."""
        log.info("task open to every roller", kind=command.kind.name.lower(),
                 index=command.index, round=command.round)
        self.metrics.task_opened(command.kind.wire)
        for roller in list(self.sessions):
            if await self._queue_task(command, roller):
                await self._deliver(roller)
        await self._done(command)

    async def _queue_task(self, command: Assign | Open, roller: str) -> bool:
        """Build `roller`'s task message and put it in its outbox; False if it cannot be built
        now (the roller then misses, and is redrawn or the task opens)."""
        tid = self._task_id(command, roller)
        if isinstance(command, Open):
            self.tasks[tid] = SentTask(command, roller)
        try:
            task = await self._task_message(command, roller, tid)
        except (SequencerError, trio.TooSlowError) as error:
            # Not done: a restart tries again.
            log.warning("cannot build task", roller=roller, index=command.index,
                        error=str(error) or "timed out")
            return False
        self.outbox.setdefault(roller, {})[tid] = task
        return True

    async def _task_message(self, command: Assign | Open, roller: str, tid: bytes) -> m.Task:
        if command.kind is TaskKind.BLOCK:
            inputs = {**await self._block_inputs(command.index, command.statement),
                      "prover": str(int(roller, 16))}
            payload: bytes | tuple = json.dumps(inputs).encode()
        else:
            items = []
            for chosen in command.proofs:
                stored = await trio.to_thread.run_sync(self.store.proof, chosen.ref)
                items.append(m.BatchItem(index=chosen.block, system=stored.proof.system,
                                         proof=stored.proof.data, public=stored.public))
            payload = tuple(items)
        if isinstance(command, Open):
            slots, opened = 1, True
            assigned_at, deadline, close_at = command.opened_at, m.NO_DEADLINE, m.NO_DEADLINE
        else:
            slots, opened = command.slots, False
            assigned_at, deadline = command.assigned_at, command.deadline
            close_at = command.close_at
        unsigned = m.Task(
            task_id=tid, kind=command.kind.wire, index=command.index, round=command.round,
            seed=command.seed, slots=slots, statement=command.statement, open=opened,
            assigned_at=assigned_at, deadline=deadline, close_at=close_at,
            circuit=self.build.zkey_hash, inputs=payload, signature=NO_SIGNATURE)
        return replace(unsigned, signature=sign_digest(self.account.key, signing_digest(unsigned)))

    async def _block_inputs(self, block: int, statement: bytes) -> dict:
        """Block `block`'s circuit inputs without the prover (`l2_getBlockInputs`), fetched once
        per commit: its drawn rollers' inputs differ in the prover alone, and a call a task
        over the sequencer's one connection was what held task messages up."""
        cached = self._inputs.get(block)
        while cached is None or cached[0] != statement:
            fetching = self._fetching.get(block)
            if fetching is not None:  # another task of this block asked: its answer will do
                await fetching.wait()
            else:
                self._fetching[block] = fetched = trio.Event()
                try:
                    with trio.fail_after(self.config.call_timeout):
                        inputs = await self.sequencer.block_inputs(block)
                    if inputs is None:
                        raise SequencerError(f"the sequencer does not have block {block}")
                    self._inputs[block] = (statement, inputs)
                finally:
                    del self._fetching[block]
                    fetched.set()
            cached = self._inputs.get(block)
        return cached[1]

    def _still_wanted(self, sent: SentTask) -> bool:
        """An assignment until its deadline (`deliverable`); an open task while the core has it
        open."""
        if not sent.open:
            return deliverable(sent.command, now_ms())
        c = sent.command
        return any((o.kind, o.index, o.round, o.seed) == (c.kind, c.index, c.round, c.seed)
                   for o in self.core.open_tasks())

    async def _deliver(self, roller: str) -> None:
        """Send `roller` its undelivered tasks that are still wanted, if it is connected."""
        session = self.sessions.get(roller)
        for tid, task in list(self.outbox.get(roller, {}).items()):
            sent = self.tasks.get(tid)
            if sent is None:  # its batch was settled while the message was built (`_forget`)
                self.outbox[roller].pop(tid, None)
                continue
            if not self._still_wanted(sent):
                self.outbox[roller].pop(tid, None)
                if not sent.open:
                    self.metrics.task_expired(task.kind)
                    log.info("task dropped undelivered: its deadline passed", roller=roller,
                             kind=task.kind, index=task.index, round=task.round)
                    await self._done(sent.command)
                continue
            if session is None:
                return
            # Taken out before sending: two deliveries at once (a connect and an assignment)
            # must not send a task twice.
            if self.outbox[roller].pop(tid, None) is None:
                continue
            try:
                await session.send(task)
            except P2PError as error:
                log.info("roller session broke", roller=roller, error=str(error))
                self.outbox[roller][tid] = task
                if self.sessions.get(roller) is session:
                    del self.sessions[roller]
                return
            self.metrics.task_sent(task.kind, task.index)
            if not sent.open:
                await self._done(sent.command)
            log.info("task sent", roller=roller, kind=task.kind, index=task.index,
                     round=task.round, open=task.open)

    async def _cancel(self, command: Cancel) -> None:
        for tid, sent in list(self.tasks.items()):
            c = sent.command
            if (sent.roller, c.kind, c.index, c.round, c.seed) != (
                    command.roller, command.kind, command.index, command.round, command.seed):
                continue
            self.outbox.get(command.roller, {}).pop(tid, None)
            session = self.sessions.get(command.roller)
            if session is not None:
                try:
                    await session.send(m.Cancel(task_id=tid, reason="its block was reverted on L1"))
                except P2PError:
                    pass  # the roller learns it when its proof is refused
        await self._done(command)

    # ------------------------------------------------------------------ roller sessions

    async def _session(self, stream: MessageStream) -> None:
        try:
            roller = await self._authenticate(stream)
        except P2PError:
            self.metrics.auth_failed("stream")  # broke or timed out in the handshake
            raise
        if roller is None:
            return
        session = RollerSession(roller, stream)
        self.sessions[roller] = session
        log.info("roller connected", roller=roller, peer=str(stream.peer_id))
        try:
            for command in self.core.open_tasks():
                await self._queue_task(command, roller)
            await self._deliver(roller)
            while True:
                msg = await stream.receive(m.Accept, m.Decline, m.Proof, m.Aggregate, m.Ping,
                                           timeout=math.inf)
                if isinstance(msg, m.Ping):
                    await session.send(m.Pong(nonce=msg.nonce))
                    continue
                receipt = await self._handle(roller, msg)
                if receipt is not None:
                    self.metrics.receipt(receipt.status)
                    await session.send(receipt)
        finally:
            if self.sessions.get(roller) is session:
                del self.sessions[roller]
            log.info("roller disconnected", roller=roller)

    async def _authenticate(self, stream: MessageStream) -> str | None:
        """The roller's address once it has signed our challenge and has weight; else None."""
        timeout = self.config.auth_timeout
        hello = await stream.receive(m.Hello, timeout=timeout)
        if PROTOCOL_VERSION not in hello.versions:
            await self._refuse(stream, "version",
                               f"this coordinator speaks session version {PROTOCOL_VERSION}")
            return None
        challenge = m.Challenge(nonce=secrets.token_bytes(32),
                                coordinator=to_canonical_address(self.address),
                                chain_id=self.chain.chain_id, expires_at=int(time.time() + timeout))
        await stream.send(challenge)
        auth = await stream.receive(m.Auth, timeout=timeout)
        roller = to_checksum_address(hello.roller)
        if time.time() > challenge.expires_at:
            await self._refuse(stream, "expired", "the challenge expired")
            return None
        try:
            signer: str | None = recover_signer(signing_digest(challenge), auth.signature)
        except BadSignature:
            signer = None
        if signer != roller:
            # A forgery, or an answer replayed from another session: that one's challenge had
            # another nonce, so its signature recovers to another key here. Either costs the
            # peer the penalty of a bad signature (which bans it at the default threshold).
            await self._refuse(stream, "bad_signature", f"the answer is not signed by {roller}")
            stream.node.penalise(stream.peer_id, BadSignature(
                f"the challenge answer for {roller} recovers to {signer or 'no key'}"))
            return None
        weight = await self._l1_call(self.l1.weight, roller)
        if weight == 0:
            await self._refuse(stream, "zero_weight",
                               f"{roller} has no weight: stake at least the minimum, unpaused, "
                               "with reputation above 0")
            return None
        await stream.send(m.Welcome(weight=weight, session=secrets.token_bytes(16)))
        return roller

    async def _refuse(self, stream: MessageStream, code: str, reason: str) -> None:
        self.metrics.auth_failed(code)
        await stream.send(m.Refused(code=code, reason=reason))

    async def _handle(self, roller: str, msg) -> m.Receipt | None:
        """A roller's accept, decline, proof or aggregate, answered with a receipt when there is
        something to say: a proof's verdict, or why a message changed nothing."""
        sent = self.tasks.get(msg.task_id)
        if sent is None or sent.roller != roller:
            return m.Receipt(task_id=msg.task_id, status="rejected", reason="unknown task")
        command = sent.command
        task = (command.kind, command.index, command.round, command.seed, roller)
        kind = command.kind.wire
        if isinstance(msg, (m.Accept, m.Decline)):
            if sent.open:
                return None  # an open task has no holders to accept or decline it
            if isinstance(msg, m.Accept):
                self.metrics.task_accepted(kind)
                commands = await self._submit(TaskAccepted(*task, now_ms()))
            else:
                self.metrics.task_declined(kind)
                commands = await self._submit(TaskDeclined(*task, msg.reason, now_ms()))
        else:
            self.metrics.proof_received(kind)
            problem = await self._refusal(sent, msg)
            if problem is not None:
                return m.Receipt(task_id=msg.task_id, status="rejected", reason=problem)
            proof, valid, problem = await self._check_submission(sent, msg)
            if proof is None:
                return m.Receipt(task_id=msg.task_id, status="rejected", reason=problem)
            commands = await self._submit(ProofReceived(*task, valid, proof.ref, now_ms()), proof)
        reply = next((c for c in commands if isinstance(c, Reply) and c.roller == roller), None)
        if reply is None:
            return None
        if reply.status is ReplyStatus.REJECTED:
            return m.Receipt(task_id=msg.task_id, status="rejected", reason=reply.reason.value)
        if reply.outcome is Outcome.ON_TIME:
            return m.Receipt(task_id=msg.task_id, status="accepted", reason="on time")
        if reply.outcome is Outcome.LATE:
            return m.Receipt(task_id=msg.task_id, status="late", reason="after the deadline")
        if reply.outcome is Outcome.INVALID:
            return m.Receipt(task_id=msg.task_id, status="rejected", reason=problem)
        return None  # an accept or decline taken

    async def _refusal(self, sent: SentTask, msg: m.Proof | m.Aggregate) -> str | None:
        """Why a submission is refused before it is even verified, with no outcome: the wrong
        kind, a statement that is not L1's current one, or an open proof from a roller without
        weight now. None if it goes on."""
        command = sent.command
        if isinstance(msg, m.Aggregate) != (command.kind is TaskKind.AGGREGATION):
            return f"a {type(msg).__name__.lower()} for a {command.kind.wire} task"
        commit = self._commits.get(command.index) if command.kind is TaskKind.BLOCK else None
        read = self.l1.statement if command.kind is TaskKind.BLOCK else self.l1.batch_statement
        try:
            # A block's statement as the follower last read it, since a call a proof was what
            # held the coordinator up; a revert it has not read yet makes the proof stale later
            # (the core drops the block's rounds, and L1 refuses slashing evidence for it).
            current = (commit.statement if commit is not None
                       else await self._l1_call(read, command.index))
            weight = await self._l1_call(self.l1.weight, sent.roller) if sent.open else None
        except TransactionFailed as error:
            return (f"stale statement: {command.kind.wire} {command.index} is not on L1 "
                    f"({error.reason})")
        except (ChainError, trio.TooSlowError) as error:
            return f"cannot check it now ({error or 'timed out'}); send it again"
        if msg.statement != command.statement or current != command.statement:
            return (f"stale statement: {command.kind.wire} {command.index} on L1 is "
                    f"0x{current.hex()}, the submission signs 0x{msg.statement.hex()}")
        if weight == 0:
            return f"{sent.roller} has no weight now: an open task takes proofs from staked rollers"
        return None

    async def _public_inputs(self, block: int, prover: str) -> list[int]:
        """`Rollup.publicInputs(block, prover)`, from the block's commit as the follower read it
        (the submission's statement was checked against it, or L1's batch statement against the
        task's), or from L1 for a block committed before the follower's stored cursor."""
        fact = self._commits.get(block)
        if fact is None:
            return await self._l1_call(self.l1.public_inputs, block, prover)
        commit = fact.block
        return [commit.old_root, commit.new_root, commit.data_hash, int(prover, 16)]

    async def _check_submission(self, sent: SentTask, msg
                                ) -> tuple[StoredProof | None, bool, str]:
        """(what to store, valid, why not) for a signed proof or aggregate, stored with the
        event that names it; None if the signature is not the roller's, which is no evidence of
        anything and goes no further, nor is a proof of another system than the circuit's."""
        command, roller = sent.command, sent.roller
        block = isinstance(msg, m.Proof)
        sealed = SealedProof(msg.system, msg.proof if block else msg.aggregate)
        if sealed.system != self.proof_system.name:
            return None, False, (f"a {sealed.system!r} proof; this circuit's proofs are "
                                 f"{self.proof_system.name}")
        try:
            if block:
                provers: tuple[str, ...] = (roller,)
                expected = await self._public_inputs(command.index, roller)
                digest = self.proof_system.digest(sealed)
            else:
                provers = tuple(p.roller for p in command.proofs)
                expected = [await self._public_inputs(p.block, p.roller)
                            for p in command.proofs]
                digest = self.proof_system.aggregate_digest(sealed, provers)
            signer = recover_submitter(self.chain.chain_id, self.rollup.address, command.kind,
                                       command.index, command.round, msg.statement, digest,
                                       msg.signature)
        except (ChainError, trio.TooSlowError) as error:
            return None, False, f"cannot check it now ({error or 'timed out'}); send it again"
        except MalformedProof as error:
            # An aggregate's digest is over its decoded parts: bytes that are none sign nothing.
            return None, False, f"malformed aggregate: {error}"
        except InvalidEvidence as error:
            return None, False, f"bad signature: {error}"
        if signer != roller:
            return None, False, f"not signed by {roller}"
        started = time.perf_counter()
        if block:
            try:
                proof = self.proof_system.open(sealed)
            except MalformedProof as error:
                # Signed bytes that are no proof: the block verifier refuses them too, so they
                # are slashable like any invalid proof.
                valid, problem = False, f"invalid proof: {error}"
            else:
                verdict = await self.verifier.verify(proof, expected)
                valid, problem = verdict.valid, f"invalid proof: {verdict.reason}"
            stored = dict(public=tuple(int(x) for x in expected))
        else:
            aggregate = self.proof_system.open_aggregate(sealed)
            verdict = await trio.to_thread.run_sync(self.proof_system.verify_aggregate,
                                                    self.build.setup.vk, aggregate, expected)
            valid, problem = verdict.valid, f"invalid aggregate: {verdict.reason}"
            stored = dict(provers=provers)
        self.metrics.proof_verified(command.kind.wire, valid,
                                    time.perf_counter() - started)
        # The ref names exactly what was signed (the EIP-712 digest: task, round, statement and
        # proof hash) and the signer: the same junk signed for two rounds is two submissions,
        # and a copied proof (v2 proof hashes leave the inputs out) is the copier's own.
        signed = submission_digest(self.chain.chain_id, self.rollup.address, command.kind,
                                   command.index, command.round, msg.statement, digest)
        ref = "0x" + keccak(signed + to_canonical_address(roller)).hex()
        if not valid:
            log.warning("invalid submission", roller=roller, index=command.index,
                        kind=command.kind.name.lower(), problem=problem)
        return (StoredProof(ref, int(command.kind), command.index, command.round, roller, sealed,
                            msg.statement, msg.signature, **stored),
                valid, problem)
