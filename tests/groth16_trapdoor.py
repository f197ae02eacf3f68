"""Groth16 keys whose trapdoor is known, and valid proofs made from it without a circuit: many
random instances for the verifier's tests, in milliseconds.

A key alpha = [a]G1, beta = [b]G2, gamma = [g]G2, delta = [d]G2, IC_j = [u_j]G1 accepts
A = [s]G1, B = [t]G2, C = [c]G1 for inputs x when

    s t = a b + g (u_0 + sum_j x_j u_j) + d c  (mod r),

the verification equation in the exponent. Whoever knows a, b, g, d and the u_j can make a
proof of any inputs (which is why a real setup destroys them); here that gives proofs valid by
construction, independent of our prover and of any circuit.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from py_ecc.optimized_bn128 import G1 as GENERATOR_1, G2 as GENERATOR_2, normalize

from zkp import native
from zkp.field import R, ints_to_limbs
from zkp.points import (
    G1,
    G2,
    g1_from_montgomery,
    g1_to_montgomery,
    g2_from_montgomery,
    g2_to_montgomery,
)
from zkp.proof import Proof, VerificationKey


def _generator_1() -> G1:
    x, y = normalize(GENERATOR_1)
    return int(x), int(y)


def _generator_2() -> G2:
    x, y = normalize(GENERATOR_2)
    return tuple(map(int, x.coeffs)), tuple(map(int, y.coeffs))


def g1_multiples(scalars: Sequence[int]) -> list[G1]:
    """[k]G1 for each k."""
    base = g1_to_montgomery([_generator_1()])[0].copy()
    return g1_from_montgomery(native.g1_mul_many(base, ints_to_limbs([k % R for k in scalars])))


def g2_multiples(scalars: Sequence[int]) -> list[G2]:
    """[k]G2 for each k."""
    base = g2_to_montgomery([_generator_2()])[0].copy()
    return g2_from_montgomery(native.g2_mul_many(base, ints_to_limbs([k % R for k in scalars])))


@dataclass(frozen=True)
class TrapdoorKey:
    vk: VerificationKey
    a: int
    b: int
    g: int
    d: int
    u: tuple[int, ...]

    @classmethod
    def create(cls, n_public: int, rng: random.Random) -> TrapdoorKey:
        a, b, g, d = (rng.randrange(1, R) for _ in range(4))
        u = tuple(rng.randrange(1, R) for _ in range(n_public + 1))
        alpha, *ic = g1_multiples([a, *u])
        beta, gamma, delta = g2_multiples([b, g, d])
        return cls(VerificationKey(alpha, beta, gamma, delta, tuple(ic)), a, b, g, d, u)

    def proofs(self, publics: Sequence[Sequence[int]], rng: random.Random) -> list[Proof]:
        """A valid proof of each list of public inputs, each with fresh random A and B."""
        s = [rng.randrange(1, R) for _ in publics]
        t = [rng.randrange(1, R) for _ in publics]
        inverse_d = pow(self.d, -1, R)
        c = [(s_i * t_i - self.a * self.b
              - self.g * (self.u[0] + sum(x * u for x, u in zip(inputs, self.u[1:], strict=True))))
             * inverse_d for s_i, t_i, inputs in zip(s, t, publics, strict=True)]
        a_points, c_points = g1_multiples(s), g1_multiples(c)
        return [Proof(a, b, c) for a, b, c in zip(a_points, g2_multiples(t), c_points, strict=True)]

    def random_inputs(self, count: int, rng: random.Random) -> list[list[int]]:
        return [[rng.randrange(R) for _ in range(self.vk.n_public)] for _ in range(count)]
