"""Batch aggregation: K Groth16 proofs of one circuit checked with one pairing product.

For proofs pi_i = (A_i, B_i, C_i) with public inputs x_i, i = 1..K
(docs/architecture.md, "Proofs"):

    t   = keccak256(A_1 .. A_K || B_1 .. B_K || x_1 .. x_K)
    r_i = uint256(keccak256(abi.encode(t, i))) mod r
    aggregate = (A_1 .. A_K, B_1 .. B_K, C = sum_i r_i C_i)

and the verifier checks

    prod_i e(r_i A_i, B_i) * e(-(sum_i r_i) alpha, beta)
        * e(-sum_i r_i vk_x(x_i), gamma) * e(-C, delta) = 1,

K + 3 pairings instead of 4K. It holds for valid proofs because each
satisfies e(A_i, B_i) = e(alpha, beta) e(vk_x(x_i), gamma) e(C_i, delta).
Every r_i is fixed by all the A, B and x before C is chosen, so an aggregate
of a false statement passes only if a random linear combination of the K
equations' failures vanishes: as hard as forging one proof.

Two choices the architecture leaves open, made here and in the generated
Solidity alike (`zkp.solidity`):

* The transcript t hashes 32-byte big-endian words: each A as (x, y), each B
  in the EVM precompile's order (x.c1, x.c0, y.c1, y.c0), each x_i as its n
  inputs, all A first, then all B, then all inputs. That is
  abi.encodePacked of the batch verifier's calldata arrays `a`, `b` and
  `inputs`, so the contract hashes its calldata as it lies.
* i counts from 1, as the architecture writes it, and the reduction is mod
  the group order r (`zkp.field.R`), since the r_i multiply points; the
  architecture's "mod q" names the group order as Groth16 papers do, not
  the base field. (That some r_i is 0, dropping proof i, has probability
  about K / 2^254.)

Reasons name the aggregate's JSON fields, positions counting from 0.
"""

from collections.abc import Sequence

from eth_hash.auto import keccak
from py_ecc.optimized_bn128 import is_inf, multiply, neg, normalize

from zkp.errors import ZkpError
from zkp.evm import encode_words, g1_words, g2_words
from zkp.field import R
from zkp.points import G1, G2
from zkp.proof import AggregateProof, Proof, VerificationKey
from zkp.verify import (
    ACCEPTED,
    Rejection,
    Verdict,
    g1_point,
    g2_point,
    linear_combination,
    pairing_product_is_one,
    require_g1,
    require_g2,
    require_public_inputs,
    require_valid_key,
)


class AggregationError(ZkpError):
    """The proofs cannot be aggregated: none given, or counts that do not match."""


def aggregate(proofs: Sequence[Proof], public_inputs: Sequence[Sequence[int]]) -> AggregateProof:
    """Combine proofs of one circuit; `public_inputs[i]` are proof i's inputs.

    Only the shapes are checked here; whether each proof is valid is for
    `zkp.verify.verify` (an invalid one makes the aggregate invalid).
    """
    if not proofs:
        raise AggregationError("no proofs to aggregate")
    if len(public_inputs) != len(proofs):
        raise AggregationError(
            f"{len(proofs)} proofs but {len(public_inputs)} lists of public inputs")
    if len({len(x) for x in public_inputs}) != 1:
        raise AggregationError("the proofs have different numbers of public inputs: "
                               "only proofs of one circuit can be aggregated")
    a = tuple(p.a for p in proofs)
    b = tuple(p.b for p in proofs)
    scalars = batch_scalars(a, b, public_inputs)
    c = linear_combination([g1_point(p.c) for p in proofs], scalars)
    return AggregateProof(a, b, _affine(c))


def verify_aggregate(vk: VerificationKey, agg: AggregateProof,
                     public_inputs: Sequence[Sequence[int]]) -> Verdict:
    """Check an aggregate against the key and each proof's public inputs, in order."""
    require_valid_key(vk)
    try:
        a, b = _require_batch(vk, agg, public_inputs)
        c = require_g1(agg.c, "pi_c")
    except Rejection as rejection:
        return Verdict(False, str(rejection))
    scalars = batch_scalars(agg.a, agg.b, public_inputs)
    scalar_sum = sum(scalars) % R
    input_sums = [sum(r_i * x[j] for r_i, x in zip(scalars, public_inputs, strict=True)) % R
                  for j in range(vk.n_public)]
    commitment = linear_combination([g1_point(p) for p in vk.ic], [scalar_sum, *input_sums])
    pairs = [(multiply(a_i, r_i), b_i) for a_i, b_i, r_i in zip(a, b, scalars, strict=True)]
    pairs += [
        (neg(multiply(g1_point(vk.alpha1), scalar_sum)), g2_point(vk.beta2)),
        (neg(commitment), g2_point(vk.gamma2)),
        (neg(c), g2_point(vk.delta2)),
    ]
    return ACCEPTED if pairing_product_is_one(pairs) else Verdict(False, "pairing check failed")


def transcript_hash(a: Sequence[G1], b: Sequence[G2],
                    public_inputs: Sequence[Sequence[int]]) -> bytes:
    """t: keccak256 of all A, then all B (precompile order), then all inputs, as words."""
    words = [w for point in a for w in g1_words(point)]
    words += [w for point in b for pair in g2_words(point) for w in pair]
    words += [x for inputs in public_inputs for x in inputs]
    return keccak(encode_words(words))


def batch_scalars(a: Sequence[G1], b: Sequence[G2],
                  public_inputs: Sequence[Sequence[int]]) -> list[int]:
    """r_1..r_K: r_i = uint256(keccak256(abi.encode(t, i))) mod r."""
    t = transcript_hash(a, b, public_inputs)
    return [int.from_bytes(keccak(t + encode_words([i])), "big") % R
            for i in range(1, len(a) + 1)]


def _require_batch(vk: VerificationKey, agg: AggregateProof,
                   public_inputs: Sequence[Sequence[int]]) -> tuple[list, list]:
    """The proofs' A and B in py_ecc's form, once the counts and every value check out."""
    if agg.k == 0:
        raise Rejection("the aggregate holds no proofs")
    if len(agg.b) != agg.k:
        raise Rejection(f"the aggregate has {agg.k} pi_a points but {len(agg.b)} pi_b points")
    if len(public_inputs) != agg.k:
        raise Rejection(
            f"the aggregate holds {agg.k} proofs but {len(public_inputs)} lists of public inputs")
    a = [require_g1(p, f"pi_a[{i}]") for i, p in enumerate(agg.a)]
    b = [require_g2(p, f"pi_b[{i}]") for i, p in enumerate(agg.b)]
    for i, inputs in enumerate(public_inputs):
        try:
            require_public_inputs(vk, inputs, "public input {}")
        except Rejection as rejection:
            raise Rejection(f"proof {i}: {rejection}") from None
    return a, b


def _affine(point) -> G1:
    """Our affine form of a py_ecc projective G1 point."""
    if is_inf(point):
        return None
    x, y = normalize(point)
    return x.n, y.n
