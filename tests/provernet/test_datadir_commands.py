"""Each node's `run` refuses a data directory another process holds, and one it cannot write, in
one line and before it reaches L1, asks for a password or builds a circuit (none is given here:
the refusal must come first). The holder is the other node's own store or lock."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from datadir_processes import held_by_another_process, unwritable

from p2p.datadir import lock_name
from provernet.cli import cli

TESTS = Path(__file__).resolve().parents[1]
#: What takes each node's lock in the other process (`{dir}`: the node's directory), as the node
#: does: the sequencer's and the coordinator's stores, the roller's lock.
HOLDERS = {
    "sequencer": f"import sys; sys.path.insert(0, {str(TESTS / 'sequencer')!r}); "
                 "from sequencer_fakes import GENESIS; from sequencer.circuit_inputs import SMALL; "
                 "from sequencer.store import Store; store = Store.open({dir}, SMALL, GENESIS)",
    "coordinator": "from coordinator.store import CoordinatorStore; "
                   "store = CoordinatorStore.open({dir})",
    "roller": "from roller.datadir import DataDirLock; lock = DataDirLock({dir})",
}


def node_dir(node: str, datadir: Path) -> Path:
    """Where the node keeps its state: the sequencer and the coordinator in a folder of the
    data directory, the roller in the directory itself."""
    return datadir if node == "roller" else datadir / node


def run(node: str, datadir: Path):
    # Nothing listens on port 9, and the deployment file does not exist: reaching either would
    # fail differently.
    args = [node, "run", "--datadir", str(datadir), "--rpc-url", "http://127.0.0.1:9"]
    if node == "roller":
        args += ["--deployment", str(datadir / "no-deployment.json")]
    return CliRunner().invoke(cli, args, env={"PROVERNET_PASSWORD": None})


@pytest.mark.parametrize("node", ["sequencer", "coordinator", "roller"])
def test_a_node_refuses_a_directory_another_process_holds(tmp_path, node):
    directory = node_dir(node, tmp_path)
    directory.mkdir(exist_ok=True)
    code = "from pathlib import Path\n" + HOLDERS[node].format(dir=f"Path({str(directory)!r})")
    with held_by_another_process(code) as holder:
        result = run(node, tmp_path)
    assert result.exit_code == 1, result.output
    assert result.output == (f"Error: another {node} (pid {holder.pid}) is using {directory} "
                             f"(lock {directory / lock_name(node)}); stop it or use another "
                             "--datadir\n")


@pytest.mark.parametrize("node", ["sequencer", "coordinator", "roller"])
def test_a_node_refuses_a_directory_it_cannot_write(tmp_path, node):
    with unwritable(node_dir(node, tmp_path)) as directory:
        result = run(node, tmp_path)
    assert result.exit_code == 1, result.output
    assert result.output.startswith(f"Error: cannot write in data directory {directory}")
    assert result.output.count("\n") == 1

