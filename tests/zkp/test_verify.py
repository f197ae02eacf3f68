"""The Python Groth16 verifier against proofs that snarkjs made, valid and spoiled."""

from dataclasses import replace

import pytest
from tampering import off_curve_g1, off_curve_g2, single_tamperings

from zkp.proof import Proof
from zkp.snarkjs_json import read_proof, read_public_signals, read_verification_key
from zkp.verify import InvalidVerificationKey, Verdict, verify

N_PUBLIC = 2  # the multiplier's public signals: [c, a]


@pytest.fixture(scope="module")
def multiplier(multiplier_setup, multiplier_proofs):
    """(key, proof, public signals) of the first multiplier proof."""
    files = multiplier_proofs[0]
    return (read_verification_key(multiplier_setup.verification_key), read_proof(files.proof),
            read_public_signals(files.public))


def _verify_files(setup, files) -> Verdict:
    return verify(read_verification_key(setup.verification_key), read_proof(files.proof),
                  read_public_signals(files.public))


def test_accepts_snarkjs_proofs_of_the_multiplier(multiplier_setup, multiplier_proofs):
    for files in multiplier_proofs[:2]:
        assert _verify_files(multiplier_setup, files) == Verdict(True)


def test_accepts_a_snarkjs_proof_of_poseidon(poseidon_setup, poseidon_proof):
    assert _verify_files(poseidon_setup, poseidon_proof) == Verdict(True)


def test_accepts_a_snarkjs_proof_of_eddsa(eddsa_setup, eddsa_proof):
    assert _verify_files(eddsa_setup, eddsa_proof) == Verdict(True)


@pytest.mark.parametrize("tampering", single_tamperings(N_PUBLIC), ids=lambda t: t.name)
def test_rejects(multiplier, tampering):
    vk, proof, inputs = multiplier
    spoiled, spoiled_inputs = tampering.apply(proof, inputs)
    assert verify(vk, spoiled, spoiled_inputs) == Verdict(False, tampering.reason)


@pytest.mark.parametrize("count", [0, N_PUBLIC - 1, N_PUBLIC + 1])
def test_rejects_a_wrong_number_of_public_inputs(multiplier, count):
    vk, proof, inputs = multiplier
    assert verify(vk, proof, (inputs * 2)[:count]) == Verdict(
        False, f"expected {N_PUBLIC} public inputs, got {count}")


def test_a_key_off_the_curve_is_an_error_not_a_verdict(multiplier):
    vk, proof, inputs = multiplier
    with pytest.raises(InvalidVerificationKey, match=r"IC\[1\] is not on the curve"):
        verify(replace(vk, ic=(vk.ic[0], off_curve_g1(vk.ic[1]), vk.ic[2])), proof, inputs)
    with pytest.raises(InvalidVerificationKey, match="vk_delta_2 is not on the curve"):
        verify(replace(vk, delta2=off_curve_g2(vk.delta2)), proof, inputs)


def test_points_at_infinity_are_points(multiplier):
    vk, proof, inputs = multiplier
    assert verify(vk, Proof(None, None, None), inputs) == Verdict(False, "pairing check failed")
