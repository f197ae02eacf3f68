"""Groth16 proving exactly as snarkjs's `groth16 prove` defines it for a .zkey.

With the backend's sums (zkp.backends.Commitments) and fresh randomness r, s:
  A  = alpha1 + sum w_i A_i + r delta1
  B  = beta2 + sum w_i B2_i + s delta2        (and B1 the same in G1)
  C  = sum_priv w_i C_i + sum h_j H_j + s A + r B1 - r s delta1
The randomness enters only here, in tiny multi-scalar multiplications, so
every backend gives the same proof for the same witness, r and s.
"""

import secrets
from dataclasses import dataclass

import numpy as np

from zkp import native
from zkp.backends import Backend, select_backend
from zkp.errors import InvalidWitness
from zkp.field import LIMBS, R, below_modulus, ints_to_limbs, limbs_to_ints
from zkp.points import g1_from_montgomery, g1_to_montgomery, g2_from_montgomery, g2_to_montgomery
from zkp.proof import Proof
from zkp.zkey import ZKey


@dataclass(frozen=True)
class ProofRandomness:
    r: int
    s: int

    @classmethod
    def draw(cls) -> "ProofRandomness":
        return cls(secrets.randbelow(R), secrets.randbelow(R))


class Prover:
    """Proves with one .zkey on one backend; load once, prove many times."""

    def __init__(self, zkey: ZKey, backend: Backend | str = "auto"):
        self.zkey = zkey
        self.backend = select_backend(backend) if isinstance(backend, str) else backend
        self._circuit = self.backend.load(zkey)
        vk = zkey.vk
        self._alpha1, self._beta1, self._delta1 = g1_to_montgomery([vk.alpha1, zkey.beta1, zkey.delta1])
        self._beta2, self._delta2 = g2_to_montgomery([vk.beta2, vk.delta2])

    def prove(
        self, witness: np.ndarray, randomness: ProofRandomness | None = None
    ) -> tuple[Proof, list[int]]:
        """The proof and its public signals for a witness ((n_vars, 4) uint64, normal form)."""
        self._check(witness)
        randomness = randomness or ProofRandomness.draw()
        r, s = randomness.r, randomness.s
        sums = self._circuit.commitments(witness)
        a = native.msm_g1(np.stack([sums.a, self._alpha1, self._delta1]), _scalars(1, 1, r))
        b1 = native.msm_g1(np.stack([sums.b1, self._beta1, self._delta1]), _scalars(1, 1, s))
        b2 = native.msm_g2(np.stack([sums.b2, self._beta2, self._delta2]), _scalars(1, 1, s))
        c = native.msm_g1(
            np.stack([sums.c, sums.h, a, b1, self._delta1]), _scalars(1, 1, s, r, -r * s)
        )
        proof = Proof(
            a=g1_from_montgomery(a)[0], b=g2_from_montgomery(b2)[0], c=g1_from_montgomery(c)[0]
        )
        return proof, limbs_to_ints(witness[1 : self.zkey.n_public + 1])

    def _check(self, witness: np.ndarray) -> None:
        expected = (self.zkey.n_vars, LIMBS)
        if witness.shape != expected or witness.dtype != np.uint64:
            raise InvalidWitness(
                f"witness has shape {witness.shape} of {witness.dtype}; this key needs "
                f"{self.zkey.n_vars} values, an array of shape {expected} of uint64"
            )
        if limbs_to_ints(witness[:1]) != [1]:
            raise InvalidWitness("the witness's first value must be the constant 1")
        outside = np.flatnonzero(~below_modulus(witness, R))
        if outside.size:
            raise InvalidWitness(
                f"witness value {outside[0]} is not below the scalar field modulus"
                + (f" (and {outside.size - 1} more)" if outside.size > 1 else "")
            )


def _scalars(*values: int) -> np.ndarray:
    return ints_to_limbs(v % R for v in values)
