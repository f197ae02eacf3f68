"""The roller's side of the session protocol (`/provernet/session/1.0.0`, version 1).

One stream per coordinator, opened by the roller:

    roller -> hello(roller, versions)        coordinator -> challenge(nonce, coordinator, chain_id, expires_at)
    roller -> auth(sign(signing_digest(challenge)))
                                             coordinator -> welcome(weight, session) | refused(code, reason)
    then, full duplex on the same stream:
    coordinator -> task | cancel | receipt | pong      roller -> accept | decline | proof | aggregate | ping

This module holds what the protocol fixes, with no state of the node: the task id, the checks
a task must pass before it is even considered (`check_task`), the conversion of a `task` message
into the journal's `TaskOffer`, the messages a journaled proof is sent as, and the handshake.
`roller.intake` runs sessions with it.

Decisions of this side of the protocol (docs/roller.md, "The session"):
- a task the roller will not consider (bad signature, wrong task id, times out of order) is
  answered with `decline`, its reason starting with a short code (`bad_signature: ...`), and is
  not journaled: it is no task of ours;
- every decline reason is `<code>: <one line>`, cut to the protocol's 256 characters;
- task times are Unix milliseconds on the wire and whole seconds (rounded down) in the journal;
  rounding the deadline down keeps admission on the safe side;
- points travel as `zkp.proof` holds them (G2 as ((x.c0, x.c1), (y.c0, y.c1))), not in the EVM's
  word order.
"""

from __future__ import annotations

import trio
from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address

from market_contracts.rules import TaskKind
from market_contracts.submissions import task_id as submission_task_id
from p2p import messages
from p2p.errors import BadSignature, P2PError, ProtocolViolation
from p2p.messages import (BATCH_TASK, BLOCK_TASK, Aggregate, Auth, Challenge, Error, Hello,
                          Proof as ProofMessage, Refused, Task, Welcome)
from p2p.protocols import MessageStream
from p2p.signing import recover_signer, sign_digest, signing_digest
from roller.errors import RollerError
from roller.journal import JournalTask, TaskOffer, encode_batch_inputs
from zkp.system import SealedProof

#: the session protocol versions this roller speaks, in `hello`
PROTOCOL_VERSIONS = (1,)
MS = 1000


class SessionRefused(RollerError):
    """The coordinator answered `refused`: `code` is its short word (bad_signature, zero_weight,
    wrong_chain, expired, ...), `reason` its line."""

    def __init__(self, code: str, reason: str):
        super().__init__(f"refused ({code}): {reason}")
        self.code = code
        self.reason = reason


class SessionFailed(RollerError):
    """The session cannot go on: the coordinator broke the handshake or went silent."""


class TaskRefused(RollerError):
    """A task this roller will not take, with the decline's code and reason."""

    def __init__(self, code: str, reason: str):
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason

    @property
    def wire_reason(self) -> str:
        return decline_reason(self.code, self.reason)


def decline_reason(code: str, text: str) -> str:
    """`<code>: <text>`, within the protocol's bound on a reason."""
    reason = f"{code}: {text}"
    limit = messages.MAX_REASON_CHARS
    return reason if len(reason) <= limit else reason[:limit - 3] + "..."


def task_id(chain_id: int, rollup: str, kind: TaskKind | str, index: int, round_: int, seed: bytes,
            statement: bytes, roller: str) -> bytes:
    """`market_contracts.submissions.task_id` (what the coordinator computes), with the kind also
    as the wire's word ("block" or "batch")."""
    kind = TaskKind.from_wire(kind) if isinstance(kind, str) else kind
    return submission_task_id(chain_id, rollup, kind, index, round_, seed, statement, roller)


def check_task(task: Task, *, coordinator: str, chain_id: int, rollup: str, roller: str) -> None:
    """TaskRefused unless `task` is signed by `coordinator`, names itself by the right id for
    this roller, chain, rollup and statement, has its times in order, and, if open, holds one
    slot and has no deadline."""
    try:
        signer = recover_signer(signing_digest(task), task.signature)
    except BadSignature as exc:
        raise TaskRefused("bad_signature", f"the task's signature recovers to no key ({exc})") from None
    if signer != coordinator:
        raise TaskRefused("bad_signature", f"the task is signed by {signer}, not by the "
                                           f"coordinator {coordinator}")
    expected = task_id(chain_id, rollup, task.kind, task.index, task.round, task.seed,
                       task.statement, roller)
    if task.task_id != expected:
        raise TaskRefused("bad_task_id", f"task id {task.task_id.hex()} is not {expected.hex()}, "
                                         f"the id of {task.kind} {task.index} round {task.round} "
                                         f"for {roller} on chain {chain_id}, rollup {rollup}")
    if task.open and (task.slots != 1 or task.deadline != messages.NO_DEADLINE
                      or task.close_at != messages.NO_DEADLINE):
        raise TaskRefused("bad_open_task", f"an open task holds 1 slot and has no deadline; this "
                                           f"one holds {task.slots}, deadline {task.deadline}, "
                                           f"closes {task.close_at}")
    if not task.assigned_at <= task.deadline <= task.close_at:
        raise TaskRefused("bad_times", f"times out of order: assigned {task.assigned_at}, deadline "
                                       f"{task.deadline}, closes {task.close_at} (ms)")


def offer_from_task(task: Task, coordinator: str, rollup: str) -> TaskOffer:
    """The journal's record of a checked task of `rollup` (its coordinator's): times in whole
    seconds (rounded down), a batch's proofs as `encode_batch_inputs` writes them."""
    if task.kind == BLOCK_TASK:
        inputs, units = task.inputs, 1
    else:
        inputs = encode_batch_inputs([(item.index, SealedProof(item.system, item.proof),
                                       item.public) for item in task.inputs])
        units = len(task.inputs)
    return TaskOffer(task.task_id, coordinator, rollup, task.kind, task.index, task.round, task.seed,
                     task.statement, task.slots, task.open, task.assigned_at // MS, task.deadline // MS, task.close_at // MS,
                     task.circuit, inputs, units)


def submission(task: JournalTask) -> ProofMessage | Aggregate:
    """The message that carries a proven task's proof (or aggregate) and our signature."""
    proof, signature = task.proof, task.signature
    if proof is None or signature is None:
        raise RollerError(f"{task.key} has no proof to submit (it is {task.state})")
    if task.kind == BATCH_TASK:
        return Aggregate(task_id=task.task_id, statement=task.statement, system=proof.system,
                         aggregate=proof.data, signature=signature)
    return ProofMessage(task_id=task.task_id, statement=task.statement, system=proof.system,
                        proof=proof.data, signature=signature)


class Session:
    """An authenticated session: its stream, behind a send lock (many tasks write to it)."""

    def __init__(self, stream: MessageStream, coordinator: str, welcome: Welcome):
        self.stream = stream
        self.coordinator = coordinator
        self.weight = welcome.weight
        self.id = welcome.session
        self._send_lock = trio.Lock()
        #: held while proofs are (re)submitted, so that one proof is not sent twice at once
        self.submit_lock = trio.Lock()
        #: task ids whose proof went out on this session
        self.sent: set[bytes] = set()

    async def send(self, msg) -> None:
        async with self._send_lock:
            await self.stream.send(msg)


async def handshake(stream: MessageStream, account: LocalAccount, coordinator: str,
                    chain_id: int) -> Welcome:
    """Hello, challenge, auth: the coordinator's welcome, or SessionRefused / SessionFailed."""
    await stream.send(Hello(roller=bytes.fromhex(account.address[2:]), versions=PROTOCOL_VERSIONS))
    challenge = await stream.receive(Challenge, Refused)
    if isinstance(challenge, Refused):
        raise SessionRefused(challenge.code, challenge.reason)
    if to_checksum_address(challenge.coordinator) != coordinator:
        await _error(stream, "wrong_coordinator", f"this peer announced coordinator {coordinator}")
        raise SessionFailed(f"the challenge names coordinator "
                            f"{to_checksum_address(challenge.coordinator)}, but the peer "
                            f"announced {coordinator}")
    if challenge.chain_id != chain_id:
        await _error(stream, "wrong_chain", f"this roller is on chain {chain_id}")
        raise SessionFailed(f"the challenge is for chain {challenge.chain_id}, this roller's "
                            f"deployment is on chain {chain_id}")
    await stream.send(Auth(signature=sign_digest(account.key, signing_digest(challenge))))
    reply = await stream.receive(Welcome, Refused)
    if isinstance(reply, Refused):
        raise SessionRefused(reply.code, reply.reason)
    return reply


async def _error(stream: MessageStream, code: str, reason: str) -> None:
    """Tell the peer why the session ends here, and charge it: its challenge contradicts the
    announcement it was dialled by (which named this coordinator, on this chain)."""
    try:
        await stream.send(Error(code=code, reason=reason))
    except P2PError:  # the session ends either way
        pass
    stream.node.penalise(stream.peer_id, ProtocolViolation(f"{code}: {reason}"))
