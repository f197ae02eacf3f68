"""The gpu backend on a CUDA device, against the cpu backend: the checks of test_gpu_host.py on
the real kernels, at sizes that take several rounds of every step.

Marked `gpu`; skipped, with the reason, where CuPy does not import or sees no device. A machine
with one runs them all with benchmarks/gpu_device_check.sh.
"""

from __future__ import annotations

import random

import numpy as np
import pytest
from test_gpu_host import mont, random_key, standard, synthetic_witness
from test_native import coefficient_records, dft, limbs, msm_case, random_h_case

from zkp import native
from zkp.backends import select_backend
from zkp.errors import BackendUnavailable
from zkp.field import R
from zkp.groth16 import ProofRandomness, Prover


def _backend():
    try:
        return select_backend("gpu"), None
    except BackendUnavailable as exc:
        return None, str(exc)


BACKEND, UNAVAILABLE = _backend()
pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(BACKEND is None, reason=f"no gpu backend here: {UNAVAILABLE}"),
]


@pytest.fixture(scope="module")
def gpu():
    return BACKEND


def test_auto_picks_the_gpu():
    backend = select_backend("auto")
    assert backend.name == "gpu"
    assert backend.reason == "auto: CuPy sees a CUDA device"


def random_scalars(rng: np.random.Generator, n: int, bits: bool) -> np.ndarray:
    """Below 2^253; with `bits`, a circuit's witness: mostly 0 and 1, which crowd one bucket."""
    values = rng.integers(0, 2**64, size=(n, 4), dtype=np.uint64)
    values[:, 3] &= np.uint64((1 << 61) - 1)
    if bits:
        small = rng.random(n) < 0.7
        values[small] = 0
        values[small, 0] = rng.integers(0, 2, size=int(small.sum()), dtype=np.uint64)
    return values


def random_bases(rng: np.random.Generator, group: str, n: int) -> np.ndarray:
    logs = random_scalars(rng, n, bits=False)
    logs[rng.random(n) < 0.05] = 0  # some points at infinity
    if group == "g1":
        return native.g1_mul_many(native_generator("g1"), logs)
    return native.g2_mul_many(native_generator("g2"), logs)


def native_generator(group: str) -> np.ndarray:
    from zkp.points import g1_to_montgomery, g2_to_montgomery
    from zkp.setup import G1_GENERATOR, G2_GENERATOR

    return g1_to_montgomery([G1_GENERATOR])[0] if group == "g1" else g2_to_montgomery([G2_GENERATOR])[0]


@pytest.mark.parametrize("bits", [False, True], ids=["random", "bits"])
@pytest.mark.parametrize("log_n", [0, 5, 12, 16, 18])
def test_msm_g1(gpu, log_n, bits):
    rng = np.random.default_rng(log_n)
    bases, scalars = random_bases(rng, "g1", 1 << log_n), random_scalars(rng, 1 << log_n, bits)
    result = gpu.msm(gpu.upload_bases(bases, "g1"), scalars)
    assert np.array_equal(result, native.msm_g1(bases, scalars))


@pytest.mark.parametrize("bits", [False, True], ids=["random", "bits"])
@pytest.mark.parametrize("log_n", [0, 5, 12, 15])
def test_msm_g2(gpu, log_n, bits):
    rng = np.random.default_rng(100 + log_n)
    bases, scalars = random_bases(rng, "g2", 1 << log_n), random_scalars(rng, 1 << log_n, bits)
    result = gpu.msm(gpu.upload_bases(bases, "g2"), scalars)
    assert np.array_equal(result, native.msm_g2(bases, scalars))


@pytest.mark.parametrize("n", [1, 17, 1000])
def test_msm_awkward_cases(gpu, n):
    """Zero scalars, r - 1, infinity bases, repeated bases, P and -P; with small plans too."""
    from zkp.backends.gpu import MsmPlan

    logs, scalars = msm_case(n, seed=n)
    bases = native.g1_mul_many(native_generator("g1"), limbs(logs))
    expected = native.msm_g1(bases, limbs(scalars))
    on_device = gpu.upload_bases(bases, "g1")
    for plan in (None, MsmPlan(3, 2, 1), MsmPlan(16, 32, 4)):
        assert np.array_equal(gpu.msm(on_device, limbs(scalars), plan), expected), plan


@pytest.mark.parametrize("log_n", [1, 6, 16, 20])
def test_ntt(gpu, log_n):
    rng = np.random.default_rng(log_n)
    values = random_scalars(rng, 1 << log_n, bits=False)
    domain = gpu.domain(log_n)
    for inverse in (False, True):
        on_device = gpu.upload(values)
        (domain.inverse if inverse else domain.forward)(on_device)
        assert np.array_equal(gpu.download(on_device), native.ntt(values, inverse=inverse))


def test_coset_ntt(gpu):
    rng = random.Random(3)
    values = [rng.randrange(R) for _ in range(16)]
    on_device = gpu.upload(mont(values, R))
    gpu.domain(4).coset_forward(on_device)
    shift = pow(5, (R - 1) // 32, R)
    assert standard(gpu.download(on_device), R) == dft([v * pow(shift, j, R) % R for j, v in enumerate(values)])


@pytest.mark.parametrize("domain_log, n_vars, records", [(3, 6, 30), (10, 600, 5000)])
def test_h_step(gpu, domain_log, n_vars, records):
    from test_gpu_host import synthetic_key

    n = 1 << domain_log
    cases, witness = random_h_case(n, n_vars, records, seed=domain_log)
    key = synthetic_key(domain_log, n_vars, 1, cases, seed=domain_log)
    h = gpu.download(gpu.load(key).h_scalars(gpu.upload(limbs(witness))))
    expected = native.groth16_h(coefficient_records(cases), limbs(witness), n)
    assert np.array_equal(h, expected)


def test_proof_equals_the_cpu_backends(gpu):
    key = random_key(12, n_vars=3000, n_public=4, records=12000, seed=5)
    witness = synthetic_witness(3000, seed=6)
    randomness = ProofRandomness(r=12345, s=R - 2)
    prover = Prover(key, gpu)
    expected = Prover(key, "cpu").prove(witness, randomness)
    assert prover.prove(witness, randomness) == expected
    assert prover.prove(witness, randomness) == expected, "a second proof on the uploaded key"


def test_snarkjs_accepts_a_gpu_proof(gpu, snarkjs, eddsa_setup, eddsa_inputs, tmp_path):
    """A real circuit (8,086 constraints) on our key: snarkjs verifies the gpu's proof."""
    from zkp.snarkjs_json import write_proof, write_public_signals
    from zkp.witness import WitnessCalculator
    from zkp.zkey import read_zkey

    key = read_zkey(eddsa_setup.zkey)
    witness = WitnessCalculator(eddsa_setup.circuit.wasm).calculate(eddsa_inputs[0])
    randomness = ProofRandomness(r=5, s=6)
    proof, public = Prover(key, gpu).prove(witness, randomness)
    assert (proof, public) == Prover(key, "cpu").prove(witness, randomness)
    write_proof(tmp_path / "proof.json", proof)
    write_public_signals(tmp_path / "public.json", public)
    assert "OK" in snarkjs("groth16", "verify", eddsa_setup.verification_key, tmp_path / "public.json",
                           tmp_path / "proof.json")
