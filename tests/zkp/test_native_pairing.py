"""The native BN254 pairing-product check against py_ecc."""

import random

import pytest
from py_ecc.optimized_bn128 import (
    FQ12,
    G1 as P1,
    G2 as P2,
    curve_order,
    final_exponentiate,
    multiply,
    normalize,
    pairing,
)

from zkp import native
from zkp.field import Q

rng = random.Random(254)


def _g1(k: int):
    x, y = normalize(multiply(P1, k % curve_order))
    return int(x), int(y)


def _g2(k: int):
    x, y = normalize(multiply(P2, k % curve_order))
    return (int(x.coeffs[0]), int(x.coeffs[1])), (int(y.coeffs[0]), int(y.coeffs[1]))


def _scalar() -> int:
    return rng.randrange(1, curve_order)


def _py_ecc_product_is_one(pairs) -> bool:
    from py_ecc.optimized_bn128 import FQ, FQ2

    product = FQ12.one()
    for p, q in pairs:
        if p is None or q is None:
            continue
        pp = (FQ(p[0]), FQ(p[1]), FQ.one())
        qq = (FQ2(list(q[0])), FQ2(list(q[1])), FQ2.one())
        product *= pairing(qq, pp, final_exponentiate=False)
    return final_exponentiate(product) == FQ12.one()


def test_bilinearity():
    a, b = _scalar(), _scalar()
    p, q = _scalar(), _scalar()
    # e(aP, Q) * e(-P, aQ) = 1
    assert native.pairing_product_is_one([(_g1(a * p), _g2(q)), (_g1(-p), _g2(a * q))])
    # e(abP, Q) * e(-aP, bQ) = 1, and not with b + 1
    assert native.pairing_product_is_one([(_g1(a * b * p), _g2(q)), (_g1(-a * p), _g2(b * q))])
    assert not native.pairing_product_is_one([(_g1(a * b * p), _g2(q)), (_g1(-a * p), _g2(b * q + q))])


def test_a_single_pairing_is_not_one():
    assert not native.pairing_product_is_one([(_g1(_scalar()), _g2(_scalar()))])
    assert not native.pairing_product_is_one([(_g1(1), _g2(1))])


@pytest.mark.parametrize("n", [2, 3, 4, 5])
def test_random_products_that_cancel_and_that_do_not(n):
    # sum_i a_i b_i = 0 (mod r) makes prod e(a_i G1, b_i G2) = e(G1, G2)^0 = 1.
    a = [_scalar() for _ in range(n)]
    b = [_scalar() for _ in range(n - 1)]
    b.append(-sum(x * y for x, y in zip(a[:-1], b, strict=True)) * pow(a[-1], -1, curve_order))
    pairs = [(_g1(x), _g2(y)) for x, y in zip(a, b, strict=True)]
    assert native.pairing_product_is_one(pairs)
    spoiled = [*pairs[:-1], (_g1(a[-1] + 1), pairs[-1][1])]
    assert not native.pairing_product_is_one(spoiled)
    assert not native.pairing_product_is_one(pairs[:-1])


def test_agrees_with_py_ecc():
    a, b = _scalar(), _scalar()
    for pairs in (
        [(_g1(a), _g2(b)), (_g1(-a * b), _g2(1))],
        [(_g1(a), _g2(b)), (_g1(a * b), _g2(1))],
        [(_g1(a), _g2(b)), (None, _g2(1))],
    ):
        assert native.pairing_product_is_one(pairs) == _py_ecc_product_is_one(pairs)


def test_points_at_infinity_are_skipped():
    a = _scalar()
    assert native.pairing_product_is_one([])
    assert native.pairing_product_is_one([(None, _g2(a)), (_g1(a), None), (None, None)])
    cancel = [(_g1(a), _g2(3)), (_g1(-3 * a), _g2(1))]
    assert native.pairing_product_is_one([cancel[0], (None, _g2(5)), cancel[1], (_g1(7), None)])
    assert not native.pairing_product_is_one([cancel[0], (None, _g2(5))])


def test_coordinates_not_below_q_are_refused():
    x, y = _g1(2)
    with pytest.raises(ValueError, match="not below q"):
        native.pairing_product_is_one([((x + Q, y), _g2(1))])
    (x0, x1), yy = _g2(2)
    with pytest.raises(ValueError, match="not below q"):
        native.pairing_product_is_one([(_g1(1), ((x0, x1 + Q), yy))])
