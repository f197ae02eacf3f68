"""What the coordinator's decision core tells its shell to do.

Each command carries `key` = (number of the event that produced it, position in that event's
output). The core is deterministic, so replaying the same events gives the same commands with the
same keys: the shell records the keys it has carried out and, after a restart, skips those. Keys
take no part in equality, so tests can compare commands by content.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from market_contracts.ledger import OutcomeReport
from market_contracts.rules import Outcome, TaskKind

#: Before the core stamps it.
NO_KEY = (-1, -1)


class ReplyStatus(enum.Enum):
    #: the message changed the assignment (accepted, declined, or a proof's verdict recorded)
    RECORDED = "recorded"
    #: the message changed nothing; `reason` says why
    REJECTED = "rejected"


class RejectReason(enum.Enum):
    #: no such block or batch (never committed, reverted, already settled), no such round, or
    #: another seed than the round's
    UNKNOWN_TASK = "unknown_task"
    #: the sender holds no slot in that round (the open round has no holders: it takes proofs
    #: only, from anyone)
    NOT_ASSIGNED = "not_assigned"
    #: the assignment's late window is over (its outcome is missed, or was decided before), or
    #: the open task's batch is on L1 already
    TASK_CLOSED = "task_closed"
    #: a proof of the open round after the task's first valid proof: only that one is paid
    TASK_PROVEN = "task_proven"
    #: the same message again: a second accept, a second decline, or a second proof
    DUPLICATE = "duplicate"
    #: the assignment is decided already (declined, or missed by declining after accepting)
    ALREADY_DECIDED = "already_decided"


@dataclass(frozen=True)
class Command:
    key: tuple[int, int] = field(default=NO_KEY, compare=False, kw_only=True)


@dataclass(frozen=True)
class BlockProof:
    """The proof chosen for one block of a batch: the first valid one the coordinator received."""

    block: int
    roller: str
    ref: str


@dataclass(frozen=True)
class Assign(Command):
    """Send `roller` the signed task. Its deadline for an on-time proof is `deadline`; a proof
    counts (as late) until `close_at`. A roller drawn for k of the round's slots gets one Assign
    with `slots` = k: it proves once, and its outcome counts k times in rewards."""

    kind: TaskKind
    index: int
    round: int
    roller: str
    seed: bytes
    slots: int
    #: `Rollup.statement(n)` of the block, or `Rollup.batchStatement(b)` of the batch: what the
    #: roller signs with its proof
    statement: bytes
    assigned_at: int
    deadline: int
    close_at: int
    #: for an aggregation: the block proofs to aggregate, in block order; empty for a block
    proofs: tuple[BlockProof, ...] = ()


@dataclass(frozen=True)
class Open(Command):
    """The task's drawn rounds ended without a valid proof: round `round` (R_OPEN) is open to
    every staked roller, without deadline, and the first valid proof is paid as a rescue. The
    shell sends it to every session."""

    kind: TaskKind
    index: int
    round: int
    seed: bytes
    statement: bytes
    opened_at: int
    proofs: tuple[BlockProof, ...] = ()


@dataclass(frozen=True)
class Cancel(Command):
    """The task is gone (its block was reverted): tell the roller to stop."""

    kind: TaskKind
    index: int
    round: int
    seed: bytes
    roller: str


@dataclass(frozen=True)
class Reply(Command):
    """The answer to a roller's accept, decline or proof (its task named as the message named
    it)."""

    kind: TaskKind
    index: int
    round: int
    seed: bytes
    roller: str
    status: ReplyStatus
    reason: RejectReason | None = None
    #: the assignment's outcome when this message decided it
    outcome: Outcome | None = None


@dataclass(frozen=True)
class Slash(Command):
    """Submit the signed submission `ref` (a proof that does not verify) as slashing evidence."""

    kind: TaskKind
    index: int
    round: int
    roller: str
    ref: str


@dataclass(frozen=True)
class Finalize(Command):
    """Call `Rollup.finalizeBatch(first_block, provers, aggregate)`. Emitted in batch order."""

    batch: int
    first_block: int
    provers: tuple[str, ...]
    aggregate_ref: str


@dataclass(frozen=True)
class Settle(Command):
    """Call `RollerStaking.settle(batch, outcomes)`; outcomes are in the order it requires
    (`OutcomeReport.sort_key`) and never `invalid` (that goes out as `Slash` only)."""

    batch: int
    outcomes: tuple[OutcomeReport, ...]


@dataclass(frozen=True)
class DrawLottery(Command):
    """Lottery mode: call `RollerStaking.drawLottery(rollup, batch, entries)` once L1 is past
    the settlement's lottery target block. `entries` are the settled on-time block records, in
    settlement order, as (block, roller, slots): what `settle` hashed."""

    batch: int
    entries: tuple[tuple[int, str, int], ...]


@dataclass(frozen=True)
class AuditRound:
    round: int
    seed: bytes
    #: the slots' holders in slot order (a roller once per slot held); () for the open round
    #: and for a round drawn from a roster without candidates
    holders: tuple[str, ...]
    #: (roller, slots, outcome) per distinct roller in order of first slot (the open round: per
    #: proof taken, in order of arrival); outcome None: declined before accepting
    outcomes: tuple[tuple[str, int, Outcome | None], ...]


@dataclass(frozen=True)
class AuditRecord(Command):
    """Everything needed to recompute a task's draws from public data (`coordinator.audit`),
    published once all its assignments are decided."""

    kind: TaskKind
    index: int
    randomness: bytes
    #: the L1 block whose state gave the roster (`Rollup.drawBlocks(n)`; a batch: its last
    #: block's)
    roster_block: int
    #: `Roster.hash` of the roster the draws used: keccak256(abi.encode((address, uint256)[]))
    #: of its positive-weight entries ascending by address
    roster_hash: bytes
    rounds: tuple[AuditRound, ...]
    #: the roller whose proof counts for the task; None if none arrived
    prover: str | None
    #: the drawn rounds ended without a valid proof and round R_OPEN was opened to everyone
    opened: bool
