"""Properties over random markets and random interleavings of the rollers' answers: with one
honest roller in the roster every block is finalized, each batch settles once, every assignment
with an outcome settles once in a form the contract's model accepts, and a replay of the events
(from the start or from a snapshot) reproduces the run."""

from __future__ import annotations

import random
from collections import Counter

from coordinator_harness import (
    CHEAT,
    COORDINATOR,
    DECLINER,
    HONEST,
    LATE,
    LAZY,
    PARAMS,
    QUITTER,
    STAKE,
    Behaviour,
    Market,
    S,
    commit,
    ledger_for,
    new_core,
    of,
    roster,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from coordinator.commands import Finalize, Settle, Slash
from coordinator.core import CoordinatorCore
from coordinator.views import BlockStatus
from market_contracts.rules import Outcome

behaviours = st.sampled_from([HONEST, LAZY, DECLINER, CHEAT, QUITTER, LATE])


@st.composite
def markets(draw) -> Market:
    others = draw(st.lists(behaviours, min_size=1, max_size=6))
    honest = Behaviour(delay=draw(st.integers(0, 20 * S)))
    cast = draw(st.permutations([honest, *others]))
    rollers = roster(len(cast), [STAKE * draw(st.integers(1, 20)) for _ in cast])
    market = Market(new_core(), {r: b for (r, _), b in zip(rollers, cast)},
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
    assert [core.block_status(n) for n in range(1, blocks + 1)] == [BlockStatus.SETTLED] * blocks
    assert [f.batch for f in of(commands, Finalize)] == list(range(batches))
    settles = of(commands, Settle)
    assert sorted(s.batch for s in settles) == list(range(batches))

    # Every assignment with an outcome settles once; the contract's model accepts it all.
    reports = [o for s in settles for o in s.outcomes]
    assert len({(o.kind, o.task, o.round, o.roller) for o in reports}) == len(reports)
    ledger = ledger_for(tuple((r, 0) for r in market.behaviours))
    for s in settles:
        ledger.settle(COORDINATOR, s.batch, list(s.outcomes))

    # What was settled is what the core counted; an invalid outcome always came with a Slash.
    counted = core.all_roller_counts()
    per_roller = Counter((o.roller, o.outcome) for o in reports)
    for roller, c in counted.items():
        assert (c.on_time, c.late, c.missed, c.invalid) == tuple(
            per_roller[(roller, outcome)] for outcome in Outcome)
        assert c.assigned == c.declined + c.on_time + c.late + c.missed + c.invalid
    assert len(of(commands, Slash)) == sum(c.invalid for c in counted.values())
    assert core.in_flight() == () and core.next_wakeup() is None


@settings(max_examples=50, deadline=None)
@given(markets(), st.floats(0, 1))
def test_replay_from_a_snapshot_anywhere_reproduces_the_run(market, where):
    market.run()
    cut = int(where * len(market.events))
    first = new_core()
    for event in market.events[:cut]:
        first.handle(event)
    restored = CoordinatorCore.from_snapshot(first.snapshot())
    rest = [c for e in market.events[cut:] for c in restored.handle(e)]
    assert rest == [c for c in market.commands if c.key[0] >= cut]
    assert restored.snapshot() == market.core.snapshot()
