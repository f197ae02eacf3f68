"""Affine BN254 points as plain ints: the neutral form between file formats.

G1 points are (x, y) over Fq. G2 points are ((x0, x1), (y0, y1)) over
Fq2 = Fq[u]/(u^2 + 1), an element c0 + c1*u written (c0, c1): the order of
snarkjs's JSON and of py_ecc's FQ2 (the EVM pairing precompile wants
(c1, c0) instead). The point at infinity is None.

.zkey files store points as raw affine coordinates in Montgomery form
(x * 2^256 mod q), with infinity as all-zero bytes; the decoders here turn
limb arrays of those (see zkp.field) into ints.
"""

import numpy as np

from zkp.field import LIMBS, Q, from_montgomery, ints_to_limbs, limbs_to_ints, to_montgomery

G1 = tuple[int, int] | None
G2 = tuple[tuple[int, int], tuple[int, int]] | None


def _coordinates(raw: np.ndarray) -> list[int]:
    values = limbs_to_ints(raw)
    if any(v >= Q for v in values):
        raise ValueError("coordinate not below the base field modulus q")
    return [from_montgomery(v, Q) for v in values]


def g1_from_montgomery(raw: np.ndarray) -> list[G1]:
    """Decode a (..., 2, 4) uint64 array of Montgomery-form G1 points."""
    c = _coordinates(raw)
    return [None if c[i] == c[i + 1] == 0 else (c[i], c[i + 1]) for i in range(0, len(c), 2)]


def g2_from_montgomery(raw: np.ndarray) -> list[G2]:
    """Decode a (..., 2, 2, 4) uint64 array of Montgomery-form G2 points."""
    c = _coordinates(raw)
    return [
        None if not any(c[i : i + 4]) else ((c[i], c[i + 1]), (c[i + 2], c[i + 3]))
        for i in range(0, len(c), 4)
    ]


def g1_to_montgomery(points: list[G1]) -> np.ndarray:
    """Encode G1 points as an (n, 2, 4) uint64 array, the .zkey's layout."""
    coordinates = [to_montgomery(c, Q) for p in points for c in (p or (0, 0))]
    return ints_to_limbs(coordinates).reshape(len(points), 2, LIMBS)


def g2_to_montgomery(points: list[G2]) -> np.ndarray:
    """Encode G2 points as an (n, 2, 2, 4) uint64 array, the .zkey's layout."""
    coordinates = [
        to_montgomery(c, Q) for p in points for fq2 in (p or ((0, 0), (0, 0))) for c in fq2
    ]
    return ints_to_limbs(coordinates).reshape(len(points), 2, 2, LIMBS)
