"""Properties over random markets and random interleavings of the rollers' answers: with one
honest roller staked every block is finalized (drawn, or rescued once open), each batch settles
once, every assignment with a settleable outcome settles once in a form the spec's settlement
checks and the contract's model accept, lottery draws name exactly the settled on-time block
records, and a replay of the events (from the start or from a snapshot) reproduces the run."""

from __future__ import annotations

import random
from collections import Counter

from coordinator_harness import (
    CHAIN_ID,
    CHEAT,
    DECLINER,
    HONEST,
    LATE,
    LAZY,
    PARAMS,
    QUITTER,
    ROLLUP,
    STAKE,
    Behaviour,
    Market,
    S,
    commit,
    ledger_for,
    of,
    roster,
    settle_on,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from coordinator.commands import AuditRecord, DrawLottery, Finalize, Settle, Slash
from coordinator.core import CoordinatorCore
from coordinator.events import BlockCommitted
from coordinator.views import ProvingStatus
from market_contracts.ledger import lottery_entries, max_slots
from market_contracts.rules import Outcome, RewardMode, TaskKind, batch_of

behaviours = st.sampled_from([HONEST, LAZY, DECLINER, CHEAT, QUITTER, LATE])


@st.composite
def markets(draw) -> Market:
    others = draw(st.lists(behaviours, min_size=1, max_size=6))
    honest = Behaviour(delay=draw(st.integers(0, 20 * S)), rescue=draw(st.integers(0, 20 * S)))
    cast = draw(st.permutations([honest, *others]))
    # A zero weight cannot be drawn: with few rollers some rounds are empty and tasks open.
    rollers = roster(len(cast),
                     [STAKE * draw(st.integers(0, 20)) * PARAMS.rep_init for _ in cast])
    params = PARAMS.replace(reward_mode=draw(st.sampled_from(RewardMode)))
    market = Market(CoordinatorCore(params, CHAIN_ID, ROLLUP),
                    {r: b for (r, _), b in zip(rollers, cast)},
                    random.Random(draw(st.integers(0, 2**32))), jitter=draw(st.integers(0, 5 * S)))
    at = 0
    for n in range(1, PARAMS.k * draw(st.integers(1, 4)) + 1):
        at += draw(st.integers(0, 40 * S))
        market.schedule(commit(n, at, rollers))
    return market


@settings(max_examples=150, deadline=None)
@given(markets())
def test_with_one_honest_roller_every_block_is_finalized_and_settled_once(market):
    market.run()
    core, commands = market.core, market.commands
    blocks = core.last_committed
    batches = blocks // PARAMS.k
    assert core.last_finalized == blocks
    assert [core.block_status(n) for n in range(1, blocks + 1)] == [ProvingStatus.SETTLED] * blocks
    assert [f.batch for f in of(commands, Finalize)] == list(range(batches))
    settles = of(commands, Settle)
    assert sorted(s.batch for s in settles) == list(range(batches))

    # The spec's settlement checks: strictly sorted, in the batch, no invalid, and a round's
    # slots at most M (one for an aggregation or the open round).
    for s in settles:
        keys = [o.sort_key() for o in s.outcomes]
        assert keys == sorted(set(keys))
        slots = Counter()
        for o in s.outcomes:
            assert o.outcome is not Outcome.INVALID
            task_batch = batch_of(o.task, PARAMS.k) if o.kind is TaskKind.BLOCK else o.task
            assert task_batch == s.batch and 0 <= o.round <= PARAMS.r_open
            slots[o.kind, o.task, o.round] += o.slots
        assert all(1 <= n <= max_slots(kind, round_, PARAMS)
                   for (kind, _, round_), n in slots.items())
    # Every assignment with an outcome settles once; the contract's model accepts it all.
    reports = [o for s in settles for o in s.outcomes]
    assert len({(o.kind, o.task, o.round, o.roller) for o in reports}) == len(reports)
    rollers = next(e.roster for e in market.events if isinstance(e, BlockCommitted))
    settle_on(ledger_for(rollers, core.params), commands)

    # In lottery mode each settled batch with on-time block records is drawn once, with them.
    lottery = core.params.reward_mode is RewardMode.LOTTERY
    expected = {s.batch: tuple(lottery_entries(s.outcomes)) for s in settles} if lottery else {}
    assert {d.batch: d.entries for d in of(commands, DrawLottery)} == {
        b: entries for b, entries in expected.items() if entries}
    assert len(of(commands, DrawLottery)) == len({d.batch for d in of(commands, DrawLottery)})

    # What was settled is what the core counted, but for an aggregation's rescue (counted, never
    # settled: rules.max_settled_round); an invalid outcome went out as a Slash only.
    counted = core.all_roller_counts()
    per_roller = Counter((o.roller, o.outcome) for o in reports)
    per_roller.update((roller, outcome) for record in of(commands, AuditRecord)
                      if record.kind is TaskKind.AGGREGATION for rnd in record.rounds
                      if rnd.round == PARAMS.r_open for roller, _, outcome in rnd.outcomes
                      if outcome is not Outcome.INVALID)
    slashed = Counter(s.roller for s in of(commands, Slash))
    for roller, c in counted.items():
        assert (c.on_time, c.late, c.missed) == tuple(
            per_roller[(roller, outcome)] for outcome in (Outcome.ON_TIME, Outcome.LATE,
                                                          Outcome.MISSED))
        assert c.invalid == slashed[roller]
        assert c.assigned == c.declined + c.on_time + c.late + c.missed + c.invalid
    assert core.in_flight() == () and core.open_tasks() == () and core.next_wakeup() is None


@settings(max_examples=50, deadline=None)
@given(markets(), st.floats(0, 1))
def test_replay_from_a_snapshot_anywhere_reproduces_the_run(market, where):
    market.run()
    cut = int(where * len(market.events))
    first = CoordinatorCore(market.core.params, CHAIN_ID, ROLLUP)
    for event in market.events[:cut]:
        first.handle(event)
    restored = CoordinatorCore.from_snapshot(first.snapshot())
    rest = [c for e in market.events[cut:] for c in restored.handle(e)]
    assert rest == [c for c in market.commands if c.key[0] >= cut]
    assert restored.snapshot() == market.core.snapshot()
