"""Every node's data-directory lock (p2p/datadir.py): a second process is refused in one line
naming the directory and the holder's pid, a killed holder leaves no stale lock, and a directory
that cannot be created or written is refused at start."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from datadir_processes import held_by_another_process, unwritable

from p2p.datadir import DataDirError, DataDirLock, DataDirLocked, lock_name
from p2p.errors import P2PError


def hold(datadir: Path, node: str) -> str:
    """Code that takes `node`'s lock on `datadir`."""
    return (f"from pathlib import Path; from p2p.datadir import DataDirLock; "
            f"lock = DataDirLock(Path({str(datadir)!r}), {node!r})")


@pytest.mark.parametrize("node", ["sequencer", "coordinator", "roller"])
def test_a_second_process_is_refused_naming_the_directory_and_the_holder(tmp_path, node):
    with held_by_another_process(hold(tmp_path, node)) as holder:
        with pytest.raises(DataDirLocked) as refused:
            DataDirLock(tmp_path, node)
    message = str(refused.value)
    assert message == (f"another {node} (pid {holder.pid}) is using {tmp_path} (lock "
                       f"{tmp_path / lock_name(node)}); stop it or use another --datadir")
    assert isinstance(refused.value, P2PError)  # the command line shows it as one line
    DataDirLock(tmp_path, node).release()  # the kill released it


def test_a_killed_holder_leaves_no_stale_lock_and_the_next_one_writes_its_pid(tmp_path):
    with held_by_another_process(hold(tmp_path, "roller")) as holder:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        with DataDirLock(tmp_path, "roller") as lock:
            assert lock.path.read_text() == f"{os.getpid()}\n"


def test_two_locks_in_one_process_conflict_too(tmp_path):
    """A node that opened its store twice would be two writers: the lock is per open file."""
    with DataDirLock(tmp_path, "coordinator"):
        with pytest.raises(DataDirLocked, match=rf"pid {os.getpid()}\) is using"):
            DataDirLock(tmp_path, "coordinator")


def test_a_new_directory_is_made_private(tmp_path):
    datadir = tmp_path / "a" / "b"
    DataDirLock(datadir, "sequencer").release()
    assert datadir.stat().st_mode & 0o777 == 0o700


def test_a_directory_that_cannot_be_created_is_refused(tmp_path):
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(DataDirError, match=rf"^cannot create data directory {tmp_path}/file/node: "
                                           "Not a directory$"):
        DataDirLock(tmp_path / "file" / "node", "sequencer")


@pytest.mark.parametrize("had_a_lock_file", [False, True], ids=["new", "used before"])
def test_an_unwritable_directory_is_refused_at_start(tmp_path, had_a_lock_file):
    """Also one where a node ran before, whose old lock file is still writable: the node could
    not create its database or keys there."""
    datadir = tmp_path / "node"
    if had_a_lock_file:
        DataDirLock(datadir, "roller").release()
    with unwritable(datadir):
        with pytest.raises(DataDirError, match=rf"^cannot write in data directory {datadir}"
                                               r"( \(lock file .*\))?: (Operation not permitted|"
                                               "Permission denied)$"):
            DataDirLock(datadir, "roller")
        # refused, it holds nothing
    DataDirLock(datadir, "roller").release()
