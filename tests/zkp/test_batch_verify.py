"""Verification in the native library (zkp.verify over zkp/native/verify.h): random valid
proofs accepted alone and in batches, every kind of bad point and input named, a batch naming
exactly its invalid proofs, the key's checks, and the G2 subgroup check against py_ecc.

Proofs come from keys with a known trapdoor (tests/groth16_trapdoor.py): valid by construction,
thousands a second, independent of our prover. The snarkjs proofs of test_verify.py check the
same path against a third party."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest
from groth16_trapdoor import TrapdoorKey, g1_multiples
from py_ecc import optimized_bn128 as bn
from tampering import (fq2_sqrt, g2_outside_subgroup, off_curve_g1, off_curve_g2,
                       single_tamperings)

from zkp import native
from zkp.field import Q, R, ints_to_limbs
from zkp.points import g1_to_montgomery, g2_to_montgomery
from zkp.proof import Proof
from zkp.verify import (
    ACCEPTED,
    PAIRING_FAILED,
    InvalidVerificationKey,
    PreparedKey,
    Verdict,
    prepare_key,
    verify,
    verify_batch,
)

rng = random.Random(2026)


@pytest.fixture(scope="module")
def trapdoor() -> TrapdoorKey:
    return TrapdoorKey.create(4, rng)


def _valid(key: TrapdoorKey, count: int) -> list[tuple[Proof, list[int]]]:
    publics = key.random_inputs(count, rng)
    return list(zip(key.proofs(publics, rng), publics, strict=True))


def _spoiled(proof: Proof) -> Proof:
    """A proof of the wrong value: A plus the generator, still a point of G1."""
    a = bn.normalize(bn.add((bn.FQ(proof.a[0]), bn.FQ(proof.a[1]), bn.FQ.one()), bn.G1))
    return replace(proof, a=(int(a[0]), int(a[1])))


@pytest.mark.parametrize("n_public", [0, 1, 4, 9])
def test_valid_proofs_of_random_keys_are_accepted_alone_and_together(n_public):
    for _ in range(3):
        key = TrapdoorKey.create(n_public, rng)
        items = _valid(key, 12)
        assert [verify(key.vk, proof, inputs) for proof, inputs in items] == [ACCEPTED] * 12
        assert verify_batch(prepare_key(key.vk), items) == [ACCEPTED] * 12


def test_extreme_inputs_and_a_at_infinity_are_accepted(trapdoor):
    publics = [[0] * 4, [R - 1] * 4, [1, 0, R - 1, 2**253]]
    items = list(zip(trapdoor.proofs(publics, rng), publics, strict=True))
    # A at infinity pairs to 1 with any B; then C = -(a b + g vk_x) / d makes up for it.
    inputs = [5, 6, 7, 8]
    vk_x = trapdoor.u[0] + sum(x * u for x, u in zip(inputs, trapdoor.u[1:], strict=True))
    c = -(trapdoor.a * trapdoor.b + trapdoor.g * vk_x) * pow(trapdoor.d, -1, R)
    items.append((Proof(None, items[0][0].b, g1_multiples([c])[0]), inputs))
    assert verify_batch(prepare_key(trapdoor.vk), items) == [ACCEPTED] * 4
    assert verify(trapdoor.vk, *items[-1]) == ACCEPTED


def _py_ecc_verify(key: TrapdoorKey, proof: Proof, inputs: list[int]) -> bool:
    """Groth16's check in py_ecc alone (about a second): e(A, B) = e(alpha, beta) e(vk_x,
    gamma) e(C, delta)."""
    def g1(p):
        return (bn.FQ(p[0]), bn.FQ(p[1]), bn.FQ.one())

    def g2(p):
        return (bn.FQ2(list(p[0])), bn.FQ2(list(p[1])), bn.FQ2.one())

    vk = key.vk
    vk_x = g1(vk.ic[0])
    for x, point in zip(inputs, vk.ic[1:], strict=True):
        vk_x = bn.add(vk_x, bn.multiply(g1(point), x))
    product = bn.FQ12.one()
    for p, q in ((bn.neg(g1(proof.a)), g2(proof.b)), (g1(vk.alpha1), g2(vk.beta2)),
                 (vk_x, g2(vk.gamma2)), (g1(proof.c), g2(vk.delta2))):
        product *= bn.pairing(q, p, final_exponentiate=False)
    return bn.final_exponentiate(product) == bn.FQ12.one()


def test_agrees_with_py_ecc(trapdoor):
    (proof, inputs), = _valid(trapdoor, 1)
    assert _py_ecc_verify(trapdoor, proof, inputs)
    assert verify(trapdoor.vk, proof, inputs) == ACCEPTED
    spoiled = _spoiled(proof)
    assert not _py_ecc_verify(trapdoor, spoiled, inputs)
    assert verify(trapdoor.vk, spoiled, inputs) == PAIRING_FAILED


def test_every_kind_of_bad_proof_is_named_among_good_ones():
    """Each tampering of tests/zkp/tampering.py (points off the curve, outside G2, with a
    coordinate not below q; a changed A, B, C or input; an input not below r) in a batch of
    valid proofs gets its reason there, and only it is rejected."""
    key = TrapdoorKey.create(2, rng)
    tamperings = single_tamperings(2)
    items = _valid(key, 2 * len(tamperings) + 1)
    expected = [ACCEPTED] * len(items)
    for k, tampering in enumerate(tamperings):
        i = 2 * k + 1
        items[i] = tampering.apply(*items[i])
        expected[i] = Verdict(False, tampering.reason)
    assert verify_batch(prepare_key(key.vk), items) == expected
    for (proof, inputs), verdict in zip(items, expected, strict=True):
        assert verify(key.vk, proof, inputs) == verdict


def test_coordinates_of_any_size_are_a_reason_not_an_error(trapdoor):
    (proof, inputs), = _valid(trapdoor, 1)
    reason = "has a coordinate that is not below the base field modulus"
    for a in ((2**300, 1), (-1, proof.a[1])):
        assert verify(trapdoor.vk, replace(proof, a=a), inputs) == Verdict(False, f"pi_a {reason}")
    (x0, x1), y = proof.b
    assert verify(trapdoor.vk, replace(proof, b=((x0, 2**256 + x1), y)), inputs) == Verdict(
        False, f"pi_b {reason}")


def test_the_first_bad_part_is_named(trapdoor):
    (proof, inputs), = _valid(trapdoor, 1)
    both = replace(proof, a=off_curve_g1(proof.a), c=(Q, 0))
    assert verify(trapdoor.vk, both, inputs) == Verdict(False, "pi_a is not on the curve")
    assert verify(trapdoor.vk, replace(proof, b=off_curve_g2(proof.b)), [R] * 4) == Verdict(
        False, "pi_b is not on the curve")
    assert verify(trapdoor.vk, proof, inputs[:3]) == Verdict(
        False, "expected 4 public inputs, got 3")


class CountingChecks:
    """native.groth16_batch_check, recording the proofs in each call and their scalars."""

    def __init__(self, monkeypatch):
        self.sizes: list[int] = []
        self.scalars: list[list[int]] = []
        check = native.groth16_batch_check

        def counted(key, s, a, b, c, r):
            self.sizes.append(len(a))
            self.scalars.append([int.from_bytes(row.tobytes(), "little") for row in r])
            return check(key, s, a, b, c, r)

        monkeypatch.setattr(native, "groth16_batch_check", counted)


@pytest.mark.parametrize("bad", [[0], [31], [5], [3, 4], [0, 17, 30], list(range(32))])
def test_a_batch_names_exactly_its_invalid_proofs(trapdoor, monkeypatch, bad):
    items = _valid(trapdoor, 32)
    for i in bad:
        items[i] = (_spoiled(items[i][0]), items[i][1])
    checks = CountingChecks(monkeypatch)
    verdicts = verify_batch(prepare_key(trapdoor.vk), items)
    assert verdicts == [PAIRING_FAILED if i in bad else ACCEPTED for i in range(32)]
    # Every proof called invalid had its own exact check; one bad proof costs its halves.
    assert checks.sizes.count(1) >= len(bad)
    if len(bad) == 1:
        assert len(checks.sizes) <= 1 + 5 * 2


def test_a_valid_batch_is_one_check(trapdoor, monkeypatch):
    items = _valid(trapdoor, 32)
    checks = CountingChecks(monkeypatch)
    assert verify_batch(prepare_key(trapdoor.vk), items) == [ACCEPTED] * 32
    assert checks.sizes == [32]
    assert verify_batch(prepare_key(trapdoor.vk), []) == []


def test_the_batch_scalars_are_fresh_each_check(trapdoor, monkeypatch):
    checks = CountingChecks(monkeypatch)
    items = _valid(trapdoor, 4)
    verify_batch(prepare_key(trapdoor.vk), items)
    verify_batch(prepare_key(trapdoor.vk), items)
    first, second = checks.scalars
    assert all(0 < k < 2**128 for k in first + second) and len(set(first + second)) == 8
    verify(trapdoor.vk, *items[0])
    assert checks.scalars[-1] == [1]  # one proof alone: Groth16's own check


# ------------------------------------------------------------------ the key


def test_a_key_is_checked_once_and_bad_keys_are_errors(trapdoor):
    assert prepare_key(trapdoor.vk) is prepare_key(trapdoor.vk)
    vk = trapdoor.vk
    cases = [
        (replace(vk, ic=(vk.ic[0], off_curve_g1(vk.ic[1]), *vk.ic[2:])),
         r"IC\[1\] is not on the curve"),
        (replace(vk, beta2=g2_outside_subgroup()), "vk_beta_2 is not in the order-r subgroup"),
        (replace(vk, delta2=off_curve_g2(vk.delta2)), "vk_delta_2 is not on the curve"),
        (replace(vk, alpha1=(Q, 1)), "vk_alpha_1 has a coordinate that is not below"),
        (replace(vk, gamma2=None), "vk_gamma_2 is the point at infinity"),
    ]
    for bad, message in cases:
        with pytest.raises(InvalidVerificationKey, match=message):
            PreparedKey(bad)
        (proof, inputs), = _valid(trapdoor, 1)
        with pytest.raises(InvalidVerificationKey, match=message):
            verify(bad, proof, inputs)


# ------------------------------------------------------------ point checks


def _random_twist_point():
    """A random point of the twist y^2 = x^3 + 3/(9 + u): of order r times a factor of the
    cofactor, almost never in G2."""
    while True:
        x = bn.FQ2([rng.randrange(Q), rng.randrange(Q)])
        y = fq2_sqrt(x ** 3 + bn.b2)
        if y is not None:
            return x, y, bn.FQ2.one()


def _affine_g2(point):
    if bn.is_inf(point):
        return None
    x, y = bn.normalize(point)
    return tuple(map(int, x.coeffs)), tuple(map(int, y.coeffs))


def test_g2_subgroup_check_agrees_with_py_ecc():
    """Random twist points, their parts outside G2 alone ([r]P, whose order divides the
    cofactor), those plus a point of G2, and points of G2: the native check (psi(P) = [6x^2]P)
    against py_ecc's [r]P = 0."""
    points = []
    for _ in range(6):
        p = _random_twist_point()
        cofactor_part = bn.multiply(p, bn.curve_order)
        in_g2 = bn.multiply(bn.G2, rng.randrange(1, R))
        points += [p, cofactor_part, bn.add(cofactor_part, in_g2), in_g2]
    affine = [_affine_g2(p) for p in points]
    expected = [native.PointStatus.IN_GROUP if bn.is_inf(bn.multiply(p, bn.curve_order))
                else native.PointStatus.OUTSIDE_SUBGROUP for p in points]
    assert native.g2_check(g2_to_montgomery(affine)) == expected
    assert expected.count(native.PointStatus.OUTSIDE_SUBGROUP) == 18


def test_point_checks_name_each_fault():
    g1 = [None, (1, 2), (1, 3)]
    assert native.g1_check(g1_to_montgomery(g1)) == [
        native.PointStatus.IN_GROUP, native.PointStatus.IN_GROUP, native.PointStatus.NOT_ON_CURVE]
    generator = _affine_g2(bn.G2)
    assert native.g2_check(g2_to_montgomery([generator, off_curve_g2(generator), None])) == [
        native.PointStatus.IN_GROUP, native.PointStatus.NOT_ON_CURVE, native.PointStatus.IN_GROUP]
    raw = g1_to_montgomery([(1, 2)]).copy()
    raw[0, 0] = ints_to_limbs([Q])[0]
    assert native.g1_check(raw) == [native.PointStatus.COORDINATE_NOT_BELOW_Q]


def test_the_native_batch_check_refuses_bad_arguments(trapdoor):
    key = prepare_key(trapdoor.vk)._native
    (proof, _), = _valid(trapdoor, 1)
    a, c = g1_to_montgomery([proof.a]), g1_to_montgomery([proof.c])
    b = g2_to_montgomery([proof.b])
    s = ints_to_limbs([1] * 5)
    with pytest.raises(ValueError, match="not below the group order"):
        native.groth16_batch_check(key, s, a, b, c, ints_to_limbs([R]))
    with pytest.raises(ValueError, match="not a prepared verification key"):
        native.groth16_batch_check(key[:-1].copy(), s, a, b, c, ints_to_limbs([1]))
    with pytest.raises(ValueError, match="differ in length"):
        native.groth16_batch_check(key, s, a, b, c, ints_to_limbs([1, 1]))
