"""Typed bindings of the market contracts for one deployment.

Reads return dataclasses; writes sign locally, wait for the receipt, and turn a revert into a
specific `ChainError` whose message says what to do (`explain`).
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address
from hexbytes import HexBytes
from web3.exceptions import ContractLogicError
from web3.logs import DISCARD

from market_contracts.chain import Chain, decode_revert
from market_contracts.compile import load_artifact
from market_contracts.deploy import Deployment
from market_contracts.errors import (
    AlreadySlashed,
    BelowMinStake,
    ContractRejected,
    InsufficientBalance,
    ProofIsValid,
    TransactionFailed,
    WithdrawBeforeRelease,
)
from market_contracts.ledger import OutcomeReport
from market_contracts.rules import MarketParams
from market_contracts.submissions import SlashEvidence
from market_contracts.units import format_tokens as fmt
from market_contracts.units import format_utc

ROSTER_PAGE_SIZE = 200
#: A gas limit enough for any `slashInvalidProof`: the contract hands the verifier
#: VERIFIER_GAS (1,000,000) and refuses to call it with less than about 1,026,000 left. Pass it
#: where estimating is slow: the embedded chain reruns the pairing check at every step of its
#: search.
SLASH_GAS = 1_300_000


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


@dataclass(frozen=True)
class SlashResult:
    """What a slash took: `amount` from the roller's stake, `reporter_share` of it to the reporter,
    the rest `burned`."""

    roller: str
    reporter: str
    amount: int
    reporter_share: int
    burned: int
    #: `RollerStaking.offenseKey` of the evidence: it slashes once
    offense: bytes
    #: the transaction's hash; None for `check_slash`, which sends nothing
    transaction: str | None = None


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
        case "ProofIsValid":
            return ProofIsValid("the proof is valid: nothing to slash", exc.reason, args)
        case "AlreadySlashed":
            (offense,) = args
            return AlreadySlashed(
                f"already slashed: the roller was slashed for this statement (offense 0x{offense.hex()})",
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
    "InvalidParams": lambda reason: f"the staking contract refuses: {reason}",
    "NotDeployer": lambda caller:
        f"{to_checksum_address(caller)} did not deploy the staking contract: only its deployer "
        "wires the rollup in",
    "RollupAlreadySet": lambda rollup:
        f"the staking contract already slashes for rollup {to_checksum_address(rollup)}; it is set once",
    "SlashingNotEnabled": lambda:
        "slashing is not enabled: the staking contract has no rollup yet (its deployer calls setRollup)",
    "BadSignature": lambda roller, signer:
        f"the signature is not {to_checksum_address(roller)}'s over this submission (it recovers to "
        f"{to_checksum_address(signer)}): someone else signed it, or it was signed for another chain "
        "id, rollup, block, round, proof or public inputs",
    "BlockNotCommitted": lambda number: f"block {number} is not committed on the rollup",
    "WrongPublicInputs": lambda index:
        f"the signed public inputs are not the ones the rollup holds for block {index} proven by this "
        "roller (was the block reverted and replaced?): the proof says nothing about that block",
    "NotEnoughGas": lambda left, needed:
        f"only {left} gas was left for the proof check, which needs {needed}: send the transaction "
        "with more gas",
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

    def _send(self, account: LocalAccount, fn, gas: int | None = None):
        try:
            return self.chain.transact(account, fn, gas=gas)
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

    def set_rollup(self, deployer: LocalAccount, rollup: str, block_verifier: str) -> None:
        """Enable slashing: the rollup signed proofs are about, and its block circuit's
        single-proof verifier. Once, by the staking contract's deployer."""
        self._send(deployer, self.staking.functions.setRollup(
            to_checksum_address(rollup), to_checksum_address(block_verifier)))

    def slash_invalid_proof(self, sender: LocalAccount, evidence: SlashEvidence, *,
                            gas: int | None = None) -> SlashResult:
        """Send the evidence; `sender` is paid the reporter's share.

        `gas` None estimates it, which on the embedded chain reruns the pairing check at every
        step of a binary search: pass `SLASH_GAS` there."""
        receipt = self._send(
            sender, self.staking.functions.slashInvalidProof(*evidence.call_args()), gas)
        (event,) = self.staking.events.Slashed().process_receipt(receipt, errors=DISCARD)
        args = event["args"]
        return SlashResult(args["roller"], args["reporter"], args["amount"], args["reporterShare"],
                           args["burned"], bytes(args["offense"]),
                           receipt["transactionHash"].to_0x_hex())

    def check_slash(self, reporter: str, evidence: SlashEvidence) -> SlashResult:
        """What `slash_invalid_proof` sent by `reporter` would do now (eth_call): the same
        refusals, nothing sent."""
        fn = self.staking.functions.slashInvalidProof(*evidence.call_args())
        reporter = to_checksum_address(reporter)
        try:
            # Not `Chain.call`: the reporter's share is paid to the caller, so `from` matters.
            amount, share, burned = fn.call({"from": reporter})
        except ContractLogicError as exc:
            data = exc.data.get("data") if isinstance(exc.data, dict) else exc.data
            reason, args = decode_revert(HexBytes(data) if isinstance(data, str) else b"",
                                         fn.contract_abi)
            raise explain(TransactionFailed(
                f"slashInvalidProof on {fn.address} reverted with {reason}", reason, args)) from None
        return SlashResult(evidence.roller, reporter, amount, share, burned, evidence.offense_key())

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

    def token_supply(self, block="latest") -> int:
        return self.chain.call(self.token.functions.totalSupply(), block)

    def slashing_contracts(self, block="latest") -> tuple[str, str] | None:
        """(rollup, block verifier) the staking contract slashes with; None before `set_rollup`."""
        rollup = self.chain.call(self.staking.functions.rollup(), block)
        if int(rollup, 16) == 0:
            return None
        return rollup, self.chain.call(self.staking.functions.blockVerifier(), block)

    def is_slashed(self, offense: bytes, block="latest") -> bool:
        return self.chain.call(self.staking.functions.slashed(offense), block)
