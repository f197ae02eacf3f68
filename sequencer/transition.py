"""The L2 state transition: the rules the block circuit enforces, in plain Python.

A block is an ordered list of transfers applied one after another; the first
one the rules refuse refuses the whole block, and the state before it is left
as it was (trees are persistent). A transfer is two leaf updates, in the order
the circuit makes them: the sender is debited (balance - amount, nonce + 1),
then the recipient is credited in the tree that results, so a transfer to
oneself only spends a nonce.

The circuit is tested against these functions: every block they accept has a
witness, with the same new root, and every block they refuse has none.
"""

from collections.abc import Iterable
from dataclasses import replace

from sequencer import eddsa
from sequencer.accounts import BALANCE_BITS, NONCE_BITS, Account, AccountTree, address_of
from sequencer.errors import (
    AmountOverflow,
    BadSignature,
    IndexOutOfRange,
    InsufficientBalance,
    InvalidAddress,
    InvalidTransfer,
    KeyMismatch,
    NonceOverflow,
    UnknownAccount,
    WrongNonce,
    WrongRecipient,
)
from sequencer.transactions import Transfer, signing_message
from zkp.field import R


def apply_block(state: AccountTree, transfers: Iterable[Transfer], chain_id: int) -> AccountTree:
    """The state after `transfers`, or the first one's `InvalidTransfer` (with its position)."""
    for position, transfer in enumerate(transfers):
        try:
            state = apply_transfer(state, transfer, chain_id)
        except InvalidTransfer as error:
            error.position = position
            raise
    return state


def apply_transfer(state: AccountTree, transfer: Transfer, chain_id: int) -> AccountTree:
    return credit_recipient(debit_sender(state, transfer, chain_id), transfer)


def debit_sender(state: AccountTree, transfer: Transfer, chain_id: int) -> AccountTree:
    """Check the transfer against its sender, then take the amount and spend the nonce."""
    for name, index in (("sender", transfer.from_index), ("recipient", transfer.to_index)):
        if not 0 <= index < state.capacity:
            raise IndexOutOfRange(
                f"{name} index {index} is outside the tree (depth {state.depth}: "
                f"indices below {state.capacity})"
            )
    if not 0 < transfer.to_address < R:
        raise InvalidAddress(f"recipient address {transfer.to_address} is 0 or not below r")
    sender = state.get(transfer.from_index)
    if sender is None:
        raise UnknownAccount(f"no account at sender index {transfer.from_index}")
    if transfer.public_key is None or transfer.signature is None:
        raise BadSignature("the transfer is not signed")
    if address_of(transfer.public_key) != sender.address:
        raise KeyMismatch(
            f"the transfer's public key is not the key of account {transfer.from_index}"
        )
    if transfer.nonce != sender.nonce:
        raise WrongNonce(
            f"nonce {transfer.nonce}, but account {transfer.from_index} is at nonce {sender.nonce}"
        )
    if sender.nonce + 1 >= 1 << NONCE_BITS:
        raise NonceOverflow(
            f"account {transfer.from_index} has used all 2^{NONCE_BITS} - 1 of its nonces"
        )
    message = signing_message(transfer, chain_id)  # refuses an amount beyond 128 bits
    if not eddsa.verify(transfer.public_key, message, transfer.signature):
        raise BadSignature(
            f"the signature does not verify for account {transfer.from_index}'s key "
            f"on this transfer (chain id {chain_id:#x})"
        )
    if transfer.amount > sender.balance:
        raise InsufficientBalance(
            f"account {transfer.from_index} holds {sender.balance}, less than {transfer.amount}"
        )
    debited = replace(sender, balance=sender.balance - transfer.amount, nonce=sender.nonce + 1)
    return state.set(transfer.from_index, debited)


def credit_recipient(state: AccountTree, transfer: Transfer) -> AccountTree:
    """Add the amount to the recipient, opening its account if the leaf is empty."""
    recipient = state.get(transfer.to_index)
    if recipient is None:
        recipient = Account(transfer.to_address)
    elif recipient.address != transfer.to_address:
        raise WrongRecipient(
            f"account {transfer.to_index} has address {recipient.address:#x}, "
            f"not {transfer.to_address:#x}"
        )
    balance = recipient.balance + transfer.amount
    if balance >= 1 << BALANCE_BITS:
        raise AmountOverflow(
            f"account {transfer.to_index}'s balance would reach {balance}, "
            f"beyond {BALANCE_BITS} bits"
        )
    return state.set(transfer.to_index, replace(recipient, balance=balance))
