"""The pending transactions and queued L1 messages, and the checks a transaction passes before
the sequencer accepts it.

The builder applies, after the newest block's state (`tip`), first every queued L1 message
(deposits and forced withdrawals the relayer stored, in queue order), then the pending
transactions (transfers and withdrawals) in acceptance order (builder.py). The mempool
projects exactly that order: `_l1_projection` is the tip with the queued messages applied,
`_projection` that with the pending transactions applied. A transaction is accepted only if
it applies at the end of `_projection` by the model's own rules (`transition.record_for`,
`apply_record`: signature, key, nonce, balance, recipient, each refusal its own
`InvalidTransfer`) and its amount can be posted (`block_data.pack_amount`). A projection is
the tree plus the accounts changed, with no Merkle hashing (a tree update costs 2 D Poseidon
hashes; the signature check, about 3 ms, is then most of the cost of an acceptance).

An L1 message arrives after transactions already pending, yet is applied ahead of them.
What it does there:

- a deposit credits the account that holds its L2 address (counting accounts pending
  transactions open, `index_of`), else opens the lowest free leaf (counting those too,
  `lowest_free_index`); the leaf is picked as it arrives and stored with it. A credit moved
  ahead of transactions leaves every balance on their way at least as high, so none of them
  fails; a pending transfer that would have opened that leaf with the same address is
  posted as a TRANSFER rather than an OPEN, since the builder picks each record on the state
  it applies it to, and no pending transfer opens a leaf the deposit takes otherwise.
- a forced withdrawal that applies (FORCED) debits its account ahead of that account's
  pending transactions, which may then no longer apply: the pending transactions are checked
  again after it, and those that fail are dropped (stored as dropped, with the reason, in the
  same database transaction as the message), so the builder never meets one that fails.
  Only the account's own key can sign a forced withdrawal, so only its owner (and whoever
  they paid with the same money) loses transactions so. One that is skipped (FORCED_SKIP)
  changes nothing.

Because the builder applies the same rules to the same operations in the same order, every
transaction still pending when its block is built applies, so nothing is refused at build.

An accepted transfer is in the store before `submit` returns. Checks run one
at a time (acceptance order is the projection's order), and the checked
transfers are written in that order in groups, one SQLite transaction each
(`_store`): an fsync costs about as much as a signature check here, so
senders who arrive together share one. Blocks are built only from stored
transfers, so acceptance order, the store's `seq` order and the blocks agree.
Resending a transfer already accepted returns its hash again, so a wallet that
lost the reply can retry.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, replace

import structlog
import trio

from sequencer.accounts import Account, AccountTree
from sequencer.block_data import Op, Record, pack_amount, round_amount
from sequencer.errors import (
    AmountOverflow,
    InvalidAddress,
    InvalidTransfer,
    MempoolFull,
    SenderQueueFull,
    StoreError,
)
from sequencer.store import L1Message, L1MessageKind, Store
from sequencer.transactions import Kind, Transfer
from sequencer.transition import apply_record, deposit_record, forced_record, record_for
from sequencer.wire import transfer_hash

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Pending:
    hash: str
    transfer: Transfer


@dataclass
class _Acceptance:
    """A checked transfer on its way to the database."""

    pending: Pending
    stored: bool = False


def l1_record(state, message: L1Message) -> Record:
    """The record an L1 message becomes when applied to `state` (the model's rule decides
    whether a forced withdrawal applies or is skipped)."""
    if message.kind is L1MessageKind.DEPOSIT:
        return deposit_record(state, message.l2_address, message.amount, message.index)
    return forced_record(state, message.index, message.l2_address, message.amount,
                         message.recipient)


def check_postable(transfer: Transfer) -> None:
    """What a block can post of a signed transaction, beyond the state's rules: its amount as
    m * 10^e (`block_data.pack_amount`, refused with the amount rounded), and a withdrawal's
    index 0 (its record's `b`; the rules check its L1 recipient)."""
    try:
        pack_amount(transfer.amount)
    except AmountOverflow:
        raise AmountOverflow(
            f"amount {transfer.amount} cannot be posted: a block posts amounts as m * 10^e with "
            f"m below 2^32; round it to {round_amount(transfer.amount)} "
            "(block_data.round_amount) and sign again") from None
    if transfer.kind is Kind.WITHDRAW and transfer.to_index != 0:
        raise InvalidAddress(f"a withdrawal goes to index 0 (its address is the L1 recipient), "
                             f"not {transfer.to_index}")


class Projection:
    """What transition.py reads of a state (depth, capacity, get) and a copy-on-write `set`.

    `set` returns a `Draft` holding the write, leaving this projection as it is; a transfer
    the rules refuse half-way (credited after debited) thus changes nothing, as with a tree.
    """

    def __init__(self, tree: AccountTree, changes: Mapping[int, Account] = ()):
        self.tree = tree
        self.changes: dict[int, Account] = dict(changes)

    @property
    def depth(self) -> int:
        return self.tree.depth

    @property
    def capacity(self) -> int:
        return self.tree.capacity

    def get(self, index: int) -> Account | None:
        account = self.changes.get(index)
        return account if account is not None else self.tree.get(index)

    def set(self, index: int, account: Account) -> Draft:
        return Draft(self, {index: account})

    def apply(self, result: Projection | Draft) -> None:
        """Keep the writes of `result` (this projection, or a draft over it)."""
        if isinstance(result, Draft):
            self.changes.update(result.writes)

    def copy(self) -> Projection:
        return Projection(self.tree, self.changes)

    def rebased(self, tip: AccountTree) -> Projection:
        """The same state over `tip`, which it contains: entries the tip already holds go."""
        return Projection(tip, {i: a for i, a in self.changes.items() if tip.get(i) != a})


class Draft:
    """A projection with a few writes on top, not yet applied to it."""

    def __init__(self, base: Projection, writes: dict[int, Account]):
        self.base = base
        self.writes = writes

    @property
    def depth(self) -> int:
        return self.base.depth

    @property
    def capacity(self) -> int:
        return self.base.capacity

    def get(self, index: int) -> Account | None:
        account = self.writes.get(index)
        return account if account is not None else self.base.get(index)

    def set(self, index: int, account: Account) -> Draft:
        return Draft(self.base, {**self.writes, index: account})



class Mempool:
    """Queued L1 messages and pending transactions, over the newest block's state (`tip`)."""

    def __init__(self, store: Store, tip_number: int, tip: AccountTree,
                 tip_accounts: Mapping[int, Account], *, chain_id: int, max_pending: int,
                 max_per_sender: int, next_l1_position: int = 0):
        self.store = store
        #: the newest block's number and state
        self.tip_number = tip_number
        self.chain_id = chain_id
        self.max_pending = max_pending
        self.max_per_sender = max_per_sender
        self.tip = tip
        #: the tip with the queued L1 messages applied, and that with the pending transactions
        self._l1_projection = Projection(tip)
        self._projection = Projection(tip)
        #: stored L1 messages no block consumed yet, in queue order
        self._queued: list[L1Message] = []
        #: the queue position the next L1 message must have
        self.next_l1_position = next_l1_position
        #: stored, in acceptance order: what blocks are built from
        self._pending: list[Pending] = []
        #: checked and counted in the projection, waiting for the next group write
        self._unstored: list[_Acceptance] = []
        #: every pending transfer, stored or not, by hash
        self._accepted: dict[str, _Acceptance] = {}
        self._per_sender: Counter[int] = Counter()
        # address -> lowest index holding it, counting accounts that pending transfers and
        # queued deposits open
        self._index_of: dict[int, int] = {}
        for index, account in sorted(tip_accounts.items(), reverse=True):
            self._index_of[account.address] = index
        self._occupied = set(tip_accounts)
        self._lowest_free = 0
        #: held while checking and while a block's transfers leave; the write lock while a
        #: group is written (`submit` never holds both)
        self._lock = trio.Lock()
        self._write_lock = trio.Lock()
        #: held by the builder while it builds and by `add_l1_messages`: a block is built from
        #: one view of the queue and the pending transactions, which L1 messages change
        self.building = trio.Lock()
        self._broken: str | None = None

    @classmethod
    def restore(cls, store: Store, tip_number: int, **limits) -> Mempool:
        """The mempool after a restart: the newest stored block's state, the queued L1 messages
        and the stored pending transactions, which are checked again in the builder's order (and
        must all still apply)."""
        accounts = store.accounts_at(tip_number)
        mempool = cls(store, tip_number, store.state_at(tip_number), accounts,
                      next_l1_position=store.next_l1_position(), **limits)
        for message in store.queued_l1_messages():
            mempool._queue(message)
        mempool._projection = mempool._l1_projection.copy()
        for stored in store.pending_transfers():
            try:
                mempool._admit(_Acceptance(Pending(stored.hash, stored.transfer), stored=True))
            except InvalidTransfer as error:
                raise StoreError(f"stored pending transfer {stored.hash} no longer applies "
                                 f"({error}): the database is damaged") from None
        return mempool

    # ------------------------------------------------------------------ acceptance

    async def submit(self, transfer: Transfer) -> str:
        """Check and store a signed transaction; returns its hash. Refusals are
        `SequencerError`s."""
        hash_ = transfer_hash(transfer, self.chain_id)  # refuses indices/amount/nonce too wide
        check_postable(transfer)
        async with self._lock:
            if self._broken is not None:
                raise StoreError(self._broken)
            try:
                self._check_limits(transfer)
                draft = self._check(self._projection, transfer)
            except (InvalidTransfer, MempoolFull, SenderQueueFull):
                # Most likely a resend of a transfer already accepted (its nonce is spent).
                acceptance = self._accepted.get(hash_)
                if acceptance is None:
                    if await trio.to_thread.run_sync(self.store.transfer, hash_) is None:
                        raise
                    return hash_
            else:
                acceptance = _Acceptance(Pending(hash_, transfer))
                self._record(acceptance, draft)
        await self._store(acceptance)
        return hash_

    def _check(self, state: Projection, transfer: Transfer) -> Projection | Draft:
        return apply_record(state, record_for(state, transfer), transfer, self.chain_id)

    async def _store(self, acceptance: _Acceptance) -> None:
        """Return once the accepted transfer is in the database.

        Group commit: whoever takes the write lock first writes every transfer checked so far
        in one SQLite transaction (one fsync, about 2 ms here, shared by all of them), in
        acceptance order; the others find theirs written. Checks go on meanwhile.
        """
        # Shielded: a sender that gives up must not leave its checked transfer unstored in the
        # projection; the wait is short (one group write at most).
        with trio.CancelScope(shield=True):
            async with self._write_lock:
                if not acceptance.stored:
                    await self._write_unstored()

    async def _write_unstored(self) -> None:
        """Write every transfer checked so far, in acceptance order (the write lock held)."""
        if self._broken is not None:
            raise StoreError(self._broken)
        group, self._unstored = self._unstored, []
        if not group:
            return
        try:
            await trio.to_thread.run_sync(self.store.add_transfers,
                                          [(a.pending.hash, a.pending.transfer) for a in group])
        except Exception as error:
            # The projection counts transfers that are not stored: refuse everything until
            # a restart rebuilds it from the database.
            self._broken = (f"the sequencer could not store accepted transfers ({error}); "
                            "it refuses transfers until it is restarted")
            log.error("storing transfers failed", error=str(error))
            raise StoreError(self._broken) from None
        for accepted in group:
            accepted.stored = True
            self._pending.append(accepted.pending)

    def _check_limits(self, transfer: Transfer) -> None:
        if len(self) >= self.max_pending:
            raise MempoolFull(f"the sequencer already holds {self.max_pending} pending transfers; "
                              "retry after the next block")
        if self._per_sender[transfer.from_index] >= self.max_per_sender:
            raise SenderQueueFull(
                f"account {transfer.from_index} already has {self.max_per_sender} pending "
                "transfers, the most one sender may; retry after the next block")

    def _admit(self, acceptance: _Acceptance) -> None:
        """Count a stored pending transfer again after a restart; it must still apply."""
        self._record(acceptance, self._check(self._projection, acceptance.pending.transfer))

    def _record(self, acceptance: _Acceptance, draft: Projection | Draft) -> None:
        self._projection.apply(draft)
        pending = acceptance.pending
        if acceptance.stored:
            self._pending.append(pending)
        else:
            self._unstored.append(acceptance)
        self._accepted[pending.hash] = acceptance
        self._per_sender[pending.transfer.from_index] += 1
        if pending.transfer.kind is Kind.TRANSFER:
            # The rules let a transfer credit index `to` only if `to` holds (or now opens) an
            # account with `to_address`.
            self._occupy(pending.transfer.to_index, pending.transfer.to_address)

    def _occupy(self, index: int, address: int) -> None:
        self._occupied.add(index)
        if self._index_of.get(address, index + 1) > index:
            self._index_of[address] = index

    # ------------------------------------------------------------------ L1 messages

    async def add_l1_messages(self, messages: list[L1Message], cursor: int) -> None:
        """Store the L1 messages the relayer read (those already stored are skipped) with its
        cursor, the L1 block it scanned to, and count them in the projections: each deposit
        gets its leaf, and the pending transactions a forced withdrawal overtakes and leaves
        failing are dropped, all in one database transaction."""
        async with self.building, self._lock:
            if self._broken is not None:
                raise StoreError(self._broken)
            async with self._write_lock:
                await self._write_unstored()  # the pending ones are then all in `_pending`
            new = [m for m in messages if m.position >= self.next_l1_position]
            for expected, message in enumerate(new, self.next_l1_position):
                if message.position != expected:
                    raise StoreError(f"the relayer read L1 message {message.position} where "
                                     f"{expected} comes next: it missed one")
            l1_projection = self._l1_projection.copy()
            placed, records = [], []
            for message in new:
                if message.kind is L1MessageKind.DEPOSIT:
                    message = replace(message, index=self._deposit_leaf(message.l2_address))
                    self._occupy(message.index, message.l2_address)
                record = l1_record(l1_projection, message)
                l1_projection.apply(apply_record(l1_projection, record, None, self.chain_id))
                placed.append(message)
                records.append(record)
            projection, kept, dropped = self._reproject(l1_projection, records)
            await trio.to_thread.run_sync(self.store.add_l1_messages, placed, cursor,
                                          [(p.hash, reason) for p, reason in dropped])
            self._l1_projection, self._projection = l1_projection, projection
            self._queued += placed
            self.next_l1_position += len(placed)
            self._pending = kept
            for pending, reason in dropped:
                self._forget(pending)
                log.warning("pending transaction dropped", hash=pending.hash, reason=reason)

    def _deposit_leaf(self, address: int) -> int:
        index = self.index_of(address)
        if index is None:
            index = self.lowest_free_index()
        if index is None:
            raise StoreError(f"a deposit to L2 address {address:#x} has no leaf: the tree is "
                             "full; the sequencer cannot include it")
        return index

    def _reproject(self, l1_projection: Projection, records: list[Record]
                   ) -> tuple[Projection, list[Pending], list[tuple[Pending, str]]]:
        """The projection with the new L1 messages' `records` ahead of the pending transactions:
        (it, the pending transactions kept, those dropped with why)."""
        if not any(r.op == Op.FORCED for r in records):
            # Deposits commute with what follows them (see the module's docstring), and a
            # skipped forced withdrawal changes nothing: apply them after the pending ones.
            projection = self._projection.copy()
            for record in records:
                if record.op == Op.DEPOSIT:
                    projection.apply(apply_record(projection, record, None, self.chain_id))
            return projection, self._pending, []
        projection, kept, dropped = l1_projection.copy(), [], []
        for pending in self._pending:
            try:
                projection.apply(self._check(projection, pending.transfer))
            except InvalidTransfer as error:
                dropped.append((pending, f"a forced withdrawal from L1, applied ahead of it, "
                                         f"left it failing: {error}"))
            else:
                kept.append(pending)
        return projection, kept, dropped

    def _queue(self, message: L1Message) -> None:
        """Count a stored queued L1 message (after a restart)."""
        if message.kind is L1MessageKind.DEPOSIT:
            self._occupy(message.index, message.l2_address)
        self._l1_projection.apply(apply_record(
            self._l1_projection, l1_record(self._l1_projection, message), None, self.chain_id))
        self._queued.append(message)

    def _forget(self, pending: Pending) -> None:
        del self._accepted[pending.hash]
        self._per_sender[pending.transfer.from_index] -= 1

    # ------------------------------------------------------------------ the builder's side

    def queued(self) -> list[L1Message]:
        """The queued L1 messages, in queue order: a block applies them first."""
        return list(self._queued)

    def oldest(self, count: int) -> list[Pending]:
        """The first `count` stored pending transfers, in acceptance order."""
        return self._pending[:count]

    async def block_built(self, number: int, tip: AccountTree, messages: int,
                          transactions: int) -> None:
        """The builder stored block `number`, whose state is `tip`, from the `messages` oldest
        queued L1 messages and the `transactions` oldest pending transactions: forget them."""
        async with self._lock:
            self._queued = self._queued[messages:]
            included, self._pending = self._pending[:transactions], self._pending[transactions:]
            self.tip_number, self.tip = number, tip
            for pending in included:
                self._forget(pending)
            # The same projected states (the block applied the same operations in the same
            # order): only the base moves. A block takes transactions only once it has taken
            # every queued message, so with messages left it took none.
            self._l1_projection = (self._l1_projection.rebased(tip) if self._queued
                                   else Projection(tip))
            self._projection = self._projection.rebased(tip)

    # ------------------------------------------------------------------ reading

    def __len__(self) -> int:
        """Pending transfers, stored or about to be."""
        return len(self._pending) + len(self._unstored)

    def account(self, index: int) -> tuple[Account | None, Account | None]:
        """(the account in the newest block, the account counting L1 messages and pending
        transactions)."""
        return self.tip.get(index), self._projection.get(index)

    def index_of(self, address: int) -> int | None:
        """The lowest index holding `address`, counting accounts that pending transfers and
        queued deposits open."""
        return self._index_of.get(address)

    def lowest_free_index(self) -> int | None:
        """The lowest empty leaf counting pending transfers and queued deposits; None when the
        tree is full.

        Leaves only ever fill, so the search resumes where it last stopped.
        """
        while self._lowest_free in self._occupied:
            self._lowest_free += 1
        return self._lowest_free if self._lowest_free < self.tip.capacity else None
