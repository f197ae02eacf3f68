"""Groth16 proving keys (.zkey) as snarkjs writes them.

Container magic "zkey", version 1. Sections:
  1  u32 protocol: 1 is Groth16
  2  u32 n8q, q, u32 n8r, r, u32 nVars, u32 nPublic, u32 domainSize,
     alpha1, beta1 (G1), beta2, gamma2 (G2), delta1 (G1), delta2 (G2)
  3  IC: nPublic + 1 G1 points
  4  u32 count, then records of u32 matrix (0 = A, 1 = B), u32 constraint,
     u32 signal, n8r-byte value
  5  A: nVars G1 points; 6 B1: nVars G1; 7 B2: nVars G2
  8  C: G1 points for the private wires only (nPublic + 1 .. nVars - 1)
  9  H: domainSize G1 points
  10 the setup's contribution transcript (not needed to prove; not read)
  100 (ours) a UTF-8 label saying how the key was made; snarkjs ignores
     sections it does not know, so the label travels with the file

Quirks, all from snarkjs's zkey_new.js and groth16_prove.js:

* Points are affine, each coordinate in Montgomery form (x * 2^256 mod q);
  infinity is all-zero bytes. We keep the point sections exactly as stored,
  as read-only uint64 limb arrays: G1 (n, 2, 4) indexed [point, x|y, limb],
  G2 (n, 2, 2, 4) indexed [point, x|y, c0|c1, limb]. That is the form a
  Montgomery-arithmetic MSM consumes; `zkp.points` decodes them to ints.
* Coefficients hold only A and B: C needs no matrix, since on the evaluation
  domain C = A*B pointwise. A value is c * 2^512 mod r, the Montgomery form
  of c * 2^256, so a Montgomery product with a witness value in normal form
  yields the Montgomery form of c * w directly. After the constraints' records
  come nPublic + 1 extra A-rows: row nConstraints + i has coefficient 1 on
  wire i (the constant and each public signal), which makes the public
  signals' polynomials independent; hence domainSize >= nConstraints +
  nPublic + 1.
* H[i] = L_{2i+1}(tau) / delta, where L_k is the Lagrange basis of the domain
  of size 2 * domainSize: H lives on the odd coset w_2n * <w_n>. The prover
  evaluates A, B, C on that coset (iFFT on the n-domain, scale coefficient j
  by w_2n^j, FFT) and takes the MSM of H with A*B - C there, with no division
  by Z: A*B - C vanishes on the n-domain, so its even-indexed Lagrange terms
  drop out and the odd ones alone give (A*B - C)(tau) = h(tau) Z(tau).
  Roots of unity follow ffjavascript: w_{2^k} = 5^((r - 1) / 2^k) mod r
  (5 being the least quadratic non-residue mod r).
"""

import os
from dataclasses import dataclass

import numpy as np

from zkp.binfile import BinFile, write_binfile
from zkp.field import LIMBS, N8, Q, R
from zkp.points import (
    G1,
    G2,
    g1_from_montgomery,
    g1_to_montgomery,
    g2_from_montgomery,
    g2_to_montgomery,
)
from zkp.proof import VerificationKey

_MAGIC = "zkey"
_VERSION = 1
_GROTH16 = 1
_G1_BYTES = 2 * N8
_G2_BYTES = 4 * N8
_LABEL_SECTION = 100
#: Section 10 with a circuit hash and no contributions: the transcript of a key made in one step.
_HASH_BYTES = 64

#: One section-4 record; `value` holds the limbs of c * 2^512 mod r.
COEFFICIENT = np.dtype(
    [("matrix", "<u4"), ("constraint", "<u4"), ("signal", "<u4"), ("value", "<u8", (LIMBS,))]
)


@dataclass(frozen=True, eq=False)
class ZKey:
    """A Groth16 proving key; point and coefficient arrays are read-only, as stored."""

    n_vars: int
    n_public: int
    domain_size: int
    vk: VerificationKey
    beta1: G1
    delta1: G1
    #: records of the COEFFICIENT dtype
    coefficients: np.ndarray
    a: np.ndarray
    b1: np.ndarray
    b2: np.ndarray
    c: np.ndarray
    h: np.ndarray
    #: how the key was made, from our label section; None for keys made elsewhere
    setup_label: str | None = None


@dataclass(frozen=True)
class _Header:
    n_vars: int
    n_public: int
    domain_size: int
    alpha1: G1
    beta1: G1
    beta2: G2
    gamma2: G2
    delta1: G1
    delta2: G2


def read_zkey(path: str | os.PathLike) -> ZKey:
    file = BinFile(path, _MAGIC, _VERSION)
    header = _read_header(file)
    n_vars, n_public, domain_size = header.n_vars, header.n_public, header.domain_size
    label = _read_label(file)
    return ZKey(
        n_vars=n_vars,
        n_public=n_public,
        domain_size=domain_size,
        vk=_verification_key(file, header, label),
        beta1=header.beta1,
        delta1=header.delta1,
        coefficients=_read_coefficients(file, header),
        a=_g1_section(file, 5, n_vars, "A"),
        b1=_g1_section(file, 6, n_vars, "B1"),
        b2=_g2_section(file, 7, n_vars, "B2"),
        c=_g1_section(file, 8, n_vars - n_public - 1, "C"),
        h=_g1_section(file, 9, domain_size, "H"),
        setup_label=label,
    )


def read_zkey_verification_key(path: str | os.PathLike) -> VerificationKey:
    """The verification key alone, without loading the proving key's point sections."""
    file = BinFile(path, _MAGIC, _VERSION)
    return _verification_key(file, _read_header(file), _read_label(file))


def _read_header(file: BinFile) -> _Header:
    protocol = file.reader(1)
    protocol_id = protocol.u32()
    protocol.done()
    if protocol_id != _GROTH16:
        raise file.malformed(f"protocol id {protocol_id} is not Groth16 ({_GROTH16})")

    body = file.reader(2)
    body.field_prime(Q)
    body.field_prime(R)
    n_vars = body.u32()
    n_public = body.u32()
    domain_size = body.u32()

    def g1(name: str) -> G1:
        return _decode(file, g1_from_montgomery, body.raw(_G1_BYTES), (2, LIMBS), name)

    def g2(name: str) -> G2:
        return _decode(file, g2_from_montgomery, body.raw(_G2_BYTES), (2, 2, LIMBS), name)

    header = _Header(
        n_vars=n_vars,
        n_public=n_public,
        domain_size=domain_size,
        alpha1=g1("alpha1"),
        beta1=g1("beta1"),
        beta2=g2("beta2"),
        gamma2=g2("gamma2"),
        delta1=g1("delta1"),
        delta2=g2("delta2"),
    )
    body.done()
    if domain_size == 0 or domain_size & (domain_size - 1):
        raise file.malformed(f"domain size {domain_size} is not a power of two")
    if n_public >= n_vars:
        raise file.malformed(f"{n_public} public signals but only {n_vars} variables")
    return header


def _decode(file: BinFile, decoder, raw: bytes, shape: tuple[int, ...], name: str):
    try:
        return decoder(np.frombuffer(raw, dtype="<u8").reshape(shape))[0]
    except ValueError as e:
        raise file.malformed(f"point {name}: {e}") from e


def _read_label(file: BinFile) -> str | None:
    if not file.has(_LABEL_SECTION):
        return None
    try:
        return file.read(_LABEL_SECTION).decode("utf-8")
    except UnicodeDecodeError as e:
        raise file.malformed(f"setup label is not UTF-8: {e.reason}") from e


def _verification_key(file: BinFile, header: _Header, label: str | None) -> VerificationKey:
    n_ic = header.n_public + 1
    ic = _g1_section(file, 3, n_ic, "IC")
    try:
        ic_points = tuple(g1_from_montgomery(ic))
    except ValueError as e:
        raise file.malformed(f"IC point: {e}") from e
    return VerificationKey(
        alpha1=header.alpha1,
        beta2=header.beta2,
        gamma2=header.gamma2,
        delta2=header.delta2,
        ic=ic_points,
        setup_label=label,
    )


def _read_coefficients(file: BinFile, header: _Header) -> np.ndarray:
    section = file.reader(4)
    count = section.u32()
    file.expect_size(4, 4 + count * COEFFICIENT.itemsize, f"{count} coefficients")
    records = np.frombuffer(section.data, dtype=COEFFICIENT, offset=4)
    bounds = {"matrix": 2, "constraint": header.domain_size, "signal": header.n_vars}
    for field, bound in bounds.items():
        largest = int(records[field].max()) if count else 0
        if largest >= bound:
            raise file.malformed(f"coefficient {field} {largest} out of range (< {bound})")
    return records


def _g1_section(file: BinFile, section_id: int, n: int, name: str) -> np.ndarray:
    file.expect_size(section_id, n * _G1_BYTES, f"{n} G1 points {name}")
    return np.frombuffer(file.read(section_id), dtype="<u8").reshape(n, 2, LIMBS)


def _g2_section(file: BinFile, section_id: int, n: int, name: str) -> np.ndarray:
    file.expect_size(section_id, n * _G2_BYTES, f"{n} G2 points {name}")
    return np.frombuffer(file.read(section_id), dtype="<u8").reshape(n, 2, 2, LIMBS)


def write_zkey(path: str | os.PathLike, zkey: ZKey, circuit_hash: bytes) -> None:
    """Write a proving key that snarkjs reads as its own.

    `circuit_hash` (64 bytes) fills the transcript section, which has no
    contributions: snarkjs's `zkey verify` cannot check such a key against a
    powers-of-tau file, but proving and exporting the verification key work.
    """
    if len(circuit_hash) != _HASH_BYTES:
        raise ValueError(f"circuit hash must be {_HASH_BYTES} bytes, not {len(circuit_hash)}")
    vk = zkey.vk
    header = b"".join(
        [
            N8.to_bytes(4, "little"),
            Q.to_bytes(N8, "little"),
            N8.to_bytes(4, "little"),
            R.to_bytes(N8, "little"),
            zkey.n_vars.to_bytes(4, "little"),
            zkey.n_public.to_bytes(4, "little"),
            zkey.domain_size.to_bytes(4, "little"),
            g1_to_montgomery([vk.alpha1, zkey.beta1]).tobytes(),
            g2_to_montgomery([vk.beta2, vk.gamma2]).tobytes(),
            g1_to_montgomery([zkey.delta1]).tobytes(),
            g2_to_montgomery([vk.delta2]).tobytes(),
        ]
    )
    coefficients = len(zkey.coefficients).to_bytes(4, "little") + zkey.coefficients.tobytes()
    sections = [
        (1, _GROTH16.to_bytes(4, "little")),
        (2, header),
        (3, g1_to_montgomery(list(vk.ic)).tobytes()),
        (4, coefficients),
        (5, zkey.a.tobytes()),
        (6, zkey.b1.tobytes()),
        (7, zkey.b2.tobytes()),
        (8, zkey.c.tobytes()),
        (9, zkey.h.tobytes()),
        (10, circuit_hash + (0).to_bytes(4, "little")),
    ]
    if zkey.setup_label is not None:
        sections.append((_LABEL_SECTION, zkey.setup_label.encode("utf-8")))
    write_binfile(path, _MAGIC, _VERSION, sections)
