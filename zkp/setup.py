"""A development trusted setup: a Groth16 .zkey made in one step on this machine.

INSECURE by construction: the toxic waste (tau, alpha, beta, gamma, delta) is
drawn here and only forgotten, so whoever controls this machine could forge
proofs. It exists so tests, benchmarks and devnets need no ceremony and no
powers-of-tau file (snarkjs's `powersoftau prepare phase2` alone takes minutes
at 2^15 on two cores). Every key it makes says so: the .zkey carries a label
section, the verification key JSON a `provernet_setup` field, and generated
Solidity verifiers a comment. A production deployment imports a ceremony's key.

The key is the one snarkjs's `groth16 setup` would make from a powers-of-tau
file with the same tau, alpha and beta followed by one phase-2 contribution
setting gamma and delta (see zkp.zkey for the layout):
  u_i, v_i, w_i = the QAP polynomials of wire i at tau, over the Lagrange
                  basis of the domain of size n (with the extra A-row per
                  public wire that snarkjs adds)
  A_i = u_i G1, B1_i = v_i G1, B2_i = v_i G2
  IC_i = (beta u_i + alpha v_i + w_i) / gamma G1  for the public wires
  C_i  = (beta u_i + alpha v_i + w_i) / delta G1  for the private wires
  H_i  = L_{2i+1}(tau) / delta G1 over the domain of size 2n
"""

import fcntl
import hashlib
import os
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zkp import native
from zkp.cache import default_cache_dir
from zkp.errors import FileAccessError
from zkp.field import R, ints_to_limbs, root_of_unity
from zkp.points import G2, g1_from_montgomery, g1_to_montgomery, g2_from_montgomery, g2_to_montgomery
from zkp.proof import VerificationKey
from zkp.r1cs import R1cs, read_r1cs
from zkp.snarkjs_json import write_verification_key
from zkp.zkey import COEFFICIENT, ZKey, read_zkey_verification_key, write_zkey

SETUP_LABEL = (
    "INSECURE development setup made by provernet: its toxic waste existed on one machine, "
    "so that machine could forge proofs. For tests and devnets only."
)

G1_GENERATOR = (1, 2)
G2_GENERATOR: G2 = (
    (
        10857046999023057135944570762232829481370756359578518086990519993285655852781,
        11559732032986387107991004021392285783925812861821192530917403151452391805634,
    ),
    (
        8495653923123431417604973247489272438418190587263600148770280649306958101930,
        4082367875863433681332203403145435568316851327593401208105741076214120093531,
    ),
)

#: a coefficient c is stored as c * 2^512 mod r (see zkp.zkey)
_COEFFICIENT_FACTOR = pow(2, 512, R)

ZKEY_NAME = "circuit.zkey"
VKEY_NAME = "verification_key.json"


@dataclass(frozen=True)
class ToxicWaste:
    tau: int
    alpha: int
    beta: int
    gamma: int
    delta: int

    @classmethod
    def draw(cls) -> "ToxicWaste":
        return cls(*(secrets.randbelow(R - 1) + 1 for _ in range(5)))


def domain_size_for(r1cs: R1cs) -> int:
    """The smallest power of two holding the constraints plus one A-row per public wire."""
    rows = len(r1cs.constraints) + r1cs.n_public + 1
    return 1 << (rows - 1).bit_length()


def batch_inverse(values: list[int]) -> list[int]:
    """Inverses mod r of non-zero values with one modular inversion (Montgomery's trick)."""
    prefix = [1] * (len(values) + 1)
    for i, v in enumerate(values):
        prefix[i + 1] = prefix[i] * v % R
    inverse = pow(prefix[-1], -1, R)
    result = [0] * len(values)
    for i in range(len(values) - 1, -1, -1):
        result[i] = prefix[i] * inverse % R
        inverse = inverse * values[i] % R
    return result


def lagrange_at(tau: int, points: list[int], vanishing: int, size: int) -> list[int]:
    """L_k(tau) for the given points of a multiplicative domain of `size` elements.

    L_k(tau) = (tau^size - 1) / size * w_k / (tau - w_k); `vanishing` is tau^size - 1.
    """
    factor = vanishing * pow(size, -1, R) % R
    inverses = batch_inverse([(tau - w) % R for w in points])
    return [factor * w % R * inv % R for w, inv in zip(points, inverses)]


def domain_points(log_n: int, shift: int = 1) -> list[int]:
    """shift * w^i for i < 2^log_n, with w snarkjs's 2^log_n-th root of unity."""
    w = root_of_unity(log_n)
    points, x = [], shift
    for _ in range(1 << log_n):
        points.append(x)
        x = x * w % R
    return points


def qap_at(r1cs: R1cs, lagrange: list[int]) -> tuple[list[int], list[int], list[int]]:
    """u_i, v_i, w_i: each wire's A, B and C polynomials evaluated at tau."""
    u, v, w = ([0] * r1cs.n_wires for _ in range(3))
    for row, (a, b, c) in enumerate(r1cs.constraints):
        basis = lagrange[row]
        for target, lc in ((u, a), (v, b), (w, c)):
            for wire, coefficient in lc.items():
                target[wire] += coefficient * basis
    for wire in range(r1cs.n_public + 1):
        u[wire] += lagrange[len(r1cs.constraints) + wire]
    return [x % R for x in u], [x % R for x in v], [x % R for x in w]


def coefficient_records(r1cs: R1cs) -> np.ndarray:
    """Section 4: the A and B terms of each constraint, then the public wires' A-rows."""
    terms = []
    for row, (a, b, _c) in enumerate(r1cs.constraints):
        terms.extend((0, row, wire, value) for wire, value in a.items())
        terms.extend((1, row, wire, value) for wire, value in b.items())
    n_constraints = len(r1cs.constraints)
    terms.extend((0, n_constraints + wire, wire, 1) for wire in range(r1cs.n_public + 1))
    records = np.zeros(len(terms), dtype=COEFFICIENT)
    if terms:
        matrix, row, wire, value = zip(*terms)
        records["matrix"], records["constraint"], records["signal"] = matrix, row, wire
        records["value"] = ints_to_limbs(v * _COEFFICIENT_FACTOR % R for v in value)
    return records


def make_zkey(r1cs: R1cs, toxic: ToxicWaste, label: str = SETUP_LABEL) -> ZKey:
    n_public = r1cs.n_public
    domain_size = domain_size_for(r1cs)
    log_n = domain_size.bit_length() - 1
    tau = toxic.tau
    lagrange = lagrange_at(tau, domain_points(log_n), pow(tau, domain_size, R) - 1, domain_size)
    odd = domain_points(log_n, shift=root_of_unity(log_n + 1))
    h = lagrange_at(tau, odd, pow(tau, 2 * domain_size, R) - 1, 2 * domain_size)
    u, v, w = qap_at(r1cs, lagrange)

    gamma_inverse, delta_inverse = pow(toxic.gamma, -1, R), pow(toxic.delta, -1, R)
    k = [(toxic.beta * ui + toxic.alpha * vi + wi) % R for ui, vi, wi in zip(u, v, w)]
    ic = [x * gamma_inverse % R for x in k[: n_public + 1]]
    c = [x * delta_inverse % R for x in k[n_public + 1 :]]
    h = [x * delta_inverse % R for x in h]

    # One call per group: the fixed-base table is built once for all of them.
    g1_scalars = u + v + ic + c + h + [toxic.alpha, toxic.beta, toxic.delta]
    g1 = native.g1_mul_many(g1_to_montgomery([G1_GENERATOR])[0], ints_to_limbs(g1_scalars))
    g2 = native.g2_mul_many(
        g2_to_montgomery([G2_GENERATOR])[0], ints_to_limbs(v + [toxic.beta, toxic.gamma, toxic.delta])
    )
    n = r1cs.n_wires
    cuts = np.cumsum([n, n, len(ic), len(c), len(h)])
    a1, b1, ic1, c1, h1, extra1 = np.split(g1, cuts)
    b2, extra2 = np.split(g2, [n])
    alpha1, beta1, delta1 = g1_from_montgomery(extra1)
    beta2, gamma2, delta2 = g2_from_montgomery(extra2)
    vk = VerificationKey(
        alpha1=alpha1,
        beta2=beta2,
        gamma2=gamma2,
        delta2=delta2,
        ic=tuple(g1_from_montgomery(ic1)),
        setup_label=label,
    )
    return ZKey(
        n_vars=n,
        n_public=n_public,
        domain_size=domain_size,
        vk=vk,
        beta1=beta1,
        delta1=delta1,
        coefficients=coefficient_records(r1cs),
        a=a1,
        b1=b1,
        b2=b2,
        c=c1,
        h=h1,
        setup_label=label,
    )


@dataclass(frozen=True)
class SetupFiles:
    zkey: Path
    verification_key: Path
    vk: VerificationKey
    #: False when the key came from the cache
    made: bool


def circuit_hash(r1cs_path: str | os.PathLike) -> bytes:
    try:
        content = Path(r1cs_path).read_bytes()
    except OSError as e:
        raise FileAccessError(r1cs_path, e.strerror or str(e)) from e
    return hashlib.blake2b(content, digest_size=64).digest()


def cached_setup(r1cs_path: str | os.PathLike, cache_dir: Path | None = None) -> SetupFiles:
    """The development key for a circuit, made once per circuit content and then reused.

    Keys are random, so the cache is what makes every node of a devnet, and
    every rerun, agree on one key. A lock file serialises concurrent makers.
    """
    digest = circuit_hash(r1cs_path)
    folder = (cache_dir or default_cache_dir()) / "setup" / digest.hex()[:32]
    zkey_path, vkey_path = folder / ZKEY_NAME, folder / VKEY_NAME
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if zkey_path.exists() and vkey_path.exists():
            return SetupFiles(zkey_path, vkey_path, read_zkey_verification_key(zkey_path), False)
        zkey = make_zkey(read_r1cs(r1cs_path), ToxicWaste.draw())
        write_zkey(zkey_path, zkey, digest)
        write_verification_key(vkey_path, zkey.vk)
        return SetupFiles(zkey_path, vkey_path, zkey.vk, True)


def setup_into(r1cs_path: str | os.PathLike, out_dir: Path, cache_dir: Path | None = None) -> SetupFiles:
    """`cached_setup`, with the key files copied into `out_dir`."""
    cached = cached_setup(r1cs_path, cache_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    zkey_path, vkey_path = out_dir / ZKEY_NAME, out_dir / VKEY_NAME
    shutil.copyfile(cached.zkey, zkey_path)
    shutil.copyfile(cached.verification_key, vkey_path)
    return SetupFiles(zkey_path, vkey_path, cached.vk, cached.made)
