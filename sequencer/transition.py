"""The L2 state transition: the rules the block circuit enforces, in plain Python.

A block is an ordered list of records (`sequencer.block_data.Record`), each applied with the
signed transaction it posts: a `Transfer` for the signed ops (TRANSFER, OPEN, WITHDRAW), None
for the ops the L1 queue orders (DEPOSIT, FORCED, FORCED_SKIP; the Rollup contract checks them
against the queue, the Bridge checked a forced withdrawal's signature). The first record the
rules refuse refuses the whole block, and the state before it is left as it was (trees are
persistent). A record is up to two leaf updates, in the order the circuit makes them: the
sender's (at `a`: debited by TRANSFER, OPEN, WITHDRAW and FORCED), then the recipient's (at `b`:
credited by TRANSFER, OPEN and DEPOSIT) in the tree that results, so a transfer to oneself only
spends a nonce.

- TRANSFER pays an existing account, OPEN opens an empty leaf for the record's entry (the
  sequencer picks which: `record_for`); both are signed as kind TRANSFER.
- WITHDRAW debits the sender (signed as kind WITHDRAW, for the L1 recipient in its entry);
  the exit is paid on L1.
- DEPOSIT credits `b`: an empty leaf, opened for the entry, or one holding the entry's address.
- FORCED debits `a` when its leaf holds the entry's address and the amount (`forced_applies`),
  nonce unchanged; FORCED_SKIP changes nothing and is only valid when it does not apply.

The circuit is tested against these functions: every block they accept has a witness, with the
same new root, and every block they refuse has none.
"""

from collections.abc import Iterable
from dataclasses import replace

from sequencer import eddsa
from sequencer.accounts import BALANCE_BITS, NONCE_BITS, Account, AccountTree, address_of
from sequencer.block_data import ADDRESS_BITS, CONSUMES_ENTRY, Op, Record, is_postable
from sequencer.errors import (
    AmountOverflow,
    BadSignature,
    EmptyRecipient,
    ForcedApplies,
    ForcedNotApplicable,
    IndexOutOfRange,
    InsufficientBalance,
    InvalidAddress,
    InvalidTransfer,
    KeyMismatch,
    NonceOverflow,
    OccupiedLeaf,
    UnknownAccount,
    WrongNonce,
    WrongRecipient,
)
from sequencer.transactions import Kind, Transfer, signing_message
from zkp.field import R

#: the ops a signed transaction posts, and the kind each is signed as
SIGNED_OPS = {Op.TRANSFER: Kind.TRANSFER, Op.OPEN: Kind.TRANSFER, Op.WITHDRAW: Kind.WITHDRAW}
#: the ops that debit the sender at `a`, and those that credit the recipient at `b`
DEBIT_OPS = frozenset({Op.TRANSFER, Op.OPEN, Op.WITHDRAW, Op.FORCED})
CREDIT_OPS = frozenset({Op.TRANSFER, Op.OPEN, Op.DEPOSIT})


def apply_block(state: AccountTree, ops: Iterable[tuple[Record, Transfer | None]],
                chain_id: int) -> AccountTree:
    """The state after the records, or the first one's `InvalidTransfer` (with its position)."""
    for position, (record, tx) in enumerate(ops):
        try:
            state = apply_record(state, record, tx, chain_id)
        except InvalidTransfer as error:
            error.position = position
            raise
    return state


def apply_record(state: AccountTree, record: Record, tx: Transfer | None,
                 chain_id: int) -> AccountTree:
    """The state after `record`; `tx` is the signed transaction of a TRANSFER, OPEN or WITHDRAW
    (which the record must post unchanged), None for the other ops."""
    return credit_recipient(debit_sender(state, record, tx, chain_id), record, tx)


def apply_transfer(state: AccountTree, tx: Transfer, chain_id: int) -> AccountTree:
    """The state after a signed transaction, posted as the sequencer posts it (`record_for`)."""
    return apply_record(state, record_for(state, tx), tx, chain_id)


def record_for(state: AccountTree, tx: Transfer) -> Record:
    """The record a signed transaction posts: WITHDRAW for a withdrawal; a transfer is an OPEN
    if its recipient's leaf is empty (the entry is the address it opens), else a TRANSFER."""
    if tx.kind == Kind.WITHDRAW:
        return Record(Op.WITHDRAW, tx.from_index, tx.to_index, tx.amount, entry=tx.to_address)
    if 0 <= tx.to_index < state.capacity and state.get(tx.to_index) is None:
        return Record(Op.OPEN, tx.from_index, tx.to_index, tx.amount, entry=tx.to_address)
    return Record(Op.TRANSFER, tx.from_index, tx.to_index, tx.amount)


def forced_applies(state: AccountTree, index: int, l2_address: int, amount: int) -> bool:
    """Whether a forced withdrawal of `amount` from `index` for `l2_address` is paid: the leaf
    holds an account with that address and at least the amount."""
    account = state.get(index) if 0 <= index < state.capacity else None
    return account is not None and account.address == l2_address and account.balance >= amount


def forced_record(state: AccountTree, index: int, l2_address: int, amount: int,
                  recipient: int) -> Record:
    """The record of a forced withdrawal request (the Bridge's queue entry): FORCED if it
    applies, FORCED_SKIP if not."""
    op = Op.FORCED if forced_applies(state, index, l2_address, amount) else Op.FORCED_SKIP
    return Record(op, index, 0, amount, entry=l2_address, recipient=recipient)


def deposit_record(state: AccountTree, l2_address: int, amount: int, to_index: int) -> Record:
    """The record crediting a deposit to `to_index` (an empty leaf, or one holding
    `l2_address`); the rules' error if it cannot be applied there."""
    record = Record(Op.DEPOSIT, 0, to_index, amount, entry=l2_address)
    check_record(state, record)
    credit_recipient(state, record, None)
    return record


def check_record(state: AccountTree, record: Record) -> None:
    """What every record needs whatever its op: indices in the tree, an amount it can post, and
    an entry that is a field element."""
    for name, index in (("a", record.a), ("b", record.b)):
        if not 0 <= index < state.capacity:
            raise IndexOutOfRange(
                f"record field {name} = {index} is outside the tree (depth {state.depth}: "
                f"indices below {state.capacity})"
            )
    if not is_postable(record.amount):
        raise AmountOverflow(f"amount {record.amount} is not m * 10^e with m < 2^32, e < 32")
    if record.entry is not None and not 0 <= record.entry < R:
        raise InvalidAddress(f"entry {record.entry} is not below r")


def debit_sender(state: AccountTree, record: Record, tx: Transfer | None,
                 chain_id: int) -> AccountTree:
    """Check the record (and its signed transaction) against its sender, then debit it: the
    first half of `apply_record`, which the circuit's sender update mirrors."""
    check_record(state, record)
    if record.op in SIGNED_OPS:
        _check_posts(record, tx)
        return _debit_signed(state, tx, chain_id)
    if tx is not None:
        raise ValueError(f"a {record.op.name} record posts no signed transaction")
    if record.op == Op.FORCED:
        if not forced_applies(state, record.a, record.entry, record.amount):
            raise ForcedNotApplicable(
                f"account {record.a} does not hold address {record.entry:#x} and at least "
                f"{record.amount}: this forced withdrawal is a FORCED_SKIP"
            )
        sender = state.get(record.a)
        return state.set(record.a, replace(sender, balance=sender.balance - record.amount))
    if record.op == Op.FORCED_SKIP and forced_applies(state, record.a, record.entry,
                                                      record.amount):
        raise ForcedApplies(
            f"account {record.a} holds address {record.entry:#x} and at least {record.amount}: "
            "this forced withdrawal must be paid (FORCED), not skipped"
        )
    return state


def credit_recipient(state: AccountTree, record: Record, tx: Transfer | None) -> AccountTree:
    """Credit the recipient of a TRANSFER, OPEN or DEPOSIT at `b`, in the state after the
    sender's debit: the second half of `apply_record`."""
    if record.op not in CREDIT_OPS:
        return state
    address = tx.to_address if record.op == Op.TRANSFER else record.entry
    recipient = state.get(record.b)
    if recipient is None:
        if record.op == Op.TRANSFER:
            raise EmptyRecipient(f"leaf {record.b} is empty: a transfer that opens it is an OPEN")
        if not 0 < address < R:
            raise InvalidAddress(f"an account cannot be opened for address {address}")
        recipient = Account(address)
    elif record.op == Op.OPEN:
        raise OccupiedLeaf(f"leaf {record.b} holds an account: an OPEN opens an empty leaf")
    elif recipient.address != address:
        raise WrongRecipient(
            f"account {record.b} has address {recipient.address:#x}, not {address:#x}"
        )
    balance = recipient.balance + record.amount
    if balance >= 1 << BALANCE_BITS:
        raise AmountOverflow(
            f"account {record.b}'s balance would reach {balance}, beyond {BALANCE_BITS} bits"
        )
    return state.set(record.b, replace(recipient, balance=balance))


def _check_posts(record: Record, tx: Transfer | None) -> None:
    """BadSignature unless `record` posts `tx` as it was signed: the circuit checks the
    signature on the record's fields, so a record that differs has no valid signature."""
    if tx is None or tx.public_key is None or tx.signature is None:
        raise BadSignature(f"the {record.op.name} record's transaction is not signed")
    if tx.kind != SIGNED_OPS[record.op]:
        raise BadSignature(
            f"a signature of kind {tx.kind.name} cannot post a {record.op.name} record"
        )
    signed = (tx.from_index, tx.to_index, tx.amount,
              tx.to_address if record.op in CONSUMES_ENTRY else None)
    if signed != (record.a, record.b, record.amount, record.entry):
        raise BadSignature(
            f"the {record.op.name} record (a {record.a}, b {record.b}, amount {record.amount}, "
            f"entry {record.entry}) is not the transaction that was signed"
        )


def _debit_signed(state: AccountTree, tx: Transfer, chain_id: int) -> AccountTree:
    """Check a signed transaction against its sender, then take the amount and spend the
    nonce."""
    bound, bound_name = ((1 << ADDRESS_BITS, "2^160") if tx.kind == Kind.WITHDRAW
                         else (R, "r"))  # a withdrawal's recipient is an L1 address
    if not 0 < tx.to_address < bound:
        raise InvalidAddress(
            f"recipient address {tx.to_address} is 0 or not below {bound_name}"
        )
    sender = state.get(tx.from_index)
    if sender is None:
        raise UnknownAccount(f"no account at sender index {tx.from_index}")
    if address_of(tx.public_key) != sender.address:
        raise KeyMismatch(f"the transfer's public key is not the key of account {tx.from_index}")
    if tx.nonce != sender.nonce:
        raise WrongNonce(
            f"nonce {tx.nonce}, but account {tx.from_index} is at nonce {sender.nonce}"
        )
    if sender.nonce + 1 >= 1 << NONCE_BITS:
        raise NonceOverflow(
            f"account {tx.from_index} has used all 2^{NONCE_BITS} - 1 of its nonces"
        )
    message = signing_message(tx, chain_id)  # refuses an amount beyond 128 bits
    if not eddsa.verify(tx.public_key, message, tx.signature):
        raise BadSignature(
            f"the signature does not verify for account {tx.from_index}'s key "
            f"on this transfer (chain id {chain_id:#x})"
        )
    if tx.amount > sender.balance:
        raise InsufficientBalance(
            f"account {tx.from_index} holds {sender.balance}, less than {tx.amount}"
        )
    debited = replace(sender, balance=sender.balance - tx.amount, nonce=sender.nonce + 1)
    return state.set(tx.from_index, debited)
