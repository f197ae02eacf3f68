"""The run: the coordinator's real decision core, the ledger's real rules, simulated rollers, all
in virtual time.

This module is the simulation's shell, standing where the coordinator service stands: it turns
the simulated world into the core's events and carries out the core's commands.

- **Sequencer.** Commit slot s (s = 1 .. blocks) comes at `s * block_interval`: the next block
  is committed with fresh randomness and the roster the ledger gives at that moment, and the
  newcomers whose slot it is stake just before.
- **Rollers.** An `Assign` reaches the roller after the network delay; its behaviour answers
  (`simulation.behaviours`), and its messages reach the core one network delay later. A proof
  takes the machine's queue plus a proving time sampled from the roller's hardware profile.
- **L1.** `Finalize`, `Settle` and `Slash` take effect one L1 delay after the core emits them:
  the ledger settles (rewards, reputation) or slashes, and the core hears `BatchFinalized` or
  `BatchSettled`. An invalid aggregate's `Slash` is counted, not carried out: the staking
  contract slashes block proofs only (docs/coordinator.md), and its `invalid` outcome still
  settles. A task that stalls unproven makes the sequencer revert from its block (the only way
  on, by the spec); the reverted blocks are committed again in the next slots.
- **Cancel** is ignored: a roller keeps proving a reverted block's task and the core rejects the
  proof. Reverts follow stalls only, which are rare.

Time is integer milliseconds, the core's unit. The loop runs under trio with a `MockClock`
(autojump), so virtual time passes as fast as the events can be handled; it sleeps once per
distinct instant, not per event, to keep the per-event cost small. Everything random comes from
one `numpy` generator seeded by the scenario, and events at the same millisecond run in the order
they were scheduled, so a seed gives one run.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import trio
import trio.testing

from coordinator.commands import Assign, AuditRecord, Finalize, Reply, Settle, Slash, Stalled
from coordinator.core import CoordinatorCore
from coordinator.events import (
    BatchFinalized,
    BatchSettled,
    BlockCommitted,
    BlocksReverted,
    ProofReceived,
    TaskAccepted,
    TaskDeclined,
    Tick,
)
from market_contracts.rules import Outcome, TaskKind
from simulation.behaviours import Offer, Response
from simulation.l1 import L1
from simulation.metrics import Recorder, mean_reputation, summarize
from simulation.rollers import Identity, build_identities
from simulation.scenario import Scenario

CHAIN_ID = 31337
#: The Rollup's address in block and batch seeds; the simulation deploys no contract.
ROLLUP = "0x3eAabe171D8A4EACe693Ae2D9a1E40b458151a99"
#: Samples of reputation and backlog taken over a run (for the plots).
SAMPLES = 200
_VALID_OUTCOMES = (Outcome.ON_TIME, Outcome.LATE)


@dataclass(frozen=True)
class SimulationResult:
    metrics: dict
    #: seconds from each finalized block's commit to its batch's finalization
    finality_s: list[float]
    #: the L1 after the run: the ledger and its journal of operations
    l1: L1


class Simulation:
    def __init__(self, scenario: Scenario, progress: Callable[[int], None] | None = None):
        """`progress(slot)` is called every few commit slots."""
        self.scenario = scenario
        self.params = scenario.params
        self.rng = np.random.default_rng(scenario.seed)
        self.core = CoordinatorCore(self.params, CHAIN_ID, ROLLUP)
        self.l1 = L1(self.params)
        self.identities = build_identities(scenario, self.params, self.rng)
        self.by_address = {identity.address: identity for identity in self.identities}
        self._joining: dict[int, list[Identity]] = {}
        for identity in self.identities:
            self._joining.setdefault(identity.join_block, []).append(identity)
        self.recorder = Recorder(list(dict.fromkeys(i.strategy for i in self.identities)))
        self.progress = progress
        self.now = 0
        self._queue: list[tuple[int, int, Callable, object]] = []
        self._sequence = 0
        self._delay = scenario.network_delay_ms
        self._sample_every = max(1, scenario.blocks // SAMPLES)
        #: copycats waiting for the first valid proof of a task: (kind, index) -> their offers
        self._copycats: dict[tuple[TaskKind, int], list[Assign]] = {}

    def run(self) -> SimulationResult:
        trio.run(self._loop, clock=trio.testing.MockClock(autojump_threshold=0))
        metrics = summarize(self.scenario, self.identities, self.core.all_roller_counts(),
                            self.l1, self.recorder, end_ms=self.now, l2_height=self.l1.height,
                            finalized_blocks=self.core.last_finalized)
        return SimulationResult(metrics, self.recorder.finality_s, self.l1)

    # ---------------------------------------------------------------- the loop

    async def _loop(self) -> None:
        self.l1.fund(self.scenario.pool_wei)
        interval = self.scenario.block_interval_ms
        for slot in range(1, self.scenario.blocks + 1):
            self._at(slot * interval, self._commit_slot, slot)
        queue, core = self._queue, self.core
        while True:
            wake = core.next_wakeup()
            if queue and (wake is None or queue[0][0] <= wake):
                at, _, action, argument = heapq.heappop(queue)
                if at > self.now:
                    await self._sleep_until(at)
                action(argument)
            elif wake is not None:
                await self._sleep_until(wake)
                self._handle(Tick(wake))
            else:
                return

    async def _sleep_until(self, at: int) -> None:
        await trio.sleep_until(at / 1000)
        self.now = at

    def _at(self, at: int, action: Callable, argument: object) -> None:
        heapq.heappush(self._queue, (at, self._sequence, action, argument))
        self._sequence += 1

    def _handle(self, event) -> None:
        commands = self.core.handle(event)
        if commands:
            self._carry_out(commands)

    # ---------------------------------------------------------------- sequencer

    def _commit_slot(self, slot: int) -> None:
        for identity in self._joining.get(slot, ()):
            self.l1.stake(identity.address, identity.stake)
        randomness = self.rng.bytes(32)
        n = self.l1.commit(randomness)
        self.recorder.committed_at[n] = self.now
        self._handle(BlockCommitted(n, randomness, self.l1.l1_block, self.l1.roster(), self.now))
        if slot % self._sample_every == 0 or slot == self.scenario.blocks:
            self.recorder.sample(self.now, self.l1.height - self.core.last_finalized,
                                 mean_reputation(self.identities, self.l1))
            if self.progress is not None:
                self.progress(slot)

    # ---------------------------------------------------------------- commands

    def _carry_out(self, commands: list) -> None:
        draw: list[Assign] = []
        for command in commands:
            kind = type(command)
            if kind is Assign:
                if draw and (draw[0].kind, draw[0].index, draw[0].round) != (
                        command.kind, command.index, command.round):
                    self._offer(draw)
                    draw = []
                draw.append(command)
                continue
            if draw:
                self._offer(draw)
                draw = []
            if kind is Reply:
                if command.outcome in _VALID_OUTCOMES:
                    self._proof_seen(command.kind, command.index)
            elif kind is Slash:
                self._slash(command)
            elif kind is Finalize:
                self._at(self.now + self.scenario.l1_delay_ms, self._finalized, command.batch)
            elif kind is Settle:
                self._at(self.now + self.scenario.l1_delay_ms, self._settled, command)
            elif kind is Stalled:
                self.recorder.counters["stalls"] += 1
            elif kind is AuditRecord and command.prover is None:
                self._revert_later(command)
        if draw:
            self._offer(draw)

    def _offer(self, draw: list[Assign]) -> None:
        """One round's assignments: each roller sees the whole selection, as anyone can."""
        if draw[0].round > 0:
            self.recorder.counters["redraws"] += 1
        selection = tuple(a.roller for a in draw)
        delay = self._delay
        for a in draw:
            identity = self.by_address[a.roller]
            received = a.assigned_at + delay
            if not identity.behaviour.available(received, received):
                continue  # offline: no answer, the assignment will close as missed
            estimate = identity.machine.start_time(received) + identity.mean_ms[a.kind] + delay
            response = identity.behaviour.respond(
                Offer(a.kind, a.seed, selection, a.assigned_at, a.deadline, estimate))
            sent = received + delay
            if response is Response.DECLINE:
                self._at(sent, self._handle, TaskDeclined(
                    a.kind, a.index, a.round, a.seed, a.roller, "cannot finish in time", sent))
                continue
            self._at(sent, self._handle, TaskAccepted(a.kind, a.index, a.round, a.seed, a.roller,
                                                      sent))
            if response is Response.PROVE:
                self._prove(identity, a, received)
            elif response is Response.GARBAGE:
                self._at(sent, self._handle, _proof(a, False, sent))
            elif response is Response.COPY:
                self._copycats.setdefault((a.kind, a.index), []).append(a)

    def _prove(self, identity: Identity, a: Assign, received: int) -> None:
        duration = identity.profile.sample_ms(a.kind, self.rng)
        _, finish = identity.machine.run(received, duration)
        identity.proofs += 1
        if identity.behaviour.available(received, finish):
            arrival = finish + self._delay
            self._at(arrival, self._handle, _proof(a, True, arrival))

    def _proof_seen(self, kind: TaskKind, index: int) -> None:
        """The first valid proof of a task leaks to its copycats, who pass it off as their own:
        it reaches them and comes back, two network delays."""
        arrival = self.now + 2 * self._delay
        for a in self._copycats.pop((kind, index), ()):
            self._at(arrival, self._handle, _proof(a, False, arrival))

    # ---------------------------------------------------------------- L1

    def _slash(self, command: Slash) -> None:
        if command.kind is not TaskKind.BLOCK:
            self.recorder.counters["unslashed_aggregates"] += 1
            return
        randomness = self.l1.randomness[command.index]
        self._at(self.now + self.scenario.l1_delay_ms, self._slash_on_l1,
                 (command.roller, command.index, command.round, randomness))

    def _slash_on_l1(self, evidence: tuple[str, int, int, bytes]) -> None:
        roller, block, round_, randomness = evidence
        # The contract checks the signed inputs against the block the Rollup holds: evidence
        # about a block reverted in the meantime slashes nothing.
        if self.l1.randomness.get(block) == randomness:
            self.l1.slash(roller, block, round_, randomness)

    def _finalized(self, batch: int) -> None:
        k = self.params.k
        self.recorder.finalized(range(batch * k + 1, (batch + 1) * k + 1), self.now)
        self._handle(BatchFinalized(batch, self.now))

    def _settled(self, command: Settle) -> None:
        self.l1.settle(command)
        self.recorder.counters["settled_batches"] += 1
        self._handle(BatchSettled(command.batch, self.now))

    def _revert_later(self, record: AuditRecord) -> None:
        """Nothing will prove this task: the sequencer reverts from its block (for an
        aggregation, from its batch's first block) and commits them again."""
        k = self.params.k
        if record.kind is TaskKind.BLOCK:
            first = last = record.index
        else:
            first, last = record.index * k + 1, (record.index + 1) * k
        self._at(self.now + self.scenario.l1_delay_ms, self._revert,
                 (first, last, record.randomness))

    def _revert(self, stalled: tuple[int, int, bytes]) -> None:
        first, last, randomness = stalled
        if self.l1.randomness.get(last) != randomness:
            return  # reverted already by an earlier stall
        for n in range(first, self.l1.height + 1):
            del self.recorder.committed_at[n]
        self.l1.revert(first)
        self.recorder.counters["reverts"] += 1
        self._handle(BlocksReverted(first, self.now))


def _proof(a: Assign, valid: bool, at: int) -> ProofReceived:
    return ProofReceived(a.kind, a.index, a.round, a.seed, a.roller, valid,
                         f"{a.kind.name.lower()}-{a.index}-{a.round}-{a.roller}", at)
