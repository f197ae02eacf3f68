"""Typed bindings of the Bridge contract (`contracts/Bridge.sol`): deposits to L2, forced
withdrawals, claims of L2 withdrawals, the escape hatch and deposit refunds, and the events a
relayer follows.

Writes sign locally, wait for the receipt, return the operation's event as a dataclass, and turn
the contract's refusals into `BridgeRejected` with a one-line message (`explain_bridge`). What the
signed paths carry is built above this package: the messages by `sequencer.transactions`
(`forced_withdrawal_message`, `exit_message`), signed with `sequencer.eddsa`; an exit's proof by
`sequencer.block_data.exit_proof`; an account's path by `sequencer.accounts.AccountTree.proof`.
Deployment: `market_contracts.deploy.deploy_bridge`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address
from web3.contract.contract import ContractFunction
from web3.logs import DISCARD
from web3.types import TxReceipt

from market_contracts.chain import Chain
from market_contracts.compile import load_artifact
from market_contracts.errors import BridgeRejected, TransactionFailed


@dataclass(frozen=True)
class Deposited:
    """A deposit on the L1 queue at `position`: `amount` (what arrived) to L2 address
    `l2_address`, from `sender`; `l1_block` is where it was made."""

    position: int
    l2_address: int
    amount: int
    sender: str
    l1_block: int


@dataclass(frozen=True)
class WithdrawalForced:
    """A forced withdrawal on the L1 queue at `position`: `amount` from the account at `index`
    if its address is `l2_address` (the signing key's), to L1 address `recipient`."""

    position: int
    index: int
    l2_address: int
    amount: int
    recipient: str
    l1_block: int


@dataclass(frozen=True)
class WithdrawalClaimed:
    """Exit `position` of L2 block `block_number` paid: `amount` to `recipient`."""

    block_number: int
    position: int
    recipient: str
    amount: int
    l1_block: int


@dataclass(frozen=True)
class Exited:
    """The account at `index` left through the escape hatch: its balance `amount` to `recipient`."""

    index: int
    recipient: str
    amount: int
    l1_block: int


@dataclass(frozen=True)
class DepositReclaimed:
    """Deposit `position`, never included, refunded to its sender."""

    position: int
    sender: str
    amount: int
    l1_block: int


#: what the L1 queue holds, one per position
QueueMessage = Deposited | WithdrawalForced

_MESSAGES = {
    "InvalidL2Address": lambda address:
        f"{address:#x} is not an L2 address: a deposit goes to a non-zero field element, "
        "Poseidon of an L2 public key",
    "UnpostableAmount": lambda amount:
        f"{amount} cannot be posted on L2: an amount is non-zero, below 2^128 and m * 10^e with "
        "m < 2^32 (round it: sequencer.block_data.round_amount)",
    "BridgeFull": lambda held:
        f"the Bridge would hold {held}, at least 2^128, which an L2 balance cannot hold",
    "IndexOutOfRange": lambda index, depth:
        f"account index {index} is outside the L2 tree of depth {depth}",
    "ZeroRecipient": lambda: "the L1 recipient is the zero address",
    "SaltTooLarge": lambda salt: f"salt {salt} does not fit in 32 bits",
    "MessageUsed": lambda message:
        f"this forced withdrawal (message {message:#x}) was requested already: sign another salt "
        "to request it again",
    "InvalidSignature": lambda: "the signature does not verify for this key and message",
    "NotFinalized": lambda number, last:
        f"L2 block {number} is not finalized yet (the last finalized is {last}): claim it after",
    "InvalidExitProof": lambda number, position:
        f"exit {position} of L2 block {number}, with this recipient and amount, is not in the "
        "block's exit root",
    "AlreadyClaimed": lambda number, position:
        f"exit {position} of L2 block {number} was claimed already",
    "NotFrozen": lambda:
        "the rollup is not frozen: the escape hatch and refunds open only once it stops finalizing",
    "AlreadyExited": lambda index: f"the account at index {index} has exited already",
    "WrongPathLength": lambda length, depth:
        f"a path of {length} siblings, but the L2 tree has depth {depth}",
    "NotAFieldElement": lambda value: f"{value:#x} is not a field element (below r)",
    "BalanceTooLarge": lambda balance: f"balance {balance} is not below 2^128: no leaf holds it",
    "NonceTooLarge": lambda nonce: f"nonce {nonce} does not fit in 32 bits: no leaf holds it",
    "NotInFinalizedState": lambda index:
        f"this key, balance and nonce are not the account at index {index} in the last "
        "finalized state",
    "DepositIncluded": lambda position, queue_next:
        f"deposit {position} was included in L2 (the queue is consumed up to {queue_next}): "
        "it is an L2 balance, which `exit` pays",
    "NoDeposit": lambda position:
        f"queue position {position} is not a deposit, or was refunded already",
}


def explain_bridge(exc: TransactionFailed) -> TransactionFailed:
    """The user-facing error for a Bridge revert; other reverts pass through unchanged."""
    describe = _MESSAGES.get(exc.reason)
    if describe is None:
        return exc
    return BridgeRejected(describe(*exc.error_args), exc.reason, exc.error_args)


class Bridge:
    """One deployed Bridge contract on one chain."""

    def __init__(self, chain: Chain, address: str):
        self.chain = chain
        self.address = to_checksum_address(address)
        self.contract = chain.w3.eth.contract(self.address, abi=load_artifact("Bridge")["abi"])
        self.token = chain.w3.eth.contract(self.call(self.contract.functions.token()),
                                           abi=load_artifact("RollupToken")["abi"])

    # ------------------------------------------------------------ writes

    def _send(self, account: LocalAccount, fn: ContractFunction, gas: int | None = None) -> TxReceipt:
        try:
            return self.chain.transact(account, fn, gas=gas)
        except TransactionFailed as exc:
            raise explain_bridge(exc) from exc

    def _event(self, receipt: TxReceipt, name: str):
        (event,) = getattr(self.contract.events, name)().process_receipt(receipt, errors=DISCARD)
        return _from_log(event)

    def deposit(self, account: LocalAccount, l2_address: int, amount: int) -> Deposited:
        """Deposit `amount` tokens of `account` to `l2_address` (approving the Bridge first if
        its allowance is short)."""
        allowance = self.chain.call(self.token.functions.allowance(account.address, self.address))
        if allowance < amount:
            self._send(account, self.token.functions.approve(self.address, amount))
        return self._event(self._send(account, self.contract.functions.deposit(l2_address, amount)),
                           "Deposited")

    def request_withdrawal(self, account: LocalAccount, index: int, amount: int, recipient: str,
                           salt: int, public_key: tuple[int, int], r8: tuple[int, int],
                           s: int) -> WithdrawalForced:
        """Queue a forced withdrawal signed (r8, s) by `public_key` over
        `transactions.forced_withdrawal_message(index, amount, salt, recipient)`; `account` only
        pays the gas."""
        fn = self.contract.functions.requestWithdrawal(
            index, amount, to_checksum_address(recipient), salt, list(public_key), list(r8), s)
        return self._event(self._send(account, fn), "WithdrawalForced")

    def claim_withdrawal(self, account: LocalAccount, block_number: int, position: int,
                         recipient: str, amount: int, proof: Sequence[bytes]) -> WithdrawalClaimed:
        """Pay exit `position` of finalized L2 block `block_number` to `recipient` (whoever
        `account` is); `proof` is `block_data.exit_proof(block_number, records, position)`."""
        fn = self.contract.functions.claimWithdrawal(
            block_number, position, to_checksum_address(recipient), amount,
            [bytes(p) for p in proof])
        return self._event(self._send(account, fn), "WithdrawalClaimed")

    def exit(self, account: LocalAccount, index: int, public_key: tuple[int, int], balance: int,
             nonce: int, path: Sequence[int], recipient: str, r8: tuple[int, int],
             s: int) -> Exited:
        """Once the rollup is frozen: pay the account at `index` (key, balance, nonce as in the
        last finalized state; `path` its siblings, leaf level first) to `recipient`, signed (r8,
        s) over `transactions.exit_message(index, recipient)`."""
        fn = self.contract.functions.exit(index, list(public_key), balance, nonce, list(path),
                                          to_checksum_address(recipient), list(r8), s)
        return self._event(self._send(account, fn), "Exited")

    def reclaim_deposit(self, account: LocalAccount, position: int) -> DepositReclaimed:
        """Once the rollup is frozen: refund deposit `position` to its sender, if no block
        included it."""
        return self._event(self._send(account, self.contract.functions.reclaimDeposit(position)),
                           "DepositReclaimed")

    # ------------------------------------------------------------ reads

    def call(self, fn: ContractFunction, block_identifier="latest"):
        try:
            return self.chain.call(fn, block_identifier)
        except TransactionFailed as exc:
            raise explain_bridge(exc) from exc

    def rollup(self) -> str:
        return self.call(self.contract.functions.rollup())

    def l2_chain_id(self) -> int:
        """The chain id the signed messages name."""
        return self.call(self.contract.functions.chainId())

    def depth(self) -> int:
        return self.call(self.contract.functions.depth())

    def deposit_of(self, position: int) -> tuple[str, int] | None:
        """(sender, amount) of deposit `position`; None if it is not a deposit or was refunded."""
        sender, amount = self.call(self.contract.functions.depositOf(position))
        return None if int(sender, 16) == 0 else (sender, amount)

    def is_claimed(self, block_number: int, position: int) -> bool:
        return self.call(self.contract.functions.isClaimed(block_number, position))

    def has_exited(self, index: int) -> bool:
        return self.call(self.contract.functions.hasExited(index))

    def message_used(self, message: int) -> bool:
        return self.call(self.contract.functions.messageUsed(message))

    def messages(self, from_l1_block: int, to_l1_block: int | str = "latest") -> list[QueueMessage]:
        """The L1 queue's messages (deposits and forced withdrawals) made in L1 blocks
        from_l1_block..to_l1_block, by queue position: what a relayer polls, block range by
        block range (positions are the queue's, so a relayer keys its rows on them)."""
        events = self.contract.events
        logs = [*events.Deposited().get_logs(from_block=from_l1_block, to_block=to_l1_block),
                *events.WithdrawalForced().get_logs(from_block=from_l1_block, to_block=to_l1_block)]
        return sorted((_from_log(log) for log in logs), key=lambda message: message.position)

    def payouts(self, from_l1_block: int, to_l1_block: int | str = "latest"
                ) -> list[WithdrawalClaimed | Exited | DepositReclaimed]:
        """What the Bridge paid out in L1 blocks from_l1_block..to_l1_block, in chain order."""
        events = self.contract.events
        logs = [log for event in (events.WithdrawalClaimed, events.Exited, events.DepositReclaimed)
                for log in event().get_logs(from_block=from_l1_block, to_block=to_l1_block)]
        logs.sort(key=lambda log: (log["blockNumber"], log["logIndex"]))
        return [_from_log(log) for log in logs]


def _from_log(log):
    args, l1_block = log["args"], log["blockNumber"]
    match log["event"]:
        case "Deposited":
            return Deposited(args["position"], args["l2Address"], args["amount"],
                             to_checksum_address(args["sender"]), l1_block)
        case "WithdrawalForced":
            return WithdrawalForced(args["position"], args["index"], args["l2Address"],
                                    args["amount"], to_checksum_address(args["recipient"]),
                                    l1_block)
        case "WithdrawalClaimed":
            return WithdrawalClaimed(args["blockNumber"], args["position"],
                                     to_checksum_address(args["recipient"]), args["amount"],
                                     l1_block)
        case "Exited":
            return Exited(args["index"], to_checksum_address(args["recipient"]), args["amount"],
                          l1_block)
        case "DepositReclaimed":
            return DepositReclaimed(args["position"], to_checksum_address(args["sender"]),
                                    args["amount"], l1_block)
    raise ValueError(f"not a Bridge event: {log['event']}")
