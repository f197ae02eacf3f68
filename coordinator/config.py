"""The coordinator's settings: every tunable of the service, with its default.

`provernet coordinator run` fills some from flags (docs/coordinator.md); the devnet, the tests
and the benchmarks build one directly. The market's rules (M, T, K, R_OPEN ...) are not settings:
they are L1's parameters, read from the staking contract.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from p2p.host import DEFAULT_LISTEN


@dataclass(frozen=True)
class CoordinatorConfig:
    datadir: Path
    #: the sequencer's JSON-RPC API, where a block's circuit inputs come from
    sequencer_url: str
    #: the libp2p address to listen on
    listen: str = DEFAULT_LISTEN
    #: peers to join the gossip network through
    bootstrap: tuple[str, ...] = ()
    #: how often L1 is read for new events, seconds
    poll_interval: float = 1.0
    #: the least time between two roster snapshots this coordinator takes because the live
    #: roster changed, seconds of L1 time (a stake counts for draws from the next snapshot). A
    #: settlement changes reputations, hence weights: one snapshot costs gas in proportion to
    #: the registered rollers, and a minute is short next to the deadlines a stake change
    #: matters for
    snapshot_interval: float = 60.0
    #: how often the announcement is published again, seconds (rollers drop one older than 300)
    announce_interval: float = 30.0
    #: L1, sequencer and verification calls fail after this many seconds (and are retried)
    call_timeout: float = 120.0
    #: how long a roller has to answer the challenge, seconds
    auth_timeout: float = 10.0
    #: threads verifying block proofs (coordinator.verifier); None: one per CPU this process may
    #: run on, or $PROVERNET_THREADS
    verify_threads: int | None = None
    #: the most block proofs one thread checks together (one final exponentiation for all)
    verify_batch: int = 32
    #: seconds a verifying thread waits for more proofs to check with the first; 0 checks what
    #: is queued at once (under load proofs queue, and the batches fill without waiting)
    verify_window: float = 0.0
    #: events between snapshots of the core's state (not roster snapshots), taken when no
    #: command is outstanding
    snapshot_every: int = 500
    #: events the core has handled and the writer has not stored yet, at most: past it, who
    #: hands the core an event (the L1 follower, a roller's session, the clock) first waits for
    #: the writer, so a slow disk slows intake instead of growing memory. One write stores them
    #: all (one flush), so the bound is also the largest group commit
    max_unstored: int = 1024
    #: first wait before retrying a failed L1 action, doubled up to `retry_max`
    retry_initial: float = 1.0
    #: the most seconds between two attempts of a failing L1 action
    retry_max: float = 30.0
    #: L1 commands waiting in each lane (`service._L1_LANES`). Bounded: the core emits a few per
    #: batch, so a full queue means L1 is down, and the core (which waits on it) should stop
    #: taking work meanwhile; /health reports a full lane
    l1_queue: int = 256
    #: connections to the sequencer, each fetching a block's inputs for the tasks of a commit
    sequencer_connections: int = 8
    #: L1 blocks scanned per eth_getLogs request, under common providers' range limits
    log_range: int = 2_000
    #: blocks whose randomness one `recordRandomnessMany` transaction records: about 25,000 gas
    #: each, so a full one stays near 1.6 M gas, well inside an L1 block
    records_per_transaction: int = 64
    #: roster snapshots whose entries are kept in memory, the most recently used: a snapshot
    #: holds every staked roller, one is taken a `snapshot_interval` while the roster changes,
    #: and only recent ones are drawn from or settled against (an older one is read again from
    #: its event when asked for)
    snapshots_kept: int = 64
    #: host:port of the Prometheus metrics and health server (port 0 picks a free one); None or
    #: "" serves none, so that coordinators embedded in a process (the devnet, tests) need no
    #: port. `provernet coordinator run` serves it on 127.0.0.1:9466 unless told otherwise
    metrics_listen: str | None = None
    #: the database (p2p/database.py): a path, sqlite:///PATH or postgresql://USER@HOST:PORT/DB;
    #: None is the SQLite file DATADIR/coordinator.sqlite
    db: str | None = None
