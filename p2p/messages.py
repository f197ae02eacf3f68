"""Wire messages: one table of types, their fields and bounds, and the msgpack encoding.

Every message on the network is a msgpack map `{"v": 1, "type": name, ...fields}`.
`decode` checks, in this order, the size limit, the msgpack structure, the
version, the type, and then every field against its schema (required, no
unknown ones, types and bounds) before anything else sees the message. `encode`
applies the same checks, so a node never sends what a peer would refuse.

Encoding is canonical (map keys sorted, msgpack's shortest integer forms, binary
type for bytes): equal messages give equal bytes, which is what signatures are
taken over (see `signing.py`).

The bounds below are part of the protocol: every node must agree on them, so
changing one is a new protocol version. Local policy (frame sizes, timeouts)
is in `config.py`.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar, dataclass_transform

import msgpack

from p2p.errors import MalformedMessage, MessageTooLarge, UnknownMessageType, UnsupportedVersion
from p2p.schema import (Bool, Bytes, List, Record, Str, Switch, Uint, record_from_wire,
                        record_to_wire)

PROTOCOL_VERSION = 1

MAX_ADDRS = 8                   # multiaddrs in an announcement
MAX_ADDR_CHARS = 256            # one multiaddr as text
MAX_PEER_ID_BYTES = 64          # an Ed25519 peer id is 38 bytes, an RSA one 34
MAX_CIRCUITS = 16               # circuits one coordinator serves
MAX_VERSIONS = 8                # protocol versions a roller lists in `hello`
MAX_CODE_CHARS = 32
MAX_REASON_CHARS = 256
MAX_BLOCK_INPUTS_BYTES = 768 << 10   # a block's circuit input JSON (large profile ~ 350 KiB)
MAX_BATCH_PROOFS = 64           # K, blocks per aggregated batch
MAX_PUBLIC_INPUTS = 16          # the block circuit has 4
MAX_SYSTEM_CHARS = 16           # a proof system's name (zkp.system.MAX_NAME_CHARS), "groth16"
MAX_PROOF_BYTES = 4 << 10       # one proof as its system encodes it (Groth16: 256 bytes)
MAX_AGGREGATE_BYTES = 64 << 10  # an aggregate of MAX_BATCH_PROOFS (Groth16: 12,480 bytes)
MAX_ARTIFACT_CHUNK_BYTES = 512 << 10
MAX_SLOTS = 255                 # slots one roller holds in a round (at most M)
#: an open task (market-spec, "Rounds, declines and open proving") has no deadline: its
#: deadline and close_at are this
NO_DEADLINE = 2**63 - 1

#: The task kinds' names on the wire, and so in every node's metrics labels and the roller's
#: journal: THE name of each kind outside Python (`market_contracts.rules.TaskKind.wire` maps
#: the market's enum to them; p2p, at the bottom, cannot import it)
BLOCK_TASK = "block"
BATCH_TASK = "batch"
TASK_KINDS = frozenset({BLOCK_TASK, BATCH_TASK})
RECEIPT_STATUSES = frozenset({"accepted", "rejected", "late"})

ADDRESS = Bytes(exact=20)       # an Ethereum address
HASH = Bytes(exact=32)          # task ids, seeds, statements, nonces, sha256 of artifacts
SIGNATURE = Bytes(exact=65)     # r || s || v, as eth_account produces
U64 = Uint(64)
U256 = Uint(256)
FIELD_ELEMENTS = List(U256, max=MAX_PUBLIC_INPUTS)
#: the proof system a proof's bytes belong to: the nodes read them through zkp.system's registry
SYSTEM = Str(MAX_SYSTEM_CHARS)
PROOF = Bytes(max=MAX_PROOF_BYTES)
CODE = Str(MAX_CODE_CHARS)
REASON = Str(MAX_REASON_CHARS)


def _f(spec: Any) -> Any:
    return dataclasses.field(metadata={"spec": spec})


MESSAGE_TYPES: dict[str, type] = {}
"""Every message type by its wire name: the table `decode` dispatches on."""

T = TypeVar("T")


@dataclass_transform(frozen_default=True, kw_only_default=True)
def record(cls: type[T]) -> type[T]:
    """Declare a nested record (a map inside a message): a frozen dataclass whose fields
    carry their specs. Lists given to it become tuples, so that a message built by hand
    equals (and hashes like) the same message decoded."""
    cls.__post_init__ = _freeze_lists  # type: ignore[attr-defined]
    return dataclasses.dataclass(frozen=True, kw_only=True)(cls)


@dataclass_transform(frozen_default=True, kw_only_default=True)
def message(name: str):
    """Declare a message type: a `record` registered under its wire name."""

    def register(cls: type[T]) -> type[T]:
        cls = record(cls)
        cls.TYPE = name  # type: ignore[attr-defined]
        MESSAGE_TYPES[name] = cls
        return cls

    return register


def _freeze_lists(self: Any) -> None:
    for f in dataclasses.fields(self):
        value = getattr(self, f.name)
        if isinstance(value, list):
            object.__setattr__(self, f.name, _tuples(value))


def _tuples(value: Any) -> Any:
    return tuple(_tuples(v) for v in value) if isinstance(value, (list, tuple)) else value


# --- gossip ----------------------------------------------------------------------------------

@message("announce")
class Announce:
    """A coordinator's signed presence on `/provernet/1/coordinators` (see gossip.py)."""
    coordinator: bytes = _f(ADDRESS)
    peer_id: bytes = _f(Bytes(max=MAX_PEER_ID_BYTES))
    addrs: tuple[str, ...] = _f(List(Str(MAX_ADDR_CHARS), max=MAX_ADDRS))
    chain_id: int = _f(U64)
    staking: bytes = _f(ADDRESS)
    rollup: bytes = _f(ADDRESS)
    circuits: tuple[bytes, ...] = _f(List(HASH, max=MAX_CIRCUITS))
    seq: int = _f(U64)
    timestamp: int = _f(U64)
    signature: bytes = _f(SIGNATURE)


# --- session: roller -> coordinator is hello, auth, accept, decline, proof ------------------

@message("hello")
class Hello:
    roller: bytes = _f(ADDRESS)
    versions: tuple[int, ...] = _f(List(U64, min=1, max=MAX_VERSIONS))


@message("challenge")
class Challenge:
    """What the roller signs to prove it holds `roller`'s key (see `signing.signing_digest`)."""
    nonce: bytes = _f(HASH)
    coordinator: bytes = _f(ADDRESS)
    chain_id: int = _f(U64)
    expires_at: int = _f(U64)


@message("auth")
class Auth:
    signature: bytes = _f(SIGNATURE)


@message("welcome")
class Welcome:
    weight: int = _f(U256)
    session: bytes = _f(Bytes(exact=16))


@message("refused")
class Refused:
    code: str = _f(CODE)
    reason: str = _f(REASON)


@record
class BatchItem:
    """One block's proof inside a batch task: what the aggregator combines. `proof` is the
    proof as `system` encodes it, opaque here."""
    index: int = _f(U64)
    system: str = _f(SYSTEM)
    proof: bytes = _f(PROOF)
    public: tuple[int, ...] = _f(FIELD_ELEMENTS)


@message("task")
class Task:
    """A signed assignment. `inputs` is the circuit input JSON for a block, the K proofs for a
    batch. `statement` is L1's statement of the block or batch (`Rollup.statement`), what the
    roller signs with its proof; `slots` how many slots the roller holds in this round; `open`
    marks a task open to every staked roller (round R_OPEN: one slot, deadline and close_at
    `NO_DEADLINE`)."""
    task_id: bytes = _f(HASH)
    kind: str = _f(Str(5, choices=TASK_KINDS))
    index: int = _f(U64)
    round: int = _f(U64)
    seed: bytes = _f(HASH)
    slots: int = _f(Uint(8, min=1))
    statement: bytes = _f(HASH)
    open: bool = _f(Bool())
    assigned_at: int = _f(U64)
    deadline: int = _f(U64)
    close_at: int = _f(U64)
    circuit: bytes = _f(HASH)
    inputs: bytes | tuple[BatchItem, ...] = _f(Switch("kind", {
        BLOCK_TASK: Bytes(max=MAX_BLOCK_INPUTS_BYTES),
        BATCH_TASK: List(Record(BatchItem), min=1, max=MAX_BATCH_PROOFS),
    }))
    signature: bytes = _f(SIGNATURE)


@message("accept")
class Accept:
    task_id: bytes = _f(HASH)


@message("decline")
class Decline:
    task_id: bytes = _f(HASH)
    reason: str = _f(REASON)


@message("proof")
class Proof:
    """A proof of the block whose L1 statement is `statement`, as `system` encodes it;
    `signature` is the roller's EIP-712 one over (kind, index, round, statement, proof hash), both
    opaque here. The public inputs do not travel: they are the block's on L1 with the signer as
    prover."""
    task_id: bytes = _f(HASH)
    statement: bytes = _f(HASH)
    system: str = _f(SYSTEM)
    proof: bytes = _f(PROOF)
    signature: bytes = _f(SIGNATURE)


@message("aggregate")
class Aggregate:
    """A batch's aggregate of its K block proofs, as `system` encodes it. The public inputs are
    the batch's blocks', which the coordinator knows; `signature` is the aggregator's EIP-712 one
    over the batch's L1 `statement` and the aggregate, opaque here."""
    task_id: bytes = _f(HASH)
    statement: bytes = _f(HASH)
    system: str = _f(SYSTEM)
    aggregate: bytes = _f(Bytes(max=MAX_AGGREGATE_BYTES))
    signature: bytes = _f(SIGNATURE)


@message("cancel")
class Cancel:
    """The task is withdrawn (its block was reverted on L1): stop working on it."""
    task_id: bytes = _f(HASH)
    reason: str = _f(REASON)


@message("receipt")
class Receipt:
    task_id: bytes = _f(HASH)
    status: str = _f(Str(8, choices=RECEIPT_STATUSES))
    reason: str = _f(REASON)


@message("error")
class Error:
    """Ends an exchange: what went wrong, as a short code and a one-line reason."""
    code: str = _f(CODE)
    reason: str = _f(REASON)


@message("ping")
class Ping:
    nonce: int = _f(U64)


@message("pong")
class Pong:
    nonce: int = _f(U64)


# --- artifacts ---------------------------------------------------------------------------------

@message("artifact_request")
class ArtifactRequest:
    hash: bytes = _f(HASH)
    offset: int = _f(U64)


@message("artifact_chunk")
class ArtifactChunk:
    hash: bytes = _f(HASH)
    offset: int = _f(U64)
    total: int = _f(U64)
    data: bytes = _f(Bytes(max=MAX_ARTIFACT_CHUNK_BYTES))


@message("artifact_missing")
class ArtifactMissing:
    hash: bytes = _f(HASH)


# --- encoding ----------------------------------------------------------------------------------

def type_name(msg: Any) -> str:
    name = getattr(type(msg), "TYPE", None)
    if MESSAGE_TYPES.get(name) is not type(msg):
        raise TypeError(f"{type(msg).__name__} is not a message type")
    return name


def to_wire(msg: Any, *, without: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The checked wire map of `msg` with its envelope, less the fields in `without`."""
    wire = {"v": PROTOCOL_VERSION, "type": type_name(msg), **record_to_wire(msg)}
    return {k: v for k, v in wire.items() if k not in without}


def pack(wire: dict[str, Any]) -> bytes:
    return msgpack.packb(_canonical(wire), use_bin_type=True)


def encode(msg: Any) -> bytes:
    return pack(to_wire(msg))


def decode(data: bytes, *, limit: int) -> Any:
    """The message in `data`, checked; raises the specific P2PError for what is wrong."""
    if len(data) > limit:
        raise MessageTooLarge(len(data), limit)
    try:
        wire = msgpack.unpackb(data, raw=False, strict_map_key=True)
    except (ValueError, msgpack.UnpackException) as e:  # UnicodeDecodeError is a ValueError
        raise MalformedMessage(str(e) or type(e).__name__) from None
    if not isinstance(wire, dict):
        raise MalformedMessage(f"expected a map, got {type(wire).__name__}")
    if "v" not in wire:
        raise MalformedMessage("no version field 'v'")
    if type(wire["v"]) is not int or wire["v"] != PROTOCOL_VERSION:  # not True, not 1.0
        raise UnsupportedVersion(wire["v"])
    name = wire.get("type")
    if not isinstance(name, str):
        raise MalformedMessage("no type field 'type'")
    cls = MESSAGE_TYPES.get(name)
    if cls is None:
        raise UnknownMessageType(name)
    return record_from_wire(cls, wire, ignore=frozenset({"v", "type"}))


def _canonical(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _canonical(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    return value
