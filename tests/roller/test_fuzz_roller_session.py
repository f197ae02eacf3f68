"""Wire fuzzing of the roller's side of the session protocol (`roller.session`): what a
coordinator (or whoever holds its peer id) sends a roller. Bytes where a task, cancel, receipt,
ping or pong is due (random, truncated, oversize, of the wrong shape, mutated, of a type not due);
tasks signed by the wrong key or by none, with another task id, with times out of order, open
with a deadline or several slots; bad challenges. Through the roller's real session code on bytes
in memory: each is refused with its specific error (a decline code for a task, which is then
never journaled), and a peer that broke the framing is penalised."""

from __future__ import annotations

import trio
from hypothesis import given, settings

from fuzz_strategies import draw_cases, roller_case, roller_cases, roller_under_attack, roller_world
from p2p.config import P2PConfig

#: what each bad task is declined with (`roller.session.check_task`'s codes)
DECLINED = {"wrong key": {"declined bad_signature"}, "unsigned": {"declined bad_signature"},
            "wrong task id": {"declined bad_task_id"}, "bad times": {"declined bad_times"},
            "bad open task": {"declined bad_open_task"}}
#: what bytes where a message is due are refused with; a task that decodes is then checked
SPECIFIC = {"MessageTooLarge", "MalformedMessage", "UnsupportedVersion", "UnknownMessageType",
            "SchemaViolation", "UnexpectedMessage", "IncompleteFrame", "StreamClosed",
            "RemoteError",
            "SessionFailed", "SessionRefused", "declined bad_signature", "accepted"}


@settings(max_examples=200, deadline=None)
@given(roller_cases())
async def test_what_a_roller_must_not_take_is_refused_with_a_specific_error(case):
    verdict = await roller_case(case)
    assert verdict.crash is None, (case, verdict)
    assert verdict.outcome in DECLINED.get(case.kind, SPECIFIC), (case, verdict)
    if verdict.outcome == "accepted":  # a mutation that left a valid cancel, receipt, ping...
        assert case.kind.endswith("mutated") or case.kind.endswith("wrong shape"), case
    # Every rejection is charged (a challenge for another coordinator or chain too: it
    # contradicts the announcement the peer was dialled by), but for a stream that ends before
    # its first byte, a clean end.
    assert verdict.penalised, (case, verdict)


async def test_a_roller_under_attack_journals_nothing_and_keeps_serving(tmp_path, small_circuit,
                                                                        monkeypatch):
    """A few cases over real libp2p from a coordinator host to the real roller service: each
    bad task declined with its code and never journaled, each bad frame resetting the session
    and costing the coordinator's peer, and the roller back for the next session every time."""
    monkeypatch.setenv("PROVERNET_CACHE", str(tmp_path / "verifier-cache"))
    world = await trio.to_thread.run_sync(roller_world, small_circuit, tmp_path)
    cases = draw_cases(roller_cases(coordinator=world.coordinator, roller=world.roller.address,
                                    chain_id=world.chain.chain_id, rollup=world.rollup.address),
                       8, seed=16)
    config = P2PConfig(ban_threshold=-1e12, score_recovery_per_second=0)
    answers, honest, (before, after), score = await roller_under_attack(world, tmp_path, cases,
                                                                        config)
    assert honest and before == after
    charged = 0.0
    for case, answer in answers:
        if case.kind in DECLINED:
            assert answer in DECLINED[case.kind], (case, answer)
        elif isinstance(case.data, tuple):  # a challenge
            assert answer in ("reset", "error wrong_coordinator", "error wrong_chain"), (case, answer)
        else:
            assert answer in ("reset", "pong") or answer.startswith("declined"), (case, answer)
        charged += (await roller_case(case)).charged
    # Each case cost the coordinator's peer what the same bytes cost it in memory.
    assert score == -charged < 0
