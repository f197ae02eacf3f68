"""Proof systems behind one interface (zkp.system): the registry, Groth16's codec and digests
as the contracts compute them, strict decoding, and the operations delegating to zkp's modules."""

from __future__ import annotations

import random

import pytest
from eth_abi import encode
from eth_utils import keccak
from groth16_trapdoor import TrapdoorKey

from zkp.errors import ZkpError
from zkp.proof import AggregateProof, Proof
from zkp.system import (
    Groth16,
    MalformedProof,
    SealedProof,
    UnknownProofSystem,
    register,
    system,
)
from zkp.verify import ACCEPTED, PAIRING_FAILED, prepare_key

GROTH16 = system("groth16")
PROOF = Proof(a=(1, 2), b=((3, 4), (5, 6)), c=(7, 8))
#: two proofs' A and B (the second's point at infinity) and the combined C
AGGREGATE = AggregateProof(a=((1, 2), None), b=(((3, 4), (5, 6)), None), c=(7, 8))
PROVERS = ["0x" + "11" * 20, "0x" + "22" * 20]


@pytest.fixture(scope="module")
def trapdoor():
    rng = random.Random(17)
    key = TrapdoorKey.create(4, rng)
    publics = key.random_inputs(3, rng)
    return key, key.proofs(publics, rng), publics


def test_the_registry_names_its_systems_and_refuses_unknown_ones():
    assert isinstance(GROTH16, Groth16) and GROTH16.name == "groth16"
    with pytest.raises(UnknownProofSystem, match="unknown proof system 'plonk'; this node knows "
                                                 "groth16"):
        system("plonk")
    with pytest.raises(ZkpError, match="already registered"):
        register(Groth16())


def test_a_groth16_proof_is_what_the_contracts_hash_and_decode():
    sealed = GROTH16.seal(PROOF)
    # abi.encode(uint256[2] a, uint256[2][2] b, uint256[2] c), B in the precompile's order.
    assert sealed == SealedProof("groth16", encode(
        ["uint256[2]", "uint256[2][2]", "uint256[2]"], [[1, 2], [[4, 3], [6, 5]], [7, 8]]))
    assert GROTH16.digest(sealed) == keccak(sealed.data)
    assert GROTH16.open(sealed) == PROOF
    assert GROTH16.calldata(PROOF, [9, 10]) == (sealed.data, [9, 10])


def test_an_aggregate_round_trips_and_its_digest_names_the_provers():
    sealed = GROTH16.seal_aggregate(AGGREGATE)
    assert GROTH16.open_aggregate(sealed) == AGGREGATE
    assert GROTH16.proofs_in(AGGREGATE) == 2
    assert GROTH16.aggregate_digest(sealed, PROVERS) == keccak(encode(
        ["address[]", "uint256[2][]", "uint256[2][2][]", "uint256[2]"],
        [PROVERS, [[1, 2], [0, 0]], [[[4, 3], [6, 5]], [[0, 0], [0, 0]]], [7, 8]]))
    assert GROTH16.seal_aggregate_calldata(*GROTH16.aggregate_calldata(AGGREGATE, [])[:3]) == sealed


@pytest.mark.parametrize(("data", "message"), [
    (bytes(255), "a groth16 proof is 256 bytes"),
    (bytes(257), "a groth16 proof is 256 bytes"),
    (b"", "a groth16 proof is 256 bytes"),
])
def test_bytes_that_are_no_proof_are_refused_with_the_reason(data, message):
    with pytest.raises(MalformedProof, match=message):
        GROTH16.decode(data)


def _aggregate_bytes() -> bytes:
    return GROTH16.encode_aggregate(AGGREGATE)


@pytest.mark.parametrize(("damage", "message"), [
    (lambda d: d[:-1], "not a groth16 aggregate"),
    (lambda d: d + bytes(32), "not the canonical encoding"),
    (lambda d: d[:32] + (2**255).to_bytes(32, "big") + d[64:], "not a groth16 aggregate"),
    (lambda d: GROTH16.encode_aggregate(AggregateProof(AGGREGATE.a, AGGREGATE.b[:1], (7, 8))),
     "one A and one B per proof"),
    (lambda d: GROTH16.encode_aggregate(AggregateProof((), (), (7, 8))), "at least one"),
])
def test_bytes_that_are_no_aggregate_are_refused_with_the_reason(damage, message):
    with pytest.raises(MalformedProof, match=message):
        GROTH16.decode_aggregate(damage(_aggregate_bytes()))


def test_a_proof_of_another_system_is_not_opened_as_groth16():
    with pytest.raises(MalformedProof, match="a plonk proof is not a groth16 proof"):
        GROTH16.open(SealedProof("plonk", GROTH16.encode(PROOF)))


def test_verification_and_aggregation_give_zkp_verdicts(trapdoor):
    key, proofs, publics = trapdoor
    assert GROTH16.verify(key.vk, proofs[0], publics[0]) == ACCEPTED
    bad = GROTH16.tamper(proofs[0])
    assert GROTH16.open(GROTH16.seal(bad)) == bad  # well-formed,
    assert GROTH16.verify(key.vk, bad, publics[0]) == PAIRING_FAILED  # and false
    prepared = GROTH16.prepare_key(key.vk)
    assert prepared is prepare_key(key.vk)
    assert GROTH16.verify_batch(prepared, [(proofs[1], publics[1]), (bad, publics[0])]) == [
        ACCEPTED, PAIRING_FAILED]
    combined = GROTH16.aggregate(proofs, publics)
    assert GROTH16.verify_aggregate(key.vk, combined, publics).valid
    assert not GROTH16.verify_aggregate(key.vk, GROTH16.tamper(combined), publics).valid
