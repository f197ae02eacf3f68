"""Proving a task: the witness, the proof, our own verification, then the signature.

An honest roller never signs a proof it has not verified (market-spec.md, "Slashing"): a signed
proof that does not verify is evidence that slashes the stake. So `BlockProver.run` checks, in
order, that the task is for our circuit, that the inputs bind the proof to our address (the
circuit's public `prover` input; a proof for another address is worthless to us and would be
someone else's task), computes the witness (the circuit refuses invalid blocks), proves, verifies
the proof against the build's key, and only then calls the injected `sign` with the proof sealed
(`zkp.system.SealedProof`). An aggregator's batch is aggregated and the aggregate verified the
same way. The build's proof system (`zkp.system`) does the proving, checking and aggregating.

Everything here is CPU- (or GPU-) bound and blocking; the service runs it in
`trio.to_thread.run_sync`. One `BlockProver` proves one task at a time.

`vk_matches_verifier` checks, before the first task, that the on-chain verifiers were made from
the same key as our build: the staking contract slashes with its block verifier, so a proof that
our key accepts and its key rejects would cost the stake.
"""

from __future__ import annotations

import hashlib
import json
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_utils import to_checksum_address

from atomicfile import write_atomically
from market_contracts.chain import Chain
from market_contracts.compile import run_solc, standard_json_input
from p2p.messages import BATCH_TASK, BLOCK_TASK
from roller.errors import CircuitMismatch, InvalidTaskInputs, SelfCheckFailed, WrongProver
from roller.journal import TaskOffer, decode_batch_inputs
from zkp.aggregate import AggregationError
from zkp.backends import select_backend
from zkp.builds import CircuitBuild
from zkp.errors import WitnessError
from zkp.proof import VerificationKey
from zkp.setup import default_cache_dir
from zkp.solidity import render_batch_verifier, render_verifier
from zkp.system import MalformedProof, SealedProof, system
from zkp.witness import WitnessCalculator
from zkp.zkey import read_zkey

#: sign(kind, index, round, proof, public) -> 65-byte signature; `proof` is sealed: a block's
#: proof, or a batch's aggregate with `public` one list of inputs per proof
Signer = Callable[[str, int, int, SealedProof, Sequence], bytes]
#: the block circuit's public inputs, in its order, as input.json names them
PUBLIC_INPUTS = ("oldRoot", "newRoot", "dataHash", "prover")
#: where they name the prover the proof is bound to
PROVER_INPUT = PUBLIC_INPUTS.index("prover")


@dataclass(frozen=True)
class BlockResult:
    #: the proof system's own proof (`ProofSystem.seal` makes what is sent of it)
    proof: Any
    #: [oldRoot, newRoot, dataHash, prover]
    public: tuple[int, ...]
    witness_seconds: float
    proving_seconds: float
    verify_seconds: float

    @property
    def seconds(self) -> float:
        """What the task cost the prover: the unit of `capacity.ProvingSpeed` for a block."""
        return self.witness_seconds + self.proving_seconds + self.verify_seconds


@dataclass(frozen=True)
class BatchResult:
    #: the proof system's own aggregate
    aggregate: Any
    #: each proof's public inputs, in batch order
    public: tuple[tuple[int, ...], ...]
    seconds: float


@dataclass(frozen=True)
class SignedResult:
    """A task's verified proof (a block's) or aggregate (a batch's), sealed, and our signature
    of it."""

    proof: SealedProof
    public: tuple
    signature: bytes
    #: only for a block: the witness's share of `seconds`
    witness_seconds: float | None
    seconds: float


class SelfVerifyingProver(ABC):
    """What every prover of the node does the same (`roller.abc.TaskProver`): check that a task
    is for its circuit, prove a block (`prove_block`, the subclass's) or aggregate a batch, have
    the result verified, and only then sign it. Subclasses say where a block is proven: here
    (`BlockProver`) or on a farm's workers (`roller.farm.prover.FarmProver`)."""

    #: name and hardware: what a measured speed belongs to
    backend_description: str

    def __init__(self, build: CircuitBuild):
        self.build = build
        self.vk: VerificationKey = build.setup.vk
        #: the build's proof system (`zkp.system`)
        self.system = system(build.system)

    @abstractmethod
    def prove_block(self, inputs: bytes | Mapping[str, Any], address: str) -> BlockResult:
        """The block circuit's proof for `inputs` (input.json, as `sequencer.circuit_inputs`
        writes it), which must name `address` as the prover; verified before it is returned."""

    def prove_task(self, task: TaskOffer, address: str) -> BlockResult:
        """`prove_block` of a block task's inputs; a prover that needs the task's times
        (its deadline) overrides it."""
        return self.prove_block(task.inputs, address)

    def run(self, task: TaskOffer, address: str, sign: Signer) -> SignedResult:
        """Prove (or aggregate) `task` for `address`, verify, sign."""
        if task.circuit != self.build.zkey_hash:
            raise CircuitMismatch(
                f"{task.key} is for circuit {task.circuit.hex()}, this prover holds "
                f"{self.build.name} ({self.build.zkey_hash.hex()})")
        if task.kind == BLOCK_TASK:
            block = self.prove_task(task, address)
            sealed = self.system.seal(block.proof)
            signature = sign("block", task.index, task.round, sealed, block.public)
            return SignedResult(sealed, block.public, signature, block.witness_seconds,
                                block.seconds)
        items = decode_batch_inputs(task.inputs)
        try:
            proofs = [(self.system.open(proof), public) for _, proof, public in items]
        except MalformedProof as exc:
            raise InvalidTaskInputs(f"the batch's proofs are malformed: {exc}") from None
        batch = self.aggregate(proofs)
        sealed = self.system.seal_aggregate(batch.aggregate)
        signature = sign("batch", task.index, task.round, sealed, batch.public)
        return SignedResult(sealed, batch.public, signature, None, batch.seconds)

    def aggregate(self, proofs: Sequence[tuple[Any, Sequence[int]]]) -> BatchResult:
        """The aggregate of a batch's proofs, in batch order, verified before it is returned.

        An aggregate that does not verify means some proof is invalid: each is then checked on
        its own, so the failure names it.
        """
        start = time.perf_counter()
        publics = tuple(tuple(public) for _, public in proofs)
        try:
            combined = self.system.aggregate([proof for proof, _ in proofs], publics)
        except AggregationError as exc:
            raise InvalidTaskInputs(f"the batch's proofs cannot be aggregated: {exc}") from None
        verdict = self.system.verify_aggregate(self.vk, combined, publics)
        if not verdict.valid:
            for position, (proof, public) in enumerate(proofs):
                single = self.system.verify(self.vk, proof, public)
                if not single.valid:
                    raise InvalidTaskInputs(
                        f"proof {position} of the batch does not verify ({single.reason})")
            raise SelfCheckFailed(f"the aggregate of valid proofs does not verify "
                                  f"({verdict.reason}); not signing it")
        return BatchResult(combined, publics, time.perf_counter() - start)


class BlockProver(SelfVerifyingProver):
    """Proves one circuit's blocks here, on one backend; loads the key and witness calculator
    once."""

    def __init__(self, build: CircuitBuild, backend: str = "auto"):
        super().__init__(build)
        chosen = select_backend(backend)
        self.backend_name = chosen.name
        #: why `select_backend` chose it: for "auto", why a machine with a GPU proves on its CPU
        self.backend_reason = chosen.reason
        self.backend_description = chosen.describe()
        self._witness = WitnessCalculator(build.wasm)
        self._prover = self.system.prover(read_zkey(build.zkey), chosen)

    def prove_block(self, inputs: bytes | Mapping[str, Any], address: str) -> BlockResult:
        inputs = block_inputs_for(inputs, address)
        start = time.perf_counter()
        try:
            witness = self._witness.calculate(inputs)
        except WitnessError as exc:
            raise InvalidTaskInputs(f"the circuit refuses the inputs: {exc}") from None
        witnessed = time.perf_counter()
        proof, public = self._prover.prove(witness)
        proven = time.perf_counter()
        verdict = self.system.verify(self.vk, proof, public)
        verified = time.perf_counter()
        if not verdict.valid:
            raise SelfCheckFailed(
                f"our own proof does not verify ({verdict.reason}); not signing it. The "
                f"backend ({self.backend_description}) or the key {self.build.zkey} is at fault")
        return BlockResult(proof, tuple(public), witnessed - start, proven - witnessed,
                           verified - proven)


def block_inputs_for(inputs: bytes | str | Mapping[str, Any], address: str) -> Mapping[str, Any]:
    """The block circuit's inputs as a mapping, InvalidTaskInputs if they are not JSON of an
    object, WrongProver if they bind the proof to another address than `address`."""
    if isinstance(inputs, bytes | str):
        try:
            inputs = json.loads(inputs)
        except (ValueError, UnicodeDecodeError) as exc:
            raise InvalidTaskInputs(f"the circuit inputs are not JSON: {exc}") from None
    if not isinstance(inputs, Mapping):
        raise InvalidTaskInputs("the circuit inputs are not a JSON object")
    _require_prover(inputs, address)
    return inputs


def public_inputs(inputs: Mapping[str, Any]) -> tuple[int, ...]:
    """The block circuit's public inputs as its input.json names them (`PUBLIC_INPUTS`, in
    order); InvalidTaskInputs if one is missing or not a number."""
    return tuple(_input_number(inputs, name) for name in PUBLIC_INPUTS)


def _input_number(inputs: Mapping[str, Any], name: str) -> int:
    """Input `name` as snarkjs reads it: a number, or a string of one (decimal or 0x-hex)."""
    value = inputs.get(name)
    try:
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise TypeError
        return int(value, 16) if isinstance(value, str) and value[:2].lower() == "0x" else int(
            value)
    except (TypeError, ValueError):
        what = "an address as a number" if name == "prover" else "a number"
        raise InvalidTaskInputs(f"the circuit inputs' {name} {value!r} is not {what}") from None


def _require_prover(inputs: Mapping[str, Any], address: str) -> None:
    value = _input_number(inputs, "prover")
    if value != int(address, 16):
        raise WrongProver(
            f"the circuit inputs bind the proof to {value:#042x}, not to this roller "
            f"({to_checksum_address(address)}); refusing to prove for another address")


# ---------------------------------------------------------------------- what is signed

def submission_hash(kind: str, proof: SealedProof, public: Sequence) -> bytes:
    """The proof hash a v2 submission signs: its proof system's digest of a block proof alone
    (its inputs are L1's); of an aggregate with its provers, each block's `prover` public
    input."""
    proof_system = system(proof.system)
    if kind == BATCH_TASK:
        provers = [to_checksum_address(inputs[PROVER_INPUT].to_bytes(20, "big"))
                   for inputs in public]
        return proof_system.aggregate_digest(proof, provers)
    return proof_system.digest(proof)


# ---------------------------------------------------------------------- the on-chain verifiers

_RENDER = {BLOCK_TASK: render_verifier, BATCH_TASK: render_batch_verifier}
_COMPILED: dict[str, bytes] = {}


def vk_matches_verifier(build: CircuitBuild, chain: Chain, verifier_address: str,
                        kind: str = "block", cache_dir: Path | None = None) -> bool:
    """Whether the contract at `verifier_address` is the `kind` verifier ("block": the staking
    contract's single-proof verifier; "batch": the Rollup's) that `zkp.solidity` generates from
    this build's verification key.

    The verifiers embed the key as code constants and expose no key hash, so the deployed runtime
    code is compared with the runtime code compiled from the generated source, with the settings
    of our contracts, both without the trailing metadata (it hashes the source text, contract name
    and comments included, which change no instruction). Compiling takes seconds, so the result
    is cached by the hash of the compiler input (`cache_dir`, default the zkp cache).
    """
    deployed = bytes(chain.w3.eth.get_code(to_checksum_address(verifier_address)))
    if not deployed:
        return False
    return _executable(deployed) == expected_verifier_code(build.setup.vk, kind, cache_dir)


def expected_verifier_code(vk: VerificationKey, kind: str, cache_dir: Path | None = None) -> bytes:
    """The runtime code, less metadata, of the `kind` verifier generated for `vk`."""
    unit = f"Groth16{kind.capitalize()}Verifier.sol"
    solc_input = standard_json_input()
    solc_input["sources"] = {unit: {"content": _RENDER[kind](vk)}}
    solc_input["settings"]["outputSelection"] = {unit: {"*": ["evm.deployedBytecode.object"]}}
    key = hashlib.sha256(json.dumps(solc_input, sort_keys=True).encode()).hexdigest()
    if key in _COMPILED:
        return _COMPILED[key]
    cached = (cache_dir or default_cache_dir()) / "verifiers" / f"{key}.hex"
    if cached.exists():
        code = bytes.fromhex(cached.read_text())
    else:
        (contract,) = run_solc(solc_input)["contracts"][unit].values()
        code = _executable(bytes.fromhex(contract["evm"]["deployedBytecode"]["object"]))
        # Concurrent rollers (the devnet's) may fill the cache at once: no reader sees half an
        # entry.
        cached.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(cached, code.hex())
    _COMPILED[key] = code
    return code


def _executable(code: bytes) -> bytes:
    """Runtime code without solc's CBOR metadata: its length is the code's last two bytes, and it
    is a CBOR map (major type 5, first byte 0xa_)."""
    length = int.from_bytes(code[-2:], "big")
    start = len(code) - 2 - length
    if length and start >= 0 and code[start] & 0xE0 == 0xA0:
        return code[:start]
    return code

