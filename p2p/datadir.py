"""A node's data directory, and the lock that keeps a second process off it.

Every node (sequencer, coordinator, roller) keeps what must survive a restart in its data
directory; two processes on one directory would share one key and one database, and each would
act on what the other wrote (two sequencers building two different block b, two rollers resuming
one task). So a node takes this lock before it reads anything there, and holds it for its
lifetime: an exclusive `flock` on DATADIR/NODE.lock. The kernel releases it when the process dies,
even by SIGKILL, so a crash never leaves a stale lock behind. The holder writes its pid into the
file so that a refusal can name it.

A directory the node cannot create or write is refused here too, at start, in one line, rather
than at the first write the node accepts work for.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType

from p2p.errors import P2PError


class DataDirError(P2PError):
    """The data directory cannot be created or written."""


class DataDirLocked(DataDirError):
    """Another process holds the data directory's lock."""


def lock_name(node: str) -> str:
    """The lock file of a `node` ("sequencer", "coordinator", "roller") in its directory."""
    return f"{node}.lock"


def ensure_datadir(datadir: Path) -> Path:
    """Create the directory private to its owner (it holds keys); an existing one is left as
    the operator set it."""
    try:
        if not datadir.is_dir():
            datadir.mkdir(mode=0o700, parents=True)
            datadir.chmod(0o700)  # mkdir's mode is filtered by the umask
    except OSError as exc:
        raise DataDirError(f"cannot create data directory {datadir}: {exc.strerror}") from None
    return datadir


class DataDirLock:
    """An exclusive lock on DATADIR/NODE.lock; `with DataDirLock(d, node):` or `release()`."""

    def __init__(self, datadir: Path, node: str):
        ensure_datadir(datadir)
        self.path = datadir / lock_name(node)
        try:
            self._fd: int | None = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise DataDirError(f"cannot write in data directory {datadir} (lock file "
                               f"{self.path}): {exc.strerror}") from None
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.pread(self._fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(self._fd)
            raise DataDirLocked(
                f"another {node} (pid {owner}) is using {datadir} (lock {self.path}); stop it "
                "or use another --datadir") from None
        try:
            # Not synced: the pid only names a running holder, and the kernel drops the lock of
            # a dead one, whatever the file says.
            os.ftruncate(self._fd, 0)
            os.pwrite(self._fd, f"{os.getpid()}\n".encode(), 0)
            _check_writable(datadir)
        except OSError as exc:  # a full disk, a read-only or immutable directory
            self.release()
            raise DataDirError(f"cannot write in data directory {datadir}: {exc.strerror}") from None

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


def _check_writable(datadir: Path) -> None:
    """The lock file may be an old one, writable in a directory that no longer is (its mode
    changed since, or it is mounted read-only): make a file there, so that a node that could
    not create its database, journal or keys is refused now. Raises the OSError."""
    probe = datadir / f".write-check-{os.getpid()}"
    probe.touch(mode=0o600)
    probe.unlink()


def refuse_if_unusable(datadir: Path, node: str) -> None:
    """Refuse now, in one line, a directory another process holds or this one cannot write:
    a node's command checks this before it connects to L1, asks for a password or builds a
    circuit. The node takes the lock for its lifetime when it opens its store; a process that
    took it in between is refused there."""
    DataDirLock(datadir, node).release()
