"""Wire fuzzing of the coordinators topic's validator (`p2p.gossip`): random and oversize bytes,
msgpack of the wrong shape, mutated announcements, other message types, announcements signed by
the wrong key or by no coordinator, stale ones and replays. Many cases through the real
`AnnouncementValidator`; a few published raw by an attacker host on loopback, after which the
coordinator's next announcement still reaches the roller."""

from __future__ import annotations

from hypothesis import given, settings

from fuzz_strategies import (COORDINATOR, RECORDED_SEQ, announce, draw_cases, gossip_case,
                             gossip_cases, gossip_under_attack, gossip_validator)
from p2p import messages as m
from p2p.config import P2PConfig
from p2p.gossip import Verdict

#: what each kind of case is answered with (a mutation may break the encoding or the signature)
EXPECTED = {
    "random": {"MalformedMessage", "UnsupportedVersion", "UnknownMessageType", "SchemaViolation",
               "UnexpectedMessage"},
    "oversize": {"MessageTooLarge"},
    "wrong shape": {"MalformedMessage", "UnsupportedVersion", "UnknownMessageType",
                    "SchemaViolation", "UnexpectedMessage", "BadSignature"},
    "mutated": {"MalformedMessage", "UnsupportedVersion", "UnknownMessageType", "SchemaViolation",
                "UnexpectedMessage", "BadSignature", "ReplayedMessage"},
    "unexpected type": {"UnexpectedMessage"},
    "wrong key": {"BadSignature"},
    "unregistered": {"UnknownCoordinator"},
    "stale": {"StaleMessage"},
    "replay": {"ReplayedMessage"},
}


@settings(max_examples=150, deadline=None)
@given(gossip_cases())
async def test_bad_announcements_are_rejected_or_ignored_and_change_nothing(case):
    validator = gossip_validator()
    verdict = await gossip_case(validator, case)
    assert verdict.crash is None, (case, verdict)
    assert verdict.outcome in EXPECTED[case.kind], (case, verdict)
    assert not verdict.state_changed and verdict.penalised, (case, verdict)
    # The coordinator's next announcement is still taken.
    honest = await validator.validate(None, m.encode(announce(COORDINATOR, seq=RECORDED_SEQ + 1)))
    assert honest.verdict is Verdict.ACCEPT


async def test_an_attacker_publishing_bad_announcements_is_penalised_and_the_coordinator_heard(
        tmp_path):
    config = P2PConfig(ban_threshold=-1e12, score_recovery_per_second=0)
    cases = draw_cases(gossip_cases(), 24, seed=16)
    seen, honest_heard, attacker_score, coordinator_score = await gossip_under_attack(
        tmp_path, cases, config)
    expected_score = 0.0
    for case, outcome in seen:
        assert outcome.verdict is not Verdict.ACCEPT, (case, outcome)
        assert type(outcome.error).__name__ in EXPECTED[case.kind], (case, outcome)
        expected_score -= config.penalty_for(outcome.error)
    assert attacker_score == expected_score < 0
    assert honest_heard and coordinator_score == 0
