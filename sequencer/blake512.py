"""BLAKE-512, the SHA-3 finalist (Aumasson et al., 2008; not BLAKE2b).

circomlibjs derives Baby Jubjub EdDSA keys and signature nonces with it (the
npm package blake-hash), so a key made here must come from the same hash for
wallets to interoperate. Python's hashlib has only BLAKE2.

Its constants are the usual nothing-up-my-sleeve numbers, computed here rather
than listed: the initial value is SHA-512's (the first 64 bits of the fractional
parts of the square roots of the first eight primes) and the sixteen round
constants are the first 1024 bits of the fractional part of pi.
"""

import functools
import math

WORD_BITS = 64
BLOCK_BYTES = 128
ROUNDS = 16
#: message word schedule of each round (round r uses SIGMA[r % 10])
SIGMA = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
    (14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3),
    (11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4),
    (7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8),
    (9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13),
    (2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9),
    (12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11),
    (13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10),
    (6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5),
    (10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0),
)
#: G's rotation distances
ROTATIONS = (32, 25, 16, 11)
#: (a, b, c, d) state indices of G's eight applications per round: columns, then diagonals
G_INDICES = (
    (0, 4, 8, 12),
    (1, 5, 9, 13),
    (2, 6, 10, 14),
    (3, 7, 11, 15),
    (0, 5, 10, 15),
    (1, 6, 11, 12),
    (2, 7, 8, 13),
    (3, 4, 9, 14),
)

_MASK = (1 << WORD_BITS) - 1
_FIRST_PRIMES = (2, 3, 5, 7, 11, 13, 17, 19)


def blake512(data: bytes) -> bytes:
    """The 64-byte BLAKE-512 digest of `data` (no salt)."""
    bit_length = 8 * len(data)
    # pad: a 1 bit, zeros up to 111 bytes mod 128, a final 1 bit, the 128-bit length;
    # the first and the final 1 bit share a byte when exactly one byte is free
    length = bit_length.to_bytes(16, "big")
    if len(data) % BLOCK_BYTES == BLOCK_BYTES - 17:
        padded = data + b"\x81" + length
    else:
        padded = (
            data + b"\x80" + bytes((BLOCK_BYTES - 18 - len(data)) % BLOCK_BYTES) + b"\x01" + length
        )
    state = list(initial_value())
    for offset in range(0, len(padded), BLOCK_BYTES):
        # the counter is the number of message bits up to the end of this block,
        # and 0 for a block of padding alone
        counter = min(bit_length, 8 * (offset + BLOCK_BYTES)) if 8 * offset < bit_length else 0
        state = _compress(state, padded[offset : offset + BLOCK_BYTES], counter)
    return b"".join(word.to_bytes(8, "big") for word in state)


@functools.cache
def initial_value() -> tuple[int, ...]:
    return tuple(math.isqrt(p << 2 * WORD_BITS) & _MASK for p in _FIRST_PRIMES)


@functools.cache
def round_constants() -> tuple[int, ...]:
    """The 16 words of pi's fractional part, from Machin's formula in fixed point."""
    bits = 16 * WORD_BITS
    guard = 32
    one = 1 << (bits + guard)

    def arctan_inverse(x: int) -> int:
        total, term, k = 0, one // x, 1
        while term:
            total += term // k if k % 4 == 1 else -(term // k)
            term //= x * x
            k += 2
        return total

    pi = (16 * arctan_inverse(5) - 4 * arctan_inverse(239)) >> guard
    fraction = pi & ((1 << bits) - 1)
    return tuple(fraction >> (WORD_BITS * (15 - i)) & _MASK for i in range(16))


def _compress(state: list[int], block: bytes, counter: int) -> list[int]:
    u = round_constants()
    m = [int.from_bytes(block[i : i + 8], "big") for i in range(0, BLOCK_BYTES, 8)]
    low, high = counter & _MASK, counter >> WORD_BITS
    v = [*state, *u[:4], low ^ u[4], low ^ u[5], high ^ u[6], high ^ u[7]]
    for round_ in range(ROUNDS):
        sigma = SIGMA[round_ % 10]
        for i, (a, b, c, d) in enumerate(G_INDICES):
            x, y = sigma[2 * i], sigma[2 * i + 1]
            v[a] = (v[a] + v[b] + (m[x] ^ u[y])) & _MASK
            v[d] = _rotate(v[d] ^ v[a], ROTATIONS[0])
            v[c] = (v[c] + v[d]) & _MASK
            v[b] = _rotate(v[b] ^ v[c], ROTATIONS[1])
            v[a] = (v[a] + v[b] + (m[y] ^ u[x])) & _MASK
            v[d] = _rotate(v[d] ^ v[a], ROTATIONS[2])
            v[c] = (v[c] + v[d]) & _MASK
            v[b] = _rotate(v[b] ^ v[c], ROTATIONS[3])
    return [h ^ v[i] ^ v[i + 8] for i, h in enumerate(state)]


def _rotate(word: int, distance: int) -> int:
    return (word >> distance | word << (WORD_BITS - distance)) & _MASK
