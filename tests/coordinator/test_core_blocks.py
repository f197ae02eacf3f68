"""Block tasks in the decision core: draws, deadlines, late windows, declines, outcomes, replies,
slashing, stalls, reverts, and the events it refuses. Valid and invalid cases side by side."""

from __future__ import annotations

import pytest
from coordinator_harness import (
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
)

from coordinator.commands import (
    Assign,
    AuditRecord,
    Cancel,
    RejectReason,
    Reply,
    ReplyStatus,
    Slash,
    Stalled,
)
from coordinator.errors import InconsistentEvent, InvalidEvent
from coordinator.events import (
    BlockCommitted,
    BlocksReverted,
    ProofReceived,
    TaskAccepted,
    TaskDeclined,
    Tick,
)
from coordinator.views import AssignmentView, BlockStatus, RollerCounts
from market_contracts.rules import Outcome, block_seed, select

ROSTER = roster(6)
T0 = 10 * S
SEED = block_seed(CHAIN_ID, ROLLUP, 1, 0, randomness(1))


def started(block: int = 1, rollers=ROSTER, at: int = T0):
    """A core with blocks 1..block committed at `at`; returns it and the last block's Assigns."""
    core = new_core()
    for n in range(1, block + 1):
        commands = core.handle(commit(n, at, rollers))
    return core, of(commands, Assign)


def proof(a: Assign, at: int, valid: bool = True, ref: str = "p") -> ProofReceived:
    return ProofReceived(a.kind, a.index, a.round, a.seed, a.roller, valid, ref, at)


def accept(a: Assign, at: int) -> TaskAccepted:
    return TaskAccepted(a.kind, a.index, a.round, a.seed, a.roller, at)


def decline(a: Assign, at: int) -> TaskDeclined:
    return TaskDeclined(a.kind, a.index, a.round, a.seed, a.roller, "busy", at)


def reply(a: Assign, status=ReplyStatus.RECORDED, reason=None, outcome=None) -> Reply:
    return Reply(a.kind, a.index, a.round, a.seed, a.roller, status, reason, outcome)


def rejected(a: Assign, reason: RejectReason) -> Reply:
    return reply(a, ReplyStatus.REJECTED, reason)


# ------------------------------------------------------------------ draws


def test_a_commit_draws_m_rollers_by_the_rules():
    core, assigns = started()
    assert [a.roller for a in assigns] == select(SEED, ROSTER, PARAMS.m)
    assert assigns[0] == Assign(BLOCK, 1, 0, assigns[0].roller, SEED, T0, T0 + T, T0 + WINDOW)
    assert [a.key for a in assigns] == [(0, 0), (0, 1)]
    assert core.block_status(1) is BlockStatus.ASSIGNED
    assert core.next_wakeup() == T0 + T


def test_a_roster_without_candidates_stalls_the_block_at_once():
    core, assigns = started(rollers=((ROSTER[0][0], 0),))
    assert assigns == []
    assert core.block_status(1) is BlockStatus.STALLED
    assert core.next_wakeup() is None


# ------------------------------------------------------------------ outcomes


def test_accept_then_on_time_proof_proves_the_block():
    core, (a, b) = started()
    assert core.handle(accept(a, T0 + S)) == [reply(a)]
    assert core.handle(proof(a, T0 + T - 1)) == [reply(a, outcome=Outcome.ON_TIME)]
    assert core.block_status(1) is BlockStatus.PROVEN
    # No redraw at the deadline: the block has its proof; b's window still runs.
    assert core.next_wakeup() == T0 + WINDOW
    assert core.handle(Tick(T0 + T)) == []


def test_a_proof_at_the_deadline_is_late_and_one_at_the_close_is_refused():
    core, (a, b) = started()
    commands = core.handle(proof(a, T0 + T))
    # The deadline acts first (round 1 drawn at it), then the proof counts as late.
    assert [type(c) for c in commands] == [Assign, Assign, Reply]
    assert commands[2] == reply(a, outcome=Outcome.LATE)
    assert core.handle(proof(b, T0 + WINDOW)) == [rejected(b, RejectReason.TASK_CLOSED)]
    assert core.roller_counts(b.roller) == RollerCounts(assigned=1, missed=1)


def test_a_late_proof_still_proves_the_block_and_the_next_round_keeps_going():
    core, (a, b) = started()
    redraw = of(core.handle(Tick(T0 + T)), Assign)
    assert [r.round for r in redraw] == [1, 1]
    assert not {a.roller, b.roller} & {r.roller for r in redraw}
    assert redraw[0].assigned_at == T0 + T
    assert core.handle(proof(a, T0 + T + 5 * S))[0] == reply(a, outcome=Outcome.LATE)
    assert core.block_status(1) is BlockStatus.PROVEN
    # Round 1's rollers may still deliver, on time for their own round.
    r = redraw[0]
    assert core.handle(proof(r, T0 + T + 6 * S))[0] == reply(r, outcome=Outcome.ON_TIME)
    assert core.handle(Tick(T0 + 2 * T)) == []  # no round 2: the block is proven


def test_a_lazy_roller_is_missed_and_the_redraw_excludes_it():
    core, (a, b) = started()
    core.handle(accept(a, T0))
    core.handle(decline(b, T0 + S))  # declining before accepting: no fault
    redraw = of(core.handle(Tick(T0 + T)), Assign)
    assert len(redraw) == 2 and not {a.roller, b.roller} & {r.roller for r in redraw}
    core.handle(proof(redraw[1], T0 + T + S))
    closed = core.handle(Tick(T0 + WINDOW))
    assert core.roller_counts(a.roller) == RollerCounts(assigned=1, missed=1)
    assert core.roller_counts(b.roller) == RollerCounts(assigned=1, declined=1)
    assert core.block_status(1) is BlockStatus.PROVEN
    assert of(closed, AuditRecord) == []  # redraw[0] is still open
    (record,) = of(core.handle(Tick(T0 + T + WINDOW)), AuditRecord)
    assert [r.outcomes for r in record.rounds] == [(Outcome.MISSED, None),
                                                    (Outcome.MISSED, Outcome.ON_TIME)]
    assert record.prover == redraw[1].roller


def test_when_every_roller_declines_the_next_round_is_drawn_at_once():
    core, (a, b) = started()
    assert of(core.handle(decline(a, T0 + S)), Assign) == []
    commands = core.handle(decline(b, T0 + 2 * S))
    assert commands[0] == reply(b)
    redraw = of(commands, Assign)
    assert [(r.round, r.assigned_at) for r in redraw] == [(1, T0 + 2 * S)] * 2
    assert not {a.roller, b.roller} & {r.roller for r in redraw}
    assert core.next_wakeup() == T0 + 2 * S + T


def test_declining_after_accepting_is_missed_and_counts_as_giving_the_task_back():
    core, (a, b) = started()
    core.handle(accept(a, T0))
    commands = core.handle(decline(a, T0 + S))
    assert commands == [reply(a, outcome=Outcome.MISSED)]
    commands = core.handle(decline(b, T0 + S))
    assert len(of(commands, Assign)) == 2  # nobody left in round 0
    assert core.roller_counts(a.roller) == RollerCounts(assigned=1, missed=1)


def test_an_invalid_proof_is_final_and_slashed():
    core, (a, b) = started()
    commands = core.handle(proof(a, T0 + S, valid=False, ref="bad"))
    assert commands == [reply(a, outcome=Outcome.INVALID), Slash(BLOCK, 1, 0, a.roller, "bad")]
    # A valid proof afterwards does not undo it.
    assert core.handle(proof(a, T0 + 2 * S)) == [rejected(a, RejectReason.DUPLICATE)]
    assert core.block_status(1) is BlockStatus.ASSIGNED
    commands = core.handle(proof(b, T0 + 3 * S, valid=False, ref="bad too"))
    assert len(of(commands, Slash)) == 1 and len(of(commands, Assign)) == 2  # round 0 is spent
    assert core.roller_counts(a.roller) == RollerCounts(assigned=1, invalid=1)


# ------------------------------------------------------------------ refused messages


def test_messages_that_change_nothing_are_rejected_with_a_reason():
    core, (a, b) = started()
    other = next(r for r, _ in ROSTER if r not in (a.roller, b.roller))
    stranger = Assign(BLOCK, 1, 0, other, a.seed, T0, T0 + T, T0 + WINDOW)
    unknown_block = Assign(BLOCK, 2, 0, a.roller, a.seed, T0, T0 + T, T0 + WINDOW)
    unknown_round = Assign(BLOCK, 1, 1, a.roller, a.seed, T0, T0 + T, T0 + WINDOW)
    other_seed = Assign(BLOCK, 1, 0, a.roller, b"\x09" * 32, T0, T0 + T, T0 + WINDOW)
    at = T0 + S
    assert core.handle(proof(stranger, at)) == [rejected(stranger, RejectReason.NOT_ASSIGNED)]
    assert core.handle(accept(stranger, at)) == [rejected(stranger, RejectReason.NOT_ASSIGNED)]
    assert core.handle(proof(unknown_block, at)) == [rejected(unknown_block,
                                                              RejectReason.UNKNOWN_TASK)]
    assert core.handle(decline(unknown_round, at)) == [rejected(unknown_round,
                                                                RejectReason.UNKNOWN_TASK)]
    assert core.handle(accept(other_seed, at)) == [rejected(other_seed,
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


# ------------------------------------------------------------------ stalls


def test_when_candidates_run_out_the_block_stalls_until_a_late_proof_or_a_revert():
    two = roster(2)
    core, (a, b) = started(rollers=two)
    commands = core.handle(Tick(T0 + T))
    assert commands == [Stalled(BLOCK, 1, 1)]
    assert core.block_status(1) is BlockStatus.STALLED
    assert core.next_wakeup() == T0 + WINDOW  # round 0 may still deliver
    core.handle(proof(b, T0 + T + S))
    assert core.block_status(1) is BlockStatus.PROVEN
    (record,) = of(core.handle(Tick(T0 + WINDOW)), AuditRecord)
    assert record.stalled and record.prover == b.roller


def test_a_stalled_block_with_no_proof_is_audited_once_its_window_closes():
    core, (a, b) = started(rollers=roster(2))
    core.handle(Tick(T0 + T))
    (record,) = of(core.handle(Tick(T0 + WINDOW)), AuditRecord)
    assert record.stalled and record.prover is None
    assert record.rounds[0].outcomes == (Outcome.MISSED, Outcome.MISSED)
    assert core.next_wakeup() is None


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
    assert [core.block_status(n) for n in (1, 2, 3)] == [BlockStatus.ASSIGNED,
                                                         BlockStatus.UNKNOWN, BlockStatus.UNKNOWN]
    assert core.last_committed == 1
    assert sum(c.assigned for c in core.all_roller_counts().values()) == 2
    assert sum(c.on_time for c in core.all_roller_counts().values()) == 0
    stale = ProofReceived(BLOCK, 3, 0, assigns[3][0].seed, assigns[3][0].roller, True, "p",
                          T0 + 3 * S)
    assert core.handle(stale)[0].reason is RejectReason.UNKNOWN_TASK


def test_timers_of_a_reverted_block_do_not_act_on_its_recommit():
    core, _ = started(block=2)
    core.handle(BlocksReverted(2, T0 + S))
    again = BlockCommitted(2, b"\x07" * 32, 200, ROSTER, T0 + 20 * S)
    assigns = of(core.handle(again), Assign)
    assert [a.assigned_at for a in assigns] == [T0 + 20 * S] * 2
    # Block 1's deadline redraws block 1 only; the old block 2's deadline is gone.
    commands = core.handle(Tick(T0 + T))
    assert {a.index for a in of(commands, Assign)} == {1}
    assert [a.round for a in of(core.handle(Tick(T0 + 20 * S + T)), Assign)] == [1, 1]


def test_a_message_for_a_reverted_task_is_not_taken_for_the_recommitted_one():
    two = roster(2)
    core, old = started(rollers=two)
    core.handle(BlocksReverted(1, T0 + S))
    new = of(core.handle(BlockCommitted(1, b"\x07" * 32, 200, two, T0 + 2 * S)), Assign)
    assert {a.roller for a in new} == {a.roller for a in old}  # the same two, another seed
    assert core.handle(proof(old[0], T0 + 3 * S)) == [rejected(old[0],
                                                               RejectReason.UNKNOWN_TASK)]
    assert core.handle(proof(new[0], T0 + 3 * S))[0] == reply(new[0], outcome=Outcome.ON_TIME)


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
    (BlockCommitted(1, b"\x01" * 32, 101, ROSTER, T0), InconsistentEvent),  # a missed revert
    (BlockCommitted(2, b"\x01" * 31, 102, ROSTER, T0), InvalidEvent),
    (BlockCommitted(2, randomness(2), 102, ROSTER + ROSTER[:1], T0), InvalidEvent),
    (BlockCommitted(2, randomness(2), 102, [["0xnope", 1]], T0), InvalidEvent),
    (BlockCommitted(2, randomness(2), 102, [[ROSTER[0][0], 1]], T0), InvalidEvent),  # a list
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
