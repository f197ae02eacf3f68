"""Our Groth16 prover and development setup, judged by snarkjs and by a plain reference."""

import json

import numpy as np
import pytest
from py_ecc import optimized_bn128 as bn

from zkp import native
from zkp.backends import select_backend
from zkp.errors import BackendUnavailable, CircuitCompileError, FileAccessError, InvalidWitness
from zkp.field import R, ints_to_limbs, limbs_to_ints
from zkp.groth16 import ProofRandomness, Prover
from zkp.points import g1_from_montgomery, g2_from_montgomery
from zkp.r1cs import read_r1cs
from zkp.setup import SETUP_LABEL, cached_setup, domain_size_for
from zkp.snarkjs_json import read_verification_key, write_proof, write_public_signals
from zkp.solidity import render_verifier
from zkp.verify import verify
from zkp.circom import compile_circuit
from zkp.witness import WitnessCalculator
from zkp.wtns import write_wtns
from zkp.zkey import read_zkey

INPUTS = {
    "multiplier": {"a": 3, "b": 11},
    "poseidon": {"in": [[1, 2], [3, 4]]},
    "buses": {"p": [{"x": 1, "y": 2}, {"x": 3, "y": 4}], "scale": 5},
}


def _prove_and_check(snarkjs, setup, inputs, tmp_path, randomness=None):
    """Prove with our prover; snarkjs and our verifier must both accept."""
    witness = WitnessCalculator(setup.circuit.wasm).calculate(inputs)
    proof, public = Prover(read_zkey(setup.zkey), "cpu").prove(witness, randomness)
    write_proof(tmp_path / "proof.json", proof)
    write_public_signals(tmp_path / "public.json", public)
    assert "OK" in snarkjs("groth16", "verify", setup.verification_key, tmp_path / "public.json",
                           tmp_path / "proof.json")
    assert verify(read_verification_key(setup.verification_key), proof, public).valid
    return proof, public, witness


@pytest.fixture(scope="module")
def dev_setups(circuits, tmp_path_factory):
    """Our development keys, made once per module for each circuit asked for."""
    made = {}

    def setup(name):
        if name not in made:
            circuit = circuits[name]
            files = cached_setup(circuit.r1cs, tmp_path_factory.mktemp(f"cache-{name}"))
            made[name] = type("Setup", (), {"circuit": circuit, "zkey": files.zkey,
                                            "verification_key": files.verification_key})
        return made[name]

    return setup


# snarkjs accepts our proofs


def test_our_proof_on_a_snarkjs_key(snarkjs, multiplier_setup, tmp_path):
    _, public, _ = _prove_and_check(snarkjs, multiplier_setup, INPUTS["multiplier"], tmp_path)
    assert public == [33, 3]


@pytest.mark.parametrize("name", ["multiplier", "poseidon", "buses"])
def test_our_proof_on_our_key(snarkjs, dev_setups, name, tmp_path):
    _prove_and_check(snarkjs, dev_setups(name), INPUTS[name], tmp_path)


def test_eddsa_signature_proof(snarkjs, eddsa_setup, eddsa_inputs, tmp_path):
    _prove_and_check(snarkjs, eddsa_setup, eddsa_inputs[1], tmp_path)


def test_snarkjs_proves_with_our_key(snarkjs, dev_setups, tmp_path):
    setup = dev_setups("poseidon")
    write_wtns(tmp_path / "w.wtns",
               WitnessCalculator(setup.circuit.wasm).calculate(INPUTS["poseidon"]))
    snarkjs("groth16", "prove", setup.zkey, tmp_path / "w.wtns", tmp_path / "proof.json",
            tmp_path / "public.json")
    assert "OK" in snarkjs("groth16", "verify", setup.verification_key, tmp_path / "public.json",
                           tmp_path / "proof.json")


def test_snarkjs_exports_the_same_verification_key(snarkjs, dev_setups, tmp_path):
    setup = dev_setups("poseidon")
    snarkjs("zkey", "export", "verificationkey", setup.zkey, tmp_path / "vk.json")
    theirs = read_verification_key(tmp_path / "vk.json")
    ours = read_verification_key(setup.verification_key)
    assert (theirs.alpha1, theirs.beta2, theirs.gamma2, theirs.delta2, theirs.ic) == (
        ours.alpha1, ours.beta2, ours.gamma2, ours.delta2, ours.ic)


# the proof is a function of witness and randomness, assembled as snarkjs does


def _reference_proof(zkey, witness, r, s):
    """A, B, C by py_ecc from the key's points: independent of the native MSMs and assembly."""
    w = limbs_to_ints(witness)
    h = limbs_to_ints(native.groth16_h(zkey.coefficients, witness, zkey.domain_size))

    def g1(p):
        return (bn.FQ(p[0]), bn.FQ(p[1]), bn.FQ.one()) if p else bn.Z1

    def g2(p):
        return (bn.FQ2(p[0]), bn.FQ2(p[1]), bn.FQ2.one()) if p else bn.Z2

    def msm(points, scalars, zero, lift):
        total = zero
        for p, k in zip(points, scalars):
            if k and p:
                total = bn.add(total, bn.multiply(lift(p), k))
        return total

    vk = zkey.vk
    a = bn.add(bn.add(g1(vk.alpha1), msm(g1_from_montgomery(zkey.a), w, bn.Z1, g1)),
               bn.multiply(g1(zkey.delta1), r))
    b1 = bn.add(bn.add(g1(zkey.beta1), msm(g1_from_montgomery(zkey.b1), w, bn.Z1, g1)),
                bn.multiply(g1(zkey.delta1), s))
    b2 = bn.add(bn.add(g2(vk.beta2), msm(g2_from_montgomery(zkey.b2), w, bn.Z2, g2)),
                bn.multiply(g2(vk.delta2), s))
    c = msm(g1_from_montgomery(zkey.c), w[zkey.n_public + 1:], bn.Z1, g1)
    c = bn.add(c, msm(g1_from_montgomery(zkey.h), h, bn.Z1, g1))
    c = bn.add(bn.add(c, bn.multiply(a, s)), bn.multiply(b1, r))
    c = bn.add(c, bn.multiply(g1(zkey.delta1), (-r * s) % R))
    return [bn.normalize(p) for p in (a, b2, c)]


def test_proof_matches_the_reference_assembly(multiplier_setup):
    zkey = read_zkey(multiplier_setup.zkey)
    witness = WitnessCalculator(multiplier_setup.circuit.wasm).calculate(INPUTS["multiplier"])
    randomness = ProofRandomness(r=12345, s=R - 2)
    proof, _ = Prover(zkey, "cpu").prove(witness, randomness)
    a, b, c = _reference_proof(zkey, witness, randomness.r, randomness.s)
    assert proof.a == (a[0].n, a[1].n)
    assert proof.b == tuple(tuple(int(x) for x in coordinate.coeffs) for coordinate in b)
    assert proof.c == (c[0].n, c[1].n)


def test_same_witness_and_randomness_same_proof(multiplier_setup):
    zkey = read_zkey(multiplier_setup.zkey)
    witness = WitnessCalculator(multiplier_setup.circuit.wasm).calculate(INPUTS["multiplier"])
    randomness = ProofRandomness(r=7, s=9)
    first = Prover(zkey, "cpu").prove(witness, randomness)
    assert Prover(zkey, "cpu").prove(witness, randomness) == first
    assert Prover(zkey, "cpu").prove(witness)[0] != first[0], "fresh randomness by default"


def test_auto_backend_says_what_it_picked(multiplier_setup):
    prover = Prover(read_zkey(multiplier_setup.zkey), "auto")
    assert prover.backend.name in ("cpu", "gpu")
    assert prover.backend.name in prover.backend.describe()


def test_gpu_backend_without_a_device_is_a_clear_error():
    try:
        import cupy  # noqa: F401
    except ImportError:
        with pytest.raises(BackendUnavailable, match="CuPy"):
            select_backend("gpu")
    else:
        pytest.skip("CuPy is installed: the gpu backend's own tests cover it")


# bad witnesses are refused before any work


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda w: w[:-1], "shape"),
        (lambda w: w.astype(np.int64), "uint64"),
        (lambda w: np.concatenate([ints_to_limbs([2]), w[1:]]), "constant 1"),
        (lambda w: np.concatenate([w[:2], ints_to_limbs([R]), w[3:]]), "value 2 is not below"),
    ],
    ids=["short", "dtype", "first-value", "out-of-field"],
)
def test_invalid_witness(multiplier_setup, damage, message):
    zkey = read_zkey(multiplier_setup.zkey)
    witness = WitnessCalculator(multiplier_setup.circuit.wasm).calculate(INPUTS["multiplier"])
    with pytest.raises(InvalidWitness, match=message):
        Prover(zkey, "cpu").prove(damage(witness))


# development setup


def test_setup_is_cached_by_circuit_content(circuits, tmp_path):
    circuit = circuits["multiplier"]
    first = cached_setup(circuit.r1cs, tmp_path)
    again = cached_setup(circuit.r1cs, tmp_path)
    assert first.made and not again.made
    assert again.zkey.read_bytes() == first.zkey.read_bytes()
    other = cached_setup(circuits["poseidon"].r1cs, tmp_path)
    assert other.made and other.zkey != first.zkey


def test_setup_is_labelled_insecure_wherever_it_shows(dev_setups):
    setup = dev_setups("multiplier")
    assert read_zkey(setup.zkey).setup_label == SETUP_LABEL
    vk = read_verification_key(setup.verification_key)
    assert vk.setup_label == SETUP_LABEL
    assert json.loads(setup.verification_key.read_text())["provernet_setup"] == SETUP_LABEL
    assert "INSECURE" in render_verifier(vk)


def test_domain_holds_constraints_and_public_rows(circuits):
    r1cs = read_r1cs(circuits["poseidon"].r1cs)
    size = domain_size_for(r1cs)
    assert size >= len(r1cs.constraints) + r1cs.n_public + 1 > size // 2


def test_setup_of_a_missing_circuit(tmp_path):
    with pytest.raises(FileAccessError, match="missing.r1cs"):
        cached_setup(tmp_path / "missing.r1cs", tmp_path)


def test_compile_error_carries_circoms_report(tmp_path):
    broken = tmp_path / "broken.circom"
    broken.write_text("pragma circom 2.0.0;\ntemplate T() { signal input a; a === ; }\n"
                      "component main = T();\n")
    with pytest.raises(CircuitCompileError, match="circom failed on .*broken.circom"):
        compile_circuit(broken, tmp_path / "out")
