"""Block tasks in the decision core: draws with replacement, deadlines, late windows, declines,
outcomes, replies, slashing, open rounds, reverts, and the events it refuses. Valid and invalid
cases side by side."""

from __future__ import annotations

import pytest
from coordinator_harness import (
    AGG,
    BLOCK,
    CHAIN_ID,
    PARAMS,
    ROLLUP,
    WINDOW,
    S,
    T,
    commit,
    new_core,
    of,
    randomness,
    roster,
    statement,
)

from coordinator.commands import (
    Assign,
    AuditRecord,
    AuditRound,
    Cancel,
    Open,
    RejectReason,
    Reply,
    ReplyStatus,
    Slash,
)
from coordinator.errors import InconsistentEvent, InvalidEvent
from coordinator.events import (
    BatchFinalized,
    BlockCommitted,
    BlocksReverted,
    ProofReceived,
    TaskAccepted,
    TaskDeclined,
    Tick,
)
from coordinator.views import AssignmentView, ProvingStatus, RollerCounts
from market_contracts.rules import Outcome, block_seed, draw_slots, slot_counts

ROSTER = roster(6)
T0 = 10 * S
SEED = block_seed(CHAIN_ID, ROLLUP, 1, 0, randomness(1))
R_OPEN = PARAMS.r_open


def holders(block: int, round_: int, rollers=ROSTER) -> list[str]:
    """The rules' draw of a round: what the core must have drawn."""
    return draw_slots(block_seed(CHAIN_ID, ROLLUP, block, round_, randomness(block)), rollers,
                      PARAMS.m)


def started(block: int = 1, rollers=ROSTER, at: int = T0):
    """A core with blocks 1..block committed at `at`; returns it and the last block's Assigns."""
    core = new_core()
    for n in range(1, block + 1):
        commands = core.handle(commit(n, at, rollers))
    return core, of(commands, Assign)


def proof(a: Assign | Open, at: int, valid: bool = True, ref: str = "p",
          roller: str | None = None) -> ProofReceived:
    return ProofReceived(a.kind, a.index, a.round, a.seed, roller or a.roller, valid, ref, at)


def accept(a: Assign, at: int) -> TaskAccepted:
    return TaskAccepted(a.kind, a.index, a.round, a.seed, a.roller, at)


def decline(a: Assign, at: int) -> TaskDeclined:
    return TaskDeclined(a.kind, a.index, a.round, a.seed, a.roller, "busy", at)


def reply(a: Assign, status=ReplyStatus.RECORDED, reason=None, outcome=None,
          roller: str | None = None) -> Reply:
    return Reply(a.kind, a.index, a.round, a.seed, roller or a.roller, status, reason, outcome)


def rejected(a: Assign, reason: RejectReason, roller: str | None = None) -> Reply:
    return reply(a, ReplyStatus.REJECTED, reason, roller=roller)


def opened(core, block: int, start: int) -> Open:
    """Let every drawn round of `block` (drawn at `start`, nobody delivering) run out; returns
    the Open of its round R_OPEN."""
    for r in range(1, R_OPEN + 1):
        commands = core.handle(Tick(start + r * T))
    (o,) = [o for o in of(commands, Open) if o.index == block]
    return o


# ------------------------------------------------------------------ draws


def test_a_commit_draws_m_slots_with_replacement_by_the_rules():
    core, assigns = started()
    drawn = holders(1, 0)
    assert [(a.roller, a.slots) for a in assigns] == list(slot_counts(drawn).items())
    assert assigns[0] == Assign(BLOCK, 1, 0, drawn[0], SEED, 1, statement(1), T0, T0 + T,
                                T0 + WINDOW)
    assert [a.key for a in assigns] == [(0, 0), (0, 1)]
    assert core.block_status(1) is ProvingStatus.ASSIGNED
    assert core.next_wakeup() == T0 + T


def test_a_roller_drawn_twice_holds_two_slots_and_gets_one_assign():
    three = roster(3)
    # The first block whose round 0 draws one roller for both slots (a vector, not a choice).
    n = next(n for n in range(1, 50) if len(set(holders(n, 0, three))) == 1)
    core, assigns = started(block=n, rollers=three)
    (a,) = assigns
    assert (a.roller, a.slots) == (holders(n, 0, three)[0], PARAMS.m)
    # Proving once decides both slots: the block is proven and its round decided at once.
    commands = core.handle(proof(a, T0 + S))
    assert commands[0] == reply(a, outcome=Outcome.ON_TIME)
    assert core.block_status(n) is ProvingStatus.PROVEN
    assert [v for v in core.in_flight() if v.index == n] == []
    (record,) = of(commands, AuditRecord)
    assert record.rounds == (AuditRound(0, a.seed, (a.roller, a.roller),
                                        ((a.roller, 2, Outcome.ON_TIME),)),)
    assert core.roller_counts(a.roller).on_time == 1  # one outcome for both slots


def test_a_roster_without_candidates_waits_each_round_out_then_opens():
    core, assigns = started(rollers=((ROSTER[0][0], 0),))
    assert assigns == []
    assert core.block_status(1) is ProvingStatus.ASSIGNED
    for r in range(1, R_OPEN):
        assert core.next_wakeup() == T0 + r * T  # an empty round waits for its deadline
        assert core.handle(Tick(T0 + r * T)) == []
    assert core.handle(Tick(T0 + R_OPEN * T - 1)) == []
    (o,) = core.handle(Tick(T0 + R_OPEN * T))
    seed = block_seed(CHAIN_ID, ROLLUP, 1, R_OPEN, randomness(1))
    assert o == Open(BLOCK, 1, R_OPEN, seed, statement(1), T0 + R_OPEN * T)
    assert core.block_status(1) is ProvingStatus.OPEN
    assert core.open_tasks() == (o,)
    assert core.next_wakeup() is None  # no deadline: the open round waits for a proof


# ------------------------------------------------------------------ open rounds


def test_the_first_valid_open_proof_wins_and_later_ones_are_refused():
    core, _ = started(rollers=((ROSTER[0][0], 0),))
    o = opened(core, 1, T0)
    at = T0 + R_OPEN * T + S
    x, y, z = (r for r, _ in ROSTER[:3])
    # Anyone may prove the open round; there is nothing to accept or decline.
    assert core.handle(accept(Assign(BLOCK, 1, R_OPEN, x, o.seed, 1, o.statement, 0, 0, 0),
                              at)) == [rejected(o, RejectReason.NOT_ASSIGNED, x)]
    commands = core.handle(proof(o, at, roller=y, ref="y"))
    assert commands[0] == reply(o, outcome=Outcome.ON_TIME, roller=y)
    (record,) = of(commands, AuditRecord)
    assert (record.index, record.randomness, record.roster_block, record.prover,
            record.opened) == (1, randomness(1), 101, y, True)
    assert record.rounds == tuple(
        AuditRound(r, block_seed(CHAIN_ID, ROLLUP, 1, r, randomness(1)), (), ())
        for r in range(R_OPEN)) + (AuditRound(R_OPEN, o.seed, (), ((y, 1, Outcome.ON_TIME),)),)
    assert core.block_status(1) is ProvingStatus.PROVEN
    assert core.open_tasks() == ()
    assert core.handle(proof(o, at, roller=z)) == [rejected(o, RejectReason.TASK_PROVEN, z)]
    assert core.handle(proof(o, at, roller=y)) == [rejected(o, RejectReason.DUPLICATE, y)]
    assert core.roller_counts(y) == RollerCounts(assigned=1, on_time=1)
    assert core.roller_counts(z) == RollerCounts()


def test_an_invalid_open_proof_is_slashed_and_the_round_stays_open():
    core, _ = started(rollers=((ROSTER[0][0], 0),))
    o = opened(core, 1, T0)
    x, y = ROSTER[1][0], ROSTER[2][0]
    at = T0 + R_OPEN * T + S
    assert core.handle(proof(o, at, valid=False, ref="junk", roller=x)) == [
        reply(o, outcome=Outcome.INVALID, roller=x), Slash(BLOCK, 1, R_OPEN, x, "junk")]
    assert core.block_status(1) is ProvingStatus.OPEN
    assert core.handle(proof(o, at, roller=x)) == [rejected(o, RejectReason.DUPLICATE, x)]
    assert core.handle(proof(o, at + S, roller=y))[0] == reply(o, outcome=Outcome.ON_TIME,
                                                               roller=y)
    assert core.roller_counts(x) == RollerCounts(assigned=1, invalid=1)


def test_a_task_opens_after_r_open_drawn_rounds_and_an_earlier_rounds_late_proof_still_counts():
    core, (a, b) = started()
    o = opened(core, 1, T0)
    assert (o.round, o.opened_at) == (R_OPEN, T0 + R_OPEN * T)
    assert core.block_status(1) is ProvingStatus.OPEN
    last = [v for v in core.in_flight() if v.round == R_OPEN - 1]
    assert last  # round R_OPEN - 1's window is still open
    view = last[0]
    late = ProofReceived(BLOCK, 1, view.round, view.seed, view.roller, True, "late",
                         T0 + R_OPEN * T + S)
    assert core.handle(late)[0].outcome is Outcome.LATE
    assert core.block_status(1) is ProvingStatus.PROVEN
    assert core.handle(proof(o, T0 + R_OPEN * T + 2 * S, roller=a.roller)) == [
        rejected(o, RejectReason.TASK_PROVEN, a.roller)]


def test_an_open_round_whose_batch_is_on_l1_takes_no_more_proofs():
    empty = ((ROSTER[0][0], 0),)
    core = new_core()
    core.handle(commit(1, T0, empty))
    core.handle(commit(2, T0, empty))
    o = opened(core, 1, T0)
    core.handle(BatchFinalized(0, T0 + R_OPEN * T + S))  # another coordinator's aggregate
    assert core.handle(proof(o, T0 + R_OPEN * T + S, roller=ROSTER[1][0])) == [
        rejected(o, RejectReason.TASK_CLOSED, ROSTER[1][0])]


# ------------------------------------------------------------------ outcomes


def test_accept_then_on_time_proof_proves_the_block():
    core, (a, b) = started()
    assert core.handle(accept(a, T0 + S)) == [reply(a)]
    assert core.handle(proof(a, T0 + T - 1)) == [reply(a, outcome=Outcome.ON_TIME)]
    assert core.block_status(1) is ProvingStatus.PROVEN
    # No redraw at the deadline: the block has its proof; b's window still runs.
    assert core.next_wakeup() == T0 + WINDOW
    assert core.handle(Tick(T0 + T)) == []


def test_a_proof_at_the_deadline_is_late_and_one_at_the_close_is_refused():
    core, (a, b) = started()
    commands = core.handle(proof(a, T0 + T))
    # The deadline acts first (round 1 drawn at it), then the proof counts as late.
    assert [type(c) for c in commands] == [Assign] * len(slot_counts(holders(1, 1))) + [Reply]
    assert commands[-1] == reply(a, outcome=Outcome.LATE)
    assert core.handle(proof(b, T0 + WINDOW)) == [rejected(b, RejectReason.TASK_CLOSED)]
    assert core.roller_counts(b.roller).missed == 1


def test_a_late_proof_still_proves_the_block_and_the_next_round_keeps_going():
    core, (a, b) = started()
    redraw = of(core.handle(Tick(T0 + T)), Assign)
    assert [(r.round, r.roller) for r in redraw] == [(1, h) for h in slot_counts(holders(1, 1))]
    assert redraw[0].assigned_at == T0 + T
    assert core.handle(proof(a, T0 + T + 5 * S))[0] == reply(a, outcome=Outcome.LATE)
    assert core.block_status(1) is ProvingStatus.PROVEN
    # Round 1's rollers may still deliver, on time for their own round.
    r = redraw[0]
    assert core.handle(proof(r, T0 + T + 6 * S))[0] == reply(r, outcome=Outcome.ON_TIME)
    assert core.handle(Tick(T0 + 2 * T)) == []  # no round 2: the block is proven


def test_a_decline_excludes_from_that_round_only_and_the_roller_may_be_drawn_again():
    core, round0 = started()
    # By the rules' draw, one holder of round 0 is drawn again in round 1.
    (a,) = [h for h in round0 if h.roller in holders(1, 1)]
    core.handle(decline(a, T0 + S))  # before accepting: no fault
    redraw = of(core.handle(Tick(T0 + T)), Assign)
    again = next(r for r in redraw if r.roller == a.roller)
    assert again.round == 1
    assert core.handle(accept(again, T0 + T + S)) == [reply(again)]
    assert core.handle(proof(again, T0 + T + 2 * S))[0] == reply(again, outcome=Outcome.ON_TIME)
    # Round 0's decline stands: a proof for it now is refused.
    assert core.handle(proof(a, T0 + T + 3 * S)) == [rejected(a, RejectReason.ALREADY_DECIDED)]
    assert core.roller_counts(a.roller) == RollerCounts(assigned=2, declined=1, on_time=1)


def test_a_lazy_roller_is_missed_once_its_window_closes():
    core, (a, b) = started()
    core.handle(accept(a, T0))
    core.handle(decline(b, T0 + S))
    redraw = of(core.handle(Tick(T0 + T)), Assign)
    core.handle(proof(redraw[-1], T0 + T + S))
    closed = core.handle(Tick(T0 + WINDOW))
    assert core.roller_counts(a.roller).missed == 1
    assert core.roller_counts(b.roller).declined == 1
    assert core.block_status(1) is ProvingStatus.PROVEN
    audit = of(closed, AuditRecord) + of(core.handle(Tick(T0 + T + WINDOW)), AuditRecord)
    (record,) = audit
    assert record.rounds[0].outcomes == ((a.roller, 1, Outcome.MISSED), (b.roller, 1, None))
    assert record.rounds[1].holders == tuple(holders(1, 1))
    assert record.prover == redraw[-1].roller and not record.opened


def test_when_every_holder_declines_the_next_round_is_drawn_at_once():
    core, (a, b) = started()
    assert of(core.handle(decline(a, T0 + S)), Assign) == []
    commands = core.handle(decline(b, T0 + 2 * S))
    assert commands[0] == reply(b)
    redraw = of(commands, Assign)
    assert [(r.round, r.roller, r.assigned_at) for r in redraw] == [
        (1, h, T0 + 2 * S) for h in slot_counts(holders(1, 1))]
    assert core.next_wakeup() == T0 + 2 * S + T


def test_declining_after_accepting_is_missed_and_counts_as_giving_the_task_back():
    core, (a, b) = started()
    core.handle(accept(a, T0))
    commands = core.handle(decline(a, T0 + S))
    assert commands == [reply(a, outcome=Outcome.MISSED)]
    commands = core.handle(decline(b, T0 + S))
    assert [r.round for r in of(commands, Assign)] == [1] * len(of(commands, Assign)) != []
    assert core.roller_counts(a.roller) == RollerCounts(assigned=1, missed=1)


def test_an_invalid_proof_is_final_and_slashed():
    core, (a, b) = started()
    commands = core.handle(proof(a, T0 + S, valid=False, ref="bad"))
    assert commands == [reply(a, outcome=Outcome.INVALID), Slash(BLOCK, 1, 0, a.roller, "bad")]
    # A valid proof afterwards does not undo it.
    assert core.handle(proof(a, T0 + 2 * S)) == [rejected(a, RejectReason.DUPLICATE)]
    assert core.block_status(1) is ProvingStatus.ASSIGNED
    commands = core.handle(proof(b, T0 + 3 * S, valid=False, ref="bad too"))
    assert len(of(commands, Slash)) == 1 and of(commands, Assign) != []  # round 0 is spent
    assert core.roller_counts(a.roller) == RollerCounts(assigned=1, invalid=1)


# ------------------------------------------------------------------ refused messages


def test_messages_that_change_nothing_are_rejected_with_a_reason():
    core, (a, b) = started()
    other = next(r for r, _ in ROSTER if r not in (a.roller, b.roller))
    stranger = Assign(BLOCK, 1, 0, other, a.seed, 1, a.statement, T0, T0 + T, T0 + WINDOW)
    unknown_block = Assign(BLOCK, 2, 0, a.roller, a.seed, 1, a.statement, T0, T0 + T,
                           T0 + WINDOW)
    unknown_round = Assign(BLOCK, 1, 1, a.roller, a.seed, 1, a.statement, T0, T0 + T,
                           T0 + WINDOW)
    unknown_kind = Assign(AGG, 0, 0, a.roller, a.seed, 1, a.statement, T0, T0 + T, T0 + WINDOW)
    other_seed = Assign(BLOCK, 1, 0, a.roller, b"\x09" * 32, 1, a.statement, T0, T0 + T,
                        T0 + WINDOW)
    at = T0 + S
    assert core.handle(proof(stranger, at)) == [rejected(stranger, RejectReason.NOT_ASSIGNED)]
    assert core.handle(accept(stranger, at)) == [rejected(stranger, RejectReason.NOT_ASSIGNED)]
    assert core.handle(proof(unknown_block, at)) == [rejected(unknown_block,
                                                              RejectReason.UNKNOWN_TASK)]
    assert core.handle(decline(unknown_round, at)) == [rejected(unknown_round,
                                                                RejectReason.UNKNOWN_TASK)]
    assert core.handle(accept(other_seed, at)) == [rejected(other_seed,
                                                            RejectReason.UNKNOWN_TASK)]
    assert core.handle(proof(unknown_kind, at)) == [rejected(unknown_kind,
                                                             RejectReason.UNKNOWN_TASK)]
    assert core.handle(accept(a, at)) == [reply(a)]
    assert core.handle(accept(a, at)) == [rejected(a, RejectReason.DUPLICATE)]
    assert core.handle(proof(a, at))[0] == reply(a, outcome=Outcome.ON_TIME)
    assert core.handle(proof(a, at)) == [rejected(a, RejectReason.DUPLICATE)]
    assert core.handle(decline(a, at)) == [rejected(a, RejectReason.ALREADY_DECIDED)]
    assert core.handle(decline(b, at))[0] == reply(b)  # then the block's AuditRecord
    assert core.handle(decline(b, at)) == [rejected(b, RejectReason.DUPLICATE)]
    assert core.handle(accept(b, at)) == [rejected(b, RejectReason.ALREADY_DECIDED)]
    assert core.handle(proof(b, at)) == [rejected(b, RejectReason.ALREADY_DECIDED)]
    assert core.roller_counts(stranger.roller) == RollerCounts()


# ------------------------------------------------------------------ reverts


def test_a_revert_cancels_the_open_assignments_and_takes_the_counts_back():
    core, _ = started(block=3)
    assigns = {n: [v for v in core.in_flight() if v.index == n] for n in (1, 2, 3)}
    first = assigns[2][0]
    core.handle(ProofReceived(BLOCK, 2, 0, first.seed, first.roller, True, "p", T0 + S))
    commands = core.handle(BlocksReverted(2, T0 + 2 * S))
    assert commands == [Cancel(BLOCK, 2, 0, first.seed, assigns[2][1].roller),
                        Cancel(BLOCK, 3, 0, assigns[3][0].seed, assigns[3][0].roller),
                        Cancel(BLOCK, 3, 0, assigns[3][0].seed, assigns[3][1].roller)]
    assert [core.block_status(n) for n in (1, 2, 3)] == [ProvingStatus.ASSIGNED,
                                                         ProvingStatus.UNKNOWN, ProvingStatus.UNKNOWN]
    assert core.last_committed == 1
    assert sum(c.assigned for c in core.all_roller_counts().values()) == 2
    assert sum(c.on_time for c in core.all_roller_counts().values()) == 0
    stale = ProofReceived(BLOCK, 3, 0, assigns[3][0].seed, assigns[3][0].roller, True, "p",
                          T0 + 3 * S)
    assert core.handle(stale)[0].reason is RejectReason.UNKNOWN_TASK


def test_timers_of_a_reverted_block_do_not_act_on_its_recommit():
    core, _ = started(block=2)
    core.handle(BlocksReverted(2, T0 + S))
    assigns = of(core.handle(commit(2, T0 + 20 * S, ROSTER, version=1)), Assign)
    assert [a.assigned_at for a in assigns] == [T0 + 20 * S] * len(assigns)
    # Block 1's deadline redraws block 1 only; the old block 2's deadline is gone.
    commands = core.handle(Tick(T0 + T))
    assert {a.index for a in of(commands, Assign)} == {1}
    assert {(a.index, a.round) for a in of(core.handle(Tick(T0 + 20 * S + T)), Assign)} == {
        (2, 1)}


def test_a_recommit_with_the_same_randomness_is_a_new_task_with_a_new_statement():
    core, old = started()
    assert core.handle(BlocksReverted(1, T0 + S)) == [Cancel(BLOCK, 1, 0, a.seed, a.roller)
                                                      for a in old]
    new = of(core.handle(commit(1, T0 + 2 * S, ROSTER, version=1)), Assign)
    # Randomness and roster are pinned per number: the same seeds and holders, but the roller
    # signs the new statement (a proof of the old one is the shell's to refuse).
    assert [(a.roller, a.seed, a.slots) for a in new] == [(a.roller, a.seed, a.slots)
                                                           for a in old]
    assert {a.statement for a in new} == {statement(1, 1)} != {a.statement for a in old}
    assert [a.assigned_at for a in new] == [T0 + 2 * S] * len(new)
    assert core.handle(proof(new[0], T0 + 3 * S))[0] == reply(new[0], outcome=Outcome.ON_TIME)
    # The new commit read twice changes nothing; another statement without a revert is refused.
    assert core.handle(commit(1, T0 + 4 * S, ROSTER, version=1)) == []
    before = core.snapshot()
    with pytest.raises(InconsistentEvent, match="another statement"):
        core.handle(commit(1, T0 + 4 * S, ROSTER, version=2))
    assert core.snapshot() == before


def test_reverting_finalized_blocks_is_refused_and_a_repeated_revert_is_a_no_op():
    core, _ = started(block=2)
    before = core.snapshot()
    with pytest.raises(InconsistentEvent, match="finalized"):
        core.handle(BlocksReverted(0, T0))
    assert core.snapshot() == before
    core.handle(BlocksReverted(2, T0))
    assert core.handle(BlocksReverted(2, T0)) == []
    assert core.last_committed == 1


# ------------------------------------------------------------------ refused events


@pytest.mark.parametrize("event, error", [
    (commit(3, T0, ROSTER), InconsistentEvent),  # block 2 was missed
    (commit(1, T0, ROSTER, version=1), InconsistentEvent),  # a missed revert
    (BlockCommitted(2, b"\x01" * 31, 102, statement(2), ROSTER, T0), InvalidEvent),
    (BlockCommitted(2, randomness(2), 102, b"\x01" * 33, ROSTER, T0), InvalidEvent),
    (BlockCommitted(2, randomness(2), -1, statement(2), ROSTER, T0), InvalidEvent),
    (BlockCommitted(2, randomness(2), 102, statement(2), ROSTER + ROSTER[:1], T0), InvalidEvent),
    (BlockCommitted(2, randomness(2), 102, statement(2), [["0xnope", 1]], T0), InvalidEvent),
    # a list where a tuple of pairs belongs
    (BlockCommitted(2, randomness(2), 102, statement(2), [[ROSTER[0][0], 1]], T0), InvalidEvent),
    (Tick(-1), InvalidEvent),
    (TaskAccepted(7, 1, 0, SEED, ROSTER[0][0], T0), InvalidEvent),
    (TaskAccepted(BLOCK, 1, 0, SEED, "0x1234", T0), InvalidEvent),
    (TaskAccepted(BLOCK, 1, 0, SEED, [ROSTER[0][0]], T0), InvalidEvent),
    (TaskAccepted(BLOCK, 1, -1, SEED, ROSTER[0][0], T0), InvalidEvent),
    (TaskDeclined(BLOCK, 1, 0, b"short", ROSTER[0][0], "busy", T0), InvalidEvent),
    (ProofReceived(BLOCK, 1, 0, SEED, ROSTER[0][0], 1, "p", T0), InvalidEvent),
    ("BlockCommitted", InvalidEvent),
])
def test_malformed_or_inconsistent_events_raise_and_change_nothing(event, error):
    core, _ = started()
    before = core.snapshot()
    with pytest.raises(error):
        core.handle(event)
    assert core.snapshot() == before
    assert core.sequence == 1


def test_a_commit_read_twice_is_a_no_op():
    core, _ = started()
    assert core.handle(commit(1, T0 + S, ROSTER)) == []
    assert core.last_committed == 1


def test_time_never_goes_back():
    core, (a, b) = started()
    core.handle(Tick(T0 + T + 1))
    # Stamped before the deadline, but the deadline has passed: it is late.
    assert core.handle(proof(a, T0))[0] == reply(a, outcome=Outcome.LATE)
    assert core.now == T0 + T + 1


# ------------------------------------------------------------------ queries


def test_in_flight_lists_undecided_assignments_until_their_window_closes():
    core, (a, b) = started()
    core.handle(accept(a, T0))
    assert core.in_flight() == (
        AssignmentView(BLOCK, 1, 0, SEED, a.roller, True, T0, T0 + T, T0 + WINDOW),
        AssignmentView(BLOCK, 1, 0, SEED, b.roller, False, T0, T0 + T, T0 + WINDOW))
    core.handle(proof(a, T0 + S))
    assert [v.roller for v in core.in_flight()] == [b.roller]
    core.handle(Tick(T0 + WINDOW))
    assert core.in_flight() == ()
    assert core.roller_counts(b.roller.lower()) == RollerCounts(assigned=1, missed=1)
