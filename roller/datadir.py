"""The roller's data directory and the lock that keeps a second roller off it: every node's lock
(p2p/datadir.py) on DATADIR/roller.lock.

Two rollers on one directory would share one key and one journal: both would accept the same
task, and both would resume it after a restart.
"""

from __future__ import annotations

from functools import partial

from p2p.datadir import DataDirLock as NodeDataDirLock
from p2p.datadir import ensure_datadir, lock_name

__all__ = ["LOCK_NAME", "DataDirLock", "ensure_datadir"]

LOCK_NAME = lock_name("roller")
#: `DataDirLock(datadir)`: held for the roller's lifetime (`with`, or `release()`)
DataDirLock = partial(NodeDataDirLock, node="roller")
