"""The relayer: the Bridge's L1 messages (deposits, forced withdrawals) into the sequencer.

Each poll it reads the L1 head, and the Bridge's `Deposited` and `WithdrawalForced` events
from the block after its cursor (the last L1 block it scanned) up to the head less
`confirmations` (a block that deep is taken as final; 0 on the devnet), at most `max_range`
blocks at a time. The messages and the new cursor are stored in one database transaction
(`Mempool.add_l1_messages`, which also gives each deposit its leaf and counts the messages in
the projections), then the builder is woken: the next block takes them first. A message is
stored once per queue position (a range read again adds nothing), and a position out of
order stops the node (`StoreError`): a missed message would stall the queue on L1.

A kill at any point is safe: before the transaction nothing of the range is stored and the
cursor has not moved, so the range is read again; after it, the messages wait in the store
for the builder, which consumes each in exactly one block (store.py). Every L1 call runs
under a timeout and is retried with backoff, as the committer's (`l1.L1Calls`).

Finalization needs no relayer: the committer follows `lastFinalized` into the store's block
statuses, from which a withdrawal is reported claimable.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import structlog
import trio

from market_contracts.bridge import Bridge, Deposited, WithdrawalForced
from p2p.backoff import Backoff
from sequencer.builder import BlockBuilder
from sequencer.l1 import L1Calls
from sequencer.mempool import Mempool
from sequencer.store import NO_CURSOR, L1Message, L1MessageKind, Store

log = structlog.get_logger(__name__)


class MessageSource(Protocol):
    """What the relayer reads of L1 (`BridgeMessages` over the Bridge's binding; tests fake it)."""

    def head(self) -> int:
        """The newest L1 block's number."""

    def messages(self, first_block: int, last_block: int
                 ) -> Sequence[Deposited | WithdrawalForced]:
        """The Bridge's Deposited and WithdrawalForced events of these L1 blocks (both
        included), in queue order."""


class BridgeMessages:
    """A deployed Bridge's messages and its chain's head."""

    def __init__(self, bridge: Bridge):
        self.bridge = bridge

    def head(self) -> int:
        return self.bridge.chain.w3.eth.block_number

    def messages(self, first_block: int, last_block: int
                 ) -> Sequence[Deposited | WithdrawalForced]:
        return self.bridge.messages(first_block, last_block)


def l1_message(event: Deposited | WithdrawalForced) -> L1Message:
    """An event as the store keeps it; a deposit's leaf is picked when it is stored."""
    if isinstance(event, WithdrawalForced):
        return L1Message(event.position, L1MessageKind.FORCED, event.l2_address, event.amount,
                         event.index, int(event.recipient, 16), None, event.l1_block)
    return L1Message(event.position, L1MessageKind.DEPOSIT, event.l2_address, event.amount,
                     None, None, event.sender, event.l1_block)


class Relayer(L1Calls):
    def __init__(self, store: Store, mempool: Mempool, builder: BlockBuilder,
                 source: MessageSource, *, confirmations: int, max_range: int, start_block: int,
                 poll_interval: float, read_timeout: float, backoff: Backoff):
        super().__init__(read_timeout=read_timeout, backoff=backoff)
        self.store = store
        self.mempool = mempool
        self.builder = builder
        self.source = source
        self.confirmations = confirmations
        self.max_range = max_range
        self.start_block = start_block
        self.poll_interval = poll_interval
        #: the last L1 block scanned (its events stored), for the status method
        self.cursor = NO_CURSOR

    async def run(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        self.cursor = max(await trio.to_thread.run_sync(self.store.relayer_cursor),
                          self.start_block - 1)
        task_status.started()
        while True:
            while await self._retrying("follow the bridge", self.scan):
                pass  # more blocks than one range behind: go on at once
            await trio.sleep(self.poll_interval)

    async def scan(self) -> bool:
        """Store the messages of the next range of confirmed L1 blocks; whether confirmed
        blocks are left past it."""
        confirmed = await self._read(self.source.head) - self.confirmations
        if confirmed <= self.cursor:
            return False
        last = min(confirmed, self.cursor + self.max_range)
        events = await self._read(self.source.messages, self.cursor + 1, last)
        messages = [l1_message(e) for e in events]
        await self.mempool.add_l1_messages(messages, last)
        self.cursor = last
        if messages:
            log.info("L1 messages stored", count=len(messages), first=messages[0].position,
                     cursor=last)
            self.builder.wake()
        return last < confirmed
