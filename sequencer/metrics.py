"""The sequencer's Prometheus metrics (served with its health by `p2p.metrics_http`).

`SequencerMetrics` keeps them in a registry of its own (not prometheus_client's global one, so
that several sequencers in one process, as in the tests, keep separate counts). The services
report events to it (the API: transfers accepted or refused, each method's calls; the builder:
blocks built; the L1 committer: commit transactions, blocks L1 holds, blocks it reverted) and the
state gauges (head, pending, L1's last committed and finalized block) are read at each scrape
from the mempool and the committer (`follow`), so they are never stale.

Labels are bounded sets: refusal reasons and L1 errors are exception class names, JSON-RPC
methods the API's own (an unknown method never reaches one), never a transfer's hash or an
error's text. docs/rollup.md lists the metrics.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

if TYPE_CHECKING:
    from sequencer.l1 import L1Committer
    from sequencer.mempool import Mempool

PREFIX = "provernet_sequencer"
#: from a block built to L1 holding it: the committer's round (up to its poll interval, 5 s by
#: default) plus a mined transaction (a second on a dev chain, 12 s and more on Ethereum); the
#: last buckets show L1 trouble (the committer retries with backoff up to a minute)
COMMIT_BUCKETS = (0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600)
#: reads answer from memory, well under a millisecond; l2_sendTransfer takes a few ms (an EdDSA
#: check, 300 to 480 a second here, and a shared fsync: docs/rollup.md, "Throughput");
#: l2_getBlockInputs computes a block's circuit inputs in a worker thread, longer
RPC_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)

Method = Callable[..., Awaitable[Any]]


class SequencerMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.transactions_accepted = Counter(
            f"{PREFIX}_transactions_accepted", "L2 transfers accepted into the mempool",
            registry=r)
        self.transactions_rejected = Counter(
            f"{PREFIX}_transactions_rejected", "L2 transfers refused, by reason (the refusal's "
            "name, as in the JSON-RPC error's data.error)", ["reason"], registry=r)
        self.transactions_included = Counter(
            f"{PREFIX}_transactions_included", "L2 transfers included in blocks built",
            registry=r)
        self.blocks_built = Counter(f"{PREFIX}_blocks_built", "L2 blocks built and stored",
                                    registry=r)
        self.commits_sent = Counter(f"{PREFIX}_commit_transactions_sent",
                                    "Rollup.commitBlock transactions sent to L1", registry=r)
        self.commits_failed = Counter(
            f"{PREFIX}_commit_transactions_failed", "commitBlock transactions that failed "
            "(reverted, refused, unmined, unanswered), by error class", ["error"], registry=r)
        self.blocks_committed = Counter(
            f"{PREFIX}_blocks_committed", "Blocks L1 holds as ours, by how: sent (our commit "
            "landed) or adopted (found on L1, e.g. an earlier attempt's)", ["how"], registry=r)
        self.blocks_reverted = Counter(
            f"{PREFIX}_blocks_reverted", "Committed blocks L1 no longer held when the committer "
            "reconciled (reverted there); they are committed again", registry=r)
        self.commit_seconds = Histogram(
            f"{PREFIX}_block_commit_seconds", "Seconds from a block built to L1 holding it "
            "(blocks built by this process)", buckets=COMMIT_BUCKETS, registry=r)
        self.rpc_requests = Counter(
            f"{PREFIX}_rpc_requests", "JSON-RPC calls of the API's methods, by method and "
            "status (ok, error, cancelled: past the method timeout or at shutdown)",
            ["method", "status"], registry=r)
        self.rpc_seconds = Histogram(f"{PREFIX}_rpc_request_seconds",
                                     "Seconds a JSON-RPC method took, by method", ["method"],
                                     buckets=RPC_BUCKETS, registry=r)
        self.head = Gauge(f"{PREFIX}_head_block", "Newest L2 block built", registry=r)
        self.pending = Gauge(f"{PREFIX}_mempool_transactions",
                             "Transfers accepted and not yet in a block", registry=r)
        self.last_committed = Gauge(f"{PREFIX}_last_committed_block",
                                    "L1's lastCommitted as the committer last read it (NaN "
                                    "before its first read)", registry=r)
        self.last_finalized = Gauge(f"{PREFIX}_last_finalized_block",
                                    "L1's lastFinalized as the committer last read it (NaN "
                                    "before its first read)", registry=r)
        #: block number -> time.monotonic() when built, until L1 holds it
        self._built_at: dict[int, float] = {}

    def follow(self, mempool: Mempool, committer: L1Committer) -> None:
        """Read the state gauges from these at each scrape."""
        self.head.set_function(lambda: mempool.tip_number)
        self.pending.set_function(lambda: len(mempool))
        self.last_committed.set_function(lambda: _known(committer.last_committed))
        self.last_finalized.set_function(lambda: _known(committer.last_finalized))

    # ------------------------------------------------------------------ events

    def transaction_accepted(self) -> None:
        self.transactions_accepted.inc()

    def transaction_rejected(self, error: Exception) -> None:
        self.transactions_rejected.labels(type(error).__name__).inc()

    def block_built(self, number: int, transfers: int) -> None:
        self.blocks_built.inc()
        self.transactions_included.inc(transfers)
        self._built_at[number] = time.monotonic()

    def commit_sent(self) -> None:
        self.commits_sent.inc()

    def commit_failed(self, error: BaseException) -> None:
        self.commits_failed.labels(type(error).__name__).inc()

    def block_committed(self, number: int, how: str) -> None:
        """L1 holds block `number`: `how` is "sent" or "adopted"."""
        self.blocks_committed.labels(how).inc()
        built = self._built_at.pop(number, None)
        if built is not None:
            self.commit_seconds.observe(time.monotonic() - built)

    def reverted(self, count: int) -> None:
        self.blocks_reverted.inc(count)

    def instrument(self, method: str, handler: Method) -> Method:
        """`handler` counted and timed as `method`; its signature is kept (`functools.wraps`),
        since the JSON-RPC server binds the request's params to it."""

        @functools.wraps(handler)
        async def counted(*args: Any, **kwargs: Any) -> Any:
            status = "cancelled"
            start = time.perf_counter()
            try:
                result = await handler(*args, **kwargs)
            except Exception:
                status = "error"
                raise
            else:
                status = "ok"
                return result
            finally:
                self.rpc_requests.labels(method, status).inc()
                self.rpc_seconds.labels(method).observe(time.perf_counter() - start)

        return counted


def _known(value: int | None) -> float:
    """A gauge's value; NaN (Prometheus's "no value") for what has not been read yet."""
    return math.nan if value is None else value
