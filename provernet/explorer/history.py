"""The market's events, read from L1 a range of blocks at a time and folded in L1 order.

Everything here is what the Rollup and the staking contract emitted: events never change once
read, so each L1 block is read once (`ChainLog.read`), and `History.apply` is a pure fold over
them. Staking events of other rollups are kept only where they touch a roller's own standing
(its reputation is one across rollups); everything else is this rollup's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from eth_utils import event_abi_to_log_topic, to_checksum_address

from market_contracts.bindings import Market, RosterSnapshot
from market_contracts.ledger import OutcomeReport
from market_contracts.rollup import CommittedBlock, Rollup
from market_contracts.rules import Outcome, TaskKind, batch_of

#: Most L1 blocks one eth_getLogs asks for: public endpoints refuse wider ranges (10,000 is the
#: common limit), and a long history is read in steps anyway.
LOG_RANGE = 5_000

#: The events the explorer folds, by contract.
ROLLUP_EVENTS = ("BlockCommitted", "BlocksReverted", "RandomnessRecorded", "BatchFinalized")
STAKING_EVENTS = ("RollerRegistered", "Staked", "UnstakeRequested", "Withdrawn", "RollerPaused",
                  "RollerResumed", "Claimed", "RewardsFunded", "ReputationChanged",
                  "RewardCredited", "BatchSettled", "LotteryDrawn", "RosterSnapshot", "Slashed")


@dataclass(frozen=True)
class Where:
    """Where an event lives on L1: its block and time, its transaction, its place in the block."""

    l1_block: int
    time: int
    transaction: str
    log_index: int

    def to_json(self) -> dict:
        return {"l1_block": self.l1_block, "time": self.time, "transaction": self.transaction}


@dataclass(frozen=True)
class Event:
    name: str
    args: Mapping[str, Any]
    where: Where
    #: a BlockCommitted event's block as `Rollup.committed_from_log` reads it from L1 (the event
    #: holds only its number, new root and data hash); None for other events
    block: CommittedBlock | None = None


@dataclass(frozen=True)
class BlockEntry:
    """An L2 block as the events tell it: its (last) commit, randomness and finalization."""

    block: CommittedBlock
    committed: Where
    randomness: bytes | None = None
    finalized: Where | None = None
    prover: str | None = None


@dataclass(frozen=True)
class BatchEntry:
    index: int
    first_block: int
    last_block: int
    provers: tuple[str, ...]
    finalized: Where
    settled: Where | None = None
    coordinator: str | None = None
    records: int = 0
    #: lottery mode: the randomness `drawLottery` used, and where
    lottery_randomness: bytes | None = None
    lottery: Where | None = None


@dataclass(frozen=True)
class ReputationChange:
    """A `ReputationChanged` event: a settled record, or (outcome invalid) a slash."""

    roller: str
    rollup: str
    kind: TaskKind
    task: int
    round: int
    slots: int
    outcome: Outcome
    old_rep: int
    new_rep: int
    where: Where

    def report(self) -> OutcomeReport:
        return OutcomeReport(self.roller, self.kind, self.task, self.round, self.slots,
                             self.outcome)


@dataclass(frozen=True)
class Reward:
    roller: str
    kind: TaskKind
    task: int
    amount: int
    where: Where


@dataclass(frozen=True)
class Slash:
    roller: str
    reporter: str
    kind: TaskKind
    index: int
    round: int
    offense: bytes
    amount: int
    reporter_share: int
    burned: int
    where: Where


@dataclass(frozen=True)
class StakeChange:
    """Stake moving: staked (`amount` in), unstake requested, withdrawn, claimed (rewards out)."""

    roller: str
    what: str
    amount: int
    where: Where


@dataclass
class History:
    """Everything the events said, for one rollup of one market."""

    rollup: str
    #: blocks per batch
    k: int
    blocks: dict[int, BlockEntry] = field(default_factory=dict)
    batches: dict[int, BatchEntry] = field(default_factory=dict)
    #: every reputation change of every roller, any rollup's (reputation is one across them)
    reputation: list[ReputationChange] = field(default_factory=list)
    rewards: list[Reward] = field(default_factory=list)
    slashes: list[Slash] = field(default_factory=list)
    stake_changes: list[StakeChange] = field(default_factory=list)
    #: roller -> where it registered and its reputation then
    registered: dict[str, tuple[Where, int]] = field(default_factory=dict)
    #: roster snapshots by id, as `Market.snapshots` rebuilt and checked them
    snapshots: list[RosterSnapshot] = field(default_factory=list)
    #: rollers whose on-chain state (stake, reputation, claimable, pause) may have changed since
    #: the explorer last read them (`ExplorerData._read_rollers` empties it)
    touched: set[str] = field(default_factory=set)
    #: whether anything moved tokens in the staking contract since that read
    pools_touched: bool = True

    def apply(self, event: Event) -> None:
        args, where = event.args, event.where
        ours = to_checksum_address(args["rollup"]) == self.rollup if "rollup" in args else True
        if "roller" in args:
            self.touched.add(args["roller"])
        self.pools_touched |= event.name in _MOVES_TOKENS
        handler = _HANDLERS.get(event.name)
        if event.block is not None:
            self.blocks[event.block.number] = BlockEntry(event.block, where)
        elif handler is not None and (ours or event.name == "ReputationChanged"):
            handler(self, args, where)

    # ------------------------------------------------------------------ derived

    @property
    def last_committed(self) -> int:
        return max(self.blocks, default=0)

    @property
    def last_finalized(self) -> int:
        return max((b.last_block for b in self.batches.values()), default=0)

    def settled_records(self) -> list[ReputationChange]:
        """This rollup's settled records (slashes left out: they are not reports), in L1 order."""
        return [c for c in self.reputation
                if c.rollup == self.rollup and c.outcome is not Outcome.INVALID]

    def batch_of_block(self, number: int) -> BatchEntry | None:
        return self.batches.get(batch_of(number, self.k))


# ---------------------------------------------------------------------- the fold, by event


def _reverted(h: History, args, where: Where) -> None:
    h.blocks = {n: b for n, b in h.blocks.items() if n < args["fromBlock"]}


def _randomness(h: History, args, where: Where) -> None:
    number = args["blockNumber"]
    if number in h.blocks:
        h.blocks[number] = replace(h.blocks[number], randomness=bytes(args["randomness"]))


def _finalized(h: History, args, where: Where) -> None:
    first, last = args["firstBlock"], args["lastBlock"]
    provers = tuple(args["provers"])
    for offset, number in enumerate(range(first, last + 1)):
        if number in h.blocks:
            h.blocks[number] = replace(h.blocks[number], finalized=where, prover=provers[offset])
    index = batch_of(first, h.k)
    h.batches[index] = BatchEntry(index, first, last, provers, where)


def _settled(h: History, args, where: Where) -> None:
    batch = h.batches.get(args["batch"])
    if batch is not None:
        h.batches[batch.index] = replace(batch, settled=where, coordinator=args["coordinator"],
                                         records=args["records"])


def _lottery(h: History, args, where: Where) -> None:
    batch = h.batches.get(args["batch"])
    if batch is not None:
        h.batches[batch.index] = replace(batch, lottery_randomness=bytes(args["randomness"]),
                                         lottery=where)


def _reputation(h: History, args, where: Where) -> None:
    h.reputation.append(ReputationChange(
        args["roller"], to_checksum_address(args["rollup"]), TaskKind(args["kind"]), args["task"],
        args["round"], args["slots"], Outcome(args["outcome"]), args["oldRep"], args["newRep"],
        where))


def _reward(h: History, args, where: Where) -> None:
    h.rewards.append(Reward(args["roller"], TaskKind(args["kind"]), args["task"], args["amount"],
                            where))


def _slash(h: History, args, where: Where) -> None:
    h.slashes.append(Slash(args["roller"], args["reporter"], TaskKind(args["kind"]),
                           args["index"], args["round"], bytes(args["offense"]), args["amount"],
                           args["reporterShare"], args["burned"], where))


def _registered(h: History, args, where: Where) -> None:
    h.registered[args["roller"]] = (where, args["rep"])


def _stake_change(what: str, amount_arg: str | None):
    def handle(h: History, args, where: Where) -> None:
        amount = args[amount_arg] if amount_arg else 0
        h.stake_changes.append(StakeChange(args["roller"], what, amount, where))
    return handle


_HANDLERS = {
    "BlocksReverted": _reverted,
    "RandomnessRecorded": _randomness,
    "BatchFinalized": _finalized,
    "BatchSettled": _settled,
    "LotteryDrawn": _lottery,
    "ReputationChanged": _reputation,
    "RewardCredited": _reward,
    "Slashed": _slash,
    "RollerRegistered": _registered,
    "Staked": _stake_change("staked", "amount"),
    "UnstakeRequested": _stake_change("unstake requested", "amount"),
    "Withdrawn": _stake_change("withdrawn", "amount"),
    "Claimed": _stake_change("claimed", "amount"),
    "RollerPaused": _stake_change("paused", None),
    "RollerResumed": _stake_change("resumed", None),
}

#: Events after which the pools and the contract's totals are read again.
_MOVES_TOKENS = frozenset({"Staked", "UnstakeRequested", "Withdrawn", "Claimed", "RewardsFunded",
                           "RewardCredited", "Slashed"})


# ---------------------------------------------------------------------- reading L1


class ChainLog:
    """Reads the Rollup's and the staking contract's events from L1, one range at a time, with
    one eth_getLogs per LOG_RANGE blocks for both contracts (blocking: call it from a thread)."""

    def __init__(self, market: Market, rollup: Rollup):
        self.market, self.rollup = market, rollup
        self._w3 = market.chain.w3
        self._decoders = {}
        for contract, names in ((rollup.contract, ROLLUP_EVENTS),
                                (market.staking, STAKING_EVENTS)):
            for name in names:
                event = getattr(contract.events, name)()
                self._decoders[(contract.address, event_abi_to_log_topic(event.abi))] = event
        self._times: dict[int, int] = {}

    def read(self, from_block: int, to_block: int) -> tuple[list[Event], list[RosterSnapshot]]:
        """The events of L1 blocks from_block..to_block in L1 order, and the roster snapshots
        taken in them (rebuilt and checked against the root the contract stored)."""
        events: list[Event] = []
        snapshots: list[RosterSnapshot] = []
        for start in range(from_block, to_block + 1, LOG_RANGE):
            end = min(start + LOG_RANGE - 1, to_block)
            logs = self._w3.eth.get_logs({
                "address": [self.rollup.address, self.market.staking.address],
                "fromBlock": start, "toBlock": end})
            decoded = [self._decode(log) for log in logs]
            decoded = sorted((e for e in decoded if e is not None),
                             key=lambda e: (e.where.l1_block, e.where.log_index))
            if any(e.name == "RosterSnapshot" for e in decoded):
                snapshots += self.market.snapshots(start, end)
            events += decoded
        return events, snapshots

    def _decode(self, log) -> Event | None:
        event = self._decoders.get((to_checksum_address(log["address"]), bytes(log["topics"][0])))
        if event is None:
            return None
        data = event.process_log(log)
        number = data["blockNumber"]
        where = Where(number, self._time(number), data["transactionHash"].to_0x_hex(),
                      data["logIndex"])
        block = self.rollup.committed_from_log(data) if data["event"] == "BlockCommitted" else None
        return Event(data["event"], data["args"], where, block)

    def _time(self, l1_block: int) -> int:
        if l1_block not in self._times:
            self._times[l1_block] = self._w3.eth.get_block(l1_block)["timestamp"]
        return self._times[l1_block]
