"""A pure, in-memory model of `RollerStaking`: the spec's rules applied to state.

`rules.py` holds the rules as functions of their inputs; this module holds the state they act on
(stakes, unbonding queues, reputations, the reward pool, claimable balances, token wallets) and
applies them in exactly the order the contract does, so the two can be compared step by step
(`tests/market_contracts/test_ledger_vs_contract.py`) and the simulation can run the market
without a chain. A rejected operation raises `Rejected` carrying the contract's custom error
name and changes nothing, as a reverted transaction changes nothing.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from market_contracts.rules import (
    BPS,
    MarketParams,
    Outcome,
    RewardMode,
    TaskKind,
    next_reputation,
    reward_ticket,
    weight,
)

UINT256_MAX = 2**256 - 1


class Rejected(Exception):
    """The operation would revert on-chain; `reason` is the contract's custom error name."""

    def __init__(self, reason: str, *args: object):
        super().__init__(reason, *args)
        self.reason = reason
        self.error_args = args


@dataclass(frozen=True, order=True)
class OutcomeReport:
    """One (roller, task, round) as a coordinator reports it to `RollerStaking.settle`: the
    slots the roller held in that round and its outcome (never `invalid`: only slashing evidence
    sets that).

    Field order is the contract's struct order; `sort_key` is the order `settle` requires.
    """

    roller: str
    kind: TaskKind
    task: int
    round: int
    slots: int
    outcome: Outcome

    def sort_key(self) -> tuple[int, int, int, int]:
        return (int(self.kind), self.task, self.round, int(self.roller, 16))

    def as_tuple(self) -> tuple:
        return (self.roller, int(self.kind), self.task, self.round, self.slots, int(self.outcome))


def sort_outcomes(outcomes: list[OutcomeReport]) -> list[OutcomeReport]:
    return sorted(outcomes, key=OutcomeReport.sort_key)


@dataclass(frozen=True)
class SlashSplit:
    """Where a slash's tokens go: `amount` leaves the roller's stake, `reporter_share` goes to
    whoever sent the evidence, `burned` is destroyed."""

    amount: int
    reporter_share: int
    burned: int


def slash_split(stake: int, params: MarketParams) -> SlashSplit:
    """SLASH_BPS of `stake` (active plus unbonding), REPORTER_BPS of that to the reporter, the
    rest burned; floor division, as the contract's mulDiv."""
    amount = stake * params.slash_bps // BPS
    reporter_share = amount * params.reporter_bps // BPS
    return SlashSplit(amount, reporter_share, amount - reporter_share)


@dataclass
class RollerState:
    active: int = 0
    unbonding: deque[tuple[int, int]] = field(default_factory=deque)  # (amount, release time)
    rep: int = 0
    paused: bool = False
    registered: bool = False

    @property
    def unbonding_total(self) -> int:
        return sum(amount for amount, _ in self.unbonding)


@dataclass
class Ledger:
    params: MarketParams
    coordinators: set[str] = field(default_factory=set)
    wallets: dict[str, int] = field(default_factory=dict)
    rollers: dict[str, RollerState] = field(default_factory=dict)
    reward_pool: int = 0
    claimable: dict[str, int] = field(default_factory=dict)
    settled_batches: set[tuple[str, int]] = field(default_factory=set)
    settled_tasks: set[tuple[str, TaskKind, int]] = field(default_factory=set)
    slashed: set[bytes] = field(default_factory=set)
    #: tokens destroyed by slashing: the token's total supply is this much below what was minted
    burned: int = 0

    # ------------------------------------------------------------ views

    @property
    def max_stake(self) -> int:
        return UINT256_MAX // self.params.rep_max

    def roller(self, address: str) -> RollerState:
        return self.rollers.get(address, RollerState())

    def weight_of(self, address: str) -> int:
        r = self.roller(address)
        return weight(r.active, r.rep, r.paused, self.params.min_stake)

    @property
    def total_active(self) -> int:
        return sum(r.active for r in self.rollers.values())

    @property
    def total_unbonding(self) -> int:
        return sum(r.unbonding_total for r in self.rollers.values())

    @property
    def total_claimable(self) -> int:
        return sum(self.claimable.values())

    def roster(self) -> list[tuple[str, int]]:
        """Every registered roller with its weight, in registration order (as `rosterPage`)."""
        return [(address, self.weight_of(address)) for address in self.rollers]

    # ------------------------------------------------------------ token side

    def mint(self, to: str, amount: int) -> None:
        self.wallets[to] = self.wallets.get(to, 0) + amount

    def _pull(self, owner: str, amount: int) -> None:
        balance = self.wallets.get(owner, 0)
        if balance < amount:
            raise Rejected("ERC20InsufficientBalance", owner, balance, amount)
        self.wallets[owner] = balance - amount

    # ------------------------------------------------------------ staking

    def stake(self, who: str, amount: int) -> None:
        if amount == 0:
            raise Rejected("ZeroAmount")
        r = self.roller(who)
        new_active = r.active + amount
        if new_active < self.params.min_stake:
            raise Rejected("BelowMinStake", new_active, self.params.min_stake)
        if new_active > self.max_stake:
            raise Rejected("StakeTooLarge", new_active, self.max_stake)
        self._pull(who, amount)
        if not r.registered:
            r.registered, r.rep = True, self.params.rep_init
            self.rollers[who] = r
        r.active = new_active

    def request_unstake(self, who: str, amount: int, now: int) -> int:
        """Returns the release time."""
        if amount == 0:
            raise Rejected("ZeroAmount")
        r = self.roller(who)
        if amount > r.active:
            raise Rejected("InsufficientStake", r.active, amount)
        r.active -= amount
        release = now + self.params.unbonding
        r.unbonding.append((amount, release))
        return release

    def withdraw(self, who: str, now: int) -> int:
        r = self.roller(who)
        released = 0
        while r.unbonding and r.unbonding[0][1] <= now:
            released += r.unbonding.popleft()[0]
        if released == 0:
            if r.unbonding:
                raise Rejected("NotYetReleased", r.unbonding[0][1])
            raise Rejected("NothingToWithdraw")
        self.mint(who, released)
        return released

    def pause(self, who: str) -> None:
        r = self._registered(who)
        if r.paused:
            raise Rejected("AlreadyPaused")
        r.paused = True

    def resume(self, who: str) -> None:
        r = self._registered(who)
        if not r.paused:
            raise Rejected("NotPaused")
        r.paused = False

    def _registered(self, who: str) -> RollerState:
        r = self.rollers.get(who)
        if r is None:
            raise Rejected("UnknownRoller", who)
        return r

    # ------------------------------------------------------------ rewards

    def fund_rewards(self, who: str, amount: int) -> None:
        if amount == 0:
            raise Rejected("ZeroAmount")
        self._pull(who, amount)
        self.reward_pool += amount

    def claim(self, who: str) -> int:
        amount = self.claimable.get(who, 0)
        if amount == 0:
            raise Rejected("NothingToClaim")
        self.claimable[who] = 0
        self.mint(who, amount)
        return amount

    def _credit(self, roller: str, amount: int) -> None:
        paid = min(amount, self.reward_pool)
        self.reward_pool -= paid
        self.claimable[roller] = self.claimable.get(roller, 0) + paid

    # ------------------------------------------------------------ settlement

    def settle(self, coordinator: str, batch: int, outcomes: list[OutcomeReport]) -> None:
        """All or nothing, as the transaction: every check runs before any state changes."""
        self._check_settlement(coordinator, batch, outcomes)
        self.settled_batches.add((coordinator, batch))
        for group in _task_groups(outcomes):
            first = group[0]
            self.settled_tasks.add((coordinator, first.kind, first.task))
            for o in group:
                r = self.rollers[o.roller]
                r.rep = next_reputation(r.rep, o.outcome, self.params)
            self._reward(group)

    def _check_settlement(self, coordinator: str, batch: int, outcomes: list[OutcomeReport]) -> None:
        if coordinator not in self.coordinators:
            raise Rejected("NotCoordinator", coordinator)
        if not outcomes:
            raise Rejected("EmptySettlement")
        if (coordinator, batch) in self.settled_batches:
            raise Rejected("BatchAlreadySettled", batch)
        # The contract checks in one pass, in order; the first failure it meets is the reason.
        for index, o in enumerate(outcomes):
            if index > 0:
                prev = outcomes[index - 1]
                if (prev.kind, prev.task) != (o.kind, o.task):
                    if (o.kind, o.task) <= (prev.kind, prev.task):
                        raise Rejected("OutcomesNotSorted", index)
                elif o.sort_key() <= prev.sort_key():
                    raise Rejected("OutcomesNotSorted", index)
            if index == 0 or (outcomes[index - 1].kind, outcomes[index - 1].task) != (o.kind, o.task):
                if (coordinator, o.kind, o.task) in self.settled_tasks:
                    raise Rejected("TaskAlreadySettled", o.kind, o.task)
            if o.roller not in self.rollers:
                raise Rejected("UnknownRoller", o.roller)

    # ------------------------------------------------------------ slashing

    def slash(self, roller: str, reporter: str, evidence_key: bytes) -> SlashSplit:
        """`RollerStaking.slashInvalidProof` once the evidence is judged: its signature is the
        roller's, its inputs are the committed block's and its proof does not verify (none of
        which this model can see). `evidence_key` is its offense key
        (`market_contracts.submissions.offense_key`)."""
        r = self._registered(roller)
        if evidence_key in self.slashed:
            raise Rejected("AlreadySlashed", evidence_key)
        self.slashed.add(evidence_key)
        split = slash_split(r.active + r.unbonding_total, self.params)
        from_active = min(split.amount, r.active)
        r.active -= from_active
        rest = split.amount - from_active
        # The contract's order: active stake first, then unbonding entries newest first.
        while rest > 0:
            amount, release = r.unbonding.pop()
            if amount > rest:
                r.unbonding.append((amount - rest, release))
                rest = 0
            else:
                rest -= amount
        r.rep = 0
        self.mint(reporter, split.reporter_share)
        self.burned += split.burned
        return split

    def _reward(self, group: list[OutcomeReport]) -> None:
        on_time = [o for o in group if o.outcome == Outcome.ON_TIME]
        if not on_time:
            return
        if group[0].kind == TaskKind.AGGREGATION:
            for o in on_time:
                self._credit(o.roller, self.params.r_agg)
        elif self.params.reward_mode == RewardMode.LOTTERY:
            # First smallest ticket in settlement order wins, as in the contract.
            winner = min(on_time, key=lambda o: reward_ticket(o.seed, o.roller))
            self._credit(winner.roller, self.params.r_block)
        else:
            share = self.params.r_block // len(on_time)
            for o in on_time:
                self._credit(o.roller, share)


def _task_groups(outcomes: list[OutcomeReport]) -> list[list[OutcomeReport]]:
    groups: list[list[OutcomeReport]] = []
    for o in outcomes:
        if groups and (groups[-1][0].kind, groups[-1][0].task) == (o.kind, o.task):
            groups[-1].append(o)
        else:
            groups.append([o])
    return groups

