"""What happened in a market, read from the chain alone: blocks by status, batches finalized,
settled and (lottery mode) drawn, and per roller its stake, reputation, rewards, slashings and settled outcomes.

Only events and state the contracts hold are used, so the report is what anyone auditing the
network would see, not what the coordinator believes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from market_contracts.bindings import Market
from market_contracts.rollup import Rollup
from market_contracts.rules import Outcome

OUTCOME_NAMES = {o: o.name.lower() for o in Outcome}


@dataclass(frozen=True)
class RollerReport:
    address: str
    behaviour: str
    stake: int
    reputation: int
    rewards: int
    slashed: int
    outcomes: Mapping[str, int]

    def to_json(self) -> dict:
        return {"address": self.address, "behaviour": self.behaviour, "stake": str(self.stake),
                "reputation": self.reputation, "rewards": str(self.rewards),
                "slashed": str(self.slashed), "outcomes": dict(self.outcomes)}


@dataclass(frozen=True)
class MarketReport:
    """One rollup's blocks, batches and reward pool; the rollers' part is market-wide (a roller
    serves every rollup of the market)."""

    rollup: str
    #: what is left in the rollup's reward pool: only its own settlements pay from it
    reward_pool: int
    committed_blocks: int
    finalized_blocks: int
    batches_finalized: int
    #: this rollup's batches settled, and (lottery mode) their lotteries drawn
    batches_settled: int
    lotteries_drawn: int
    rollers: tuple[RollerReport, ...]
    #: per finalized block: seconds from its commit to its batch's finalization (L1 timestamps)
    finality_seconds: tuple[int, ...]

    def to_json(self) -> dict:
        return {"rollup": self.rollup, "reward_pool": str(self.reward_pool),
                "committed_blocks": self.committed_blocks,
                "finalized_blocks": self.finalized_blocks,
                "batches_finalized": self.batches_finalized,
                "batches_settled": self.batches_settled,
                "lotteries_drawn": self.lotteries_drawn,
                "finality_seconds": {"p50": percentile(self.finality_seconds, 50),
                                     "p99": percentile(self.finality_seconds, 99)},
                "rollers": [r.to_json() for r in self.rollers]}


def percentile(values: Sequence[float], p: int) -> float | None:
    """The nearest-rank `p`th percentile (0 < p <= 100), one of `values`; None of nothing. The one
    percentile of every report and benchmark, in integers so that the rank is exact."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, -(-p * len(ordered) // 100) - 1)]


def market_report(market: Market, rollup: Rollup, behaviours: Mapping[str, str],
                  from_block: int = 0, at_block: int | None = None) -> MarketReport:
    """The report of `rollup`, and of the rollers in `behaviours` (address -> behaviour name)
    across the market, from the events of L1 blocks `from_block`..`at_block` and the state
    after `at_block` (None: the latest), so that reports of several rollups read at one block
    agree."""
    at = market.chain.w3.eth.block_number if at_block is None else at_block
    span = {"from_block": from_block, "to_block": at}
    staking = market.staking.events
    rewards: Counter[str] = Counter()
    slashed: Counter[str] = Counter()
    outcomes: dict[str, Counter[str]] = {a: Counter() for a in behaviours}
    for log in staking.RewardCredited().get_logs(**span):
        rewards[log["args"]["roller"]] += log["args"]["amount"]
    for log in staking.Slashed().get_logs(**span):
        slashed[log["args"]["roller"]] += log["args"]["amount"]
    for log in staking.ReputationChanged().get_logs(**span):
        roller = log["args"]["roller"]
        if roller in outcomes:
            outcomes[roller][OUTCOME_NAMES[Outcome(log["args"]["outcome"])]] += 1
    of_rollup = {"rollup": rollup.address}
    settled = staking.BatchSettled().get_logs(**span, argument_filters=of_rollup)
    drawn = staking.LotteryDrawn().get_logs(**span, argument_filters=of_rollup)
    finalizations = rollup.contract.events.BatchFinalized().get_logs(**span)
    finality = []
    for log in finalizations:
        finalized_at = market.chain.w3.eth.get_block(log["blockNumber"])["timestamp"]
        for number in range(log["args"]["firstBlock"], log["args"]["lastBlock"] + 1):
            finality.append(finalized_at - rollup.block(number, at).timestamp)
    rollers = []
    for address, behaviour in behaviours.items():
        info = market.roller_info(address, at)
        rollers.append(RollerReport(
            address, behaviour, info.active + info.unbonding, info.rep, rewards[address],
            slashed[address], {name: outcomes[address][name] for name in OUTCOME_NAMES.values()}))
    return MarketReport(rollup.address, market.reward_pool(rollup.address, at),
                        rollup.last_committed(at), rollup.last_finalized(at), len(finalizations),
                        len(settled), len(drawn), tuple(rollers), tuple(finality))
