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
    SnapshotMismatch,
    TransactionFailed,
    UnknownDeployment,
    WithdrawBeforeRelease,
)
from market_contracts.ledger import DrawProof, OutcomeReport, PendingLottery
from market_contracts.rules import (
    MarketParams,
    Outcome,
    RosterEntry,
    TaskKind,
    snapshot_entries,
    snapshot_root,
)
from market_contracts.submissions import SlashEvidence
from market_contracts.units import format_tokens as fmt
from market_contracts.units import format_utc

ROSTER_PAGE_SIZE = 200
#: A gas limit enough for any `slashInvalidProof`: the contract hands the verifier
#: VERIFIER_GAS (1,000,000) and refuses to call it with less than about 1,028,000 left. Pass it
#: where estimating is slow: the embedded chain reruns the pairing check at every step of its
#: search.
SLASH_GAS = 1_300_000
#: `RollerStaking.AGG_VERIFIER_GAS_BASE` and `AGG_VERIFIER_GAS_PER_PROOF`: the batch verifier's
#: allowance for an aggregate of K proofs is their sum with K of the latter.
AGG_VERIFIER_GAS_BASE = 700_000
AGG_VERIFIER_GAS_PER_PROOF = 100_000
#: What `slashInvalidAggregate` needs beyond the verifier's allowance and its 1/64: the checks,
#: the Rollup's statements and inputs, and the slash itself, with room (measured: about 150k at
#: K = 2).
AGG_SLASH_OVERHEAD = 400_000


def slash_gas(evidence: SlashEvidence) -> int:
    """A gas limit enough for sending `evidence` (see SLASH_GAS)."""
    if evidence.kind is TaskKind.BLOCK:
        return SLASH_GAS
    allowance = AGG_VERIFIER_GAS_BASE + len(evidence.provers) * AGG_VERIFIER_GAS_PER_PROOF
    return allowance + allowance // 63 + AGG_SLASH_OVERHEAD


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


@dataclass(frozen=True)
class SettledRecord:
    """One record a settlement applied (a `ReputationChanged` event of `settle`): the report, the
    reputation change, and where L1 holds it."""

    report: OutcomeReport
    old_rep: int
    new_rep: int
    rollup: str
    l1_block: int
    transaction: str


@dataclass(frozen=True)
class RosterSnapshot:
    """A roster snapshot (`RollerStaking.snapshotRoster`): taken in L1 block `l1_block` at
    `timestamp`, its entries in draw order, their weights adding up to `total` under `root`."""

    id: int
    l1_block: int
    timestamp: int
    total: int
    root: bytes
    entries: list[RosterEntry]


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
    "TooManyUnbondings": lambda most:
        f"{most} unstake requests are already pending, the most a roller may have: withdraw the "
        "released ones first (`provernet roller withdraw`) or wait for them",
    "NotCoordinator": lambda caller:
        f"{to_checksum_address(caller)} is not a registered coordinator",
    "RollupNotEnabled": lambda rollup:
        f"rollup {to_checksum_address(rollup)} is not served by the staking contract (its "
        "deployer adds it with addRollup)",
    "BatchNotFinalized": lambda batch, last_block, last_finalized:
        f"batch {batch} ends at block {last_block}, but the rollup has finalized blocks up to "
        f"{last_finalized} only: settle it after it is finalized",
    "BatchAlreadySettled": lambda batch: f"batch {batch} of this rollup is already settled",
    "EmptySettlement": lambda: "a settlement needs at least one record",
    "OutcomesNotSorted": lambda index:
        f"record {index} is out of order: settle needs them strictly ascending by (kind, task, "
        "round, roller)",
    "TaskNotInBatch": lambda kind, task, batch:
        f"record for {TaskKind(kind).name.lower()} {task} is not part of batch {batch}",
    "RoundTooLarge": lambda round_, last:
        f"round {round_} cannot be settled: a record names a round up to {last} (R_OPEN for a "
        "block, whose open round pays L1's prover; R_OPEN - 1 for an aggregation)",
    "TooManySlots": lambda slots, most:
        f"a record holds 1..{most} slots in its round, not {slots}",
    "InvalidNeedsEvidence": lambda roller:
        f"an invalid outcome for {to_checksum_address(roller)} is not settled: send the signed "
        "proof as slashing evidence instead",
    "NoPendingLottery": lambda rollup, batch:
        f"no lottery waits for batch {batch} of rollup {to_checksum_address(rollup)} (not settled "
        "in lottery mode, without on-time blocks, or drawn already)",
    "WrongLotteryEntries": lambda rollup, batch:
        f"these entries are not the on-time records settled for batch {batch} of rollup "
        f"{to_checksum_address(rollup)}: pass them exactly, in settlement order",
    "RandomnessNotYetAvailable": lambda target:
        f"the randomness is the hash of L1 block {target}, which is not mined yet: retry after it",
    "BlockNeverCommitted": lambda number: f"block {number} was never committed on the rollup",
    "InvalidParams": lambda reason: f"the staking contract refuses: {reason}",
    "NotDeployer": lambda caller:
        f"{to_checksum_address(caller)} did not deploy the staking contract: only its deployer "
        "adds rollups",
    "RollupAlreadyAdded": lambda rollup:
        f"the staking contract already serves rollup {to_checksum_address(rollup)}; a rollup is "
        "added once",
    "BadSignature": lambda roller, signer:
        f"the signature is not {to_checksum_address(roller)}'s over this submission (it recovers to "
        f"{to_checksum_address(signer)}): someone else signed it, or it was signed for another chain "
        "id, rollup, task, round, statement or proof",
    "BlockNotCommitted": lambda number: f"block {number} is not committed on the rollup",
    "StaleStatement": lambda index:
        f"the signed statement is not the one the rollup holds now for {index} (was the block "
        "reverted and committed again?): the proof says nothing about what L1 holds",
    "WrongAggregateSize": lambda provers, a, b, k:
        f"an aggregate of this rollup has {k} proofs, one prover each: got {provers} provers, "
        f"{a} A and {b} B",
    "SnapshotAlreadyTaken": lambda l1_block:
        f"a roster snapshot was already taken in L1 block {l1_block}: one per block; the next "
        "block may take another",
    "DrawProofsMismatch": lambda records, draws:
        f"{records} records need {records} draw proofs, one each (NO_DRAW for an open-round "
        f"record), got {draws}",
    "WrongSnapshot": lambda kind, task, snapshot:
        f"roster snapshot {snapshot} is not the roster of {TaskKind(kind).name.lower()} {task} "
        "(the last snapshot before its first commit, if no older than SNAPSHOT_MAX_AGE; without "
        "one its drawn rounds have no slots): prove the draw with the task's snapshot",
    "NotInSnapshot": lambda roller, snapshot, index:
        f"entry {index} for {to_checksum_address(roller)} with this path is not in roster "
        f"snapshot {snapshot}: take the entry and path from the snapshot's event (`draw_proof`)",
    "RandomnessNotRecorded": lambda l2_block:
        f"block {l2_block}'s randomness is not recorded, so nothing was drawn from it yet: call "
        "recordRandomness first",
    "NotDrawn": lambda roller, kind, task, round_, slots, held:
        f"{to_checksum_address(roller)} held {held} slots of round {round_} of "
        f"{TaskKind(kind).name.lower()} {task} in its snapshot entry, not {slots}: a drawn round "
        "pays only the rollers its seed drew, for the slots they hold",
    "NotTheProver": lambda roller, l2_block, prover:
        f"the open round of block {l2_block} pays the prover L1 recorded for it, "
        f"{to_checksum_address(prover)}, not {to_checksum_address(roller)}",
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

    def _rollup_or_default(self, rollup: str | None) -> str:
        if rollup is not None:
            return to_checksum_address(rollup)
        if self.deployment.rollup is None:
            raise UnknownDeployment("the deployment names no rollup: pass the rollup explicitly")
        return self.deployment.rollup.address

    def fund_rewards(self, account: LocalAccount, amount: int, rollup: str | None = None) -> None:
        """Add to `rollup`'s reward pool (None: the deployment's rollup)."""
        rollup = self._rollup_or_default(rollup)
        self._approve_at_least(account, amount)
        self._send(account, self.staking.functions.fundRewards(rollup, amount))

    def claim(self, account: LocalAccount) -> int:
        receipt = self._send(account, self.staking.functions.claim())
        (event,) = self.staking.events.Claimed().process_receipt(receipt, errors=DISCARD)
        return event["args"]["amount"]

    def settle(self, coordinator: LocalAccount, batch: int, outcomes: list[OutcomeReport],
               draws: list[DrawProof]):
        """Settle batch `batch` of the coordinator's rollup; `outcomes` sorted by
        `OutcomeReport.sort_key`, `draws[i]` the proof that outcomes[i]'s roller held its slots
        (`ledger.draw_proof`; `ledger.NO_DRAW` for an open-round record)."""
        return self._send(coordinator, self.staking.functions.settle(
            batch, [o.as_tuple() for o in outcomes], [d.as_tuple() for d in draws]))

    def snapshot_roster(self, account: LocalAccount) -> int:
        """Take a roster snapshot (anyone may, once per L1 block); returns its id."""
        receipt = self._send(account, self.staking.functions.snapshotRoster())
        (event,) = self.staking.events.RosterSnapshot().process_receipt(receipt, errors=DISCARD)
        return event["args"]["id"]

    def draw_lottery(self, sender: LocalAccount, rollup: str, batch: int,
                     entries: list[tuple[int, str, int]]):
        """Pay a lottery-mode settlement's block rewards: `entries` (block, roller, slots) are its
        on-time block records in settlement order."""
        return self._send(sender, self.staking.functions.drawLottery(
            to_checksum_address(rollup), batch,
            [(block, to_checksum_address(roller), slots) for block, roller, slots in entries]))

    def add_rollup(self, deployer: LocalAccount, rollup: str, block_verifier: str) -> None:
        """Serve `rollup` (settlement, its reward pool, slashing with `block_verifier`, the
        single-proof verifier of its block circuit). Once per rollup, by the staking contract's
        deployer."""
        self._send(deployer, self.staking.functions.addRollup(
            to_checksum_address(rollup), to_checksum_address(block_verifier)))

    def slash_invalid_proof(self, sender: LocalAccount, evidence: SlashEvidence, *,
                            gas: int | None = None) -> SlashResult:
        """Send the evidence (a block proof or an aggregate); `sender` is paid the reporter's
        share.

        `gas` None estimates it, which on the embedded chain reruns the pairing check at every
        step of a binary search: pass `slash_gas(evidence)` there."""
        receipt = self._send(sender, self._slash_call(evidence), gas)
        (event,) = self.staking.events.Slashed().process_receipt(receipt, errors=DISCARD)
        args = event["args"]
        return SlashResult(args["roller"], args["reporter"], args["amount"], args["reporterShare"],
                           args["burned"], bytes(args["offense"]),
                           receipt["transactionHash"].to_0x_hex())

    def _slash_call(self, evidence: SlashEvidence):
        return getattr(self.staking.functions, evidence.function_name())(*evidence.call_args())

    def check_slash(self, reporter: str, evidence: SlashEvidence) -> SlashResult:
        """What `slash_invalid_proof` sent by `reporter` would do now (eth_call): the same
        refusals, nothing sent."""
        fn = self._slash_call(evidence)
        reporter = to_checksum_address(reporter)
        try:
            # Not `Chain.call`: the reporter's share is paid to the caller, so `from` matters.
            amount, share, burned = fn.call({"from": reporter, "gas": slash_gas(evidence)})
        except ContractLogicError as exc:
            data = exc.data.get("data") if isinstance(exc.data, dict) else exc.data
            reason, args = decode_revert(HexBytes(data) if isinstance(data, str) else b"",
                                         fn.contract_abi)
            raise explain(TransactionFailed(
                f"{fn.fn_name} on {fn.address} reverted with {reason}", reason, args)) from None
        return SlashResult(evidence.roller, reporter, amount, share, burned, evidence.offense_key())

    def register_coordinator(self, owner: LocalAccount, coordinator: str, peer_id: bytes,
                             metadata: str, rollup: str) -> None:
        """Register `coordinator`, bound to `rollup`: it settles that rollup's batches only."""
        self._send(owner, self.registry.functions.register(
            to_checksum_address(coordinator), peer_id, metadata, to_checksum_address(rollup)))

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

    def snapshots(self, from_block: int = 0, to_block: int | str = "latest") -> list[RosterSnapshot]:
        """The roster snapshots taken in L1 blocks from_block..to_block, by id, their entries
        rebuilt from the events and checked against the root the contract stored."""
        logs = self.staking.events.RosterSnapshot().get_logs(from_block=from_block,
                                                              to_block=to_block)
        snapshots = []
        for log in sorted(logs, key=lambda log: log["args"]["id"]):
            args = log["args"]
            entries = snapshot_entries(list(zip(args["rollers"], args["weights"])))
            root = snapshot_root(entries)
            stored = self.chain.call(self.staking.functions.snapshotInfo(args["id"]), to_block)
            if root != bytes(args["root"]) or root != bytes(stored[3]):
                raise SnapshotMismatch(
                    f"roster snapshot {args['id']}'s entries hash to 0x{root.hex()}, but the "
                    f"contract stored 0x{bytes(stored[3]).hex()}")
            snapshots.append(RosterSnapshot(args["id"], args["l1Block"], args["timestamp"],
                                            args["total"], root, entries))
        return snapshots

    def snapshot_count(self, block="latest") -> int:
        return self.chain.call(self.staking.functions.snapshotCount(), block)

    def roster_snapshot_of(self, rollup: str, number: int, block="latest") -> int | None:
        """The id of the roster snapshot of block `number` of `rollup`; None when its roster is
        empty (no snapshot, or too old at its first commit) or it was never committed."""
        found, snapshot = self.chain.call(
            self.staking.functions.rosterSnapshotOf(to_checksum_address(rollup), number), block)
        return snapshot if found else None

    def reward_pool(self, rollup: str | None = None, block="latest") -> int:
        """`rollup`'s reward pool (None: the deployment's rollup)."""
        return self.chain.call(
            self.staking.functions.rewardPool(self._rollup_or_default(rollup)), block)

    def totals(self, block="latest") -> dict[str, int]:
        """What the contract owes, by kind; their sum is its token balance."""
        fns = self.staking.functions
        return {
            "active": self.chain.call(fns.totalActive(), block),
            "unbonding": self.chain.call(fns.totalUnbonding(), block),
            "reward_pool": self.chain.call(fns.totalRewardPool(), block),
            "claimable": self.chain.call(fns.totalClaimable(), block),
        }

    def pending_lottery(self, rollup: str, batch: int, block="latest") -> PendingLottery | None:
        """The lottery batch `batch` of `rollup` waits for; None if none does."""
        entries_hash, target = self.chain.call(
            self.staking.functions.pendingLottery(to_checksum_address(rollup), batch), block)
        return None if target == 0 else PendingLottery(bytes(entries_hash), target)

    def batch_settled(self, rollup: str, batch: int, block="latest") -> bool:
        return self.chain.call(
            self.staking.functions.batchSettled(to_checksum_address(rollup), batch), block)

    def settled_records(self, rollup: str, from_block: int,
                        to_block: int | str = "latest") -> list[SettledRecord]:
        """Every record `settle` applied for `rollup` in L1 blocks from_block..to_block, in L1
        order (slashes, which also change reputation, are left out: they are not reports)."""
        logs = self.staking.events.ReputationChanged().get_logs(
            from_block=from_block, to_block=to_block,
            argument_filters={"rollup": to_checksum_address(rollup)})
        records = []
        for log in sorted(logs, key=lambda log: (log["blockNumber"], log["logIndex"])):
            args = log["args"]
            if args["outcome"] == Outcome.INVALID:
                continue
            report = OutcomeReport(args["roller"], TaskKind(args["kind"]), args["task"],
                                   args["round"], args["slots"], Outcome(args["outcome"]))
            records.append(SettledRecord(report, args["oldRep"], args["newRep"], args["rollup"],
                                         log["blockNumber"], log["transactionHash"].to_0x_hex()))
        return records

    def is_coordinator(self, address: str, block="latest") -> bool:
        return self.chain.call(self.registry.functions.isCoordinator(address), block)

    def token_supply(self, block="latest") -> int:
        return self.chain.call(self.token.functions.totalSupply(), block)

    def coordinator_rollup(self, address: str, block="latest") -> str | None:
        """The rollup `address` coordinates; None if it is not a registered coordinator."""
        rollup = self.chain.call(self.registry.functions.rollupOf(to_checksum_address(address)),
                                 block)
        return None if int(rollup, 16) == 0 else rollup

    def rollup_enabled(self, rollup: str, block="latest") -> bool:
        return self.chain.call(
            self.staking.functions.rollupEnabled(to_checksum_address(rollup)), block)

    def block_verifier_of(self, rollup: str, block="latest") -> str | None:
        """The single-proof verifier the staking contract slashes `rollup`'s block proofs with;
        None if it does not serve `rollup`."""
        verifier = self.chain.call(
            self.staking.functions.blockVerifierOf(to_checksum_address(rollup)), block)
        return None if int(verifier, 16) == 0 else verifier

    def is_slashed(self, offense: bytes, block="latest") -> bool:
        return self.chain.call(self.staking.functions.slashed(offense), block)
