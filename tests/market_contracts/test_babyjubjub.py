"""BabyJubJub.sol against sequencer/babyjub.py and sequencer/eddsa.py, side by side on the embedded
chain: the curve arithmetic gives the same points, and `verify` accepts exactly the signatures the
Python accepts, over many random keys and messages and every kind of invalid signature."""

from __future__ import annotations

import os
import random

import pytest

from market_contracts.chain import EmbeddedChain
from market_contracts.compile import load_artifact, poseidon_contract
from sequencer import babyjub, eddsa
from sequencer.babyjub import BASE8, IDENTITY, SUBORDER
from zkp.field import R

#: random keys and messages signed and verified on both sides
VALID_SIGNATURES = 24


def sqrt_mod_r(value: int) -> int | None:
    """A square root mod r (Tonelli-Shanks; r - 1 = 2^28 t), or None if `value` is not a square."""
    value %= R
    if value == 0:
        return 0
    if pow(value, (R - 1) // 2, R) != 1:
        return None
    t, two_adicity = R - 1, 0
    while t % 2 == 0:
        t, two_adicity = t // 2, two_adicity + 1
    non_residue = next(z for z in range(2, 100) if pow(z, (R - 1) // 2, R) == R - 1)
    m, c, x, b = two_adicity, pow(non_residue, t, R), pow(value, (t + 1) // 2, R), pow(value, t, R)
    while b != 1:
        i, square = 0, b
        while square != 1:
            square, i = square * square % R, i + 1
        step = pow(c, 1 << (m - i - 1), R)
        m, c, x, b = i, step * step % R, x * step % R, b * step * step % R
    return x


def point_with_y(y: int) -> tuple[int, int] | None:
    """A curve point with this y (x^2 = (1 - y^2) / (a - d y^2)), or None."""
    x = sqrt_mod_r((1 - y * y) * pow(babyjub.A - babyjub.D * y * y, -1, R))
    return None if x is None else (x, y)


def torsion_point_of_order_8() -> tuple[int, int]:
    """l P for a curve point P outside the prime subgroup: a point of order 8."""
    rng = random.Random(8)
    while True:
        p = point_with_y(rng.randrange(R))
        if p is None:
            continue
        t = babyjub.multiply(p, SUBORDER)
        if babyjub.multiply(t, 4) != IDENTITY:
            return t


ORDER_8 = torsion_point_of_order_8()
ORDER_4 = babyjub.multiply(ORDER_8, 2)
ORDER_2 = babyjub.multiply(ORDER_8, 4)


@pytest.fixture(scope="module")
def curve():
    chain = EmbeddedChain()
    deployer = chain.dev_accounts[0]
    poseidon5 = chain.deploy(deployer, load_artifact(poseidon_contract(5)))
    contract = chain.deploy(deployer, load_artifact("BabyJubJub"), poseidon5.address)
    return chain, contract.functions


def contract_verifies(curve, key, message, signature) -> bool:
    chain, functions = curve
    return chain.call(functions.verify(list(key), message, list(signature.r8), signature.s))


def test_torsion_points_have_the_orders_the_tests_need():
    assert ORDER_2 == (0, R - 1)
    assert babyjub.on_curve(ORDER_4) and babyjub.multiply(ORDER_4, 4) == IDENTITY
    assert babyjub.multiply(ORDER_4, 2) != IDENTITY
    assert babyjub.on_curve(ORDER_8) and babyjub.multiply(ORDER_8, 4) != IDENTITY


def test_arithmetic_equals_the_python(curve):
    chain, functions = curve
    rng = random.Random(1)
    points = [IDENTITY, BASE8, ORDER_2, ORDER_4, ORDER_8,
              *(babyjub.multiply_base(rng.randrange(SUBORDER)) for _ in range(4)),
              babyjub.add(babyjub.multiply_base(rng.randrange(SUBORDER)), ORDER_8)]
    scalars = [0, 1, 2, 8, SUBORDER, SUBORDER - 1, 8 * SUBORDER + 3, 2**256 - 1,
               rng.randrange(2**256)]
    for p in points:
        assert chain.call(functions.onCurve(list(p)))
        for q in points[::3]:
            assert tuple(chain.call(functions.add(list(p), list(q)))) == babyjub.add(p, q)
        for scalar in scalars:
            product = chain.call(functions.multiply(list(p), scalar))
            assert tuple(product) == babyjub.multiply(p, scalar)


@pytest.mark.parametrize("candidate", [
    (0, 0), (1, 1), (BASE8[0], BASE8[1] + 1), (BASE8[0] + R, BASE8[1]), (BASE8[0], BASE8[1] + R),
    (R, 1), (0, R + 1), (2**256 - 1, 2**256 - 1),
])
def test_on_curve_refuses_what_the_python_refuses(curve, candidate):
    chain, functions = curve
    assert not babyjub.on_curve(candidate)
    assert chain.call(functions.onCurve(list(candidate))) is False


def test_random_valid_signatures_verify_on_both_sides(curve):
    rng = random.Random(2)
    for _ in range(VALID_SIGNATURES):
        private_key = os.urandom(32)
        message = rng.choice([0, R - 1, rng.randrange(R), rng.randrange(2**64)])
        signature = eddsa.sign(private_key, message)
        key = eddsa.public_key(private_key)
        assert eddsa.verify(key, message, signature)
        assert contract_verifies(curve, key, message, signature)


def _cases() -> list[tuple[str, tuple[int, int], int, eddsa.Signature, bool]]:
    """(what, key, message, signature, whether the Python accepts it)."""
    private_key = bytes(range(32))
    key = eddsa.public_key(private_key)
    message = 42
    good = eddsa.sign(private_key, message)
    other_key = eddsa.public_key(bytes(32))
    r8, s = good.r8, good.s

    def signed_by_mixed_key(torsion):
        """The key A + T (T of small order) is on the curve and 8 (A + T) = 8 A: the owner of A's
        secret signs for it, and both sides accept (as circomlib's verifier does)."""
        mixed = babyjub.add(key, torsion)
        nonce = babyjub.multiply_base(7)
        h = eddsa.challenge(nonce, mixed, message)
        return mixed, eddsa.Signature(nonce, (7 + h * eddsa.secret_scalar(private_key)) % SUBORDER)

    mixed_key_2, mixed_signature_2 = signed_by_mixed_key(ORDER_2)
    mixed_key_8, mixed_signature_8 = signed_by_mixed_key(ORDER_8)
    # with a key of small order, 8 h A = 0 and S B8 = R8 holds for any S: refused
    anything = eddsa.Signature(babyjub.multiply_base(5), 5)
    return [
        ("valid", key, message, good, True),
        ("valid, message r - 1", key, R - 1, eddsa.sign(private_key, R - 1), True),
        ("another message", key, message + 1, good, False),
        ("message + r", key, message + R, good, False),
        ("another key", other_key, message, good, False),
        ("S + l", key, message, eddsa.Signature(r8, s + SUBORDER), False),
        ("S + 1", key, message, eddsa.Signature(r8, s + 1), False),
        ("S = 0", key, message, eddsa.Signature(r8, 0), False),
        ("S = l - 1", key, message, eddsa.Signature(r8, SUBORDER - 1), False),
        ("S = 2^256 - 1", key, message, eddsa.Signature(r8, 2**256 - 1), False),
        ("R8 off the curve", key, message, eddsa.Signature((r8[0], r8[1] + 1), s), False),
        ("R8x + r", key, message, eddsa.Signature((r8[0] + R, r8[1]), s), False),
        ("R8y + r", key, message, eddsa.Signature((r8[0], r8[1] + R), s), False),
        ("-R8", key, message, eddsa.Signature((R - r8[0], r8[1]), s), False),
        ("R8 + a point of order 2", key, message,
         eddsa.Signature(babyjub.add(r8, ORDER_2), s), False),
        ("R8 the identity", key, message, eddsa.Signature(IDENTITY, s), False),
        ("key off the curve", (key[0], key[1] + 1), message, good, False),
        ("key x + r", (key[0] + R, key[1]), message, good, False),
        ("key y + r", (key[0], key[1] + R), message, good, False),
        ("-key", (R - key[0], key[1]), message, good, False),
        ("key the identity", IDENTITY, message, anything, False),
        ("key of order 2", ORDER_2, message, anything, False),
        ("key of order 4", ORDER_4, message, anything, False),
        ("key of order 8", ORDER_8, message, anything, False),
        ("key of order 8, S = 0, R8 = identity", ORDER_8, message,
         eddsa.Signature(IDENTITY, 0), False),
        ("key + a point of order 2, signed for it", mixed_key_2, message, mixed_signature_2, True),
        ("key + a point of order 8, signed for it", mixed_key_8, message, mixed_signature_8, True),
        ("key + a point of order 8, signed for the key", mixed_key_8, message, good, False),
    ]


@pytest.mark.parametrize(("case", "key", "message", "signature", "valid"), _cases(),
                         ids=[case[0] for case in _cases()])
def test_verify_accepts_exactly_what_the_python_accepts(curve, case, key, message, signature, valid):
    assert eddsa.verify(key, message, signature) is valid
    assert contract_verifies(curve, key, message, signature) is valid
