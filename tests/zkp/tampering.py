"""Ways to spoil Groth16 proofs and aggregates, shared by the Python and Solidity verifier tests.

Each tampering changes one thing and names the reason `zkp.verify` gives. Several keep the
proof's value mod q or mod r (a coordinate plus q, an input plus r): without the range checks
they would pass the pairing check, so they show that the checks are there.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, replace

from py_ecc import optimized_bn128 as bn

from zkp.aggregate import AggregateProof, aggregate
from zkp.field import Q, R
from zkp.points import G1, G2
from zkp.proof import Proof

Publics = list[list[int]]

PAIRING_FAILED = "pairing check failed"


def _affine(point) -> G1 | G2:
    x, y = bn.normalize(point)
    if isinstance(x, bn.FQ):
        return x.n, y.n
    return tuple(x.coeffs), tuple(y.coeffs)


def _g1(point: G1):
    return (bn.FQ(point[0]), bn.FQ(point[1]), bn.FQ.one())


def _g2(point: G2):
    (x0, x1), (y0, y1) = point
    return (bn.FQ2([x0, x1]), bn.FQ2([y0, y1]), bn.FQ2.one())


def plus_generator_g1(point: G1) -> G1:
    """Another point of G1: a valid encoding of the wrong value."""
    return _affine(bn.add(_g1(point), bn.G1))


def plus_generator_g2(point: G2) -> G2:
    return _affine(bn.add(_g2(point), bn.G2))


def off_curve_g1(point: G1) -> G1:
    x, y = point
    return x, (y + 1) % Q


def off_curve_g2(point: G2) -> G2:
    x, (y0, y1) = point
    return x, ((y0 + 1) % Q, y1)


def fq2_sqrt(a: bn.FQ2) -> bn.FQ2 | None:
    """A square root in Fq2 for q = 3 mod 4 (Adj and Rodriguez-Henriquez 2012, algorithm 9)."""
    a1 = a ** ((Q - 3) // 4)
    alpha = a1 * a1 * a
    if alpha ** Q * alpha == -bn.FQ2.one():
        return None
    x0 = a1 * a
    if alpha == -bn.FQ2.one():
        return bn.FQ2([0, 1]) * x0
    return (bn.FQ2.one() + alpha) ** ((Q - 1) // 2) * x0


@functools.cache
def g2_outside_subgroup() -> G2:
    """A point on the twist y^2 = x^3 + 3 / (9 + u) whose order is not r.

    x runs over 1 + u, 2 + u, ... until x^3 + b is a square: deterministic, and any such point
    is almost surely outside G2, whose index in the twist's group is about q."""
    for c0 in range(1, 1000):
        x = bn.FQ2([c0, 1])
        y = fq2_sqrt(x**3 + bn.b2)
        if y is not None:
            point = (x, y, bn.FQ2.one())
            assert bn.is_on_curve(point, bn.b2)
            assert not bn.is_inf(bn.multiply(point, bn.curve_order))
            return _affine(point)
    raise AssertionError("no point found")


@dataclass(frozen=True)
class Tampering:
    """One change to a proof and its public inputs, and the reason it is rejected."""

    name: str
    apply: Callable[[Proof, list[int]], tuple[Proof, list[int]]]
    reason: str


def _with_input(i: int, change: Callable[[int], int]):
    def apply(proof: Proof, inputs: list[int]):
        changed = list(inputs)
        changed[i] = change(changed[i])
        return proof, changed
    return apply


def _with(field: str, change: Callable):
    def apply(proof: Proof, inputs: list[int]):
        return replace(proof, **{field: change(getattr(proof, field))}), inputs
    return apply


def _a_x_plus_q(a: G1) -> G1:
    return a[0] + Q, a[1]


def _b_x0_plus_q(b: G2) -> G2:
    (x0, x1), y = b
    return (x0 + Q, x1), y


def _c_y_plus_q(c: G1) -> G1:
    return c[0], c[1] + Q


def single_tamperings(n_public: int) -> list[Tampering]:
    """Every change a Solidity verifier can be given too (its ABI fixes the number of inputs)."""
    cases = [
        Tampering("A altered", _with("a", plus_generator_g1), PAIRING_FAILED),
        Tampering("B altered", _with("b", plus_generator_g2), PAIRING_FAILED),
        Tampering("C altered", _with("c", plus_generator_g1), PAIRING_FAILED),
        Tampering("A off the curve", _with("a", off_curve_g1), "pi_a is not on the curve"),
        Tampering("B off the curve", _with("b", off_curve_g2), "pi_b is not on the curve"),
        Tampering("C off the curve", _with("c", off_curve_g1), "pi_c is not on the curve"),
        Tampering("B outside the subgroup", _with("b", lambda _: g2_outside_subgroup()),
                  "pi_b is not in the order-r subgroup"),
        Tampering("A's x plus q", _with("a", _a_x_plus_q),
                  "pi_a has a coordinate that is not below the base field modulus"),
        Tampering("B's x.c0 plus q", _with("b", _b_x0_plus_q),
                  "pi_b has a coordinate that is not below the base field modulus"),
        Tampering("C's y plus q", _with("c", _c_y_plus_q),
                  "pi_c has a coordinate that is not below the base field modulus"),
    ]
    for i in range(n_public):
        cases.append(Tampering(f"public input {i} altered",
                               _with_input(i, lambda x: (x + 1) % R), PAIRING_FAILED))
        cases.append(Tampering(f"public input {i} plus r", _with_input(i, lambda x: x + R),
                               f"public input {i} is not below the scalar field modulus"))
    return cases


@dataclass(frozen=True)
class BatchTampering:
    """Proofs and inputs made into a bad aggregate, and the reason it is rejected."""

    name: str
    apply: Callable[[list[Proof], Publics], tuple[AggregateProof, Publics]]
    reason: str


def _one_proof_invalid(proofs, publics):
    spoiled = list(proofs)
    spoiled[1] = replace(spoiled[1], a=plus_generator_g1(spoiled[1].a))
    return aggregate(spoiled, publics), publics


def _reordered(proofs, publics):
    swapped = [proofs[1], proofs[0], *proofs[2:]]
    return aggregate(swapped, publics), publics


def _input_moved(proofs, publics):
    moved = [list(x) for x in publics]
    moved[0][-1], moved[1][-1] = moved[1][-1], moved[0][-1]
    return aggregate(proofs, moved), moved


def _c_altered(proofs, publics):
    agg = aggregate(proofs, publics)
    return replace(agg, c=plus_generator_g1(agg.c)), publics


def _inputs_short(proofs, publics):
    return aggregate(proofs, publics), publics[:-1]


def _b_short(proofs, publics):
    agg = aggregate(proofs, publics)
    return replace(agg, b=agg.b[:-1]), publics


def _empty(proofs, publics):
    return AggregateProof((), (), aggregate(proofs, publics).c), []


def _with_point(field: str, i: int, change: Callable):
    def apply(proofs, publics):
        agg = aggregate(proofs, publics)
        points = list(getattr(agg, field))
        points[i] = change(points[i])
        return replace(agg, **{field: tuple(points)}), publics
    return apply


def _input_plus_r(proofs, publics):
    shifted = [list(x) for x in publics]
    shifted[2][0] += R
    return aggregate(proofs, publics), shifted


def batch_tamperings(k: int) -> list[BatchTampering]:
    """For an aggregate of k >= 3 proofs."""
    return [
        BatchTampering("one proof invalid", _one_proof_invalid, PAIRING_FAILED),
        BatchTampering("proofs reordered against their inputs", _reordered, PAIRING_FAILED),
        BatchTampering("a public input moved between proofs", _input_moved, PAIRING_FAILED),
        BatchTampering("C altered", _c_altered, PAIRING_FAILED),
        BatchTampering("one list of inputs short", _inputs_short,
                       f"the aggregate holds {k} proofs but {k - 1} lists of public inputs"),
        BatchTampering("one B short", _b_short,
                       f"the aggregate has {k} pi_a points but {k - 1} pi_b points"),
        BatchTampering("no proofs", _empty, "the aggregate holds no proofs"),
        BatchTampering("an A off the curve", _with_point("a", 2, off_curve_g1),
                       "pi_a[2] is not on the curve"),
        BatchTampering("an A's x plus q", _with_point("a", 0, _a_x_plus_q),
                       "pi_a[0] has a coordinate that is not below the base field modulus"),
        BatchTampering("a B outside the subgroup",
                       _with_point("b", 1, lambda _: g2_outside_subgroup()),
                       "pi_b[1] is not in the order-r subgroup"),
        BatchTampering("an input plus r", _input_plus_r,
                       "proof 2: public input 0 is not below the scalar field modulus"),
    ]
