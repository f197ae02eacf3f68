"""What the explorer reads: L1 (blocking; the server calls `ExplorerData.refresh` from a worker
thread) and the coordinator's audit log, cached where final.

Each refresh reads only what can have changed: the events of the L1 blocks since the last one
(`history.ChainLog`), the state of the rollers those events named, the pools when tokens moved,
each task's public draw inputs once its randomness is recorded (again once its block is
finalized, for the prover L1 names), the evidence of each new slash, and the audit log's new
lines.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from coordinator.audit import InvalidAuditRecord, PublicTask, audit_record_from_json, public_task
from coordinator.commands import AuditRecord
from market_contracts.bindings import Market, RollerInfo
from market_contracts.errors import InvalidEvidence, RpcUnreachable
from market_contracts.rollup import Rollup
from market_contracts.rules import MarketParams, TaskKind, batch_of, ends_batch
from market_contracts.submissions import SlashEvidence, recover_submitter
from provernet.explorer.history import ChainLog, History
from provernet.explorer.pages import MarketState, build_pages


@dataclass(frozen=True)
class L1Head:
    number: int
    time: int

    def to_json(self) -> dict:
        return {"head": self.number, "time": self.time}


class AuditLog:
    """The coordinator's audit log (one JSON record a line, appended as tasks are decided), read
    as it grows; a partly written last line waits for its newline."""

    def __init__(self, path: Path):
        self.path = path
        self._start()

    def _start(self) -> None:
        self.records: dict[tuple[TaskKind, int], AuditRecord] = {}
        #: "line N: what is wrong" for each line that is not an audit record
        self.problems: list[str] = []
        self._offset = 0
        self._lines = 0

    def read_new(self) -> None:
        try:
            size = os.path.getsize(self.path)
        except FileNotFoundError:
            return  # not written yet: the coordinator creates it with its first record
        if size < self._offset:
            self._start()  # truncated (a new devnet in the same directory): again
        with open(self.path, "rb") as file:
            file.seek(self._offset)
            chunk = file.read(size - self._offset)
        whole = chunk[:chunk.rfind(b"\n") + 1]
        for line in whole.splitlines():
            self._lines += 1
            if not line.strip():
                continue
            try:
                record = audit_record_from_json(json.loads(line))
            except (UnicodeDecodeError, json.JSONDecodeError, InvalidAuditRecord) as exc:
                self.problems.append(f"line {self._lines}: {exc}")
                continue
            self.records[(record.kind, record.index)] = record
        self._offset += len(whole)


class ExplorerData:
    """The market of `market`'s deployment and its `rollup`, as read so far."""

    def __init__(self, market: Market, rollup: Rollup, audit_log: Path | None = None):
        self.market, self.rollup = market, rollup
        self._chain_log = ChainLog(market, rollup)
        self._audit = AuditLog(audit_log) if audit_log is not None else None
        #: read at the first refresh: the parameters L1 holds, which the draws follow
        self._params: MarketParams | None = None
        self._history: History | None = None
        self._next_block = market.deployment.block
        self._tasks: dict[tuple[TaskKind, int], PublicTask] = {}
        self._rollers: dict[str, RollerInfo] = {}
        self._pools: tuple[int, dict[str, int]] = (0, {})
        self._evidence: dict[str, tuple[dict | None, bool | None]] = {}
        self._final_draws: dict[tuple[TaskKind, int], dict] = {}

    def refresh(self) -> tuple[dict, L1Head]:
        """Read what changed; every page's JSON (`pages.build_pages`) and the L1 head.

        Raises `RpcUnreachable` (with the endpoint's address left out) when L1 does not answer;
        what was read before stays, and the next refresh carries on from there."""
        try:
            return self._refresh()
        except RpcUnreachable as exc:
            raise RpcUnreachable(self.redact(str(exc))) from None

    def redact(self, message: str) -> str:
        """`message` without the endpoint's URL, which may carry an API key."""
        url = getattr(self.market.chain.w3.provider, "endpoint_uri", None)
        return message.replace(str(url), "[the L1 endpoint]") if url else message

    def _refresh(self) -> tuple[dict, L1Head]:
        if self._params is None:
            self._params = self.market.params()
            self._history = History(self.rollup.address, self._params.k)
        history = self._history
        latest = self.market.chain.w3.eth.get_block("latest")
        head = L1Head(latest["number"], latest["timestamp"])
        if head.number >= self._next_block:
            # Read everything first, then fold: a failed read leaves the history as it was.
            events, snapshots = self._chain_log.read(self._next_block, head.number)
            for event in events:
                history.apply(event)
            history.snapshots += snapshots
            self._next_block = head.number + 1
        if self._audit is not None:
            self._audit.read_new()
        self._read_rollers(history)
        self._read_tasks(history)
        self._read_evidence(history)
        state = MarketState(
            deployment=self.market.deployment, params=self._params, history=history,
            tasks=self._tasks, audit=None if self._audit is None else self._audit.records,
            audit_problems=[] if self._audit is None else self._audit.problems,
            rollers=self._rollers, reward_pool=self._pools[0], totals=self._pools[1],
            evidence=self._evidence, final_draws=self._final_draws)
        return build_pages(state), head

    def _read_rollers(self, history: History) -> None:
        """The state of every roller an event named since the last read, and the pools if
        tokens moved; kept only once all of it is read."""
        touched = set(history.touched) | {a for a in history.registered if a not in self._rollers}
        infos = {address: self.market.roller_info(address) for address in touched}
        if history.pools_touched:
            self._pools = (self.market.reward_pool(self.rollup.address), self.market.totals())
        self._rollers.update(infos)
        history.touched -= touched
        history.pools_touched = False

    def _read_tasks(self, history: History) -> None:
        """Each task's public draw inputs once its randomness is recorded; a block's again once
        it is finalized (its prover). A batch draws with its last block's randomness."""
        k = self._params.k
        for number, entry in history.blocks.items():
            if entry.randomness is None:
                continue
            keys = [(TaskKind.BLOCK, number)]
            if ends_batch(number, k):
                keys.append((TaskKind.AGGREGATION, batch_of(number, k)))
            for kind, index in keys:
                known = self._tasks.get((kind, index))
                if known is not None and (kind is TaskKind.AGGREGATION
                                          or known.prover == entry.prover):
                    continue
                task = public_task(self.rollup, history.snapshots, self._params, kind, index)
                if task is not None:
                    self._tasks[(kind, index)] = task

    def _read_evidence(self, history: History) -> None:
        """The evidence each slash carried, from its transaction's input; (None, None) for a
        slash sent through another contract, whose input is that contract's."""
        for slash in history.slashes:
            transaction = slash.where.transaction
            if transaction not in self._evidence:
                sent = self.market.chain.w3.eth.get_transaction(transaction)
                direct = sent["to"] == self.market.staking.address
                self._evidence[transaction] = (self._evidence_of(sent["input"]) if direct
                                               else (None, None))

    def _evidence_of(self, calldata: bytes) -> tuple[dict, bool]:
        """The call's arguments as an EVIDENCE.json (what `provernet audit slash` takes), and
        whether its signature recovers to the slashed roller."""
        function, args = self.market.staking.decode_function_input(calldata)
        evidence = SlashEvidence.from_call(self.market.chain.chain_id, self.market.staking.address,
                                           function.fn_name, list(args.values()))
        try:
            signer = recover_submitter(evidence.chain_id, evidence.rollup, evidence.kind,
                                       evidence.index, evidence.round, evidence.statement,
                                       evidence.proof_hash(), evidence.signature)
        except InvalidEvidence:
            signer = None
        return evidence.to_json(), signer == evidence.roller
