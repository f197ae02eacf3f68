"""Generated Solidity verifiers, deployed, against snarkjs proofs valid and spoiled.

The embedded chain's pairing precompile is pure Python (about 0.25 s a pairing), so it gets
one valid proof, one rejection and a batch of two; anvil gets the full rejection lists, the
batch of 16 and the gas figures.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

import pytest
from tampering import batch_tamperings, plus_generator_g1, single_tamperings
from web3.contract import Contract

from market_contracts.anvil import run_anvil
from market_contracts.chain import Chain, RpcChain
from market_contracts.verifiers import (
    VerificationRejected,
    deploy_batch_verifier,
    deploy_verifier,
    verification_gas,
    verify_batch_call,
    verify_call,
    verify_proof_call,
)
from zkp.aggregate import aggregate
from zkp.proof import VerificationKey
from zkp.snarkjs_json import read_proof, read_public_signals, read_verification_key
from zkp.solidity import VerifierGenerationError, render_batch_verifier, render_verifier
from zkp.system import SealedProof, system

N_PUBLIC = 2
K_REJECTED = 4
#: the issue's target for a batch of 16, calldata included
MAX_GAS_PER_PROOF_AT_16 = 60_000


@dataclass(frozen=True)
class Proofs:
    vk: VerificationKey
    proofs: list
    publics: list[list[int]]


@dataclass(frozen=True)
class Verifiers:
    chain: Chain
    single: Contract
    batch: Contract

    def verify(self, proof, publics) -> bool:
        return self.chain.call(verify_proof_call(self.single, proof, publics))

    def verify_batch(self, agg, publics) -> bool:
        return self.chain.call(verify_batch_call(self.batch, agg, publics))


def _read(setup, files) -> Proofs:
    return Proofs(read_verification_key(setup.verification_key),
                  [read_proof(f.proof) for f in files],
                  [read_public_signals(f.public) for f in files])


def _deploy(chain: Chain, vk: VerificationKey) -> Verifiers:
    account = chain.dev_accounts[0]
    return Verifiers(chain, deploy_verifier(chain, account, vk),
                     deploy_batch_verifier(chain, account, vk))


@pytest.fixture(scope="module")
def multiplier(multiplier_setup, multiplier_proofs) -> Proofs:
    return _read(multiplier_setup, multiplier_proofs)


@pytest.fixture(scope="module")
def verifiers(chain, multiplier) -> Verifiers:
    return _deploy(chain, multiplier.vk)


@pytest.fixture(scope="module")
def anvil_chain() -> Iterator[Chain]:
    with run_anvil() as node:
        yield RpcChain(node.url)


@pytest.fixture(scope="module")
def anvil_verifiers(anvil_chain, multiplier) -> Verifiers:
    return _deploy(anvil_chain, multiplier.vk)


# On both chains


def test_accepts_a_valid_proof(verifiers, multiplier):
    assert verifiers.verify(multiplier.proofs[0], multiplier.publics[0]) is True


def test_rejects_an_altered_c(verifiers, multiplier):
    proof = multiplier.proofs[0]
    assert verifiers.verify(replace(proof, c=plus_generator_g1(proof.c)),
                            multiplier.publics[0]) is False


def test_the_bytes_entry_point_agrees_and_refuses_what_is_no_proof(verifiers, multiplier):
    """`verify(bytes, uint256[])`, what the staking contract calls: the proof as zkp.system's
    Groth16 encodes it; bytes of another length or another number of inputs are false, never a
    revert."""
    groth16 = system("groth16")
    proof, public = multiplier.proofs[0], multiplier.publics[0]
    sealed = groth16.seal(proof)

    def verify(sealed_proof: SealedProof, inputs) -> bool:
        return verifiers.chain.call(verify_call(verifiers.single, sealed_proof, inputs))

    assert verify(sealed, public) is True
    assert verify(groth16.seal(replace(proof, c=plus_generator_g1(proof.c))), public) is False
    assert verify(SealedProof(sealed.system, sealed.data[:-1]), public) is False
    assert verify(SealedProof(sealed.system, sealed.data + bytes(32)), public) is False
    assert verify(sealed, [*public, 0]) is False
    assert verify(sealed, public[:-1]) is False


def test_accepts_a_batch_of_two(verifiers, multiplier):
    agg = aggregate(multiplier.proofs[:2], multiplier.publics[:2])
    assert verifiers.verify_batch(agg, multiplier.publics[:2]) is True


# On anvil


@pytest.mark.anvil
@pytest.mark.parametrize("tampering", single_tamperings(N_PUBLIC), ids=lambda t: t.name)
def test_rejects(anvil_verifiers, multiplier, tampering):
    proof, publics = tampering.apply(multiplier.proofs[0], multiplier.publics[0])
    assert anvil_verifiers.verify(proof, publics) is False


@pytest.mark.anvil
@pytest.mark.parametrize("k", [1, 4, 16])
def test_accepts_batches(anvil_verifiers, multiplier, k):
    agg = aggregate(multiplier.proofs[:k], multiplier.publics[:k])
    assert anvil_verifiers.verify_batch(agg, multiplier.publics[:k]) is True


@pytest.mark.anvil
@pytest.mark.parametrize("tampering", batch_tamperings(K_REJECTED), ids=lambda t: t.name)
def test_rejects_batches(anvil_verifiers, multiplier, tampering):
    agg, publics = tampering.apply(multiplier.proofs[:K_REJECTED],
                                   multiplier.publics[:K_REJECTED])
    assert anvil_verifiers.verify_batch(agg, publics) is False


@pytest.mark.anvil
def test_rejects_a_batch_with_more_inputs_than_proofs(anvil_verifiers, multiplier):
    agg = aggregate(multiplier.proofs[:2], multiplier.publics[:2])
    assert anvil_verifiers.verify_batch(agg, multiplier.publics[:3]) is False


@pytest.mark.anvil
@pytest.mark.parametrize("circuit", ["poseidon", "eddsa"])
def test_other_circuits(anvil_chain, request, circuit):
    """One public input (poseidon) and three (eddsa), single and as a batch of one."""
    proved = _read(request.getfixturevalue(f"{circuit}_setup"),
                   [request.getfixturevalue(f"{circuit}_proof")])
    deployed = _deploy(anvil_chain, proved.vk)
    assert deployed.verify(proved.proofs[0], proved.publics[0]) is True
    assert deployed.verify_batch(aggregate(proved.proofs, proved.publics), proved.publics) is True
    spoiled = [[(x + 1) for x in proved.publics[0]]]
    assert deployed.verify(proved.proofs[0], spoiled[0]) is False
    assert deployed.verify_batch(aggregate(proved.proofs, spoiled), spoiled) is False


@pytest.mark.anvil
def test_gas(anvil_verifiers, multiplier):
    chain, account = anvil_verifiers.chain, anvil_verifiers.chain.dev_accounts[0]
    single = verification_gas(chain, account, verify_proof_call(
        anvil_verifiers.single, multiplier.proofs[0], multiplier.publics[0]))
    assert 150_000 < single < 250_000
    agg = aggregate(multiplier.proofs, multiplier.publics)
    batch = verification_gas(chain, account,
                             verify_batch_call(anvil_verifiers.batch, agg, multiplier.publics))
    assert batch / 16 <= MAX_GAS_PER_PROOF_AT_16


@pytest.mark.anvil
def test_gas_of_a_rejected_proof_is_refused(anvil_verifiers, multiplier):
    call = verify_proof_call(anvil_verifiers.single, multiplier.proofs[0], multiplier.publics[1])
    with pytest.raises(VerificationRejected, match="answers false"):
        verification_gas(anvil_verifiers.chain, anvil_verifiers.chain.dev_accounts[0], call)


# The source itself


def test_source_says_how_the_key_was_made(multiplier):
    labelled = replace(multiplier.vk, setup_label="INSECURE development setup\nsecond line")
    for render in (render_verifier, render_batch_verifier):
        source = render(labelled)
        assert "// Generated by provernet from a Groth16 verification key" in source
        assert "// INSECURE development setup\n// second line\n" in source
        assert "INSECURE" not in render(multiplier.vk)


def test_abi_is_snarkjs(multiplier):
    assert ("function verifyProof(\n        uint256[2] calldata _pA,\n"
            "        uint256[2][2] calldata _pB,\n        uint256[2] calldata _pC,\n"
            "        uint256[2] calldata _pubSignals\n    ) external view returns (bool)"
            in render_verifier(multiplier.vk))


@pytest.mark.parametrize("render", [render_verifier, render_batch_verifier])
def test_what_cannot_be_generated(multiplier, render):
    with pytest.raises(VerifierGenerationError, match="no public inputs"):
        render(replace(multiplier.vk, ic=multiplier.vk.ic[:1]))
    with pytest.raises(VerifierGenerationError, match="not a Solidity identifier"):
        render(multiplier.vk, "2Verifier")


def test_accepts_our_provers_proof(chain, poseidon_setup, poseidon_proof):
    """A proof by our prover on our development key, on the embedded chain and on anvil."""
    proved = _read(poseidon_setup, [poseidon_proof])
    deployed = _deploy(chain, proved.vk)
    assert deployed.verify(proved.proofs[0], proved.publics[0]) is True
    assert deployed.verify(proved.proofs[0], [proved.publics[0][0] + 1]) is False
