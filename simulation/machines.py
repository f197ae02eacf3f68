"""A roller's proving machine: `slots` provers taking jobs first come, first served.

Several identities may share one machine (a sybil): their jobs queue on the same slots, because a
proof is bound to its prover's address and each identity must compute its own.
"""

from __future__ import annotations

import heapq


class Machine:
    def __init__(self, slots: int):
        #: when each slot is next free, as a heap (integer milliseconds)
        self._free_at = [0] * slots
        #: milliseconds of proving done, the machine's cost
        self.busy_ms = 0

    def start_time(self, now: int) -> int:
        """When a job handed over now would start."""
        return max(now, self._free_at[0])

    def run(self, now: int, duration: int) -> tuple[int, int]:
        """Queue a job; returns (start, finish)."""
        start = max(now, heapq.heappop(self._free_at))
        finish = start + duration
        heapq.heappush(self._free_at, finish)
        self.busy_ms += duration
        return start, finish
