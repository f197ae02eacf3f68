"""The interfaces the roller node's services share, and that its builders inject.

- `TaskProver`: proves one circuit's tasks on one backend and hands each verified result to the
  node's signer. The node takes a `ProverFactory` (default `roller.proving.BlockProver`, or with a
  farm `roller.farm.prover.FarmProver`) and makes one prover per circuit and worker; a benchmark
  injects a stand-in, the devnet a wrapper. A farm's worker needs only its block part,
  `BlockProving`.
- `ProvingSite`: where the node proves (this machine's backend, or a farm's workers), as its
  status and metrics show it.
- `AdmissionPolicy`: whether a task that passed the protocol's checks (`session.check_task`) is
  taken, and whether the tasks taken are proven. The node's own (`roller.admission`) checks the
  circuit, the inputs against L1 and the time left; the devnet's `lazy` roller injects another.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from roller.journal import TaskOffer
from roller.proving import BatchResult, BlockResult, SignedResult, Signer
from roller.session import TaskRefused
from zkp.builds import CircuitBuild


class BlockProving(Protocol):
    """Proves one circuit's blocks, blocking; what a farm's worker runs (`roller.farm.worker`).
    Every proof it returns is verified against `build`'s key first."""

    #: the circuit it proves
    build: CircuitBuild
    #: the backend's name and hardware: what a measured speed belongs to
    backend_description: str

    def prove_block(self, inputs: bytes | Mapping[str, Any], address: str) -> BlockResult:
        """A verified proof of one block's circuit inputs (calibration measures with it)."""


class TaskProver(BlockProving, Protocol):
    """Proves one circuit's tasks; one task at a time, blocking (the node calls it in a worker
    thread). Every result it returns or signs is verified against `build`'s key first: a signed
    proof that does not verify is evidence that slashes the stake."""

    def run(self, task: TaskOffer, address: str, sign: Signer) -> SignedResult:
        """`task`'s proof (a block's) or aggregate (a batch's) for `address`, verified, then
        signed with `sign`."""

    def aggregate(self, proofs: Sequence[tuple[Any, Sequence[int]]]) -> BatchResult:
        """The verified aggregate of a batch's proofs (calibration measures with it)."""


#: (circuit, backend setting "auto" | "cpu" | "gpu") -> a prover of that circuit (blocking)
ProverFactory = Callable[[CircuitBuild, str], TaskProver]
#: the same for a farm's worker, which proves blocks only
BlockProverFactory = Callable[[CircuitBuild, str], BlockProving]


@dataclass(frozen=True)
class ProvingSite:
    """Where the node proves: this machine's backend, or a farm."""

    #: "cpu", "gpu" or "farm"
    name: str
    #: what a measured speed belongs to (`capacity.ProvingSpeed`): the backend and its hardware,
    #: or the farm's database
    description: str
    #: why this one (for "auto", why a machine with a GPU proves on its CPU)
    reason: str


class AdmissionPolicy(Protocol):
    """Decides the tasks a roller takes, once they passed the protocol's checks."""

    #: whether accepted tasks are proven and submitted (those of an earlier run too)
    delivers: bool

    async def refusal(self, offer: TaskOffer) -> TaskRefused | None:
        """Why `offer` is declined, or None to accept it. Called under the intake's lock: the
        decision and the journal's accept are one step."""
