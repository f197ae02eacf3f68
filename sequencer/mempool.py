"""The pending transfers, and the checks a transfer passes before the sequencer accepts it.

A transfer is accepted only if it applies on top of the newest block's state
with every pending transfer applied in acceptance order: its nonce is then the
sender's next nonce counting its pending transfers, its amount fits the balance
counting pending debits and credits, and its recipient is checked against any
account a pending transfer opens. The checks are transition.py's own
`debit_sender` and `credit_recipient` (signature, key, nonce, balance, amount
and recipient rules, each refusal its own `InvalidTransfer`), run on a
`Projection`: the newest block's tree plus the accounts that pending transfers
changed, with no Merkle hashing (a tree update costs 2 D Poseidon hashes; the
signature check, about 3 ms, is then most of the cost of an acceptance).

Because the builder applies the same rules to the same transfers in the same
order, every accepted transfer applies when its block is built, so nothing
accepted is refused later.

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
from dataclasses import dataclass

import structlog
import trio

from sequencer.accounts import Account, AccountTree
from sequencer.errors import InvalidTransfer, MempoolFull, SenderQueueFull, StoreError
from sequencer.store import Store
from sequencer.transactions import Transfer
from sequencer.transition import apply_transfer
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
    """Pending transfers in acceptance order, over the newest block's state (`tip`)."""

    def __init__(self, store: Store, tip_number: int, tip: AccountTree,
                 tip_accounts: Mapping[int, Account], *, chain_id: int, max_pending: int,
                 max_per_sender: int):
        self.store = store
        #: the newest block's number and state
        self.tip_number = tip_number
        self.chain_id = chain_id
        self.max_pending = max_pending
        self.max_per_sender = max_per_sender
        self.tip = tip
        self._projection = Projection(tip)
        #: stored, in acceptance order: what blocks are built from
        self._pending: list[Pending] = []
        #: checked and counted in the projection, waiting for the next group write
        self._unstored: list[_Acceptance] = []
        #: every pending transfer, stored or not, by hash
        self._accepted: dict[str, _Acceptance] = {}
        self._per_sender: Counter[int] = Counter()
        # address -> lowest index holding it, counting accounts that pending transfers open
        self._index_of: dict[int, int] = {}
        for index, account in sorted(tip_accounts.items(), reverse=True):
            self._index_of[account.address] = index
        self._occupied = set(tip_accounts)
        self._lowest_free = 0
        #: held while checking and while a block's transfers leave; the write lock while a
        #: group is written (`submit` never holds both)
        self._lock = trio.Lock()
        self._write_lock = trio.Lock()
        self._broken: str | None = None

    @classmethod
    def restore(cls, store: Store, tip_number: int, **limits) -> Mempool:
        """The mempool after a restart: the newest stored block's state and the stored pending
        transfers, which are checked again in their order (and must all still apply)."""
        accounts = store.accounts_at(tip_number)
        mempool = cls(store, tip_number, store.state_at(tip_number), accounts, **limits)
        for stored in store.pending_transfers():
            try:
                mempool._admit(_Acceptance(Pending(stored.hash, stored.transfer), stored=True))
            except InvalidTransfer as error:
                raise StoreError(f"stored pending transfer {stored.hash} no longer applies "
                                 f"({error}): the database is damaged") from None
        return mempool

    # ------------------------------------------------------------------ acceptance

    async def submit(self, transfer: Transfer) -> str:
        """Check and store a signed transfer; returns its hash. Refusals are `SequencerError`s."""
        hash_ = transfer_hash(transfer, self.chain_id)  # refuses indices/amount/nonce too wide
        async with self._lock:
            if self._broken is not None:
                raise StoreError(self._broken)
            try:
                self._check_limits(transfer)
                draft = apply_transfer(self._projection, transfer, self.chain_id)
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

    async def _store(self, acceptance: _Acceptance) -> None:
        """Return once the accepted transfer is in the database.

        Group commit: whoever takes the write lock first writes every transfer checked so far
        in one SQLite transaction (one fsync, about 2 ms here, shared by all of them), in
        acceptance order; the others find theirs written. Checks go on meanwhile.
        """
        # Shielded: a sender that gives up must not leave its checked transfer unstored in the
        # projection; the wait is short (one group write at most).
        with trio.CancelScope(shield=True):
            await self._store_shielded(acceptance)

    async def _store_shielded(self, acceptance: _Acceptance) -> None:
        async with self._write_lock:
            if acceptance.stored:
                return
            if self._broken is not None:
                raise StoreError(self._broken)
            group, self._unstored = self._unstored, []
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
        self._record(acceptance, apply_transfer(self._projection, acceptance.pending.transfer,
                                                self.chain_id))

    def _record(self, acceptance: _Acceptance, draft: Draft) -> None:
        self._projection.changes.update(draft.writes)
        pending = acceptance.pending
        if acceptance.stored:
            self._pending.append(pending)
        else:
            self._unstored.append(acceptance)
        self._accepted[pending.hash] = acceptance
        self._per_sender[pending.transfer.from_index] += 1
        # The rules let a transfer credit index `to` only if `to` holds (or now opens) an
        # account with `to_address`.
        to, address = pending.transfer.to_index, pending.transfer.to_address
        self._occupied.add(to)
        if self._index_of.get(address, to + 1) > to:
            self._index_of[address] = to

    # ------------------------------------------------------------------ the builder's side

    def oldest(self, count: int) -> list[Pending]:
        """The first `count` stored pending transfers, in acceptance order."""
        return self._pending[:count]

    async def block_built(self, number: int, tip: AccountTree, count: int) -> None:
        """The builder stored block `number`, whose state is `tip`, from the `count` oldest
        pending transfers: forget them."""
        async with self._lock:
            included, self._pending = self._pending[:count], self._pending[count:]
            self.tip_number, self.tip = number, tip
            for pending in included:
                del self._accepted[pending.hash]
                self._per_sender[pending.transfer.from_index] -= 1
            # The same projected state (the block applied the same transfers in the same
            # order): only the base moves, and entries the new tip already holds go.
            self._projection = Projection(tip, {
                i: a for i, a in self._projection.changes.items() if tip.get(i) != a})

    # ------------------------------------------------------------------ reading

    def __len__(self) -> int:
        """Pending transfers, stored or about to be."""
        return len(self._pending) + len(self._unstored)

    def account(self, index: int) -> tuple[Account | None, Account | None]:
        """(the account in the newest block, the account counting pending transfers)."""
        return self.tip.get(index), self._projection.get(index)

    def index_of(self, address: int) -> int | None:
        """The lowest index holding `address`, counting accounts that pending transfers open."""
        return self._index_of.get(address)

    def lowest_free_index(self) -> int | None:
        """The lowest empty leaf counting pending transfers; None when the tree is full.

        Leaves only ever fill, so the search resumes where it last stopped.
        """
        while self._lowest_free in self._occupied:
            self._lowest_free += 1
        return self._lowest_free if self._lowest_free < self.tip.capacity else None
