"""BN254 field constants and the layout circom and snarkjs give field elements.

Every file format stores an element of either field as 32 little-endian bytes.
In memory we keep arrays of them as numpy uint64 arrays whose last axis holds
the four 64-bit limbs, least significant first: the file bytes reinterpreted
without copying, and the layout a Montgomery-arithmetic kernel works on.
"""

from collections.abc import Iterable

import numpy as np

#: Base field modulus: coordinates of curve points live here.
Q = 21888242871839275222246405745257275088696311157297823662689037894645226208583
#: Scalar field modulus (the group order): witness values, circuit signals.
R = 21888242871839275222246405745257275088548364400416034343698204186575808495617
#: Bytes per element of either field in every file format.
N8 = 32
#: Limbs per element in the in-memory arrays.
LIMBS = N8 // 8

#: 2^TWO_ADICITY is the largest power of two dividing r - 1: the largest NTT domain.
TWO_ADICITY = 28
#: The least quadratic non-residue mod r, whose powers give ffjavascript's roots of unity.
_NON_RESIDUE = 5

_MONTGOMERY_RADIX = 1 << (8 * N8)
_RADIX_INVERSE = {Q: pow(_MONTGOMERY_RADIX, -1, Q), R: pow(_MONTGOMERY_RADIX, -1, R)}


def to_montgomery(x: int, modulus: int) -> int:
    return x * _MONTGOMERY_RADIX % modulus


def from_montgomery(x: int, modulus: int) -> int:
    """The value whose Montgomery form (x * 2^256 mod modulus) is `x`."""
    return x * _RADIX_INVERSE[modulus] % modulus


def root_of_unity(log_n: int) -> int:
    """The 2^log_n-th root of unity snarkjs uses: 5^((r - 1) / 2^log_n) mod r.

    Every file that stores evaluations on a domain (the .zkey's H points) is
    tied to this particular choice of generator.
    """
    if not 0 <= log_n <= TWO_ADICITY:
        raise ValueError(f"no 2^{log_n}-th root of unity in the scalar field (at most 2^{TWO_ADICITY})")
    return pow(_NON_RESIDUE, (R - 1) >> log_n, R)


def limbs_to_ints(limbs: np.ndarray) -> list[int]:
    """Elements of a (..., 4) uint64 limb array as Python ints, in row-major order."""
    raw = np.ascontiguousarray(limbs, dtype="<u8").tobytes()
    return [int.from_bytes(raw[i : i + N8], "little") for i in range(0, len(raw), N8)]


def ints_to_limbs(values: Iterable[int]) -> np.ndarray:
    """An (n, 4) uint64 limb array of non-negative ints below 2^256."""
    raw = b"".join(v.to_bytes(N8, "little") for v in values)
    return np.frombuffer(raw, dtype="<u8").reshape(-1, LIMBS)


def below_modulus(limbs: np.ndarray, modulus: int) -> np.ndarray:
    """Per element of an (..., 4) limb array: is it below `modulus`? Vectorised, for big witnesses."""
    bound = [(modulus >> (64 * i)) & (2**64 - 1) for i in range(LIMBS)]
    below = np.zeros(limbs.shape[:-1], dtype=bool)
    equal = np.ones(limbs.shape[:-1], dtype=bool)
    for i in reversed(range(LIMBS)):
        limb = limbs[..., i]
        below |= equal & (limb < np.uint64(bound[i]))
        equal &= limb == np.uint64(bound[i])
    return below
