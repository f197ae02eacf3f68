"""Recomputation from public data: every Assign is what `rules.select` gives for the seed of the
block's (or batch's) randomness and round, the roster read at the commit, and the exclusions of
earlier rounds; and every AuditRecord passes `audit_mismatches`, while doctored ones do not."""

from __future__ import annotations

import dataclasses

import pytest
from coordinator_harness import (
    AGG,
    BLOCK,
    CHAIN_ID,
    PARAMS,
    ROLLUP,
    WINDOW,
    T,
    commit,
    mixed_market,
    new_core,
    of,
    roster,
)

from coordinator.audit import audit_mismatches
from coordinator.commands import Assign, AuditRecord
from coordinator.events import BlockCommitted, BlocksReverted, ProofReceived, Tick
from market_contracts.rules import batch_seed, block_seed, select


def public_data(market):
    """Walk the run as an auditor reading L1 would: for each command, the randomness and roster
    of the block commits standing when it was made."""
    standing: dict[int, BlockCommitted] = {}
    by_event: dict[int, list] = {}
    for c in market.commands:
        by_event.setdefault(c.key[0], []).append(c)
    for i, event in enumerate(market.events):
        if isinstance(event, BlockCommitted):
            standing[event.l2_block] = event
        elif isinstance(event, BlocksReverted):
            standing = {n: e for n, e in standing.items() if n < event.from_block}
        for c in by_event.get(i, []):
            yield c, dict(standing)


def commit_of(kind, index, standing) -> BlockCommitted:
    return standing[index if kind is BLOCK else (index + 1) * PARAMS.k]


@pytest.fixture(scope="module", params=[0, 2, 3])
def market(request):
    return mixed_market(seed=request.param)


def test_every_assign_matches_rules_select_recomputed_independently(market):
    drawn: dict[tuple, list[str]] = {}
    groups: dict[tuple, list[Assign]] = {}
    standing_at: dict[tuple, dict] = {}
    for c, standing in public_data(market):
        if isinstance(c, Assign):
            groups.setdefault((c.key[0], c.kind, c.index, c.round), []).append(c)
            standing_at[(c.key[0], c.kind, c.index, c.round)] = standing
    assert len(groups) > 20
    for group, assigns in groups.items():
        _, kind, index, rnd = group
        source = commit_of(kind, index, standing_at[group])
        seed_of, m = (block_seed, PARAMS.m) if kind is BLOCK else (batch_seed, 1)
        seed = seed_of(CHAIN_ID, ROLLUP, index, rnd, source.randomness)
        if rnd == 0:
            drawn[(kind, index)] = []  # a first round, or the first of a recommitted block
        expected = select(seed, list(source.roster), m, drawn[(kind, index)])
        assert [a.roller for a in assigns] == expected
        assert {a.seed for a in assigns} == {seed}
        drawn[(kind, index)] += expected


def test_every_audit_record_passes_the_audit(market):
    records = [(c, standing) for c, standing in public_data(market) if isinstance(c, AuditRecord)]
    assert {r.kind for r, _ in records} == {BLOCK, AGG}
    for record, standing in records:
        source = commit_of(record.kind, record.index, standing)
        assert record.l1_block == source.l1_block
        assert audit_mismatches(record, source.randomness, source.roster, PARAMS, CHAIN_ID,
                                ROLLUP) == []


def test_doctored_records_fail_the_audit():
    core = new_core()
    rollers = roster(5)
    core.handle(commit(1, 0, rollers))
    (a, _) = of(core.handle(Tick(T)), Assign)  # round 1, excluding round 0
    core.handle(ProofReceived(BLOCK, 1, 1, a.seed, a.roller, True, "p", T + 1))
    (record,) = of(core.handle(Tick(T + WINDOW)), AuditRecord)
    source = commit(1, 0, rollers)

    def check(r, roster_=rollers):
        return audit_mismatches(r, source.randomness, roster_, PARAMS, CHAIN_ID, ROLLUP)

    assert check(record) == []
    first = record.rounds[0]
    swapped = dataclasses.replace(first, selected=first.selected[::-1])
    assert any("selected" in p for p in check(dataclasses.replace(
        record, rounds=(swapped, *record.rounds[1:]))))
    reseeded = dataclasses.replace(first, seed=b"\x01" * 32)
    assert any("seed" in p for p in check(dataclasses.replace(
        record, rounds=(reseeded, *record.rounds[1:]))))
    unexcluded = dataclasses.replace(record.rounds[1], excluded=())
    assert any("excluded" in p for p in check(dataclasses.replace(
        record, rounds=(first, unexcluded))))
    assert any("roster" in p for p in check(record, rollers[:4]))
    assert any("stalled" in p for p in check(dataclasses.replace(record, stalled=True)))
    assert any("randomness" in p for p in check(dataclasses.replace(
        record, randomness=b"\x02" * 32)))
