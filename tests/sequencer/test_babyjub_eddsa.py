"""BLAKE-512, Baby Jubjub and EdDSA-Poseidon against circomlibjs: keys and signatures agree."""

import random

import pytest

from sequencer import babyjub, eddsa
from sequencer.babyjub import BASE8, IDENTITY, SUBORDER
from sequencer.blake512 import blake512
from zkp.field import R

KEYS = [bytes(32), bytes(range(32)), b"\xff" * 32, b"short key"]
MESSAGES = [0, 1, 1234567890, R - 1]
#: a point of order 2: 8 A is the identity, so S B8 = R8 "verifies" for any message
ORDER_TWO = (0, R - 1)


def point(p) -> tuple[int, int]:
    return int(p[0]), int(p[1])


def test_blake512_equals_blake_hash(circomlibjs):
    # lengths around the padding boundaries: 111 bytes leave room for the length only
    inputs = [
        bytes(random.Random(n).randbytes(n)) for n in (0, 1, 32, 64, 111, 112, 127, 128, 129, 300)
    ]
    expected = circomlibjs({"blake512": [x.hex() for x in inputs]})["blake512"]
    assert [blake512(x).hex() for x in inputs] == expected


def test_curve_arithmetic_equals_circomlibjs(circomlibjs):
    rng = random.Random(7)
    points = [BASE8, IDENTITY, ORDER_TWO] + [
        babyjub.multiply_base(rng.randrange(SUBORDER)) for _ in range(3)
    ]
    pairs = [(p, q) for p in points for q in points[:4]]
    scalars = [(p, e) for p in points for e in (0, 1, 8, SUBORDER, rng.randrange(2**256))]
    answers = circomlibjs(
        {
            "add": [[list(map(str, p)), list(map(str, q))] for p, q in pairs],
            "mul": [[list(map(str, p)), str(e)] for p, e in scalars],
        }
    )
    assert [babyjub.add(p, q) for p, q in pairs] == [point(a) for a in answers["add"]]
    assert [babyjub.multiply(p, e) for p, e in scalars] == [point(m) for m in answers["mul"]]


def test_base8_generates_the_prime_subgroup():
    assert babyjub.on_curve(BASE8)
    assert babyjub.multiply(BASE8, SUBORDER) == IDENTITY
    assert babyjub.multiply_base(12345) == babyjub.multiply(BASE8, 12345)


@pytest.mark.parametrize(
    ("candidate", "valid"),
    [
        (BASE8, True),
        (IDENTITY, True),
        (ORDER_TWO, True),
        ((BASE8[0], BASE8[1] + 1), False),  # off the curve
        ((BASE8[0] + R, BASE8[1]), False),  # on it mod r, but not canonical
    ],
)
def test_on_curve(candidate, valid):
    assert babyjub.on_curve(candidate) is valid


def test_keys_and_signatures_equal_circomlibjs(circomlibjs):
    requests = [[key.hex(), str(m)] for key in KEYS for m in MESSAGES]
    answers = circomlibjs({"publicKey": [key.hex() for key in KEYS], "sign": requests})
    assert [eddsa.public_key(key) for key in KEYS] == [point(a) for a in answers["publicKey"]]
    ours = [eddsa.sign(key, m) for key in KEYS for m in MESSAGES]
    theirs = [eddsa.Signature(point(s["R8"]), int(s["S"])) for s in answers["sign"]]
    assert ours == theirs
    for (key, message), signature in zip(((k, m) for k in KEYS for m in MESSAGES), ours):
        assert eddsa.verify(eddsa.public_key(key), message, signature)


def _forgeries() -> list[tuple[str, tuple, int, eddsa.Signature]]:
    key = KEYS[1]
    public = eddsa.public_key(key)
    good = eddsa.sign(key, 42)
    other_key = eddsa.public_key(KEYS[0])
    off_curve = (good.r8[0], good.r8[1] + 1)
    # with a key of order 2, 8 h A = 0 and S B8 = R8 holds for any S: circomlibjs
    # accepts it, the circuit (EdDSAPoseidonVerifier's IsZero on 4 A) and we refuse
    small_order = eddsa.Signature(babyjub.multiply_base(5), 5)
    return [
        ("another message", public, 43, good),
        ("another key", other_key, 42, good),
        ("S + l", public, 42, eddsa.Signature(good.r8, good.s + SUBORDER)),
        ("R8 off the curve", public, 42, eddsa.Signature(off_curve, good.s)),
        ("small-order key", ORDER_TWO, 42, small_order),
    ]


@pytest.mark.parametrize(
    ("case", "key", "message", "signature"),
    _forgeries(),
    ids=lambda x: x if isinstance(x, str) else "",
)
def test_forgeries_are_refused(case, key, message, signature):
    assert not eddsa.verify(key, message, signature)


def test_circomlibjs_agrees_except_on_small_order_keys(circomlibjs):
    forgeries = _forgeries()
    requests = [
        [str(m), {"R8": list(map(str, s.r8)), "S": str(s.s)}, list(map(str, k))]
        for _, k, m, s in forgeries
    ]
    verdicts = dict(
        zip((case for case, *_ in forgeries), circomlibjs({"verify": requests})["verify"])
    )
    assert verdicts == {case: case == "small-order key" for case in verdicts}


def test_circomlibjs_verifies_our_signatures(circomlibjs):
    key = b"wallet"
    signature = eddsa.sign(key, 99)
    request = [
        str(99),
        {"R8": list(map(str, signature.r8)), "S": str(signature.s)},
        list(map(str, eddsa.public_key(key))),
    ]
    assert circomlibjs({"verify": [request]})["verify"] == [True]
