"""How many block proofs a roller farm makes a second: `provernet bench farm`.

A throwaway PostgreSQL server (`p2p.postgres_server.run_postgres`) holds the farm; the roller's
side is the node's own `roller.farm.prover.FarmProver` (which publishes the small block circuit
and verifies every proof a worker hands back), and the workers are N real `provernet roller
worker` processes on the CPU backend, T threads each. Their start-up (imports, fetching and
loading the circuit) is not measured: the measurement begins once all N are live.

Three figures, in this order, on the same machine in the same run:

1. the anchor, proving in this process with `roller.proving.BlockProver` on T threads, one
   empty block after another for the window: seconds per proof and proofs/s without a farm;
2. the farm's latency with one job in flight at a time (LATENCY_PROOFS proofs, one after the
   other, through one FarmProver): what one task waits. Less the anchor's seconds per proof,
   this is what the farm adds to each task (`overhead_ms`): the queue's round trips (submit,
   notify, claim, commit, notify, read back) and the roller's second verification of the
   worker's proof. On a shared machine the anchor's speed may drift from the workers', so it is
   also given less the workers' own proving time in those very jobs, as they report it
   (`queue_ms`);
3. the throughput: N + 1 client threads, each with its own FarmProver (one connection, one
   thread), proving empty blocks for the window, so that a job is always queued when a worker
   finishes one; proofs completed within the window, over the window.

Every proof the farm returns has been verified by FarmProver (a wrong one quarantines its
worker, which then stops). A worker process that exits stops the measurement at once
(`FarmBenchError`), rather than leaving its jobs to wait out FarmProver's patience. The server
and the workers are stopped whatever happens, a Ctrl-C or an error included.
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import trio

from p2p.postgres_server import run_postgres
from provernet.calibration import empty_block_inputs
from provernet.services import farm_worker_command
from provernet.views import machine
from roller.farm.prover import FarmProver
from roller.farm.queue import FarmQueue
from roller.proving import BlockProver
from zkp import native
from zkp.builds import build_block_circuit
from zkp.cache import default_cache_dir

PROFILE = "small"
#: the roller the proofs are bound to: any address will do, as nothing is signed here
ADDRESS = "0x" + "be" * 20
#: seconds N worker processes may take to import, fetch and load the circuit and register,
#: all at once on a small machine
WORKER_START_S = 180.0
#: seconds a worker may take to stop after SIGTERM before it is killed
WORKER_STOP_S = 10.0
#: proofs through the farm one at a time for its latency: enough to average out a notification
#: that comes late, few enough to leave the window most of the run
LATENCY_PROOFS = 5
#: the farm's database on the throwaway server
DATABASE = "bench_farm"
#: seconds between looks at the worker processes while the farm proves: a worker that died
#: would leave its jobs waiting for FarmProver's CALIBRATION_WAIT (10 minutes)
WATCH_S = 0.5


T = TypeVar("T")


class FarmBenchError(Exception):
    """The farm could not be measured: a worker did not start, or died."""


@dataclass(frozen=True)
class FarmSpeed:
    workers: int
    threads_per_worker: int
    #: the throughput window, and the proofs completed within it
    seconds: float
    proofs: int
    proofs_per_s: float
    #: seconds per proof with one job in flight at a time, through the farm and in process
    farm_latency_s: float
    in_process_latency_s: float
    #: the workers' own seconds per proof (witness, proof, their check) in those farm proofs
    worker_proof_s: float
    #: cores, CPU model and the load average at the end (`provernet.views.machine`)
    machine: str
    #: the 1-minute load average before the run: others' work on a shared machine
    load_average: float

    @property
    def in_process_proofs_per_s(self) -> float:
        return 1 / self.in_process_latency_s

    @property
    def overhead_ms(self) -> float:
        """What the farm adds to one task: its latency less a proof's in process."""
        return (self.farm_latency_s - self.in_process_latency_s) * 1000

    @property
    def queue_ms(self) -> float:
        """The same, less the workers' own proving time in the very same jobs rather than the
        anchor's: the queue's round trips and the roller's check, free of the drift of a
        shared machine's speed between the anchor and the farm."""
        return (self.farm_latency_s - self.worker_proof_s) * 1000

    def as_json(self) -> dict:
        return {"workers": self.workers, "threads_per_worker": self.threads_per_worker,
                "seconds": round(self.seconds, 3), "proofs": self.proofs,
                "proofs_per_s": round(self.proofs_per_s, 3),
                "farm_latency_s": round(self.farm_latency_s, 3),
                "in_process_latency_s": round(self.in_process_latency_s, 3),
                "in_process_proofs_per_s": round(self.in_process_proofs_per_s, 3),
                "overhead_ms": round(self.overhead_ms),
                "worker_proof_s": round(self.worker_proof_s, 3),
                "queue_ms": round(self.queue_ms), "machine": self.machine,
                "load_average": round(self.load_average, 2)}


def measure(workers: int, seconds: float, threads: int, cache_dir: Path | None = None,
            progress: Callable[[str], None] = lambda _: None) -> FarmSpeed:
    """Start a farm of `workers` processes on `threads` threads each, measure it for `seconds`
    (and the anchor for as long), and stop it."""
    load_average = os.getloadavg()[0]
    progress(f"building the {PROFILE} block circuit")
    build = build_block_circuit(PROFILE, cache_dir or default_cache_dir())
    inputs = empty_block_inputs(ADDRESS)(build.name)
    with ExitStack() as stack:
        progress("starting PostgreSQL")
        server = stack.enter_context(run_postgres())
        url = server.create_database(DATABASE)
        directory = Path(stack.enter_context(tempfile.TemporaryDirectory(
            prefix="provernet-bench-farm-")))
        progress("publishing the circuit")
        # One FarmProver per client thread: each holds one connection, used by one thread.
        provers = [FarmProver(build, url) for _ in range(workers + 1)]
        for prover in provers:
            stack.callback(prover.close)
        progress(f"starting {workers} workers")
        farm = stack.enter_context(_workers(url, directory, workers, threads))

        progress(f"proving in process on {threads} threads for {seconds:g} s")
        in_process = _in_process(build, inputs, threads, seconds)
        progress(f"proving {LATENCY_PROOFS} blocks on the farm, one at a time")
        farm.run(_concurrently, provers[:workers], inputs, 1)  # each worker's first proof
        before, start = farm.busy(), time.perf_counter()
        farm.run(_concurrently, provers[:1], inputs, LATENCY_PROOFS)
        farm_latency = (time.perf_counter() - start) / LATENCY_PROOFS
        worker_proof = (farm.busy() - before) / LATENCY_PROOFS
        progress(f"keeping {workers} workers busy for {seconds:g} s")
        proofs = farm.run(_throughput, provers, inputs, seconds)
    return FarmSpeed(workers, threads, seconds, proofs, proofs / seconds, farm_latency,
                     in_process, worker_proof, machine(), load_average)


def _in_process(build, inputs: dict, threads: int, seconds: float) -> float:
    """Seconds per proof of the node's own prover on `threads` threads, proving for `seconds`
    after a first proof (not counted)."""
    before = native.threads
    native.threads = threads
    try:
        prover = BlockProver(build, "cpu")
        prover.prove_block(inputs, ADDRESS)
        proofs, start = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - start) < seconds:
            prover.prove_block(inputs, ADDRESS)
            proofs += 1
    finally:
        native.threads = before
    return elapsed / proofs


async def _concurrently(provers: list[FarmProver], inputs: dict, each: int) -> None:
    """`each` proofs through every one of `provers`, one after another on each, all at once."""

    async def client(prover: FarmProver) -> None:
        for _ in range(each):
            await _prove(prover, inputs, limiter)

    limiter = trio.CapacityLimiter(len(provers))
    async with trio.open_nursery() as nursery:
        for prover in provers:
            nursery.start_soon(client, prover)


async def _throughput(provers: list[FarmProver], inputs: dict, seconds: float) -> int:
    """Proofs completed within `seconds` by clients proving on every one of `provers` until
    then; a proof in flight at the end is waited for but not counted."""
    completed = 0
    deadline = trio.current_time() + seconds

    async def client(prover: FarmProver) -> None:
        nonlocal completed
        while trio.current_time() < deadline:
            await _prove(prover, inputs, limiter)
            if trio.current_time() <= deadline:
                completed += 1

    limiter = trio.CapacityLimiter(len(provers))
    async with trio.open_nursery() as nursery:
        for prover in provers:
            nursery.start_soon(client, prover)
    return completed


async def _prove(prover: FarmProver, inputs: dict, limiter: trio.CapacityLimiter) -> None:
    """One verified proof through the farm, in a thread of its own (trio's default limit of 40
    threads would cap a large farm's clients)."""
    # Abandoned on cancellation (Ctrl-C): the farm is stopped under it.
    await trio.to_thread.run_sync(prover.prove_block, inputs, ADDRESS, limiter=limiter,
                                  abandon_on_cancel=True)


@dataclass
class _Workers:
    """The farm's worker processes and a connection to it."""

    queue: FarmQueue
    directory: Path
    processes: list[subprocess.Popen]

    def run(self, clients: Callable[..., Awaitable[T]], *args: Any) -> T:
        """trio.run(clients, *args), stopped with FarmBenchError if a worker dies meanwhile."""
        return trio.run(self._watched, clients, *args)

    async def _watched(self, clients: Callable[..., Awaitable[T]], *args: Any) -> T:
        died = None
        async with trio.open_nursery() as nursery:

            async def watch() -> None:
                nonlocal died
                while (died := self.dead()) is None:
                    await trio.sleep(WATCH_S)
                nursery.cancel_scope.cancel()

            nursery.start_soon(watch)
            result = await clients(*args)
            nursery.cancel_scope.cancel()
        if died is not None:
            raise FarmBenchError(died)
        return result

    def dead(self) -> str | None:
        """Which worker exited, and what it said; None while all run."""
        for i, process in enumerate(self.processes):
            if process.poll() is not None:
                return (f"farm worker w{i} exited with status {process.returncode}: "
                        f"{self.log(i)}")
        return None

    def busy(self) -> float:
        """Seconds the workers have spent proving, as they report it (`roller workers`)."""
        return sum(w.seconds_per_job * w.jobs for w in self.queue.workers() if w.jobs)

    def log(self, i: int, limit: int = 2000) -> str:
        return (self.directory / f"w{i}.log").read_text(errors="replace")[-limit:]


@contextmanager
def _workers(url: str, directory: Path, count: int, threads: int) -> Iterator[_Workers]:
    """`count` worker processes, live on the farm for the duration of the block, stopped
    (SIGTERM, then SIGKILL) afterwards whatever happens."""
    farm = _Workers(FarmQueue.open(url, "bench"), directory, [])
    try:
        for i in range(count):
            with open(directory / f"w{i}.log", "wb") as log:
                farm.processes.append(subprocess.Popen(
                    farm_worker_command(url, f"w{i}", directory / f"w{i}", threads=threads),
                    stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL))
        deadline = time.monotonic() + WORKER_START_S
        while (live := farm.queue.capacity()) < count:
            if (died := farm.dead()) is not None:
                raise FarmBenchError(died)
            if time.monotonic() > deadline:
                raise FarmBenchError(f"{count - live} of {count} farm workers did not "
                                     f"register within {WORKER_START_S:g} s: {farm.log(0)}")
            time.sleep(0.2)
        yield farm
    finally:
        farm.queue.close()
        for process in farm.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in farm.processes:
            try:
                process.wait(timeout=WORKER_STOP_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()



