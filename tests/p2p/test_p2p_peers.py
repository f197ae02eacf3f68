"""Peer scores: penalties by error, recovery, bans and their end."""

from __future__ import annotations

import pytest

from p2p.config import P2PConfig
from p2p.errors import (BadSignature, ConfigError, MalformedMessage, ReplayedMessage, StaleMessage, Timeout,
                        UnexpectedMessage)
from p2p.peers import PeerScores


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_penalties_follow_the_config():
    config = P2PConfig()
    assert config.penalty_for(BadSignature("x")) == config.penalty_bad_signature
    assert config.penalty_for(UnexpectedMessage("ping", ("task",))) == config.penalty_protocol_violation
    assert config.penalty_for(ReplayedMessage(1, 1)) == 0
    assert config.penalty_for(Timeout("reading", 1)) == 0  # a local condition, not the peer's fault


def test_scores_fall_recover_and_ban():
    clock = Clock()
    scores = PeerScores(P2PConfig(), clock)
    assert not scores.penalise("a", MalformedMessage("x"))
    assert scores.score("a") == -50 and scores.score("b") == 0
    clock.t += 100  # 0.1 point per second
    assert scores.score("a") == pytest.approx(-40)
    assert not scores.penalise("a", StaleMessage(1, 2))  # no penalty, no change
    assert scores.score("a") == pytest.approx(-40)
    assert not scores.penalise("a", MalformedMessage("x"))  # -90: still above -100
    assert scores.penalise("a", MalformedMessage("x")) is True
    assert scores.is_banned("a") and not scores.is_banned("b")
    assert scores.ban_remaining("a") == pytest.approx(600)
    assert not scores.penalise("a", BadSignature("x"))  # already banned: nothing more to do
    clock.t += 600
    assert not scores.is_banned("a")
    assert scores.score("a") == 0  # the ban served, the peer starts afresh


def test_one_forgery_bans_at_the_defaults():
    scores = PeerScores(P2PConfig(), Clock())
    assert scores.penalise("a", BadSignature("x"))


def test_config_checks_itself():
    with pytest.raises(ConfigError):
        P2PConfig(write_chunk_bytes=65_536)
    with pytest.raises(ConfigError):
        P2PConfig(artifact_chunk_bytes=1 << 20)
    with pytest.raises(ConfigError):
        P2PConfig(ban_threshold=0)
