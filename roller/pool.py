"""The prover pool: `max_concurrent_tasks` workers proving the accepted tasks, signing each
verified proof, and handing it to the intake to submit.

Accepted tasks come from the intake on a zero-buffer channel into a queue that the workers take
earliest effective deadline first (`capacity.Admission.order`, the order admission planned
with), among the tasks whose circuit is ready for their rollup (a task resumed from the journal
waits for a coordinator of its rollup to announce it). The queue needs no bound of its own:
admission never accepts more than the workers can finish in time.

Each worker proves with its own prover of the task's circuit (`roller.circuits`; the injected
`roller.abc.TaskProver` verifies the proof before it signs), and the signer reads the task's
statement and public inputs from L1 once more (a block reverted meanwhile is not signed for:
`NotOnL1`) and signs the submission (market rules v2: the statement and the hash of the proof
alone). The proof is journaled, the speed model updated, and `Proven` goes to the intake on a
zero-buffer channel; a task that cannot be proven goes there as `Failed`. A task the intake
withdraws (cancelled, failed) is not started, and its proof is dropped if it was being proven.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial

import structlog
import trio
from eth_account.signers.local import LocalAccount

from market_contracts.rules import TaskKind
from market_contracts.submissions import sign_submission
from p2p.messages import BLOCK_TASK
from roller.capacity import Admission, ProvingSpeed, Work
from roller.circuits import Circuits
from roller.discovery import ServedRollup
from roller.errors import JournalError, ProvingError
from roller.journal import Journal, JournalTask, TaskKey, TaskOffer, decode_batch_inputs
from roller.l1 import require_on_l1, require_statement
from roller.metrics import RollerMetrics
from roller.proving import Signer, submission_hash
from roller.session import TaskRefused
from roller.status import refresh_in_flight
from zkp.errors import ZkpError
from zkp.system import SealedProof

log = structlog.get_logger(__name__)


class NotOnL1(ProvingError):
    """The proof's statement or public inputs are not what the Rollup holds for that block (or
    batch) and prover: an honest roller does not sign it."""


@dataclass(frozen=True)
class Proven:
    """The task's proof is journaled, signed: to be submitted."""

    key: TaskKey


@dataclass(frozen=True)
class Failed:
    """The task cannot be proven, for `reason`: to be journaled as failed and declined."""

    key: TaskKey
    reason: str


class ProverPool:
    """The workers; see the module docstring."""

    def __init__(self, max_concurrent: int, safety_margin: float, account: LocalAccount,
                 chain_id: int, journal: Journal, speed: ProvingSpeed, metrics: RollerMetrics,
                 circuits: Circuits, rollups: Mapping[str, ServedRollup],
                 clock: Callable[[], float], resumed: Sequence[JournalTask] = ()):
        self._max_concurrent = max_concurrent
        self._order = Admission({}, 1, safety_margin).order
        self._account = account
        self._chain_id = chain_id
        self._journal = journal
        self._speed = speed
        self._metrics = metrics
        self._circuits = circuits
        #: the rollups served (`Discovery.rollups`), by address
        self._rollups = rollups
        self._clock = clock
        self._queue: dict[TaskKey, JournalTask] = {task.key: task for task in resumed}
        self._withdrawn: set[TaskKey] = set()
        self._changed = trio.Event()
        #: when the last proof was made
        self.last_proof_at: float | None = None

    def wake(self) -> None:
        """The queue or the circuits changed: workers look for a task again."""
        self._changed.set()
        self._changed = trio.Event()

    def withdraw(self, key: TaskKey) -> None:
        """Do not prove `key` (cancelled, or failed), nor submit a proof of it being made."""
        self._withdrawn.add(key)
        self._queue.pop(key, None)

    def reinstate(self, key: TaskKey) -> None:
        """`key` is drawn anew: it may be proven again once accepted."""
        self._withdrawn.discard(key)

    async def run(self, accepted: trio.MemoryReceiveChannel[JournalTask],
                  outbox: trio.MemorySendChannel[Proven | Failed], *,
                  task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            for slot in range(self._max_concurrent):
                nursery.start_soon(self._worker, slot, outbox)
            task_status.started()
            async for task in accepted:
                self._queue[task.key] = task
                self.wake()

    async def _next_task(self) -> JournalTask:
        """The queued task to prove next: earliest effective deadline first, among those whose
        circuit is ready for their rollup."""
        while True:
            ready = {str(t.key): t for t in self._queue.values()
                     if (entry := self._circuits.get(t.circuit)) and entry.usable_for(t.rollup)}
            if ready:
                first = self._order(Work.of(t) for t in ready.values())[0]
                return self._queue.pop(ready[first.label].key)
            await self._changed.wait()

    async def _worker(self, slot: int, outbox: trio.MemorySendChannel[Proven | Failed]) -> None:
        while True:
            task = await self._next_task()
            outcome = await self._prove(slot, task)
            if outcome is not None:
                await outbox.send(outcome)

    async def _prove(self, slot: int, task: JournalTask) -> Proven | Failed | None:
        """Prove, sign and journal `task`: what the intake is to do with it (None: nothing)."""
        key = task.key
        if key in self._withdrawn:
            return None
        if self._clock() >= task.close_at:
            return Failed(key, "its late window closed before it could be proven")
        entry = self._circuits.get(task.circuit)
        assert entry is not None
        try:
            prover = await self._circuits.prover(entry, slot)
            async with entry.locks[slot]:
                if key in self._withdrawn:
                    return None
                await trio.to_thread.run_sync(partial(self._journal.start_proving, key,
                                                      now=self._clock()))
                await refresh_in_flight(self._journal, self._metrics)
                log.info("proving", task=str(key), backend=prover.backend_description)
                result = await trio.to_thread.run_sync(prover.run, task, self._account.address,
                                                       self._signer(task))
        except JournalError as exc:  # e.g. cancelled (failed) meanwhile
            log.info("task not proven", task=str(key), error=str(exc))
            return None
        except (ProvingError, ZkpError) as exc:
            return Failed(key, str(exc))
        if key in self._withdrawn:
            log.info("proof dropped: the task was cancelled while it was proven", task=str(key))
            return None
        try:
            await trio.to_thread.run_sync(partial(
                self._journal.record_proof, key, result.proof, result.public, result.signature,
                now=self._clock()))
        except JournalError as exc:
            log.info("proof not journaled", task=str(key), error=str(exc))
            return None
        per_unit = await trio.to_thread.run_sync(self._speed.observe, task.circuit, task.kind,
                                                 result.seconds, task.units)
        self._metrics.set_speed(task.circuit, task.kind, per_unit)
        self._metrics.task_proven(task.kind, result.seconds, result.witness_seconds,
                                  now=self._clock())
        log.info("task proven", task=str(key), seconds=round(result.seconds, 3))
        self.last_proof_at = self._clock()
        return Proven(key)

    def _signer(self, task: TaskOffer) -> Signer:
        """`TaskProver.run`'s `sign`: called with a verified proof; checks its public inputs
        against L1 once more, then signs the submission (blocking, in the prover's thread)."""
        rollup = self._rollups[task.rollup].rollup

        def sign(kind: str, index: int, round_: int, proof: SealedProof,
                 public: Sequence) -> bytes:
            _signing_check(lambda: require_statement(rollup, kind, index, task.statement))
            if kind == BLOCK_TASK:
                _signing_check(lambda: require_on_l1(rollup, index, list(public)))
            else:
                items = decode_batch_inputs(task.inputs)
                for (block, _, _), inputs in zip(items, public, strict=True):
                    _signing_check(lambda: require_on_l1(rollup, block, list(inputs)))
            return sign_submission(self._account, self._chain_id, task.rollup,
                                   TaskKind.from_wire(task.kind), task.index, task.round,
                                   task.statement, submission_hash(kind, proof, public))

        return sign


def _signing_check(check: Callable[[], None]) -> None:
    try:
        check()
    except TaskRefused as exc:
        raise NotOnL1(f"not signing: {exc.reason}") from None
