"""The sequencer service: store, mempool, block builder, relayer, L1 committer and JSON-RPC API.

`Sequencer.run` opens the data directory (lock and database, `db`), restores the
newest block's state, the queued L1 messages and the pending transactions, and runs
the services in one nursery: the L1 committer, the block builder (which nudges the
committer through a zero-buffer channel when it has stored a block), the relayer
(which stores the Bridge's messages and wakes the builder) and the API; and, if `metrics_listen` is set, the metrics and health server
(`p2p.metrics_http`, serving `sequencer.metrics`). It reports readiness with
`task_status.started(self)` once these listen; cancelling it at any point and
starting another on the same data directory loses no accepted transaction or L1
message, includes none twice, and neither skips nor repeats a block (see store.py, builder.py and l1.py for why).

The API's methods are below (`_methods`) and documented in docs/rollup.md.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import trio
from eth_account.signers.local import LocalAccount
from eth_utils import is_hex_address

from market_contracts.rollup import Rollup
from p2p.http_server import JsonRpcServer
from p2p.metrics_http import MetricsServer, listen_address
from sequencer.accounts import Account
from sequencer.block_data import EXIT_OPS, Op, exit_proof, exits, parse
from sequencer.builder import BlockBuilder
from sequencer.circuit_inputs import block_inputs
from sequencer.config import SequencerConfig
from sequencer.errors import InvalidParams, SequencerError
from sequencer.genesis import genesis_state
from sequencer.l1 import L1Committer
from sequencer.mempool import Mempool
from sequencer.metrics import SequencerMetrics
from sequencer.relayer import MessageSource, Relayer
from sequencer.rpc import refusing
from sequencer.store import L1MessageKind, StoredBlockStatus, Store, TransferState
from sequencer.transactions import Kind
from sequencer.wire import (
    account_to_json,
    block_to_json,
    exit_to_json,
    field_element,
    hex32,
    l1_message_to_json,
    stored_transfer_to_json,
    transfer_from_json,
    uint32,
)

class Sequencer:
    def __init__(self, config: SequencerConfig, rollup: Rollup, account: LocalAccount,
                 bridge: MessageSource):
        self.config = config
        self.rollup = rollup
        self.account = account
        #: where the relayer reads the L1 messages: the Bridge's events
        self.bridge = bridge
        self.genesis_root = genesis_state(config.circuit.depth, config.genesis).root
        self._inputs: OrderedDict[int, dict] = OrderedDict()
        self.metrics = SequencerMetrics()
        #: the metrics server's port, once it listens (None when it is off)
        self.metrics_port: int | None = None
        # set by run()
        self.store: Store
        self.mempool: Mempool
        self.builder: BlockBuilder
        self.committer: L1Committer
        self.relayer: Relayer
        self.rpc: JsonRpcServer

    @property
    def address(self) -> tuple[str, int] | None:
        """Where the API listens, once started."""
        return self.rpc.address

    @property
    def url(self) -> str:
        host, port = self.rpc.address
        return f"http://{host}:{port}"

    async def run(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        config = self.config
        self.store = await trio.to_thread.run_sync(Store.open, config.datadir, config.circuit,
                                                   config.genesis, config.db)
        try:
            tip = await trio.to_thread.run_sync(self.store.last_block_number)
            self.mempool = await trio.to_thread.run_sync(
                lambda: Mempool.restore(self.store, tip, chain_id=config.circuit.chain_id,
                                        max_pending=config.max_pending,
                                        max_per_sender=config.max_per_sender))
            nudge_send, nudge_receive = trio.open_memory_channel[int](0)
            self.committer = L1Committer(
                self.store, self.rollup, self.account, nudge_receive,
                genesis_root=self.genesis_root, block_size=config.circuit.block_size,
                entries=config.circuit.entries,
                read_timeout=config.l1_read_timeout,
                commit_timeout=config.l1_commit_timeout, poll_interval=config.l1_poll_interval,
                backoff=config.l1_backoff, metrics=self.metrics)
            self.builder = BlockBuilder(self.store, self.mempool, config.circuit,
                                        config.block_interval, nudge_send, self.metrics)
            self.relayer = Relayer(
                self.store, self.mempool, self.builder, self.bridge,
                confirmations=config.relayer_confirmations, max_range=config.relayer_max_range,
                start_block=config.relayer_start_block, poll_interval=config.relayer_poll_interval,
                read_timeout=config.l1_read_timeout, backoff=config.l1_backoff)
            self.metrics.follow(self.mempool, self.committer)
            self.rpc = JsonRpcServer(self._methods(), self.status, host=config.host,
                                     port=config.port, max_body=config.max_body,
                                     max_batch=config.max_batch,
                                     max_connections=config.max_connections,
                                     io_timeout=config.io_timeout,
                                     method_timeout=config.method_timeout,
                                     name="the sequencer")
            async with trio.open_nursery() as nursery:
                await nursery.start(self.committer.run)
                await nursery.start(self.builder.run)
                await nursery.start(self.relayer.run)
                await nursery.start(self.rpc.run)
                if config.metrics_listen:
                    host, port = listen_address(config.metrics_listen)
                    self.metrics_port = await nursery.start(MetricsServer(
                        self.metrics.registry, self.health, host, port,
                        remedy="pick another --metrics-listen").run)
                task_status.started(self)
        finally:
            self.store.close()

    # ------------------------------------------------------------------ the API

    def _methods(self) -> dict[str, Any]:
        """The API's methods, each counted and timed in the metrics, its refusals answered as
        their JSON-RPC error objects (`sequencer.rpc`)."""
        methods = {
            "l2_sendTransfer": self.send_transfer,
            "l2_getAccount": self.get_account,
            "l2_getAccountIndex": self.get_account_index,
            "l2_getFreeIndex": self.get_free_index,
            "l2_getTransfer": self.get_transfer,
            "l2_getL1Message": self.get_l1_message,
            "l2_getBlock": self.get_block,
            "l2_getBlockInputs": self.get_block_inputs,
            "l2_status": self.status,
        }
        return {name: refusing(self.metrics.instrument(name, method))
                for name, method in methods.items()}

    async def send_transfer(self, transfer: Any) -> str:
        try:
            hash_ = await self.mempool.submit(transfer_from_json(transfer))
        except SequencerError as error:
            self.metrics.transaction_rejected(error)
            raise
        self.metrics.transaction_accepted()
        return hash_

    async def get_account(self, index: Any) -> dict | None:
        index = uint32(index, "index")
        if index >= self.mempool.tip.capacity:
            raise InvalidParams(f"index {index} is outside the tree (indices below "
                                f"{self.mempool.tip.capacity})")
        built, pending = self.mempool.account(index)
        if pending is None:
            return None
        return account_to_json(index, built or Account(pending.address), pending)

    async def get_account_index(self, address: Any) -> int | None:
        return self.mempool.index_of(field_element(address, "address"))

    async def get_free_index(self) -> int | None:
        return self.mempool.lowest_free_index()

    async def get_transfer(self, hash: Any) -> dict | None:
        """A transaction's state (pending, included in block n, dropped); a withdrawal's also
        whether it is claimable on L1 (its block finalized) and, once in a block, its exit."""
        hash_ = hex32(field_element(hash, "hash"))
        stored = await trio.to_thread.run_sync(self.store.transfer, hash_)
        if stored is None:
            return None
        reply = stored_transfer_to_json(stored)
        if stored.transfer.kind is Kind.WITHDRAW:
            reply["claimable"] = stored.block_status is StoredBlockStatus.FINALIZED
            reply["exit"] = (None if stored.state is not TransferState.INCLUDED else
                             await trio.to_thread.run_sync(self._exit, stored.block,
                                                           stored.position))
        return reply

    async def get_l1_message(self, position: Any) -> dict | None:
        """An L1 message the relayer stored: queued, or included in block n; a forced
        withdrawal that applied (FORCED) also with whether it is claimable and its exit."""
        stored = await trio.to_thread.run_sync(self.store.l1_message,
                                               uint32(position, "position"))
        if stored is None:
            return None
        reply = l1_message_to_json(stored)
        if stored.message.kind is L1MessageKind.FORCED:
            paid = stored.op is Op.FORCED
            reply["claimable"] = paid and stored.block_status is StoredBlockStatus.FINALIZED
            reply["exit"] = None
            if paid:
                block = await trio.to_thread.run_sync(self.store.block, stored.block)
                # a block's L1 messages are its first records, in queue order
                reply["exit"] = await trio.to_thread.run_sync(
                    self._exit, block.number, block.l1_messages.index(stored.message.position))
        return reply

    def _exit(self, number: int, record: int) -> dict:
        """The exit that record `record` of block `number` pays on L1 (a WITHDRAW's or a
        FORCED's): what `Bridge.claimWithdrawal` takes."""
        block = self.store.block(number)
        records = parse(block.data, self.config.circuit.block_size, self.config.circuit.entries)
        position = sum(r.op in EXIT_OPS for r in records[:record])
        recipient, amount = exits(records)[position]
        return exit_to_json(number, position, recipient, amount,
                            exit_proof(number, records, position))

    async def get_block(self, number: Any) -> dict | None:
        block = await trio.to_thread.run_sync(self.store.block, uint32(number, "number"))
        return None if block is None else block_to_json(block)

    async def get_block_inputs(self, number: Any, prover: Any = None) -> dict | None:
        """The block circuit's input.json; `prover` is filled in if given, else left out."""
        number = uint32(number, "number")
        if prover is not None and not (isinstance(prover, str) and is_hex_address(prover)):
            raise InvalidParams(f"prover must be an Ethereum address (0x and 40 hex digits), "
                                f"not {prover!r:.60}")
        if not 1 <= number <= self.mempool.tip_number:
            return None
        if number not in self._inputs:
            self._inputs[number] = await trio.to_thread.run_sync(self._compute_inputs, number)
            while len(self._inputs) > self.config.inputs_cache_blocks:
                self._inputs.popitem(last=False)
        self._inputs.move_to_end(number)
        inputs = dict(self._inputs[number])
        if prover is None:
            del inputs["prover"]
        else:
            inputs["prover"] = str(int(prover, 16))
        return inputs

    def _compute_inputs(self, number: int) -> dict:
        state = self.store.state_at(number - 1)
        return block_inputs(self.config.circuit, state, self.store.block_ops(number), 0)

    async def status(self) -> dict:
        circuit = self.config.circuit
        committer, relayer = self.committer, self.relayer
        queued, included = await trio.to_thread.run_sync(self.store.l1_message_counts)
        return {
            "circuit": circuit.name,
            "chainId": hex(circuit.chain_id),
            "blockSize": circuit.block_size,
            "depth": circuit.depth,
            "blockInterval": self.config.block_interval,
            "genesisRoot": hex32(self.genesis_root),
            "lastBlock": self.mempool.tip_number,
            "stateRoot": hex32(self.mempool.tip.root),
            "pending": len(self.mempool),
            "l1Messages": {
                "queued": queued,
                "included": included,
                "scannedTo": relayer.cursor,
                "error": relayer.last_error,
            },
            "l1": {
                "rollup": self.rollup.address,
                "sequencer": self.account.address,
                "reconciled": committer.reconciled,
                "lastCommitted": committer.last_committed,
                "lastFinalized": committer.last_finalized,
                "error": committer.last_error,
            },
        }

    def health(self) -> dict:
        """The metrics server's `/health`: ok once the committer has reconciled the store with L1
        (the contract is this sequencer's and agrees with the store), its last L1 call succeeded,
        and the mempool has room for transfers. (The API's own `GET /health` answers `status()`,
        always with 200.)"""
        committer, mempool = self.committer, self.mempool
        problems = []
        if not committer.reconciled:
            problems.append("not reconciled with L1 yet")
        if committer.last_error is not None:
            problems.append(f"L1: {committer.last_error}")
        if self.relayer.last_error is not None:
            problems.append(f"L1 messages: {self.relayer.last_error}")
        if len(mempool) >= mempool.max_pending:
            problems.append(f"the mempool is full ({mempool.max_pending} transfers): new ones "
                            "are refused")
        return {"ok": not problems, "last_block": mempool.tip_number, "pending": len(mempool),
                "l1_reconciled": committer.reconciled, "last_committed": committer.last_committed,
                "last_finalized": committer.last_finalized, "problems": problems}
