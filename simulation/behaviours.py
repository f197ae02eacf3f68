"""The catalogue of roller behaviours: how a roller answers a task the coordinator assigns it.

Each behaviour is a small class whose docstring states the attack (or the honest conduct) it
models. A behaviour sees what a real roller sees (the task, its deadline, its slots, the round's
draw, which anyone can recompute from public data, and its own machine's queue) and answers with a
`Response`; it also sees every task that opens to all staked rollers after its drawn rounds
(`respond_open`). The engine (`simulation.engine`) turns that into the messages the
coordinator's core receives, at the virtual times they would arrive. Behaviours never touch the
market: whatever a behaviour does, the coordinator's real decision core and the ledger's real
rules judge it.

Scenario knobs: a `[[rollers]]` entry takes the keys every entry has (behaviour, count, profile,
stake, label) plus the `knobs` of its behaviour, checked by name and type.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from market_contracts.rules import MarketParams, RewardMode, TaskKind

#: The share of a task's window (assignment to deadline) an admitting roller keeps spare, as the
#: real roller's default (`roller.capacity.Admission.safety_margin`).
ADMISSION_MARGIN = 0.2


class Response(enum.Enum):
    #: decline before accepting: no outcome, no fault (market-spec.md)
    DECLINE = "decline"
    #: accept, prove on the machine, submit the valid proof when it is done
    PROVE = "prove"
    #: accept and submit a proof that does not verify, at once (no proving)
    GARBAGE = "garbage"
    #: accept, wait for another roller's valid proof of the task, submit it as its own
    COPY = "copy"
    #: accept, then do nothing
    IDLE = "idle"


@dataclass(frozen=True, slots=True)
class Offer:
    """A task as the roller sees it when the assignment reaches it (times in milliseconds)."""

    kind: TaskKind
    seed: bytes
    #: the slots this roller holds in the round (a roller drawn k times holds k)
    slots: int
    #: (roller, slots) for every roller drawn in this round, in first-slot order (public: anyone
    #: can recompute the draw)
    selection: tuple[tuple[str, int], ...]
    assigned_at: int
    deadline: int
    #: when a proof started now would reach the coordinator: the machine's queue, the profile's
    #: mean proving time and the network delay (the roller's own estimate, not the outcome)
    estimated_arrival: int


@dataclass(frozen=True, slots=True)
class OpenOffer:
    """A task open to every staked roller (its drawn rounds all failed): no holders, no deadline,
    the first valid proof is paid."""

    kind: TaskKind
    #: whether a proof started now would start at once (a prover of the machine is free)
    machine_idle: bool


@dataclass(frozen=True)
class Knob:
    """One behaviour-specific scenario key."""

    name: str
    type: type
    #: None: the key is required
    default: object
    help: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class Context:
    """What a behaviour may know beyond its offers."""

    params: MarketParams
    #: the one random generator of the run: a behaviour's choices are reproducible from the seed
    rng: np.random.Generator
    #: the addresses of every identity of the same `[[rollers]]` entry (a cartel's members)
    peers: frozenset[str]


class Behaviour(ABC):
    name: ClassVar[str]
    knobs: ClassVar[tuple[Knob, ...]] = ()

    def __init__(self, settings: Mapping[str, object], context: Context):
        self.settings = settings
        self.context = context

    @classmethod
    def identities(cls, settings: Mapping[str, object]) -> int:
        """Addresses per machine."""
        return 1

    @classmethod
    def join_block(cls, settings: Mapping[str, object]) -> int:
        """The sequencer's commit slot (from 1) before which the roller stakes."""
        return 1

    def available(self, start: int, end: int) -> bool:
        """Whether the roller is online for all of [start, end]: an offline roller neither
        answers an assignment nor delivers a proof it was working on."""
        return True

    @abstractmethod
    def respond(self, offer: Offer) -> Response: ...

    def respond_open(self, offer: OpenOffer) -> Response:
        """What it does with an open task; by default nothing (`IDLE`: nothing to accept)."""
        return Response.IDLE


def admits(offer: Offer) -> bool:
    """The honest admission rule: accept only when the estimated arrival keeps the margin."""
    margin = ADMISSION_MARGIN * (offer.deadline - offer.assigned_at)
    return offer.estimated_arrival <= offer.deadline - margin


class Honest(Behaviour):
    """Accepts a task only when its machine can finish it in time (else declines, which costs
    nothing), proves it and submits a valid proof. The yardstick every attack is measured
    against."""

    name = "honest"

    def respond(self, offer: Offer) -> Response:
        return Response.PROVE if admits(offer) else Response.DECLINE

    def respond_open(self, offer: OpenOffer) -> Response:
        """A rescue when a prover is free: the open round pays the first valid proof, and a
        queued job would only delay the tasks it holds."""
        return Response.PROVE if offer.machine_idle else Response.IDLE


class Flaky(Honest):
    """An honest roller whose node goes offline now and then (exponential online and offline
    periods): while offline it answers nothing, and a proof in progress when it drops is lost.
    Not an attack: it measures what unreliability costs."""

    name = "flaky"
    knobs = (
        Knob("mean_online", float, 3600.0, "mean seconds online between outages", minimum=1),
        Knob("mean_offline", float, 600.0, "mean seconds per outage", minimum=1),
    )

    def __init__(self, settings: Mapping[str, object], context: Context):
        super().__init__(settings, context)
        #: (start, end) of each outage, in order, generated as far as asked
        self._outages: deque[tuple[int, int]] = deque()
        self._generated_to = 0

    def available(self, start: int, end: int) -> bool:
        self._generate_past(end)
        return not any(s <= end and start < e for s, e in self._outages_from(start))

    def _outages_from(self, start: int) -> deque[tuple[int, int]]:
        # Queries move forward in time: drop the outages over before this one starts.
        while self._outages and self._outages[0][1] <= start:
            self._outages.popleft()
        return self._outages

    def _generate_past(self, t: int) -> None:
        rng = self.context.rng
        while self._generated_to <= t:
            down = self._generated_to + _exponential_ms(rng, self.settings["mean_online"])
            up = down + _exponential_ms(rng, self.settings["mean_offline"])
            self._outages.append((down, up))
            self._generated_to = up


def _exponential_ms(rng: np.random.Generator, mean_seconds: float) -> int:
    return max(1, round(rng.exponential(mean_seconds) * 1000))


class Lazy(Behaviour):
    """Accepts every task and never delivers: it hopes to be paid for holding a slot. Every
    assignment ends `missed`, so its reputation falls to REP_MIN and it never wins a lottery."""

    name = "lazy"

    def respond(self, offer: Offer) -> Response:
        return Response.IDLE


class Reckless(Behaviour):
    """Accepts every task without asking whether it can finish in time, open ones too."""

    def respond(self, offer: Offer) -> Response:
        return Response.PROVE

    def respond_open(self, offer: OpenOffer) -> Response:
        return Response.PROVE


class Slow(Reckless):
    """Hardware too slow for the deadline (give it the `cpu` profile), accepting anyway in the
    hope that late proofs pay: they are `late` (or `missed` past LATE_WINDOW) and win nothing."""

    name = "slow"


class OverCommitter(Reckless):
    """Fast hardware, but accepts every task however long its queue: greed for assignments turns
    into late and missed proofs when tasks bunch up (give it a large stake, so it is drawn
    often)."""

    name = "overcommit"


class Invalid(Honest):
    """Submits proofs that do not verify (a cheater sending garbage instead of proving, or a
    broken prover that signs unchecked proofs), with probability `rate` per task; otherwise
    honest; open tasks alike. The signed proof is evidence, for a block or an aggregate: the
    stake is slashed and reputation set to 0."""

    name = "invalid"
    knobs = (Knob("rate", float, 1.0, "probability that a task gets an invalid proof",
                  minimum=0, maximum=1),)

    def respond(self, offer: Offer) -> Response:
        if self._cheats():
            return Response.GARBAGE
        return super().respond(offer)

    def respond_open(self, offer: OpenOffer) -> Response:
        if self._cheats():
            return Response.GARBAGE
        return super().respond_open(offer)

    def _cheats(self) -> bool:
        return self.context.rng.random() < self.settings["rate"]


class Sybil(Honest):
    """One machine's stake split evenly over `identities` addresses, each an honest roller. A
    proof is bound to its prover, so each identity computes its own proofs and the identities
    queue on the one machine. The `stake` of the entry is per machine. Asks whether splitting
    stake pays, as the spec claims it cannot (weight is linear in stake)."""

    name = "sybil"
    knobs = (Knob("identities", int, 4, "addresses per machine", minimum=2),)

    @classmethod
    def identities(cls, settings: Mapping[str, object]) -> int:
        return settings["identities"]


class Copycat(Behaviour):
    """Accepts, waits for another roller's valid proof of the same task and submits it as its
    own. The circuit binds the prover's address (the contract builds the public inputs with the
    signer as prover), so the copy does not verify for the copier: the coordinator's shell records
    an invalid proof, and the signed copy slashes the copier, block or aggregate. It leaves open
    tasks alone: there the first valid proof has already won."""

    name = "copycat"

    def respond(self, offer: Offer) -> Response:
        return Response.COPY


class Cartel(Honest):
    """Colluders (the identities of one `[[rollers]]` entry) who withhold valid proofs of the
    block tasks they expect to lose, to save the work. In split mode a share depends on nothing
    but the roller's own slots, so there is nothing to lose and nothing to learn: a member is
    honest. In lottery mode the tickets are drawn after settlement, so at assignment a member
    knows only the round's draw: it proves when the cartel holds more than `min_share` of the
    round's slots (its best estimate of the chance that a member wins the block, if everyone
    delivers: by default, when a member is more likely than not to win) and otherwise
    withholds: `decline` (before accepting: no outcome, no proving) or `silent` (accept and
    never deliver). Aggregations have no lottery: there it is honest."""

    name = "cartel"
    knobs = (Knob("withhold", str, "decline", "how a member withholds",
                  choices=("decline", "silent")),
             Knob("min_share", float, 0.5, "a member proves only when the cartel holds more than "
                  "this share of the round's slots (lottery mode)", minimum=0, maximum=1))

    def respond(self, offer: Offer) -> Response:
        response = super().respond(offer)
        if (response is not Response.PROVE or offer.kind is not TaskKind.BLOCK
                or self.context.params.reward_mode is not RewardMode.LOTTERY):
            return response
        peers = self.context.peers
        held = sum(slots for roller, slots in offer.selection if roller in peers)
        if held > self.settings["min_share"] * sum(slots for _, slots in offer.selection):
            return response
        return Response.DECLINE if self.settings["withhold"] == "decline" else Response.IDLE


class Newcomer(Honest):
    """An honest roller that stakes when the sequencer reaches commit slot `join_block`, starting
    at REP_INIT against incumbents whose reputation has grown: how long until it earns its
    share?"""

    name = "newcomer"
    knobs = (Knob("join_block", int, None, "commit slot before which it stakes", minimum=1),)

    @classmethod
    def join_block(cls, settings: Mapping[str, object]) -> int:
        return settings["join_block"]


CATALOGUE: dict[str, type[Behaviour]] = {
    cls.name: cls for cls in (Honest, Flaky, Lazy, Slow, Invalid, Sybil, Copycat, Cartel,
                              OverCommitter, Newcomer)
}
