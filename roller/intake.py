"""The intake: a session with each coordinator served, and what comes over it (tasks, cancels,
receipts) and goes back (accepts, declines, proofs).

`Intake.run` takes the coordinators to serve from discovery on a zero-buffer channel and keeps a
session with each (`_serve_coordinator`): dial the announced peer, hand the announced circuits to
the circuits service, run the handshake (`roller.session`), read until the session ends, and
reconnect after `config.reconnect_delay`. It takes `Proven` and `Failed` tasks from the prover
pool on another zero-buffer channel and submits (or declines) them on their coordinator's
session; a proof whose session is down waits in the journal and is resubmitted, with every
proof of that coordinator still without a receipt, when the session is back.

A task is of its coordinator's rollup, which decides what its id, statement, inputs, signature
and settlement refer to. It is checked (signature, id, times: `session.check_task`), journaled
as offered, and decided by the admission policy (`roller.abc.AdmissionPolicy`); the decision and
the journal's accept happen under one lock, so that the roller never holds more than it can
finish. An accepted task goes to the prover pool on a zero-buffer channel when the policy
delivers. Open tasks (a task no drawn round proved, open to every staked roller) are taken like
any other; the first valid proof is the one paid.
"""

from __future__ import annotations

import secrets
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

import structlog
import trio
from eth_account.signers.local import LocalAccount
from libp2p.peer.id import ID

from p2p.errors import P2PError, RemoteError, Timeout
from p2p.host import Node
from p2p.messages import Accept, Announce, Cancel, Decline, Ping, Pong, Receipt, Task
from p2p.protocols import open_stream
from roller.abc import AdmissionPolicy
from roller.circuits import Announced
from roller.config import RollerConfig
from roller.discovery import Discovery, NotServed
from roller.errors import JournalError
from roller.journal import Journal, JournalTask, TaskKey, TaskState, is_new_draw
from roller.metrics import RollerMetrics
from roller.pool import Failed, Proven, ProverPool
from roller.session import (Session, SessionFailed, SessionRefused, TaskRefused, check_task,
                            decline_reason, handshake, offer_from_task, submission)
from roller.status import Recent, refresh_in_flight

log = structlog.get_logger(__name__)

#: a receipt reason that means "the coordinator already had this proof" (a resubmission)
DUPLICATE = "duplicate"
#: hints logged with a coordinator's refusal, by its code
REFUSAL_HINTS = {"zero_weight": "this roller has no weight: stake at least MIN_STAKE "
                                "(`provernet roller stake AMOUNT`) or resume it",
                 "wrong_chain": "the coordinator is on another chain"}


class Intake:
    """The sessions and what they carry; see the module docstring."""

    def __init__(self, config: RollerConfig, account: LocalAccount, chain_id: int, node: Node,
                 discovery: Discovery, journal: Journal, policy: AdmissionPolicy,
                 pool: ProverPool, metrics: RollerMetrics, recent: Recent,
                 clock: Callable[[], float]):
        self._config = config
        self._account = account
        self._chain_id = chain_id
        self._node = node
        self._discovery = discovery
        self._journal = journal
        self._policy = policy
        self._pool = pool
        self._metrics = metrics
        self._recent = recent
        self._clock = clock
        self._ping_interval = config.ping_interval
        #: authenticated sessions open now, by coordinator
        self.sessions: dict[str, Session] = {}
        #: cancels of tasks not decided yet (the decision then declines them), oldest first:
        #: the newest `cancels_remembered` are kept, so that a coordinator cancelling tasks it
        #: never sends cannot grow the node's memory
        self._cancelled_ids: OrderedDict[tuple[str, bytes], None] = OrderedDict()
        self._cancels_remembered = config.cancels_remembered
        self._lock = trio.Lock()

    async def run(self, serve: trio.MemoryReceiveChannel[str],
                  outbox: trio.MemoryReceiveChannel[Proven | Failed],
                  circuits: trio.MemorySendChannel[Announced],
                  accepted: trio.MemorySendChannel[JournalTask], *,
                  task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Serve each coordinator that comes on `serve`; submit what comes on `outbox`; send the
        circuits announced to `circuits` and the tasks accepted to `accepted`."""
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._submit, outbox)
            task_status.started()
            async for address in serve:
                nursery.start_soon(self._serve_coordinator, address, circuits, accepted)

    # ------------------------------------------------------------------ sessions

    async def _serve_coordinator(self, address: str, circuits: trio.MemorySendChannel[Announced],
                                 accepted: trio.MemorySendChannel[JournalTask]) -> None:
        """Keep a session with `address` open: reconnect after each end, backing off."""
        failures = 0
        while True:
            try:
                ann = await self._discovery.check_served(address)
            except NotServed as exc:
                # A new announcement (with a fresh timestamp) starts serving it again.
                log.info("no longer serving coordinator", coordinator=address, reason=str(exc))
                return
            welcomed: list[bool] = []
            try:
                await self._session(address, ann, welcomed, circuits, accepted)
                log.info("session ended", coordinator=address)
            except SessionRefused as exc:
                hint = REFUSAL_HINTS.get(exc.code)
                log.warning("coordinator refused the session", coordinator=address,
                            code=exc.code, reason=exc.reason, **({"hint": hint} if hint else {}))
            except RemoteError as exc:
                log.warning("coordinator ended the session", coordinator=address, code=exc.code,
                            reason=exc.reason)
            except (P2PError, SessionFailed) as exc:
                log.warning("session with coordinator failed", coordinator=address,
                            error=str(exc))
            failures = 1 if welcomed else failures + 1
            delay = self._config.reconnect_delay(failures)
            log.info("reconnecting to coordinator", coordinator=address, after_seconds=delay)
            await trio.sleep(delay)

    async def _session(self, address: str, ann: Announce, welcomed: list[bool],
                       circuits: trio.MemorySendChannel[Announced],
                       accepted: trio.MemorySendChannel[JournalTask]) -> None:
        peer = ID(ann.peer_id)
        await self._node.connect_peer(peer, ann.addrs)
        await circuits.send(Announced(tuple(ann.circuits), peer, self._discovery.rollup_of[address]))
        async with open_stream(self._node, peer) as stream:
            welcome = await handshake(stream, self._account, address, self._chain_id)
            welcomed.append(True)
            session = Session(stream, address, welcome)
            self.sessions[address] = session
            self._metrics.set_coordinators(len(self.sessions))
            log.info("session open", coordinator=address, weight=welcome.weight,
                     session=welcome.session.hex())
            error: BaseException | None = None
            try:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._guarded, self._resubmit, session)
                    try:
                        await self._read(session, nursery, accepted)
                    except (P2PError, SessionFailed) as exc:
                        error = exc
                    nursery.cancel_scope.cancel()
            finally:
                if self.sessions.get(address) is session:
                    del self.sessions[address]
                self._metrics.set_coordinators(len(self.sessions))
            if error is not None:
                raise error

    async def _read(self, session: Session, nursery: trio.Nursery,
                    accepted: trio.MemorySendChannel[JournalTask]) -> None:
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
                nursery.start_soon(self._guarded, self._on_task, session, msg, accepted)
            elif isinstance(msg, Cancel):
                await self._guarded(self._on_cancel, session, msg)
            elif isinstance(msg, Receipt):
                await self._guarded(self._on_receipt, session, msg)
            elif isinstance(msg, Ping):
                await session.send(Pong(nonce=msg.nonce))

    @staticmethod
    async def _guarded(fn: Callable[..., Awaitable[None]], *args: Any) -> None:
        """Run one piece of a session's work: a message that cannot be sent ends only that
        piece (the session's reader sees the stream fail)."""
        try:
            await fn(*args)
        except P2PError as exc:
            log.info("session message not sent", error=str(exc))

    async def _send(self, session: Session, msg: Any) -> bool:
        try:
            await session.send(msg)
        except P2PError as exc:
            log.info("message not sent: the session is failing", coordinator=session.coordinator,
                     message=type(msg).__name__, error=str(exc))
            return False
        return True

    # ------------------------------------------------------------------ tasks

    async def _on_task(self, session: Session, task: Task,
                       accepted: trio.MemorySendChannel[JournalTask]) -> None:
        coordinator = session.coordinator
        # The coordinator's rollup, as the registry binds it: what the task is checked against.
        rollup = self._discovery.rollup_of[coordinator].address
        try:
            check_task(task, coordinator=coordinator, chain_id=self._chain_id, rollup=rollup,
                       roller=self._account.address)
        except TaskRefused as exc:
            log.warning("task refused", coordinator=coordinator, task_id=task.task_id.hex(),
                        kind=task.kind, index=task.index, round=task.round, reason=str(exc))
            self._metrics.task_declined(task.kind, exc.code)
            await self._send(session, Decline(task_id=task.task_id, reason=exc.wire_reason))
            return
        # One task at a time from here: the same task can arrive twice at once (a resend racing
        # the first copy), and only the first copy may decide it.
        async with self._lock:
            existing = await trio.to_thread.run_sync(self._journal.find, coordinator,
                                                     task.task_id)
            offer = offer_from_task(task, coordinator, rollup)
            if existing is not None and is_new_draw(existing, offer):
                # The same task drawn anew: its block was reverted and committed again with the
                # same contents (same statement, seeds and id). The old draw's end is no answer.
                await trio.to_thread.run_sync(partial(self._journal.redraw, offer,
                                                      now=self._clock()))
                self._pool.reinstate(offer.key)
                self._cancelled_ids.pop((coordinator, task.task_id), None)
                self._metrics.task_offered(task.kind)
                log.info("task drawn again", task=str(offer.key), was=str(existing.state))
            elif existing is not None and existing.state is not TaskState.OFFERED:
                await self._answer_again(session, existing)
                return
            elif existing is None:
                try:
                    await trio.to_thread.run_sync(partial(self._journal.offer, offer,
                                                          now=self._clock()))
                except JournalError as exc:
                    log.warning("task not journaled", coordinator=coordinator, error=str(exc))
                    await self._send(session, Decline(task_id=task.task_id,
                                                      reason=decline_reason("journal", str(exc))))
                    return
                self._metrics.task_offered(task.kind)
            refusal = await self._policy.refusal(offer)
            if refusal is None and (coordinator, task.task_id) in self._cancelled_ids:
                refusal = TaskRefused("cancelled", "the coordinator cancelled it")
            now = self._clock()
            if refusal is None:
                taken = await trio.to_thread.run_sync(partial(self._journal.accept, offer.key,
                                                              now=now))
            else:
                await trio.to_thread.run_sync(partial(self._journal.decline, offer.key,
                                                      refusal.wire_reason, now=now))
        if refusal is not None:
            self._metrics.task_declined(task.kind, refusal.code)
            log.info("task declined", task=str(offer.key), reason=str(refusal))
            self._recent.note(offer.key, "declined", str(refusal))
            await self._send(session, Decline(task_id=task.task_id, reason=refusal.wire_reason))
            return
        self._metrics.task_accepted(task.kind)
        log.info("task accepted", task=str(offer.key), deadline=offer.deadline)
        await self._send(session, Accept(task_id=task.task_id))
        if self._policy.delivers:
            await accepted.send(taken)
        await refresh_in_flight(self._journal, self._metrics)

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

    async def _on_cancel(self, session: Session, cancel: Cancel) -> None:
        task = await trio.to_thread.run_sync(self._journal.find, session.coordinator,
                                             cancel.task_id)
        if task is None or task.state is TaskState.OFFERED:
            self._cancelled_ids[(session.coordinator, cancel.task_id)] = None
            while len(self._cancelled_ids) > self._cancels_remembered:
                self._cancelled_ids.popitem(last=False)
            return
        if task.state not in (TaskState.ACCEPTED, TaskState.PROVING, TaskState.PROVEN):
            return
        self._pool.withdraw(task.key)
        try:
            await trio.to_thread.run_sync(partial(
                self._journal.fail, task.key, f"cancelled by the coordinator: {cancel.reason}",
                now=self._clock()))
        except JournalError as exc:
            log.info("cancel not journaled", task=str(task.key), error=str(exc))
            return
        self._metrics.task_failed(task.kind)
        log.info("task cancelled", task=str(task.key), reason=cancel.reason)
        self._recent.note(task.key, "cancelled", cancel.reason)
        await refresh_in_flight(self._journal, self._metrics)

    async def _on_receipt(self, session: Session, receipt: Receipt) -> None:
        task = await trio.to_thread.run_sync(self._journal.find, session.coordinator,
                                             receipt.task_id)
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
            await trio.to_thread.run_sync(partial(self._journal.record_receipt, task.key, status,
                                                  reason, now=self._clock()))
            self._metrics.receipt(status)
            log.info("receipt", task=str(task.key), status=status, reason=reason)
            self._recent.note(task.key, f"receipt {status}", reason)
            await refresh_in_flight(self._journal, self._metrics)
        elif (task.state in (TaskState.ACCEPTED, TaskState.PROVING, TaskState.PROVEN)
              and receipt.status == "rejected" and not duplicate):
            # The coordinator will not take a proof of it (closed, not assigned, ...): stop.
            await self._fail(task.key, f"the coordinator rejected it: {receipt.reason}",
                             tell=False)

    # ------------------------------------------------------------------ submission

    async def _submit(self, outbox: trio.MemoryReceiveChannel[Proven | Failed]) -> None:
        """Submit the pool's proofs, and decline what it could not prove, one at a time."""
        async for done in outbox:
            if isinstance(done, Failed):
                await self._fail(done.key, done.reason)
                continue
            session = self.sessions.get(done.key.coordinator)
            if session is None:
                log.info("proof waits for the coordinator's session", task=str(done.key))
            else:
                await self._send_proof(session, done.key)
            await refresh_in_flight(self._journal, self._metrics)

    async def _fail(self, key: TaskKey, reason: str, *, tell: bool = True) -> None:
        """Journal the task as failed; tell the coordinator (a decline after accepting lets it
        redraw at once instead of at the deadline)."""
        self._pool.withdraw(key)
        try:
            task = await trio.to_thread.run_sync(partial(self._journal.fail, key, reason,
                                                          now=self._clock()))
        except JournalError as exc:
            log.info("failure not journaled", task=str(key), error=str(exc))
            return
        self._metrics.task_failed(task.kind)
        log.warning("task failed", task=str(key), reason=reason)
        self._recent.note(key, "failed", reason)
        session = self.sessions.get(key.coordinator)
        if tell and session is not None:
            await self._send(session, Decline(task_id=task.task_id,
                                              reason=decline_reason("failed", reason)))
        await refresh_in_flight(self._journal, self._metrics)

    async def _send_proof(self, session: Session, key: TaskKey, *, again: bool = False) -> None:
        """Send a proven task's proof on `session` (once per session unless `again`)."""
        async with session.submit_lock:
            task = await trio.to_thread.run_sync(self._journal.get, key)
            if task.state is TaskState.PROVEN:
                task = await trio.to_thread.run_sync(partial(self._journal.mark_submitted, key,
                                                             now=self._clock()))
                self._metrics.task_submitted(task.kind)
            elif task.state is not TaskState.SUBMITTED or (
                    task.task_id in session.sent and not again):
                return
            session.sent.add(task.task_id)
            if await self._send(session, submission(task)):
                log.info("proof submitted", task=str(key))

    async def _resubmit(self, session: Session) -> None:
        """Proofs made while the session was down, and proofs without a receipt: send them."""
        for task in await trio.to_thread.run_sync(self._journal.in_flight):
            if task.coordinator == session.coordinator and task.state in (
                    TaskState.PROVEN, TaskState.SUBMITTED):
                log.info("resubmitting proof", task=str(task.key), state=str(task.state))
                await self._send_proof(session, task.key)
