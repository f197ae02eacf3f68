"""The node's admission policy (`roller.abc.AdmissionPolicy`): which checked tasks it takes.

A task that passed the protocol's checks is declined when its circuit is not one fetched and
checked against its rollup's verifiers (`circuit_mismatch`), when its inputs are not what L1
holds for this roller (`roller.l1.check_inputs`), or when `capacity.Admission` finds no time for
it among the tasks accepted and not yet proven (`unmeasured`, `too_slow`, `at_capacity`), with
as many provers as the node has now: `max_concurrent_tasks`, or a farm's live workers (none:
`at_capacity`). A
block task declined as `unmeasured` has its inputs sent to the circuits service to measure the
speed on: with no sample input from the node, a task's own inputs are a valid block.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import trio

from p2p.messages import BLOCK_TASK
from roller import capacity
from roller.capacity import Admission, ProvingSpeed, Work, pending_work
from roller.circuits import Calibrate, Circuits
from roller.config import RollerConfig
from roller.discovery import ServedRollup
from roller.journal import Journal, TaskOffer
from roller.l1 import check_inputs
from roller.session import TaskRefused


class CheckedAdmission:
    """Takes a task when its circuit, its inputs and the time left allow; see the module
    docstring."""

    #: the tasks it takes are proven
    delivers = True

    def __init__(self, config: RollerConfig, address: str, journal: Journal, speed: ProvingSpeed,
                 circuits: Circuits, rollups: Mapping[str, ServedRollup],
                 calibrate: trio.MemorySendChannel[Calibrate], clock: Callable[[], float],
                 concurrency: Callable[[], int]):
        self._config = config
        #: how many tasks can be proven at once now (blocking): the config's, or a farm's live
        #: workers
        self._concurrency = concurrency
        self._address = address
        self._journal = journal
        self._speed = speed
        self._circuits = circuits
        self._rollups = rollups
        self._calibrate = calibrate
        self._clock = clock

    async def refusal(self, offer: TaskOffer) -> TaskRefused | None:
        refusal = await self._unprovable(offer)
        return refusal if refusal is not None else await self._no_time(offer)

    async def _unprovable(self, offer: TaskOffer) -> TaskRefused | None:
        """Why the task cannot be taken whatever the load: its circuit, its inputs against L1."""
        entry = self._circuits.get(offer.circuit)
        if entry is None or offer.rollup not in entry.verdicts:
            return TaskRefused("circuit_mismatch",
                               f"circuit {offer.circuit.hex()[:16]} is none this roller has "
                               f"fetched and checked against rollup {offer.rollup}'s verifiers "
                               "(yet)")
        problem = entry.verdicts[offer.rollup]
        if problem is not None:
            return TaskRefused("circuit_mismatch", problem)
        try:
            await trio.to_thread.run_sync(check_inputs, self._rollups[offer.rollup], offer,
                                          self._address)
        except TaskRefused as exc:
            return exc
        return None

    async def _no_time(self, offer: TaskOffer) -> TaskRefused | None:
        """`capacity.Admission` on the accepted tasks still needing the prover."""
        concurrent = await trio.to_thread.run_sync(self._concurrency)
        if concurrent == 0:
            return TaskRefused("at_capacity", "no prover available: the farm has no live, "
                                              "trusted worker")
        speeds = await trio.to_thread.run_sync(self._speed.snapshot)
        in_flight = pending_work(await trio.to_thread.run_sync(self._journal.unfinished))
        admission = Admission(speeds, concurrent, self._config.safety_margin)
        decision = admission.decide(Work.of(offer), self._clock(), in_flight)
        if not isinstance(decision, capacity.Decline):
            return None
        if decision.code == "unmeasured" and offer.kind == BLOCK_TASK:
            entry = self._circuits.get(offer.circuit)
            if entry is not None and entry.usable_for(offer.rollup) and not entry.calibrating:
                await self._calibrate.send(Calibrate(offer.circuit, offer.inputs))
        return TaskRefused(decision.code, decision.reason)
