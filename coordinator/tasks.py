"""The decision core's record of a task (a block to prove, or a batch to aggregate): its rounds,
each round's assignments, and what came of them. Mutable, and private to the core; the snapshot
form (`task_to_json` / `task_from_json`) holds plain types only."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from coordinator.commands import BlockProof
from coordinator.roster import Roster
from market_contracts.rules import Outcome, TaskKind


@dataclass(slots=True)
class Assignment:
    #: slots held in the round (1 for a proof taken in the open round)
    slots: int
    accepted: bool = False
    #: declined before accepting: no fault and no outcome
    declined: bool = False
    outcome: Outcome | None = None

    @property
    def decided(self) -> bool:
        return self.declined or self.outcome is not None


@dataclass(slots=True)
class Round:
    number: int
    seed: bytes
    #: when it was drawn, or opened
    assigned_at: int
    #: None for the open round: it has no deadline and no window
    deadline: int | None
    close_at: int | None
    #: the slots' holders in slot order; () for the open round or a roster without candidates
    holders: tuple[str, ...]
    #: roller -> assignment, in order of first slot (the open round: of proof taken)
    assignments: dict[str, Assignment]

    @property
    def open(self) -> bool:
        return self.deadline is None

    @property
    def decided(self) -> bool:
        return all(a.decided for a in self.assignments.values())


@dataclass(slots=True)
class Task:
    kind: TaskKind
    index: int
    #: unique over the core's life: a timer names the task it was set for, so that one set for a
    #: reverted block cannot act on the block committed again under the same number
    serial: int
    randomness: bytes
    roster_block: int
    #: what the rollers sign: `Rollup.statement(n)`, or `Rollup.batchStatement(b)`
    statement: bytes
    roster: Roster
    #: for an aggregation, the block proofs it aggregates; empty for a block
    proofs: tuple[BlockProof, ...]
    rounds: list[Round] = field(default_factory=list)
    #: (roller, ref) of the first valid proof: the one that counts for the task
    first_valid: tuple[str, str] | None = None
    #: its batch was finalized on L1, so the task needs no more rounds
    finalized: bool = False
    #: its AuditRecord has been emitted
    audited: bool = False

    @property
    def final(self) -> bool:
        """No further round will be drawn, nor proof taken in the open round."""
        return self.first_valid is not None or self.finalized

    @property
    def opened(self) -> bool:
        return bool(self.rounds) and self.rounds[-1].open

    @property
    def decided(self) -> bool:
        return all(r.decided for r in self.rounds)


def task_to_json(task: Task) -> dict:
    return {
        "kind": int(task.kind),
        "index": task.index,
        "serial": task.serial,
        "randomness": task.randomness.hex(),
        "roster_block": task.roster_block,
        "statement": task.statement.hex(),
        "roster": task.roster.hash.hex(),
        "proofs": [[p.block, p.roller, p.ref] for p in task.proofs],
        "rounds": [
            {"number": r.number, "seed": r.seed.hex(), "assigned_at": r.assigned_at,
             "deadline": r.deadline, "close_at": r.close_at, "holders": list(r.holders),
             "assignments": [[roller, a.slots, a.accepted, a.declined,
                              None if a.outcome is None else int(a.outcome)]
                             for roller, a in r.assignments.items()]}
            for r in task.rounds
        ],
        "first_valid": None if task.first_valid is None else list(task.first_valid),
        "finalized": task.finalized,
        "audited": task.audited,
    }


def task_from_json(data: dict, rosters: Mapping[str, Roster]) -> Task:
    rounds = [
        Round(r["number"], bytes.fromhex(r["seed"]), r["assigned_at"], r["deadline"],
              r["close_at"], tuple(r["holders"]),
              {roller: Assignment(slots, accepted, declined,
                                  None if outcome is None else Outcome(outcome))
               for roller, slots, accepted, declined, outcome in r["assignments"]})
        for r in data["rounds"]
    ]
    return Task(
        TaskKind(data["kind"]), data["index"], data["serial"], bytes.fromhex(data["randomness"]),
        data["roster_block"], bytes.fromhex(data["statement"]), rosters[data["roster"]],
        tuple(BlockProof(block, roller, ref) for block, roller, ref in data["proofs"]),
        rounds, None if data["first_valid"] is None else tuple(data["first_valid"]),
        data["finalized"], data["audited"],
    )
