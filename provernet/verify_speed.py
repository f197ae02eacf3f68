"""How many block proofs a coordinator verifies a second: `provernet bench verify`.

Real proofs of the small block circuit (our prover, our development key: empty blocks, each
bound to a different prover, so their inputs differ), made once and kept in the cache
directory beside the key, then verified over and over through the coordinator's own verifier
(`coordinator.verifier.ProofVerifier`): T worker threads checking up to N proofs at a time,
kept busy by twice as many proofs in flight as they can take at once, so every batch is full.
Every verdict must be valid, or the measurement stops.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import trio
from eth_account import Account

from atomicfile import write_atomically
from coordinator.verifier import ProofVerifier
from provernet.calibration import empty_block_inputs
from zkp.builds import CircuitBuild, build_block_circuit
from zkp.groth16 import Prover
from zkp.proof import Proof
from zkp.setup import default_cache_dir
from zkp.system import system
from zkp.witness import WitnessCalculator
from zkp.zkey import read_zkey

#: distinct proofs the measurement cycles through (each check draws fresh weights, so repeats
#: cost what new proofs do): few, as each takes about 1.5 s to make the first time
SAMPLE_PROOFS = 4
PROFILE = "small"

Sample = list[tuple[Proof, list[int]]]


@dataclass(frozen=True)
class VerifySpeed:
    proofs: int
    seconds: float
    proofs_per_s: float

    def as_json(self) -> dict:
        return {"proofs": self.proofs, "seconds": round(self.seconds, 3),
                "proofs_per_s": round(self.proofs_per_s, 1)}


def sample_proofs(build: CircuitBuild, cache_dir: Path,
                  progress: Callable[[str], None]) -> Sample:
    """SAMPLE_PROOFS proofs of empty blocks of `build`, from the cache or proven now."""
    path = cache_dir / "bench" / f"verify-{build.zkey_hash.hex()[:32]}.json"
    if path.exists():
        return [(Proof(tuple(p["a"]), tuple(map(tuple, p["b"])), tuple(p["c"])), p["public"])
                for p in json.loads(path.read_text())]
    witness = WitnessCalculator(build.wasm)
    prover = Prover(read_zkey(build.zkey), "auto")
    proofs = []
    for i in range(SAMPLE_PROOFS):
        progress(f"proving sample block {i + 1} of {SAMPLE_PROOFS} (once: they are cached)")
        inputs = empty_block_inputs(Account.create().address)(f"block_{PROFILE}")
        proof, public = prover.prove(witness.calculate(inputs))
        proofs.append({"a": list(proof.a), "b": [list(x) for x in proof.b],
                       "c": list(proof.c), "public": [int(x) for x in public]})
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, json.dumps(proofs))
    return sample_proofs(build, cache_dir, progress)


def measure(seconds: float, batch: int, threads: int, cache_dir: Path | None = None,
            progress: Callable[[str], None] = lambda _: None) -> VerifySpeed:
    cache = cache_dir or default_cache_dir()
    progress(f"building the {PROFILE} block circuit")
    build = build_block_circuit(PROFILE, cache)
    sample = sample_proofs(build, cache, progress)
    verifier = ProofVerifier(system(build.system), build.setup.vk, threads=threads,
                             max_batch=batch, window=0)
    progress(f"verifying for {seconds:g} s")
    return trio.run(_run, verifier, sample, seconds)


async def _run(verifier: ProofVerifier, sample: Sample, seconds: float) -> VerifySpeed:
    verified = 0

    async def submitter(first: int, deadline: float) -> None:
        nonlocal verified
        i = first
        while trio.current_time() < deadline:
            proof, inputs = sample[i % len(sample)]
            verdict = await verifier.verify(proof, inputs)
            if not verdict.valid:
                raise RuntimeError(f"a sample proof does not verify: {verdict.reason}")
            verified += 1
            i += 1

    async with trio.open_nursery() as nursery:
        await nursery.start(verifier.run)
        start = trio.current_time()
        async with trio.open_nursery() as submitters:
            for first in range(2 * verifier.threads * verifier.max_batch):
                submitters.start_soon(submitter, first, start + seconds)
        elapsed = trio.current_time() - start
        nursery.cancel_scope.cancel()
    return VerifySpeed(verified, elapsed, verified / elapsed)
