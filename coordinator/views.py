"""Read-only answers of the decision core, for the service's API and a live view."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from market_contracts.rules import TaskKind


class ProvingStatus(enum.Enum):
    """Where a block is in the market's proving as this coordinator's core sees it (draws,
    proofs, aggregation, settlement). Not L1's status of the block
    (`market_contracts.rollup.BlockStatus`), which knows only committed and finalized."""

    #: not committed, or reverted
    UNKNOWN = "unknown"
    #: drawn, no valid proof yet
    ASSIGNED = "assigned"
    #: no valid proof after its drawn rounds: open to every staked roller (see `commands.Open`)
    OPEN = "open"
    #: a valid proof; waiting for the rest of its batch
    PROVEN = "proven"
    #: its batch has an aggregator drawn
    AGGREGATING = "aggregating"
    #: its batch's aggregate arrived; finalization is on its way to L1
    AGGREGATED = "aggregated"
    #: L1 finalized its batch; outcomes not settled yet
    FINALIZED = "finalized"
    #: `Settle` sent, not confirmed on L1 yet
    SETTLING = "settling"
    SETTLED = "settled"


@dataclass(frozen=True)
class AssignmentView:
    kind: TaskKind
    index: int
    round: int
    seed: bytes
    roller: str
    accepted: bool
    assigned_at: int
    deadline: int
    close_at: int


@dataclass(frozen=True)
class RollerCounts:
    """What the core recorded for one roller, per assignment (a round's slots held at once count
    once; an open round's proof taken counts as one assignment); a reverted block takes its
    counts back."""

    assigned: int = 0
    #: declined before accepting: no fault
    declined: int = 0
    on_time: int = 0
    late: int = 0
    missed: int = 0
    invalid: int = 0
