"""Committing blocks to L1: precommitted blocks go to `Rollup.commitBlock(newRoot, data)` in
order, exactly once, `data` being the calldata the builder stored with the block.

L1 is the source of truth. Before committing block b the committer reads
`lastCommitted` from the contract: if L1 already has b (an earlier attempt
landed after its timeout, or before a kill), b is adopted once its new root and
dataHash are checked to be ours, instead of being sent again; if L1 is behind
b - 1 (blocks were reverted there), the blocks past it become precommitted
again and go out anew. Block b is sent only when L1 is at b - 1. The contract
takes block b - 1's new root as b's old root and consumes its L1 queue in order:
a stray late attempt of a block that consumes L1 messages is refused (the queue
moved on: `COMMITTED_MEANWHILE`), but one of transactions alone would land as
the next block, which reconciling then finds diverged (`L1Diverged`): commitBlock
takes no old root or block number to refuse it by (docs/rollup.md). At start
the same reading reconciles the store with L1, and a contract that holds a
different block b than ours stops the sequencer (`L1Diverged`): only the
operator can tell which is wrong.

Every contract call runs in a worker thread (web3 blocks) under a timeout;
a timed-out thread is abandoned, not killed, which the check above makes
safe for blocks that consume L1 messages. Failures the node or the network may get over (unreachable endpoint,
timeout, refused or unmined transaction) are retried with exponential
backoff, forever: the blocks wait in the store meanwhile. (`L1Calls` holds
these timeouts and retries; the relayer, relayer.py, uses them too.) Finalization is
followed by polling `lastFinalized`, and reverts by polling `lastCommitted`:
each poll (`poll_interval`, or at once when the builder stores a block) reads
it, and blocks L1 no longer holds are precommitted again and committed anew at
once, with no new transfer needed.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import TypeVar

import structlog
import trio
from eth_account.signers.local import LocalAccount

from market_contracts.errors import ChainError, TransactionFailed
from market_contracts.rollup import CommittedBlock, Rollup
from p2p.backoff import Backoff
from sequencer.errors import GenesisMismatch, L1Diverged, L1Error, NotTheSequencer
from sequencer.metrics import SequencerMetrics
from sequencer.store import StoredBlockStatus, Store, StoredBlock

log = structlog.get_logger(__name__)
T = TypeVar("T")


#: commitBlock's refusals when an earlier attempt of the same block landed meanwhile: the L1
#: messages it consumes are consumed already
COMMITTED_MEANWHILE = frozenset({"NotNextInQueue", "QueueExhausted"})


class _Rescan(Exception):
    """L1 is behind the block about to be sent: reconcile, then start over from the store."""


class L1Calls:
    """Calls to L1 in worker threads under timeouts, and steps retried with backoff; the last
    failure is kept (`last_error`, None once a step succeeds) for the status method."""

    def __init__(self, *, read_timeout: float, backoff: Backoff):
        self.read_timeout = read_timeout
        self.backoff = backoff
        self.last_error: str | None = None

    async def _read(self, fn: Callable[..., T], *args) -> T:
        return await self._call(self.read_timeout, fn, *args)

    @staticmethod
    async def _call(timeout: float, fn: Callable[..., T], *args) -> T:
        with trio.fail_after(timeout):
            # web3 cannot be interrupted; a call past its timeout is left to finish in its thread
            return await trio.to_thread.run_sync(fn, *args, abandon_on_cancel=True)

    async def _retrying(self, what: str, step: Callable[[], Awaitable[T]]) -> T:
        """Run `step` until it succeeds, and return what it returns; errors L1 may get over
        are logged and retried."""
        failures = 0
        while True:
            try:
                result = await step()
            except (ChainError, trio.TooSlowError) as error:
                failures += 1
                cause = str(error) or "no answer within the timeout"
                delay = self.backoff.delay(failures)
                self.last_error = f"{what}: {cause}"
                log.warning("L1 call failed; retrying", what=what, error=cause, retry_in=delay)
                await trio.sleep(delay)
                continue
            self.last_error = None
            return result


class L1Committer(L1Calls):
    def __init__(self, store: Store, rollup: Rollup, sequencer: LocalAccount,
                 nudges: trio.MemoryReceiveChannel[int], *, genesis_root: int, block_size: int,
                 entries: int, read_timeout: float, commit_timeout: float, poll_interval: float,
                 backoff: Backoff, metrics: SequencerMetrics | None = None):
        super().__init__(read_timeout=read_timeout, backoff=backoff)
        self.store = store
        self.rollup = rollup
        self.sequencer = sequencer
        self.nudges = nudges
        self.genesis_root = genesis_root
        self.block_size = block_size
        self.entries = entries
        #: longer than a read: it includes waiting for the receipt (the chain's receipt timeout)
        self.commit_timeout = commit_timeout
        self.poll_interval = poll_interval
        self.metrics = metrics or SequencerMetrics()
        #: what L1 said last, for the status method
        self.last_committed: int | None = None
        self.last_finalized: int | None = None
        self.reconciled = False

    async def run(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        # Ready at once: the API takes transfers and blocks are built while L1 is unreachable.
        task_status.started()
        await self._retrying("reconcile with L1", self.reconcile)
        while True:
            try:
                for block in await trio.to_thread.run_sync(self.store.blocks_with_status,
                                                           StoredBlockStatus.PRECOMMITTED):
                    await self._retrying(f"commit block {block.number}",
                                         functools.partial(self._commit, block))
            except _Rescan:
                await self._retrying("reconcile with L1", self.reconcile)
                continue
            await self._retrying("follow finalization", self._follow_finalization)
            if await self._retrying("follow reverts", self._follow_reverts):
                continue  # commit them again now, not after the next wait
            with trio.move_on_after(self.poll_interval):
                await self.nudges.receive()

    # ------------------------------------------------------------------ the steps

    async def reconcile(self) -> None:
        """Check that the contract is this sequencer's, then bring the store in line with L1:
        adopt the blocks L1 has, un-commit those it lacks."""
        genesis = await self._read(self.rollup.block, 0)
        if genesis.new_root != self.genesis_root:
            raise GenesisMismatch(
                f"the Rollup contract's genesis root is {genesis.new_root:#x}, this sequencer's "
                f"{self.genesis_root:#x}: start it with the genesis the contract was deployed with")
        profile = (await self._read(self.rollup.max_transfers), await self._read(self.rollup.entries))
        if profile != (self.block_size, self.entries):
            raise GenesisMismatch(
                f"the Rollup contract takes {profile[0]} records and {profile[1]} entries a "
                f"block, this sequencer's circuit has {self.block_size} slots and {self.entries} "
                "entries: start it with the contract's circuit")
        sequencer = await self._read(self.rollup.sequencer)
        if sequencer != self.sequencer.address:
            raise NotTheSequencer(
                f"the Rollup contract's sequencer is {sequencer}, not this key's "
                f"{self.sequencer.address}: start it with the sequencer's keystore")
        l1_last = await self._read(self.rollup.last_committed)
        local_last = await trio.to_thread.run_sync(self.store.last_block_number)
        if l1_last > local_last:
            raise L1Diverged(
                f"the Rollup contract has {l1_last} blocks, this sequencer's store only "
                f"{local_last}: another sequencer commits to it, or this is not its data directory")
        for block in await trio.to_thread.run_sync(self.store.blocks_with_status,
                                                   StoredBlockStatus.PRECOMMITTED):
            if block.number > l1_last:
                break
            await self._adopt(block)
        await self._uncommit_after(l1_last)
        self.last_committed = l1_last
        await self._follow_finalization()
        self.reconciled = True

    async def _follow_reverts(self) -> int:
        """Each poll: blocks L1 dropped since the last look (`revertBlocks`) become precommitted
        again, to be committed anew at once; how many. Only a commit read `lastCommitted` before,
        so a sequencer with no new transfers reported reverted blocks as committed until the next
        block came."""
        l1_last = await self._read(self.rollup.last_committed)
        reverted = 0
        if self.last_committed is not None and l1_last < self.last_committed:
            reverted = await self._uncommit_after(l1_last)
        self.last_committed = l1_last
        return reverted

    async def _uncommit_after(self, l1_last: int) -> int:
        """The store's committed blocks past `l1_last` are not on L1: precommitted again."""
        reverted = await trio.to_thread.run_sync(self.store.mark_uncommitted, l1_last)
        if reverted:
            self.metrics.reverted(reverted)
            log.warning("blocks no longer on L1 will be committed again", after=l1_last,
                        count=reverted)
        return reverted

    async def _commit(self, block: StoredBlock) -> None:
        l1_last = await self._read(self.rollup.last_committed)
        self.last_committed = l1_last
        if l1_last >= block.number:
            await self._adopt(block)
            return
        if l1_last < block.number - 1:
            raise _Rescan
        try:
            committed = await self._send_commit(block)
        except TransactionFailed as error:
            if error.reason == "NotSequencer":
                raise NotTheSequencer(
                    f"the Rollup contract refuses blocks from {self.sequencer.address}: it is not "
                    "the sequencer the contract was deployed with; use that key") from None
            if error.reason in COMMITTED_MEANWHILE:  # another attempt got there first: look again
                raise _Rescan from None
            raise L1Error(f"committing block {block.number} failed: {error}") from None
        self._check_same(block, committed)
        await self._mark_committed(block, committed)
        self.last_committed = block.number
        self.metrics.block_committed(block.number, "sent")
        log.info("block committed", number=block.number, l1_block=committed.l1_block)

    async def _send_commit(self, block: StoredBlock) -> CommittedBlock:
        """`Rollup.commitBlock`, counted as sent, and as failed by the error's class."""
        self.metrics.commit_sent()
        try:
            return await self._call(self.commit_timeout, self.rollup.commit_block, self.sequencer,
                                    block.new_root, block.data)
        except (ChainError, trio.TooSlowError) as error:
            self.metrics.commit_failed(error)
            raise

    async def _adopt(self, block: StoredBlock) -> None:
        """L1 already has block b: ours if roots and dataHash agree, else stop."""
        on_l1 = await self._read(self.rollup.block, block.number)
        self._check_same(block, on_l1)
        await self._mark_committed(block, on_l1)
        self.metrics.block_committed(block.number, "adopted")
        log.info("block found on L1", number=block.number, l1_block=on_l1.l1_block)

    async def _follow_finalization(self) -> None:
        finalized = await self._read(self.rollup.last_finalized)
        if finalized != self.last_finalized:
            changed = await trio.to_thread.run_sync(self.store.mark_finalized, finalized)
            if changed:
                log.info("blocks finalized", up_to=finalized, count=changed)
            self.last_finalized = finalized

    async def _mark_committed(self, block: StoredBlock, on_l1: CommittedBlock) -> None:
        await trio.to_thread.run_sync(self.store.mark_committed, block.number, on_l1.l1_block,
                                      on_l1.timestamp)

    @staticmethod
    def _check_same(block: StoredBlock, on_l1: CommittedBlock) -> None:
        ours = (block.new_root, block.data_hash)
        theirs = (on_l1.new_root, on_l1.data_hash)
        if ours != theirs:
            raise L1Diverged(
                f"L1's block {block.number} has (newRoot, dataHash) = "
                f"({', '.join(hex(v) for v in theirs)}), this sequencer's "
                f"({', '.join(hex(v) for v in ours)}); stop and find out which is wrong")
