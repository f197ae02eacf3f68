"""Groth16 verification in Python, with snarkjs's semantics.

A proof (A, B, C) of public inputs x_1..x_n is valid when

    e(-A, B) * e(alpha, beta) * e(vk_x, gamma) * e(C, delta) = 1,
    vk_x = IC_0 + sum_i x_i IC_i,

the check snarkjs's `groth16 verify` and its Solidity verifier make. The
product is taken over Miller loops and raised to the final exponent once:
the final exponentiation is a homomorphism, and it costs more than a Miller
loop, so four pairings cost four Miller loops and one exponentiation.

Before any pairing, the inputs are checked as the EVM's precompiles check
them, so that bad proof content gets a verdict with a reason, never an
exception: every coordinate below q, every point on its curve, G2 points in
the order-r subgroup (the twist E'(Fq2) has a large cofactor; G1 has none,
so on the curve is enough there), public inputs below r and as many as the
key commits to. The point at infinity (None) is a valid point.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from py_ecc.optimized_bn128 import (
    FQ,
    FQ2,
    FQ12,
    Z1,
    Z2,
    add,
    b,
    b2,
    curve_order,
    final_exponentiate,
    is_inf,
    is_on_curve,
    multiply,
    neg,
    normalize,
    pairing,
)

from zkp import native
from zkp.errors import NativeLibraryMissing, ZkpError
from zkp.field import Q, R
from zkp.points import G1, G2
from zkp.proof import Proof, VerificationKey

#: py_ecc's projective points: (x, y, z) over Fq for G1, over Fq2 for G2
Fq1Point = tuple[FQ, FQ, FQ]
Fq2Point = tuple[FQ2, FQ2, FQ2]


@dataclass(frozen=True)
class Verdict:
    """Whether a proof is accepted; if not, `reason` names the part at fault."""

    valid: bool
    reason: str | None = None


ACCEPTED = Verdict(True)


class InvalidVerificationKey(ZkpError):
    """The verification key has a point off its curve or outside the order-r subgroup.

    A key is trusted input, not proof content: a broken one is an error, not a verdict.
    """


class Rejection(Exception):
    """A reason to reject, raised by the checks below and turned into a `Verdict`.

    Never escapes `verify` or `zkp.aggregate.verify_aggregate`.
    """


def verify(vk: VerificationKey, proof: Proof, public_inputs: Sequence[int]) -> Verdict:
    """Check one Groth16 proof against its key and public inputs."""
    require_valid_key(vk)
    try:
        a = require_g1(proof.a, "pi_a")
        b_point = require_g2(proof.b, "pi_b")
        c = require_g1(proof.c, "pi_c")
        require_public_inputs(vk, public_inputs, "public input {}")
    except Rejection as rejection:
        return Verdict(False, str(rejection))
    pairs = [
        (neg(a), b_point),
        (g1_point(vk.alpha1), g2_point(vk.beta2)),
        (public_input_commitment(vk, public_inputs), g2_point(vk.gamma2)),
        (c, g2_point(vk.delta2)),
    ]
    return ACCEPTED if pairing_product_is_one(pairs) else Verdict(False, "pairing check failed")


def require_valid_key(vk: VerificationKey) -> None:
    """Raise `InvalidVerificationKey` unless every point of the key is in its group."""
    points = [("vk_alpha_1", vk.alpha1, require_g1), ("vk_beta_2", vk.beta2, require_g2),
              ("vk_gamma_2", vk.gamma2, require_g2), ("vk_delta_2", vk.delta2, require_g2)]
    points += [(f"IC[{i}]", p, require_g1) for i, p in enumerate(vk.ic)]
    for name, point, require in points:
        try:
            require(point, name)
        except Rejection as rejection:
            raise InvalidVerificationKey(f"verification key: {rejection}") from None


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
    _require_coordinates(point, name)
    projective = (FQ(point[0]), FQ(point[1]), FQ.one())
    if not is_on_curve(projective, b):
        raise Rejection(f"{name} is not on the curve")
    return projective


def require_g2(point: G2, name: str) -> Fq2Point:
    """The point in py_ecc's form, if its coordinates are below q and it is in G2."""
    if point is None:
        return Z2
    (x0, x1), (y0, y1) = point
    _require_coordinates((x0, x1, y0, y1), name)
    projective = (FQ2([x0, x1]), FQ2([y0, y1]), FQ2.one())
    if not is_on_curve(projective, b2):
        raise Rejection(f"{name} is not on the curve")
    if not is_inf(multiply(projective, curve_order)):
        raise Rejection(f"{name} is not in the order-r subgroup")
    return projective


def _require_coordinates(coordinates: Iterable[int], name: str) -> None:
    if not all(0 <= c < Q for c in coordinates):
        raise Rejection(f"{name} has a coordinate that is not below the base field modulus")


def g1_point(point: G1) -> Fq1Point:
    """py_ecc's form of a point already known to be in G1 (a checked key's)."""
    return Z1 if point is None else (FQ(point[0]), FQ(point[1]), FQ.one())


def g2_point(point: G2) -> Fq2Point:
    """py_ecc's form of a point already known to be in G2 (a checked key's)."""
    if point is None:
        return Z2
    (x0, x1), (y0, y1) = point
    return FQ2([x0, x1]), FQ2([y0, y1]), FQ2.one()


def public_input_commitment(vk: VerificationKey, inputs: Sequence[int]) -> Fq1Point:
    """vk_x = IC_0 + sum_i x_i IC_i."""
    return linear_combination([g1_point(p) for p in vk.ic], [1, *inputs])


def linear_combination(points: Sequence[Fq1Point], scalars: Sequence[int]) -> Fq1Point:
    """sum_i s_i P_i over G1."""
    total = Z1
    for point, scalar in zip(points, scalars, strict=True):
        total = add(total, multiply(point, scalar))
    return total


def pairing_product_is_one(pairs: Iterable[tuple[Fq1Point, Fq2Point]]) -> bool:
    """prod e(P_i, Q_i) = 1, with one final exponentiation for all the Miller loops.

    Computed by the native library (zkp.native.pairing_product_is_one, a few
    milliseconds), or by py_ecc (a second) where it is not built. The points
    must already have passed the checks above.
    """
    pairs = list(pairs)
    try:
        return native.pairing_product_is_one([(_affine_g1(p), _affine_g2(q)) for p, q in pairs])
    except NativeLibraryMissing:
        pass
    product = FQ12.one()
    for p, q in pairs:
        product *= pairing(q, p, final_exponentiate=False)
    return final_exponentiate(product) == FQ12.one()


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
