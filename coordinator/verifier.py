"""Block proofs verified for the coordinator: what arrives together is checked together, on
worker threads, so the trio loop never waits on a pairing.

Each of `threads` workers takes the proofs waiting (at most `max_batch`), waits up to `window`
seconds for more if it has fewer, and checks them with one `verify_batch` of the circuit's proof
system (`zkp.system`) in a thread; Groth16's native library releases the GIL, so the workers use
as many cores. A batch that fails is split until each invalid proof is found, so every proof gets
exactly the verdict the system's `verify` would give it alone. Under light load each proof goes alone, at once;
under heavy load proofs queue and the batches fill, which is when batching pays (one final
exponentiation per batch instead of per proof).

The hand-off is a zero-buffer channel: a proof waits in its session's task until a worker takes
it, so what waits is bounded by the sessions (each waits for its proof's verdict before it reads
its next message), and a worker gathering a batch takes every proof already waiting.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import trio

from coordinator.errors import CoordinatorError
from zkp.proof import VerificationKey
from zkp.system import ProofSystem
from zkp.verify import Verdict


@dataclass
class _Request:
    #: a proof of the verifier's system, decoded (`ProofSystem.open`)
    proof: Any
    inputs: Sequence[int]
    done: trio.Event = field(default_factory=trio.Event)
    verdict: Verdict | None = None


class ProofVerifier:
    """`await verify(proof, inputs)` from any task, while `run` runs in a nursery: proofs of
    `proof_system` against `vk`.

    `on_batch(size)` is told the size of each batch checked (for the metrics).
    """

    def __init__(self, proof_system: ProofSystem, vk: VerificationKey, *, threads: int,
                 max_batch: int, window: float, on_batch: Callable[[int], None] | None = None):
        if threads < 1 or max_batch < 1 or not window >= 0:
            raise CoordinatorError(
                f"verification needs at least 1 thread, a batch of at least 1 and a window of "
                f"at least 0 s, not {threads}, {max_batch} and {window}")
        self.proof_system = proof_system
        #: the key made ready once (`ProofSystem.prepare_key`)
        self.key = proof_system.prepare_key(vk)
        self.threads = threads
        self.max_batch = max_batch
        self.window = window
        self._on_batch = on_batch
        self._send, self._receive = trio.open_memory_channel[_Request](0)
        self._limiter = trio.CapacityLimiter(threads)

    async def run(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            for _ in range(self.threads):
                nursery.start_soon(self._worker)
            task_status.started()

    async def verify(self, proof: Any, inputs: Sequence[int]) -> Verdict:
        """The proof's verdict, as the proof system's `verify` gives it."""
        request = _Request(proof, inputs)
        await self._send.send(request)
        await request.done.wait()
        return request.verdict

    async def _worker(self) -> None:
        while True:
            batch = [await self._receive.receive()]
            await self._gather(batch)
            verdicts = await trio.to_thread.run_sync(
                self.proof_system.verify_batch, self.key, [(r.proof, r.inputs) for r in batch],
                limiter=self._limiter)
            if self._on_batch is not None:
                self._on_batch(len(batch))
            for request, verdict in zip(batch, verdicts, strict=True):
                request.verdict = verdict
                request.done.set()

    async def _gather(self, batch: list[_Request]) -> None:
        """Add to `batch` what is waiting, and what comes within the window, up to max_batch."""
        deadline = trio.current_time() + self.window
        while len(batch) < self.max_batch:
            try:
                batch.append(self._receive.receive_nowait())
                continue
            except trio.WouldBlock:
                pass
            if trio.current_time() >= deadline:
                return
            with trio.move_on_at(deadline):
                batch.append(await self._receive.receive())
