"""The two non-roller parties a run can make adversarial: the coordinator (what it reports to
`RollerStaking.settle`) and the sequencer (when it commits and whether it re-commits).

Scenario keys: a `[coordinator]` or `[sequencer]` table with `behaviour` (default "honest") plus
that behaviour's knobs, checked as a roller's are. `roller` names the `[[rollers]]` label whose
first address the adversary favours.

Both are judged by the real rules: the ledger refuses what the contract refuses. What it cannot
refuse is the trust the spec names ("Settlement", "Trust that remains"): a coordinator reporting
rollers who were not drawn, or wrong outcomes, within the caps. `provernet audit assignments`
exposes that from L1, and the rollup team removes the coordinator; the model is that the audit
finds the first settlement that no draw explains and the removal lands `removal_delay` later,
after which another coordinator of the Rollup settles the rest honestly.
"""

from __future__ import annotations

from abc import ABC
from collections import Counter
from collections.abc import Mapping
from typing import ClassVar

from coordinator.commands import Settle
from market_contracts.ledger import LotteryEntry, OutcomeReport, Rejected, sort_outcomes
from market_contracts.rules import (
    MarketParams,
    Outcome,
    TaskKind,
    block_seed,
    blocks_of,
    draw_slots,
)
from simulation.behaviours import Knob
from simulation.l1 import BACKUP_COORDINATOR, CHAIN_ID, COORDINATOR, L1, ROLLUP, Pin

FAVOURED = Knob("roller", str, None, "label of the [[rollers]] entry it favours (its first "
                "address)")


class Operator(ABC):
    """A coordinator's or a sequencer's conduct."""

    name: ClassVar[str]
    knobs: ClassVar[tuple[Knob, ...]] = ()

    def __init__(self, settings: Mapping[str, object], params: MarketParams,
                 favoured: str | None):
        self.settings = settings
        self.params = params
        #: the favoured roller's address (None for an honest operator)
        self.favoured = favoured

    def report(self) -> dict:
        """What `metrics.json` says about it."""
        return {"behaviour": self.name}


# ---------------------------------------------------------------- coordinators

class HonestCoordinator(Operator):
    """Settles what its core decided."""

    name = "honest"

    def settle(self, l1: L1, command: Settle, now: int) -> tuple[LotteryEntry, ...]:
        """Carries out the core's `Settle`; returns the settled lottery entries."""
        l1.settle(COORDINATOR, command.batch, command.outcomes)
        return l1.settled_entries(command.outcomes)


class MisreportingCoordinator(HonestCoordinator):
    """Tries v1's attacks through `settle`, for its roller, on every batch: a record for an
    invented block, honest rollers reported invalid, a round past the open one, more slots than
    a round has (all refused by the contract); then what the contract cannot refuse: its roller
    on time in round 0 with all M slots of every block and in every aggregation round, the
    round-0 holders left out and every other honest record reported missed. The audit finds the
    first such settlement; `removal_delay` later the rollup team removes the coordinator, its
    settlements are refused from then on, and a replacement settles the core's outcomes."""

    name = "misreport"
    knobs = (FAVOURED,
             Knob("removal_delay", float, 600.0, "seconds from the first settlement the audit "
                  "finds wrong to the coordinator's removal", minimum=0))

    def __init__(self, settings: Mapping[str, object], params: MarketParams,
                 favoured: str | None):
        super().__init__(settings, params, favoured)
        #: refusals by the contract's error name
        self.refused: Counter[str] = Counter()
        self.misreported_batches = 0
        self.detected_at: int | None = None
        self.removed_at: int | None = None

    def settle(self, l1: L1, command: Settle, now: int) -> tuple[LotteryEntry, ...]:
        if (self.removed_at is None and self.detected_at is not None
                and now >= self.detected_at + round(self.settings["removal_delay"] * 1000)):
            l1.remove_coordinator(COORDINATOR, BACKUP_COORDINATOR)
            self.removed_at = now
        truth = command.outcomes
        attempts = [self._within_caps(truth)]
        if self.removed_at is None:
            attempts[:0] = self._refusable(command.batch, truth)
        for records in attempts:
            try:
                l1.settle(COORDINATOR, command.batch, records)
            except Rejected as refused:
                self.refused[refused.reason] += 1
                continue
            if records != truth:
                self.misreported_batches += 1
                if self.detected_at is None:
                    self.detected_at = now
            return l1.settled_entries(records)
        l1.settle(BACKUP_COORDINATOR, command.batch, truth)
        return l1.settled_entries(truth)

    def _refusable(self, batch: int, truth: tuple[OutcomeReport, ...]):
        """v1's attacks that the v2 contract refuses, each as a whole settlement."""
        last = blocks_of(batch, self.params.k)[-1]
        me = self.favoured
        yield self._sorted([*truth, OutcomeReport(me, TaskKind.BLOCK, last + 1, 0, 1,
                                                  Outcome.ON_TIME)])
        yield self._sorted([*truth, OutcomeReport(me, TaskKind.BLOCK, last, self.params.r_open + 1,
                                                  1, Outcome.ON_TIME)])
        yield self._sorted([o for o in truth if o.roller != me]
                           + [OutcomeReport(me, TaskKind.BLOCK, last, 0, self.params.m + 1,
                                            Outcome.ON_TIME)])
        if any(o.outcome is Outcome.ON_TIME and o.roller != me for o in truth):
            yield tuple(OutcomeReport(o.roller, o.kind, o.task, o.round, o.slots, Outcome.INVALID)
                        if o.roller != me and o.outcome is Outcome.ON_TIME else o for o in truth)

    def _within_caps(self, truth: tuple[OutcomeReport, ...]) -> tuple[OutcomeReport, ...]:
        me, r_open = self.favoured, self.params.r_open
        records = [OutcomeReport(o.roller, o.kind, o.task, o.round, o.slots, Outcome.MISSED)
                   for o in truth if o.roller != me and o.kind is TaskKind.BLOCK and o.round > 0]
        tasks = {(o.kind, o.task) for o in truth}
        for kind, task in tasks:
            if kind is TaskKind.BLOCK:
                records.append(OutcomeReport(me, kind, task, 0, self.params.m, Outcome.ON_TIME))
            else:
                records += [OutcomeReport(me, kind, task, r, 1, Outcome.ON_TIME)
                            for r in range(r_open + 1)]
        return self._sorted(records)

    @staticmethod
    def _sorted(records: list[OutcomeReport]) -> tuple[OutcomeReport, ...]:
        return tuple(sort_outcomes(records))

    def report(self) -> dict:
        return {"behaviour": self.name, "refused": dict(sorted(self.refused.items())),
                "misreported_batches": self.misreported_batches,
                "detected_at_s": _seconds(self.detected_at),
                "removed_at_s": _seconds(self.removed_at)}


# ---------------------------------------------------------------- sequencers

class HonestSequencer(Operator):
    """Commits one block per commit slot and never reverts."""

    name = "honest"

    def reroll(self, n: int, pin: Pin, commits: int) -> bool:
        """Whether it reverts block `n` (committed `commits` times) now that its randomness is
        recorded."""
        return False


class ReRollingSequencer(HonestSequencer):
    """Reverts a block whose round-0 draw (public once the randomness is recorded) gives its
    roller no slot and commits it again, up to `max_rerolls` times, hoping for a better draw: v1's
    attack. In v2 the randomness and the roster are pinned on the first commit, so every recommit
    draws the same slots: it gains nothing but delay."""

    name = "reroll"
    knobs = (FAVOURED,
             Knob("max_rerolls", int, 3, "most reverts of one block number", minimum=1))

    def __init__(self, settings: Mapping[str, object], params: MarketParams,
                 favoured: str | None):
        super().__init__(settings, params, favoured)
        self.rerolls = 0

    def reroll(self, n: int, pin: Pin, commits: int) -> bool:
        if commits > self.settings["max_rerolls"]:
            return False
        seed = block_seed(CHAIN_ID, ROLLUP, n, 0, pin.randomness)
        if self.favoured in draw_slots(seed, pin.roster, self.params.m):
            return False
        self.rerolls += 1
        return True

    def report(self) -> dict:
        return {"behaviour": self.name, "rerolls": self.rerolls}


def _seconds(ms: int | None) -> float | None:
    return None if ms is None else ms / 1000


COORDINATORS: dict[str, type[HonestCoordinator]] = {
    cls.name: cls for cls in (HonestCoordinator, MisreportingCoordinator)}
SEQUENCERS: dict[str, type[HonestSequencer]] = {
    cls.name: cls for cls in (HonestSequencer, ReRollingSequencer)}
