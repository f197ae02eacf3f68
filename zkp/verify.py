"""Groth16 verification with snarkjs's semantics, one proof or many at once.

A proof (A, B, C) of public inputs x_1..x_n is valid when

    e(-A, B) * e(alpha, beta) * e(vk_x, gamma) * e(C, delta) = 1,
    vk_x = IC_0 + sum_i x_i IC_i,

the check snarkjs's `groth16 verify` and its Solidity verifier make. Proofs
of one key that arrive together are checked together (`verify_batch`): with
a fresh random 128-bit r_i per proof, from the operating system's CSPRNG,

    prod_i e(r_i A_i, B_i) = e(sum_i r_i alpha, beta)
        * e(sum_i r_i vk_x(x_i), gamma) * e(sum_i r_i C_i, delta),

n + 3 Miller loops and one final exponentiation for n proofs, the random
linear combination `zkp.aggregate` makes in public (there the prover may
see the r_i, as they come from a hash; here no one does). A batch of valid
proofs always holds; one with an invalid proof fails but with probability
about 2^-128. A batch that fails is split in halves until each invalid proof
is found, and a proof is called invalid only by its own exact check
(r = 1), so a valid proof is never rejected for its neighbours.

Before any pairing, the inputs are checked as the EVM's precompiles check
them, so that bad proof content gets a verdict with a reason, never an
exception: every coordinate below q, every point on its curve, G2 points in
the order-r subgroup (the twist E'(Fq2) has a large cofactor; G1 has none,
so on the curve is enough there), public inputs below r and as many as the
key commits to. The point at infinity (None) is a valid point. The key's
points are checked once, when it is prepared (`prepare_key`, cached per
key); the checks and the pairings run in the native library
(zkp/native/verify.h), which releases the GIL, so threads verify on every
core.

The py_ecc forms below (`require_g1`, `g1_point`, `linear_combination`, ...)
serve `zkp.aggregate`, which checks aggregates in Python.
"""

from __future__ import annotations

import functools
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from py_ecc.optimized_bn128 import FQ, FQ2, Z1, Z2, add, b, is_inf, is_on_curve, multiply, normalize

from zkp import native
from zkp.errors import ZkpError
from zkp.field import Q, R, ints_to_limbs
from zkp.points import G1, G2, g1_to_montgomery, g2_to_montgomery
from zkp.proof import Proof, VerificationKey

#: py_ecc's projective points: (x, y, z) over Fq for G1, over Fq2 for G2
Fq1Point = tuple[FQ, FQ, FQ]
Fq2Point = tuple[FQ2, FQ2, FQ2]

#: Bits of a batch's random scalars: an invalid proof in a batch escapes its check with
#: probability about 2^-128, and a scalar of 128 bits costs half the G1 work of a full one.
BATCH_SCALAR_BITS = 128
#: Verification keys kept prepared (`prepare_key`): a node verifies one circuit or a few.
PREPARED_KEYS = 16


@dataclass(frozen=True)
class Verdict:
    """Whether a proof is accepted; if not, `reason` names the part at fault."""

    valid: bool
    reason: str | None = None


ACCEPTED = Verdict(True)
PAIRING_FAILED = Verdict(False, "pairing check failed")


class InvalidVerificationKey(ZkpError):
    """The verification key has a point off its curve or outside the order-r subgroup.

    A key is trusted input, not proof content: a broken one is an error, not a verdict.
    """


class Rejection(Exception):
    """A reason to reject, raised by the checks below and turned into a `Verdict`.

    Never escapes `verify`, `verify_batch` or `zkp.aggregate.verify_aggregate`.
    """


_PROBLEMS = {
    native.PointStatus.COORDINATE_NOT_BELOW_Q:
        "has a coordinate that is not below the base field modulus",
    native.PointStatus.NOT_ON_CURVE: "is not on the curve",
    native.PointStatus.OUTSIDE_SUBGROUP: "is not in the order-r subgroup",
}


def _coordinates_below_q(point: G1 | G2, g2: bool) -> bool:
    if point is None:
        return True
    coordinates = (c for pair in point for c in pair) if g2 else point
    return all(0 <= c < Q for c in coordinates)


def _point_problems(points: Sequence[G1 | G2], g2: bool) -> list[str | None]:
    """Per point, what is wrong with it (the end of a reason) or None: coordinates first (a
    coordinate not below q has no Montgomery form to send), then the native check."""
    below = [_coordinates_below_q(p, g2) for p in points]
    encode, check = (g2_to_montgomery, native.g2_check) if g2 else (
        g1_to_montgomery, native.g1_check)
    statuses = check(encode([p if ok else None for p, ok in zip(points, below, strict=True)]))
    problem = _PROBLEMS[native.PointStatus.COORDINATE_NOT_BELOW_Q]
    return [_PROBLEMS.get(s) if ok else problem for ok, s in zip(below, statuses, strict=True)]


class PreparedKey:
    """A verification key whose points are checked, ready for `verify_batch`: the lines of
    beta, gamma and delta for the Miller loop and tables of multiples of alpha and the IC
    points, made once (a few milliseconds) and used by every check. Raises
    `InvalidVerificationKey` for a point off its curve or outside its group, or a G2 point
    at infinity (a setup never makes one)."""

    def __init__(self, vk: VerificationKey):
        g1 = [("vk_alpha_1", vk.alpha1), *((f"IC[{i}]", p) for i, p in enumerate(vk.ic))]
        g2 = [("vk_beta_2", vk.beta2), ("vk_gamma_2", vk.gamma2), ("vk_delta_2", vk.delta2)]
        for names, g2_points in ((g1, False), (g2, True)):
            problems = _point_problems([p for _, p in names], g2_points)
            for (name, _), problem in zip(names, problems, strict=True):
                if problem is not None:
                    raise InvalidVerificationKey(f"verification key: {name} {problem}")
        for name, point in g2:
            if point is None:
                raise InvalidVerificationKey(f"verification key: {name} is the point at infinity")
        self.vk = vk
        self._native = native.groth16_prepare_key(g1_to_montgomery([p for _, p in g1]),
                                                  g2_to_montgomery([p for _, p in g2]))

    @property
    def n_public(self) -> int:
        return self.vk.n_public


@functools.lru_cache(maxsize=PREPARED_KEYS)
def prepare_key(vk: VerificationKey) -> PreparedKey:
    """`vk` prepared, once per key (by value) while it is among the last PREPARED_KEYS used."""
    return PreparedKey(vk)


def verify(vk: VerificationKey, proof: Proof, public_inputs: Sequence[int]) -> Verdict:
    """Check one Groth16 proof against its key and public inputs."""
    return verify_batch(prepare_key(vk), [(proof, public_inputs)])[0]


def verify_batch(key: PreparedKey,
                 items: Sequence[tuple[Proof, Sequence[int]]]) -> list[Verdict]:
    """The verdict of each (proof, public inputs) against `key`, in order: exactly what
    `verify` says of each alone, at a fraction of the cost when most are valid."""
    verdicts: list[Verdict | None] = [None] * len(items)
    proofs = [proof for proof, _ in items]
    problems = zip(_point_problems([p.a for p in proofs], False),
                   _point_problems([p.b for p in proofs], True),
                   _point_problems([p.c for p in proofs], False), strict=True)
    for i, ((_, inputs), found) in enumerate(zip(items, problems, strict=True)):
        for name, problem in zip(("pi_a", "pi_b", "pi_c"), found, strict=True):
            if problem is not None:
                verdicts[i] = Verdict(False, f"{name} {problem}")
                break
        else:
            try:
                require_public_inputs(key.vk, inputs, "public input {}")
            except Rejection as rejection:
                verdicts[i] = Verdict(False, str(rejection))
    candidates = [i for i, v in enumerate(verdicts) if v is None]
    for i, holds in zip(candidates, _settle(key, [items[i] for i in candidates], False),
                        strict=True):
        verdicts[i] = ACCEPTED if holds else PAIRING_FAILED
    return verdicts


def _settle(key: PreparedKey, items: Sequence[tuple[Proof, Sequence[int]]],
            known_to_fail: bool) -> list[bool]:
    """Which of `items` (points and inputs checked) hold: together if they do, else by
    halves. A half is not checked when its failure follows (the whole failed, the other
    half held), except a single proof: only its own exact check may call it invalid."""
    if not items:
        return []
    skip_check = known_to_fail and len(items) > 1
    if not skip_check and _holds(key, items):
        return [True] * len(items)
    if len(items) == 1:
        return [False]
    half = len(items) // 2
    first = _settle(key, items[:half], False)
    return first + _settle(key, items[half:], all(first))


def _holds(key: PreparedKey, items: Sequence[tuple[Proof, Sequence[int]]]) -> bool:
    """The batch check of `items`; one proof is checked exactly (r = 1)."""
    if len(items) == 1:
        scalars = [1]
    else:
        scalars = [secrets.randbelow(2**BATCH_SCALAR_BITS - 1) + 1 for _ in items]
    s = [sum(scalars) % R]
    s += [sum(r * inputs[j] for r, (_, inputs) in zip(scalars, items, strict=True)) % R
          for j in range(key.n_public)]
    proofs = [proof for proof, _ in items]
    return native.groth16_batch_check(
        key._native, ints_to_limbs(s), g1_to_montgomery([p.a for p in proofs]),
        g2_to_montgomery([p.b for p in proofs]), g1_to_montgomery([p.c for p in proofs]),
        ints_to_limbs(scalars))


def require_valid_key(vk: VerificationKey) -> None:
    """Raise `InvalidVerificationKey` unless every point of the key is in its group."""
    prepare_key(vk)


def require_public_inputs(vk: VerificationKey, inputs: Sequence[int], name: str) -> None:
    """As many inputs as the key commits to, each below r; `name` formats an input's index."""
    if len(inputs) != vk.n_public:
        raise Rejection(f"expected {vk.n_public} public inputs, got {len(inputs)}")
    for i, x in enumerate(inputs):
        if not 0 <= x < R:
            raise Rejection(f"{name.format(i)} is not below the scalar field modulus")


def require_g1(point: G1, name: str) -> Fq1Point:
    """The point in py_ecc's form, if its coordinates are below q and it is on the curve."""
    if point is None:
        return Z1
    if not _coordinates_below_q(point, False):
        raise Rejection(f"{name} {_PROBLEMS[native.PointStatus.COORDINATE_NOT_BELOW_Q]}")
    projective = (FQ(point[0]), FQ(point[1]), FQ.one())
    if not is_on_curve(projective, b):
        raise Rejection(f"{name} {_PROBLEMS[native.PointStatus.NOT_ON_CURVE]}")
    return projective


def require_g2(point: G2, name: str) -> Fq2Point:
    """The point in py_ecc's form, if its coordinates are below q and it is in G2."""
    problem = _point_problems([point], True)[0]
    if problem is not None:
        raise Rejection(f"{name} {problem}")
    return g2_point(point)


def g1_point(point: G1) -> Fq1Point:
    """py_ecc's form of a point already known to be in G1 (a checked key's)."""
    return Z1 if point is None else (FQ(point[0]), FQ(point[1]), FQ.one())


def g2_point(point: G2) -> Fq2Point:
    """py_ecc's form of a point already known to be in G2 (a checked key's)."""
    if point is None:
        return Z2
    (x0, x1), (y0, y1) = point
    return FQ2([x0, x1]), FQ2([y0, y1]), FQ2.one()


def linear_combination(points: Sequence[Fq1Point], scalars: Sequence[int]) -> Fq1Point:
    """sum_i s_i P_i over G1."""
    total = Z1
    for point, scalar in zip(points, scalars, strict=True):
        total = add(total, multiply(point, scalar))
    return total


def pairing_product_is_one(pairs: Iterable[tuple[Fq1Point, Fq2Point]]) -> bool:
    """prod e(P_i, Q_i) = 1, with one final exponentiation for all the Miller loops
    (zkp.native.pairing_product_is_one). The points must already have passed the checks
    above."""
    return native.pairing_product_is_one([(_affine_g1(p), _affine_g2(q)) for p, q in pairs])


def _affine_g1(point: Fq1Point) -> G1:
    if is_inf(point):
        return None
    x, y = normalize(point)
    return int(x), int(y)


def _affine_g2(point: Fq2Point) -> G2:
    if is_inf(point):
        return None
    x, y = normalize(point)
    return (int(x.coeffs[0]), int(x.coeffs[1])), (int(y.coeffs[0]), int(y.coeffs[1]))
