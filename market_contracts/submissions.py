"""Signed proof submissions, and the evidence that slashes a roller for one that does not verify.

market-spec.md, "Signed submissions" and "Slashing": a roller signs every proof it submits with
EIP-712 over the chain id, the Rollup's address, the task (kind, L2 block or batch, round), the
statement L1 holds for it and the hash of the proof alone. The public inputs are not signed: the
contract builds them from the Rollup, with the signer as prover of a block proof and the signed
provers of an aggregate, so a copied proof and junk are both slashable. This module computes
exactly what the contracts compute (statements, proof hashes, the EIP-712 digest, the offense
key), signs and recovers submissions, and reads and writes the evidence file that `provernet
audit slash` sends.

- EIP-712 domain: `EIP712Domain(string name,string version,uint256 chainId,address
  verifyingContract)` with name "provernet", version "2", the L1 chain id, the Rollup.
- Struct: `ProofSubmission(uint8 kind,uint256 index,uint256 round,bytes32 statement,bytes32
  proofHash)`; `kind` is `TaskKind` (0 block, 1 aggregation).
- Block: `statement = keccak256(abi.encode(n, oldRoot, newRoot, dataHash))`, `proofHash` the
  proof system's digest of the sealed proof (`zkp.system`; Groth16: keccak256 of its bytes,
  abi.encode(uint256[2] a, uint256[2][2] b, uint256[2] c)).
- Aggregation of batch b: `statement = keccak256(abi.encode(bytes32[] statements of its blocks))`,
  `proofHash` the system's aggregate digest with the provers (Groth16: keccak256(abi.encode(
  address[] provers, uint256[2][] a, uint256[2][2][] b, uint256[2] c))).
- Signature: 65 bytes `r || s || v`, v 27 or 28, s in the lower half of the curve order
  (OpenZeppelin's ECDSA refuses the other half).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from eth_abi import encode
from eth_account.signers.local import LocalAccount
from eth_keys import keys
from eth_keys.exceptions import BadSignature
from eth_utils import keccak, to_checksum_address

from market_contracts.errors import InvalidEvidence
from market_contracts.files import save_json
from market_contracts.rules import InvalidAddress, InvalidSeed, TaskKind, parse_address, parse_bytes32
from zkp.errors import ZkpError
from zkp.evm import g1_words, g2_words
from zkp.system import Groth16, SealedProof, system

DOMAIN_NAME = "provernet"
DOMAIN_VERSION = "2"
EIP712_DOMAIN_TYPE = (
    "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)")
PROOF_SUBMISSION_TYPE = ("ProofSubmission(uint8 kind,uint256 index,uint256 round,bytes32 statement,"
                         "bytes32 proofHash)")
#: 3: proofs and aggregates sealed (their proof system and bytes); 2 spelled out Groth16's points
EVIDENCE_VERSION = 3

_EIP712_DOMAIN_TYPEHASH = keccak(text=EIP712_DOMAIN_TYPE)
_PROOF_SUBMISSION_TYPEHASH = keccak(text=PROOF_SUBMISSION_TYPE)
_SIGNATURE_LENGTH = 65
# secp256k1's group order; OpenZeppelin's ECDSA refuses s above half of it (malleable twins).
_SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_UINT256_LIMIT = 2**256


def block_statement(n: int, old_root: int, new_root: int, data_hash: int) -> bytes:
    """`Rollup.statement(n)`: what a proof of block n is about."""
    return keccak(encode(["uint256"] * 4, [n, old_root, new_root, data_hash]))


def batch_statement(statements: Sequence[bytes]) -> bytes:
    """`Rollup.batchStatement(b)`: over the statements of its blocks, in order."""
    return keccak(encode(["bytes32[]"], [list(statements)]))


def task_id(chain_id: int, rollup: str, kind: TaskKind, index: int, round_: int, seed: bytes,
            statement: bytes, roller: str) -> bytes:
    """The id a task travels under between coordinator and roller: keccak256(abi.encode(uint256
    chainId, address rollup, uint8 kind, uint256 index, uint256 round, bytes32 seed, bytes32
    statement, address roller)). The statement makes a task of a block that was reverted and
    committed again with other contents another task; the roller makes each holder's task its
    own."""
    return keccak(encode(
        ["uint256", "address", "uint8", "uint256", "uint256", "bytes32", "bytes32", "address"],
        [chain_id, to_checksum_address(rollup), int(kind), index, round_, seed, statement,
         to_checksum_address(roller)]))


def _domain_separator(chain_id: int, rollup: str) -> bytes:
    return keccak(encode(
        ["bytes32", "bytes32", "bytes32", "uint256", "address"],
        [_EIP712_DOMAIN_TYPEHASH, keccak(text=DOMAIN_NAME), keccak(text=DOMAIN_VERSION), chain_id,
         to_checksum_address(rollup)]))


def submission_digest(chain_id: int, rollup: str, kind: TaskKind, index: int, round_: int,
                      statement: bytes, proof_hash: bytes) -> bytes:
    """The EIP-712 digest of a proof submission: what the roller signs."""
    struct_hash = keccak(encode(
        ["bytes32", "uint8", "uint256", "uint256", "bytes32", "bytes32"],
        [_PROOF_SUBMISSION_TYPEHASH, int(kind), index, round_, statement, proof_hash]))
    return keccak(b"\x19\x01" + _domain_separator(chain_id, rollup) + struct_hash)


def sign_submission(account: LocalAccount, chain_id: int, rollup: str, kind: TaskKind, index: int,
                    round_: int, statement: bytes, proof_hash: bytes) -> bytes:
    """The roller's 65-byte signature (r || s || v, v 27 or 28) of a proof submission.

    An honest roller signs only a proof it has verified itself, for the statement L1 holds: the
    signature is what makes an invalid proof slashable."""
    digest = submission_digest(chain_id, rollup, kind, index, round_, statement, proof_hash)
    return bytes(account.unsafe_sign_hash(digest).signature)


def recover_submitter(chain_id: int, rollup: str, kind: TaskKind, index: int, round_: int,
                      statement: bytes, proof_hash: bytes, signature: bytes) -> str:
    """Who signed this submission, by the rules the contract applies (OpenZeppelin's ECDSA):
    a signature the contract would not accept raises `InvalidEvidence`."""
    if len(signature) != _SIGNATURE_LENGTH:
        raise InvalidEvidence(f"a signature is {_SIGNATURE_LENGTH} bytes (r || s || v), "
                              f"got {len(signature)}")
    v = signature[64]
    if v not in (27, 28):
        raise InvalidEvidence(f"the signature's v is {v}; it must be 27 or 28")
    if int.from_bytes(signature[32:64], "big") > _SECP256K1_N // 2:
        raise InvalidEvidence("the signature's s is in the upper half of the curve order, which "
                              "the contract refuses (a malleable signature)")
    digest = submission_digest(chain_id, rollup, kind, index, round_, statement, proof_hash)
    try:
        public_key = keys.Signature(signature[:64] + bytes([v - 27])).recover_public_key_from_msg_hash(digest)
    except BadSignature as exc:
        raise InvalidEvidence(f"the signature recovers to no key: {exc}") from None
    return public_key.to_checksum_address()


def offense_key(rollup: str, roller: str, kind: TaskKind, index: int, statement: bytes) -> bytes:
    """What "one offense slashes once" counts (`RollerStaking.offenseKey`): the rollup, the
    roller, the task and the statement it was to prove; neither the round nor the proof."""
    return keccak(encode(["address", "address", "uint8", "uint256", "bytes32"],
                         [to_checksum_address(rollup), to_checksum_address(roller), int(kind),
                          index, statement]))


@dataclass(frozen=True)
class SlashEvidence:
    """A roller's signed submission, as `slashInvalidProof` (kind block: the sealed `proof`) or
    `slashInvalidAggregate` (kind aggregation: the `provers` and the sealed `aggregate`) take it."""

    chain_id: int
    rollup: str
    staking: str
    kind: TaskKind
    index: int
    round: int
    statement: bytes
    roller: str
    signature: bytes
    proof: SealedProof | None = None
    provers: tuple[str, ...] = ()
    aggregate: SealedProof | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", TaskKind(self.kind))
        try:
            parse_bytes32(self.statement, "statement")
        except InvalidSeed as exc:
            raise InvalidEvidence(str(exc)) from None
        if self.kind is TaskKind.BLOCK:
            if self.proof is None or self.provers or self.aggregate is not None:
                raise InvalidEvidence("block evidence carries a proof, and no provers or aggregate")
        else:
            if self.proof is not None or self.aggregate is None:
                raise InvalidEvidence("aggregation evidence carries provers and an aggregate, "
                                      "and no proof")
            # The contract takes an aggregate as its batch verifier does, decoded: bytes that
            # are none cannot be sent (a block proof's bytes go as they are, junk included).
            try:
                proof_system = system(self.aggregate.system)
                proofs = proof_system.proofs_in(proof_system.open_aggregate(self.aggregate))
            except ZkpError as exc:
                raise InvalidEvidence(str(exc)) from None
            if len(self.provers) != proofs:
                raise InvalidEvidence(f"an aggregate has one prover per proof: got "
                                      f"{len(self.provers)} provers for an aggregate of {proofs} "
                                      "proofs")

    @classmethod
    def signed(cls, account: LocalAccount, *, chain_id: int, rollup: str, staking: str,
               index: int, round_: int, statement: bytes, proof: SealedProof) -> SlashEvidence:
        """The submission `account` signs for a proof of block `index`, as evidence."""
        signature = sign_submission(account, chain_id, rollup, TaskKind.BLOCK, index, round_,
                                    statement, system(proof.system).digest(proof))
        return cls(chain_id, to_checksum_address(rollup), to_checksum_address(staking),
                   TaskKind.BLOCK, index, round_, statement, account.address, signature,
                   proof=proof)

    @classmethod
    def signed_aggregate(cls, account: LocalAccount, *, chain_id: int, rollup: str, staking: str,
                         index: int, round_: int, statement: bytes, provers: Sequence[str],
                         aggregate: SealedProof) -> SlashEvidence:
        """The submission `account` signs for an aggregate of batch `index`, as evidence."""
        provers = tuple(to_checksum_address(p) for p in provers)
        signature = sign_submission(account, chain_id, rollup, TaskKind.AGGREGATION, index, round_,
                                    statement,
                                    system(aggregate.system).aggregate_digest(aggregate, provers))
        return cls(chain_id, to_checksum_address(rollup), to_checksum_address(staking),
                   TaskKind.AGGREGATION, index, round_, statement, account.address, signature,
                   provers=provers, aggregate=aggregate)

    def proof_hash(self) -> bytes:
        """What the roller signed: its proof system's digest of the proof (or aggregate)."""
        try:
            if self.kind is TaskKind.BLOCK:
                return system(self.proof.system).digest(self.proof)
            return system(self.aggregate.system).aggregate_digest(self.aggregate, self.provers)
        except ZkpError as exc:
            raise InvalidEvidence(str(exc)) from None

    def digest(self) -> bytes:
        return submission_digest(self.chain_id, self.rollup, self.kind, self.index, self.round,
                                 self.statement, self.proof_hash())

    def signer(self) -> str:
        """Whom the signature recovers to; `roller` for evidence the contract will take."""
        return recover_submitter(self.chain_id, self.rollup, self.kind, self.index, self.round,
                                 self.statement, self.proof_hash(), self.signature)

    def offense_key(self) -> bytes:
        return offense_key(self.rollup, self.roller, self.kind, self.index, self.statement)

    def function_name(self) -> str:
        """The staking contract's function that takes this evidence."""
        return "slashInvalidProof" if self.kind is TaskKind.BLOCK else "slashInvalidAggregate"

    def call_args(self) -> tuple:
        """The arguments of `function_name()`: a block proof as its bytes (the block verifier
        decodes them); an aggregate as the Rollup's Groth16 batch verifier takes it."""
        if self.kind is TaskKind.BLOCK:
            proof = self.proof.data
        else:
            try:
                aggregate = system(self.aggregate.system).open_aggregate(self.aggregate)
            except ZkpError as exc:
                raise InvalidEvidence(str(exc)) from None
            proof = (list(self.provers), [g1_words(p) for p in aggregate.a],
                     [g2_words(p) for p in aggregate.b], g1_words(aggregate.c))
        return (self.roller, self.rollup, self.index, self.round, self.statement, proof,
                self.signature)

    @classmethod
    def from_call(cls, chain_id: int, staking: str, function_name: str,
                  args: Sequence) -> SlashEvidence:
        """The evidence a `function_name()` call carried, from its decoded arguments in order
        (`call_args`'s inverse). A block proof travels as bytes without its system's name: a
        rollup's block verifier is its circuit's, Groth16's like the Rollup's batch verifier."""
        roller, rollup, index, round_, statement, proof, signature = args
        groth16 = system(Groth16.name)
        common = dict(chain_id=chain_id, rollup=to_checksum_address(rollup),
                      staking=to_checksum_address(staking), index=index, round=round_,
                      statement=bytes(statement), roller=to_checksum_address(roller),
                      signature=bytes(signature))
        if function_name == "slashInvalidProof":
            return cls(**common, kind=TaskKind.BLOCK, proof=SealedProof(groth16.name, bytes(proof)))
        return cls(**common, kind=TaskKind.AGGREGATION,
                   provers=tuple(to_checksum_address(p) for p in proof["provers"]),
                   aggregate=groth16.seal_aggregate_calldata(proof["a"], proof["b"], proof["c"]))

    # ------------------------------------------------------------ EVIDENCE.json

    def to_json(self) -> dict:
        """A proof or aggregate as its system's name and its bytes in hex."""
        data = {
            "version": EVIDENCE_VERSION,
            "chain_id": self.chain_id,
            "rollup": self.rollup,
            "staking": self.staking,
            "kind": self.kind.name.lower(),
            "index": self.index,
            "round": self.round,
            "statement": "0x" + self.statement.hex(),
            "roller": self.roller,
        }
        if self.kind is TaskKind.BLOCK:
            data["proof"] = _sealed_json(self.proof)
        else:
            data["aggregate"] = {"provers": list(self.provers)} | _sealed_json(self.aggregate)
        data["signature"] = "0x" + self.signature.hex()
        return data

    @classmethod
    def from_json(cls, data: object, source: str = "evidence") -> SlashEvidence:
        if not isinstance(data, dict):
            raise InvalidEvidence(f"{source} is not slash evidence: not a JSON object")
        try:
            if data.get("version") != EVIDENCE_VERSION:
                raise ValueError(f"version {data.get('version')!r}, expected {EVIDENCE_VERSION}")
            kinds = {kind.name.lower(): kind for kind in TaskKind}
            if data["kind"] not in kinds:
                raise ValueError(f"kind {data['kind']!r}, expected one of {sorted(kinds)}")
            kind = kinds[data["kind"]]
            other = "aggregate" if kind is TaskKind.BLOCK else "proof"
            if other in data:
                # A file with both would be read as one of them; refuse it rather than guess.
                raise ValueError(f"{data['kind']} evidence carries no {other!r}")
            common = dict(
                chain_id=_natural(data["chain_id"], "chain_id"),
                rollup=_address(data["rollup"], "rollup"),
                staking=_address(data["staking"], "staking"),
                kind=kind,
                index=_natural(data["index"], "index"),
                round=_natural(data["round"], "round"),
                statement=_bytes32(data["statement"], "statement"),
                roller=_address(data["roller"], "roller"),
                signature=_signature(data["signature"]),
            )
            if kind is TaskKind.BLOCK:
                return cls(**common, proof=_sealed(data["proof"], "proof"))
            aggregate = data["aggregate"]
            provers = _object(aggregate, "aggregate")["provers"]
            if not isinstance(provers, list):
                raise ValueError("aggregate.provers must be a list of addresses")
            return cls(**common,
                       provers=tuple(_address(p, "aggregate.provers") for p in provers),
                       aggregate=_sealed(aggregate, "aggregate"))
        except InvalidEvidence as exc:
            raise InvalidEvidence(f"{source}: {exc}") from None
        except KeyError as exc:
            raise InvalidEvidence(f"{source} is not slash evidence: no {exc.args[0]!r}") from None
        except (TypeError, ValueError) as exc:
            raise InvalidEvidence(f"{source} is not slash evidence: {exc}") from None

    def save(self, path: Path) -> None:
        save_json(path, self.to_json())

    @classmethod
    def load(cls, path: Path) -> SlashEvidence:
        try:
            data = json.loads(Path(path).read_text())
        except OSError as exc:
            raise InvalidEvidence(f"cannot read evidence file {path}: {exc.strerror or exc}") from None
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InvalidEvidence(f"evidence file {path} is not JSON: {exc}") from None
        return cls.from_json(data, source=str(path))


def _sealed_json(sealed: SealedProof) -> dict:
    return {"system": sealed.system, "data": "0x" + sealed.data.hex()}


def _sealed(value: object, what: str) -> SealedProof:
    """A sealed proof from {"system": name, "data": "0x..."}; its system must be known here (the
    proof is decoded when the evidence is checked or sent)."""
    value = _object(value, what)
    name, data = value["system"], value["data"]
    if not isinstance(name, str):
        raise ValueError(f"{what}.system must be a proof system's name, got {name!r}")
    try:
        system(name)
    except ZkpError as exc:
        raise ValueError(f"{what}.system: {exc}") from None
    if not (isinstance(data, str) and re.fullmatch(r"0x(?:[0-9a-fA-F]{2})*", data)):
        raise ValueError(f"{what}.data must be 0x and the proof's bytes in hex, got {data!r}")
    return SealedProof(name, bytes.fromhex(data[2:]))


def _object(value: object, what: str) -> dict:
    if not isinstance(value, dict):
        raise ValueError(f"{what} must be a JSON object, got {value!r}")
    return value


def _bytes32(value: object, what: str) -> bytes:
    if not (isinstance(value, str) and re.fullmatch(r"0x[0-9a-fA-F]{64}", value)):
        raise ValueError(f"{what} must be 0x and 32 bytes of hex, got {value!r}")
    return bytes.fromhex(value[2:])


def _natural(value: object, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < _UINT256_LIMIT:
        raise ValueError(f"{what} must be a non-negative integer, got {value!r}")
    return value


def _address(value: object, what: str) -> str:
    try:
        return parse_address(value)
    except InvalidAddress as exc:
        raise ValueError(f"{what}: {exc}") from None


def _signature(value: object) -> bytes:
    if not (isinstance(value, str) and re.fullmatch(r"0x[0-9a-fA-F]{130}", value)):
        raise ValueError(f"signature must be 0x and {_SIGNATURE_LENGTH} bytes of hex, got {value!r}")
    return bytes.fromhex(value[2:])
