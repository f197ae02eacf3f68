"""Shared pieces of the coordinator core's tests: parameters, rollers, rosters, and `Market`, a
small virtual-time driver in which each roller follows a scripted behaviour."""

from __future__ import annotations

import dataclasses
import heapq
import random
from dataclasses import dataclass

from eth_utils import keccak, to_checksum_address

from coordinator.commands import Assign, Command, Finalize, Open, Settle
from coordinator.core import CoordinatorCore
from coordinator.events import (
    BatchFinalized,
    BatchSettled,
    BlockCommitted,
    BlocksReverted,
    Event,
    ProofReceived,
    TaskAccepted,
    TaskDeclined,
    Tick,
)
from market_contracts.ledger import NO_DRAW, Ledger, draw_proof
from market_contracts.rules import MarketParams, TaskKind, is_open_round, snapshot_entries

#: K = 2 so that a batch is quick to fill; everything else the devnet's.
PARAMS = dataclasses.replace(MarketParams.devnet(), k=2)
CHAIN_ID = 31337
ROLLUP = "0x3eAabe171D8A4EACe693Ae2D9a1E40b458151a99"
COORDINATOR = to_checksum_address("0x" + "c0" * 20)
S = 1000  # one second in the core's milliseconds
T = PARAMS.t * S
WINDOW = PARAMS.late_window * S
T_AGG = PARAMS.t_agg * S
STAKE = 1_000 * 10**18
#: The L1 block and time of the one roster snapshot the contract's model takes: every block's
#: roster block is after it, and every block is pinned at its time (so never too old).
SNAPSHOT_L1_BLOCK = 100
SNAPSHOT_TIME = 0
BLOCK, AGG = TaskKind.BLOCK, TaskKind.AGGREGATION


def roller(i: int) -> str:
    return to_checksum_address(keccak(text=f"roller {i}")[:20])


def roster(n: int, weights: list[int] | None = None) -> tuple[tuple[str, int], ...]:
    """Rollers with weights, in snapshot order; a weight is stake * REP_INIT (or 0) so that the
    contract's model can be staked into the same roster (`ledger_for`)."""
    weights = weights or [STAKE * PARAMS.rep_init] * n
    return tuple((roller(i), w) for i, w in enumerate(weights))


def randomness(block: int) -> bytes:
    return keccak(text=f"randomness {block}")


def statement(block: int, version: int = 0) -> bytes:
    """The statement of block `block`; `version` tells a recommit after a revert (which keeps
    the block's randomness) from the block it replaces."""
    return keccak(text=f"statement {block} {version}")


def new_core(**kwargs) -> CoordinatorCore:
    return CoordinatorCore(PARAMS, CHAIN_ID, ROLLUP, **kwargs)


def roster_block_of(block: int) -> int:
    return SNAPSHOT_L1_BLOCK + block


def commit(block: int, at: int, rollers: tuple[tuple[str, int], ...],
           version: int = 0) -> BlockCommitted:
    """Block `block` committed (and its randomness recorded) at `at`; a recommit (`version` >
    0) keeps the randomness and roster block, as the Rollup pins them per number."""
    return BlockCommitted(block, randomness(block), roster_block_of(block),
                          statement(block, version), rollers, at)


def ledger_for(rollers: tuple[tuple[str, int], ...], params: MarketParams = PARAMS) -> Ledger:
    """The staking contract's model with the rollup added, the coordinator bound to it, every
    roller registered in order with the stake that gives it its weight (a zero weight: MIN_STAKE,
    paused), and roster snapshot 0 taken: its entries are the roster the core drew from."""
    ledger = Ledger(params)
    ledger.add_rollup(ROLLUP, params.k)
    ledger.register_coordinator(COORDINATOR, ROLLUP)
    for address, w in rollers:
        stake = w // params.rep_init if w else params.min_stake
        ledger.mint(address, stake)
        ledger.stake(address, stake)
        if w == 0:
            ledger.pause(address)
    assert ledger.take_snapshot(SNAPSHOT_L1_BLOCK, SNAPSHOT_TIME) == 0
    assert list(ledger.snapshots[0].entries) == snapshot_entries(rollers), (
        "a weight the model cannot stake into: use stake * REP_INIT")
    return ledger


def settle_on(ledger: Ledger, commands: list[Command]) -> None:
    """Send every Settle among `commands` to the contract's model as L1 would have it: each
    finalized block pinned to snapshot 0 with its randomness recorded, finalized with the
    provers its Finalize named, and each record's draw proof attached (none for an open round),
    as the shell attaches them."""
    for f in of(commands, Finalize):
        provers = {f.first_block + i: prover for i, prover in enumerate(f.provers)}
        for n in provers:
            ledger.pin(ROLLUP, n, roster_block_of(n), SNAPSHOT_TIME)
            ledger.record_randomness(ROLLUP, n, randomness(n))
        ledger.finalize(ROLLUP, max(provers), provers)
    entries = ledger.snapshots[0].entries
    for s in of(commands, Settle):
        draws = [NO_DRAW if is_open_round(o.round, ledger.params) else
                 draw_proof(0, entries, o.roller) for o in s.outcomes]
        ledger.settle(COORDINATOR, s.batch, list(s.outcomes), draws)


def of(commands: list[Command], cls: type) -> list:
    return [c for c in commands if isinstance(c, cls)]


@dataclass(frozen=True)
class Behaviour:
    """How a roller answers an assignment; delays in ms after it."""

    accept: bool = True
    #: accepts, then declines after `delay`
    decline_after_accept: bool = False
    #: None: never sends one
    proof: str | None = "valid"  # "valid" | "invalid" | None
    delay: int = 1 * S
    #: proves an open task (after the drawn rounds) this long after it opens; None: does not
    rescue: int | None = None


HONEST = Behaviour(rescue=1 * S)
LAZY = Behaviour(proof=None)
DECLINER = Behaviour(accept=False, proof=None)
CHEAT = Behaviour(proof="invalid", rescue=2 * S)
QUITTER = Behaviour(decline_after_accept=True, proof=None)


class Market:
    """Drives a core in virtual time: events happen at their stamp, Ticks at `next_wakeup`,
    rollers answer assignments by their behaviour, L1 confirms Finalize and Settle at once."""

    def __init__(self, core: CoordinatorCore, behaviours: dict[str, Behaviour],
                 rng: random.Random | None = None, jitter: int = 0):
        self.core = core
        self.behaviours = behaviours
        self.rng = rng or random.Random(0)
        self.jitter = jitter
        self.queue: list[tuple[int, int, Event]] = []
        self.order = 0
        self.l1_at = 0
        self.events: list[Event] = []
        self.commands: list[Command] = []

    def schedule(self, event: Event) -> None:
        heapq.heappush(self.queue, (event.at, self.order, event))
        self.order += 1

    def handle(self, event: Event) -> list[Command]:
        self.events.append(event)
        commands = self.core.handle(event)
        self.commands.extend(commands)
        for command in commands:
            self._react(command, event.at)
        return commands

    def run(self) -> None:
        while True:
            wake = self.core.next_wakeup()
            if self.queue and (wake is None or self.queue[0][0] <= wake):
                self.handle(heapq.heappop(self.queue)[2])
            elif wake is not None:
                self.handle(Tick(wake))
            else:
                return

    def _later(self, now: int, delay: int) -> int:
        return now + delay + (self.rng.randrange(self.jitter + 1) if self.jitter else 0)

    def _react(self, command: Command, now: int) -> None:
        if isinstance(command, Assign):
            b = self.behaviours[command.roller]
            task = (command.kind, command.index, command.round, command.seed, command.roller)
            if not b.accept:
                self.schedule(TaskDeclined(*task, "busy", self._later(now, 0)))
                return
            self.schedule(TaskAccepted(*task, self._later(now, 0)))
            if b.decline_after_accept:
                self.schedule(TaskDeclined(*task, "gave up", self._later(now, b.delay)))
            elif b.proof is not None:
                ref = f"{command.kind.name}-{command.index}-{command.round}-{command.roller}"
                self.schedule(ProofReceived(*task, b.proof == "valid", ref,
                                            self._later(now, b.delay)))
        elif isinstance(command, Open):
            # Sent to every session; each roller that rescues proves it as it would its own.
            for roller, b in self.behaviours.items():
                if b.rescue is not None and b.proof is not None:
                    ref = f"{command.kind.name}-{command.index}-open-{roller}"
                    self.schedule(ProofReceived(command.kind, command.index, command.round,
                                                command.seed, roller, b.proof == "valid", ref,
                                                self._later(now, b.rescue)))
        elif isinstance(command, Finalize):
            # L1 takes the transactions in the order they were sent.
            self.l1_at = max(self.l1_at, self._later(now, S))
            self.schedule(BatchFinalized(command.batch, self.l1_at))
        elif isinstance(command, Settle):
            self.schedule(BatchSettled(command.batch, self._later(now, S)))


LATE = Behaviour(delay=T + 5 * S, rescue=5 * S)
MIXED_BEHAVIOURS = (HONEST, LAZY, DECLINER, CHEAT, QUITTER, LATE, HONEST, LAZY)


def mixed_market(seed: int = 0) -> Market:
    """Every behaviour, jittered answers, a weighted roster, and block 7 reverted and committed
    again (same randomness, new statement): a run that touches most of the core."""
    # Weights falling along the roster: with the fixed randomness, this order's draws open a
    # block and an aggregation and draw a roller twice (the audit tests check they do).
    count = len(MIXED_BEHAVIOURS)
    rollers = roster(count, [STAKE * (count - i) * PARAMS.rep_init for i in range(count)])
    market = Market(new_core(), {r: b for (r, _), b in zip(rollers, MIXED_BEHAVIOURS)},
                    random.Random(seed), jitter=3 * S)
    for n in range(1, 8):
        market.schedule(commit(n, n * 10 * S, rollers))
    market.schedule(BlocksReverted(7, 71 * S))
    market.schedule(commit(7, 75 * S, rollers, version=1))
    market.schedule(commit(8, 80 * S, rollers))
    market.run()
    return market
