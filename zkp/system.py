"""Proof systems behind one interface, a registry of them by wire name, and the sealed proof the
nodes carry.

Nodes never look inside a proof. They hold a `SealedProof` (the system's name and the proof's
bytes), store it, send it, sign its `digest`, and ask the registry (`system(name)`) for the
`ProofSystem` that decodes, verifies and aggregates it. A proof system (or a circuit with another
number of public inputs) is then a matter of `zkp` and one `register` call, not of the nodes.

`Groth16` delegates to the modules that do the work (zkp.groth16, zkp.verify, zkp.aggregate,
zkp.solidity). Its codec is the ABI encoding the contracts hash and decode:

- a proof: abi.encode(uint256[2] a, uint256[2][2] b, uint256[2] c), 256 bytes, B in the EVM
  precompile's order (zkp.evm), the point at infinity as zero words; its digest, what a roller
  signs, is keccak256 of those bytes, the `proofHash` of market-spec.md's EIP-712 submission;
- an aggregate: abi.encode(uint256[2][] a, uint256[2][2][] b, uint256[2] c); its digest is
  keccak256(abi.encode(address[] provers, a, b, c)), since whom each proof is bound to is part
  of what an aggregator signs.

Decoding is strict (exact length, canonical offsets and lengths): one proof has one encoding, so
one digest. A coordinate not below the field modulus decodes: it is the verifier's verdict to
refuse it (a signed one is slashable evidence, and the contract's verifier refuses it too).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_abi.exceptions import DecodingError
from eth_hash.auto import keccak
from eth_utils import to_checksum_address

from zkp import aggregate as groth16_aggregate
from zkp import verify as groth16_verify
from zkp.errors import ZkpError
from zkp.evm import WORD, g1_words, g2_words
from zkp.field import Q
from zkp.groth16 import Prover
from zkp.points import G1, G2
from zkp.proof import GROTH16, AggregateProof, Proof, VerificationKey
from zkp.solidity import aggregate_calldata
from zkp.verify import PreparedKey, Verdict
from zkp.zkey import ZKey

#: the longest system name the wire carries (p2p/messages.py bounds it the same)
MAX_NAME_CHARS = 16

_PROOF_TYPES = ("uint256[2]", "uint256[2][2]", "uint256[2]")
_AGGREGATE_TYPES = ("uint256[2][]", "uint256[2][2][]", "uint256[2]")
_GROTH16_PROOF_BYTES = 8 * WORD


class UnknownProofSystem(ZkpError):
    """No proof system of that name is registered here: a peer speaks one this node lacks."""


class MalformedProof(ZkpError):
    """The bytes are not a proof (or aggregate) of the system they are tagged with: wrong
    length, or not its canonical encoding."""


@dataclass(frozen=True)
class SealedProof:
    """A proof or aggregate as the nodes carry it: `system` names who reads `data`."""

    system: str
    data: bytes

    def as_json(self) -> dict:
        """As the nodes' own files keep it (the coordinator's store, the roller's journal): the
        system's name and the bytes in hex."""
        return {"system": self.system, "data": self.data.hex()}

    @classmethod
    def from_json(cls, data: dict) -> SealedProof:
        return cls(data["system"], bytes.fromhex(data["data"]))


class ProofSystem(ABC):
    """What the nodes do with proofs, whatever the system. `proof` and `aggregate` values are the
    system's own types; nodes hold them only between `open`/`seal` and the operations here."""

    #: the wire name, e.g. "groth16": at most MAX_NAME_CHARS characters
    name: str

    # ------------------------------------------------------------------ the codec

    @abstractmethod
    def encode(self, proof: Any) -> bytes: ...

    @abstractmethod
    def decode(self, data: bytes) -> Any:
        """The proof `encode` made; `MalformedProof` for anything else."""

    @abstractmethod
    def encode_aggregate(self, aggregate: Any) -> bytes: ...

    @abstractmethod
    def decode_aggregate(self, data: bytes) -> Any:
        """The aggregate `encode_aggregate` made; `MalformedProof` for anything else."""

    def seal(self, proof: Any) -> SealedProof:
        return SealedProof(self.name, self.encode(proof))

    def seal_aggregate(self, aggregate: Any) -> SealedProof:
        return SealedProof(self.name, self.encode_aggregate(aggregate))

    def open(self, sealed: SealedProof) -> Any:
        """The proof in `sealed`, which must be this system's."""
        return self.decode(self._data(sealed))

    def open_aggregate(self, sealed: SealedProof) -> Any:
        return self.decode_aggregate(self._data(sealed))

    def _data(self, sealed: SealedProof) -> bytes:
        if sealed.system != self.name:
            raise MalformedProof(f"a {sealed.system} proof is not a {self.name} proof")
        return sealed.data

    # ------------------------------------------------------------------ what is signed

    def digest(self, sealed: SealedProof) -> bytes:
        """The 32-byte proof hash a roller signs for a block proof: keccak256 of its bytes."""
        return keccak(self._data(sealed))

    @abstractmethod
    def aggregate_digest(self, sealed: SealedProof, provers: Sequence[str]) -> bytes:
        """The 32-byte hash an aggregator signs: the aggregate and whom each proof is bound to."""

    # ------------------------------------------------------------------ proving and checking

    @abstractmethod
    def prover(self, zkey: ZKey, backend: Any) -> Any:
        """A prover of `zkey`'s circuit: `.prove(witness) -> (proof, public inputs)`."""

    @abstractmethod
    def verify(self, vk: VerificationKey, proof: Any, public: Sequence[int]) -> Verdict: ...

    @abstractmethod
    def prepare_key(self, vk: VerificationKey) -> Any:
        """`vk` made ready for `verify_batch` (checked once, cached)."""

    @abstractmethod
    def verify_batch(self, key: Any, items: Sequence[tuple[Any, Sequence[int]]]) -> list[Verdict]:
        """The verdict of each (proof, public inputs), exactly as `verify` gives it alone."""

    @abstractmethod
    def aggregate(self, proofs: Sequence[Any], public: Sequence[Sequence[int]]) -> Any: ...

    @abstractmethod
    def verify_aggregate(self, vk: VerificationKey, aggregate: Any,
                         public: Sequence[Sequence[int]]) -> Verdict: ...

    @abstractmethod
    def proofs_in(self, aggregate: Any) -> int:
        """How many proofs `aggregate` combines: one prover each."""

    @abstractmethod
    def tamper(self, proof_or_aggregate: Any) -> Any:
        """A well-formed proof (or aggregate) that no longer verifies: the devnet's `invalid`
        roller behaviour, which exercises slashing."""

    # ------------------------------------------------------------------ contracts

    def calldata(self, proof: Any, public: Sequence[int]) -> tuple:
        """The arguments of a block verifier's `verify(bytes proof, uint256[] inputs)`, the entry
        point every system's verifier has (the staking contract calls it)."""
        return self.encode(proof), list(public)

    @abstractmethod
    def aggregate_calldata(self, aggregate: Any, public: Sequence[Sequence[int]]) -> tuple:
        """The arguments of the generated batch verifier."""


class Groth16(ProofSystem):
    """BN254 Groth16, snarkjs's: zkp.groth16, zkp.verify, zkp.aggregate, zkp.solidity."""

    name = GROTH16

    def encode(self, proof: Proof) -> bytes:
        return abi_encode(_PROOF_TYPES, [g1_words(proof.a), g2_words(proof.b), g1_words(proof.c)])

    def decode(self, data: bytes) -> Proof:
        if len(data) != _GROTH16_PROOF_BYTES:
            raise MalformedProof(f"a groth16 proof is {_GROTH16_PROOF_BYTES} bytes "
                                 f"(abi.encode(a, b, c)), got {len(data)}")
        a, b, c = abi_decode(_PROOF_TYPES, data)
        return Proof(_g1(a), _g2(b), _g1(c))

    def encode_aggregate(self, aggregate: AggregateProof) -> bytes:
        return abi_encode(_AGGREGATE_TYPES, _aggregate_words(aggregate))

    def decode_aggregate(self, data: bytes) -> AggregateProof:
        try:
            a, b, c = abi_decode(_AGGREGATE_TYPES, data, strict=True)
        except DecodingError as error:
            raise MalformedProof(f"not a groth16 aggregate (abi.encode(a[], b[], c)): "
                                 f"{error}") from None
        aggregate = AggregateProof(tuple(_g1(p) for p in a), tuple(_g2(p) for p in b), _g1(c))
        if self.encode_aggregate(aggregate) != data:
            raise MalformedProof("not the canonical encoding of a groth16 aggregate "
                                 "(abi.encode(a[], b[], c)): offsets or padding differ")
        if len(aggregate.a) != len(aggregate.b) or not aggregate.a:
            raise MalformedProof(f"a groth16 aggregate holds one A and one B per proof, at least "
                                 f"one: got {len(aggregate.a)} A and {len(aggregate.b)} B")
        return aggregate

    def aggregate_digest(self, sealed: SealedProof, provers: Sequence[str]) -> bytes:
        words = _aggregate_words(self.open_aggregate(sealed))
        return keccak(abi_encode(("address[]", *_AGGREGATE_TYPES),
                                 [[to_checksum_address(p) for p in provers], *words]))

    def prover(self, zkey: ZKey, backend: Any) -> Prover:
        return Prover(zkey, backend)

    def verify(self, vk: VerificationKey, proof: Proof, public: Sequence[int]) -> Verdict:
        return groth16_verify.verify(vk, proof, public)

    def prepare_key(self, vk: VerificationKey) -> PreparedKey:
        return groth16_verify.prepare_key(vk)

    def verify_batch(self, key: PreparedKey,
                     items: Sequence[tuple[Proof, Sequence[int]]]) -> list[Verdict]:
        return groth16_verify.verify_batch(key, items)

    def aggregate(self, proofs: Sequence[Proof],
                  public: Sequence[Sequence[int]]) -> AggregateProof:
        return groth16_aggregate.aggregate(proofs, public)

    def verify_aggregate(self, vk: VerificationKey, aggregate: AggregateProof,
                         public: Sequence[Sequence[int]]) -> Verdict:
        return groth16_aggregate.verify_aggregate(vk, aggregate, public)

    def proofs_in(self, aggregate: AggregateProof) -> int:
        return aggregate.k

    def tamper(self, proof_or_aggregate: Proof | AggregateProof) -> Proof | AggregateProof:
        """C negated, (x, q - y): still on the curve, so well-formed, but no longer valid."""
        x, y = proof_or_aggregate.c
        return replace(proof_or_aggregate, c=(x, (Q - y) % Q))

    def aggregate_calldata(self, aggregate: AggregateProof,
                           public: Sequence[Sequence[int]]) -> tuple:
        return aggregate_calldata(aggregate, public)

    def seal_aggregate_calldata(self, a: Sequence, b: Sequence, c: Sequence) -> SealedProof:
        """An aggregate as the batch verifier's calldata carries it (the words of
        `aggregate_calldata`'s a, b and c), sealed."""
        return SealedProof(self.name, abi_encode(_AGGREGATE_TYPES, [a, b, c]))


def _aggregate_words(aggregate: AggregateProof) -> list:
    return [[g1_words(p) for p in aggregate.a], [g2_words(p) for p in aggregate.b],
            g1_words(aggregate.c)]


def _g1(words: Sequence[int]) -> G1:
    """From the ABI's words; all zero is the point at infinity (zkp.evm)."""
    return None if not any(words) else (words[0], words[1])


def _g2(rows: Sequence[Sequence[int]]) -> G2:
    """From the precompile's order [[x.c1, x.c0], [y.c1, y.c0]] to zkp.points' ((x0, x1), ...)."""
    (x1, x0), (y1, y0) = rows
    return None if not any((x1, x0, y1, y0)) else ((x0, x1), (y0, y1))


_REGISTRY: dict[str, ProofSystem] = {}


def register(proof_system: ProofSystem) -> None:
    """Make `proof_system` known under its name; a name is registered once."""
    name = proof_system.name
    if not 0 < len(name) <= MAX_NAME_CHARS:
        raise ZkpError(f"a proof system's name is 1 to {MAX_NAME_CHARS} characters: {name!r}")
    if name in _REGISTRY:
        raise ZkpError(f"a proof system named {name!r} is already registered")
    _REGISTRY[name] = proof_system


def system(name: str) -> ProofSystem:
    """The registered proof system called `name`; `UnknownProofSystem` if there is none."""
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        raise UnknownProofSystem(f"unknown proof system {name!r}; this node knows {known}") from None


register(Groth16())
