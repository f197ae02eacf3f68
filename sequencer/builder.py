"""The block builder: every block interval, the oldest pending transfers become the next block.

A block takes the oldest N (the circuit's slots) stored pending transfers, in
acceptance order. They all apply: the mempool checked each against the newest
block's state with the transfers before it applied, by the same rules; one
that does not means a damaged database or a bug, and stops the sequencer
rather than build on it. The block is stored as precommitted, with its
transfers marked and the accounts it changed, in one SQLite transaction: a
kill before it leaves the transfers pending, after it a whole block, so a
restart neither skips nor repeats one. Then the L1 committer is nudged.

No transfers, no block: an empty block would cost L1 gas and a proof for
nothing. Applying a block is pure Python (about 7 ms a transfer at depth 8),
so it runs in a worker thread and the API keeps answering meanwhile.
"""

from __future__ import annotations

import structlog
import trio

from sequencer.accounts import AccountTree
from sequencer.circuit_inputs import BlockCircuit
from sequencer.errors import InvalidTransfer, StoreError
from sequencer.mempool import Mempool, Pending
from sequencer.metrics import SequencerMetrics
from sequencer.store import NewBlock, Store
from sequencer.transactions import block_data, data_hash
from sequencer.transition import apply_transfer

log = structlog.get_logger(__name__)


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

    async def run(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        # On a fixed schedule, so blocks keep their pace however long each takes to build; one
        # that overruns the interval is followed by the next at once.
        tick = trio.current_time()
        while True:
            tick = max(tick + self.interval, trio.current_time())
            await trio.sleep_until(tick)
            await self.build_block()

    async def build_block(self) -> int | None:
        """Build and store the next block from the pending transfers; its number, or None."""
        tip_number, tip = self.mempool.tip_number, self.mempool.tip
        included = self.mempool.oldest(self.circuit.block_size)
        if not included:
            return None
        transfers = [p.transfer for p in included]
        state = await trio.to_thread.run_sync(self._apply, tip, included)
        touched = {i for t in transfers for i in (t.from_index, t.to_index)}
        block = NewBlock(
            number=tip_number + 1,
            old_root=tip.root,
            new_root=state.root,
            data_hash=data_hash(block_data(transfers)),
            transfers=tuple(p.hash for p in included),
            accounts={i: state.get(i) for i in touched},
        )
        await trio.to_thread.run_sync(self.store.add_block, block)
        await self.mempool.block_built(block.number, state, len(included))
        self.metrics.block_built(block.number, len(included))
        log.info("block built", number=block.number, transfers=len(transfers),
                 new_root=hex(block.new_root), pending=len(self.mempool))
        try:
            self.nudge.send_nowait(block.number)
        except trio.WouldBlock:
            pass
        return block.number

    def _apply(self, tip: AccountTree, included: list[Pending]) -> AccountTree:
        state = tip
        for pending in included:
            try:
                state = apply_transfer(state, pending.transfer, self.circuit.chain_id)
            except InvalidTransfer as error:
                raise StoreError(f"pending transfer {pending.hash} does not apply ({error}), "
                                 "though it was checked when accepted: the database or the "
                                 "sequencer is broken; stop and investigate") from None
        return state
