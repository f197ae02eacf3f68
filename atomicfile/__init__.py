"""Writing a file whole or not at all: the one atomic writer of every package.

A file is written under a fresh name beside its path and renamed over it, so that a reader (or
a crash) sees the old file or the new one, never half of one; a write that fails leaves nothing
behind. `durable` also flushes the file to disk before the rename and the directory after it,
so that once the call returns a crash cannot take the new file back (keys, identities, the
deployment file, a fetched artifact); caches and measurements, which are rebuilt if lost, skip
the two fsyncs.

Its own package, below zkp and p2p, because both write files so and neither may import the
other; it imports nothing of provernet's.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import IO


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike, mode: str = "wb", *, durable: bool = False,
                private: bool = False, encoding: str | None = None) -> Iterator[IO]:
    """A file opened in `mode` ("wb" or "w") whose content replaces `path` when the block ends
    without an exception; on one, `path` is left as it was. `private` creates it 0600 from the
    start (a key is never readable by others, even briefly); else as `open` would (0666 less the
    umask). The parent directory must exist."""
    path = Path(path)
    # O_EXCL on a random name: a fresh file of ours, whatever else writes beside it.
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600 if private else 0o666)
    try:
        with os.fdopen(fd, mode, encoding=encoding) as file:
            yield file
            file.flush()
            if durable:
                os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    if durable:
        _fsync_directory(path.parent)


def write_atomically(path: str | os.PathLike, data: bytes | str, *, durable: bool = False,
                     private: bool = False) -> None:
    """`data` (text is written as UTF-8) as the whole content of `path` (`atomic_file`)."""
    text = isinstance(data, str)
    with atomic_file(path, "w" if text else "wb", durable=durable, private=private,
                     encoding="utf-8" if text else None) as file:
        file.write(data)


def _fsync_directory(directory: Path) -> None:
    """The rename itself survives a crash only once its directory is on disk; best effort where
    a directory cannot be opened or synced (some file systems refuse both)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
