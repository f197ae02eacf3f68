"""Recomputation from public data: every AuditRecord of a run passes `audit_mismatches` and every
settled record is explained by a draw (`unexplained_settlements`), while doctored records and
invented settlements are named, side by side with the honest ones."""

from __future__ import annotations

import dataclasses

import pytest
from coordinator_harness import AGG, BLOCK, CHAIN_ID, PARAMS, ROLLUP, mixed_market, roster

from coordinator.audit import (
    InvalidAuditRecord,
    PublicTask,
    audit_mismatches,
    audit_record_from_json,
    audit_record_to_json,
    draw_size,
    snapshot_roster,
    task_seed,
    unexplained_settlements,
)
from coordinator.commands import AuditRecord, Settle
from coordinator.events import BlockCommitted
from market_contracts.ledger import Ledger, OutcomeReport
from market_contracts.rules import Outcome, TaskKind, draw_slots, last_block_of

OUTSIDER = "0x" + "ee" * 20


def public_tasks(market) -> dict[tuple[TaskKind, int], PublicTask]:
    """What an auditor reads from L1 for each audited task: the randomness and roster pinned for
    its block (a batch: its last block) and the prover L1 names: a block's is the one its batch
    named (the harness finalizes with the coordinator's prover); L1 names none for a batch."""
    commits = {e.l2_block: e for e in market.events if isinstance(e, BlockCommitted)}
    tasks = {}
    for record in records_of(market):
        block = record.index if record.kind is BLOCK else last_block_of(record.index, PARAMS.k)
        commit: BlockCommitted = commits[block]
        tasks[(record.kind, record.index)] = PublicTask(
            commit.randomness, commit.roster_block, commit.roster,
            record.prover if record.kind is BLOCK else None)
    return tasks


def records_of(market) -> list[AuditRecord]:
    return [c for c in market.commands if isinstance(c, AuditRecord)]


def settled_of(market) -> list[OutcomeReport]:
    return [o for c in market.commands if isinstance(c, Settle) for o in c.outcomes]


def check(record: AuditRecord, tasks) -> list[str]:
    return audit_mismatches(record, tasks[(record.kind, record.index)], PARAMS, CHAIN_ID, ROLLUP)


@pytest.fixture(scope="module", params=[0, 2, 3])
def market(request):
    return mixed_market(seed=request.param)


@pytest.fixture(scope="module")
def run():
    """One run, with an opened block, for the tamperings below."""
    market = mixed_market(seed=0)
    return records_of(market), public_tasks(market), settled_of(market)


def test_every_audit_record_of_a_run_passes_and_round_trips_through_json(market):
    records, tasks = records_of(market), public_tasks(market)
    assert {r.kind for r in records} == {BLOCK, AGG}
    assert any(r.opened for r in records)
    for record in records:
        assert check(record, tasks) == [], record
        assert audit_record_from_json(audit_record_to_json(record)) == record


def test_every_settled_record_of_a_run_is_explained_by_a_draw(market):
    settled = settled_of(market)
    assert {o.kind for o in settled} == {BLOCK, AGG}
    assert any(o.round == PARAMS.r_open for o in settled), "no open-round settlement to check"
    assert unexplained_settlements(settled, public_tasks(market), PARAMS, CHAIN_ID, ROLLUP) == []


def _opened(records) -> AuditRecord:
    return next(r for r in records if r.opened and r.kind is BLOCK)


def _swap_round(record: AuditRecord, number: int, **changes) -> AuditRecord:
    rounds = list(record.rounds)
    rounds[number] = dataclasses.replace(rounds[number], **changes)
    return dataclasses.replace(record, rounds=tuple(rounds))


# (name, tampering of the opened block's record, words the problem must contain)
TAMPERINGS = [
    ("holders reordered", lambda r: _swap_round(r, 0, holders=r.rounds[0].holders[::-1]),
     "round 0: holders"),
    ("a holder replaced", lambda r: _swap_round(r, 1, holders=(OUTSIDER, *r.rounds[1].holders[1:])),
     "round 1: holders"),
    ("a seed changed", lambda r: _swap_round(r, 0, seed=b"\x01" * 32), "round 0: seed"),
    ("an outcome for a roller that held no slot",
     lambda r: _swap_round(r, 0, outcomes=((OUTSIDER, 1, Outcome.ON_TIME),
                                           *r.rounds[0].outcomes[1:])), "round 0: outcomes"),
    ("two slots claimed for one",
     lambda r: _swap_round(r, 0, outcomes=tuple((a, 2, o) for a, _, o in r.rounds[0].outcomes)),
     "round 0: outcomes"),
    ("holders in the open round",
     lambda r: _swap_round(r, PARAMS.r_open, holders=r.rounds[0].holders),
     "open round has holders"),
    ("two rescues in the open round",
     lambda r: _swap_round(r, PARAMS.r_open, outcomes=(
         *r.rounds[PARAMS.r_open].outcomes, (OUTSIDER, 1, Outcome.ON_TIME))),
     "more than one rescue"),
    ("a late rescue", lambda r: _swap_round(r, PARAMS.r_open, outcomes=tuple(
        (a, 1, Outcome.LATE) for a, _, _ in r.rounds[PARAMS.r_open].outcomes)), "no deadline"),
    ("a round beyond R_OPEN",
     lambda r: dataclasses.replace(r, rounds=(*r.rounds, dataclasses.replace(
         r.rounds[-1], round=PARAMS.r_open + 1))), "beyond R_OPEN"),
    ("a drawn round left out",
     lambda r: dataclasses.replace(r, rounds=(r.rounds[0], *r.rounds[2:])), "count up from 0"),
    ("opened flag cleared", lambda r: dataclasses.replace(r, opened=False), "reach R_OPEN"),
    ("prover without a valid proof", lambda r: dataclasses.replace(r, prover=OUTSIDER),
     "has no valid proof"),
    ("prover withheld", lambda r: dataclasses.replace(r, prover=None), "no prover"),
    ("randomness changed", lambda r: dataclasses.replace(r, randomness=b"\x02" * 32),
     "randomness"),
    ("roster block changed", lambda r: dataclasses.replace(r, roster_block=r.roster_block + 1),
     "roster block"),
    ("roster hash changed", lambda r: dataclasses.replace(r, roster_hash=b"\x03" * 32),
     "roster hash"),
]


@pytest.mark.parametrize(("tamper", "named"), [pytest.param(t, n, id=i) for i, t, n in TAMPERINGS])
def test_a_doctored_record_fails_beside_the_honest_one(run, tamper, named):
    records, tasks, _ = run
    honest = _opened(records)
    assert check(honest, tasks) == []
    problems = check(tamper(honest), tasks)
    assert any(named in p for p in problems), problems


def test_a_record_drawn_from_another_roster_fails(run):
    records, tasks, _ = run
    record = _opened(records)
    task = tasks[(record.kind, record.index)]
    smaller = dataclasses.replace(task, roster=task.roster[:3])
    problems = audit_mismatches(record, smaller, PARAMS, CHAIN_ID, ROLLUP)
    assert any("roster hash" in p for p in problems)
    assert any("holders" in p for p in problems)


def _drawn(task: PublicTask, kind: TaskKind, index: int, round_: int) -> list[str]:
    seed = task_seed(kind, index, round_, task.randomness, CHAIN_ID, ROLLUP)
    return draw_slots(seed, task.roster, draw_size(kind, PARAMS))


def test_invented_settlements_are_named_beside_honest_ones(run):
    records, tasks, settled = run
    honest = next(o for o in settled if o.kind is BLOCK and o.round < PARAMS.r_open)
    task = tasks[(honest.kind, honest.task)]
    holders = _drawn(task, honest.kind, honest.task, honest.round)
    not_held = next(a for a, w in task.roster if a not in holders and w > 0)
    opened = next(o for o in settled if o.round == PARAMS.r_open and o.kind is BLOCK)
    aggregated = next(o for o in settled if o.kind is AGG)
    rescuer = next(a for a, _ in task.roster if a != opened.roller)
    cases = [
        (honest, None),
        (dataclasses.replace(honest, roller=not_held), "did not hold a slot"),
        (dataclasses.replace(honest, slots=honest.slots + 1), "held 1 slot(s)"),
        (dataclasses.replace(honest, round=PARAMS.r_open + 1), "beyond the last round"),
        (dataclasses.replace(honest, task=10_000), "no recorded randomness"),
        (opened, None),
        (dataclasses.replace(opened, roller=rescuer), "L1 names"),
        (dataclasses.replace(opened, slots=2), "one slot"),
        # L1 names no aggregator, so an aggregation's open round is never settled.
        (dataclasses.replace(aggregated, round=PARAMS.r_open), "beyond the last round"),
    ]
    for record, named in cases:
        problems = unexplained_settlements([record], tasks, PARAMS, CHAIN_ID, ROLLUP)
        if named is None:
            assert problems == []
        else:
            assert len(problems) == 1 and named in problems[0], (record, problems)
            assert record.roller in problems[0]


def test_a_roller_drawn_twice_is_settled_for_both_slots(run):
    records, tasks, _ = run
    # Look for a round where one roller holds both slots; the record must say 2, not 1.
    for (kind, index), task in tasks.items():
        if kind is not BLOCK:
            continue
        for round_ in range(PARAMS.r_open):
            holders = _drawn(task, kind, index, round_)
            if len(set(holders)) == 1:
                twice = OutcomeReport(holders[0], kind, index, round_, 2, Outcome.ON_TIME)
                once = dataclasses.replace(twice, slots=1)
                assert unexplained_settlements([twice], tasks, PARAMS, CHAIN_ID, ROLLUP) == []
                assert unexplained_settlements([once], tasks, PARAMS, CHAIN_ID, ROLLUP) != []
                return
    pytest.fail("no round of this run draws a roller twice; pick another run")


@pytest.mark.parametrize(("change", "named"), [
    (lambda d: d.pop("rounds"), "missing field 'rounds'"),
    (lambda d: d.update(index="3"), "field 'index' must be a JSON int"),
    (lambda d: d.update(opened=1), "field 'opened' must be a JSON bool"),
    (lambda d: d.update(randomness="0x12"), "randomness must be 32 bytes"),
    (lambda d: d.update(kind="blob"), "BLOB"),
    (lambda d: d["rounds"][0].update(holders=["0xnope"]), "0xnope"),
    (lambda d: d["rounds"][0].update(outcomes=[["0x" + "11" * 20, 1]]), "an outcome is"),
    (lambda d: d["rounds"][0]["outcomes"][0].__setitem__(2, "tardy"), "TARDY"),
])
def test_a_malformed_log_line_is_named(run, change, named):
    records, _, _ = run
    data = audit_record_to_json(_opened(records))
    change(data)
    with pytest.raises(InvalidAuditRecord) as exc:
        audit_record_from_json(data)
    assert named in str(exc.value) and "\n" not in str(exc.value)


def test_a_task_draws_from_its_blocks_roster_snapshot_and_no_other():
    # Two snapshots of different rosters, taken in L1 blocks 10 and 20 (at 1000 s and 1100 s).
    ledger = Ledger(PARAMS)
    first, second = roster(2), roster(3)
    for address, w in second:
        ledger.mint(address, w // PARAMS.rep_init)
    for address, w in first:
        ledger.stake(address, w // PARAMS.rep_init)
    ledger.take_snapshot(10, 1_000)
    ledger.stake(second[2][0], second[2][1] // PARAMS.rep_init)
    ledger.take_snapshot(20, 1_100)
    snapshots = ledger.snapshots
    age = PARAMS.snapshot_max_age
    for roster_block, draw_time, expected in [
        (9, 1_000, []),  # before the first snapshot: no roster, nothing drawn
        (10, 1_005, list(first)),  # taken exactly at the roster block
        (19, 1_000 + age, list(first)),  # at SNAPSHOT_MAX_AGE, and the later one not yet taken
        (19, 1_000 + age + 1, []),  # one second older: no roster
        (20, 1_105, list(second)),
    ]:
        assert snapshot_roster(snapshots, roster_block, draw_time, PARAMS) == expected, (
            roster_block, draw_time)
