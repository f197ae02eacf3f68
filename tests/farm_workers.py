"""A real farm for the tests: a database on the session's PostgreSQL server, and worker processes
(`provernet roller worker`, CPU backend, one thread each) started and killed by the test."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from provernet.services import farm_worker_command
from roller.farm.queue import FarmQueue, Worker

#: a worker process imports the command line and loads the circuit before it registers
WORKER_START_S = 60.0


@dataclass
class Farm:
    url: str
    directory: Path
    queue: FarmQueue
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    def start_worker(self, name: str, behaviour: str = "honest") -> subprocess.Popen:
        """A worker process, returned once it is registered and live."""
        live = len(self.live())
        log = open(self.directory / f"{name}.log", "wb")
        process = subprocess.Popen(
            farm_worker_command(self.url, name, self.directory / name, behaviour=behaviour),
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.processes[name] = process
        deadline = time.monotonic() + WORKER_START_S
        while len(self.live()) <= live:
            if process.poll() is not None:
                raise AssertionError(f"worker {name} exited: {self.log(name)}")
            if time.monotonic() > deadline:
                raise AssertionError(f"worker {name} did not register: {self.log(name)}")
            time.sleep(0.1)
        return process

    def kill(self, name: str) -> None:
        process = self.processes[name]
        process.send_signal(signal.SIGKILL)
        process.wait()

    def live(self) -> list[Worker]:
        return [w for w in self.queue.workers() if w.live]

    def worker(self, name: str) -> Worker:
        (found,) = [w for w in self.queue.workers() if w.name == name]
        return found

    def log(self, name: str) -> str:
        return (self.directory / f"{name}.log").read_text(errors="replace")[-3000:]


@contextmanager
def running_farm(url: str, directory: Path) -> Iterator[Farm]:
    directory.mkdir(parents=True, exist_ok=True)
    queue = FarmQueue.open(url, "test")
    farm = Farm(url, directory, queue)
    try:
        yield farm
    finally:
        for process in farm.processes.values():
            if process.poll() is None:
                os.kill(process.pid, signal.SIGKILL)
                process.wait()
        queue.close()
