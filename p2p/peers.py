"""Peer scores and bans.

Every peer starts at 0. A message that fails a check costs its sender the
error's penalty (`P2PConfig.penalty_for`); the score creeps back towards 0 at
`score_recovery_per_second`. When it falls to `ban_threshold` or below, the peer
is banned for `ban_seconds`: the node disconnects it, refuses its connections,
streams and gossip, and forgets its score when the ban ends. Other peers are
not affected. Scores are local and never shared.

This class only keeps the books; `host.Node` acts on a ban (disconnects).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from p2p.config import P2PConfig
from p2p.errors import P2PError


@dataclass
class _Record:
    score: float
    updated: float
    banned_until: float | None = None


class PeerScores:
    def __init__(self, config: P2PConfig, clock: Callable[[], float] = time.monotonic):
        self.config = config
        self.clock = clock
        self._records: dict[str, _Record] = {}

    def score(self, peer: str) -> float:
        record = self._current(peer)
        return 0.0 if record is None else record.score

    def penalise(self, peer: str, error: P2PError) -> bool:
        """Charge `peer` for `error`; True if this banned it."""
        penalty = self.config.penalty_for(error)
        if penalty <= 0:
            return False
        now = self.clock()
        record = self._current(peer) or self._records.setdefault(peer, _Record(0.0, now))
        if record.banned_until is not None:
            return False
        record.score -= penalty
        if record.score <= self.config.ban_threshold:
            record.banned_until = now + self.config.ban_seconds
            return True
        return False

    def ban_remaining(self, peer: str) -> float:
        """Seconds left of `peer`'s ban; 0 if it is not banned."""
        record = self._current(peer)
        if record is None or record.banned_until is None:
            return 0.0
        return record.banned_until - self.clock()

    def is_banned(self, peer: str) -> bool:
        return self.ban_remaining(peer) > 0

    def _current(self, peer: str) -> _Record | None:
        """`peer`'s record brought up to now: recovery applied, an ended ban forgotten."""
        record = self._records.get(peer)
        if record is None:
            return None
        now = self.clock()
        if record.banned_until is not None:
            if now < record.banned_until:
                return record
            del self._records[peer]
            return None
        record.score = min(0.0, record.score + (now - record.updated) * self.config.score_recovery_per_second)
        record.updated = now
        if record.score == 0.0:
            del self._records[peer]
            return None
        return record
