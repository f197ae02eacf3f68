"""A Groth16 proof, an aggregate of proofs (zkp.aggregate) and the key that verifies them, as
plain values.

All are independent of where they came from (a .zkey, snarkjs JSON, our
prover) so every part of the system can pass them around and compare them.
"""

from dataclasses import dataclass

from zkp.points import G1, G2

#: the wire name of the proof system these values belong to (`zkp.system.Groth16`), here so that
#: what only names it (a circuit build) need not import the proof-system interface
GROTH16 = "groth16"

#: e(alpha1, beta2) in snarkjs's Fq12 tower layout ([2][3][2] ints)
Fq12 = tuple[tuple[tuple[int, int], ...], ...]


@dataclass(frozen=True)
class Proof:
    a: G1
    b: G2
    c: G1


@dataclass(frozen=True)
class VerificationKey:
    alpha1: G1
    beta2: G2
    gamma2: G2
    delta2: G2
    #: IC[0] + sum_i x_i * IC[i] commits to the public signals x_1..x_n
    ic: tuple[G1, ...]
    #: snarkjs writes this pairing into verification_key.json though its
    #: verifier never reads it; it is carried from JSON to JSON unchanged and
    #: None for a key read from a .zkey, as we never need to compute it
    alphabeta_12: Fq12 | None = None
    #: how the key was made when that is worth a warning wherever the key
    #: shows (our development setup says it is insecure); None otherwise
    setup_label: str | None = None

    @property
    def n_public(self) -> int:
        return len(self.ic) - 1


@dataclass(frozen=True)
class AggregateProof:
    """A_1..A_K and B_1..B_K of the proofs as they were, and the combined C."""

    a: tuple[G1, ...]
    b: tuple[G2, ...]
    c: G1

    @property
    def k(self) -> int:
        return len(self.a)
