"""The roller's side of a farm: `FarmProver`, the node's prover of a circuit when it proves on a
farm (`roller.abc.TaskProver`; one per circuit and pool slot, each with its own connection).

Made for a circuit, it publishes the circuit's key and wasm on the farm (`artifacts.publish`).
For a block task it checks the inputs here (JSON, bound to our address: nothing is sent that
would prove for another roller), submits them as a job whose priority is the task's deadline and
whose expiry is its close, and waits, woken by the workers' notifications.

What a worker hands back is checked here as our own proofs are, before the node signs it: the
proof must be of the build's proof system, its public inputs the task's (`PUBLIC_INPUTS` of its
input.json), and it must verify against the build's key. A result that fails any of these
quarantines its worker (`FarmQueue.quarantine`: never trusted again) and the job is queued again
for the others. A worker's error (the circuit refuses the inputs, say) is taken as the task's
only when no other live worker is left to try it; until then the job goes to another.

Deadlines: a job goes first to the earliest deadline, and a worker that dies mid-proof releases
it at once (`roller.farm.queue`), so another takes it. A task accepted and then given up counts
as missed (market-spec.md, "Outcomes": a refusal after accepting), and a late proof costs less
reputation than a miss (BETA_BPS < GAMMA_BPS), so the farm keeps trying through the late window,
as a roller proving by itself does: a job that no worker has taken by the task's close less the
time a proof takes here (the last one's) is withdrawn and the task given up then, still before the
close, so that the coordinator's next round need not wait for it; a job a worker holds is waited
for until the close.

Batches are aggregated here, not on the farm: aggregating needs no proving key, and its cost is
the verification the roller does anyway.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any

import structlog
import trio

from roller.errors import ProvingError
from roller.farm.artifacts import publish
from roller.abc import ProvingSite
from roller.farm.queue import FarmQueue, FarmUnavailable, JobState
from roller.journal import TaskOffer
from roller.metrics import RollerMetrics
from roller.proving import BlockResult, SelfVerifyingProver, block_inputs_for, public_inputs
from zkp.builds import CircuitBuild
from zkp.system import MalformedProof

log = structlog.get_logger(__name__)

#: seconds between two looks at a job when no notification comes (one may be missed while the
#: connection is busy); the notification that it is done ends the wait at once
LOOK_INTERVAL = 0.5
#: seconds a calibration proof (no task, so no deadline) may wait for the farm
CALIBRATION_WAIT = 600.0
#: seconds between two counts of the farm's workers for the metrics and /health
WATCH_INTERVAL = 5.0


class FarmTimeout(ProvingError):
    """The farm did not prove the task in time: no worker took it while the task's window left
    room for a proof, or the one that took it did not finish by the close."""


class FarmProver(SelfVerifyingProver):
    """Proves one circuit's blocks on the farm at `url`; see the module docstring."""

    def __init__(self, build: CircuitBuild, url: str, clock: Callable[[], float] = time.time):
        super().__init__(build)
        self._queue = FarmQueue.open(url, "roller")
        publish(self._queue, build)
        self._queue.listen_done()
        self.backend_description = f"farm {self._queue.where}"
        self._clock = clock
        #: seconds the last proof took on the farm, from its claim: a job not taken by its
        #: task's close less this would not make it
        self._last_seconds = 0.0

    def prove_task(self, task: TaskOffer, address: str) -> BlockResult:
        return self._prove(task.inputs, address, priority=task.deadline,
                           give_up_at=task.close_at, close_at=task.close_at)

    def prove_block(self, inputs: bytes | Mapping[str, Any], address: str) -> BlockResult:
        """A proof with no task behind it (calibration): waits up to CALIBRATION_WAIT, for the
        workers too (an operator may start them after the roller)."""
        until = self._clock() + CALIBRATION_WAIT
        return self._prove(inputs, address, priority=until, give_up_at=until, close_at=until)

    def close(self) -> None:
        """Its connection closed (the node's provers live as long as the node)."""
        self._queue.close()

    def _prove(self, inputs: bytes | Mapping[str, Any], address: str, *, priority: float,
               give_up_at: float, close_at: float) -> BlockResult:
        checked = block_inputs_for(inputs, address)
        expected = public_inputs(checked)
        data = inputs if isinstance(inputs, bytes) else json.dumps(checked).encode()
        job = self._queue.submit(self.build.zkey_hash, address, data, priority,
                                 close_at - self._clock())
        while True:
            state = self._queue.state(job)
            if state is None:
                raise FarmTimeout(f"job {job} is gone from the farm (expired and deleted)")
            if state.outcome is not None:
                result = self._judge(job, state, expected)
                if result is not None:
                    return result
                continue
            now = self._clock()
            if not state.claimed and now + self._last_seconds >= give_up_at:
                if self._queue.withdraw(job):
                    took = (f" (a proof takes {self._last_seconds:.1f} s)"
                            if self._last_seconds else "")
                    raise FarmTimeout(f"no farm worker took it in time{took}; given up before "
                                      "its window closes")
                continue  # taken, or done, meanwhile
            if now >= close_at:
                raise FarmTimeout(f"farm job {job} was taken but not finished by the task's "
                                  "close")
            self._queue.wait(min(LOOK_INTERVAL, close_at - now), payload=str(job))

    def _judge(self, job: int, state: JobState, expected: tuple[int, ...]) -> BlockResult | None:
        """The verified result of a done job; None when it was queued again."""
        outcome, worker = state.outcome, state.worker
        assert outcome is not None and worker is not None
        if state.quarantined:
            log.warning("farm result of a quarantined worker ignored", job=job, worker=worker)
            self._queue.requeue(job)
            return None
        if outcome.error is not None:
            self._queue.requeue(job)
            if self._queue.others_live(job) == 0 and self._queue.withdraw(job):
                raise ProvingError(f"farm worker {worker}: {outcome.error}")
            log.warning("farm worker could not prove; another will try", job=job,
                        worker=worker, error=outcome.error)
            return None
        start = time.perf_counter()
        proof, problem = self._check(outcome.proof_system, outcome.proof, outcome.public,
                                     expected)
        verify_seconds = time.perf_counter() - start
        if problem is not None:
            reason = f"returned a proof that {problem} (job {job})"
            log.error("farm worker quarantined", worker=worker, reason=reason)
            self._queue.quarantine(worker, reason)
            self._queue.requeue(job)
            return None
        self._queue.forget(job)
        service = state.service_seconds or outcome.witness_seconds + outcome.proving_seconds
        self._last_seconds = service
        return BlockResult(proof, expected, outcome.witness_seconds,
                           max(service - outcome.witness_seconds, 0.0), verify_seconds)

    def _check(self, proof_system: str | None, data: bytes | None,
               public: tuple[int, ...] | None, expected: tuple[int, ...]
               ) -> tuple[Any, str | None]:
        """A worker's result as a proof of this task, or why it is not one."""
        if proof_system != self.build.system or data is None:
            return None, f"is not of the circuit's proof system {self.build.system!r}"
        if public != expected:
            return None, "is for other public inputs than the task's"
        try:
            proof = self.system.decode(data)
        except MalformedProof as exc:
            return None, f"is malformed ({exc})"
        verdict = self.system.verify(self.vk, proof, expected)
        return proof, None if verdict.valid else f"does not verify ({verdict.reason})"


def farm_provers(url: str, clock: Callable[[], float] = time.time
                 ) -> Callable[[CircuitBuild, str], FarmProver]:
    """The node's `ProverFactory` on the farm at `url` (the backend is each worker's)."""

    def make(build: CircuitBuild, _backend: str) -> FarmProver:
        return FarmProver(build, url, clock)

    return make


def farm_site(queue: FarmQueue) -> ProvingSite:
    return ProvingSite("farm", f"farm {queue.where}",
                       "proving on the farm's workers (farm in roller.toml, or --farm)")


def farm_capacity(queue: FarmQueue, slots: int, metrics: RollerMetrics) -> int:
    """Tasks the farm proves at once now: its live, trusted workers, at most `slots`; none
    while its database cannot be reached (blocking). The count is also the node's metric."""
    try:
        live = queue.capacity()
    except FarmUnavailable as exc:
        log.warning("farm unreachable: taking no task", error=str(exc))
        live = 0
    metrics.set_farm_workers(live)
    return min(live, slots)


async def watch_farm(capacity: Callable[[], int], interval: float = WATCH_INTERVAL) -> None:
    """Count the farm's workers every `interval` seconds, so the metric and `/health` follow
    workers coming and going between tasks too."""
    while True:
        await trio.to_thread.run_sync(capacity)
        await trio.sleep(interval)
