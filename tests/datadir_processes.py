"""Data directories as the lock and disk tests need them: held by another process, or unwritable
(tests/p2p/test_datadir.py, tests/provernet/test_datadir_commands.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

#: Seconds a holder waits to be killed: far longer than any test here.
HOLD_S = 120


@contextmanager
def held_by_another_process(code: str) -> Iterator[subprocess.Popen]:
    """A child process that runs `code` (which takes a lock), says so, and waits to be killed."""
    holder = subprocess.Popen(
        [sys.executable, "-c", f"{code}\nprint('locked', flush=True)\nimport time; time.sleep({HOLD_S})"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        yield holder
    finally:
        holder.kill()
        holder.wait()


@contextmanager
def unwritable(directory: Path) -> Iterator[Path]:
    """`directory`, which this process cannot write in for as long as the block lasts: mode 0500,
    or, for root, whom modes do not stop, the immutable attribute."""
    directory.mkdir(exist_ok=True)
    if os.geteuid() == 0:
        subprocess.run(["chattr", "+i", str(directory)], check=True)
        try:
            yield directory
        finally:
            subprocess.run(["chattr", "-i", str(directory)], check=True)
    else:
        directory.chmod(0o500)
        try:
            yield directory
        finally:
            directory.chmod(0o700)
