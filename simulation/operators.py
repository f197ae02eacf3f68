"""The two non-roller parties a run can make adversarial: the coordinator (what it reports to
`RollerStaking.settle`) and the sequencer (when it commits and whether it re-commits).

Scenario keys: a `[coordinator]` or `[sequencer]` table with `behaviour` (default "honest") plus
that behaviour's knobs, checked as a roller's are. `roller` names the `[[rollers]]` label whose
first address the adversary favours.

Both are judged by the real rules: the ledger refuses what the contract refuses, draws included
(a record's roller must hold its slots in the task's roster snapshot). What it cannot refuse is
the trust the spec names ("Settlement", "Trust that remains"): a coordinator reporting wrong
outcomes for the rollers who were drawn, within the caps (an aggregation's open round, which L1
cannot anchor, is not settled at all: `rules.max_settled_round`).
`provernet audit assignments` exposes that, and the rollup team removes the coordinator; the
model is that the audit finds the first misreported settlement and the removal lands
`removal_delay` later, after which another coordinator of the Rollup settles the rest honestly.
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
from simulation.l1 import BACKUP_COORDINATOR, COORDINATOR, L1

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
    """Tries, for its roller, on every batch, the attacks through `settle` that the v2 contract
    refuses: a record for an invented block, a round past the open one, more slots than a round
    has, honest rollers reported invalid, its roller with all M slots of a round-0 draw it does
    not hold that many of (`NotDrawn`: the draw is checked against the roster snapshot), its
    roller as the rescuer of a block L1 says another proved (`NotTheProver`), its roller as the
    rescuer of the batch's aggregation (`RoundTooLarge`: L1 names no aggregator, so an
    aggregation's open round is never settled). Then what the contract cannot refuse, the
    outcomes of real holders: its roller on time in every round it was drawn (it proved
    nothing), every other holder missed. The audit finds the first such settlement; `removal_delay` later the rollup team removes the coordinator, its settlements
    are refused from then on, and a replacement settles the core's outcomes."""

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
        """The attacks that the v2 contract refuses, each as a whole settlement."""
        blocks = blocks_of(batch, self.params.k)
        me, m, r_open = self.favoured, self.params.m, self.params.r_open
        yield self._with(truth, OutcomeReport(me, TaskKind.BLOCK, blocks[-1] + 1, 0, 1,
                                              Outcome.ON_TIME))
        yield self._with(truth, OutcomeReport(me, TaskKind.BLOCK, blocks[-1], r_open + 1, 1,
                                              Outcome.ON_TIME))
        yield self._with(truth, OutcomeReport(me, TaskKind.BLOCK, blocks[-1], 0, m + 1,
                                              Outcome.ON_TIME))
        if any(o.outcome is Outcome.ON_TIME and o.roller != me for o in truth):
            yield tuple(OutcomeReport(o.roller, o.kind, o.task, o.round, o.slots, Outcome.INVALID)
                        if o.roller != me and o.outcome is Outcome.ON_TIME else o for o in truth)
        held = {o.task for o in truth
                if o.roller == me and o.kind is TaskKind.BLOCK and o.round == 0 and o.slots == m}
        if blocks[0] not in held:
            yield self._with(truth, OutcomeReport(me, TaskKind.BLOCK, blocks[0], 0, m,
                                                  Outcome.ON_TIME))
        yield self._with(truth, OutcomeReport(me, TaskKind.BLOCK, blocks[-1], r_open, 1,
                                              Outcome.ON_TIME))
        yield self._with(truth, OutcomeReport(me, TaskKind.AGGREGATION, batch, r_open, 1,
                                              Outcome.ON_TIME))

    def _with(self, truth: tuple[OutcomeReport, ...],
              invented: OutcomeReport) -> tuple[OutcomeReport, ...]:
        """The true records with `invented` in place of its roller's true record for the same
        task and round, if any."""
        same = (invented.kind, invented.task, invented.round, invented.roller)
        return self._sorted([o for o in truth if (o.kind, o.task, o.round, o.roller) != same]
                            + [invented])

    def _within_caps(self, truth: tuple[OutcomeReport, ...]) -> tuple[OutcomeReport, ...]:
        """What the contract cannot check: its roller's records on time, every other roller's
        missed."""
        me = self.favoured
        return tuple(OutcomeReport(o.roller, o.kind, o.task, o.round, o.slots,
                                   Outcome.ON_TIME if o.roller == me else Outcome.MISSED)
                     for o in truth)

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

    def reroll(self, l1: L1, n: int) -> bool:
        """Whether it reverts block `n` now that its randomness is recorded."""
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

    def reroll(self, l1: L1, n: int) -> bool:
        if l1.commits[n] > self.settings["max_rerolls"]:
            return False
        pin = l1.pins[n]
        seed = block_seed(l1.chain_id, l1.rollup, n, 0, pin.randomness)
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
