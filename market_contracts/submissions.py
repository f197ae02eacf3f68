"""Signed proof submissions, and the evidence that slashes a roller for one that does not verify.

market-spec.md, "Slashing (trustless)": a roller signs every proof it submits with EIP-712 over
the chain id, the Rollup's address, the L2 block (or batch), the round, and the hash of the proof
and its public inputs. Anyone holding such a signed submission whose proof does not verify can
send it to `RollerStaking.slashInvalidProof`. This module computes exactly what the contract
computes (the proof hash, the EIP-712 digest, the offense key), signs and recovers submissions,
and reads and writes the evidence file that `provernet audit slash` sends.

- EIP-712 domain: `EIP712Domain(string name,string version,uint256 chainId,address
  verifyingContract)` with name "provernet", version "1", the L1 chain id, and the Rollup as
  verifying contract.
- Struct: `ProofSubmission(uint8 kind,uint256 index,uint256 round,bytes32 proofHash)`; `kind` is
  `TaskKind` (0 block, 1 aggregation), `index` the L2 block number (or batch index).
- `proofHash = keccak256(abi.encode(uint256[2] a, uint256[2][2] b, uint256[2] c, uint256[4]
  publicInputs))`, b in the EVM precompile's order `[[x.c1, x.c0], [y.c1, y.c0]]`
  (`zkp.evm.g2_words`), the inputs `[oldRoot, newRoot, dataHash, prover]`.
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
from market_contracts.rules import InvalidAddress, TaskKind, parse_address
from zkp.evm import g1_words, g2_words
from zkp.proof import Proof

DOMAIN_NAME = "provernet"
DOMAIN_VERSION = "1"
EIP712_DOMAIN_TYPE = (
    "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)")
PROOF_SUBMISSION_TYPE = "ProofSubmission(uint8 kind,uint256 index,uint256 round,bytes32 proofHash)"
#: The block circuit's public inputs: [oldRoot, newRoot, dataHash, prover].
PUBLIC_INPUTS = 4
EVIDENCE_VERSION = 1

_EIP712_DOMAIN_TYPEHASH = keccak(text=EIP712_DOMAIN_TYPE)
_PROOF_SUBMISSION_TYPEHASH = keccak(text=PROOF_SUBMISSION_TYPE)
_SIGNATURE_LENGTH = 65
# secp256k1's group order; OpenZeppelin's ECDSA refuses s above half of it (malleable twins).
_SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_UINT256_LIMIT = 2**256
_DECIMAL = re.compile(r"[0-9]+")
_KIND_NAMES = {TaskKind.BLOCK: "block", TaskKind.AGGREGATION: "aggregation"}


def proof_hash(proof: Proof, public_inputs: Sequence[int]) -> bytes:
    """keccak256(abi.encode(a, b, c, publicInputs)) over the words the verifier takes."""
    return keccak(encode(["uint256[2]", "uint256[2][2]", "uint256[2]", "uint256[4]"],
                         [g1_words(proof.a), g2_words(proof.b), g1_words(proof.c),
                          list(public_inputs)]))


def aggregate_hash(a: Sequence, b: Sequence, c, public_inputs: Sequence[Sequence[int]]) -> bytes:
    """What an aggregator signs for a batch in place of `proof_hash`: keccak256(abi.encode(
    uint256[2][] a, uint256[2][2][] b, uint256[2] c, uint256[4][] inputs)), the K proofs' A and
    B, the combined C, and each block's public inputs, in batch order."""
    return keccak(encode(["uint256[2][]", "uint256[2][2][]", "uint256[2]", "uint256[4][]"],
                         [[g1_words(p) for p in a], [g2_words(p) for p in b], g1_words(c),
                          [list(x) for x in public_inputs]]))


def task_id(chain_id: int, rollup: str, kind: TaskKind, index: int, round_: int, seed: bytes,
            roller: str) -> bytes:
    """The id a task travels under between coordinator and roller: keccak256(abi.encode(uint256
    chainId, address rollup, uint8 kind, uint256 index, uint256 round, bytes32 seed, address
    roller)). The seed makes a task of a block that was reverted and committed again another
    task; the roller makes each assignee's task its own."""
    return keccak(encode(["uint256", "address", "uint8", "uint256", "uint256", "bytes32", "address"],
                         [chain_id, to_checksum_address(rollup), int(kind), index, round_, seed,
                          to_checksum_address(roller)]))


def _domain_separator(chain_id: int, rollup: str) -> bytes:
    return keccak(encode(
        ["bytes32", "bytes32", "bytes32", "uint256", "address"],
        [_EIP712_DOMAIN_TYPEHASH, keccak(text=DOMAIN_NAME), keccak(text=DOMAIN_VERSION), chain_id,
         to_checksum_address(rollup)]))


def submission_digest(chain_id: int, rollup: str, kind: TaskKind, index: int, round_: int,
                      proof_hash_: bytes) -> bytes:
    """The EIP-712 digest of a proof submission: what the roller signs."""
    struct_hash = keccak(encode(["bytes32", "uint8", "uint256", "uint256", "bytes32"],
                                [_PROOF_SUBMISSION_TYPEHASH, int(kind), index, round_, proof_hash_]))
    return keccak(b"\x19\x01" + _domain_separator(chain_id, rollup) + struct_hash)


def sign_submission(account: LocalAccount, chain_id: int, rollup: str, kind: TaskKind, index: int,
                    round_: int, proof_hash_: bytes) -> bytes:
    """The roller's 65-byte signature (r || s || v, v 27 or 28) of a proof submission.

    An honest roller signs only a proof it has verified itself: the signature is what makes an
    invalid proof slashable."""
    digest = submission_digest(chain_id, rollup, kind, index, round_, proof_hash_)
    return bytes(account.unsafe_sign_hash(digest).signature)


def recover_submitter(chain_id: int, rollup: str, kind: TaskKind, index: int, round_: int,
                      proof_hash_: bytes, signature: bytes) -> str:
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
    digest = submission_digest(chain_id, rollup, kind, index, round_, proof_hash_)
    try:
        public_key = keys.Signature(signature[:64] + bytes([v - 27])).recover_public_key_from_msg_hash(digest)
    except BadSignature as exc:
        raise InvalidEvidence(f"the signature recovers to no key: {exc}") from None
    return public_key.to_checksum_address()


def offense_key(roller: str, kind: TaskKind, index: int, public_inputs: Sequence[int]) -> bytes:
    """What "the same evidence slashes once" counts (`RollerStaking.offenseKey`): the roller, the
    task and the statement it was to prove; neither the round nor the proof."""
    statement = keccak(encode(["uint256[4]"], [list(public_inputs)]))
    return keccak(encode(["address", "uint8", "uint256", "bytes32"],
                         [to_checksum_address(roller), int(kind), index, statement]))


@dataclass(frozen=True)
class SlashEvidence:
    """A roller's signed submission of a block proof, as `slashInvalidProof` takes it.

    Only block proofs are slashable for now (docs/contracts.md, "Slashing"), so `kind` is always
    `TaskKind.BLOCK`; it is kept because the signature covers it.
    """

    chain_id: int
    rollup: str
    staking: str
    index: int
    round: int
    proof: Proof
    public_inputs: tuple[int, ...]
    signature: bytes
    roller: str
    kind: TaskKind = TaskKind.BLOCK

    def __post_init__(self) -> None:
        if self.kind is not TaskKind.BLOCK:
            raise InvalidEvidence("only block proofs are slashable; aggregation evidence is not "
                                  "yet (docs/contracts.md, \"Slashing\")")
        if len(self.public_inputs) != PUBLIC_INPUTS:
            raise InvalidEvidence(f"a block proof has {PUBLIC_INPUTS} public inputs [oldRoot, "
                                  f"newRoot, dataHash, prover], got {len(self.public_inputs)}")

    @classmethod
    def signed(cls, account: LocalAccount, *, chain_id: int, rollup: str, staking: str,
               index: int, round_: int, proof: Proof,
               public_inputs: Sequence[int]) -> SlashEvidence:
        """The submission `account` signs for a proof of block `index`, as evidence."""
        inputs = tuple(public_inputs)
        signature = sign_submission(account, chain_id, rollup, TaskKind.BLOCK, index, round_,
                                    proof_hash(proof, inputs))
        return cls(chain_id, to_checksum_address(rollup), to_checksum_address(staking), index,
                   round_, proof, inputs, signature, account.address)

    def proof_hash(self) -> bytes:
        return proof_hash(self.proof, self.public_inputs)

    def digest(self) -> bytes:
        return submission_digest(self.chain_id, self.rollup, self.kind, self.index, self.round,
                                 self.proof_hash())

    def signer(self) -> str:
        """Whom the signature recovers to; `roller` for evidence the contract will take."""
        return recover_submitter(self.chain_id, self.rollup, self.kind, self.index, self.round,
                                 self.proof_hash(), self.signature)

    def offense_key(self) -> bytes:
        return offense_key(self.roller, self.kind, self.index, self.public_inputs)

    def call_args(self) -> tuple:
        """The arguments of `slashInvalidProof`."""
        return (self.roller, self.index, self.round,
                (g1_words(self.proof.a), g2_words(self.proof.b), g1_words(self.proof.c)),
                list(self.public_inputs), self.signature)

    # ------------------------------------------------------------ EVIDENCE.json

    def to_json(self) -> dict:
        """Field elements and coordinates as decimal strings: they exceed what JSON numbers hold
        exactly in most readers."""
        return {
            "version": EVIDENCE_VERSION,
            "chain_id": self.chain_id,
            "rollup": self.rollup,
            "staking": self.staking,
            "kind": _KIND_NAMES[self.kind],
            "index": self.index,
            "round": self.round,
            "roller": self.roller,
            "proof": {"a": _strings(g1_words(self.proof.a)),
                      "b": [_strings(row) for row in g2_words(self.proof.b)],
                      "c": _strings(g1_words(self.proof.c))},
            "public_inputs": _strings(self.public_inputs),
            "signature": "0x" + self.signature.hex(),
        }

    @classmethod
    def from_json(cls, data: object, source: str = "evidence") -> SlashEvidence:
        if not isinstance(data, dict):
            raise InvalidEvidence(f"{source} is not slash evidence: not a JSON object")
        try:
            if data.get("version") != EVIDENCE_VERSION:
                raise ValueError(f"version {data.get('version')!r}, expected {EVIDENCE_VERSION}")
            kinds = {name: kind for kind, name in _KIND_NAMES.items()}
            if data["kind"] not in kinds:
                raise ValueError(f"kind {data['kind']!r}, expected one of {sorted(kinds)}")
            proof = data["proof"]
            if not isinstance(proof["b"], list) or len(proof["b"]) != 2:
                raise ValueError(f"proof.b must be two rows [[x.c1, x.c0], [y.c1, y.c0]], "
                                 f"got {proof['b']!r}")
            (bx1, bx0), (by1, by0) = _words(proof["b"][0], 2), _words(proof["b"][1], 2)
            return cls(
                chain_id=_natural(data["chain_id"], "chain_id"),
                rollup=_address(data["rollup"], "rollup"),
                staking=_address(data["staking"], "staking"),
                kind=kinds[data["kind"]],
                index=_natural(data["index"], "index"),
                round=_natural(data["round"], "round"),
                roller=_address(data["roller"], "roller"),
                proof=Proof(a=tuple(_words(proof["a"], 2)), b=((bx0, bx1), (by0, by1)),
                            c=tuple(_words(proof["c"], 2))),
                public_inputs=tuple(_words(data["public_inputs"], PUBLIC_INPUTS)),
                signature=_signature(data["signature"]),
            )
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


def _strings(values: Sequence[int]) -> list[str]:
    return [str(v) for v in values]


def _words(values: object, count: int) -> list[int]:
    """`count` uint256 words written as decimal strings."""
    if not isinstance(values, list) or len(values) != count:
        raise ValueError(f"expected a list of {count} decimal strings, got {values!r}")
    words = []
    for value in values:
        if not (isinstance(value, str) and _DECIMAL.fullmatch(value)) or int(value) >= _UINT256_LIMIT:
            raise ValueError(f"not a uint256 as a decimal string: {value!r}")
        words.append(int(value))
    return words


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
