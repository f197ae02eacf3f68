"""The sequencer's settings: every tunable of the service, with its default.

`provernet sequencer run` fills some from flags (docs/rollup.md); the devnet, the tests and the
benchmark build one directly. Protocol rules (the circuit's block size and depth, the wire's
bounds) are not settings: they come with the circuit and the deployment.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from p2p.backoff import Backoff
from sequencer.accounts import Account
from sequencer.circuit_inputs import SMALL, BlockCircuit


@dataclass(frozen=True)
class SequencerConfig:
    datadir: Path
    #: the genesis accounts by index; the Rollup contract must hold their root as block 0's
    genesis: Mapping[int, Account]
    #: the block circuit the blocks are built for (block size, tree depth, chain id)
    circuit: BlockCircuit = SMALL
    #: seconds between two blocks (no transfers, no block)
    block_interval: float = 2.0
    #: where the JSON-RPC API listens (port 0 picks a free one)
    host: str = "127.0.0.1"
    port: int = 8600
    #: pending transfers the mempool holds at most (`MempoolFull` past it)
    max_pending: int = 10_000
    #: pending transfers of one sender at most (`SenderQueueFull` past it)
    max_per_sender: int = 1_000
    #: the largest API request body, bytes (413 past it); a transfer is a few hundred
    max_body: int = 64 * 1024
    #: requests in one JSON-RPC batch at most
    max_batch: int = 100
    #: API connections open at once at most (503 past it)
    max_connections: int = 256
    #: seconds an API request has to arrive whole, and its answer to be taken (an idle
    #: kept-alive connection is closed after it too)
    io_timeout: float = 30.0
    #: seconds an API method has to answer (l2_getBlockInputs builds a block's inputs)
    method_timeout: float = 30.0
    #: blocks whose circuit inputs are kept in memory (coordinators ask for recent blocks)
    inputs_cache_blocks: int = 32
    #: seconds an L1 read may take before it is retried
    l1_read_timeout: float = 30.0
    #: seconds an L1 commit may take, its receipt included, before it is retried
    l1_commit_timeout: float = 180.0
    #: seconds between two reads of L1 when no block nudges the committer (reverts, finality)
    l1_poll_interval: float = 5.0
    #: L1 blocks the relayer leaves unread below the head, taken as not final yet: a deposit
    #: is included only once its block is this deep (0 on the devnet, whose chain never
    #: reorganises; a public chain wants its finality depth)
    relayer_confirmations: int = 0
    #: seconds between two reads of the Bridge's events
    relayer_poll_interval: float = 2.0
    #: L1 blocks read in one event query at most (nodes cap eth_getLogs' range)
    relayer_max_range: int = 1_000
    #: the first L1 block the relayer reads (the Bridge's deployment block: none before it)
    relayer_start_block: int = 0
    #: the wait before retrying a failed L1 call: 1 s, doubling to 60 s
    l1_backoff: Backoff = field(default_factory=lambda: Backoff(first=1.0, most=60.0))
    #: host:port of the Prometheus metrics and health server (port 0 picks a free one); None or
    #: "" serves none, so that sequencers embedded in a process (the devnet, tests) need no port.
    #: `provernet sequencer run` serves it on 127.0.0.1:9465 unless told otherwise
    metrics_listen: str | None = None
    #: the database (p2p/database.py): a path, sqlite:///PATH or postgresql://USER@HOST:PORT/DB;
    #: None is the SQLite file DATADIR/sequencer.sqlite
    db: str | None = None
