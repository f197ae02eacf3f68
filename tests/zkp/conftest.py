"""Circuits compiled with circom and set up with snarkjs, once per test session.

circom2 (circom as wasm) reads only files below its working directory, so it
runs from the repository root with relative paths; its outputs go to a tmp
dir (-o to an absolute path works when the directory exists).
"""

import functools
import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NODE_MODULES = REPO / "node_modules"
CIRCOM = NODE_MODULES / ".bin" / "circom2"
SNARKJS = NODE_MODULES / ".bin" / "snarkjs"
CIRCUITS = Path(__file__).parent / "circuits"


def _require_toolchain() -> None:
    if shutil.which("node") is None or not CIRCOM.exists() or not SNARKJS.exists():
        pytest.fail("the zkp tests need node and `npm ci` (circom2, snarkjs): run `make setup`")


@dataclass(frozen=True)
class Circuit:
    name: str
    r1cs: Path
    wasm: Path


def _run(*command, cwd=None, stdin: str | None = None) -> str:
    done = subprocess.run(
        [str(c) for c in command], cwd=cwd, input=stdin, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise AssertionError(f"{command} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


@pytest.fixture(scope="session")
def snarkjs():
    """Runs the snarkjs command line; returns its stdout."""
    _require_toolchain()
    return functools.partial(_run, SNARKJS)


@pytest.fixture(scope="session")
def node():
    """Runs a Node script; returns its stdout."""
    _require_toolchain()
    return functools.partial(_run, "node")


class Builds:
    """Compiles each test circuit the first time a test asks for it."""

    def __init__(self, root: Path):
        self.root = root

    @functools.cache
    def __getitem__(self, name: str) -> Circuit:
        out = self.root / name
        out.mkdir()
        source = (CIRCUITS / f"{name}.circom").relative_to(REPO)
        _run(CIRCOM, source, "--r1cs", "--wasm", "-l", "node_modules", "-o", out, cwd=REPO)
        return Circuit(name, out / f"{name}.r1cs", out / f"{name}_js" / f"{name}.wasm")


@pytest.fixture(scope="session")
def circuits(tmp_path_factory) -> Builds:
    _require_toolchain()
    return Builds(tmp_path_factory.mktemp("circuits"))


@pytest.fixture(scope="session")
def eddsa_inputs(node) -> list[dict]:
    """Valid eddsa.circom inputs, signed by circomlibjs (not by anything of ours)."""
    keys_and_messages = [(1, "1234"), (7, "0"), (42, str(2**250))]
    requests = [[f"{key:02x}" * 32, message] for key, message in keys_and_messages]
    return json.loads(node(Path(__file__).parent / "eddsa_sign.mjs", stdin=json.dumps(requests)))


@dataclass(frozen=True)
class Setup:
    circuit: Circuit
    zkey: Path
    verification_key: Path


@pytest.fixture(scope="session")
def multiplier_setup(circuits, snarkjs, tmp_path_factory) -> Setup:
    """A Groth16 setup for the multiplier: powers of tau 2^8, one contribution to each phase.

    About 6 to 12 s on two cores, most of it `powersoftau prepare phase2`.
    """
    d = tmp_path_factory.mktemp("setup")
    circuit = circuits["multiplier"]
    snarkjs("powersoftau", "new", "bn128", "8", d / "0.ptau")
    snarkjs("powersoftau", "contribute", d / "0.ptau", d / "1.ptau", "-e=tests")
    snarkjs("powersoftau", "prepare", "phase2", d / "1.ptau", d / "final.ptau")
    snarkjs("groth16", "setup", circuit.r1cs, d / "final.ptau", d / "0.zkey")
    snarkjs("zkey", "contribute", d / "0.zkey", d / "circuit.zkey", "-e=tests")
    snarkjs("zkey", "export", "verificationkey", d / "circuit.zkey", d / "verification_key.json")
    return Setup(circuit, d / "circuit.zkey", d / "verification_key.json")
