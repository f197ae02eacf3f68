"""The block builder: every block interval (or at once when the relayer stores L1 messages),
the queued L1 messages, then the oldest pending transactions, become the next block.

A block takes first the oldest queued L1 messages, in queue order (each consumes an entry),
as many as the circuit's slots and entries allow; then, only if none is left queued, the
pending transactions in acceptance order while their records fit: a transaction whose record
needs an entry (an OPEN or a WITHDRAW) when none is left waits for the next block, and so do
the ones after it, so the order is the mempool's. Each record is picked on the state it is
applied to (`transition.record_for`, `mempool.l1_record`): a transfer to a leaf a deposit
just opened posts as a TRANSFER. It all applies: the mempool checked every operation against
the same state in the same order, by the same rules; one that does not means a damaged
database or a bug, and stops the sequencer rather than build on it.

The block is stored as precommitted with its calldata (`block_data.calldata`), its
transactions and L1 messages marked and the accounts it changed, in one database
transaction: a kill before it leaves them pending and queued, after it a whole block, so a
restart neither skips nor repeats one. Then the L1 committer is nudged.

Nothing to include, no block: an empty block would cost L1 gas and a proof for nothing. A
block of L1 messages alone is a block (forced inclusion must happen with no L2 traffic).
Applying a block is pure Python (about 7 ms a transfer at depth 8), so it runs in a worker
thread and the API keeps answering meanwhile.
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog
import trio

from sequencer.accounts import AccountTree
from sequencer.block_data import CONSUMES_ENTRY, Record, block_commitment, calldata
from sequencer.circuit_inputs import BlockCircuit
from sequencer.errors import InvalidTransfer, StoreError
from sequencer.mempool import Mempool, Pending, l1_record
from sequencer.metrics import SequencerMetrics
from sequencer.store import L1Message, NewBlock, Store
from sequencer.transition import apply_record, record_for

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Built:
    """A block's operations and the state after them, before it is stored."""

    records: list[Record]
    messages: list[L1Message]
    transactions: list[Pending]
    state: AccountTree


def fill_block(circuit: BlockCircuit, tip: AccountTree, queued: list[L1Message],
               pending: list[Pending]) -> Built:
    """The next block on `tip`: the queued L1 messages first, then pending transactions, as
    many as the circuit's slots and entries take (the module's docstring has the rule)."""
    state, records, messages, transactions, entries = tip, [], [], [], 0
    for message in queued:
        if len(records) == circuit.block_size or entries == circuit.entries:
            break
        record = l1_record(state, message)
        state = apply_record(state, record, None, circuit.chain_id)
        records.append(record)
        messages.append(message)
        entries += 1
    if len(messages) == len(queued):
        for candidate in pending:
            if len(records) == circuit.block_size:
                break
            try:
                record = record_for(state, candidate.transfer)
                if record.op in CONSUMES_ENTRY and entries == circuit.entries:
                    break  # it waits for the next block, and the ones after it with it
                state = apply_record(state, record, candidate.transfer, circuit.chain_id)
            except InvalidTransfer as error:
                raise StoreError(f"pending transfer {candidate.hash} does not apply ({error}), "
                                 "though it was checked when accepted: the database or the "
                                 "sequencer is broken; stop and investigate") from None
            entries += record.op in CONSUMES_ENTRY
            records.append(record)
            transactions.append(candidate)
    return Built(records, messages, transactions, state)


class BlockBuilder:
    def __init__(self, store: Store, mempool: Mempool, circuit: BlockCircuit, interval: float,
                 nudge: trio.MemorySendChannel[int], metrics: SequencerMetrics | None = None):
        self.store = store
        self.mempool = mempool
        self.circuit = circuit
        self.interval = interval
        #: zero-buffer channel to the L1 committer; a nudge it is too busy to take is not
        #: needed, since it looks for precommitted blocks in the store after each round
        self.nudge = nudge
        self.metrics = metrics or SequencerMetrics()
        self._woken = trio.Event()

    def wake(self) -> None:
        """Build the next block now rather than at the next tick (the relayer stored L1
        messages)."""
        self._woken.set()

    async def run(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        # On a fixed schedule, so blocks keep their pace however long each takes to build; one
        # that overruns the interval is followed by the next at once.
        tick = trio.current_time()
        while True:
            tick = max(tick + self.interval, trio.current_time())
            with trio.move_on_at(tick):
                await self._woken.wait()
            self._woken = trio.Event()
            await self.build_block()

    async def build_block(self) -> int | None:
        """Build and store the next block from the queued L1 messages and the pending
        transactions; its number, or None."""
        mempool = self.mempool
        async with mempool.building:
            tip_number, tip = mempool.tip_number, mempool.tip
            queued = mempool.queued()
            pending = mempool.oldest(self.circuit.block_size)
            if not queued and not pending:
                return None
            built = await trio.to_thread.run_sync(fill_block, self.circuit, tip,
                                                  queued[:self.circuit.block_size], pending)
            touched = {i for r in built.records for i in (r.a, r.b)
                       if built.state.get(i) != tip.get(i)}
            block = NewBlock(
                number=tip_number + 1,
                old_root=tip.root,
                new_root=built.state.root,
                data_hash=block_commitment(built.records, self.circuit.block_size,
                                           self.circuit.entries),
                transfers=tuple(p.hash for p in built.transactions),
                accounts={i: built.state.get(i) for i in touched},
                data=calldata(built.records),
                l1_messages=tuple((m.position, r.op)
                                  for m, r in zip(built.messages, built.records)),
            )
            await trio.to_thread.run_sync(self.store.add_block, block)
            await mempool.block_built(block.number, built.state, len(built.messages),
                                      len(built.transactions))
        self.metrics.block_built(block.number, len(built.transactions))
        log.info("block built", number=block.number, l1_messages=len(built.messages),
                 transactions=len(built.transactions), new_root=hex(block.new_root),
                 pending=len(mempool))
        try:
            self.nudge.send_nowait(block.number)
        except trio.WouldBlock:
            pass
        return block.number
