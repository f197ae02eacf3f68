"""Checking a coordinator against public data, as `provernet audit assignments` does.

Anyone who reads a block's recorded randomness and its roster snapshot (both on L1: the snapshot
is the last taken at or before the block's `rosterBlock`, if no older than SNAPSHOT_MAX_AGE at its
first commit) can recompute every seed and slot the coordinator drew, with the reference
`rules.draw_slots` (not the core's fast path, so that the audit does not share the code it
checks). Two things are checked: an `AuditRecord` from the coordinator's log
(`audit_mismatches`), and the records the contract settled (`unexplained_settlements`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from coordinator.commands import AuditRecord, AuditRound
from coordinator.roster import prepare_roster
from market_contracts import rules
from market_contracts.ledger import OutcomeReport
from market_contracts.rollup import Rollup
from market_contracts.rules import MarketParams, Outcome, TaskKind

#: Outcomes that mean the roller delivered a valid proof.
DELIVERED = (Outcome.ON_TIME, Outcome.LATE)


class InvalidAuditRecord(ValueError):
    """A line of an audit log that is not an audit record."""


@dataclass(frozen=True)
class PublicTask:
    """What L1 says about one task's draws: the randomness recorded for the block (a batch: its
    last block), that block's `rosterBlock`, its roster (the entries of its roster snapshot as
    (roller, weight), in snapshot order; empty when no snapshot qualifies), and the roller L1
    names as the task's prover, the only roller an open-round record can be for. A block's
    prover is the one its finalizing batch named; L1 names none for a batch (anyone may send the
    aggregate), so an open aggregation record is checked for its slot count only."""

    randomness: bytes
    roster_block: int
    roster: Sequence[tuple[str, int]]
    prover: str | None


class Snapshot(Protocol):
    """A roster snapshot as read from L1 (`bindings.RosterSnapshot`)."""

    l1_block: int
    timestamp: int
    entries: Sequence[rules.RosterEntry]


def snapshot_roster(snapshots: Sequence[Snapshot], roster_block: int, draw_time: int,
                    params: MarketParams) -> list[tuple[str, int]]:
    """The roster a block drew from (`drawBlocks` gives its roster block and draw time): the
    entries of its roster snapshot among `snapshots` (every one taken, in order), by the rule
    `rules.roster_snapshot_for`; empty when none qualifies, so its drawn rounds have no
    slots."""
    chosen = rules.roster_snapshot_for([(s.l1_block, s.timestamp) for s in snapshots],
                                       roster_block, draw_time, params.snapshot_max_age)
    if chosen is None:
        return []
    return [(entry.roller, entry.weight) for entry in snapshots[chosen].entries]


def public_task(rollup: Rollup, snapshots: Sequence[Snapshot], params: MarketParams,
                kind: TaskKind, index: int) -> PublicTask | None:
    """What L1 holds for a task's draws, read from `rollup` (`snapshots`: every roster snapshot
    taken, in order); None until its randomness is recorded. A batch draws with its last block's
    randomness and roster snapshot; L1 names no aggregator for it."""
    block = index if kind is TaskKind.BLOCK else rules.last_block_of(index, params.k)
    randomness = rollup.randomness(block)
    if randomness is None:
        return None
    roster_block, _, draw_time = rollup.draw_blocks(block)
    prover = rollup.block(block).prover if kind is TaskKind.BLOCK else None
    return PublicTask(randomness, roster_block,
                      snapshot_roster(snapshots, roster_block, draw_time, params), prover)


def task_seed(kind: TaskKind, index: int, round_: int, randomness: bytes, chain_id: int,
              rollup: str) -> bytes:
    seed_of = rules.block_seed if kind is TaskKind.BLOCK else rules.batch_seed
    return seed_of(chain_id, rollup, index, round_, randomness)


def draw_size(kind: TaskKind, params: MarketParams) -> int:
    """Slots per drawn round: M for a block, 1 for an aggregation."""
    return params.m if kind is TaskKind.BLOCK else 1


def _name(kind: TaskKind, index: int) -> str:
    return f"{kind.name.lower()} {index}"


def audit_mismatches(record: AuditRecord, task: PublicTask, params: MarketParams, chain_id: int,
                     rollup: str) -> list[str]:
    """What in `record` differs from a recomputation from `task` (read from L1); empty if every
    round was drawn by the rules."""
    where = _name(record.kind, record.index)
    problems = []
    if record.randomness != task.randomness:
        problems.append(f"{where}: randomness 0x{record.randomness.hex()} is not L1's "
                        f"0x{task.randomness.hex()}")
    if record.roster_block != task.roster_block:
        problems.append(f"{where}: roster block {record.roster_block} is not L1's "
                        f"{task.roster_block}")
    if record.roster_hash != prepare_roster(task.roster).hash:
        problems.append(f"{where}: the roster hash is not that of its roster snapshot (roster "
                        f"block {task.roster_block})")
    numbers = [rnd.round for rnd in record.rounds]
    if numbers != list(range(len(numbers))):
        problems.append(f"{where}: rounds {numbers} do not count up from 0")
    for rnd in record.rounds:
        problems += _round_mismatches(record, rnd, task, params, chain_id, rollup)
    opened = any(rules.is_open_round(rnd.round, params) for rnd in record.rounds)
    if record.opened != opened:
        problems.append(f"{where}: marked {'' if record.opened else 'not '}opened, but its "
                        f"rounds {'do not reach' if record.opened else 'reach'} R_OPEN "
                        f"({params.r_open})")
    delivered = {roller for rnd in record.rounds for roller, _, outcome in rnd.outcomes
                 if outcome in DELIVERED}
    if record.prover is None and delivered:
        problems.append(f"{where}: no prover, but {sorted(delivered)} delivered a valid proof")
    if record.prover is not None and record.prover not in delivered:
        problems.append(f"{where}: prover {record.prover} has no valid proof in any round")
    return problems


def _round_mismatches(record: AuditRecord, rnd: AuditRound, task: PublicTask,
                      params: MarketParams, chain_id: int, rollup: str) -> list[str]:
    where = f"{_name(record.kind, record.index)} round {rnd.round}"
    if rnd.round > params.r_open:
        return [f"{where}: beyond R_OPEN ({params.r_open})"]
    problems = []
    seed = task_seed(record.kind, record.index, rnd.round, task.randomness, chain_id, rollup)
    if rnd.seed != seed:
        problems.append(f"{where}: seed 0x{rnd.seed.hex()} should be 0x{seed.hex()}")
    if rules.is_open_round(rnd.round, params):
        # Nobody holds the open round: each proof taken is one slot, and only the first valid
        # one has an outcome (on time: there is no deadline).
        if rnd.holders:
            problems.append(f"{where}: the open round has holders {list(rnd.holders)}")
        if any(slots != 1 for _, slots, _ in rnd.outcomes):
            problems.append(f"{where}: an open-round proof is one slot, got {list(rnd.outcomes)}")
        rescues = [roller for roller, _, outcome in rnd.outcomes if outcome is Outcome.ON_TIME]
        if len(rescues) > 1:
            problems.append(f"{where}: more than one rescue: {rescues}")
        if any(outcome in (Outcome.LATE, Outcome.MISSED) for _, _, outcome in rnd.outcomes):
            problems.append(f"{where}: the open round has no deadline to be late for or miss")
        return problems
    holders = rules.draw_slots(seed, task.roster, draw_size(record.kind, params))
    if list(rnd.holders) != holders:
        problems.append(f"{where}: holders {list(rnd.holders)}, should be {holders}")
    held = list(rules.slot_counts(holders).items())
    reported = [(roller, slots) for roller, slots, _ in rnd.outcomes]
    if reported != held:
        problems.append(f"{where}: outcomes for (roller, slots) {reported}, the draw gives "
                        f"{held}")
    return problems


def unexplained_settlements(settled: Iterable[OutcomeReport],
                            tasks: Mapping[tuple[TaskKind, int], PublicTask],
                            params: MarketParams, chain_id: int, rollup: str) -> list[str]:
    """One line per settled record that no draw explains: a roller settled for a round it did not
    hold, for other slots than it drew, for a round beyond `rules.max_settled_round` (an
    aggregation's open round included), or for a block's open round when L1 names another
    prover. `settle` refuses all of these itself (it checks each record's draw
    proof against the task's roster snapshot), so this is a second line of defence, recomputed
    from the snapshot events with the reference rules rather than trusted to the contract's own
    check. `tasks` holds what L1 says of every task named in `settled`."""
    problems = []
    for record in settled:
        kind = TaskKind(record.kind)
        outcome = Outcome(record.outcome).name.lower()
        where = (f"settled {_name(kind, record.task)} round {record.round} for "
                 f"{record.roller} ({record.slots} slot(s), {outcome})")
        last = rules.max_settled_round(kind, params)
        if record.round > last:
            problems.append(f"{where}: beyond the last round a settlement may name ({last})")
            continue
        task = tasks.get((kind, record.task))
        if task is None:
            problems.append(f"{where}: L1 has no recorded randomness for it, so nothing was drawn")
            continue
        if rules.is_open_round(record.round, params):
            if task.prover is not None and record.roller != task.prover:
                problems.append(f"{where}: the open round pays L1's prover only, and L1 names "
                                f"{task.prover}")
            elif record.slots != 1:
                problems.append(f"{where}: an open-round proof is one slot")
            continue
        seed = task_seed(kind, record.task, record.round, task.randomness, chain_id, rollup)
        held = rules.slot_counts(rules.draw_slots(seed, task.roster, draw_size(kind, params)))
        if record.roller not in held:
            problems.append(f"{where}: it did not hold a slot of that round")
        elif record.slots != held[record.roller]:
            problems.append(f"{where}: it held {held[record.roller]} slot(s) of that round")
    return problems


def audit_record_to_json(record: AuditRecord) -> dict:
    """The published form of a record (one JSON line each in the coordinator's audit log)."""
    return {
        "kind": record.kind.name.lower(),
        "index": record.index,
        "randomness": "0x" + record.randomness.hex(),
        "roster_block": record.roster_block,
        "roster_hash": "0x" + record.roster_hash.hex(),
        "rounds": [{
            "round": r.round,
            "seed": "0x" + r.seed.hex(),
            "holders": list(r.holders),
            "outcomes": [[roller, slots, None if outcome is None else outcome.name.lower()]
                         for roller, slots, outcome in r.outcomes],
        } for r in record.rounds],
        "prover": record.prover,
        "opened": record.opened,
    }


def audit_record_from_json(data: object) -> AuditRecord:
    """The inverse of `audit_record_to_json`; anything else raises InvalidAuditRecord naming what
    is wrong."""
    try:
        return AuditRecord(
            kind=TaskKind[_field(data, "kind", str).upper()],
            index=_field(data, "index", int),
            randomness=rules.parse_bytes32(_field(data, "randomness", str), "randomness"),
            roster_block=_field(data, "roster_block", int),
            roster_hash=rules.parse_bytes32(_field(data, "roster_hash", str), "roster_hash"),
            rounds=tuple(_round_from_json(r) for r in _field(data, "rounds", list)),
            prover=(None if data.get("prover") is None
                    else rules.parse_address(_field(data, "prover", str))),
            opened=_field(data, "opened", bool),
        )
    except KeyError as exc:
        raise InvalidAuditRecord(f"unknown name {exc}") from None
    except rules.RulesError as exc:
        raise InvalidAuditRecord(str(exc)) from None


def _round_from_json(data: object) -> AuditRound:
    return AuditRound(
        round=_field(data, "round", int),
        seed=rules.parse_bytes32(_field(data, "seed", str)),
        holders=tuple(rules.parse_address(h) for h in _field(data, "holders", list)),
        outcomes=tuple(_outcome_from_json(o) for o in _field(data, "outcomes", list)),
    )


def _outcome_from_json(data: object) -> tuple[str, int, Outcome | None]:
    if not (isinstance(data, list) and len(data) == 3 and isinstance(data[0], str)
            and type(data[1]) is int and (data[2] is None or isinstance(data[2], str))):
        raise InvalidAuditRecord(
            f"an outcome is [roller, slots, outcome name or null], got {data!r}")
    roller, slots, outcome = data
    return rules.parse_address(roller), slots, None if outcome is None else Outcome[outcome.upper()]


def _field(data: object, name: str, kind: type):
    if not isinstance(data, dict):
        raise InvalidAuditRecord(f"expected a JSON object, got {data!r}")
    if name not in data:
        raise InvalidAuditRecord(f"missing field {name!r}")
    value = data[name]
    # bool is an int in Python, and no field that wants a number means true or false.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise InvalidAuditRecord(f"field {name!r} must be a JSON {kind.__name__}, got {value!r}")
    return value
