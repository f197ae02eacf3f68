"""Circuits: the announced circuits fetched, checked against each rollup's verifiers, measured,
and a prover of each per worker.

`Circuits.run` takes requests on a zero-buffer channel, each handled in the background of its
own nursery:

- `Announced(manifests, peer, served)`: a coordinator of `served` (its rollup) announced these
  circuits. Each one not yet here is fetched from `peer` (`roller.artifacts`), then its key is
  checked against the verifiers of every rollup it was announced for (`vk_matches_verifier`: the
  rollup's batch verifier, and the block verifier the staking contract slashes its proofs with).
  A key that differs from a rollup's refuses the circuit for that rollup for good; a fetch or a
  check that fails is tried again with the next announcement a session brings.
- `Calibrate(zkey_hash, inputs)`: measure the circuit's proving speed on these block inputs (the
  intake asks with a task's own inputs when the node has no sample of its own).

Once a rollup takes a circuit, its speed is measured on `sample_inputs(name)` (once per backend:
the journal keeps it), and `on_ready` is called: the prover pool waits for it.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import structlog
import trio
from libp2p.peer.id import ID

from market_contracts.chain import Chain
from p2p.artifacts import ArtifactStore
from p2p.host import Node
from roller.abc import ProverFactory, TaskProver
from roller.artifacts import CircuitUnavailable, fetch_circuit
from roller.capacity import ProvingSpeed, calibrate
from roller.discovery import ServedRollup
from roller.errors import L1_UNAVAILABLE, ProvingError
from roller.metrics import RollerMetrics
from roller.proving import vk_matches_verifier
from zkp.builds import CircuitBuild
from zkp.errors import ZkpError

log = structlog.get_logger(__name__)

#: circuit name -> a sample block input for calibration, or None; KeyError for a circuit it has
#: no sample of (the node then measures on its first task's inputs)
SampleInputs = Callable[[str], Mapping[str, Any] | None]


@dataclass(frozen=True)
class Announced:
    """A coordinator of `served` announced `manifests`, to be fetched from `peer`."""

    manifests: tuple[bytes, ...]
    peer: ID
    served: ServedRollup


@dataclass(frozen=True)
class Calibrate:
    """Measure the speed of the circuit whose key hashes to `zkey_hash` on `inputs`."""

    zkey_hash: bytes
    inputs: bytes


@dataclass(eq=False)
class Circuit:
    """One announced circuit (by manifest hash): fetched, checked against the verifiers of each
    rollup it was announced for, provable."""

    manifest: bytes
    build: CircuitBuild | None = None
    #: the rollups it was announced for: each one's verifiers are checked once it is fetched
    wanted: set[str] = field(default_factory=set)
    #: per rollup checked: why its tasks of this circuit are declined (the key is not the one
    #: of that rollup's verifiers), or None when usable for them
    verdicts: dict[str, str | None] = field(default_factory=dict)
    calibrating: bool = False
    #: one prover per worker slot, each used by one task at a time (`locks`)
    provers: dict[int, TaskProver] = field(default_factory=dict)
    locks: dict[int, trio.Lock] = field(default_factory=lambda: defaultdict(trio.Lock))
    loading: trio.Lock = field(default_factory=trio.Lock)

    @property
    def label(self) -> str:
        name = self.build.name if self.build is not None else "?"
        return f"{name} ({self.manifest.hex()[:16]})"

    def usable_for(self, rollup: str) -> bool:
        return self.build is not None and rollup in self.verdicts and self.verdicts[rollup] is None

    @property
    def ready(self) -> bool:
        """Fetched, and its key is the one of some served rollup's verifiers."""
        return self.build is not None and None in self.verdicts.values()


class Circuits:
    """The circuits service; see the module docstring."""

    def __init__(self, node: Node, store: ArtifactStore, chain: Chain, address: str,
                 rollups: Mapping[str, ServedRollup], speed: ProvingSpeed,
                 metrics: RollerMetrics, make_prover: ProverFactory, backend: str,
                 sample_inputs: SampleInputs | None, on_ready: Callable[[], None]):
        self._node = node
        self._store = store
        self._chain = chain
        self._address = address
        #: the rollups served (`Discovery.rollups`), by address
        self._rollups = rollups
        self._speed = speed
        self._metrics = metrics
        self._make_prover = make_prover
        self._backend = backend
        self._sample_inputs = sample_inputs
        self._on_ready = on_ready
        self._circuits: dict[bytes, Circuit] = {}
        self._by_zkey: dict[bytes, Circuit] = {}

    def get(self, zkey_hash: bytes) -> Circuit | None:
        """The fetched circuit whose key hashes to `zkey_hash`."""
        return self._by_zkey.get(zkey_hash)

    def label(self, zkey_hash: bytes) -> str:
        entry = self._by_zkey.get(zkey_hash)
        return entry.label if entry is not None else zkey_hash.hex()[:16]

    async def run(self, requests: trio.MemoryReceiveChannel[Announced | Calibrate], *,
                  task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            task_status.started()
            async for request in requests:
                if isinstance(request, Announced):
                    self._announced(nursery, request)
                else:
                    entry = self._by_zkey.get(request.zkey_hash)
                    if entry is not None and not entry.calibrating:
                        nursery.start_soon(self._calibrate, entry, request.inputs)

    async def prover(self, entry: Circuit, slot: int) -> TaskProver:
        """Worker `slot`'s prover of `entry`, made the first time (loading a key takes time)."""
        assert entry.build is not None
        async with entry.loading:
            if slot not in entry.provers:
                entry.provers[slot] = await trio.to_thread.run_sync(
                    self._make_prover, entry.build, self._backend)
        return entry.provers[slot]

    def _announced(self, nursery: trio.Nursery, request: Announced) -> None:
        """Fetch every announced circuit not already here, and check it against the verifiers
        of `request.served`, in the background."""
        served = request.served
        for manifest in request.manifests:
            entry = self._circuits.get(manifest)
            if entry is None:
                entry = self._circuits[manifest] = Circuit(manifest)
                nursery.start_soon(self._fetch, entry, request.peer)
            if served.address not in entry.wanted:
                entry.wanted.add(served.address)
                if entry.build is not None:  # else `_fetch` checks it once fetched
                    nursery.start_soon(self._check, entry, served)

    async def _fetch(self, entry: Circuit, peer: ID) -> None:
        try:
            build = await fetch_circuit(self._node, peer, entry.manifest, self._store)
        except CircuitUnavailable as exc:
            # Not this circuit's fault, perhaps: tried again with the coordinator's next session.
            log.warning("circuit not available", manifest=entry.manifest.hex(), error=str(exc))
            del self._circuits[entry.manifest]
            return
        entry.build = build
        self._by_zkey[build.zkey_hash] = entry
        for rollup in list(entry.wanted):
            await self._check(entry, self._rollups[rollup])

    async def _check(self, entry: Circuit, served: ServedRollup) -> None:
        """Check a fetched circuit against the verifiers of `served`; once one rollup takes it,
        measure its speed."""
        assert entry.build is not None
        try:
            problem = await trio.to_thread.run_sync(self._verifier_problem, entry.build, served)
        except (*L1_UNAVAILABLE, ZkpError) as exc:  # the compiler's errors are ChainErrors
            # Checked again with the next session of a coordinator of that rollup.
            log.warning("circuit not checked", circuit=entry.label, rollup=served.address,
                        error=str(exc))
            entry.wanted.discard(served.address)
            return
        entry.verdicts[served.address] = problem
        if problem is not None:
            log.error("circuit refused: its key is not the one of the rollup's verifiers; its "
                      "tasks of that rollup are declined", circuit=entry.label,
                      rollup=served.address, problem=problem)
            return
        self._on_ready()
        log.info("circuit ready", circuit=entry.label, rollup=served.address,
                 zkey=entry.build.zkey_hash.hex())
        sample = await trio.to_thread.run_sync(self._sample, entry.build)
        if sample is not None:
            await self._calibrate(entry, sample)

    def _verifier_problem(self, build: CircuitBuild, served: ServedRollup) -> str | None:
        """Why proofs of `build` for `served` could be judged otherwise on-chain, or None
        (blocking)."""
        entry = served.entry
        if not vk_matches_verifier(build, self._chain, entry.verifier, "batch"):
            return (f"the key of circuit {build.name} ({build.zkey_hash.hex()[:16]}) is not the "
                    f"one of rollup {served.address}'s batch verifier at {entry.verifier}")
        if not vk_matches_verifier(build, self._chain, entry.block_verifier, "block"):
            return (f"the key of circuit {build.name} ({build.zkey_hash.hex()[:16]}) is not the "
                    f"one of the block verifier at {entry.block_verifier}, which slashing uses "
                    f"for rollup {served.address}")
        return None

    def _sample(self, build: CircuitBuild) -> bytes | None:
        """A sample block input for calibration, from the injected factory, or None (blocking:
        the factory builds a block)."""
        if self._sample_inputs is None:
            return None
        try:
            inputs = self._sample_inputs(build.name)
        except KeyError:
            log.warning("no sample inputs for calibration; measuring on the first task's inputs",
                        circuit=build.name)
            return None
        return None if inputs is None else json.dumps(inputs).encode()

    async def _calibrate(self, entry: Circuit, sample: bytes) -> None:
        """Measure the proving speed of `entry` once per backend (kept in the journal)."""
        assert entry.build is not None
        zkey = entry.build.zkey_hash
        if entry.calibrating or await trio.to_thread.run_sync(self._speed.measured, zkey):
            return
        entry.calibrating = True
        try:
            prover = await self.prover(entry, 0)
            async with entry.locks[0]:
                log.info("measuring proving speed", circuit=entry.label,
                         backend=self._speed.backend)
                per_block, per_proof = await trio.to_thread.run_sync(
                    calibrate, prover, self._speed, sample, self._address)
            self._metrics.set_speed(zkey, "block", per_block)
            self._metrics.set_speed(zkey, "batch", per_proof)
            log.info("proving speed measured", circuit=entry.label, seconds_per_block=per_block,
                     seconds_per_aggregated_proof=per_proof)
        except (ProvingError, ZkpError) as exc:  # measured again with the next task's inputs
            log.warning("calibration failed", circuit=entry.label, error=str(exc))
        finally:
            entry.calibrating = False
