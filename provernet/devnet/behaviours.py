"""The devnet's misbehaving rollers: the real roller node with its prover or its admission policy
wrapped, to exercise the coordinator's and the contracts' defences. Never for a real node:
`provernet roller run` hides the option (`--behaviour`), and the devnet's `--bad-rollers` names
them.

- `invalid`: proves honestly (the real prover verifies its proof and the node's signer checks it
  against L1), then has its proof system tamper with it (Groth16 negates C, `(x, q - y)`): a
  well-formed proof that no longer verifies, signed as it is sent, for the right public inputs, which makes it slashable evidence
  (an aggregate too: `slashInvalidAggregate`). `TamperingProver` wraps the node's prover.
- `lazy`: accepts every task that passes the protocol's checks and never delivers: its tasks
  settle missed at the close. `LazyAdmission` replaces the node's admission policy.

A farm's worker (`provernet roller worker`, hidden `--behaviour`) may be `invalid` too: it hands
the roller tampered block proofs (`TamperingBlocks`), which the roller must catch before it signs
and answer by quarantining the worker.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import structlog

from p2p.messages import BATCH_TASK
from roller.abc import BlockProving, ProverFactory, TaskProver
from roller.journal import TaskOffer
from roller.proving import BlockProver, BlockResult, SignedResult, Signer
from roller.session import TaskRefused
from zkp.builds import CircuitBuild
from zkp.system import SealedProof, system

log = structlog.get_logger(__name__)

BEHAVIOURS = ("honest", "invalid", "lazy")
WORKER_BEHAVIOURS = ("honest", "invalid")


def tamper(kind: str, proof: SealedProof) -> SealedProof:
    """The proof (or aggregate) made invalid but still well-formed, by its proof system."""
    proof_system = system(proof.system)
    if kind == BATCH_TASK:
        return proof_system.seal_aggregate(proof_system.tamper(proof_system.open_aggregate(proof)))
    return proof_system.seal(proof_system.tamper(proof_system.open(proof)))


class TamperingProver:
    """`invalid`: the wrapped prover's verified, signed proof, tampered and signed again."""

    def __init__(self, prover: TaskProver):
        self._prover = prover
        self.build = prover.build
        self.backend_description = prover.backend_description

    def run(self, task: TaskOffer, address: str, sign: Signer) -> SignedResult:
        honest = self._prover.run(task, address, sign)
        bad = tamper(task.kind, honest.proof)
        log.warning("DEVNET BEHAVIOUR invalid: submitting a tampered proof", task=str(task.key))
        return dataclasses.replace(honest, proof=bad, signature=sign(
            task.kind, task.index, task.round, bad, honest.public))

    def prove_block(self, inputs: Any, address: str):
        """Honest: the speed is measured on the real prover."""
        return self._prover.prove_block(inputs, address)

    def aggregate(self, proofs: Sequence[tuple[Any, Sequence[int]]]):
        return self._prover.aggregate(proofs)


def tampering(make_prover: ProverFactory) -> ProverFactory:
    """A prover factory whose provers are `make_prover`'s, tampering."""

    def make(build: CircuitBuild, backend: str) -> TaskProver:
        return TamperingProver(make_prover(build, backend))

    return make


class TamperingBlocks:
    """A farm worker's `invalid`: the wrapped prover's verified block proof, tampered."""

    def __init__(self, prover: BlockProving):
        self._prover = prover
        self.build = prover.build
        self.backend_description = prover.backend_description

    def prove_block(self, inputs: Any, address: str) -> BlockResult:
        honest = self._prover.prove_block(inputs, address)
        log.warning("DEVNET BEHAVIOUR invalid: handing the roller a tampered proof")
        return dataclasses.replace(honest, proof=system(self.build.system).tamper(honest.proof))


def worker_options(behaviour: str) -> dict[str, Any]:
    """`FarmWorker`'s keyword arguments that make a worker of `behaviour`."""
    if behaviour not in WORKER_BEHAVIOURS:
        raise ValueError(f"unknown worker behaviour {behaviour!r}; the behaviours are "
                         f"{', '.join(WORKER_BEHAVIOURS)}")
    if behaviour == "invalid":
        log.warning("DEVNET BEHAVIOUR: this worker misbehaves on purpose", behaviour=behaviour)
        return {"make_prover": lambda build, backend: TamperingBlocks(BlockProver(build, backend))}
    return {}


class LazyAdmission:
    """`lazy`: every task taken, none proven (those of an earlier run neither)."""

    delivers = False

    async def refusal(self, offer: TaskOffer) -> TaskRefused | None:
        return None


def roller_options(behaviour: str) -> dict[str, Any]:
    """`RollerService`'s keyword arguments that make a roller of `behaviour`."""
    if behaviour not in BEHAVIOURS:
        raise ValueError(f"unknown roller behaviour {behaviour!r}; the behaviours are "
                         f"{', '.join(BEHAVIOURS)}")
    if behaviour != "honest":
        log.warning("DEVNET BEHAVIOUR: this roller misbehaves on purpose", behaviour=behaviour)
    if behaviour == "invalid":
        return {"make_prover": tampering(BlockProver)}
    if behaviour == "lazy":
        return {"admission": lambda _checked: LazyAdmission()}
    return {}
