"""Helpers for the sequencer service's tests: an in-memory Rollup and Bridge, keys, signed
transfers and withdrawals.

`FakeRollup` has the methods of `market_contracts.rollup.Rollup` that the sequencer calls,
with the contract's rules for them (blocks from 1, `NotSequencer`, the calldata parsed as
`block_data.parse`, each L1 message record checked against the queue's next entry, dataHash
the SHA-256 commitment of the body), and switches to make L1 fail the ways a real one does.
`FakeBridge` enqueues deposits and forced withdrawals on it and serves their events by L1
block range, as `market_contracts.bridge.Bridge`'s reader.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from eth_utils import to_checksum_address

from market_contracts.bridge import Deposited, WithdrawalForced
from market_contracts.errors import RpcUnreachable, TransactionFailed
from market_contracts.rollup import BlockStatus, CommittedBlock
from sequencer.accounts import Account, address_of
from sequencer.block_data import (
    QUEUE_OPS,
    block_commitment,
    deposit_hash,
    forced_hash,
    parse,
    queue_hash,
)
from sequencer.circuit_inputs import SMALL
from sequencer.eddsa import public_key
from sequencer.errors import MalformedBlockData
from sequencer.genesis import dev_address, dev_private_key
from p2p.backoff import Backoff
from sequencer.config import SequencerConfig
from sequencer.transactions import DEVNET_CHAIN_ID, Kind, Transfer, sign_transfer

GENESIS_ACCOUNTS = 4
GENESIS_BALANCE = 1_000
GENESIS = {i: Account(dev_address(i), GENESIS_BALANCE) for i in range(GENESIS_ACCOUNTS)}


class FakeRollup:
    address = "0x000000000000000000000000000000000000FA4e"

    def __init__(self, genesis_root: int, sequencer: str):
        self.sequencer_address = sequencer
        self.blocks = [CommittedBlock(0, 0, genesis_root, 0, b"", 0, 0, BlockStatus.FINALIZED)]
        self.finalized = 0
        #: how many times commit_block was asked for each block number
        self.commit_calls: dict[int, int] = {}
        #: the next this-many calls of any kind fail as an unreachable node would
        self.unreachable = 0
        #: commit_block lands the block, then raises as if its receipt never came
        self.lose_receipts = False
        #: commit_block waits on this event before answering (a hung node), if set
        self.hang: threading.Event | None = None
        #: the L1 queue's entry hashes, and the next one a block must consume
        self.queue: list[bytes] = []
        self.queue_next = 0
        #: how many queue entries each committed block consumed
        self.consumed: dict[int, int] = {}
        self._lock = threading.Lock()
        #: the Bridge that enqueues on it
        self.bridge = FakeBridge(self)

    def _enter(self) -> None:
        if self.unreachable:
            self.unreachable -= 1
            raise RpcUnreachable("cannot reach JSON-RPC endpoint fake: [Errno 111] refused")

    def enqueue(self, entry: bytes) -> int:
        with self._lock:
            self.queue.append(entry)
            return len(self.queue) - 1

    def commit_block(self, sequencer, new_root: int, data: bytes) -> CommittedBlock:
        self._enter()
        if self.hang is not None:
            self.hang.wait(10)
        with self._lock:
            number = len(self.blocks)
            self.commit_calls[number] = self.commit_calls.get(number, 0) + 1
            if sequencer.address != self.sequencer_address:
                raise TransactionFailed("commitBlock reverted with NotSequencer()", "NotSequencer")
            try:
                records = parse(data, SMALL.block_size, SMALL.entries)
            except MalformedBlockData as error:
                raise TransactionFailed(f"commitBlock reverted: {error}", "MalformedData")
            consumed = [queue_hash(r) for r in records if r.op in QUEUE_OPS]
            if consumed != self.queue[self.queue_next:self.queue_next + len(consumed)]:
                raise TransactionFailed("commitBlock reverted with NotNextInQueue()",
                                        "NotNextInQueue")
            self.queue_next += len(consumed)
            self.consumed[number] = len(consumed)
            block = CommittedBlock(number, self.blocks[-1].new_root, new_root,
                                   block_commitment(records, SMALL.block_size, SMALL.entries),
                                   number.to_bytes(32, "big"), 100 + number, 1_000 + number,
                                   BlockStatus.COMMITTED)
            self.blocks.append(block)
        if self.lose_receipts:
            raise RpcUnreachable("receipt lost")
        return block

    def block(self, number: int, block_identifier="latest") -> CommittedBlock:
        self._enter()
        if number >= len(self.blocks):
            return CommittedBlock(number, 0, 0, 0, b"", 0, 0, BlockStatus.NONE)
        return self.blocks[number]

    def last_committed(self) -> int:
        self._enter()
        return len(self.blocks) - 1

    def last_finalized(self) -> int:
        self._enter()
        return self.finalized

    def max_transfers(self) -> int:
        self._enter()
        return SMALL.block_size

    def entries(self) -> int:
        self._enter()
        return SMALL.entries

    def sequencer(self) -> str:
        self._enter()
        return self.sequencer_address

    def revert_blocks(self, sequencer, from_block: int) -> None:
        """Drop blocks from `from_block` on, and give back the queue entries they consumed."""
        for block in self.blocks[from_block:]:
            self.queue_next -= self.consumed.pop(block.number, 0)
        del self.blocks[from_block:]


class FakeBridge:
    """Deposits and forced withdrawals onto a `FakeRollup`'s queue, each in an L1 block of its
    own, and their events (the binding's) by L1 block range, as `relayer.BridgeMessages`."""

    def __init__(self, rollup: FakeRollup):
        self.rollup = rollup
        self.events: list[Deposited | WithdrawalForced] = []
        self.l1_head = 10
        #: the next this-many reads fail as an unreachable node would
        self.unreachable = 0
        #: how many times `messages` was asked, and the ranges it was asked for
        self.reads: list[tuple[int, int]] = []

    def _enter(self) -> None:
        if self.unreachable:
            self.unreachable -= 1
            raise RpcUnreachable("cannot reach JSON-RPC endpoint fake: [Errno 111] refused")

    def deposit(self, l2_address: int, amount: int,
                sender: str = "0x00000000000000000000000000000000000000d1") -> int:
        self.l1_head += 1
        position = self.rollup.enqueue(deposit_hash(l2_address, amount))
        self.events.append(Deposited(position, l2_address, amount, sender, self.l1_head))
        return position

    def force_withdrawal(self, index: int, l2_address: int, amount: int, recipient: int) -> int:
        """A forced withdrawal request (the real Bridge checks its signature first)."""
        self.l1_head += 1
        position = self.rollup.enqueue(forced_hash(index, l2_address, amount, recipient))
        self.events.append(WithdrawalForced(position, index, l2_address, amount,
                                            to_checksum_address(f"0x{recipient:040x}"),
                                            self.l1_head))
        return position

    def head(self) -> int:
        self._enter()
        return self.l1_head

    def messages(self, first_block: int, last_block: int):
        self._enter()
        self.reads.append((first_block, last_block))
        return [e for e in self.events if first_block <= e.l1_block <= last_block]


@dataclass
class Wallet:
    """A dev account's key, index and next nonce, to sign transfers in tests."""

    index: int
    nonce: int = 0

    @property
    def key(self) -> bytes:
        return dev_private_key(self.index)

    @property
    def address(self) -> int:
        return address_of(public_key(self.key))

    def pay(self, to: int, amount: int, to_address: int | None = None, *,
            nonce: int | None = None, key: bytes | None = None) -> Transfer:
        """A signed transfer to dev account `to` (or any index with `to_address`)."""
        if nonce is None:
            nonce, self.nonce = self.nonce, self.nonce + 1
        address = dev_address(to) if to_address is None else to_address
        return sign_transfer(Transfer(self.index, to, address, amount, nonce), key or self.key,
                             DEVNET_CHAIN_ID)

    def withdraw(self, amount: int, recipient: int, *, nonce: int | None = None) -> Transfer:
        """A signed withdrawal of `amount` to L1 address `recipient`."""
        if nonce is None:
            nonce, self.nonce = self.nonce, self.nonce + 1
        return sign_transfer(Transfer(self.index, 0, recipient, amount, nonce,
                                      kind=Kind.WITHDRAW), self.key, DEVNET_CHAIN_ID)


def config(datadir: Path, **overrides) -> SequencerConfig:
    """A sequencer on the small circuit and GENESIS, listening on a free loopback port."""
    settings = dict(datadir=datadir, genesis=GENESIS, circuit=SMALL, port=0, block_interval=2.0,
                    l1_poll_interval=1.0, l1_read_timeout=5.0, l1_commit_timeout=5.0,
                    relayer_poll_interval=0.05, l1_backoff=Backoff(first=0.1, most=0.5))
    return SequencerConfig(**{**settings, **overrides})
