"""The worker's side of a farm: `FarmWorker`, one process proving the farm's jobs, one at a time,
on one backend (`provernet roller worker --farm URL`).

At start it loads every circuit published on the farm (fetched by hash into its artifact store
and checked: `roller.farm.artifacts`) and keeps a prover of each, so that a job pays for its
proof and not for loading a key; a circuit published later is loaded with its first job. Then it
registers, with its backend's description, and from then on counts as the farm's capacity.

Each job is proven with the node's own prover (`make_prover`, default
`roller.proving.BlockProver`, which verifies its proof before handing it back) inside the claim's
transaction (`FarmQueue.claim`): if this process dies, the job is queued again at once. A job it
cannot prove (the circuit refuses the inputs, a circuit it cannot load) is handed back with the
reason; the roller then gives it to another worker. The worker never sees a key: a job is the
inputs and the roller's address, both public.

A worker that finds itself quarantined stops with `WorkerQuarantined`: its proofs were found
invalid, so its machine (or its GPU) needs looking at. A lost connection to the farm is retried
with back-off; the job it held is queued again by the server meanwhile.
"""

from __future__ import annotations

import socket
from pathlib import Path

import structlog
import trio

from p2p.artifacts import ArtifactStore
from p2p.backoff import Backoff
from roller.abc import BlockProverFactory, BlockProving
from roller.errors import ProvingError
from roller.farm.artifacts import ArtifactMismatch, load_circuit, published
from roller.farm.queue import FarmError, FarmQueue, FarmUnavailable, Job, Outcome
from roller.proving import BlockProver
from zkp.backends import select_backend
from zkp.errors import ZkpError
from zkp.system import system

log = structlog.get_logger(__name__)

#: seconds between looks at the queue when no notification comes (one may be missed across a
#: reconnection); a notification ends the wait at once
IDLE_LOOK = 5.0
#: reconnecting to a farm that cannot be reached: first delay, doubling up to the last
RECONNECT = Backoff(1.0, 30.0)


class WorkerQuarantined(FarmError):
    """The roller found this worker's proofs invalid: it stops, and its machine needs looking at."""


class FarmWorker:
    """See the module docstring."""

    def __init__(self, url: str, artifacts: Path, *, backend: str = "auto",
                 name: str | None = None, make_prover: BlockProverFactory = BlockProver):
        self._url = url
        self._store = ArtifactStore(artifacts)
        self._backend = backend
        self.name = name or socket.gethostname()
        self._make_prover = make_prover
        self._provers: dict[bytes, BlockProving] = {}
        #: this registration's id, once registered
        self.id: int | None = None
        #: jobs proven (or handed back with a reason) by this process
        self.jobs = 0

    async def run(self, *, task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED
                  ) -> None:
        """Prove jobs until cancelled; started with this registration's id."""
        description = (await trio.to_thread.run_sync(select_backend, self._backend)).describe()
        failures = 0
        while True:
            try:
                queue = await trio.to_thread.run_sync(FarmQueue.open, self._url, "worker")
            except FarmUnavailable as exc:
                failures += 1
                log.warning("farm unreachable; trying again", error=str(exc),
                            seconds=RECONNECT.delay(failures))
                await trio.sleep(RECONNECT.delay(failures))
                continue
            try:
                await self._serve(queue, description, task_status)
            except FarmUnavailable as exc:
                failures = 1
                log.warning("farm connection lost; reconnecting", error=str(exc))
                await trio.sleep(RECONNECT.delay(failures))
            finally:
                queue.close()
            if self.id is not None:  # registered, hence started: started once
                task_status = trio.TASK_STATUS_IGNORED

    async def _serve(self, queue: FarmQueue, description: str,
                     task_status: trio.TaskStatus[int]) -> None:
        for circuit in await trio.to_thread.run_sync(published, queue):
            await trio.to_thread.run_sync(self._prover, queue, circuit, abandon_on_cancel=True)
        self.id = await trio.to_thread.run_sync(queue.register, self.name, description)
        log.info("farm worker ready", worker=self.id, name=self.name, backend=description,
                 farm=str(queue.where), circuits=len(self._provers))
        task_status.started(self.id)
        while True:
            reason = await trio.to_thread.run_sync(queue.quarantined, self.id)
            if reason is not None:
                raise WorkerQuarantined(f"worker {self.id} ({self.name}) is quarantined: "
                                        f"{reason}. Check this machine's backend before "
                                        "starting it again")
            # Abandoned on cancellation: the process is stopping, its session ends with it and
            # the job it held is queued again.
            job = await trio.to_thread.run_sync(queue.claim, self.id,
                                                lambda job: self._prove(queue, job),
                                                abandon_on_cancel=True)
            if job is None:
                await trio.to_thread.run_sync(queue.wait, IDLE_LOOK, abandon_on_cancel=True)

    def _prove(self, queue: FarmQueue, job: Job) -> Outcome:
        """`job`'s proof, or why it cannot be made (blocking, in the claim's transaction)."""
        try:
            prover = self._prover(queue, job.circuit)
            result = prover.prove_block(job.inputs, job.address)
        except (ArtifactMismatch, ProvingError, ZkpError) as exc:
            log.warning("job not proven", job=job.id, error=str(exc))
            self.jobs += 1
            return Outcome(error=str(exc))
        sealed = system(prover.build.system).seal(result.proof)
        log.info("job proven", job=job.id, seconds=round(result.seconds, 3))
        self.jobs += 1
        return Outcome(sealed.system, sealed.data, tuple(result.public), result.witness_seconds,
                       result.proving_seconds + result.verify_seconds)

    def _prover(self, queue: FarmQueue, circuit: bytes) -> BlockProving:
        """The prover of `circuit`, loaded (and its artifacts fetched) the first time."""
        if circuit not in self._provers:
            build = load_circuit(queue, circuit, self._store)
            self._provers[circuit] = self._make_prover(build, self._backend)
            log.info("circuit loaded", circuit=build.name, zkey=circuit.hex()[:16])
        return self._provers[circuit]
