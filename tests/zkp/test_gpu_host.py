"""The gpu backend without a GPU: its CUDA sources compiled for the host, against Python and the CPU.

zkp/native/cuda/host_check.cpp includes kernels.cu, whose kernels compile to plain C functions
that run every item in a loop (launch.cuh), and adds entry points for the field and curve
arithmetic with the GPU's field product. It is built here with g++ (and with nvcc's host
compiler where nvcc is installed), once per content, into the pytest cache.

The arithmetic is checked against Python integers and py_ecc. The kernels are checked through
zkp.backends.gpu itself, run on `HostCupy`: numpy in place of CuPy's arrays, sort and search,
and the host-built kernels in place of the GPU's, so the backend's orchestration (bucket
rounds, window levels, the H step, the upload of a key) is what is tested, and its proofs must
equal the cpu backend's. tests/zkp/test_gpu_backend.py runs the same on a real device.
"""

from __future__ import annotations

import ctypes
import hashlib
import importlib
import json
import os
import random
import shutil
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
from py_ecc import optimized_bn128 as bn
from test_native import (
    affine1,
    affine2,
    coefficient_records,
    dft,
    encode1,
    encode2,
    g1,
    g2,
    limbs,
    msm_case,
    random_h_case,
    reference_h,
    root,
)

from zkp import native
from zkp.backends import select_backend
from zkp.errors import BackendUnavailable
from zkp.field import Q, R, from_montgomery, limbs_to_ints
from zkp.groth16 import ProofRandomness, Prover
from zkp.points import g1_from_montgomery, g1_to_montgomery, g2_from_montgomery, g2_to_montgomery
from zkp.proof import VerificationKey
from zkp.setup import G1_GENERATOR, G2_GENERATOR
from zkp.zkey import ZKey

CUDA = Path(__file__).resolve().parents[2] / "zkp" / "native" / "cuda"
SOURCES = [CUDA / name for name in ("host_check.cpp", "kernels.cu", "launch.cuh", "msm.cuh", "ntt.cuh")]
SOURCES.append(CUDA.parent / "bn254.h")
MONT = 2**256


# ------------------------------------------------------------ the host build

COMPILERS = {
    "g++": ["g++", "-std=c++17", "-O2", "-shared", "-fPIC", "-Wall", "-Wextra", "-Werror"],
    # -x cu: the CUDA front end, with bn254.h's __host__ __device__ code, compiled for the host.
    "nvcc": ["nvcc", "-std=c++17", "-O2", "-x", "cu", "-shared", "-Xcompiler", "-fPIC,-Wall,-Werror"],
}


def build(compiler: str, cache: Path) -> Path:
    """host_check.cpp as a shared library, rebuilt only when a source or the command changes."""
    command = COMPILERS[compiler] + ["-DPN_HOST_EMULATION", f"-I{CUDA}", f"-I{CUDA.parent}"]
    digest = hashlib.sha256(" ".join(command).encode())
    for source in SOURCES:
        digest.update(source.read_bytes())
    library = cache / f"host_check-{compiler}-{digest.hexdigest()[:16]}.so"
    if not library.exists():
        partial = cache / f".{library.name}.{os.getpid()}"
        done = subprocess.run(command + [str(CUDA / "host_check.cpp"), "-o", str(partial)],
                              capture_output=True, text=True)
        assert done.returncode == 0, f"{compiler} failed on host_check.cpp:\n{done.stderr}"
        os.replace(partial, library)  # atomic: parallel workers may build it too
        for stale in cache.glob(f"host_check-{compiler}-*.so"):
            if stale != library:
                stale.unlink(missing_ok=True)
    return library


@pytest.fixture(scope="session")
def build_cache(request) -> Path:
    return request.config.cache.mkdir("gpu-host-build")


@pytest.fixture(scope="session")
def host_library(build_cache) -> ctypes.CDLL:
    return ctypes.CDLL(str(build(compiler="g++", cache=build_cache)))


@pytest.fixture(scope="session", params=list(COMPILERS))
def arithmetic(request, build_cache) -> ctypes.CDLL:
    """The library from each compiler there is, for the arithmetic checks."""
    if shutil.which(request.param) is None:
        pytest.skip(f"{request.param} is not installed")
    return ctypes.CDLL(str(build(request.param, build_cache)))


def call(library: ctypes.CDLL, name: str, *arrays: np.ndarray, out_shape) -> np.ndarray:
    """pn_check_NAME(inputs..., n, out) over n elements."""
    out = np.zeros(out_shape, dtype=np.uint64)
    pointers = [ctypes.c_void_p(np.ascontiguousarray(a).ctypes.data) for a in arrays]
    getattr(library, f"pn_check_{name}")(*pointers, ctypes.c_uint64(len(arrays[0])),
                                         ctypes.c_void_p(out.ctypes.data))
    return out


def ints(array: np.ndarray) -> list[int]:
    return limbs_to_ints(array)


def mont(values, p) -> np.ndarray:
    return limbs([v * MONT % p for v in values])


def standard(array: np.ndarray, p) -> list[int]:
    return [from_montgomery(v, p) for v in ints(array)]


# ------------------------------------------------------------ fields


def field_samples(p: int, count: int, seed: int) -> list[int]:
    """Edges of Montgomery form (0, 1, p - 1, and the forms of 1 and -1) and random values."""
    rng = random.Random(seed)
    edges = [0, 1, 2, p - 1, p - 2, MONT % p, (p - 1) * MONT % p, 2**64 - 1, 2**192, p // 2]
    return edges + [rng.randrange(p) for _ in range(count)]


@pytest.mark.parametrize("name, p", [("fq", Q), ("fr", R)])
def test_field_arithmetic(arithmetic, name, p):
    xs = field_samples(p, 300, seed=1)
    ys = list(reversed(field_samples(p, 300, seed=2)))
    a, b = limbs(xs), limbs(ys)
    shape = a.shape
    radix_inverse = pow(MONT, -1, p)
    assert ints(call(arithmetic, f"{name}_mul", a, b, out_shape=shape)) == [
        x * y * radix_inverse % p for x, y in zip(xs, ys)]
    assert ints(call(arithmetic, f"{name}_sqr", a, out_shape=shape)) == [
        x * x * radix_inverse % p for x in xs]
    assert ints(call(arithmetic, f"{name}_add", a, b, out_shape=shape)) == [
        (x + y) % p for x, y in zip(xs, ys)]
    assert ints(call(arithmetic, f"{name}_sub", a, b, out_shape=shape)) == [
        (x - y) % p for x, y in zip(xs, ys)]
    # Montgomery form in and out: 1/(x/2^256) * 2^256 = 2^512 / x; 0 has no inverse and gives 0.
    assert ints(call(arithmetic, f"{name}_inv", a, out_shape=shape)) == [
        pow(x, -1, p) * MONT * MONT % p if x else 0 for x in xs]
    assert ints(call(arithmetic, f"{name}_to_montgomery", a, out_shape=shape)) == [
        x * MONT % p for x in xs]
    assert ints(call(arithmetic, f"{name}_from_montgomery", a, out_shape=shape)) == [
        x * radix_inverse % p for x in xs]


def fq2_mul(x, y):
    return ((x[0] * y[0] - x[1] * y[1]) % Q, (x[0] * y[1] + x[1] * y[0]) % Q)


def test_fq2_arithmetic(arithmetic):
    rng = random.Random(3)
    edges = [0, 1, Q - 1, MONT % Q]
    xs = [(u, v) for u in edges for v in edges] + [(rng.randrange(Q), rng.randrange(Q)) for _ in range(40)]
    ys = xs[::-1]
    a = mont([c for x in xs for c in x], Q).reshape(-1, 2, 4)
    b = mont([c for y in ys for c in y], Q).reshape(-1, 2, 4)

    def pairs(array):
        c = standard(array, Q)
        return list(zip(c[::2], c[1::2]))

    def fq2_inv(x):
        norm = (x[0] * x[0] + x[1] * x[1]) % Q
        if norm == 0:
            return (0, 0)
        t = pow(norm, -1, Q)
        return (x[0] * t % Q, -x[1] * t % Q)

    assert pairs(call(arithmetic, "fq2_mul", a, b, out_shape=a.shape)) == [
        fq2_mul(x, y) for x, y in zip(xs, ys)]
    assert pairs(call(arithmetic, "fq2_sqr", a, out_shape=a.shape)) == [fq2_mul(x, x) for x in xs]
    assert pairs(call(arithmetic, "fq2_add", a, b, out_shape=a.shape)) == [
        ((x[0] + y[0]) % Q, (x[1] + y[1]) % Q) for x, y in zip(xs, ys)]
    assert pairs(call(arithmetic, "fq2_sub", a, b, out_shape=a.shape)) == [
        ((x[0] - y[0]) % Q, (x[1] - y[1]) % Q) for x, y in zip(xs, ys)]
    assert pairs(call(arithmetic, "fq2_inv", a, out_shape=a.shape)) == [fq2_inv(x) for x in xs]


# ------------------------------------------------------------ curves


def lift1(point):
    return bn.Z1 if point is None else (bn.FQ(point[0]), bn.FQ(point[1]), bn.FQ(1))


def lift2(point):
    if point is None:
        return bn.Z2
    return (bn.FQ2(list(point[0])), bn.FQ2(list(point[1])), bn.FQ2.one())


CURVES = {
    "g1": (g1, encode1, g1_from_montgomery, lift1, affine1),
    "g2": (g2, encode2, g2_from_montgomery, lift2, affine2),
}


@pytest.mark.parametrize("group", CURVES)
def test_curve_arithmetic(arithmetic, group):
    point, encode, decode, lift, affine = CURVES[group]
    p, q, r = point(5), point(1234567), point(R - 1)
    minus_p = point(R - 5)
    # Infinity on either side, P + P (the addition's doubling case), P + (-P), -P + P.
    cases = [(p, q), (p, p), (p, minus_p), (minus_p, p), (p, None), (None, q), (None, None), (q, r)]
    a, b = encode([x for x, _ in cases]), encode([y for _, y in cases])
    expected = [affine(bn.add(lift(x), lift(y))) for x, y in cases]
    assert decode(call(arithmetic, f"{group}_add", a, b, out_shape=a.shape)) == expected
    assert decode(call(arithmetic, f"{group}_add_affine", a, b, out_shape=a.shape)) == expected
    assert decode(call(arithmetic, f"{group}_double", a, out_shape=a.shape)) == [
        affine(bn.double(lift(x))) for x, _ in cases]
    # Scalars 0, 1, r - 1 (which gives -P), r, q - 1 (beyond r: reduced by the group order).
    scalars = [0, 1, 2, R - 1, R, Q - 1, 2**253 + 12345]
    bases = encode([p] * len(scalars) + [None])
    out = call(arithmetic, f"{group}_mul", bases, limbs(scalars + [7]), out_shape=bases.shape)
    assert decode(out) == [point(5 * k) for k in scalars] + [None]


@pytest.mark.parametrize("c", [1, 2, 5, 13, 16, 20])
def test_signed_digits_recompose_the_scalar(arithmetic, c):
    """booth_digit, the MSM's decomposition: digits in [-2^(c-1), 2^(c-1)] summing to k."""
    rng = random.Random(c)
    scalars = [0, 1, R - 1, Q - 1, 2**254 - 1, (1 << 253) | 1] + [rng.randrange(R) for _ in range(20)]
    windows = -(-255 // c)
    out = np.zeros(len(scalars) * windows, dtype=np.int32)
    arithmetic.pn_check_digits(ctypes.c_void_p(limbs(scalars).ctypes.data), ctypes.c_uint64(len(scalars)),
                               ctypes.c_uint32(c), ctypes.c_uint32(windows), ctypes.c_void_p(out.ctypes.data))
    digits = out.reshape(len(scalars), windows)
    assert np.abs(digits).max() <= 1 << (c - 1)
    for k, row in zip(scalars, digits):
        assert sum(int(d) << (w * c) for w, d in enumerate(row)) == k


# ------------------------------------------------------------ CuPy on the host


class HostCupy(types.ModuleType):
    """The part of CuPy zkp.backends.gpu uses: numpy arrays, and kernels from the host build.

    A kernel takes numpy arrays and numpy scalars only, as CuPy's do; anything else (a Python
    int, whose C type CuPy would guess) is a TypeError, so the backend cannot pass one.
    """

    class CompileException(Exception):
        pass

    class CUDARuntimeError(RuntimeError):
        pass

    def __init__(self, library: ctypes.CDLL, devices: int = 1):
        super().__init__("cupy")
        self.__version__ = "host emulation"
        for name in ("empty", "empty_like", "zeros", "arange", "concatenate", "cumsum", "searchsorted"):
            setattr(self, name, getattr(np, name))
        # Copies, as between host and device memory: a kernel must not write a caller's array.
        self.asarray = self.asnumpy = lambda array, dtype=None: np.array(array, dtype=dtype)
        self.launches: list[str] = []
        self.RawModule = lambda code, options: types.SimpleNamespace(
            get_function=lambda name: self._kernel(library, name))
        self.cuda = types.SimpleNamespace(
            runtime=types.SimpleNamespace(
                getDeviceCount=lambda: devices,
                getDeviceProperties=lambda device: {"name": b"the host, emulating"},
                CUDARuntimeError=self.CUDARuntimeError),
            compiler=types.SimpleNamespace(CompileException=self.CompileException),
            Device=lambda: types.SimpleNamespace(id=0, synchronize=lambda: None))

    def _kernel(self, library: ctypes.CDLL, name: str):
        function = getattr(library, name)

        def launch(grid, block, args):
            assert grid[0] >= 1 and block[0] >= 1, (name, grid, block)
            self.launches.append(name)
            function(*(_c_argument(name, a) for a in args))

        return launch


def _c_argument(kernel: str, value):
    if isinstance(value, np.ndarray):
        assert value.flags.c_contiguous, f"{kernel}: a device array must be contiguous"
        return ctypes.c_void_p(value.ctypes.data)
    if isinstance(value, np.uint64):
        return ctypes.c_uint64(int(value))
    if isinstance(value, np.uint32):
        return ctypes.c_uint32(int(value))
    raise TypeError(f"{kernel}: argument {value!r} is neither an array nor a uint32/uint64 scalar")


@pytest.fixture(scope="module")
def host_cupy(host_library) -> HostCupy:
    return HostCupy(host_library)


@pytest.fixture(scope="module")
def gpu(host_cupy):
    """zkp.backends.gpu imported on HostCupy, and a GpuBackend of it."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(sys.modules, "cupy", host_cupy)
        patch.delitem(sys.modules, "zkp.backends.gpu", raising=False)
        module = importlib.import_module("zkp.backends.gpu")
        module._module.cache_clear()
        yield types.SimpleNamespace(module=module, backend=module.GpuBackend())
        sys.modules.pop("zkp.backends.gpu", None)


# ------------------------------------------------------------ MSM


def g1_bases(logs) -> np.ndarray:
    return native.g1_mul_many(encode1([g1(1)])[0], limbs(logs))


def g2_bases(logs) -> np.ndarray:
    return native.g2_mul_many(encode2([g2(1)])[0], limbs(logs))


# Plans that force what large inputs do: several rounds of bucket sums (segment 2),
# several window levels (log_k 1), the smallest and a wide window.
PLANS = [None, (1, 2, 1), (3, 2, 1), (4, 3, 2), (8, 32, 4)]


@pytest.mark.parametrize("plan", PLANS, ids=str)
@pytest.mark.parametrize("n", [1, 2, 17, 300])
def test_msm_g1(gpu, n, plan):
    """msm_case mixes in zero scalars, r - 1, infinity bases, repeated bases, P and -P."""
    logs, scalars = msm_case(n, seed=n)
    bases = g1_bases(logs)
    plan = plan and gpu.module.MsmPlan(*plan)
    result = gpu.backend.msm(gpu.backend.upload_bases(bases, "g1"), limbs(scalars), plan)
    assert np.array_equal(result, native.msm_g1(bases, limbs(scalars)))


@pytest.mark.parametrize("plan", [None, (3, 2, 1)], ids=str)
@pytest.mark.parametrize("n", [1, 9, 40])
def test_msm_g2(gpu, n, plan):
    logs, scalars = msm_case(n, seed=100 + n)
    bases = g2_bases(logs)
    plan = plan and gpu.module.MsmPlan(*plan)
    result = gpu.backend.msm(gpu.backend.upload_bases(bases, "g2"), limbs(scalars), plan)
    assert g2_from_montgomery(result) == [g2(sum(k * s for k, s in zip(logs, scalars)))]


@pytest.mark.parametrize(
    "logs, scalars",
    [
        ([5, 5], [R - 1, R - 1]),  # every bucket holds P twice: its sum is a doubling
        ([5] * 9, [123456789] * 9),  # one long bucket per window
        ([5, R - 5], [777, 777]),  # P and -P in every bucket: sums to infinity
        ([0, 0, 0], [1, 2, 3]),  # only points at infinity
        ([11, 12], [0, 0]),  # only zero scalars
        ([3] * 40, [1] * 40),  # a circuit's 0/1 signals: one bucket of 40
    ],
)
def test_msm_special_sums(gpu, logs, scalars):
    bases = g1_bases(logs)
    for plan in (None, gpu.module.MsmPlan(4, 2, 1)):
        result = gpu.backend.msm(gpu.backend.upload_bases(bases, "g1"), limbs(scalars), plan)
        assert g1_from_montgomery(result) == [g1(sum(k * s for k, s in zip(logs, scalars)))]


def test_msm_refuses_wrong_shapes(gpu):
    bases = gpu.backend.upload_bases(g1_bases([1, 2]), "g1")
    with pytest.raises(ValueError, match="2 scalars expected"):
        gpu.backend.msm(bases, limbs([1, 2, 3]))
    with pytest.raises(ValueError, match="g2 bases must have shape"):
        gpu.backend.upload_bases(g1_bases([1]), "g2")
    with pytest.raises(ValueError, match="no such MSM plan"):
        gpu.module.MsmPlan(window=4, segment=1)


def test_window_bits_grow_with_the_number_of_points(gpu):
    windows = [gpu.module.plan_for(1 << log_n).window for log_n in (4, 10, 16, 20, 24)]
    assert windows == sorted(windows) and windows[0] < windows[-1]
    assert gpu.module.plan_for(1 << 20).window in (15, 16)


# ------------------------------------------------------------ NTT


@pytest.mark.parametrize("log_n", [0, 1, 2, 4, 6])
def test_ntt_inverse_and_coset(gpu, log_n):
    n = 1 << log_n
    rng = random.Random(log_n)
    values = [rng.randrange(R) for _ in range(n)] if n > 1 else [R - 1]
    domain = gpu.backend.domain(log_n)

    def run(step):
        a = mont(values, R)
        step(a)
        return standard(a, R)

    assert run(domain.forward) == dft(values)
    assert run(domain.inverse) == dft(values, inverse=True)
    # Coefficients evaluated at w_2n * w_n^i.
    shift = root(2 * n)
    assert run(domain.coset_forward) == [
        sum(v * pow(shift * pow(root(n), i, R), j, R) for j, v in enumerate(values)) % R
        for i in range(n)]


def test_ntt_matches_the_cpu_library(gpu):
    rng = random.Random(12)
    a = mont([rng.randrange(R) for _ in range(1 << 10)], R)
    for inverse in (False, True):
        out = a.copy()
        domain = gpu.backend.domain(10)
        (domain.inverse if inverse else domain.forward)(out)
        assert np.array_equal(out, native.ntt(a, inverse=inverse))


# ------------------------------------------------------------ the H step and whole proofs


def synthetic_key(domain_log: int, n_vars: int, n_public: int, records: list, seed: int) -> ZKey:
    """A proving key of random points and the given coefficient records (as random_h_case
    makes them): no circuit, but every part a prover reads, with points at infinity where a
    real key has them (wires absent from A or B)."""
    rng = random.Random(seed)
    n = 1 << domain_log

    def g1_points(count, zero_every=0):
        logs = [0 if zero_every and i % zero_every == 0 else rng.randrange(R) for i in range(count)]
        return native.g1_mul_many(g1_to_montgomery([G1_GENERATOR])[0], limbs(logs))

    b_logs = [0 if i % 3 == 0 else rng.randrange(R) for i in range(n_vars)]
    vk = VerificationKey(
        alpha1=g1(rng.randrange(1, R)), beta2=g2(rng.randrange(1, R)), gamma2=g2(rng.randrange(1, R)),
        delta2=g2(rng.randrange(1, R)), ic=tuple(g1(rng.randrange(1, R)) for _ in range(n_public + 1)))
    return ZKey(
        n_vars=n_vars, n_public=n_public, domain_size=n, vk=vk,
        beta1=g1(rng.randrange(1, R)), delta1=g1(rng.randrange(1, R)),
        coefficients=coefficient_records(records),
        a=g1_points(n_vars, zero_every=5),
        b1=native.g1_mul_many(g1_to_montgomery([G1_GENERATOR])[0], limbs(b_logs)),
        b2=native.g2_mul_many(g2_to_montgomery([G2_GENERATOR])[0], limbs(b_logs)),
        c=g1_points(n_vars - n_public - 1),
        h=g1_points(n))


def synthetic_witness(n_vars: int, seed: int) -> np.ndarray:
    """1, then a circuit's mix: bits, small counters, zeros and full-size values."""
    rng = random.Random(seed)
    draws = [rng.choice([0, 1, 1, rng.randrange(1000), rng.randrange(R)]) for _ in range(n_vars - 1)]
    return limbs([1] + draws)


@pytest.mark.parametrize("domain_log, n_vars, records", [(0, 2, 3), (3, 6, 30), (6, 40, 300)])
def test_h_step_matches_the_cpu_library(gpu, domain_log, n_vars, records):
    n = 1 << domain_log
    cases, witness = random_h_case(n, n_vars, records, seed=domain_log)
    key = synthetic_key(domain_log, n_vars, 1, cases, seed=domain_log)
    h = gpu.backend.load(key).h_scalars(limbs(witness))
    assert ints(h) == reference_h(cases, witness, n)


def random_key(domain_log: int, n_vars: int, n_public: int, records: int, seed: int) -> ZKey:
    cases, _ = random_h_case(1 << domain_log, n_vars, records, seed)
    return synthetic_key(domain_log, n_vars, n_public, cases, seed)


def test_commitments_match_the_cpu_backend(gpu):
    key = random_key(7, n_vars=90, n_public=4, records=400, seed=5)
    witness = synthetic_witness(90, seed=6)
    ours = gpu.backend.load(key).commitments(witness)
    theirs = select_backend("cpu").load(key).commitments(witness)
    for name in ("a", "b1", "b2", "c", "h"):
        assert np.array_equal(getattr(ours, name), getattr(theirs, name)), name


def test_proof_equals_the_cpu_backends(gpu):
    key = random_key(6, n_vars=50, n_public=2, records=200, seed=7)
    witness = synthetic_witness(50, seed=8)
    randomness = ProofRandomness(r=12345, s=R - 2)
    assert Prover(key, gpu.backend).prove(witness, randomness) == \
        Prover(key, "cpu").prove(witness, randomness)


def test_a_key_is_uploaded_once_and_proofs_reuse_it(gpu, host_cupy):
    key = random_key(4, n_vars=12, n_public=1, records=40, seed=9)
    prover = Prover(key, gpu.backend)
    host_cupy.launches.clear()
    prover.prove(synthetic_witness(12, seed=10))
    # Per proof: no twiddle factors, only the H step and the MSMs.
    assert "pn_fr_powers" not in host_cupy.launches
    assert host_cupy.launches.count("pn_msm_entries") == 5


def test_real_circuit_proof_equals_the_cpu_backends(gpu, poseidon_setup):
    from zkp.witness import WitnessCalculator
    from zkp.zkey import read_zkey

    key = read_zkey(poseidon_setup.zkey)
    witness = WitnessCalculator(poseidon_setup.circuit.wasm).calculate({"in": [[1, 2], [3, 4]]})
    randomness = ProofRandomness(r=3, s=4)
    assert Prover(key, gpu.backend).prove(witness, randomness) == \
        Prover(key, "cpu").prove(witness, randomness)


def test_bench_command_compares_with_the_cpu(gpu, tmp_path):
    """`provernet zkp bench --backend gpu` on HostCupy: every kernel and proof agrees with the cpu."""
    from click.testing import CliRunner

    from provernet.commands.zkp import bench_command

    out = tmp_path / "bench.json"
    result = CliRunner().invoke(bench_command, ["--min-log", "3", "--max-log", "5", "--circuits",
                                                "random5", "--runs", "1", "--json", str(out)])
    assert result.exit_code == 0, result.output
    report = json.loads(out.read_text())
    assert report["gpu"] == "gpu (the host, emulating, CuPy host emulation)"
    assert [(row["what"], row["log_n"]) for row in report["rows"]] == [
        *((kind, log_n) for kind in ("G1 MSM", "G2 MSM", "NTT") for log_n in (3, 4, 5)),
        ("proof random5", 5)]
    assert all(row["same"] is True for row in report["rows"])


# ------------------------------------------------------------ choosing a backend


def test_auto_says_why_it_took_the_cpu(monkeypatch, host_library):
    monkeypatch.delitem(sys.modules, "zkp.backends.gpu", raising=False)
    monkeypatch.setitem(sys.modules, "cupy", HostCupy(host_library, devices=0))
    backend = select_backend("auto")
    sys.modules.pop("zkp.backends.gpu", None)
    assert backend.name == "cpu"
    assert backend.reason == "auto: no usable GPU (CuPy sees no CUDA device)"
    with pytest.raises(BackendUnavailable, match="no CUDA device"):
        select_backend("gpu")
    sys.modules.pop("zkp.backends.gpu", None)


def test_auto_without_cupy_says_so(monkeypatch):
    monkeypatch.delitem(sys.modules, "zkp.backends.gpu", raising=False)
    monkeypatch.setitem(sys.modules, "cupy", None)  # import cupy raises ImportError
    backend = select_backend("auto")
    assert backend.name == "cpu"
    assert "needs CuPy" in backend.reason
    with pytest.raises(BackendUnavailable, match="needs CuPy"):
        select_backend("gpu")


def test_auto_takes_a_device(monkeypatch, host_library, caplog):
    monkeypatch.delitem(sys.modules, "zkp.backends.gpu", raising=False)
    monkeypatch.setitem(sys.modules, "cupy", HostCupy(host_library))
    with caplog.at_level("INFO", logger="zkp.backends"):
        backend = select_backend("auto")
    sys.modules.pop("zkp.backends.gpu", None)
    assert backend.name == "gpu"
    assert backend.reason == "auto: CuPy sees a CUDA device"
    assert "proving on gpu (the host, emulating, CuPy host emulation)" in caplog.text


# ------------------------------------------------------------ nvcc


def test_nvcc_compiles_the_kernels_for_hopper(tmp_path):
    """The device side, which no host build sees: PTX for sm_90 (the H100)."""
    if shutil.which("nvcc") is None:
        pytest.skip("nvcc is not installed: the CUDA sources were not compiled for a GPU")
    ptx = tmp_path / "kernels.ptx"
    done = subprocess.run(["nvcc", "-std=c++17", "-ptx", "-arch=sm_90", f"-I{CUDA}", f"-I{CUDA.parent}",
                           str(CUDA / "kernels.cu"), "-o", str(ptx)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    entries = {line.split()[2].split("(")[0] for line in ptx.read_text().splitlines()
               if line.startswith(".visible .entry")}
    defined = {line.split("(")[0].split()[-1] for line in (CUDA / "kernels.cu").read_text().splitlines()
               if line.startswith("PN_KERNEL")}
    assert "pn_msm_entries" in entries and "pn_g2_bucket_entries" in entries
    assert defined <= entries
