"""Checking an `AuditRecord` against public data, as `provernet audit` does: anyone who reads the
randomness the Rollup stored and the roster at the L1 block of the commit can recompute every
seed and draw the coordinator made, with the reference `rules.select` (not the core's fast path).
"""

from __future__ import annotations

from collections.abc import Sequence

from coordinator.commands import AuditRecord, AuditRound
from coordinator.roster import prepare_roster
from market_contracts.rules import MarketParams, Outcome, TaskKind, batch_seed, block_seed, select


def audit_mismatches(record: AuditRecord, randomness: bytes, roster: Sequence[tuple[str, int]],
                     params: MarketParams, chain_id: int, rollup: str) -> list[str]:
    """What in `record` differs from a recomputation; empty if it was drawn by the rules.

    `randomness` is what the Rollup stored for the block (for a batch: its last block), and
    `roster` what `rosterPage` returned at `record.l1_block`.
    """
    problems = []
    if record.randomness != randomness:
        problems.append(f"randomness {record.randomness.hex()} is not L1's {randomness.hex()}")
    if record.roster_hash != prepare_roster(roster).hash:
        problems.append("the roster hash is not that of the roster at "
                        f"L1 block {record.l1_block}")
    seed_of = block_seed if record.kind is TaskKind.BLOCK else batch_seed
    m = params.m if record.kind is TaskKind.BLOCK else 1
    drawn: list[str] = []
    for number, rnd in enumerate(record.rounds):
        where = f"{record.kind.name.lower()} {record.index} round {number}"
        seed = seed_of(chain_id, rollup, record.index, number, randomness)
        if rnd.round != number or rnd.seed != seed:
            problems.append(f"{where}: seed {rnd.seed.hex()} should be {seed.hex()}")
        if list(rnd.excluded) != drawn:
            problems.append(f"{where}: excluded {list(rnd.excluded)}, should be {drawn}")
        expected = select(seed, roster, m, drawn)
        if list(rnd.selected) != expected:
            problems.append(f"{where}: selected {list(rnd.selected)}, should be {expected}")
        drawn.extend(expected)
    if record.stalled:
        number = len(record.rounds)
        left = select(seed_of(chain_id, rollup, record.index, number, randomness), roster, m, drawn)
        if left:
            problems.append(f"{record.kind.name.lower()} {record.index} reported stalled at "
                            f"round {number}, but {left} could be drawn")
    return problems


def audit_record_to_json(record: AuditRecord) -> dict:
    """The published form of a record (one JSON line each in the coordinator's audit log)."""
    return {
        "kind": record.kind.name.lower(),
        "index": record.index,
        "randomness": "0x" + record.randomness.hex(),
        "l1_block": record.l1_block,
        "roster_hash": "0x" + record.roster_hash.hex(),
        "rounds": [{
            "round": r.round,
            "seed": "0x" + r.seed.hex(),
            "excluded": list(r.excluded),
            "selected": list(r.selected),
            "outcomes": [None if o is None else o.name.lower() for o in r.outcomes],
        } for r in record.rounds],
        "prover": record.prover,
        "stalled": record.stalled,
    }


def audit_record_from_json(data: dict) -> AuditRecord:
    """The inverse of `audit_record_to_json`; a malformed record raises KeyError or ValueError."""
    return AuditRecord(
        kind=TaskKind[data["kind"].upper()],
        index=int(data["index"]),
        randomness=bytes.fromhex(data["randomness"].removeprefix("0x")),
        l1_block=int(data["l1_block"]),
        roster_hash=bytes.fromhex(data["roster_hash"].removeprefix("0x")),
        rounds=tuple(AuditRound(
            round=int(r["round"]),
            seed=bytes.fromhex(r["seed"].removeprefix("0x")),
            excluded=tuple(r["excluded"]),
            selected=tuple(r["selected"]),
            outcomes=tuple(None if o is None else Outcome[o.upper()] for o in r["outcomes"]),
        ) for r in data["rounds"]),
        prover=data["prover"],
        stalled=bool(data["stalled"]),
    )
