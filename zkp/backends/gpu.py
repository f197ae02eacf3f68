"""The `gpu` backend: CUDA kernels (zkp/native/cuda/kernels.cu) run through CuPy.

A circuit's proving key goes to the device once, in `GpuBackend.load`: the
A, B1, B2, C and H points (without their points at infinity, which add
nothing), the H step's coefficients grouped by constraint, and the NTT's
twiddle factors. A proof uploads its witness; the H step and the five MSMs
run on the device, each reading the previous step's output where it lies,
and only the MSMs' window sums, a few points each, come back. The host adds
those up with the CPU library (zkp.native), where a chain of 250 doublings
is quicker than on a single GPU thread.

MSM (details in zkp/native/cuda/msm.cuh): signed windows of c bits; for each
(window, point) an entry with the point's bucket, sorted on the device
(cupy's radix sort), then bucket sums in segments of at most `segment`
points, one thread each, summed again until one sum per bucket; then the
window sums sum_b b * B_b in levels of 2^log_k buckets per thread.

NTT: bit reversal, then one launch per radix-2 stage; the H step is
snarkjs's, as zkp.native.groth16_h computes it on the CPU.

Every kernel is a loop over independent items, so the tests run kernels.cu
compiled for the host in place of the GPU (tests/zkp/test_gpu_host.py); only
the sort, the binary search and the prefix sums are CuPy's own.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zkp import native
from zkp.backends import Backend, CircuitProver, Commitments
from zkp.errors import BackendUnavailable
from zkp.field import LIMBS, R, TWO_ADICITY, ints_to_limbs, root_of_unity, to_montgomery
from zkp.zkey import ZKey

try:
    import cupy
except ImportError as e:
    raise BackendUnavailable(
        f"the gpu backend needs CuPy: pip install 'provernet[gpu]' on a machine with CUDA 12 ({e})"
    ) from e

CUDA_DIR = Path(__file__).resolve().parents[1] / "native" / "cuda"
_HEADERS = ("launch.cuh", "msm.cuh", "ntt.cuh", "../bn254.h")

_U64 = np.uint64
_G1, _G2 = (2, LIMBS), (2, 2, LIMBS)
#: an XYZZ point: x, y, zz, zzz
_XYZZ = {"g1": (4, LIMBS), "g2": (4, 2, LIMBS)}
_AFFINE = {"g1": _G1, "g2": _G2}
#: entries pack a point index in 31 bits and n * windows must fit 32 bits (kernels.cu)
_MAX_POINTS = 1 << 26
#: threads per block; a grid-stride loop covers any count with at most this many blocks
_BLOCK = 128
_MAX_BLOCKS = 1 << 20


@dataclass(frozen=True)
class MsmPlan:
    """How one MSM is cut up; `plan_for(n)` picks one, tests force small ones."""

    #: window bits c: 2^(c-1) buckets per window, ceil(255 / c) windows
    window: int
    #: most entries (or partial sums) one thread adds up in a bucket
    segment: int = 32
    #: 2^log_k buckets per thread in the window sums
    log_k: int = 4

    def __post_init__(self):
        if not (1 <= self.window <= 24 and self.segment >= 2 and self.log_k >= 1):
            raise ValueError(f"no such MSM plan: {self}; window 1..24, segment >= 2, log_k >= 1")


def plan_for(n: int) -> MsmPlan:
    """The window that minimises windows * (points + reduction per bucket).

    A bucket costs about four XYZZ additions (one to gather it, three in the
    window sums) against one mixed addition a point; 15 or 16 bits at 2^20.
    """
    best, best_cost = 1, float("inf")
    for c in range(1, 21):
        cost = -(-255 // c) * (n + 4.5 * (1 << (c - 1)))
        if cost < best_cost:
            best, best_cost = c, cost
    return MsmPlan(window=best)


@functools.cache
def _module():
    """The compiled kernels, one module per process; CuPy also keeps the binary on disk."""
    source = (CUDA_DIR / "kernels.cu").read_text()
    headers = b"".join((CUDA_DIR / name).read_bytes() for name in _HEADERS)
    # CuPy's disk cache is keyed by the source text, which does not show the headers.
    stamp = f"// headers: {hashlib.sha256(headers).hexdigest()}\n"
    module = cupy.RawModule(code=stamp + source, options=(f"-I{CUDA_DIR}", f"-I{CUDA_DIR.parent}"))
    # RawModule compiles on the first lookup: fail here, not inside a proof.
    module.get_function("pn_msm_entries")
    return module


class _Kernels:
    def __init__(self, module):
        self._module = module
        self._functions = {}

    def __call__(self, name: str, count: int, *args) -> None:
        """Runs kernel `name` over `count` items; args are device arrays and numpy scalars."""
        if count == 0:
            return
        function = self._functions.get(name)
        if function is None:
            function = self._functions[name] = self._module.get_function(name)
        blocks = min(-(-count // _BLOCK), _MAX_BLOCKS)
        function((blocks,), (_BLOCK,), args)


@dataclass(frozen=True)
class DeviceBases:
    """MSM bases on the device: the points that are not infinity, and where each came from."""

    group: str
    #: (m, 2, 4) or (m, 2, 2, 4) Montgomery limbs
    points: object
    #: (m,) uint32: the scalar index of each point
    index: object
    #: the number of scalars an MSM with these bases takes
    length: int


def upload_bases(points: np.ndarray, group: str) -> DeviceBases:
    """Bases (n, 2, 4) for "g1" or (n, 2, 2, 4) for "g2", as the .zkey stores them."""
    shape = _AFFINE[group]
    if points.shape[1:] != shape:
        raise ValueError(f"{group} bases must have shape (n, {', '.join(map(str, shape))})")
    if len(points) > _MAX_POINTS:
        raise ValueError(f"at most 2^26 bases per MSM, not {len(points)}")
    kept = np.flatnonzero(points.reshape(len(points), np.prod(shape)).any(axis=1)).astype(np.uint32)
    return DeviceBases(
        group=group,
        points=cupy.asarray(np.ascontiguousarray(points[kept])),
        index=cupy.asarray(kept),
        length=len(points),
    )


def _segments(counts, limit: int):
    """Running totals (buckets + 1) of the segments of at most `limit` items per bucket."""
    per_bucket = (counts + _U64(limit - 1)) // _U64(limit)
    first = cupy.concatenate([cupy.zeros(1, dtype=_U64), cupy.cumsum(per_bucket, dtype=_U64)])
    return first, int(first[-1])


def msm(kernels: _Kernels, bases: DeviceBases, scalars, plan: MsmPlan | None = None) -> np.ndarray:
    """sum_i scalars[i] * bases[i] as an affine point (the .zkey layout), on the host.

    `scalars`: a device array (bases.length, 4) of standard-form values below r, which is
    not checked here: Prover checks its witness, and the H step's values are reduced.
    """
    if scalars.shape != (bases.length, LIMBS):
        raise ValueError(f"{bases.length} scalars expected, not an array of shape {scalars.shape}")
    g, n = bases.group, len(bases.index)
    if n == 0:
        return np.zeros(_AFFINE[g], dtype=_U64)
    plan = plan or plan_for(n)
    c, limit, log_k = plan.window, plan.segment, plan.log_k
    windows, per_window = -(-255 // c), 1 << (c - 1)
    buckets = windows * per_window
    if n * windows >= 1 << 32:
        raise ValueError(f"{n} points in {windows} windows of {c} bits: more entries than 2^32")

    entries = cupy.empty(n * windows, dtype=_U64)
    kernels("pn_msm_entries", n * windows, scalars, bases.index, _U64(n), np.uint32(c),
            np.uint32(windows), entries)
    entries.sort()
    keys = cupy.arange(buckets + 1, dtype=_U64) << _U64(32)
    start = cupy.searchsorted(entries, keys).astype(_U64)
    largest = int((start[1:] - start[:-1]).max())

    # Bucket sums: segments of the entries, then of the partial sums, until one per bucket.
    first, segments = _segments(start[1:] - start[:-1], limit)
    partials = cupy.empty((segments, *_XYZZ[g]), dtype=_U64)
    kernels(f"pn_{g}_bucket_entries", segments, bases.points, entries, start, first,
            np.uint32(buckets), np.uint32(limit), _U64(segments), partials)
    while largest > limit:
        largest = -(-largest // limit)
        start = first
        first, segments = _segments(start[1:] - start[:-1], limit)
        summed = cupy.empty((segments, *_XYZZ[g]), dtype=_U64)
        kernels(f"pn_{g}_bucket_partials", segments, partials, start, first, np.uint32(buckets),
                np.uint32(limit), _U64(segments), summed)
        partials = summed

    # Window sums, level by level, until one segment per window.
    k = 1 << log_k
    items = per_window + 1
    segments = -(-items // k)
    p = cupy.empty((windows * segments, *_XYZZ[g]), dtype=_U64)
    t = cupy.empty_like(p)
    kernels(f"pn_{g}_window_first", windows * segments, partials, first, np.uint32(c),
            np.uint32(windows), np.uint32(log_k), _U64(segments), p, t)
    shift = log_k
    while segments > 1:
        items, segments = segments, -(-segments // k)
        next_p = cupy.empty((windows * segments, *_XYZZ[g]), dtype=_U64)
        next_t = cupy.empty_like(next_p)
        kernels(f"pn_{g}_window_next", windows * segments, p, t, _U64(items), np.uint32(windows),
                np.uint32(log_k), np.uint32(shift), _U64(segments), next_p, next_t)
        p, t, shift = next_p, next_t, shift + log_k

    window_sums = cupy.empty((windows, *_AFFINE[g]), dtype=_U64)
    kernels(f"pn_{g}_to_affine", windows, p, _U64(windows), window_sums)
    weights = ints_to_limbs(pow(2, w * c, R) for w in range(windows))
    combine = native.msm_g1 if g == "g1" else native.msm_g2
    return combine(cupy.asnumpy(window_sums), weights)


class Domain:
    """NTTs of size 2^log_n on the device, twiddles computed there once."""

    def __init__(self, kernels: _Kernels, log_n: int):
        if not 0 <= log_n < TWO_ADICITY:
            raise ValueError(f"NTT sizes run from 2^0 to 2^{TWO_ADICITY - 1}, not 2^{log_n}")
        self._kernels, self.log_n, self.n = kernels, log_n, 1 << log_n
        w = root_of_unity(log_n)
        half = max(self.n // 2, 1)
        self._forward = self._powers(w, 1, half)
        self._backward = self._powers(pow(w, -1, R), 1, half)
        self._n_inverse = cupy.asarray(_montgomery([pow(self.n, -1, R)]))
        # The odd coset w_2n <w_n>, where the .zkey's H points live.
        self._coset = self._powers(root_of_unity(log_n + 1), 1, self.n)

    def _powers(self, g: int, first: int, count: int):
        out = cupy.empty((count, LIMBS), dtype=_U64)
        self._kernels("pn_fr_powers", count, cupy.asarray(_montgomery([g, first])), _U64(count), out)
        return out

    def _transform(self, values, twiddles) -> None:
        self._check(values)
        self._kernels("pn_fr_bit_reverse", self.n, values, np.uint32(self.log_n))
        for stage in range(1, self.log_n + 1):
            self._kernels("pn_fr_ntt_stage", self.n // 2, values, twiddles, np.uint32(self.log_n),
                          np.uint32(stage))

    def _check(self, values) -> None:
        if values.shape != (self.n, LIMBS) or values.dtype != _U64:
            raise ValueError(f"an NTT of size {self.n} takes a ({self.n}, 4) uint64 device array")

    def forward(self, values) -> None:
        """In place: values[i] = sum_j values[j] w^(ij), Montgomery form, natural order."""
        self._transform(values, self._forward)

    def inverse(self, values) -> None:
        """In place, the inverse of `forward`, 1/n included."""
        self._transform(values, self._backward)
        self._kernels("pn_fr_scale", self.n, values, self._n_inverse, _U64(self.n))

    def coset_forward(self, values) -> None:
        """In place: coefficients to evaluations on the odd coset w_2n <w_n>."""
        self._check(values)
        self._kernels("pn_fr_mul", self.n, values, self._coset, _U64(self.n), values)
        self.forward(values)


def _montgomery(values) -> np.ndarray:
    return ints_to_limbs(to_montgomery(v % R, R) for v in values)


class GpuCircuitProver(CircuitProver):
    def __init__(self, kernels: _Kernels, zkey: ZKey):
        self.zkey, self._kernels = zkey, kernels
        self.a = upload_bases(zkey.a, "g1")
        self.b1 = upload_bases(zkey.b1, "g1")
        self.b2 = upload_bases(zkey.b2, "g2")
        self.c = upload_bases(zkey.c, "g1")
        self.h = upload_bases(zkey.h, "g1")
        self.domain = Domain(kernels, zkey.domain_size.bit_length() - 1)
        # Coefficients grouped by row (matrix * n + constraint), so one thread sums a row.
        n, records = zkey.domain_size, zkey.coefficients
        rows = records["matrix"].astype(np.uint64) * n + records["constraint"]
        order = np.argsort(rows, kind="stable")
        self._row_start = cupy.asarray(
            np.searchsorted(rows[order], np.arange(2 * n + 1, dtype=_U64)).astype(_U64))
        self._signals = cupy.asarray(np.ascontiguousarray(records["signal"][order]))
        self._values = cupy.asarray(np.ascontiguousarray(records["value"][order]))

    def h_scalars(self, witness):
        """snarkjs's H step on a device witness: the H MSM's scalars, standard form, on the device."""
        n = self.zkey.domain_size
        ab = cupy.empty((2 * n, LIMBS), dtype=_U64)
        self._kernels("pn_groth16_rows", 2 * n, self._row_start, self._signals, self._values, witness,
                      _U64(2 * n), ab)
        a, b = ab[:n], ab[n:]
        c = cupy.empty((n, LIMBS), dtype=_U64)
        self._kernels("pn_fr_mul", n, a, b, _U64(n), c)
        for poly in (a, b, c):
            self.domain.inverse(poly)
            self.domain.coset_forward(poly)
        h = cupy.empty((n, LIMBS), dtype=_U64)
        self._kernels("pn_groth16_h", n, a, b, c, _U64(n), h)
        return h

    def commitments(self, witness: np.ndarray) -> Commitments:
        w = cupy.asarray(np.ascontiguousarray(witness))
        first_private = self.zkey.n_public + 1
        return Commitments(
            a=msm(self._kernels, self.a, w),
            b1=msm(self._kernels, self.b1, w),
            b2=msm(self._kernels, self.b2, w),
            c=msm(self._kernels, self.c, w[first_private:]),
            h=msm(self._kernels, self.h, self.h_scalars(w)),
        )


class GpuBackend(Backend):
    name = "gpu"

    def __init__(self):
        try:
            devices = cupy.cuda.runtime.getDeviceCount()
        except cupy.cuda.runtime.CUDARuntimeError as e:
            raise BackendUnavailable(f"CuPy sees no CUDA device: {e}") from e
        if devices == 0:
            raise BackendUnavailable("CuPy sees no CUDA device")
        try:
            self._kernels = _Kernels(_module())
        except (cupy.cuda.compiler.CompileException, RuntimeError, OSError) as e:
            # RuntimeError: NVRTC itself is missing or refuses to run (cupy_backends' NVRTCError).
            raise BackendUnavailable(f"the CUDA kernels cannot be built here: {e}") from e
        properties = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)
        self.device = properties["name"].decode(errors="replace")

    def load(self, zkey: ZKey) -> GpuCircuitProver:
        return GpuCircuitProver(self._kernels, zkey)

    def describe(self) -> str:
        return f"gpu ({self.device}, CuPy {cupy.__version__})"

    # Kernels alone, for benchmarks and tests: arrays stay on the device between calls.

    def upload(self, array: np.ndarray):
        return cupy.asarray(array)

    def download(self, array) -> np.ndarray:
        return cupy.asnumpy(array)

    def upload_bases(self, points: np.ndarray, group: str) -> DeviceBases:
        return upload_bases(points, group)

    def msm(self, bases: DeviceBases, scalars, plan: MsmPlan | None = None) -> np.ndarray:
        """The MSM of device bases and scalars (numpy arrays are uploaded first)."""
        return msm(self._kernels, bases, cupy.asarray(scalars), plan)

    def domain(self, log_n: int) -> Domain:
        return Domain(self._kernels, log_n)

    def synchronize(self) -> None:
        cupy.cuda.Device().synchronize()
