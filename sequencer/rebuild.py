"""The L2 state from L1 data alone: the genesis the Rollup emitted, then every commitBlock's data.

This is what "data availability" means for the rollup: whoever can read L1 can compute every
account, with no sequencer and no database. Each block's records say what changed (who paid
whom, how much, which account opened with which address); signatures and public keys are not
posted, because the block's proof, checked on L1 against the same data's commitment, vouches
for them. So a rebuild trusts the records as posted and applies their effects, then checks the
result against the root the block committed: a mismatch means the rebuild's reading of L1 (or
the rules it applies) differs from the circuit's, and it stops there rather than guess.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from sequencer.accounts import Account, AccountTree
from sequencer.block_data import Op, Record
from sequencer.errors import SequencerError


class RebuildMismatch(SequencerError):
    """The state rebuilt from L1 does not hash to the root L1 holds for that block."""


@dataclass(frozen=True)
class PostedBlock:
    """A block as L1 holds it: its number, committed new root, and `commitBlock`'s data."""

    number: int
    new_root: int
    records: tuple[Record, ...]


def _debit(state: AccountTree, index: int, amount: int, spends_nonce: bool) -> AccountTree:
    account = state.get(index)
    if account is None or account.balance < amount:
        raise RebuildMismatch(f"a posted record debits account {index}, which cannot pay {amount}")
    return state.set(index, replace(account, balance=account.balance - amount,
                                    nonce=account.nonce + spends_nonce))


def _credit(state: AccountTree, index: int, amount: int, address: int | None) -> AccountTree:
    account = state.get(index)
    if account is None:
        if address is None:
            raise RebuildMismatch(f"a posted transfer credits account {index}, which is empty")
        account = Account(address)
    return state.set(index, replace(account, balance=account.balance + amount))


def posted_effect(state: AccountTree, record: Record) -> AccountTree:
    """The state after one posted record, its checks left to the proof (see the module)."""
    if record.op in (Op.TRANSFER, Op.OPEN):
        debited = _debit(state, record.a, record.amount, spends_nonce=True)
        return _credit(debited, record.b, record.amount,
                       record.entry if record.op == Op.OPEN else None)
    if record.op == Op.DEPOSIT:
        return _credit(state, record.b, record.amount, record.entry)
    if record.op == Op.WITHDRAW:
        return _debit(state, record.a, record.amount, spends_nonce=True)
    if record.op == Op.FORCED:
        return _debit(state, record.a, record.amount, spends_nonce=False)
    return state  # FORCED_SKIP, PAD: nothing changes


def replay(genesis: AccountTree, blocks: Iterable[PostedBlock]) -> AccountTree:
    """`genesis` after `blocks`, in order; RebuildMismatch at the first root that differs."""
    state = genesis
    for block in blocks:
        for record in block.records:
            state = posted_effect(state, record)
        if state.root != block.new_root:
            raise RebuildMismatch(f"block {block.number}: the rebuilt state's root is "
                                  f"{state.root:#x}, L1 holds {block.new_root:#x}")
    return state
