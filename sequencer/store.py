"""The sequencer's data directory and its database: SQLite in the directory by default (WAL),
or PostgreSQL (`--db`, see p2p/database.py for the URL forms and what both guarantee).

What must survive a restart lives here, and each change is one database
transaction, so a kill at any point leaves either all of it or none:

- every accepted transaction (a transfer or a withdrawal: its `kind`), in acceptance
  order (`seq`), before the API answers; one dropped because an L1 message ahead of it
  took what it spent (mempool.py) is kept, marked dropped with the reason;
- every L1 message the relayer saw (a deposit or a forced withdrawal), one row per queue
  position, inserted idempotently in the same transaction as the relayer's cursor (the
  last L1 block it scanned), with the leaf a deposit credits (the mempool picks it when the
  message arrives) and, once a block consumes it, the block and the record it became;
- every block: its roots, dataHash, posted records (the exact `commitBlock` calldata, so a
  restart rebuilds the same block and its circuit inputs), transactions, status
  (precommitted, committed, finalized) and where L1 committed it; building a block marks
  its transactions and L1 messages and records the accounts it changed in the same
  transaction;
- the accounts, as versions: a row per account per block that changed it,
  genesis being block 0.

A database of an older schema is refused with what to do (schema 1 predates the L1
messages and the block data: its blocks were posted to a Rollup of the old encoding, which
this sequencer cannot commit to, so there is nothing to migrate to).

Why account versions rather than replaying blocks at start: the state after
any block b is one query (each account's latest version at or before b) and
one tree build, with no signature to check again; replaying costs a signature
verification and 4 D Poseidon hashes per transfer, about 7 ms at depth 8,
which grows without bound with the chain (a devnet with no provers never
finalizes). The circuit inputs of an older block need the state before it,
which the same query gives. The tree built from the versions is checked
against the block's stored root, so a damaged database is found at start.

The store is synchronous and thread-safe (one connection behind a lock): the
trio services call it through `trio.to_thread.run_sync`. A commit is durable
across a power cut, not only a process kill (SQLite's synchronous=FULL,
PostgreSQL's synchronous_commit); on SQLite it costs about 0.3 ms a commit
here, a tenth of a signature check. The SQL is written once for both
databases (`p2p.database.Dialect` holds their differences).

The data directory's lock (p2p/datadir.py: DATADIR/sequencer.lock, released by
the kernel when the process dies, even by SIGKILL) keeps a second sequencer off
the directory, and the database's own lock off the database, wherever it runs
from: two would build two different block b.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import partial
from pathlib import Path

from p2p.database import Connection, Database, DatabaseError, initialised, parse_url
from p2p.datadir import DataDirLock
from sequencer.accounts import Account, AccountTree
from sequencer.babyjub import Point
from sequencer.block_data import Op, Record, parse
from sequencer.circuit_inputs import BlockCircuit
from sequencer.eddsa import Signature
from sequencer.errors import GenesisMismatch, StoreError
from sequencer.genesis import genesis_state
from sequencer.transactions import Kind, Transfer

#: the SQLite file in the data directory, unless `--db` names another database
DATABASE_NAME = "sequencer.sqlite"
#: 2: transactions' kind, blocks' calldata, L1 messages, the relayer's cursor
SCHEMA_VERSION = 2
#: the relayer's cursor before its first scan: no L1 block scanned yet
NO_CURSOR = -1


class StoredBlockStatus(StrEnum):
    """Where a block the sequencer built is on its way to L1, as its store records it (the
    values are stored). L1's own status of a block is `market_contracts.rollup.BlockStatus`;
    this one adds the blocks built here and not sent yet."""

    #: built and stored here, not yet on L1
    PRECOMMITTED = "precommitted"
    #: on L1 (Rollup.commitBlock), awaiting its proof
    COMMITTED = "committed"
    #: proven and finalized on L1: final
    FINALIZED = "finalized"


class TransferState(StrEnum):
    PENDING = "pending"
    INCLUDED = "included"
    #: accepted, then dropped: an L1 message the builder applies ahead of it (a forced
    #: withdrawal) took the balance it spends (its `reason` says which)
    DROPPED = "dropped"


class L1MessageKind(StrEnum):
    """What the Bridge enqueued at a queue position (the values are stored)."""

    DEPOSIT = "deposit"
    FORCED = "forced"


@dataclass(frozen=True)
class L1Message:
    """One entry of the Rollup's L1 queue, as the relayer read it from the Bridge's events."""

    position: int
    kind: L1MessageKind
    l2_address: int
    amount: int
    #: a deposit: the leaf it credits (None until the mempool picks it as the message
    #: arrives); a forced withdrawal: the index its request names
    index: int | None
    #: a forced withdrawal's L1 recipient; None for a deposit
    recipient: int | None
    #: a deposit's L1 sender (0x address); None for a forced withdrawal
    sender: str | None
    #: the L1 block whose event enqueued it
    l1_block: int


@dataclass(frozen=True)
class StoredL1Message:
    message: L1Message
    #: the block that consumed it, the record op it became there, and that block's status;
    #: None while queued
    block: int | None
    op: Op | None
    block_status: StoredBlockStatus | None


@dataclass(frozen=True)
class StoredBlock:
    number: int
    old_root: int
    new_root: int
    data_hash: int
    status: StoredBlockStatus
    built_at: float
    #: the transactions' hashes, in block order
    transfers: tuple[str, ...]
    #: the `commitBlock` calldata (`block_data.calldata`): its records, entries, recipients
    data: bytes
    #: the queue positions of the L1 messages it consumed, in order (its first records)
    l1_messages: tuple[int, ...]
    #: the L1 block that committed it, and that block's timestamp; None while precommitted
    l1_block: int | None = None
    l1_timestamp: int | None = None


@dataclass(frozen=True)
class StoredTransfer:
    hash: str
    transfer: Transfer
    seq: int
    accepted_at: float
    state: TransferState
    block: int | None
    #: its record's position in the block
    position: int | None
    block_status: StoredBlockStatus | None
    #: why it was dropped; None unless dropped
    reason: str | None = None


@dataclass(frozen=True)
class NewBlock:
    """What the builder stores for one block: L1 messages' records first, then transactions'."""

    number: int
    old_root: int
    new_root: int
    data_hash: int
    #: hashes of its transactions, in block order (their records follow the L1 messages')
    transfers: tuple[str, ...]
    #: the accounts the block changed, as they are after it
    accounts: Mapping[int, Account]
    #: the `commitBlock` calldata
    data: bytes
    #: (queue position, the op its record became) of each L1 message it consumed, in order
    l1_messages: tuple[tuple[int, Op], ...] = ()


_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE blocks (
    number INTEGER PRIMARY KEY,
    old_root TEXT NOT NULL,
    new_root TEXT NOT NULL,
    data_hash TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('precommitted', 'committed', 'finalized')),
    built_at REAL NOT NULL,
    l1_block INTEGER,
    l1_timestamp INTEGER,
    data TEXT NOT NULL
);
CREATE TABLE transfers (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    hash TEXT NOT NULL UNIQUE,
    kind INTEGER NOT NULL,
    from_index INTEGER NOT NULL,
    to_index INTEGER NOT NULL,
    to_address TEXT NOT NULL,
    amount TEXT NOT NULL,
    nonce INTEGER NOT NULL,
    key_x TEXT NOT NULL,
    key_y TEXT NOT NULL,
    r8_x TEXT NOT NULL,
    r8_y TEXT NOT NULL,
    s TEXT NOT NULL,
    accepted_at REAL NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'included', 'dropped')),
    block INTEGER REFERENCES blocks (number),
    position INTEGER,
    reason TEXT
);
CREATE INDEX transfers_pending ON transfers (seq) WHERE state = 'pending';
CREATE INDEX transfers_of_block ON transfers (block, position);
CREATE TABLE accounts (
    idx INTEGER NOT NULL,
    block INTEGER NOT NULL,
    address TEXT NOT NULL,
    balance TEXT NOT NULL,
    nonce INTEGER NOT NULL,
    PRIMARY KEY (idx, block)
);
CREATE TABLE l1_messages (
    position INTEGER PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('deposit', 'forced')),
    l2_address TEXT NOT NULL,
    amount TEXT NOT NULL,
    idx INTEGER NOT NULL,
    recipient TEXT,
    sender TEXT,
    l1_block INTEGER NOT NULL,
    block INTEGER REFERENCES blocks (number),
    op INTEGER
);
CREATE INDEX l1_messages_queued ON l1_messages (position) WHERE block IS NULL;
"""

_TRANSFER_COLUMNS = (
    "hash, kind, from_index, to_index, to_address, amount, nonce, key_x, key_y, r8_x, r8_y, s, "
    "seq, accepted_at, state, block, position, reason"
)
_L1_MESSAGE_COLUMNS = (
    "position, kind, l2_address, amount, idx, recipient, sender, l1_block, block, op"
)


class Store:
    """The sequencer's database; open it with `Store.open`."""

    def __init__(self, database: Database, lock: DataDirLock, circuit: BlockCircuit):
        self._db = database
        self._lock = lock
        self.circuit = circuit

    @classmethod
    def open(cls, datadir: Path, circuit: BlockCircuit, genesis: Mapping[int, Account],
             db: str | None = None) -> Store:
        """Lock `datadir` and open (or create) the database `db` names (None:
        DATADIR/sequencer.sqlite) for this circuit and genesis state.

        A database made for another circuit or genesis is refused: its blocks would not apply.
        """
        try:
            where = parse_url(db, datadir / DATABASE_NAME)
        except DatabaseError as exc:
            raise StoreError(str(exc)) from None
        lock = DataDirLock(datadir, "sequencer")  # creates the directory
        try:
            database = Database.open(where, "sequencer")
        except DatabaseError as exc:
            lock.release()
            raise StoreError(str(exc)) from None
        store = cls(database, lock, circuit)
        return initialised(store, partial(store._initialise, genesis), StoreError)

    @property
    def where(self) -> str:
        """The database, as it may be shown: a path, or a URL without its password."""
        return str(self._db.where)

    def close(self) -> None:
        self._db.close()
        self._lock.release()

    def _initialise(self, genesis: Mapping[int, Account]) -> None:
        expected = {
            "schema": str(SCHEMA_VERSION),
            "circuit": self.circuit.name,
            "block_size": str(self.circuit.block_size),
            "depth": str(self.circuit.depth),
            "chain_id": str(self.circuit.chain_id),
            "genesis_root": str(genesis_state(self.circuit.depth, genesis).root),
        }
        with self._db.transaction() as db:
            if not db.has_table("meta"):
                db.create(_SCHEMA)
                db.executemany("INSERT INTO meta VALUES (?, ?)",
                               [*expected.items(), ("relayer_cursor", str(NO_CURSOR))])
                self._insert_accounts(db, 0, genesis)
                return
            stored = dict(db.execute("SELECT key, value FROM meta").fetchall())
        if stored.get("schema") != str(SCHEMA_VERSION):
            raise StoreError(
                f"the database {self.where} has schema {stored.get('schema')}, this sequencer "
                f"reads schema {SCHEMA_VERSION} (L1 messages, withdrawals, the new block data): "
                "its blocks belong to a Rollup of the old encoding; start this one with a new "
                "data directory (or --db)")
        for key, value in expected.items():
            if stored.get(key) != value:
                raise GenesisMismatch(
                    f"the database was made with {key} = {stored.get(key)}, not {value}; "
                    "use the data directory of this rollup, or a new one")

    # ------------------------------------------------------------------ transfers

    def add_transfers(self, accepted: Iterable[tuple[str, Transfer]]) -> None:
        """Record accepted transactions as pending, in this order (their acceptance order). One
        dropped before and accepted again (sent again once it applies) is a new acceptance: its
        dropped row goes."""
        now = time.time()
        with self._db.transaction() as db:
            for hash_, transfer in accepted:
                db.execute("DELETE FROM transfers WHERE hash = ? AND state = 'dropped'", (hash_,))
                key, sig = transfer.public_key, transfer.signature
                db.execute(
                    "INSERT INTO transfers (hash, kind, from_index, to_index, to_address, amount, "
                    "nonce, key_x, key_y, r8_x, r8_y, s, accepted_at, state) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending')",
                    (hash_, int(transfer.kind), transfer.from_index, transfer.to_index, str(transfer.to_address),
                     str(transfer.amount), transfer.nonce, str(key[0]), str(key[1]),
                     str(sig.r8[0]), str(sig.r8[1]), str(sig.s), now))

    def pending_transfers(self) -> list[StoredTransfer]:
        """Pending transfers in acceptance order."""
        return self._transfers("WHERE state = 'pending' ORDER BY seq")

    def transfer(self, hash_: str) -> StoredTransfer | None:
        found = self._transfers("WHERE hash = ?", (hash_,))
        return found[0] if found else None

    def block_transfers(self, number: int) -> list[Transfer]:
        """Block `number`'s transactions, in block order."""
        return [t.transfer for t in self._transfers("WHERE block = ? ORDER BY position", (number,))]

    def block_ops(self, number: int) -> list[tuple[Record, Transfer | None]]:
        """Block `number`'s records, as posted, each with its signed transaction (None for an
        L1 message's): what its circuit inputs are built from."""
        block = self.block(number)
        if block is None:
            raise StoreError(f"no block {number} in the database")
        records = parse(block.data, self.circuit.block_size, self.circuit.entries)
        signed: list[Transfer | None] = [None] * len(records)
        for stored in self._transfers("WHERE block = ? ORDER BY position", (number,)):
            signed[stored.position] = stored.transfer
        return list(zip(records, signed, strict=True))

    def _transfers(self, where: str, args: tuple = ()) -> list[StoredTransfer]:
        with self._db.connection() as db:
            rows = db.execute(
                f"SELECT {_TRANSFER_COLUMNS}, blocks.status FROM transfers "
                f"LEFT JOIN blocks ON blocks.number = transfers.block {where}", args).fetchall()
        return [_stored_transfer(row) for row in rows]

    # ------------------------------------------------------------------ blocks

    def add_block(self, block: NewBlock) -> None:
        """Store a precommitted block, mark its transactions and L1 messages and record its
        accounts, atomically."""
        with self._db.transaction() as db:
            last = db.execute("SELECT COALESCE(MAX(number), 0) FROM blocks").fetchone()[0]
            if block.number != last + 1:
                raise StoreError(f"block {block.number} built on top of block {last}: "
                                 "two builders on one database?")
            db.execute("INSERT INTO blocks (number, old_root, new_root, data_hash, status, "
                       "built_at, data) VALUES (?, ?, ?, ?, 'precommitted', ?, ?)",
                       (block.number, str(block.old_root), str(block.new_root),
                        str(block.data_hash), time.time(), block.data.hex()))
            for position, op in block.l1_messages:
                if db.execute("UPDATE l1_messages SET block = ?, op = ? "
                              "WHERE position = ? AND block IS NULL",
                              (block.number, int(op), position)).rowcount != 1:
                    raise StoreError(f"block {block.number} consumes L1 message {position}, "
                                     "which is not a queued one: the sequencer is broken")
            first = len(block.l1_messages)
            for position, hash_ in enumerate(block.transfers, first):
                if db.execute("UPDATE transfers SET state = 'included', block = ?, position = ? "
                              "WHERE hash = ? AND state = 'pending'",
                              (block.number, position, hash_)).rowcount != 1:
                    raise StoreError(f"block {block.number} includes transaction {hash_}, which "
                                     "is not a pending one: the sequencer is broken")
            self._insert_accounts(db, block.number, block.accounts)

    def block(self, number: int) -> StoredBlock | None:
        found = self._blocks("WHERE number = ?", (number,))
        return found[0] if found else None

    def blocks_with_status(self, status: StoredBlockStatus) -> list[StoredBlock]:
        return self._blocks("WHERE status = ? ORDER BY number", (str(status),))

    def blocks_from(self, first: int) -> list[StoredBlock]:
        return self._blocks("WHERE number >= ? ORDER BY number", (first,))

    def last_block_number(self) -> int:
        """The newest block's number; 0 (genesis) before the first."""
        with self._db.connection() as db:
            return db.execute("SELECT COALESCE(MAX(number), 0) FROM blocks").fetchone()[0]

    def _blocks(self, where: str, args: tuple) -> list[StoredBlock]:
        with self._db.connection() as db:
            rows = db.execute(
                "SELECT number, old_root, new_root, data_hash, status, built_at, l1_block, "
                f"l1_timestamp, data FROM blocks {where}", args).fetchall()
            hashes = {
                row[0]: tuple(h for (h,) in db.execute(
                    "SELECT hash FROM transfers WHERE block = ? ORDER BY position",
                    (row[0],)).fetchall())
                for row in rows
            }
            messages = {
                row[0]: tuple(p for (p,) in db.execute(
                    "SELECT position FROM l1_messages WHERE block = ? ORDER BY position",
                    (row[0],)).fetchall())
                for row in rows
            }
        return [StoredBlock(number=n, old_root=int(old), new_root=int(new), data_hash=int(dh),
                            status=StoredBlockStatus(status), built_at=built, transfers=hashes[n],
                            data=bytes.fromhex(data), l1_messages=messages[n],
                            l1_block=l1_block, l1_timestamp=l1_time)
                for n, old, new, dh, status, built, l1_block, l1_time, data in rows]

    def mark_committed(self, number: int, l1_block: int, l1_timestamp: int) -> None:
        with self._db.transaction() as db:
            db.execute("UPDATE blocks SET status = 'committed', l1_block = ?, l1_timestamp = ? "
                       "WHERE number = ? AND status = 'precommitted'",
                       (l1_block, l1_timestamp, number))

    def mark_finalized(self, up_to: int) -> int:
        """Committed blocks up to `up_to` become finalized; returns how many changed."""
        with self._db.transaction() as db:
            return db.execute("UPDATE blocks SET status = 'finalized' "
                              "WHERE number <= ? AND status = 'committed'", (up_to,)).rowcount

    def mark_uncommitted(self, after: int) -> int:
        """Committed blocks past `after` are not on L1 (reverted there): precommitted again."""
        with self._db.transaction() as db:
            return db.execute(
                "UPDATE blocks SET status = 'precommitted', l1_block = NULL, l1_timestamp = NULL "
                "WHERE number > ? AND status = 'committed'", (after,)).rowcount

    # ------------------------------------------------------------------ L1 messages

    def add_l1_messages(self, messages: Iterable[L1Message], cursor: int,
                        dropped: Iterable[tuple[str, str]] = ()) -> None:
        """Record L1 messages (each once: a position already stored is left as it is), move the
        relayer's cursor to L1 block `cursor`, and mark the pending transactions `dropped`
        ((hash, reason)) that they overtake, atomically."""
        with self._db.transaction() as db:
            for m in messages:
                if m.index is None:
                    raise StoreError(f"L1 message {m.position} has no index yet")
                db.execute(
                    f"INSERT INTO l1_messages ({_L1_MESSAGE_COLUMNS}) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL) ON CONFLICT (position) DO NOTHING",
                    (m.position, str(m.kind), str(m.l2_address), str(m.amount), m.index,
                     None if m.recipient is None else str(m.recipient), m.sender, m.l1_block))
            db.executemany("UPDATE transfers SET state = 'dropped', reason = ? "
                           "WHERE hash = ? AND state = 'pending'",
                           [(reason, hash_) for hash_, reason in dropped])
            db.execute("UPDATE meta SET value = ? WHERE key = 'relayer_cursor'", (str(cursor),))

    def relayer_cursor(self) -> int:
        """The last L1 block the relayer scanned (NO_CURSOR before its first scan)."""
        with self._db.connection() as db:
            return int(db.execute(
                "SELECT value FROM meta WHERE key = 'relayer_cursor'").fetchone()[0])

    def queued_l1_messages(self) -> list[L1Message]:
        """The L1 messages no block consumed yet, in queue order."""
        return [s.message for s in self._l1_messages("WHERE block IS NULL ORDER BY position")]

    def l1_message(self, position: int) -> StoredL1Message | None:
        found = self._l1_messages("WHERE position = ?", (position,))
        return found[0] if found else None

    def next_l1_position(self) -> int:
        """The queue position the next L1 message the relayer stores must have."""
        with self._db.connection() as db:
            return int(db.execute(
                "SELECT COALESCE(MAX(position) + 1, 0) FROM l1_messages").fetchone()[0])

    def l1_message_counts(self) -> tuple[int, int]:
        """(queued, included) L1 messages."""
        with self._db.connection() as db:
            queued, included = db.execute(
                "SELECT COALESCE(SUM(CASE WHEN block IS NULL THEN 1 ELSE 0 END), 0), "
                "COALESCE(SUM(CASE WHEN block IS NULL THEN 0 ELSE 1 END), 0) "
                "FROM l1_messages").fetchone()
        return int(queued), int(included)

    def _l1_messages(self, where: str, args: tuple = ()) -> list[StoredL1Message]:
        with self._db.connection() as db:
            rows = db.execute(
                f"SELECT {', '.join('l1_messages.' + c for c in _L1_MESSAGE_COLUMNS.split(', '))}"
                ", blocks.status FROM l1_messages "
                f"LEFT JOIN blocks ON blocks.number = l1_messages.block {where}", args).fetchall()
        return [_stored_l1_message(row) for row in rows]

    # ------------------------------------------------------------------ state

    def accounts_at(self, number: int) -> dict[int, Account]:
        """Every account as it is after block `number` (0: genesis)."""
        with self._db.connection() as db:
            rows = db.execute(
                "SELECT idx, address, balance, nonce FROM accounts AS v WHERE block = "
                "(SELECT MAX(block) FROM accounts WHERE idx = v.idx AND block <= ?)",
                (number,)).fetchall()
        return {idx: Account(int(address), int(balance), nonce)
                for idx, address, balance, nonce in rows}

    def state_at(self, number: int) -> AccountTree:
        """The account tree after block `number`, checked against the root stored for it."""
        state = AccountTree(self.circuit.depth)
        for index, account in sorted(self.accounts_at(number).items()):
            state = state.set(index, account)
        expected = self._root_after(number)
        if state.root != expected:
            raise StoreError(f"the accounts stored for block {number} give root {state.root:#x}, "
                             f"not the block's {expected:#x}: the database is damaged")
        return state

    def _root_after(self, number: int) -> int:
        with self._db.connection() as db:
            if number == 0:
                return int(db.execute(
                    "SELECT value FROM meta WHERE key = 'genesis_root'").fetchone()[0])
            row = db.execute("SELECT new_root FROM blocks WHERE number = ?",
                             (number,)).fetchone()
        if row is None:
            raise StoreError(f"no block {number} in the database")
        return int(row[0])

    # ------------------------------------------------------------------ plumbing

    @staticmethod
    def _insert_accounts(db: Connection, number: int,
                         accounts: Mapping[int, Account]) -> None:
        db.executemany("INSERT INTO accounts VALUES (?, ?, ?, ?, ?)",
                       [(i, number, str(a.address), str(a.balance), a.nonce)
                        for i, a in accounts.items()])


def _stored_transfer(row: Iterable) -> StoredTransfer:
    (hash_, kind, from_index, to_index, to_address, amount, nonce, key_x, key_y, r8_x, r8_y, s,
     seq, accepted_at, state, block, position, reason, block_status) = row
    key: Point = (int(key_x), int(key_y))
    transfer = Transfer(from_index, to_index, int(to_address), int(amount), nonce, key,
                        Signature((int(r8_x), int(r8_y)), int(s)), Kind(kind))
    return StoredTransfer(hash_, transfer, seq, accepted_at, TransferState(state), block,
                          position, _status(block_status), reason)


def _stored_l1_message(row: Iterable) -> StoredL1Message:
    (position, kind, l2_address, amount, index, recipient, sender, l1_block, block, op,
     block_status) = row
    message = L1Message(position, L1MessageKind(kind), int(l2_address), int(amount), index,
                        None if recipient is None else int(recipient), sender, l1_block)
    return StoredL1Message(message, block, None if op is None else Op(op), _status(block_status))


def _status(value: str | None) -> StoredBlockStatus | None:
    return None if value is None else StoredBlockStatus(value)
