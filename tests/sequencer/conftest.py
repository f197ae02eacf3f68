"""circomlibjs, asked through Node: the reference our Poseidon, Baby Jubjub and EdDSA must match."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parent / "circomlibjs.mjs"
CIRCOMLIBJS = Path(__file__).resolve().parents[2] / "node_modules" / "circomlibjs"


@pytest.fixture(scope="session")
def circomlibjs():
    """ask({op: [args, ...]}) -> {op: [answer, ...]}; the ops are circomlibjs.mjs's.

    One Node process serves the whole session: starting circomlibjs takes seconds.
    """
    if shutil.which("node") is None or not CIRCOMLIBJS.is_dir():
        pytest.fail("the sequencer tests need node and `npm ci` (circomlibjs): run `make setup`")
    node = subprocess.Popen(
        ["node", SCRIPT], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )

    def ask(requests: dict) -> dict:
        node.stdin.write(json.dumps(requests) + "\n")
        node.stdin.flush()
        answer = node.stdout.readline()
        if not answer:
            raise AssertionError(f"circomlibjs.mjs stopped (exit status {node.wait()})")
        return json.loads(answer)

    yield ask
    node.stdin.close()
    node.wait(timeout=30)
