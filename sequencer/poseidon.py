"""Poseidon over BN254's scalar field, exactly as circomlib's `Poseidon(n)` computes it.

Parameters (Grassi et al., "Poseidon", eprint 2019/458; circomlib's choice):
the S-box is x^5, a permutation of width t = n + 1 holds a capacity element
(0) and the n inputs, 8 full rounds surround R_P partial rounds (R_P by width
below), and the hash is the first element of the permuted state.

The round constants and the MDS matrix are not tables copied from anywhere:
they are derived here, as circomlib's were, by the Grain LFSR procedure of the
paper's reference script (generate_parameters_grain.sage, run with
`1 0 254 t 8 R_P r`): an 80-bit LFSR seeded with the parameters, discarding
160 bits, self-shrinking output; (R_F + R_P) t round constants by rejection
sampling below r, then 2t further samples x_0..x_t-1, y_0..y_t-1 (reduced
mod r) for the Cauchy matrix M[i][j] = 1 / (x_i + y_j). The reference script
also rejects matrices with invariant subspaces; the first candidate passes for
every width circomlib uses, which tests/sequencer/test_poseidon.py confirms by
comparing every derived table with circomlibjs's.
"""

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from operator import mul

from zkp.field import R

#: S-box exponent
ALPHA = 5
#: full rounds, half before and half after the partial rounds
FULL_ROUNDS = 8
#: partial rounds for t = 2, 3, ..., 17 (circomlib's table: the paper's
#: security bound for 128 bits, rounded up to a multiple of t)
PARTIAL_ROUNDS = (56, 57, 56, 60, 60, 63, 64, 63, 60, 66, 60, 65, 70, 60, 64, 68)
#: most inputs one call takes (circomlib's limit)
MAX_INPUTS = len(PARTIAL_ROUNDS)
#: bits of a field element, the Grain sampler's word size
FIELD_BITS = R.bit_length()

Vector = Sequence[int]
Matrix = Sequence[Sequence[int]]

_GRAIN_STATE_BITS = 80
_GRAIN_WARMUP = 160
#: feedback taps of the LFSR, counted from its oldest bit
_GRAIN_TAPS = (0, 13, 23, 38, 51, 62)


def poseidon(inputs: Sequence[int]) -> int:
    """Poseidon of 1 to 16 field elements (ints in [0, r)); circomlib's Poseidon(len(inputs))."""
    schedule = _schedule(len(inputs) + 1)
    state = [0, *inputs]
    for constants, matrix in schedule.first_full:
        state = _full_round(state, constants, matrix)
    first, *rest = state
    for constant, corner, row, column in schedule.partial:
        sboxed = pow(first + constant, ALPHA, R)
        first = (corner * sboxed + sum(map(mul, row, rest))) % R
        rest = [(s + c * sboxed) % R for s, c in zip(rest, column)]
    state = [first, *rest]
    for constants, matrix in schedule.last_full:
        state = _full_round(state, constants, matrix)
    return state[0]


def _full_round(state: list[int], constants: Vector, matrix: Matrix) -> list[int]:
    state = [pow(s + c, ALPHA, R) for s, c in zip(state, constants)]
    return [sum(map(mul, row, state)) % R for row in matrix]


@dataclass(frozen=True)
class _Schedule:
    """One width's rounds in the form that costs least to evaluate.

    The same permutation as the paper's "add constants, S-box, MDS" rounds,
    rewritten as in its appendix B (and circomlib's optimised circuit): a
    partial round's constants on elements 1.. pass linearly through its S-box,
    so they are carried into the next round's and each partial round adds one
    constant; and the MDS matrix M of each partial round is split as A B, with
    B = diag(1, B') commuting with an S-box on element 0 alone and moved into
    the round before, leaving A sparse ((corner, row) its first row,
    (column) its first column, the identity elsewhere): 2t - 1 products
    instead of t^2.
    """

    first_full: tuple[tuple[Vector, Matrix], ...]
    #: per round (constant, corner, row, column)
    partial: tuple[tuple[int, int, Vector, Vector], ...]
    last_full: tuple[tuple[Vector, Matrix], ...]


@functools.cache
def _schedule(t: int) -> _Schedule:
    if not 2 <= t <= MAX_INPUTS + 1:
        raise ValueError(f"Poseidon takes 1 to {MAX_INPUTS} inputs, not {t - 1}")
    partial_rounds = PARTIAL_ROUNDS[t - 2]
    flat, mds = grain_parameters(t, partial_rounds)
    constants = [flat[i : i + t] for i in range(0, len(flat), t)]
    half = FULL_ROUNDS // 2
    partial = range(half, half + partial_rounds)

    scalars = []
    carried = [0] * t
    for round_ in partial:
        total = [(c + k) % R for c, k in zip(constants[round_], carried)]
        scalars.append(total[0])
        carried = _apply(mds, [0, *total[1:]])
    constants[partial.stop] = [(c + k) % R for c, k in zip(constants[partial.stop], carried)]

    # With M = [[m, v], [w, H]], the factor left in the j-th partial round from
    # the end is [[m, v H^-(j+1)], [H^j w, I]], and the full round before the
    # partial rounds takes diag(1, H^p) M.
    corner, row, column = mds[0][0], mds[0][1:], [r[0] for r in mds[1:]]
    inner = [r[1:] for r in mds[1:]]
    inner_inverse_transposed = _transpose(_inverse(inner))
    sparse = []
    for scalar in reversed(scalars):
        row = _apply(inner_inverse_transposed, row)
        sparse.append((scalar, corner, tuple(row), tuple(column)))
        column = _apply(inner, column)
    sparse.reverse()
    moved = [mds[0], *_multiply(_power(inner, partial_rounds), mds[1:])]

    def full(rounds: range, last_matrix: Matrix) -> tuple[tuple[Vector, Matrix], ...]:
        matrices = [mds] * (len(rounds) - 1) + [last_matrix]
        return tuple((tuple(constants[r]), tuple(map(tuple, m))) for r, m in zip(rounds, matrices))

    return _Schedule(
        first_full=full(range(half), moved),
        partial=tuple(sparse),
        last_full=full(range(partial.stop, FULL_ROUNDS + partial_rounds), mds),
    )


def _apply(matrix: Matrix, vector: Sequence[int]) -> list[int]:
    return [sum(map(mul, row, vector)) % R for row in matrix]


def _multiply(a: Matrix, b: Matrix) -> list[list[int]]:
    return [_apply(_transpose(b), row) for row in a]


def _power(matrix: Matrix, exponent: int) -> Matrix:
    result = [[int(i == j) for j in range(len(matrix))] for i in range(len(matrix))]
    while exponent:
        if exponent & 1:
            result = _multiply(result, matrix)
        matrix = _multiply(matrix, matrix)
        exponent >>= 1
    return result


def _transpose(matrix: Matrix) -> list[list[int]]:
    return [list(column) for column in zip(*matrix)]


def _inverse(matrix: Matrix) -> list[list[int]]:
    """Gauss-Jordan inverse mod r; every square submatrix of an MDS matrix is invertible."""
    n = len(matrix)
    rows = [[*row, *(int(i == j) for j in range(n))] for i, row in enumerate(matrix)]
    for col in range(n):
        pivot = next(i for i in range(col, n) if rows[i][col])
        rows[col], rows[pivot] = rows[pivot], rows[col]
        scale = pow(rows[col][col], -1, R)
        rows[col] = [x * scale % R for x in rows[col]]
        for i in range(n):
            if i != col and rows[i][col]:
                factor = rows[i][col]
                rows[i] = [(x - factor * y) % R for x, y in zip(rows[i], rows[col])]
    return [row[n:] for row in rows]


def grain_parameters(t: int, partial_rounds: int) -> tuple[list[int], list[list[int]]]:
    """The reference script's output for width t: the flat round constants and the MDS matrix."""
    grain = _Grain(t, partial_rounds)
    constants = []
    for _ in range((FULL_ROUNDS + partial_rounds) * t):
        value = grain.sample()
        while value >= R:
            value = grain.sample()
        constants.append(value)
    while True:
        points = [grain.sample() % R for _ in range(2 * t)]
        if len(set(points)) < 2 * t:
            continue
        xs, ys = points[:t], points[t:]
        if any((x + y) % R == 0 for x in xs for y in ys):
            continue
        return constants, [[pow(x + y, -1, R) for y in ys] for x in xs]


def _shrink(byte: int) -> tuple[int, int]:
    """Self-shrinking of 8 stream bits (bit 0 first): of each pair, the second if the first is 1.

    Returns the kept bits as an int (first kept bit most significant) and their count.
    """
    kept, count = 0, 0
    for pair in range(0, 8, 2):
        if byte >> pair & 1:
            kept, count = kept << 1 | byte >> (pair + 1) & 1, count + 1
    return kept, count


_SHRUNK = tuple(_shrink(byte) for byte in range(256))


class _Grain:
    """The self-shrinking Grain LFSR the reference script samples from.

    The state is an int whose bit i is the script's list element i (bit 0 the
    oldest). A new bit is the XOR of the taps, so the next 16 bits depend only
    on the current state (the highest tap is 62 < 80 - 16) and are made at once.
    The seed lists the parameters most significant bit first: field type 1
    (prime) in 2 bits, S-box type 0 (x^alpha) in 4, field size in 12, t in 12,
    R_F in 10, R_P in 10, then 30 ones.
    """

    _CHUNK = 16

    def __init__(self, t: int, partial_rounds: int):
        fields = (
            (1, 2),
            (0, 4),
            (FIELD_BITS, 12),
            (t, 12),
            (FULL_ROUNDS, 10),
            (partial_rounds, 10),
        )
        seed = "".join(format(value, f"0{width}b") for value, width in fields) + "1" * 30
        self._state = sum(int(bit) << i for i, bit in enumerate(seed))
        for _ in range(_GRAIN_WARMUP // self._CHUNK):
            self._advance()
        self._kept = 0
        self._kept_bits = 0

    def sample(self) -> int:
        """The next FIELD_BITS output bits as an int, first bit most significant."""
        while self._kept_bits < FIELD_BITS:
            chunk = self._advance()
            for byte in (chunk & 0xFF, chunk >> 8):
                kept, count = _SHRUNK[byte]
                self._kept = self._kept << count | kept
                self._kept_bits += count
        self._kept_bits -= FIELD_BITS
        value = self._kept >> self._kept_bits
        self._kept &= (1 << self._kept_bits) - 1
        return value

    def _advance(self) -> int:
        s = self._state
        feedback = 0
        for tap in _GRAIN_TAPS:
            feedback ^= s >> tap
        chunk = feedback & (1 << self._CHUNK) - 1
        self._state = s >> self._CHUNK | chunk << (_GRAIN_STATE_BITS - self._CHUNK)
        return chunk
