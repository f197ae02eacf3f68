"""Typed bindings of the market contracts for one deployment.

Reads return dataclasses; writes sign locally, wait for the receipt, and turn a revert into a
specific `ChainError` whose message says what to do (`explain`).
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address
from web3.logs import DISCARD

from market_contracts.chain import Chain
from market_contracts.compile import load_artifact
from market_contracts.deploy import Deployment
from market_contracts.errors import (
    BelowMinStake,
    ContractRejected,
    InsufficientBalance,
    TransactionFailed,
    WithdrawBeforeRelease,
)
from market_contracts.ledger import OutcomeReport
from market_contracts.rules import MarketParams
from market_contracts.units import format_tokens as fmt
from market_contracts.units import format_utc

ROSTER_PAGE_SIZE = 200


@dataclass(frozen=True)
class RollerInfo:
    address: str
    active: int
    unbonding: int
    rep: int
    paused: bool
    registered: bool
    weight: int
    claimable: int


@dataclass(frozen=True)
class Unbonding:
    amount: int
    release_time: int


def explain(exc: TransactionFailed, now: int | None = None) -> TransactionFailed:
    """The user-facing error for a market contract's revert."""
    args = exc.error_args
    match exc.reason:
        case "ERC20InsufficientBalance":
            holder, balance, needed = args
            return InsufficientBalance(
                f"balance too low: {holder} holds {fmt(balance)}, the operation needs {fmt(needed)}",
                exc.reason, args)
        case "BelowMinStake":
            new_active, min_stake = args
            return BelowMinStake(
                f"stake would be {fmt(new_active)}, below MIN_STAKE of {fmt(min_stake)}; "
                f"stake at least {fmt(min_stake - new_active)} more", exc.reason, args)
        case "NotYetReleased":
            (release,) = args
            wait = f" (in {release - now} s)" if now is not None and release > now else ""
            return WithdrawBeforeRelease(
                f"nothing to withdraw yet: the next unbonding entry releases at {format_utc(release)}{wait}",
                exc.reason, args)
    describe = _REJECTIONS.get(exc.reason)
    if describe is None:
        return exc
    return ContractRejected(describe(*args), exc.reason, args)


_REJECTIONS = {
    "ZeroAmount": lambda: "the amount must be above zero",
    "NothingToWithdraw": lambda: "nothing is unbonding; request it first with `provernet roller unstake AMOUNT`",
    "NothingToClaim": lambda: "no rewards to claim",
    "AlreadyPaused": lambda: "the roller is already paused",
    "NotPaused": lambda: "the roller is not paused",
    "UnknownRoller": lambda roller: f"{roller} has never staked; stake first with `provernet roller stake AMOUNT`",
    "InsufficientStake": lambda active, requested:
        f"cannot unstake {fmt(requested)}: active stake is {fmt(active)}",
    "StakeTooLarge": lambda new_active, max_stake:
        f"stake would be {fmt(new_active)}, above the largest the contract accepts, {fmt(max_stake)}",
    "NotCoordinator": lambda caller: f"{caller} is not a registered coordinator",
    "BatchAlreadySettled": lambda batch: f"batch {batch} is already settled",
    "TaskAlreadySettled": lambda kind, task: f"task {task} (kind {kind}) is already settled",
    "OutcomesNotSorted": lambda index:
        f"outcome {index} is out of order: settle needs them ascending by (kind, task, round, roller)",
    "EmptySettlement": lambda: "a settlement needs at least one outcome",
}


class Market:
    """The token, registry and staking contracts of one deployment on one chain."""

    def __init__(self, chain: Chain, deployment: Deployment):
        self.chain = chain
        self.deployment = deployment
        eth = chain.w3.eth
        self.token = eth.contract(deployment.token, abi=load_artifact("ProverToken")["abi"])
        self.registry = eth.contract(deployment.registry, abi=load_artifact("CoordinatorRegistry")["abi"])
        self.staking = eth.contract(deployment.staking, abi=load_artifact("RollerStaking")["abi"])

    # ------------------------------------------------------------ writes

    def _send(self, account: LocalAccount, fn):
        try:
            return self.chain.transact(account, fn)
        except TransactionFailed as exc:
            raise explain(exc, self.chain.latest_timestamp()) from exc

    def _approve_at_least(self, account: LocalAccount, amount: int) -> None:
        allowance = self.token.functions.allowance(account.address, self.staking.address).call()
        if allowance < amount:
            self._send(account, self.token.functions.approve(self.staking.address, amount))

    def mint(self, owner: LocalAccount, to: str, amount: int) -> None:
        self._send(owner, self.token.functions.mint(to, amount))

    def transfer_tokens(self, account: LocalAccount, to: str, amount: int) -> None:
        self._send(account, self.token.functions.transfer(to, amount))

    def stake(self, account: LocalAccount, amount: int) -> None:
        self._approve_at_least(account, amount)
        self._send(account, self.staking.functions.stake(amount))

    def request_unstake(self, account: LocalAccount, amount: int) -> int:
        """Returns the release time."""
        receipt = self._send(account, self.staking.functions.requestUnstake(amount))
        (event,) = self.staking.events.UnstakeRequested().process_receipt(receipt, errors=DISCARD)
        return event["args"]["releaseTime"]

    def withdraw(self, account: LocalAccount) -> int:
        receipt = self._send(account, self.staking.functions.withdraw())
        (event,) = self.staking.events.Withdrawn().process_receipt(receipt, errors=DISCARD)
        return event["args"]["amount"]

    def pause(self, account: LocalAccount) -> None:
        self._send(account, self.staking.functions.pause())

    def resume(self, account: LocalAccount) -> None:
        self._send(account, self.staking.functions.resume())

    def fund_rewards(self, account: LocalAccount, amount: int) -> None:
        self._approve_at_least(account, amount)
        self._send(account, self.staking.functions.fundRewards(amount))

    def claim(self, account: LocalAccount) -> int:
        receipt = self._send(account, self.staking.functions.claim())
        (event,) = self.staking.events.Claimed().process_receipt(receipt, errors=DISCARD)
        return event["args"]["amount"]

    def settle(self, coordinator: LocalAccount, batch: int, outcomes: list[OutcomeReport]):
        return self._send(
            coordinator, self.staking.functions.settle(batch, [o.as_tuple() for o in outcomes])
        )

    def register_coordinator(self, owner: LocalAccount, coordinator: str, peer_id: bytes, metadata: str) -> None:
        self._send(owner, self.registry.functions.register(coordinator, peer_id, metadata))

    def remove_coordinator(self, owner: LocalAccount, coordinator: str) -> None:
        self._send(owner, self.registry.functions.remove(coordinator))

    # ------------------------------------------------------------ reads

    def params(self, block="latest") -> MarketParams:
        return MarketParams.from_tuple(self.chain.call(self.staking.functions.params(), block))

    def token_balance(self, address: str, block="latest") -> int:
        return self.chain.call(self.token.functions.balanceOf(address), block)

    def roller_info(self, address: str, block="latest") -> RollerInfo:
        address = to_checksum_address(address)
        return RollerInfo(address, *self.chain.call(self.staking.functions.rollerInfo(address), block))

    def unbondings(self, address: str, block="latest") -> list[Unbonding]:
        entries = self.chain.call(self.staking.functions.unbondingsOf(to_checksum_address(address)), block)
        return [Unbonding(amount, release) for amount, release in entries]

    def roster(self, block="latest") -> list[tuple[str, int]]:
        """Every registered roller and its weight at `block`, read page by page at that block."""
        count = self.chain.call(self.staking.functions.rollerCount(), block)
        roster: list[tuple[str, int]] = []
        for start in range(0, count, ROSTER_PAGE_SIZE):
            addresses, weights = self.chain.call(
                self.staking.functions.rosterPage(start, ROSTER_PAGE_SIZE), block)
            roster.extend(zip(addresses, weights))
        return roster

    def reward_pool(self, block="latest") -> int:
        return self.chain.call(self.staking.functions.rewardPool(), block)

    def totals(self, block="latest") -> dict[str, int]:
        fns = self.staking.functions
        return {
            "active": self.chain.call(fns.totalActive(), block),
            "unbonding": self.chain.call(fns.totalUnbonding(), block),
            "reward_pool": self.chain.call(fns.rewardPool(), block),
            "claimable": self.chain.call(fns.totalClaimable(), block),
        }

    def is_coordinator(self, address: str, block="latest") -> bool:
        return self.chain.call(self.registry.functions.isCoordinator(address), block)
