"""Generated Groth16 verifiers on a chain: deploy them, call them, and measure their gas.

The sources come from `zkp.solidity` and are compiled here, with the settings of our own
contracts, when first needed (they depend on the key, so no artifact is committed).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from eth_account.signers.local import LocalAccount
from web3.contract import Contract
from web3.contract.contract import ContractFunction

from market_contracts.chain import Chain
from market_contracts.compile import compile_source
from market_contracts.errors import ChainError
from zkp.aggregate import AggregateProof
from zkp.proof import Proof, VerificationKey
from zkp.solidity import (
    aggregate_calldata,
    proof_calldata,
    render_batch_verifier,
    render_verifier,
)
from zkp.system import SealedProof

#: The base cost of every transaction, which `verification_gas` leaves out.
TRANSACTION_BASE_GAS = 21_000
#: Gas limit of a measuring transaction: enough for a batch of about 250 proofs. It must exceed
#: what the verification uses, not merely equal it: a verifier forwards 63/64 of its gas to
#: each precompile and answers false, without reverting, when one runs out.
MEASUREMENT_GAS_LIMIT = 10_000_000


class VerificationRejected(ChainError):
    """The verifier answered false where a measurement needs a proof it accepts."""


def deploy_verifier(chain: Chain, account: LocalAccount, vk: VerificationKey,
                    contract_name: str = "Groth16Verifier") -> Contract:
    """Deploy a single-proof verifier for `vk` (snarkjs's `verifyProof` ABI, and `verify` of the
    proof's bytes)."""
    return chain.deploy(account, _artifact(render_verifier(vk, contract_name), contract_name))


def deploy_batch_verifier(chain: Chain, account: LocalAccount, vk: VerificationKey,
                          contract_name: str = "Groth16BatchVerifier") -> Contract:
    """Deploy a verifier of aggregates (`zkp.aggregate`) of proofs for `vk`."""
    return chain.deploy(account,
                        _artifact(render_batch_verifier(vk, contract_name), contract_name))


def verify_proof_call(verifier: Contract, proof: Proof,
                      public_signals: Sequence[int]) -> ContractFunction:
    """`verifyProof` with this proof's calldata, to `chain.call` or measure."""
    return verifier.functions.verifyProof(*proof_calldata(proof, public_signals))


def verify_call(verifier: Contract, proof: SealedProof,
                public_inputs: Sequence[int]) -> ContractFunction:
    """`verify(bytes proof, uint256[] inputs)`, the entry point the staking contract calls, with
    the proof as its system encodes it."""
    return verifier.functions.verify(proof.data, list(public_inputs))


def verify_batch_call(verifier: Contract, agg: AggregateProof,
                      public_inputs: Sequence[Sequence[int]]) -> ContractFunction:
    """`verifyBatch` with this aggregate's calldata, to `chain.call` or measure."""
    return verifier.functions.verifyBatch(*aggregate_calldata(agg, public_inputs))


def verification_gas(chain: Chain, account: LocalAccount, call: ContractFunction) -> int:
    """Gas of a transaction making this verifier call, less the 21,000 every transaction pays.

    Counted: the calldata (16 gas a non-zero byte, 4 a zero byte, selector included) and
    the whole execution, precompiles included. The figure is the receipt's `gasUsed` of a
    transaction actually sent (so it adds a block on `chain`): `eth_estimateGas` cannot measure
    a verifier, because it searches for the smallest gas limit at which the call does not
    revert, and a verifier short of gas for a precompile answers false rather than reverting.
    Raises `VerificationRejected` if the verifier answers false: a rejection's cost is not a
    verification's.
    """
    if not chain.call(call):
        raise VerificationRejected(
            f"{call.fn_name} on {call.address} answers false: measure a valid proof")
    receipt = chain.transact(account, call, gas=MEASUREMENT_GAS_LIMIT)
    return receipt["gasUsed"] - TRANSACTION_BASE_GAS


@functools.cache
def _compiled(unit_name: str, source: str) -> dict[str, dict]:
    return compile_source(unit_name, source)


def _artifact(source: str, contract_name: str) -> dict:
    return _compiled(f"{contract_name}.sol", source)[contract_name]
