"""Exponential back-off between attempts: the one retry policy of every node (a roller's
reconnects to a coordinator, the coordinator's and the sequencer's L1 retries).

In p2p, at the bottom, because every node imports p2p; each node's config holds its own
`first` and `most` (a reconnect wants seconds, an L1 outage tolerates a minute).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    #: seconds to wait after the first failure
    first: float
    #: the most seconds between two attempts, however many failed
    most: float

    def delay(self, failures: int) -> float:
        """Seconds to wait after `failures` (1 or more) failed attempts in a row: `first`,
        doubled per failure up to `most`, so that a peer or L1 that is down is not hammered."""
        return min(self.most, self.first * 2.0 ** (failures - 1))
