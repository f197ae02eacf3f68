"""The settlement reader: the outcomes, rewards and reputations settled on L1 for this roller's
tasks, into the journal.

Every `interval` seconds it reads RollerStaking's logs from where it stopped (the block kept in
`DATADIR/settlement.block`, from the deployment's block at first), in chunks of `log_chunk` blocks:
`ReputationChanged` and `RewardCredited` filtered by this roller's address, and `BatchSettled`
for the coordinator of each transaction. A `ReputationChanged` inside a settlement names (rollup,
kind, task, round), its transaction's `BatchSettled` the coordinator; the statement is that
rollup's on L1 (a settled batch is finalized, so it is the final one). One without a
`BatchSettled` is a slash, left to the settlement that reports the outcome. Settlements of every
rollup the journal holds tasks of are read, served or not. L1 that cannot be read now is logged
and shown in `/health`, and read again at the next interval.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from pathlib import Path

import structlog
import trio
from eth_utils import to_checksum_address

from atomicfile import write_atomically
from market_contracts.bindings import Market
from market_contracts.rollup import Rollup
from market_contracts.rules import TaskKind
from roller.discovery import ServedRollup
from roller.errors import L1_UNAVAILABLE, JournalError, UnknownTask
from roller.journal import OUTCOMES, Journal, TaskKey
from roller.l1 import l1_statement
from roller.metrics import RollerMetrics
from roller.status import Recent

log = structlog.get_logger(__name__)

#: the next L1 block the settlement reader reads, kept across restarts (in the data directory)
CURSOR_NAME = "settlement.block"


class SettlementReader:
    """See the module docstring."""

    def __init__(self, market: Market, address: str, journal: Journal,
                 rollups: Mapping[str, ServedRollup], metrics: RollerMetrics, recent: Recent,
                 clock: Callable[[], float], cursor_file: Path,
                 interval: float, log_chunk: int):
        self._market = market
        self._address = address
        self._journal = journal
        #: the rollups served (`Discovery.rollups`): their contracts are read through these
        self._rollups = rollups
        self._metrics = metrics
        self._recent = recent
        self._clock = clock
        self._cursor_file = cursor_file
        self._interval = interval
        self._log_chunk = log_chunk

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        cursor = await trio.to_thread.run_sync(_read_cursor, self._cursor_file,
                                               self._market.deployment.block)
        task_status.started()
        while True:
            try:
                cursor = await trio.to_thread.run_sync(self._settle_from, cursor)
                self._metrics.set_l1_error(None)
            except L1_UNAVAILABLE as exc:
                error = str(exc) or type(exc).__name__
                self._metrics.set_l1_error(error)
                log.warning("cannot read settlements from L1", error=error)
            await trio.sleep(self._interval)

    def _settle_from(self, cursor: int) -> int:
        """Read settlements from L1 block `cursor` to the latest; the next block to read."""
        latest = self._market.chain.w3.eth.block_number
        while cursor <= latest:
            end = min(latest, cursor + self._log_chunk - 1)
            self._settle_range(cursor, end)
            cursor = end + 1
            _write_cursor(self._cursor_file, cursor)
        return cursor

    def _settle_range(self, start: int, end: int) -> None:
        events = self._market.staking.events
        changes = events.ReputationChanged().get_logs(
            argument_filters={"roller": self._address}, from_block=start, to_block=end)
        if not changes:
            return
        settled_by = {log_["transactionHash"]: to_checksum_address(log_["args"]["coordinator"])
                      for log_ in events.BatchSettled().get_logs(from_block=start, to_block=end)}
        # Rollups this roller never took a task of have no task to settle here: their contracts
        # (served or not, genuine or not) are not even read.
        rollups = {address: (self._rollups[address].rollup if address in self._rollups
                             else Rollup(self._market.chain, address))
                   for address in self._journal.rollups()}
        rewards: dict[tuple, int] = defaultdict(int)
        for log_ in events.RewardCredited().get_logs(
                argument_filters={"roller": self._address}, from_block=start, to_block=end):
            args = log_["args"]
            rewards[(log_["transactionHash"], args["kind"], args["task"])] += args["amount"]
        for log_ in changes:
            coordinator = settled_by.get(log_["transactionHash"])
            if coordinator is None:
                continue  # a slash, not a settlement: the settlement reports it again
            args = log_["args"]
            rollup = rollups.get(to_checksum_address(args["rollup"]))
            if rollup is None:
                continue
            kind = TaskKind(args["kind"]).wire
            key = TaskKey(coordinator, rollup.address, kind, args["task"], args["round"],
                          l1_statement(rollup, kind, args["task"]))
            outcome = OUTCOMES[args["outcome"]]
            reward = rewards.get((log_["transactionHash"], args["kind"], args["task"]), 0)
            try:
                before = self._journal.get(key)
                self._journal.settle(key, outcome, reward, args["oldRep"], args["newRep"],
                                     now=self._clock())
            except UnknownTask:
                continue  # settled for an assignment this journal never saw
            except JournalError as exc:
                log.warning("settlement not journaled", task=str(key), error=str(exc))
                continue
            if before.settled_at is None:
                self._metrics.outcome(outcome)
                log.info("task settled", task=str(key), outcome=outcome, reward=reward,
                         reputation=f"{args['oldRep']} -> {args['newRep']}")
                self._recent.note(key, outcome, reward=reward,
                                  reputation=(args["oldRep"], args["newRep"]))


def _read_cursor(path: Path, default: int) -> int:
    try:
        return max(int(path.read_text().strip()), default)
    except (FileNotFoundError, ValueError):
        return default


def _write_cursor(path: Path, block: int) -> None:
    write_atomically(path, f"{block}\n")
