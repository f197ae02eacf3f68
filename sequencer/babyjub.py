"""Baby Jubjub, the twisted Edwards curve over BN254's scalar field (EIP-2494).

    a x^2 + y^2 = 1 + d x^2 y^2   over F_r,   a = 168700, d = 168696

Its coordinates are circuit signals, so a point costs the block circuit two
field elements and curve arithmetic is cheap inside it. a is a square and d
is not, so the addition law is complete: one formula adds any two points,
doubling and the identity (0, 1) included. Points are (x, y) tuples of ints
in [0, r); arithmetic runs in extended coordinates (X : Y : Z : T), x = X/Z,
y = Y/Z, xy = T/Z, which need no inversion until the result is read out.
"""

import functools

from zkp.field import R

A = 168700
D = 168696
#: order of the prime subgroup, in which keys and signatures live (the curve's is 8 times it)
SUBORDER = 2736030358979909402780800718157159386076813972158567259200215660948447373041
#: generator of the prime subgroup that circomlib's EdDSA uses
BASE8 = (
    5299619240641551281634865583518297030282874472190772894086521144482721001553,
    16950150798460657717958625567821834550301663161624707787222815936182638968203,
)
IDENTITY = (0, 1)

#: bits per window of the scalar multiplications
WINDOW = 4

Point = tuple[int, int]
_Extended = tuple[int, int, int, int]


def on_curve(point: Point) -> bool:
    """Whether `point` has canonical coordinates (below r) and satisfies the curve equation."""
    x, y = point
    if not (0 <= x < R and 0 <= y < R):
        return False
    xx, yy = x * x % R, y * y % R
    return (A * xx + yy - 1 - D * xx * yy) % R == 0


def add(p: Point, q: Point) -> Point:
    return _affine(_add(_extended(p), _extended(q)))


def multiply(point: Point, scalar: int) -> Point:
    """scalar * point, for a non-negative scalar of any size (not reduced mod the order)."""
    table = [_extended(IDENTITY), _extended(point)]
    for _ in range(2, 1 << WINDOW):
        table.append(_add(table[-1], table[1]))
    result = table[0]
    for shift in reversed(range(0, scalar.bit_length(), WINDOW)):
        for _ in range(WINDOW):
            result = _double(result)
        result = _add(result, table[scalar >> shift & (1 << WINDOW) - 1])
    return _affine(result)


def multiply_base(scalar: int) -> Point:
    """scalar * BASE8, from a table of every window's multiples (no doublings)."""
    scalar %= SUBORDER
    result = _extended(IDENTITY)
    for window, multiples in enumerate(_base_table()):
        digit = scalar >> (window * WINDOW) & (1 << WINDOW) - 1
        if digit:
            result = _add(result, multiples[digit])
    return _affine(result)


@functools.cache
def _base_table() -> tuple[tuple[_Extended, ...], ...]:
    """Row w holds j * 2^(WINDOW w) * BASE8 for j in [0, 2^WINDOW)."""
    rows = []
    base = _extended(BASE8)
    for _ in range(-(-SUBORDER.bit_length() // WINDOW)):
        row = [_extended(IDENTITY), base]
        for _ in range(2, 1 << WINDOW):
            row.append(_add(row[-1], base))
        rows.append(tuple(row))
        base = _add(row[-1], base)
    return tuple(rows)


def _extended(point: Point) -> _Extended:
    x, y = point
    return x, y, 1, x * y % R


def _affine(point: _Extended) -> Point:
    x, y, z, _ = point
    inverse = pow(z, -1, R)
    return x * inverse % R, y * inverse % R


def _add(p: _Extended, q: _Extended) -> _Extended:
    """Unified addition in extended coordinates (Hisil et al. 2008, add-2008-hwcd)."""
    x1, y1, z1, t1 = p
    x2, y2, z2, t2 = q
    a = x1 * x2 % R
    b = y1 * y2 % R
    c = D * t1 * t2 % R
    d = z1 * z2 % R
    e = ((x1 + y1) * (x2 + y2) - a - b) % R
    f = d - c
    g = d + c
    h = b - A * a
    return e * f % R, g * h % R, f * g % R, e * h % R


def _double(p: _Extended) -> _Extended:
    """Doubling in extended coordinates (dbl-2008-hwcd)."""
    x, y, z, _ = p
    a = x * x % R
    b = y * y % R
    c = 2 * z * z % R
    d = A * a % R
    e = ((x + y) * (x + y) - a - b) % R
    g = d + b
    f = g - c
    h = d - b
    return e * f % R, g * h % R, f * g % R, e * h % R
