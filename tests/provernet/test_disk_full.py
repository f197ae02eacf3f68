"""A full disk under each node's database: the write it refuses fails in one line, and everything
stored before it is there after a restart, nothing of the refused write.

The disk is really full: a small tmpfs mounted in a user and mount namespace of its own
(`unshare`, which needs no privilege where unprivileged user namespaces are enabled, as here and
in CI), filled with a ballast file but for a few pages. In it a process opens the node's store
and writes records until the disk refuses one, printing each record as its write returns (what
the node accepted); the ballast is then deleted (the operator frees space) and a new process, the
restarted node, opens the store and lists what it holds.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]
#: The tmpfs: room for a node's new database (the sequencer's holds the genesis tree) and ballast.
TMPFS_SIZE = "4m"
#: Room the ballast leaves: a few SQLite pages, so that a few writes land before the disk is full.
ROOM = 64 * 1024
#: Writes a node is given to fill the room: far more than fit.
MOST_WRITES = 2_000

DRIVER = r'''
import json, os, subprocess, sys
from pathlib import Path

sys.path.insert(0, TESTS_SEQUENCER)
node, directory, phase = sys.argv[1], Path(sys.argv[2]), sys.argv[3]


def open_node():
    """The node's store: (write record i and return its key, the keys it holds, close)."""
    if node == "sequencer":
        from sequencer_fakes import GENESIS, Wallet
        from sequencer.circuit_inputs import SMALL
        from sequencer.store import Store
        from sequencer.transactions import DEVNET_CHAIN_ID
        from sequencer.wire import transfer_hash
        store, wallet = Store.open(directory, SMALL, GENESIS), Wallet(0)

        def write(i):
            transfer = wallet.pay(1, 1, nonce=i)
            key = transfer_hash(transfer, DEVNET_CHAIN_ID)
            store.add_transfers([(key, transfer)])
            return key
        return write, lambda: [t.hash for t in store.pending_transfers()], store.close
    if node == "coordinator":
        from coordinator.store import CoordinatorStore
        store = CoordinatorStore.open(directory)

        def write(i):
            store.set_meta(f"accepted-{i}", "x" * 1000)
            return f"accepted-{i}"
        return (write, lambda: [f"accepted-{i}" for i in range(MOST_WRITES)
                                if store.meta(f"accepted-{i}") is not None], store.close)
    from roller.journal import JOURNAL_NAME, Journal, TaskOffer
    journal = Journal.open(directory / JOURNAL_NAME)

    def write(i):
        journal.offer(TaskOffer(
            task_id=i.to_bytes(32, "big"), coordinator="0x2c7536E3605D9C16a7a3D7b1898e529396a65c23",
            rollup="0x5FbDB2315678afecb367f032d93F642f64180aa3", kind="block", index=i + 1, round=0,
            seed=bytes(32), statement=bytes(32), slots=1, open=False, assigned_at=1_000,
            deadline=1_030, close_at=1_060, circuit=bytes(32), inputs=b"{}" + b" " * 1000, units=1))
        return i + 1
    return write, lambda: [t.key.index for t in journal.history(limit=MOST_WRITES)], journal.close


if phase == "fill":
    write, _, close = open_node()
    ballast = directory / "ballast"
    with open(ballast, "wb", buffering=0) as file:
        try:
            while True:
                file.write(bytes(4096))
        except OSError:  # full
            pass
    os.truncate(ballast, max(0, ballast.stat().st_size - ROOM))
    for i in range(MOST_WRITES):
        try:
            key = write(i)
        except Exception as error:
            print(json.dumps({"refused": i, "error": type(error).__name__, "message": str(error),
                              "p2p": type(error).__module__}), flush=True)
            break
        print(json.dumps({"accepted": key}), flush=True)
    close()
elif phase == "read":
    _, read, close = open_node()
    print(json.dumps({"held": read()}))
    close()
else:  # the namespace's first process: mount, fill, free the space, restart
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={TMPFS_SIZE}", "tmpfs", str(directory)],
                   check=True)
    fill = subprocess.run([sys.executable, __file__, node, str(directory), "fill"],
                          capture_output=True, text=True)
    print(json.dumps({"fill": fill.stdout.splitlines(), "fill_stderr": fill.stderr}))
    (directory / "ballast").unlink()
    read = subprocess.run([sys.executable, __file__, node, str(directory), "read"],
                          capture_output=True, text=True)
    print(json.dumps({"read": read.stdout, "read_stderr": read.stderr}))
'''


@pytest.mark.parametrize("node", ["sequencer", "coordinator", "roller"])
def test_a_full_disk_refuses_a_write_in_one_line_and_loses_nothing_stored_before(tmp_path, node):
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER.replace("TESTS_SEQUENCER", repr(str(TESTS / "sequencer")))
                      .replace("TMPFS_SIZE", repr(TMPFS_SIZE)).replace("ROOM", str(ROOM))
                      .replace("MOST_WRITES", str(MOST_WRITES)))
    disk = tmp_path / "disk"
    disk.mkdir()
    ran = subprocess.run(["unshare", "--user", "--map-root-user", "--mount", sys.executable,
                          str(driver), node, str(disk), "namespace"],
                         capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0, ran.stderr
    fill, read = (json.loads(line) for line in ran.stdout.splitlines())
    records = [json.loads(line) for line in fill["fill"]]
    accepted = [r["accepted"] for r in records if "accepted" in r]
    (refused,) = [r for r in records if "refused" in r]
    assert "Traceback" not in fill["fill_stderr"], fill["fill_stderr"]
    assert len(accepted) >= 1 and refused["refused"] == len(accepted)
    assert refused["error"] == "DatabaseUnwritable" and refused["p2p"] == "p2p.database"
    assert "\n" not in refused["message"]
    assert refused["message"].startswith(f"cannot write to the database {disk}/")
    assert refused["message"].endswith(": database or disk is full; free space on its disk, then "
                                       "restart: what was stored before is kept")
    assert read["read_stderr"] == ""
    assert sorted(json.loads(read["read"])["held"]) == sorted(accepted)
