"""What an on-chain Groth16 check costs: one proof alone against a batch of K, per proof.

Measured with real proofs (our prover, our development key) of a benchmark circuit with the
block circuit's four public signals (zkp/circuits/poseidon_chain.circom), on generated verifiers
deployed to a chain (the embedded one unless given). Each figure is a sent transaction's gas
less the 21,000 base, calldata included (see market_contracts.verifiers.verification_gas).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from market_contracts.chain import Chain, EmbeddedChain
from market_contracts.verifiers import (
    deploy_batch_verifier,
    deploy_verifier,
    verification_gas,
    verify_batch_call,
    verify_proof_call,
)
from zkp.aggregate import aggregate
from zkp.builds import poseidon_chain
from zkp.field import R
from zkp.groth16 import Prover
from zkp.proof import Proof
from zkp.setup import cached_setup
from zkp.witness import WitnessCalculator
from zkp.zkey import read_zkey

#: one Poseidon hash: the smallest circuit of this shape, as verification cost ignores size
CHAIN_LENGTH = 1


@dataclass(frozen=True)
class GasFigure:
    k: int
    single_verify_gas: int
    aggregate_verify_gas: int
    gas_per_proof: int

    def as_json(self) -> dict:
        return asdict(self)


def chain_proofs(count: int, length: int = CHAIN_LENGTH,
                 cache_dir: Path | None = None) -> tuple[Path, list[tuple[Proof, list[int]]]]:
    """`count` proofs of the chain circuit for random public inputs, and the key they use."""
    folder = poseidon_chain(length, cache_dir)
    name = f"chain_{length}"
    keys = cached_setup(folder / f"{name}.r1cs", cache_dir)
    prover = Prover(read_zkey(keys.zkey), "cpu")
    witnesses = WitnessCalculator(folder / f"{name}_js" / f"{name}.wasm")
    rng = random.Random(count)
    proofs = [
        prover.prove(witnesses.calculate({s: rng.randrange(R) for s in ("a", "b", "c")}))
        for _ in range(count)
    ]
    return keys.zkey, proofs


def measure(ks: list[int], chain: Chain | None = None, cache_dir: Path | None = None,
            progress: Callable[[str], None] = lambda _: None) -> list[GasFigure]:
    chain = chain or EmbeddedChain()
    account = chain.dev_accounts[0]
    progress("proving")
    zkey, proofs = chain_proofs(max(ks), cache_dir=cache_dir)
    vk = read_zkey(zkey).vk
    progress("deploying verifiers")
    single = deploy_verifier(chain, account, vk)
    batch = deploy_batch_verifier(chain, account, vk)
    progress("measuring a single verification")
    single_gas = verification_gas(chain, account, verify_proof_call(single, *proofs[0]))
    figures = []
    for k in ks:
        progress(f"measuring a batch of {k}")
        chosen = proofs[:k]
        publics = [public for _, public in chosen]
        call = verify_batch_call(batch, aggregate([p for p, _ in chosen], publics), publics)
        total = verification_gas(chain, account, call)
        figures.append(GasFigure(k, single_gas, total, total // k))
    return figures
