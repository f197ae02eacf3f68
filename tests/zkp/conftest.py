"""Circuits compiled with circom, keys and proofs for them, once per test session.

The multiplier's key comes from snarkjs (a ceremony-style setup, powers of tau
2^8); the others' from our development setup, which snarkjs accepts too.

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

from zkp.groth16 import Prover
from zkp.setup import setup_into
from zkp.snarkjs_json import write_proof, write_public_signals
from zkp.witness import WitnessCalculator
from zkp.zkey import read_zkey

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


# Proofs for the verifier tests (zkp.verify, zkp.aggregate, zkp.solidity): the multiplier's by
# snarkjs on a snarkjs key, poseidon's and eddsa's by our prover on our development keys, so the
# verifiers are checked against a third party and the prover against the verifiers.

PROVE_SCRIPT = Path(__file__).parent / "groth16_fullprove.mjs"


@dataclass(frozen=True)
class ProofFiles:
    """A proof.json and its public.json, as snarkjs writes them."""

    proof: Path
    public: Path


def _prove(node, setup: Setup, inputs: list[dict], out: Path) -> list[ProofFiles]:
    files = [ProofFiles(out / f"proof{i}.json", out / f"public{i}.json")
             for i in range(len(inputs))]
    jobs = [{"input": x, "proof": str(f.proof), "public": str(f.public)}
            for x, f in zip(inputs, files, strict=True)]
    request = {"wasm": str(setup.circuit.wasm), "zkey": str(setup.zkey), "jobs": jobs}
    node(PROVE_SCRIPT, stdin=json.dumps(request))
    return files


def _development_setup(circuit: Circuit, d: Path) -> Setup:
    """Our development setup (zkp.setup): well under a second here, where snarkjs's powers of
    tau for eddsa's 2^13 domain take minutes to prepare."""
    files = setup_into(circuit.r1cs, d, cache_dir=d / "cache")
    return Setup(circuit, files.zkey, files.verification_key)


def _our_proof(setup: Setup, inputs: dict, out: Path) -> ProofFiles:
    """A proof by our prover (cpu backend), written as snarkjs writes its files."""
    out.mkdir(parents=True, exist_ok=True)
    proof, public = Prover(read_zkey(setup.zkey), "cpu").prove(
        WitnessCalculator(setup.circuit.wasm).calculate(inputs))
    files = ProofFiles(out / "proof.json", out / "public.json")
    write_proof(files.proof, proof)
    write_public_signals(files.public, public)
    return files


@pytest.fixture(scope="session")
def multiplier_proofs(multiplier_setup, node, tmp_path_factory) -> list[ProofFiles]:
    """16 proofs of a * b = c for different (a, b); public signals [c, a]."""
    inputs = [{"a": i + 2, "b": 2 * i + 3} for i in range(16)]
    return _prove(node, multiplier_setup, inputs, tmp_path_factory.mktemp("multiplier-proofs"))


@pytest.fixture(scope="session")
def poseidon_setup(circuits, tmp_path_factory) -> Setup:
    """A development setup for poseidon (736 constraints; one public signal, the hash)."""
    return _development_setup(circuits["poseidon"], tmp_path_factory.mktemp("poseidon"))


@pytest.fixture(scope="session")
def poseidon_proof(poseidon_setup, tmp_path_factory) -> ProofFiles:
    """A proof by our prover."""
    return _our_proof(poseidon_setup, {"in": [[1, 2], [3, 4]]},
                      tmp_path_factory.mktemp("poseidon-proof"))


@pytest.fixture(scope="session")
def eddsa_setup(circuits, tmp_path_factory) -> Setup:
    """A development setup for eddsa (8,086 constraints; public signals Ax, Ay, M)."""
    return _development_setup(circuits["eddsa"], tmp_path_factory.mktemp("eddsa"))


@pytest.fixture(scope="session")
def eddsa_proof(eddsa_setup, eddsa_inputs, tmp_path_factory) -> ProofFiles:
    """A proof by our prover."""
    return _our_proof(eddsa_setup, eddsa_inputs[0], tmp_path_factory.mktemp("eddsa-proof"))


@dataclass(frozen=True)
class BlockCircuitBuild:
    circuit: Circuit
    #: wire of each signal that kept one, by name ("main.sigS[0]"), from the .sym file
    wires: dict[str, int]


def _compile_block(source: Path, out: Path) -> BlockCircuitBuild:
    """Compile a block circuit with full simplification (--O2), as the profiles are built.

    --O2 removes the linear constraints (half of them at the default --O1), so
    the constraint counts it gives are what a setup and a proof pay for.
    """
    name = source.stem
    _run(CIRCOM, source.relative_to(REPO), "--r1cs", "--wasm", "--sym", "--O2",
         "-l", "node_modules", "-o", out, cwd=REPO)
    wires = {}
    for line in (out / f"{name}.sym").read_text().splitlines():
        _, wire, _, signal = line.split(",", 3)
        if int(wire) >= 0:
            wires[signal] = int(wire)
    return BlockCircuitBuild(
        Circuit(name, out / f"{name}.r1cs", out / f"{name}_js" / f"{name}.wasm"), wires
    )


@pytest.fixture(scope="session")
def compile_block(tmp_path_factory):
    """compile_block(source .circom under the repository) -> BlockCircuitBuild."""
    _require_toolchain()
    return lambda source: _compile_block(source, tmp_path_factory.mktemp(source.stem))


@pytest.fixture(scope="session")
def block_tiny(compile_block) -> BlockCircuitBuild:
    """tests/zkp/circuits/block_tiny.circom: Block(2, 4, devnet chain id), about 8 s to compile."""
    return compile_block(CIRCUITS / "block_tiny.circom")
