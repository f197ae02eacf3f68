"""Batches in the decision core: when an aggregator is drawn and from what, which proofs it
aggregates, Finalize in batch order, and settlement once, after every window closed, in a form
the staking contract's model (`Ledger.settle`) accepts."""

from __future__ import annotations

import pytest
from coordinator_harness import (
    AGG,
    BLOCK,
    CHAIN_ID,
    COORDINATOR,
    HONEST,
    LAZY,
    PARAMS,
    ROLLUP,
    T_AGG,
    WINDOW,
    Market,
    S,
    T,
    commit,
    ledger_for,
    new_core,
    of,
    randomness,
    roster,
)

from coordinator.commands import (
    Assign,
    AuditRecord,
    BlockProof,
    Cancel,
    Finalize,
    Settle,
)
from coordinator.errors import InconsistentEvent, InvalidSetup
from coordinator.events import (
    BatchFinalized,
    BatchSettled,
    BlockCommitted,
    BlocksReverted,
    ProofReceived,
    Tick,
)
from coordinator.views import BlockStatus
from market_contracts.ledger import sort_outcomes
from market_contracts.rules import Outcome, batch_seed, select

ROSTER = roster(6)


def prove(core, assign: Assign, at: int, ref: str | None = None) -> list:
    return core.handle(ProofReceived(assign.kind, assign.index, assign.round, assign.seed,
                                     assign.roller, True,
                                     ref or f"proof {assign.index} {assign.roller}", at))


def test_happy_path_assign_finalize_settle_is_accepted_by_the_contract_model():
    core = new_core()
    market = Market(core, dict.fromkeys((r for r, _ in ROSTER), HONEST))
    for n in range(1, 5):
        market.schedule(commit(n, n * S, ROSTER))
    market.run()

    commands = market.commands
    assigns = of(commands, Assign)
    assert [(a.kind, a.index) for a in assigns].count((AGG, 0)) == 1
    finalizes, settles = of(commands, Finalize), of(commands, Settle)
    assert [f.batch for f in finalizes] == [0, 1] and [s.batch for s in settles] == [0, 1]
    # The Finalize names the prover of each block's first valid proof, in block order.
    first_proofs = {}
    for e in market.events:
        if isinstance(e, ProofReceived) and e.kind is BLOCK:
            first_proofs.setdefault(e.index, e)
    assert finalizes[0] == Finalize(0, 1, (first_proofs[1].roller, first_proofs[2].roller),
                                    finalizes[0].aggregate_ref)
    aggregation = next(a for a in assigns if a.kind is AGG and a.index == 0)
    assert aggregation.proofs == tuple(BlockProof(n, first_proofs[n].roller, first_proofs[n].ref)
                                       for n in (1, 2))
    # Settle: every assignment once, in the contract's order, all on time.
    settle = settles[0]
    assert list(settle.outcomes) == sort_outcomes(list(settle.outcomes))
    assert {(o.kind, o.task, o.round, o.roller) for o in settle.outcomes} == {
        (a.kind, a.index, a.round, a.roller) for a in assigns if a.index == 0 and a.kind is AGG
        or a.kind is BLOCK and a.index in (1, 2)}
    assert {o.outcome for o in settle.outcomes} == {Outcome.ON_TIME}
    assert all(o.seed == next(a.seed for a in assigns if (a.kind, a.index, a.round)
                              == (o.kind, o.task, o.round)) for o in settle.outcomes)

    ledger = ledger_for(ROSTER)
    ledger.mint(COORDINATOR, 10**21)
    ledger.fund_rewards(COORDINATOR, 10**21)
    for s in settles:
        ledger.settle(COORDINATOR, s.batch, list(s.outcomes))
    assert sum(ledger.claimable.values()) == 4 * PARAMS.r_block + 2 * PARAMS.r_agg
    assert [core.block_status(n) for n in range(1, 5)] == [BlockStatus.SETTLED] * 4
    assert len(of(commands, AuditRecord)) == 4 + 2


def test_the_aggregator_is_drawn_once_every_block_is_proven_from_the_last_blocks_data():
    other = roster(6, [10**24 * (i + 1) for i in range(6)])
    core = new_core()
    (a1, _) = of(core.handle(commit(1, 0, ROSTER)), Assign)
    (a2, _) = of(core.handle(BlockCommitted(2, randomness(2), 102, other, 0)), Assign)
    assert of(prove(core, a2, S), Assign) == []
    assert core.block_status(2) is BlockStatus.PROVEN
    (agg,) = of(prove(core, a1, 2 * S), Assign)
    seed = batch_seed(CHAIN_ID, ROLLUP, 0, 0, randomness(2))
    assert (agg.kind, agg.index, agg.round, agg.seed) == (AGG, 0, 0, seed)
    assert [agg.roller] == select(seed, other, 1)
    assert (agg.deadline, agg.close_at) == (2 * S + T_AGG, 2 * S + 2 * T_AGG)
    assert core.block_status(1) is BlockStatus.AGGREGATING


def test_an_aggregator_that_misses_is_redrawn_and_the_next_one_finalizes():
    core = new_core()
    (a1, _) = of(core.handle(commit(1, 0, ROSTER)), Assign)
    (a2, _) = of(core.handle(commit(2, 0, ROSTER)), Assign)
    prove(core, a1, S)
    (agg0,) = of(prove(core, a2, S), Assign)
    (agg1,) = of(core.handle(Tick(S + T_AGG)), Assign)
    assert agg1.round == 1 and agg1.roller != agg0.roller
    assert agg1.proofs == agg0.proofs
    commands = prove(core, agg1, 2 * S + T_AGG, ref="aggregate")
    assert of(commands, Finalize) == [Finalize(0, 1, (a1.roller, a2.roller), "aggregate")]
    assert core.block_status(2) is BlockStatus.AGGREGATED
    core.handle(Tick(S + 2 * T_AGG))
    assert core.roller_counts(agg0.roller).missed == 1


def test_finalize_goes_out_in_batch_order():
    core = new_core()
    blocks = [of(core.handle(commit(n, 0, ROSTER)), Assign)[0] for n in range(1, 5)]
    prove(core, blocks[2], S)
    (agg1,) = of(prove(core, blocks[3], S), Assign)
    assert of(prove(core, agg1, 2 * S), Finalize) == []  # batch 0 is not aggregated yet
    prove(core, blocks[0], 3 * S)
    (agg0,) = of(prove(core, blocks[1], 3 * S), Assign)
    finalizes = of(prove(core, agg0, 4 * S), Finalize)
    assert [f.batch for f in finalizes] == [0, 1]


def test_settle_waits_for_every_window_to_close_then_happens_once():
    core = new_core()
    (a1, b1) = of(core.handle(commit(1, 0, ROSTER)), Assign)
    (a2, b2) = of(core.handle(commit(2, 5 * S, ROSTER)), Assign)
    prove(core, a1, S)
    (agg,) = of(prove(core, a2, 6 * S), Assign)
    prove(core, agg, 7 * S)
    assert of(core.handle(BatchFinalized(0, 8 * S)), Settle) == []
    assert core.block_status(1) is BlockStatus.FINALIZED
    last_close = 6 * S + 2 * T_AGG  # the aggregation's; block 2 closes at 5 s + 60 s
    assert max(last_close, 5 * S + WINDOW) == last_close
    assert core.next_wakeup() == WINDOW  # b1's window closes first: it is missed
    core.handle(Tick(WINDOW))
    assert core.next_wakeup() == 5 * S + WINDOW
    core.handle(Tick(5 * S + WINDOW))
    assert core.next_wakeup() == last_close
    assert of(core.handle(Tick(last_close - 1)), Settle) == []
    (settle,) = of(core.handle(Tick(last_close)), Settle)
    outcomes = {(o.task, o.roller): o.outcome for o in settle.outcomes if o.kind is BLOCK}
    assert outcomes == {(1, a1.roller): Outcome.ON_TIME, (1, b1.roller): Outcome.MISSED,
                        (2, a2.roller): Outcome.ON_TIME, (2, b2.roller): Outcome.MISSED}
    assert core.block_status(1) is BlockStatus.SETTLING
    assert core.handle(BatchFinalized(0, last_close)) == []  # read twice: nothing again
    core.handle(BatchSettled(0, last_close + S))
    assert core.block_status(2) is BlockStatus.SETTLED
    assert core.next_wakeup() is None


def test_a_batch_finalized_out_of_order_or_before_its_blocks_is_refused():
    core = new_core()
    core.handle(commit(1, 0, ROSTER))
    with pytest.raises(InconsistentEvent, match="before batch 0"):
        core.handle(BatchFinalized(1, S))
    with pytest.raises(InconsistentEvent, match="committed"):
        core.handle(BatchFinalized(0, S))


def test_a_batch_finalized_by_someone_else_stops_the_draws_and_settles_what_there_is():
    core = new_core()
    (a1, b1) = of(core.handle(commit(1, 0, ROSTER)), Assign)
    core.handle(commit(2, 0, ROSTER))
    prove(core, a1, S)
    core.handle(BatchFinalized(0, 2 * S))
    assert core.handle(Tick(T)) == []  # block 2 has no proof, but L1 has its batch
    (settle,) = of(core.handle(Tick(WINDOW)), Settle)
    assert {o.outcome for o in settle.outcomes if o.roller != a1.roller} == {Outcome.MISSED}
    assert len(settle.outcomes) == 4


def test_a_batch_waiting_for_its_predecessor_goes_out_when_someone_else_finalizes_that():
    core = new_core()
    blocks = [of(core.handle(commit(n, 0, ROSTER)), Assign)[0] for n in range(1, 5)]
    prove(core, blocks[2], S)
    (agg1,) = of(prove(core, blocks[3], S), Assign)
    prove(core, agg1, 2 * S, ref="aggregate 1")
    assert of(core.handle(BatchFinalized(0, 3 * S)), Finalize) == [
        Finalize(1, 3, (blocks[2].roller, blocks[3].roller), "aggregate 1")]


def test_a_revert_cancels_the_aggregation_of_the_batch_it_touches():
    core = new_core()
    blocks = [of(core.handle(commit(n, 0, ROSTER)), Assign)[0] for n in (1, 2)]
    prove(core, blocks[0], S)
    (agg,) = of(prove(core, blocks[1], S), Assign)
    commands = core.handle(BlocksReverted(2, 2 * S))
    assert Cancel(AGG, 0, 0, agg.seed, agg.roller) in commands
    assert core.block_status(1) is BlockStatus.PROVEN
    # Recommitted and proven again: a new aggregation of batch 0, from round 0, new seed.
    (c2, _) = of(core.handle(BlockCommitted(2, b"\x05" * 32, 300, ROSTER, 3 * S)), Assign)
    (agg_again,) = of(prove(core, c2, 4 * S), Assign)
    assert (agg_again.index, agg_again.round) == (0, 0) and agg_again.seed != agg.seed
    assert of(prove(core, agg_again, 5 * S, ref="agg"), Finalize)[0].provers == (
        blocks[0].roller, c2.roller)


def test_block_status_follows_the_block_from_assignment_to_settlement():
    core = new_core()
    (a1, _) = of(core.handle(commit(1, 0, ROSTER)), Assign)
    (a2, _) = of(core.handle(commit(2, 0, ROSTER)), Assign)
    seen = [core.block_status(1)]
    prove(core, a1, S)
    seen.append(core.block_status(1))
    (agg,) = of(prove(core, a2, S), Assign)
    seen.append(core.block_status(1))
    prove(core, agg, S)
    seen.append(core.block_status(1))
    core.handle(BatchFinalized(0, S))
    seen.append(core.block_status(1))
    core.handle(Tick(S + 2 * T_AGG))
    seen.append(core.block_status(1))
    core.handle(BatchSettled(0, S + 2 * T_AGG))
    seen.append(core.block_status(1))
    assert seen == [BlockStatus.ASSIGNED, BlockStatus.PROVEN, BlockStatus.AGGREGATING,
                    BlockStatus.AGGREGATED, BlockStatus.FINALIZED, BlockStatus.SETTLING,
                    BlockStatus.SETTLED]
    assert core.block_status(3) is BlockStatus.UNKNOWN


def test_a_core_started_after_finalized_batches_numbers_on_from_there():
    with pytest.raises(InvalidSetup, match="multiple of K"):
        new_core(last_finalized=3)
    core = new_core(last_finalized=4)
    assert core.block_status(3) is BlockStatus.FINALIZED
    assert core.handle(commit(4, 0, ROSTER)) == []  # finalized already: an old log
    with pytest.raises(InconsistentEvent, match="missed"):
        core.handle(commit(6, 0, ROSTER))
    blocks = [of(core.handle(commit(n, 0, ROSTER)), Assign)[0] for n in (5, 6)]
    prove(core, blocks[0], S)
    (agg,) = of(prove(core, blocks[1], S), Assign)
    assert agg.index == 2 and agg.seed == batch_seed(CHAIN_ID, ROLLUP, 2, 0, randomness(6))
    assert of(prove(core, agg, S), Finalize)[0].first_block == 5


def test_a_lazy_roster_still_settles_with_missed_outcomes_only_where_due():
    rollers = roster(4)
    behaviours = {r: HONEST for r, _ in rollers}
    behaviours[rollers[0][0]] = LAZY
    market = Market(new_core(), behaviours)
    for n in (1, 2):
        market.schedule(commit(n, n * S, rollers))
    market.run()
    (settle,) = of(market.commands, Settle)
    missed = [o for o in settle.outcomes if o.outcome is Outcome.MISSED]
    assert {o.roller for o in missed} <= {rollers[0][0]}
    ledger = ledger_for(rollers)
    ledger.settle(COORDINATOR, settle.batch, list(settle.outcomes))
