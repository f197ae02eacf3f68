"""Helpers for the sequencer service's tests: an in-memory Rollup, keys, signed transfers.

`FakeRollup` has the methods of `market_contracts.rollup.Rollup` that the sequencer calls,
with the contract's rules for them (blocks from 1, `WrongOldRoot`, `NotSequencer`, dataHash
computed from the posted data), and switches to make L1 fail the ways a real one does.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from market_contracts.errors import RpcUnreachable, TransactionFailed
from market_contracts.rollup import BlockStatus, CommittedBlock
from sequencer.accounts import Account, address_of
from sequencer.circuit_inputs import SMALL
from sequencer.eddsa import public_key
from sequencer.genesis import dev_address, dev_private_key
from p2p.backoff import Backoff
from sequencer.config import SequencerConfig
from sequencer.transactions import DEVNET_CHAIN_ID, Transfer, data_hash, sign_transfer

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
        self._lock = threading.Lock()

    def _enter(self) -> None:
        if self.unreachable:
            self.unreachable -= 1
            raise RpcUnreachable("cannot reach JSON-RPC endpoint fake: [Errno 111] refused")

    def commit_block(self, sequencer, old_root: int, new_root: int, data) -> CommittedBlock:
        self._enter()
        if self.hang is not None:
            self.hang.wait(10)
        with self._lock:
            number = len(self.blocks)
            self.commit_calls[number] = self.commit_calls.get(number, 0) + 1
            if sequencer.address != self.sequencer_address:
                raise TransactionFailed("commitBlock reverted with NotSequencer()", "NotSequencer")
            if old_root != self.blocks[-1].new_root:
                raise TransactionFailed("commitBlock reverted with WrongOldRoot()", "WrongOldRoot")
            block = CommittedBlock(number, old_root, new_root, data_hash(list(data)),
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

    def sequencer(self) -> str:
        self._enter()
        return self.sequencer_address

    def revert_blocks(self, sequencer, from_block: int) -> None:
        del self.blocks[from_block:]


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


def config(datadir: Path, **overrides) -> SequencerConfig:
    """A sequencer on the small circuit and GENESIS, listening on a free loopback port."""
    settings = dict(datadir=datadir, genesis=GENESIS, circuit=SMALL, port=0, block_interval=2.0,
                    l1_poll_interval=1.0, l1_read_timeout=5.0, l1_commit_timeout=5.0,
                    l1_backoff=Backoff(first=0.1, most=0.5))
    return SequencerConfig(**{**settings, **overrides})
