"""How the EVM's BN254 precompiles (EIP-196, EIP-197) lay out points.

Every coordinate is one 32-byte big-endian word. A G1 point is (x, y); a G2
point is (x.c1, x.c0, y.c1, y.c0), the imaginary part first, the reverse of
snarkjs's JSON and of `zkp.points`. The point at infinity is all zero words.
snarkjs's Solidity calldata (`uint256[2][2] _pB`) uses the precompile's
order, so a contract can hand its calldata to the precompile unchanged; our
batch transcript hashes these same words (see `zkp.aggregate`).
"""

from zkp.field import Q
from zkp.points import G1, G2

#: Bytes per word of calldata and of precompile input.
WORD = 32


def g1_words(point: G1) -> list[int]:
    """[x, y]; [0, 0] for infinity."""
    if point is None:
        return [0, 0]
    return [point[0], point[1]]


def g2_words(point: G2) -> list[list[int]]:
    """[[x.c1, x.c0], [y.c1, y.c0]]; all zero for infinity."""
    if point is None:
        return [[0, 0], [0, 0]]
    (x0, x1), (y0, y1) = point
    return [[x1, x0], [y1, y0]]


def negate_g2(point: G2) -> G2:
    """-(x, y) = (x, -y) on the twist: each Fq component of y negated mod q."""
    if point is None:
        return None
    x, (y0, y1) = point
    return x, ((Q - y0) % Q, (Q - y1) % Q)


def encode_words(words: list[int]) -> bytes:
    """Words as the EVM holds them: each value 32 bytes, big-endian."""
    return b"".join(w.to_bytes(WORD, "big") for w in words)
