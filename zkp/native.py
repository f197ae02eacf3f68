"""The native BN254 library: multi-scalar multiplication, NTT, the Groth16 polynomial step,
Groth16 verification.

The C++ sources are in zkp/native/: bn254.h (field and curve arithmetic,
shared with the CUDA kernels), msm.h and ntt.h (the algorithms), pairing.h
and verify.h (the pairing and the checks of verification), bn254.cpp (the
C ABI). `pip install` builds them into zkp/_bn254<extension suffix>
beside this file; it has no Python module init and is loaded here with
ctypes, which releases the GIL for the length of every call. The kernels are
built twice, with x86-64 BMI2/ADX assembly field products ("adx") and with
portable C ones; the library runs the first where the CPU has them.

Arrays are numpy uint64 limb arrays in the layouts of zkp.field and zkp.zkey,
passed to C without copies, so they must be C-contiguous, aligned and
little-endian uint64 (anything else is a ValueError naming the argument):
  * an element: 4 limbs, little-endian; field elements and point coordinates
    in Montgomery form (x * 2^256 mod p), below p;
  * a G1 point: (2, 4), x then y; a G2 point: (2, 2, 4), [x|y][c0|c1];
    infinity is all zeros;
  * a scalar (MSM, multiplication): standard form, below r, as witnesses hold
    them.
Every function takes `threads`; None means the module-level `threads`.
"""

import ctypes
import enum
import functools
import importlib.machinery
import os
from pathlib import Path

from collections.abc import Iterable

import numpy as np

from zkp.errors import NativeLibraryMissing
from zkp.field import LIMBS, Q
from zkp.points import G1, G2, g1_to_montgomery, g2_to_montgomery
from zkp.zkey import COEFFICIENT

_LIBRARY_STEM = "_bn254"
# PN_ERR_MEMORY in zkp/native/kernels.h: the one failure that is not a bad argument.
_ERR_MEMORY = 8

# Fr has roots of unity of order up to 2^28; snarkjs handles a 2^28 domain with a
# different coset shift, which groth16_h does not copy.
_MAX_DOMAIN = 1 << 28

_U64 = np.dtype("<u8")
_ELEMENT = (LIMBS,)
_FQ2 = (2, LIMBS)
_G1 = (2, LIMBS)
_G2 = (2, 2, LIMBS)


def default_threads() -> int:
    """$PROVERNET_THREADS, else the number of CPUs this process may run on."""
    configured = os.environ.get("PROVERNET_THREADS", "").strip()
    if configured:
        if not configured.isdigit() or int(configured) == 0:
            raise ValueError(f"PROVERNET_THREADS must be a positive integer, not {configured!r}")
        return int(configured)
    # The CPUs this process may run on (taskset, cpusets), where the OS says.
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


#: Threads the native calls use unless told otherwise: $PROVERNET_THREADS, else every core.
threads: int = default_threads()


# ------------------------------------------------------------------ loading

_P = ctypes.c_void_p
_N = ctypes.c_size_t
_I = ctypes.c_int

_SIGNATURES = {
    "pn_error_message": (_I,),
    "pn_kernels_name": (),
    "pn_select_kernels": (ctypes.c_char_p,),
    "pn_msm_g1": (_P, _P, _N, _P, _I),
    "pn_msm_g2": (_P, _P, _N, _P, _I),
    "pn_g1_mul_many": (_P, _P, _N, _P, _I),
    "pn_g2_mul_many": (_P, _P, _N, _P, _I),
    "pn_fr_ntt": (_P, _N, _I, _I),
    "pn_groth16_h": (_P, _N, _P, _N, _N, _P, _I),
    **{f"pn_{f}_{op}": (_P, _P, _P, _N) for f in ("fp", "fr") for op in ("mul", "add", "sub")},
    **{
        f"pn_{f}_{op}": (_P, _P, _N)
        for f in ("fp", "fr")
        for op in ("inv", "to_montgomery", "from_montgomery")
    },
    "pn_fp2_mul": (_P, _P, _P, _N),
    "pn_fp2_sqr": (_P, _P, _N),
    "pn_pairing_product_is_one": (_P, _P, _N),
    "pn_g1_check": (_P, _P, _N),
    "pn_g2_check": (_P, _P, _N),
    "pn_groth16_key_words": (_N,),
    "pn_groth16_prepare_key": (_P, _N, _P, _P),
    "pn_groth16_batch_check": (_P, _N, _P, _P, _P, _P, _P, _N),
    **{f"pn_{g}_add": (_P, _P, _P, _N) for g in ("g1", "g2")},
    **{
        f"pn_{g}_{op}": (_P, _P, _N)
        for g in ("g1", "g2")
        for op in ("double", "negate", "is_on_curve")
    },
}
_STRING_RESULTS = {"pn_error_message", "pn_kernels_name"}
_SIZE_RESULTS = {"pn_groth16_key_words"}


def library_path() -> Path | None:
    """The built library beside this module, or None when it has not been built."""
    here = Path(__file__).resolve().parent
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        candidate = here / f"{_LIBRARY_STEM}{suffix}"
        if candidate.is_file():
            return candidate
    return None


@functools.cache
def _library() -> ctypes.CDLL:
    reinstall = "build it by reinstalling provernet: `make setup`, or `pip install -e .`"
    path = library_path()
    if path is None:
        raise NativeLibraryMissing(
            f"the native BN254 library (zkp/{_LIBRARY_STEM}*.so) is not built; {reinstall}"
        )
    # OpenMP threads spin while they wait at the end of a parallel loop. When other
    # processes share the cores, a spinning thread keeps the one it waits for off the CPU
    # for a whole time slice: on two busy cores an NTT with two threads took 15 times as
    # long as with one. Sleeping waits cost microseconds per loop on an idle machine.
    # libgomp reads this once, when loading the library loads it; a user's setting wins.
    os.environ.setdefault("OMP_WAIT_POLICY", "passive")
    try:
        lib = ctypes.CDLL(str(path))
        for name, argtypes in _SIGNATURES.items():
            function = getattr(lib, name)
            function.argtypes = argtypes
            function.restype = (ctypes.c_char_p if name in _STRING_RESULTS
                                else _N if name in _SIZE_RESULTS else ctypes.c_int)
    except (OSError, AttributeError) as e:
        # AttributeError: a library built from older sources, without some function.
        raise NativeLibraryMissing(f"{path} cannot be used ({e}); {reinstall}") from e
    return lib


def _call(name: str, *args) -> None:
    lib = _library()
    code = getattr(lib, name)(*args)
    if code:
        message = lib.pn_error_message(code).decode()
        raise (MemoryError if code == _ERR_MEMORY else ValueError)(f"{name}: {message}")


def _threads(requested: int | None) -> int:
    count = threads if requested is None else requested
    if not isinstance(count, int) or count < 1:
        raise ValueError(f"threads must be a positive integer, not {count!r}")
    return count


#: The two builds of the library's kernels: "adx" uses the BMI2/ADX instructions of x86-64
#: CPUs since 2014-2017 for its field products, "portable" is C for any 64-bit CPU.
KERNELS = ("adx", "portable")


def kernels() -> str:
    """The kernels the calls run: "adx" where the CPU has BMI2 and ADX, else "portable"."""
    return _library().pn_kernels_name().decode()


def use_kernels(name: str) -> None:
    """Run later calls on the kernels `name`, for tests and benchmarks that compare the two.

    Not thread-safe: no other call may be running. ValueError if this CPU cannot run them.
    """
    if name not in KERNELS:
        raise ValueError(f"kernels must be one of {KERNELS}, not {name!r}")
    _call("pn_select_kernels", name.encode())


# ---------------------------------------------------------------- arguments


def _limbs(name: str, array: np.ndarray, tail: tuple[int, ...], *, single: bool = False) -> int:
    """The data pointer of a limb array of shape (n, *tail), or of shape tail when `single`."""
    if not isinstance(array, np.ndarray):
        raise ValueError(f"{name} must be a numpy uint64 array, not {type(array).__name__}")
    if array.dtype != _U64:
        raise ValueError(f"{name} must be a little-endian uint64 array, not {array.dtype}")
    expected = tail if single else ("n", *tail)
    if len(array.shape) != len(expected) or array.shape[-len(tail) :] != tail:
        shape = "(" + ", ".join(map(str, expected)) + ")"
        raise ValueError(f"{name} must have shape {shape}, not {array.shape}")
    if not array.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous (np.ascontiguousarray copies it so)")
    if not array.flags.aligned:
        raise ValueError(f"{name} must be 8-byte aligned (array.copy() copies it so)")
    return array.ctypes.data


def _same_length(first: str, a: np.ndarray, second: str, b: np.ndarray) -> None:
    if len(a) != len(b):
        raise ValueError(f"{first} and {second} differ in length: {len(a)} and {len(b)}")


# --------------------------------------------------------------- operations


def msm_g1(bases: np.ndarray, scalars: np.ndarray, *, threads: int | None = None) -> np.ndarray:
    """sum_i scalars[i] * bases[i]: bases (n, 2, 4), scalars (n, 4); a (2, 4) affine point."""
    return _msm("pn_msm_g1", _G1, bases, scalars, threads)


def msm_g2(bases: np.ndarray, scalars: np.ndarray, *, threads: int | None = None) -> np.ndarray:
    """sum_i scalars[i] * bases[i]: bases (n, 2, 2, 4), scalars (n, 4); a (2, 2, 4) affine point."""
    return _msm("pn_msm_g2", _G2, bases, scalars, threads)


def _msm(name: str, point: tuple[int, ...], bases, scalars, threads) -> np.ndarray:
    bases_ptr = _limbs("bases", bases, point)
    scalars_ptr = _limbs("scalars", scalars, _ELEMENT)
    _same_length("bases", bases, "scalars", scalars)
    out = np.empty(point, dtype=_U64)
    _call(name, bases_ptr, scalars_ptr, len(bases), out.ctypes.data, _threads(threads))
    return out


def g1_mul_many(base: np.ndarray, scalars: np.ndarray, *, threads: int | None = None) -> np.ndarray:
    """scalars[i] * base for every i: base (2, 4), scalars (n, 4); (n, 2, 4) affine points."""
    return _mul_many("pn_g1_mul_many", _G1, base, scalars, threads)


def g2_mul_many(base: np.ndarray, scalars: np.ndarray, *, threads: int | None = None) -> np.ndarray:
    """scalars[i] * base for every i: base (2, 2, 4), scalars (n, 4); (n, 2, 2, 4) affine points."""
    return _mul_many("pn_g2_mul_many", _G2, base, scalars, threads)


def _mul_many(name: str, point: tuple[int, ...], base, scalars, threads) -> np.ndarray:
    base_ptr = _limbs("base", base, point, single=True)
    scalars_ptr = _limbs("scalars", scalars, _ELEMENT)
    out = np.empty((len(scalars), *point), dtype=_U64)
    _call(name, base_ptr, scalars_ptr, len(scalars), out.ctypes.data, _threads(threads))
    return out


def ntt(values: np.ndarray, inverse: bool = False, *, threads: int | None = None) -> np.ndarray:
    """The NTT of n = 2^k Montgomery-form scalars (n, 4), natural order, as a new array.

    Roots are ffjavascript's, w_n = 5^((r - 1) / n): out[i] = sum_j values[j] w_n^(ij).
    The inverse uses w_n^-1 and includes the factor 1/n. `values` is not modified.
    """
    _limbs("values", values, _ELEMENT)
    n = len(values)
    if n == 0 or n > _MAX_DOMAIN or n & (n - 1):
        raise ValueError(f"the number of values must be a power of two up to 2^28, not {n}")
    out = values.copy()
    _call("pn_fr_ntt", out.ctypes.data, n.bit_length() - 1, int(inverse), _threads(threads))
    return out


def groth16_h(
    coefficients: np.ndarray, witness: np.ndarray, domain_size: int, *, threads: int | None = None
) -> np.ndarray:
    """The scalars of the MSM with a .zkey's H points, computed as snarkjs's prover does.

    coefficients: the .zkey's section-4 records (dtype zkp.zkey.COEFFICIENT);
    witness: (n_vars, 4), standard form. A and B on the domain are the
    coefficient sums, C = A.B; each goes to the odd coset w_2n <w_n> (inverse
    NTT, coefficient j times w_2n^j, NTT) and the result is A.B - C there:
    (domain_size, 4), standard form.
    """
    if not isinstance(coefficients, np.ndarray) or coefficients.dtype != COEFFICIENT:
        raise ValueError("coefficients must be a numpy array of dtype zkp.zkey.COEFFICIENT")
    if coefficients.ndim != 1 or not coefficients.flags.c_contiguous:
        raise ValueError(
            f"coefficients must be a contiguous 1-d array, not of shape {coefficients.shape}"
        )
    witness_ptr = _limbs("witness", witness, _ELEMENT)
    if (
        not isinstance(domain_size, int)
        or not 1 <= domain_size < _MAX_DOMAIN
        or domain_size & (domain_size - 1)
    ):
        raise ValueError(f"domain_size must be a power of two below 2^28, not {domain_size!r}")
    out = np.empty((domain_size, LIMBS), dtype=_U64)
    _call(
        "pn_groth16_h",
        coefficients.ctypes.data,
        len(coefficients),
        witness_ptr,
        len(witness),
        domain_size,
        out.ctypes.data,
        _threads(threads),
    )
    return out


def _truth(name: str, result: int) -> bool:
    """A yes-or-no entry point's 1 or 0; its negated error code is a ValueError or MemoryError."""
    if result < 0:
        message = _library().pn_error_message(-result).decode()
        raise (MemoryError if -result == _ERR_MEMORY else ValueError)(f"{name}: {message}")
    return result == 1


def pairing_product_is_one(pairs: Iterable[tuple[G1, G2]]) -> bool:
    """prod_i e(P_i, Q_i) = 1 for affine integer points, None being infinity (zkp.points).

    The optimal ate pairing of BN254 (zkp/native/pairing.h), one final
    exponentiation for all the Miller loops; a pair with a point at infinity
    counts as 1, as in py_ecc. The points must be on their curves and each
    Q_i in the order-r subgroup, which this does not check (zkp.verify
    does); coordinates must be below q (else ValueError).
    """
    pairs = list(pairs)
    for p, q in pairs:
        coordinates = [*(p or ()), *(c for fq2 in (q or ()) for c in fq2)]
        if not all(0 <= c < Q for c in coordinates):
            raise ValueError("a pairing input has a coordinate that is not below q")
    g1 = g1_to_montgomery([p for p, _ in pairs]) if pairs else np.zeros((0, *_G1), _U64)
    g2 = g2_to_montgomery([q for _, q in pairs]) if pairs else np.zeros((0, *_G2), _U64)
    result = _library().pn_pairing_product_is_one(g1.ctypes.data, g2.ctypes.data, len(pairs))
    return _truth("pn_pairing_product_is_one", result)


# ------------------------------------------------------- Groth16 verification
#
# zkp.verify's native half (zkp/native/verify.h): point checks, a key
# prepared once, and the check of a batch of proofs with one final
# exponentiation. Each runs on one thread; callers use more cores by calling
# from several threads, as ctypes releases the GIL.


class PointStatus(enum.IntEnum):
    """What `g1_check` and `g2_check` say of a point (the point at infinity is in the group)."""

    IN_GROUP = 0
    COORDINATE_NOT_BELOW_Q = 1
    NOT_ON_CURVE = 2
    #: on the twist curve but outside its order-r subgroup G2 (G1 has no other points)
    OUTSIDE_SUBGROUP = 3


def g1_check(points: np.ndarray) -> list[PointStatus]:
    """Each of (n, 2, 4) affine points: on the curve y^2 = x^3 + 3, coordinates below q."""
    return _point_check("pn_g1_check", _G1, points)


def g2_check(points: np.ndarray) -> list[PointStatus]:
    """Each of (n, 2, 2, 4) affine points: on the twist, in G2, coordinates below q."""
    return _point_check("pn_g2_check", _G2, points)


def _point_check(name: str, tail: tuple[int, ...], points: np.ndarray) -> list[PointStatus]:
    status = _unary(name, tail, points, np.dtype(np.uint8))
    return [PointStatus(s) for s in status.tolist()]


def groth16_prepare_key(g1: np.ndarray, g2: np.ndarray) -> np.ndarray:
    """A key for `groth16_batch_check`, an opaque uint64 array: g1 is alpha then the IC
    points, (1 + n_ic, 2, 4); g2 is beta, gamma and delta, (3, 2, 2, 4), none at infinity.
    Every point must have passed g1_check or g2_check. Lines of the G2 points and tables
    of multiples of the G1 points, about 90 KB per G1 point."""
    g1_ptr = _limbs("g1", g1, _G1)
    g2_ptr = _limbs("g2", g2, _G2)
    if len(g1) < 1 or len(g2) != 3:
        raise ValueError(f"a key has alpha and IC points and 3 G2 points, not {len(g1)} and "
                         f"{len(g2)}")
    n_ic = len(g1) - 1
    out = np.empty(_library().pn_groth16_key_words(n_ic), dtype=_U64)
    _call("pn_groth16_prepare_key", g1_ptr, n_ic, g2_ptr, out.ctypes.data)
    return out


def groth16_batch_check(key: np.ndarray, s: np.ndarray, a: np.ndarray, b: np.ndarray,
                        c: np.ndarray, r: np.ndarray) -> bool:
    """Whether n proofs (a (n, 2, 4), b (n, 2, 2, 4), c (n, 2, 4), points already checked)
    hold together against `key` with scalars r (n, 4): prod_i e(r_i A_i, B_i) =
    e(s_0 alpha, beta) e(sum_j s_j IC_j, gamma) e(sum_i r_i C_i, delta), where s (n_ic, 4)
    must be sum_i r_i and sum_i r_i x_ij for the proofs' public inputs x_i. Scalars
    standard form, below r. One proof with r = 1 is Groth16's own check."""
    if not (isinstance(key, np.ndarray) and key.dtype == _U64 and key.ndim == 1
            and key.flags.c_contiguous and key.flags.aligned):
        raise ValueError("key must be the array groth16_prepare_key made")
    key_ptr = key.ctypes.data
    s_ptr = _limbs("s", s, _ELEMENT)
    pointers = [_limbs("a", a, _G1), _limbs("b", b, _G2), _limbs("c", c, _G1)]
    r_ptr = _limbs("r", r, _ELEMENT)
    for name, array in (("b", b), ("c", c), ("r", r)):
        _same_length("a", a, name, array)
    result = _library().pn_groth16_batch_check(key_ptr, len(key), s_ptr, *pointers, r_ptr,
                                               len(a))
    return _truth("pn_groth16_batch_check", result)


# ------------------------------------------------ primitives, for the tests
#
# Elementwise over arrays of n elements or points, each checked below its
# modulus. Field values are Montgomery form except the input of
# *_to_montgomery and the output of *_from_montgomery.


def _binary(name: str, tail: tuple[int, ...], a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a_ptr, b_ptr = _limbs("a", a, tail), _limbs("b", b, tail)
    _same_length("a", a, "b", b)
    out = np.empty_like(a)
    _call(name, a_ptr, b_ptr, out.ctypes.data, len(a))
    return out


def _unary(name: str, tail: tuple[int, ...], a: np.ndarray, out_dtype=_U64) -> np.ndarray:
    a_ptr = _limbs("a", a, tail)
    out = np.empty((len(a), *tail) if out_dtype == _U64 else len(a), dtype=out_dtype)
    _call(name, a_ptr, out.ctypes.data, len(a))
    return out


def fp_mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return _binary("pn_fp_mul", _ELEMENT, a, b)


def fp_add(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return _binary("pn_fp_add", _ELEMENT, a, b)


def fp_sub(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return _binary("pn_fp_sub", _ELEMENT, a, b)


def fp_inv(a: np.ndarray) -> np.ndarray:
    """1/a, and 0 for 0."""
    return _unary("pn_fp_inv", _ELEMENT, a)


def fp_to_montgomery(a: np.ndarray) -> np.ndarray:
    return _unary("pn_fp_to_montgomery", _ELEMENT, a)


def fp_from_montgomery(a: np.ndarray) -> np.ndarray:
    return _unary("pn_fp_from_montgomery", _ELEMENT, a)


def fr_mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return _binary("pn_fr_mul", _ELEMENT, a, b)


def fr_add(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return _binary("pn_fr_add", _ELEMENT, a, b)


def fr_sub(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return _binary("pn_fr_sub", _ELEMENT, a, b)


def fr_inv(a: np.ndarray) -> np.ndarray:
    """1/a, and 0 for 0."""
    return _unary("pn_fr_inv", _ELEMENT, a)


def fr_to_montgomery(a: np.ndarray) -> np.ndarray:
    return _unary("pn_fr_to_montgomery", _ELEMENT, a)


def fr_from_montgomery(a: np.ndarray) -> np.ndarray:
    return _unary("pn_fr_from_montgomery", _ELEMENT, a)


def fp2_mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Products in Fq2 = Fq[u]/(u^2 + 1) of (n, 2, 4) arrays, [c0|c1]."""
    return _binary("pn_fp2_mul", _FQ2, a, b)


def fp2_square(a: np.ndarray) -> np.ndarray:
    return _unary("pn_fp2_sqr", _FQ2, a)


def g1_add(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return _binary("pn_g1_add", _G1, a, b)


def g1_double(a: np.ndarray) -> np.ndarray:
    return _unary("pn_g1_double", _G1, a)


def g1_negate(a: np.ndarray) -> np.ndarray:
    return _unary("pn_g1_negate", _G1, a)


def g1_is_on_curve(a: np.ndarray) -> np.ndarray:
    """A bool per point; infinity counts as on the curve."""
    return _unary("pn_g1_is_on_curve", _G1, a, np.dtype(np.bool_))


def g2_add(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return _binary("pn_g2_add", _G2, a, b)


def g2_double(a: np.ndarray) -> np.ndarray:
    return _unary("pn_g2_double", _G2, a)


def g2_negate(a: np.ndarray) -> np.ndarray:
    return _unary("pn_g2_negate", _G2, a)


def g2_is_on_curve(a: np.ndarray) -> np.ndarray:
    """A bool per point; infinity counts as on the curve."""
    return _unary("pn_g2_is_on_curve", _G2, a, np.dtype(np.bool_))
