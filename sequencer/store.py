"""The sequencer's data directory and its database: SQLite in the directory by default (WAL),
or PostgreSQL (`--db`, see p2p/database.py for the URL forms and what both guarantee).

What must survive a restart lives here, and each change is one database
transaction, so a kill at any point leaves either all of it or none:

- every accepted transfer, in acceptance order (`seq`), before the API answers;
- every block: its roots, dataHash, transfers, status (precommitted, committed,
  finalized) and where L1 committed it; building a block marks its transfers
  and records the accounts it changed in the same transaction;
- the accounts, as versions: a row per account per block that changed it,
  genesis being block 0.

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
from sequencer.circuit_inputs import BlockCircuit
from sequencer.eddsa import Signature
from sequencer.errors import GenesisMismatch, StoreError
from sequencer.genesis import genesis_state
from sequencer.transactions import Transfer

#: the SQLite file in the data directory, unless `--db` names another database
DATABASE_NAME = "sequencer.sqlite"
SCHEMA_VERSION = 1


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


@dataclass(frozen=True)
class StoredBlock:
    number: int
    old_root: int
    new_root: int
    data_hash: int
    status: StoredBlockStatus
    built_at: float
    #: the transfers' hashes, in block order
    transfers: tuple[str, ...]
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
    position: int | None
    block_status: StoredBlockStatus | None


@dataclass(frozen=True)
class NewBlock:
    """What the builder stores for one block."""

    number: int
    old_root: int
    new_root: int
    data_hash: int
    #: hashes of its transfers, in block order
    transfers: tuple[str, ...]
    #: the accounts the block changed, as they are after it
    accounts: Mapping[int, Account]


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
    l1_timestamp INTEGER
);
CREATE TABLE transfers (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    hash TEXT NOT NULL UNIQUE,
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
    state TEXT NOT NULL CHECK (state IN ('pending', 'included')),
    block INTEGER REFERENCES blocks (number),
    position INTEGER
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
"""

_TRANSFER_COLUMNS = (
    "hash, from_index, to_index, to_address, amount, nonce, key_x, key_y, r8_x, r8_y, s, "
    "seq, accepted_at, state, block, position"
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
                db.executemany("INSERT INTO meta VALUES (?, ?)", expected.items())
                self._insert_accounts(db, 0, genesis)
                return
            stored = dict(db.execute("SELECT key, value FROM meta").fetchall())
        for key, value in expected.items():
            if stored.get(key) != value:
                raise GenesisMismatch(
                    f"the database was made with {key} = {stored.get(key)}, not {value}; "
                    "use the data directory of this rollup, or a new one")

    # ------------------------------------------------------------------ transfers

    def add_transfers(self, accepted: Iterable[tuple[str, Transfer]]) -> None:
        """Record accepted transfers as pending, in this order (their acceptance order)."""
        now = time.time()
        with self._db.transaction() as db:
            for hash_, transfer in accepted:
                key, sig = transfer.public_key, transfer.signature
                db.execute(
                    "INSERT INTO transfers (hash, from_index, to_index, to_address, amount, "
                    "nonce, key_x, key_y, r8_x, r8_y, s, accepted_at, state) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending')",
                    (hash_, transfer.from_index, transfer.to_index, str(transfer.to_address),
                     str(transfer.amount), transfer.nonce, str(key[0]), str(key[1]),
                     str(sig.r8[0]), str(sig.r8[1]), str(sig.s), now))

    def pending_transfers(self) -> list[StoredTransfer]:
        """Pending transfers in acceptance order."""
        return self._transfers("WHERE state = 'pending' ORDER BY seq")

    def transfer(self, hash_: str) -> StoredTransfer | None:
        found = self._transfers("WHERE hash = ?", (hash_,))
        return found[0] if found else None

    def block_transfers(self, number: int) -> list[Transfer]:
        return [t.transfer for t in self._transfers("WHERE block = ? ORDER BY position", (number,))]

    def _transfers(self, where: str, args: tuple = ()) -> list[StoredTransfer]:
        with self._db.connection() as db:
            rows = db.execute(
                f"SELECT {_TRANSFER_COLUMNS}, blocks.status FROM transfers "
                f"LEFT JOIN blocks ON blocks.number = transfers.block {where}", args).fetchall()
        return [_stored_transfer(row) for row in rows]

    # ------------------------------------------------------------------ blocks

    def add_block(self, block: NewBlock) -> None:
        """Store a precommitted block, mark its transfers and record its accounts, atomically."""
        with self._db.transaction() as db:
            last = db.execute("SELECT COALESCE(MAX(number), 0) FROM blocks").fetchone()[0]
            if block.number != last + 1:
                raise StoreError(f"block {block.number} built on top of block {last}: "
                                 "two builders on one database?")
            db.execute("INSERT INTO blocks (number, old_root, new_root, data_hash, status, "
                       "built_at) VALUES (?, ?, ?, ?, 'precommitted', ?)",
                       (block.number, str(block.old_root), str(block.new_root),
                        str(block.data_hash), time.time()))
            db.executemany(
                "UPDATE transfers SET state = 'included', block = ?, position = ? "
                "WHERE hash = ? AND state = 'pending'",
                [(block.number, position, h) for position, h in enumerate(block.transfers)])
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
                f"l1_timestamp FROM blocks {where}", args).fetchall()
            hashes = {
                row[0]: tuple(h for (h,) in db.execute(
                    "SELECT hash FROM transfers WHERE block = ? ORDER BY position",
                    (row[0],)).fetchall())
                for row in rows
            }
        return [StoredBlock(number=n, old_root=int(old), new_root=int(new), data_hash=int(dh),
                            status=StoredBlockStatus(status), built_at=built, transfers=hashes[n],
                            l1_block=l1_block, l1_timestamp=l1_time)
                for n, old, new, dh, status, built, l1_block, l1_time in rows]

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
    (hash_, from_index, to_index, to_address, amount, nonce, key_x, key_y, r8_x, r8_y, s,
     seq, accepted_at, state, block, position, block_status) = row
    key: Point = (int(key_x), int(key_y))
    transfer = Transfer(from_index, to_index, int(to_address), int(amount), nonce, key,
                        Signature((int(r8_x), int(r8_y)), int(s)))
    return StoredTransfer(hash_, transfer, seq, accepted_at, TransferState(state), block,
                          position, None if block_status is None else StoredBlockStatus(block_status))
