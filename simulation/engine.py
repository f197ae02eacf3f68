"""The run: the coordinator's real decision core, the ledger's real rules, simulated rollers,
coordinator and sequencer, all in virtual time.

This module is the simulation's shell, standing where the coordinator service stands: it turns
the simulated world into the core's events and carries out the core's commands.

- **Sequencer.** Commit slot s (s = 1 .. blocks) comes at `s * block_interval`: the next block
  is committed; on its number's first commit the Rollup pins its roster (the newest roster
  snapshot before the commit, if no older than SNAPSHOT_MAX_AGE: the rollers of slot 1 stake
  before the first snapshot, the newcomers whose slot comes later stake in the commit's own L1
  block and wait for a later snapshot) and its randomness, which a recommit reuses.
- **Coordinator's snapshots.** Before each commit slot the coordinator takes a roster snapshot
  when its policy says so (`L1.snapshot_due`: the live roster changed and `snapshot_interval`
  has passed, or the newest is about to grow too old). The core hears `BlockCommitted` once the randomness is recorded, one L1
  delay later. A rerolling sequencer (`simulation.operators`)
  may then revert the block; the next slot commits it again.
- **Rollers.** An `Assign` reaches the roller after the network delay; its behaviour answers
  (`simulation.behaviours`), and its messages reach the core one network delay later. A proof
  takes the machine's queue plus a proving time sampled from the roller's hardware profile. An
  `Open` task goes to every roller staked at that moment; who proves it is the behaviour's call.
  As the service's shell does, the engine drops a message about a block or batch whose
  statement has changed since the task was sent (a reverted block: its recommit has the same
  seed) and an open proof from a roller no longer staked.
- **L1.** `Finalize`, `Settle`, `DrawLottery` and `Slash` take effect one L1 delay after the
  core emits them: the Rollup's finalized height moves and names each block's prover, the
  coordinator (`simulation.operators`) settles with a draw proof per record (`L1.draws`), the lottery is drawn with randomness unknown until then, evidence of an invalid block
  proof or aggregate slashes; and the core hears `BatchFinalized` or `BatchSettled`.
- **Cancel** is ignored: a roller keeps proving a reverted block's task and the statement check
  drops the proof.

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

from coordinator.commands import Assign, DrawLottery, Finalize, Open, Reply, Settle, Slash
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
from market_contracts.rules import Outcome, TaskKind, blocks_of
from simulation.behaviours import Offer, OpenOffer, Response
from simulation.l1 import CHAIN_ID, L1, ROLLUP, SlashProof
from simulation.metrics import Recorder, mean_reputation, summarize
from simulation.rollers import Identity, build_identities
from simulation.scenario import OperatorSpec, Scenario

#: Samples of reputation and backlog taken over a run (for the plots).
SAMPLES = 200
_VALID_OUTCOMES = (Outcome.ON_TIME, Outcome.LATE)


@dataclass(frozen=True, slots=True)
class Task:
    """One round of a task as a roller holds it: what its messages name, and the statement it
    was sent under."""

    kind: TaskKind
    index: int
    round: int
    seed: bytes
    roller: str
    statement: bytes | None


@dataclass(frozen=True)
class SimulationResult:
    metrics: dict
    #: seconds from each finalized block's commit to its batch's finalization
    finality_s: list[float]
    #: the L1 after the run: the ledger and its journal of operations
    l1: L1


class Simulation:
    def __init__(self, scenario: Scenario, progress: Callable[[int], None] | None = None,
                 chain_id: int = CHAIN_ID, rollup: str = ROLLUP):
        """`progress(slot)` is called every few commit slots; `chain_id` and `rollup` are what
        seeds are drawn under (a replay on a real chain gives its own)."""
        self.scenario = scenario
        self.params = scenario.params
        self.rng = np.random.default_rng(scenario.seed)
        self.core = CoordinatorCore(self.params, chain_id, rollup)
        self.l1 = L1(self.params, chain_id, rollup)
        self.identities = build_identities(scenario, self.params, self.rng)
        self.by_address = {identity.address: identity for identity in self.identities}
        self.coordinator = self._operator(scenario.coordinator)
        self.sequencer = self._operator(scenario.sequencer)
        self._joining: dict[int, list[Identity]] = {}
        for identity in self.identities:
            self._joining.setdefault(identity.join_block, []).append(identity)
        self.recorder = Recorder(list(dict.fromkeys(i.strategy for i in self.identities)))
        self.progress = progress
        self.now = 0
        self._queue: list[tuple[int, int, Callable, object]] = []
        self._sequence = 0
        self._delay = scenario.network_delay_ms
        self._l1_delay = scenario.l1_delay_ms
        self._sample_every = max(1, scenario.blocks // SAMPLES)
        #: copycats waiting for the first valid proof of a task: (kind, index) -> their tasks
        self._copycats: dict[tuple[TaskKind, int], list[Task]] = {}
        #: the statement each submission signed, by its ref (for the slashing evidence)
        self._signed: dict[str, bytes | None] = {}
        #: each block number's round-0 holders at its first commit (a recommit must draw them)
        self._first_draw: dict[int, tuple[str, ...]] = {}
        #: tasks open to every staked roller and not yet proven, as (kind, index)
        self._open_tasks: set[tuple[TaskKind, int]] = set()
        #: settled batches waiting for their lottery draw -> the entries settled
        self._lottery_entries: dict[int, tuple] = {}

    def _operator(self, spec: OperatorSpec):
        label = spec.favoured_label
        favoured = None if label is None else next(
            i.address for i in self.identities if i.strategy == label)
        return spec.behaviour(spec.settings, self.params, favoured)

    def run(self) -> SimulationResult:
        trio.run(self._loop, clock=trio.testing.MockClock(autojump_threshold=0))
        metrics = summarize(self.scenario, self.identities, self.core.all_roller_counts(),
                            self.l1, self.recorder, end_ms=self.now, l2_height=self.l1.height,
                            finalized_blocks=self.core.last_finalized,
                            operators={"coordinator": self.coordinator.report(),
                                       "sequencer": self.sequencer.report()})
        return SimulationResult(metrics, self.recorder.finality_s, self.l1)

    # ---------------------------------------------------------------- the loop

    async def _loop(self) -> None:
        self.l1.fund(self.scenario.pool_wei)
        for identity in self._joining.pop(1, ()):  # staked before the first commit
            self.l1.stake(identity.address, identity.stake)
        self.l1.take_snapshot(self.now)
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

    def _on_l1(self, action: Callable, argument: object) -> None:
        self._at(self.now + self._l1_delay, action, argument)

    def _handle(self, event) -> None:
        commands = self.core.handle(event)
        if commands:
            self._carry_out(commands)

    # ---------------------------------------------------------------- sequencer

    def _commit_slot(self, slot: int) -> None:
        if self.l1.snapshot_due(self.now, self.scenario.snapshot_interval_ms):
            self.l1.take_snapshot(self.now)
        for identity in self._joining.get(slot, ()):
            self.l1.stake(identity.address, identity.stake)
        n = self.l1.commit(self.rng, self.now)
        self.recorder.committed_at.setdefault(n, self.now)  # finality counts from the first
        self._on_l1(self._randomness_recorded, (n, self.l1.statements[n]))
        if slot % self._sample_every == 0 or slot == self.scenario.blocks:
            self.recorder.sample(self.now, self.l1.height - self.core.last_finalized,
                                 mean_reputation(self.identities, self.l1))
            if self.progress is not None:
                self.progress(slot)

    def _randomness_recorded(self, committed: tuple[int, bytes]) -> None:
        n, statement = committed
        if self.l1.statements.get(n) != statement:
            return  # reverted meanwhile
        pin = self.l1.pins[n]
        self._handle(BlockCommitted(n, pin.randomness, pin.roster_block, statement, pin.roster,
                                    self.now))
        if self.sequencer.reroll(self.l1, n):
            self._on_l1(self._revert, committed)

    def _revert(self, committed: tuple[int, bytes]) -> None:
        n, statement = committed
        if self.l1.statements.get(n) != statement or n <= self.l1.last_finalized:
            return
        self.l1.revert(n)
        self.recorder.counters["reverts"] += 1
        self._handle(BlocksReverted(n, self.now))

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
            elif kind is Open:
                self._open(command)
            elif kind is Slash:
                self._on_l1(self._slash, command)
            elif kind is Finalize:
                self._on_l1(self._finalized, command)
            elif kind is Settle:
                self._on_l1(self._settle, command)
            elif kind is DrawLottery:
                self._on_l1(self._draw_lottery, command.batch)
        if draw:
            self._offer(draw)

    def _offer(self, draw: list[Assign]) -> None:
        """One round's assignments: each roller sees the whole draw, as anyone can."""
        first = draw[0]
        if first.round > 0:
            self.recorder.counters["redraws"] += 1
        selection = tuple((a.roller, a.slots) for a in draw)
        if first.kind is TaskKind.BLOCK and first.round == 0:
            self._check_pinned_draw(first.index, selection)
        statement = self.l1.task_statement(first.kind, first.index)
        delay = self._delay
        for a in draw:
            identity = self.by_address[a.roller]
            task = Task(a.kind, a.index, a.round, a.seed, a.roller, statement)
            received = a.assigned_at + delay
            if not identity.behaviour.available(received, received):
                continue  # offline: no answer, the assignment will close as missed
            estimate = identity.machine.start_time(received) + identity.mean_ms[a.kind] + delay
            response = identity.behaviour.respond(
                Offer(a.kind, a.seed, a.slots, selection, a.assigned_at, a.deadline, estimate))
            sent = received + delay
            if response is Response.DECLINE:
                self._send(sent, task, TaskDeclined(a.kind, a.index, a.round, a.seed, a.roller,
                                                    "cannot finish in time", sent))
                continue
            self._send(sent, task, TaskAccepted(a.kind, a.index, a.round, a.seed, a.roller, sent))
            self._answer(identity, task, response, received)

    def _check_pinned_draw(self, n: int, selection: tuple[tuple[str, int], ...]) -> None:
        """A recommitted block must draw what its first commit drew: count it if not."""
        holders = tuple(roller for roller, _ in selection)
        if n not in self._first_draw:
            self._first_draw[n] = holders
            return
        self.recorder.counters["recommits"] += 1
        if self._first_draw[n] != holders:
            self.recorder.counters["recommits_with_another_draw"] += 1

    def _open(self, command: Open) -> None:
        """Sent to every roller staked now; each behaviour decides whether to prove, and one
        whose prover is busy looks again when it is free, while the task is still open."""
        self.recorder.counters["opened"] += 1
        self._open_tasks.add((command.kind, command.index))
        statement = self.l1.task_statement(command.kind, command.index)
        received = command.opened_at + self._delay
        for identity in self.identities:
            task = Task(command.kind, command.index, command.round, command.seed,
                        identity.address, statement)
            self._at(received, self._offer_open, (identity, task))

    def _offer_open(self, offer: tuple[Identity, Task]) -> None:
        identity, task = offer
        if ((task.kind, task.index) not in self._open_tasks
                or self.l1.ledger.weight_of(identity.address) == 0
                or not identity.behaviour.available(self.now, self.now)):
            return
        free_at = identity.machine.start_time(self.now)
        response = identity.behaviour.respond_open(OpenOffer(task.kind, free_at == self.now))
        if response is Response.IDLE and free_at > self.now:
            self._at(free_at, self._offer_open, offer)
        else:
            self._answer(identity, task, response, self.now)

    def _answer(self, identity: Identity, task: Task, response: Response, received: int) -> None:
        if response is Response.PROVE:
            self._prove(identity, task, received)
        elif response is Response.GARBAGE:
            sent = received + self._delay
            self._send(sent, task, self._proof(task, False, sent))
        elif response is Response.COPY:
            self._copycats.setdefault((task.kind, task.index), []).append(task)

    def _prove(self, identity: Identity, task: Task, received: int) -> None:
        duration = identity.profile.sample_ms(task.kind, self.rng)
        _, finish = identity.machine.run(received, duration)
        identity.proofs += 1
        if identity.behaviour.available(received, finish):
            arrival = finish + self._delay
            self._send(arrival, task, self._proof(task, True, arrival))

    def _proof_seen(self, kind: TaskKind, index: int) -> None:
        """The first valid proof of a task closes it if open, and leaks to its copycats, who
        pass it off as their own: it reaches them and comes back, two network delays."""
        self._open_tasks.discard((kind, index))
        arrival = self.now + 2 * self._delay
        for task in self._copycats.pop((kind, index), ()):
            self._send(arrival, task, self._proof(task, False, arrival))

    def _proof(self, task: Task, valid: bool, at: int) -> ProofReceived:
        ref = f"{task.kind.name.lower()}-{task.index}-{task.round}-{task.roller}-{at}"
        self._signed[ref] = task.statement
        return ProofReceived(task.kind, task.index, task.round, task.seed, task.roller, valid,
                             ref, at)

    def _send(self, at: int, task: Task, event) -> None:
        self._at(at, self._receive, (task, event))

    def _receive(self, message: tuple[Task, object]) -> None:
        """The shell's checks before the core: the statement the roller worked on is still L1's,
        and an open round's prover is staked now."""
        task, event = message
        if task.statement != self.l1.task_statement(task.kind, task.index):
            self.recorder.counters["stale_messages"] += 1
            return
        if (task.round == self.params.r_open
                and self.l1.ledger.weight_of(task.roller) == 0):
            return
        self._handle(event)

    # ---------------------------------------------------------------- L1

    def _slash(self, command: Slash) -> None:
        statement = self._signed.pop(command.ref)
        if statement is not None and self.l1.slash(SlashProof(
                command.roller, command.kind, command.index, command.round, statement)):
            self.recorder.counters[f"slashed_{command.kind.name.lower()}s"] += 1

    def _finalized(self, command: Finalize) -> None:
        self.l1.finalize(command.batch, command.provers)
        self.recorder.finalized(blocks_of(command.batch, self.params.k), self.now)
        self._handle(BatchFinalized(command.batch, self.now))

    def _settle(self, command: Settle) -> None:
        entries = self.coordinator.settle(self.l1, command, self.now)
        if self.l1.ledger.pending_lottery(self.l1.rollup, command.batch) is not None:
            self._lottery_entries[command.batch] = entries
        self.recorder.counters["settled_batches"] += 1
        self._handle(BatchSettled(command.batch, self.now))

    def _draw_lottery(self, batch: int) -> None:
        """Anyone may draw, with the entries of the settlement that L1 holds (a misreporting
        coordinator's, not the core's)."""
        entries = self._lottery_entries.pop(batch, None)
        if entries is not None:
            self.l1.draw_lottery(batch, entries, self.rng)
