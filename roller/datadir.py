"""The roller's data directory and the lock that keeps a second roller off it.

Two rollers on one directory would share one key and one journal: both would accept the same
task, and both would resume it after a restart. The lock is an exclusive `flock` on
DATADIR/roller.lock, held for the node's lifetime; the kernel releases it when the process dies,
even by SIGKILL, so a crash never leaves a stale lock behind. The holder writes its pid into the
file so that the refusal can name it.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType

from roller.errors import DataDirError, DataDirLocked

LOCK_NAME = "roller.lock"


def ensure_datadir(datadir: Path) -> Path:
    """Create the directory private to its owner (it holds the keystore); an existing one is
    left as the operator set it."""
    try:
        if not datadir.is_dir():
            datadir.mkdir(mode=0o700, parents=True)
            datadir.chmod(0o700)  # mkdir's mode is filtered by the umask
    except OSError as exc:
        raise DataDirError(f"cannot create data directory {datadir}: {exc.strerror}") from None
    return datadir


class DataDirLock:
    """An exclusive lock on DATADIR/roller.lock; `with DataDirLock(d):` or `release()`."""

    def __init__(self, datadir: Path):
        ensure_datadir(datadir)
        self.path = datadir / LOCK_NAME
        try:
            self._fd: int | None = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise DataDirError(f"cannot open lock file {self.path}: {exc.strerror}") from None
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.pread(self._fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(self._fd)
            raise DataDirLocked(
                f"another roller (pid {owner}) is using {datadir} (lock {self.path}); stop it "
                "or use another --datadir") from None
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, f"{os.getpid()}\n".encode(), 0)
        os.fsync(self._fd)

    def release(self) -> None:
        """Closing the descriptor drops the lock. The file stays: unlinking it would let a third
        process lock a new inode while a second still waits on the old one."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> DataDirLock:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.release()
