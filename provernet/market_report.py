"""What happened in a market, read from the chain alone: blocks by status, batches finalized,
settled and (lottery mode) drawn, and per roller its stake, reputation, rewards, slashings and settled outcomes.

Only events and state the contracts hold are used, so the report is what anyone auditing the
network would see, not what the coordinator believes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
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
        return {"committed_blocks": self.committed_blocks,
                "finalized_blocks": self.finalized_blocks,
                "batches_finalized": self.batches_finalized,
                "batches_settled": self.batches_settled,
                "lotteries_drawn": self.lotteries_drawn,
                "finality_seconds": {"p50": percentile(self.finality_seconds, 50),
                                     "p99": percentile(self.finality_seconds, 99)},
                "rollers": [r.to_json() for r in self.rollers]}


def percentile(values: tuple[int, ...], p: int) -> int | None:
    """The nearest-rank percentile; None of nothing."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, -(-p * len(ordered) // 100) - 1)]


def market_report(market: Market, rollup: Rollup, behaviours: Mapping[str, str],
                  from_block: int = 0) -> MarketReport:
    """The report for the rollers in `behaviours` (address -> behaviour name), from the events
    since L1 block `from_block`."""
    staking = market.staking.events
    rewards: Counter[str] = Counter()
    slashed: Counter[str] = Counter()
    outcomes: dict[str, Counter[str]] = {a: Counter() for a in behaviours}
    for log in staking.RewardCredited().get_logs(from_block=from_block):
        rewards[log["args"]["roller"]] += log["args"]["amount"]
    for log in staking.Slashed().get_logs(from_block=from_block):
        slashed[log["args"]["roller"]] += log["args"]["amount"]
    for log in staking.ReputationChanged().get_logs(from_block=from_block):
        roller = log["args"]["roller"]
        if roller in outcomes:
            outcomes[roller][OUTCOME_NAMES[Outcome(log["args"]["outcome"])]] += 1
    of_rollup = {"rollup": rollup.address}
    settled = staking.BatchSettled().get_logs(from_block=from_block, argument_filters=of_rollup)
    drawn = staking.LotteryDrawn().get_logs(from_block=from_block, argument_filters=of_rollup)
    finalizations = rollup.contract.events.BatchFinalized().get_logs(from_block=from_block)
    finality = []
    for log in finalizations:
        finalized_at = market.chain.w3.eth.get_block(log["blockNumber"])["timestamp"]
        for number in range(log["args"]["firstBlock"], log["args"]["lastBlock"] + 1):
            finality.append(finalized_at - rollup.block(number).timestamp)
    rollers = []
    for address, behaviour in behaviours.items():
        info = market.roller_info(address)
        rollers.append(RollerReport(
            address, behaviour, info.active + info.unbonding, info.rep, rewards[address],
            slashed[address], {name: outcomes[address][name] for name in OUTCOME_NAMES.values()}))
    return MarketReport(rollup.last_committed(), rollup.last_finalized(), len(finalizations),
                        len(settled), len(drawn), tuple(rollers), tuple(finality))
