"""What the coordinator's decision core is told: facts from L1 and messages from rollers.

Every event carries `at`, the time it happened in integer milliseconds, stamped by the shell (Unix
time in the service, virtual time in the simulation); the core reads no clock. The shell does the
I/O and the heavy checks before it builds an event: it records a block's randomness and reads its
roster at its `rosterBlock`, checks a roller's signature (so `roller` is authenticated), checks
that a proof signs L1's current statement of its block or batch (a proof of a reverted block
cannot be told from one of its recommit by seed, which is the same), checks that an open
round's prover is staked now, and verifies a proof (so `valid` is its verdict, and `ref` names
the stored proof for later commands).

`event_to_record` / `event_from_record` give a JSON- and msgpack-able form, for the shell's event
log: the core is event-sourced, and replaying the log rebuilds it exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from market_contracts.rules import TaskKind

#: Fields held as bytes, written as 0x-hex in records.
BYTES32_FIELDS = ("randomness", "seed", "statement")


@dataclass(frozen=True)
class BlockCommitted:
    """`Rollup.BlockCommitted` once its randomness is recorded (market-spec.md, "Randomness and
    the roster of a block"): sent when `Rollup.randomness(n)` is known, not at the commit."""

    l2_block: int
    #: `Rollup.randomness(n)`; pinned per block number, so a recommit after a revert has the
    #: same randomness (and roster) as the block it replaces
    randomness: bytes
    #: `Rollup.drawBlocks(n)[0]`: the roster is the last snapshot taken at or before it
    roster_block: int
    #: `Rollup.statement(n)`: what tells a recommitted block from the one it replaces
    statement: bytes
    #: (address, weight): the entries of the block's roster snapshot, in snapshot order (the
    #: order decides the draw); empty when the block has no snapshot (market-spec.md, "Roster
    #: snapshots")
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
    #: the seed of the task as `Assign` (or `Open`) gave it
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
        if field.name in BYTES32_FIELDS:
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
        if field.name in BYTES32_FIELDS:
            value = bytes.fromhex(value.removeprefix("0x"))
        elif field.name == "roster":
            value = tuple((address, int(w)) for address, w in value)
        elif field.name == "kind":
            value = TaskKind(value)
        values[field.name] = value
    return cls(**values)
