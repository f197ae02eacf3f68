"""EdDSA over Baby Jubjub with Poseidon, as circomlib's EdDSAPoseidonVerifier checks it.

Keys and signatures are circomlibjs's (eddsa.js), so a wallet made with either
signs for the other: the private key is any byte string (32 random bytes in
practice); BLAKE-512 of it gives a pruned scalar s (its first 32 bytes,
little-endian) and a nonce key (its last 32); the public key is A = (s >> 3) B8.
Signing message m (one field element): r = BLAKE-512(nonce key || m as 32
little-endian bytes) mod l, R8 = r B8, h = Poseidon(R8, A, m), S = r + h s
mod l. A signature (R8, S) is valid when S < l and S B8 = R8 + 8 h A.

`verify` accepts exactly what the circuit accepts, and refuses what
circomlibjs refuses: coordinates off the curve or not below r, S not below l,
and keys of small order (8 A = 0, which would let anyone sign; the circuit
refuses them too).
"""

from dataclasses import dataclass

from sequencer import babyjub
from sequencer.babyjub import IDENTITY, SUBORDER, Point
from sequencer.blake512 import blake512
from sequencer.poseidon import poseidon
from zkp.field import R

COFACTOR = 8


@dataclass(frozen=True)
class Signature:
    r8: Point
    s: int


def secret_scalar(private_key: bytes) -> int:
    """The pruned scalar s: a multiple of the cofactor with bit 254 set (as in Ed25519)."""
    digest = bytearray(blake512(private_key)[:32])
    digest[0] &= 0xF8
    digest[31] = digest[31] & 0x7F | 0x40
    return int.from_bytes(digest, "little")


def public_key(private_key: bytes) -> Point:
    return babyjub.multiply_base(secret_scalar(private_key) >> 3)


def sign(private_key: bytes, message: int) -> Signature:
    """Sign one field element, deterministically (the nonce is a hash of key and message)."""
    if not 0 <= message < R:
        raise ValueError("the message must be a field element, in [0, r)")
    s = secret_scalar(private_key)
    nonce_key = blake512(private_key)[32:]
    r = int.from_bytes(blake512(nonce_key + message.to_bytes(32, "little")), "little") % SUBORDER
    r8 = babyjub.multiply_base(r)
    h = challenge(r8, public_key(private_key), message)
    return Signature(r8, (r + h * s) % SUBORDER)


def verify(key: Point, message: int, signature: Signature) -> bool:
    if not (babyjub.on_curve(key) and babyjub.on_curve(signature.r8)):
        return False
    if not (0 <= signature.s < SUBORDER and 0 <= message < R):
        return False
    key8 = babyjub.multiply(key, COFACTOR)
    if key8 == IDENTITY:
        return False
    h = challenge(signature.r8, key, message)
    expected = babyjub.add(signature.r8, babyjub.multiply(key8, h))
    return babyjub.multiply_base(signature.s) == expected


def challenge(r8: Point, key: Point, message: int) -> int:
    """h = Poseidon(R8x, R8y, Ax, Ay, m)."""
    return poseidon([*r8, *key, message])
