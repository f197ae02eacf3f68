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
    Behaviour,
    Market,
    S,
    T,
    commit,
    ledger_for,
    new_core,
    of,
    randomness,
    roster,
    settle_on,
    statement,
)

from coordinator.commands import (
    Assign,
    AuditRecord,
    BlockProof,
    Cancel,
    DrawLottery,
    Finalize,
    Open,
    Settle,
    Slash,
)
from coordinator.core import CoordinatorCore
from coordinator.errors import InconsistentEvent, InvalidSetup
from coordinator.events import (
    BatchFinalized,
    BatchSettled,
    BlockCommitted,
    BlocksReverted,
    ProofReceived,
    Tick,
)
from coordinator.views import ProvingStatus
from market_contracts.ledger import OutcomeReport, lottery_entries_hash, sort_outcomes
from market_contracts.rules import (
    Outcome,
    RewardMode,
    batch_seed,
    draw_slots,
    lottery_winner,
)
from market_contracts.submissions import batch_statement

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
    assert {(o.kind, o.task, o.round, o.roller, o.slots) for o in settle.outcomes} == {
        (a.kind, a.index, a.round, a.roller, a.slots) for a in assigns
        if (a.kind, a.index) in ((AGG, 0), (BLOCK, 1), (BLOCK, 2))}
    assert aggregation.statement == batch_statement([statement(1), statement(2)])

    ledger = ledger_for(ROSTER)
    ledger.mint(COORDINATOR, 10**21)
    ledger.fund_rewards(COORDINATOR, ROLLUP, 10**21)
    settle_on(ledger, commands)
    assert sum(ledger.claimable.values()) == 4 * PARAMS.r_block + 2 * PARAMS.r_agg
    assert of(commands, DrawLottery) == []  # split mode draws nothing
    assert [core.block_status(n) for n in range(1, 5)] == [ProvingStatus.SETTLED] * 4
    assert len(of(commands, AuditRecord)) == 4 + 2


def test_the_aggregator_is_drawn_once_every_block_is_proven_from_the_last_blocks_data():
    other = roster(6, [10**24 * (i + 1) for i in range(6)])
    core = new_core()
    (a1, _) = of(core.handle(commit(1, 0, ROSTER)), Assign)
    a2 = of(core.handle(BlockCommitted(2, randomness(2), 102, statement(2), other, 0)),
            Assign)[0]
    assert of(prove(core, a2, S), Assign) == []
    assert core.block_status(2) is ProvingStatus.PROVEN
    (agg,) = of(prove(core, a1, 2 * S), Assign)
    seed = batch_seed(CHAIN_ID, ROLLUP, 0, 0, randomness(2))
    assert (agg.kind, agg.index, agg.round, agg.seed) == (AGG, 0, 0, seed)
    assert [agg.roller] == draw_slots(seed, other, 1)
    assert agg.statement == batch_statement([statement(1), statement(2)])
    assert (agg.deadline, agg.close_at) == (2 * S + T_AGG, 2 * S + 2 * T_AGG)
    assert core.block_status(1) is ProvingStatus.AGGREGATING


def test_an_aggregator_that_misses_is_redrawn_and_the_next_one_finalizes():
    core = new_core()
    (a1, _) = of(core.handle(commit(1, 0, ROSTER)), Assign)
    (a2, _) = of(core.handle(commit(2, 0, ROSTER)), Assign)
    prove(core, a1, S)
    (agg0,) = of(prove(core, a2, S), Assign)
    (agg1,) = of(core.handle(Tick(S + T_AGG)), Assign)
    assert agg1.round == 1 and agg1.roller != agg0.roller  # by the rules' draw of this seed
    assert (agg1.proofs, agg1.statement) == (agg0.proofs, agg0.statement)
    commands = prove(core, agg1, 2 * S + T_AGG, ref="aggregate")
    assert of(commands, Finalize) == [Finalize(0, 1, (a1.roller, a2.roller), "aggregate")]
    assert core.block_status(2) is ProvingStatus.AGGREGATED
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
    assert core.block_status(1) is ProvingStatus.FINALIZED
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
    assert core.block_status(1) is ProvingStatus.SETTLING
    assert core.handle(BatchFinalized(0, last_close)) == []  # read twice: nothing again
    core.handle(BatchSettled(0, last_close + S))
    assert core.block_status(2) is ProvingStatus.SETTLED
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
    assert core.block_status(1) is ProvingStatus.PROVEN
    # Recommitted and proven again: a new aggregation of batch 0 from round 0, with the same
    # seed (the randomness is pinned per block number) and the new batch statement.
    (c2, _) = of(core.handle(commit(2, 3 * S, ROSTER, version=1)), Assign)
    (agg_again,) = of(prove(core, c2, 4 * S), Assign)
    assert (agg_again.index, agg_again.round, agg_again.seed) == (0, 0, agg.seed)
    assert agg_again.statement == batch_statement([statement(1), statement(2, 1)])
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
    assert seen == [ProvingStatus.ASSIGNED, ProvingStatus.PROVEN, ProvingStatus.AGGREGATING,
                    ProvingStatus.AGGREGATED, ProvingStatus.FINALIZED, ProvingStatus.SETTLING,
                    ProvingStatus.SETTLED]
    assert core.block_status(3) is ProvingStatus.UNKNOWN


def test_a_core_started_after_finalized_batches_numbers_on_from_there():
    with pytest.raises(InvalidSetup, match="multiple of K"):
        new_core(last_finalized=3)
    core = new_core(last_finalized=4)
    assert core.block_status(3) is ProvingStatus.FINALIZED
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
    settle_on(ledger_for(rollers), market.commands)


def test_a_roller_holding_both_slots_settles_them_in_one_record_and_is_paid_for_both():
    one = roster(1)
    market = Market(new_core(), {one[0][0]: HONEST})
    for n in (1, 2):
        market.schedule(commit(n, n * S, one))
    market.run()
    assert {a.slots for a in of(market.commands, Assign) if a.kind is BLOCK} == {PARAMS.m}
    (settle,) = of(market.commands, Settle)
    assert [(o.kind, o.task, o.round, o.slots, o.outcome) for o in settle.outcomes] == [
        (BLOCK, 1, 0, 2, Outcome.ON_TIME), (BLOCK, 2, 0, 2, Outcome.ON_TIME),
        (AGG, 0, 0, 1, Outcome.ON_TIME)]
    ledger = ledger_for(one)
    ledger.mint(COORDINATOR, 10**21)
    ledger.fund_rewards(COORDINATOR, ROLLUP, 10**21)
    settle_on(ledger, market.commands)
    assert ledger.claimable[one[0][0]] == 2 * PARAMS.r_block + PARAMS.r_agg


def test_open_rounds_settle_the_first_valid_proof_with_one_slot_and_never_the_invalid():
    # Nobody has weight, so every drawn round is empty: blocks and the aggregation open.
    rollers = roster(3, [0, 0, 0])
    junk = Behaviour(proof="invalid", rescue=0)
    behaviours = {rollers[0][0]: junk, rollers[1][0]: HONEST, rollers[2][0]: HONEST}
    market = Market(new_core(), behaviours)
    for n in (1, 2):
        market.schedule(commit(n, 0, rollers))
    market.run()
    opens = of(market.commands, Open)
    assert [(o.kind, o.index, o.round) for o in opens] == [
        (BLOCK, 1, PARAMS.r_open), (BLOCK, 2, PARAMS.r_open), (AGG, 0, PARAMS.r_open)]
    assert of(market.commands, Assign) == []
    assert {(s.kind, s.index, s.roller) for s in of(market.commands, Slash)} == {
        (BLOCK, 1, rollers[0][0]), (BLOCK, 2, rollers[0][0]), (AGG, 0, rollers[0][0])}
    (settle,) = of(market.commands, Settle)
    # Both honest rollers prove at once; the first event wins, the other is refused. The
    # aggregation's rescue finalizes the batch but is not settled (rules.max_settled_round).
    assert settle.outcomes == tuple(
        OutcomeReport(rollers[1][0], BLOCK, task, PARAMS.r_open, 1, Outcome.ON_TIME)
        for task in (1, 2))
    (finalize,) = of(market.commands, Finalize)
    assert finalize.batch == 0
    ledger = ledger_for(rollers)
    ledger.mint(COORDINATOR, 10**21)
    ledger.fund_rewards(COORDINATOR, ROLLUP, 10**21)
    settle_on(ledger, market.commands)
    assert ledger.claimable[rollers[1][0]] == 2 * PARAMS.r_block


def test_lottery_mode_draws_the_settled_on_time_block_entries_once_l1_confirms_settle():
    lottery = PARAMS.replace(reward_mode=RewardMode.LOTTERY)
    three = roster(3)
    behaviours = dict.fromkeys((r for r, _ in three), HONEST)
    behaviours[three[0][0]] = LAZY
    market = Market(CoordinatorCore(lottery, CHAIN_ID, ROLLUP), behaviours)
    for n in range(1, 5):
        market.schedule(commit(n, n * S, three))
    market.run()
    settles = {s.batch: s for s in of(market.commands, Settle)}
    draws = of(market.commands, DrawLottery)
    assert sorted(d.batch for d in draws) == sorted(settles) == [0, 1]
    for draw in draws:
        # After the BatchSettled, never with the Settle: L1 must hold the entries' hash first.
        settled_at = next(i for i, e in enumerate(market.events)
                          if isinstance(e, BatchSettled) and e.batch == draw.batch)
        assert draw.key[0] == settled_at
        assert draw.entries == tuple(
            (o.task, o.roller, o.slots) for o in settles[draw.batch].outcomes
            if o.kind is BLOCK and o.outcome is Outcome.ON_TIME)
    assert any(slots == 2 for d in draws for _, _, slots in d.entries)  # a double draw
    # The contract's model takes the entries it hashed at settlement and pays each block once.
    ledger = ledger_for(three, lottery)
    ledger.mint(COORDINATOR, 10**21)
    ledger.fund_rewards(COORDINATOR, ROLLUP, 10**21)
    settle_on(ledger, market.commands)
    lottery_randomness = randomness(99)
    for draw in draws:
        assert ledger.pending_lottery(ROLLUP, draw.batch).entries_hash == lottery_entries_hash(
            draw.entries)
        before = dict(ledger.claimable)
        ledger.draw_lottery(ROLLUP, draw.batch, draw.entries, lottery_randomness)
        winners = {block: lottery_winner(lottery_randomness, block,
                                         [(r, k) for b, r, k in draw.entries if b == block])
                   for block, _, _ in draw.entries}
        gained = {r: ledger.claimable[r] - before.get(r, 0) for r in ledger.claimable}
        for winner in set(winners.values()):
            assert gained[winner] == PARAMS.r_block * list(winners.values()).count(winner)
