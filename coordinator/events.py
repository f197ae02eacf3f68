"""What the coordinator's decision core is told: facts from L1 and messages from rollers.

Every event carries `at`, the time it happened in integer milliseconds, stamped by the shell (Unix
time in the service, virtual time in the simulation); the core reads no clock. The shell does the
I/O and the heavy checks before it builds an event: it reads the roster at the L1 block that
committed an L2 block, checks a roller's signature (so `roller` is authenticated), and verifies a
proof (so `valid` is its verdict, and `ref` names the stored proof for later commands).

`event_to_record` / `event_from_record` give a JSON- and msgpack-able form, for the shell's event
log: the core is event-sourced, and replaying the log rebuilds it exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from market_contracts.rules import TaskKind


@dataclass(frozen=True)
class BlockCommitted:
    """`Rollup.BlockCommitted`, with the roster read at `l1_block` (market-spec.md, "Weight")."""

    l2_block: int
    randomness: bytes
    l1_block: int
    #: (address, weight) for every roller, in any order; zero weights may be left in or out
    roster: tuple[tuple[str, int], ...]
    at: int


@dataclass(frozen=True)
class BlocksReverted:
    """`Rollup.BlocksReverted`: blocks from `from_block` on are gone."""

    from_block: int
    at: int


@dataclass(frozen=True)
class TaskAccepted:
    kind: TaskKind
    #: the L2 block for a block task, the batch index for an aggregation
    index: int
    round: int
    #: the seed of the task as `Assign` gave it: it tells a task of a reverted block from the
    #: task of the block committed again under the same number
    seed: bytes
    roller: str
    at: int


@dataclass(frozen=True)
class TaskDeclined:
    kind: TaskKind
    index: int
    round: int
    seed: bytes
    roller: str
    #: the roller's own words, for logs; the core does not judge them
    reason: str
    at: int


@dataclass(frozen=True)
class ProofReceived:
    """A signed proof of a block (kind BLOCK) or an aggregate of a batch (kind AGGREGATION)."""

    kind: TaskKind
    index: int
    round: int
    seed: bytes
    roller: str
    #: the shell's verification verdict
    valid: bool
    #: the shell's handle on the stored submission (e.g. its digest), passed back in commands
    ref: str
    at: int


@dataclass(frozen=True)
class BatchFinalized:
    """`Rollup.BatchFinalized` of batch `batch` (blocks batch*K+1 .. batch*K+K)."""

    batch: int
    at: int


@dataclass(frozen=True)
class BatchSettled:
    """`RollerStaking.BatchSettled` for this coordinator's batch."""

    batch: int
    at: int


@dataclass(frozen=True)
class Tick:
    """Time passed; the shell sends it at `CoordinatorCore.next_wakeup()`."""

    at: int


Event = (BlockCommitted | BlocksReverted | TaskAccepted | TaskDeclined | ProofReceived
         | BatchFinalized | BatchSettled | Tick)
EVENT_TYPES = {cls.__name__: cls for cls in (BlockCommitted, BlocksReverted, TaskAccepted,
                                              TaskDeclined, ProofReceived, BatchFinalized,
                                              BatchSettled, Tick)}


def event_to_record(event: Event) -> dict:
    """Plain types only: bytes as 0x-hex, weights as decimal strings (they exceed 64 bits, which
    msgpack cannot hold), kinds as their Solidity number."""
    record: dict = {"type": type(event).__name__}
    for field in fields(event):
        value = getattr(event, field.name)
        if field.name in ("randomness", "seed"):
            value = "0x" + bytes(value).hex()
        elif field.name == "roster":
            value = [[address, str(w)] for address, w in value]
        elif field.name == "kind":
            value = int(value)
        record[field.name] = value
    return record


def event_from_record(record: dict) -> Event:
    cls = EVENT_TYPES[record["type"]]
    values = {}
    for field in fields(cls):
        value = record[field.name]
        if field.name in ("randomness", "seed"):
            value = bytes.fromhex(value.removeprefix("0x"))
        elif field.name == "roster":
            value = tuple((address, int(w)) for address, w in value)
        elif field.name == "kind":
            value = TaskKind(value)
        values[field.name] = value
    return cls(**values)
