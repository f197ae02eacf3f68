"""Wire fuzzing: bad input for every wire surface, and the checks that run one case of it.

Shared by the property tests (tests/*/test_fuzz_*.py: a few cases per surface in `make test`) and
`benchmarks/fuzz.py` (10,000 cases per surface). Each surface has

- a strategy of cases (`Case`: a kind, for the tables, and the bytes or message sent): random
  bytes, truncated and oversize frames, valid msgpack or JSON of the wrong shape, valid messages
  mutated or of a type the exchange does not allow there, replays, messages signed by the wrong
  key;
- a check that runs one case through the node's real decoding and validation code, cheaply (no
  network), and says what the node made of it (`Verdict`): the specific error it answered with,
  whether the peer was penalised, whether state changed, or the exception that escaped (a crash).

The wire tests send a smaller number of the same cases to real nodes over loopback.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import msgpack
import trio
from eth_account import Account
from hypothesis import strategies as st
from libp2p.peer.id import ID

from p2p import messages as m
from p2p.config import P2PConfig
from p2p.errors import P2PError, RemoteError, StreamClosed
from p2p.framing import encode_varint
from p2p.gossip import AnnouncementValidator, Verdict as GossipVerdict, sign_announcement
from p2p.peers import PeerScores
from p2p.protocols import SESSION_PROTOCOL, MessageStream, open_stream
from p2p.schema import Bool, Bytes, List, Record, Spec, Str, Switch, Uint, spec_of
from p2p.signing import sign_digest, signing_digest

CONFIG = P2PConfig()
FRAME_LIMIT = CONFIG.max_frame_bytes
#: the peer that sends every case, as the node under test sees it
ATTACKER = ID(b"\x00\x24\x08\x01\x12\x20" + bytes(range(32)))


@dataclass(frozen=True)
class Case:
    """One bad input: `kind` names how it was made (the tables count by it), `data` what is sent."""
    kind: str
    data: Any


@dataclass(frozen=True)
class Verdict:
    """What the node made of one case."""
    #: "accepted" (a valid message the exchange allows there, or a read-only call answered), or
    #: the error it answered with: a P2PError's class name, a decline's code, a JSON-RPC code
    outcome: str
    #: the repr of an exception no handler expects, which escaped the node's checks
    crash: str | None = None
    #: the node's state differs after the case (its store, journal, directory, mempool)
    state_changed: bool = False
    #: False where the protocol scores peers and a rejection that is the sender's fault cost it
    #: nothing (a stream that ends before its first byte is a clean end, no fault)
    penalised: bool = True
    #: the points the case cost its sender, where the check scores it
    charged: float = 0.0


def crashed(exc: BaseException) -> Verdict:
    return Verdict("crash", crash=f"{type(exc).__name__}: {exc}")


# ---------------------------------------------------------------------- messages from the schema

def spec_strategy(spec: Spec) -> st.SearchStrategy:
    """Valid values of a field, from its spec (lists and byte strings kept short)."""
    if isinstance(spec, Uint):
        return st.integers(spec.min, 2**spec.bits - 1)
    if isinstance(spec, Bool):
        return st.booleans()
    if isinstance(spec, Bytes):
        size = spec.exact if spec.exact is not None else None
        return st.binary(min_size=size or 0, max_size=size if size is not None else min(spec.max, 64))
    if isinstance(spec, Str):
        return st.sampled_from(sorted(spec.choices)) if spec.choices else st.text(max_size=min(spec.max, 20))
    if isinstance(spec, List):
        return st.lists(spec_strategy(spec.item), min_size=spec.min, max_size=min(spec.max, 3)).map(tuple)
    if isinstance(spec, Record):
        return records(spec.cls)
    raise AssertionError(spec)


@st.composite
def records(draw, cls):
    """A valid instance of the message or record class `cls`."""
    values = {}
    for f in dataclasses.fields(cls):
        spec = spec_of(f)
        if isinstance(spec, Switch):
            spec = spec.cases[values[spec.on]]
        values[f.name] = draw(spec_strategy(spec))
    return cls(**values)


def messages_of(*types: type) -> st.SearchStrategy:
    return st.sampled_from(types).flatmap(records)


any_message = messages_of(*(m.MESSAGE_TYPES[name] for name in sorted(m.MESSAGE_TYPES)))


# ---------------------------------------------------------------------- bytes on a stream

def frame(payload: bytes) -> bytes:
    return encode_varint(len(payload)) + payload


msgpack_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-2**63, 2**64 - 1), st.floats(),
              st.text(max_size=16), st.binary(max_size=40)),
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.text(max_size=10), inner, max_size=4)),
    max_leaves=12)


@st.composite
def wrong_shape(draw, types: tuple[type, ...] = tuple(m.MESSAGE_TYPES.values())) -> bytes:
    """Valid msgpack of the wrong shape: any value, or a message's map with its envelope right and
    one field missing, unknown, or of any other value (which gets past the envelope checks)."""
    if draw(st.booleans()):
        return msgpack.packb(draw(msgpack_values), use_bin_type=True)
    wire = m.to_wire(draw(messages_of(*types)))
    field = draw(st.sampled_from(sorted(k for k in wire if k not in ("v", "type")) or ["v"]))
    change = draw(st.sampled_from(["drop", "add", "replace", "envelope"]))
    if change == "drop":
        del wire[field]
    elif change == "add":
        wire[draw(st.text(min_size=1, max_size=8))] = draw(msgpack_values)
    elif change == "replace":
        wire[field] = draw(msgpack_values)
    else:
        wire[draw(st.sampled_from(["v", "type"]))] = draw(msgpack_values)
    return msgpack.packb(wire, use_bin_type=True)


@st.composite
def mutated(draw, data: bytes) -> bytes:
    """`data` with a byte changed, a run deleted, or bytes inserted."""
    at = draw(st.integers(0, len(data) - 1))
    change = draw(st.sampled_from(["flip", "delete", "insert"]))
    if change == "flip":
        return data[:at] + bytes([data[at] ^ draw(st.integers(1, 255))]) + data[at + 1:]
    if change == "delete":
        return data[:at] + data[at + draw(st.integers(1, 8)):]
    return data[:at] + draw(st.binary(min_size=1, max_size=8)) + data[at:]


#: length prefixes that are not the shortest encoding, or longer than a 64-bit length
BAD_PREFIXES = [b"\x80\x00", b"\x81\x80\x00", b"\xff" * 10 + b"\x01", b"\x80" * 11]


def stream_cases(expected: tuple[type, ...], limit: int = FRAME_LIMIT) -> st.SearchStrategy[Case]:
    """What a misbehaving peer writes to a session stream where a message of one of `expected`
    types is due, up to the end of the stream."""
    unexpected = tuple(t for t in m.MESSAGE_TYPES.values() if t not in expected and t is not m.Error)
    valid = messages_of(*expected).map(m.encode)
    return st.one_of(
        st.binary(max_size=256).map(lambda b: Case("random", b)),
        st.binary(max_size=256).map(lambda b: Case("framed random", frame(b))),
        wrong_shape().map(lambda b: Case("wrong shape", frame(b))),
        valid.flatmap(mutated).map(lambda b: Case("mutated", frame(b))),
        valid.map(frame).flatmap(lambda b: st.integers(1, len(b) - 1).map(
            lambda cut: Case("truncated", b[:cut]))),
        st.tuples(st.integers(limit + 1, 2**64 - 1), st.binary(max_size=64)).map(
            lambda t: Case("oversize", encode_varint(t[0]) + t[1])),
        messages_of(*unexpected).map(lambda msg: Case("unexpected type", frame(m.encode(msg)))),
        st.sampled_from(BAD_PREFIXES).map(lambda b: Case("bad length prefix", b)),
    )


class MemoryStream:
    """What `FramedStream` and `MessageStream` use of a libp2p stream, over bytes in memory: reads
    hand out `incoming` in pieces, then the end of the stream; writes are kept in `written`."""

    def __init__(self, incoming: bytes, peer: ID = ATTACKER, piece: int = 4096):
        self.muxed_conn = SimpleNamespace(peer_id=peer)
        self.written = bytearray()
        self.was_reset = False
        self._incoming = incoming
        self._piece = piece

    async def read(self, n: int | None = None) -> bytes:
        size = min(self._piece, n or self._piece)
        chunk, self._incoming = self._incoming[:size], self._incoming[size:]
        return chunk

    async def write(self, data: bytes) -> None:
        self.written += data

    async def reset(self) -> None:
        self.was_reset = True

    async def close(self) -> None:
        pass

    def get_protocol(self) -> str:
        return SESSION_PROTOCOL


class ScoringNode:
    """What a `MessageStream` uses of its `p2p.host.Node`: the config and the peer scores (real
    ones), without a host. A ban here disconnects nothing: there is no connection."""

    def __init__(self, config: P2PConfig = dataclasses.replace(CONFIG, score_recovery_per_second=0)):
        self.config = config
        self.scores = PeerScores(config)
        self.peer_id = ID(b"\x00\x24\x08\x01\x12\x20" + bytes(32))

    def penalise(self, peer_id: ID, error: P2PError) -> None:
        self.scores.penalise(str(peer_id), error)


def fairly_charged(error: P2PError, charged: float) -> bool:
    """Whether a rejection cost the peer what it should: something, unless it is no fault. An
    `error` message (RemoteError) is the protocol's own way to end an exchange; a stream that
    ends between frames (StreamClosed) is a clean end (one that ends inside a frame is not)."""
    return charged > 0 or isinstance(error, (RemoteError, StreamClosed))


async def receive_case(data: bytes, expected: tuple[type, ...], node: ScoringNode | None = None
                       ) -> tuple[Verdict, Any]:
    """`data` read by the real `MessageStream.receive(*expected)`: the verdict, and the message if
    one was accepted."""
    node = node or ScoringNode()
    stream = MemoryStream(data)
    before = node.scores.score(str(ATTACKER))
    try:
        msg = await MessageStream(node, stream).receive(*expected)  # type: ignore[arg-type]
    except P2PError as error:
        charged = before - node.scores.score(str(ATTACKER))
        if not isinstance(error, (StreamClosed, RemoteError)) and not stream.was_reset:
            return Verdict(type(error).__name__, crash=f"{error!r} left the stream open"), None
        return Verdict(type(error).__name__, penalised=fairly_charged(error, charged),
                       charged=charged), None
    except Exception as exc:  # what this check is for
        return crashed(exc), None
    return Verdict("accepted"), msg


# ---------------------------------------------------------------------- signing

#: the coordinator of the signed cases, a forger, and a roller (fixed: the cases are reproducible)
COORDINATOR = Account.from_key(b"\x11" * 32)
FORGER = Account.from_key(b"\x22" * 32)
ROLLER = Account.from_key(b"\x33" * 32)
CHAIN_ID = 31337
ROLLUP = "0x" + "66" * 20


def signed(msg: Any, account) -> Any:
    """`msg` signed by `account` as its type is signed (`signing.signing_digest`)."""
    return dataclasses.replace(msg, signature=sign_digest(account.key, signing_digest(msg)))


# ---------------------------------------------------------------------- the roller's side

ROLLER_RECEIVES = (m.Task, m.Cancel, m.Receipt, m.Ping, m.Pong)
BAD_TASKS = ("wrong key", "unsigned", "wrong task id", "bad times", "bad open task")


@st.composite
def bad_tasks(draw, coordinator=COORDINATOR, roller: str = ROLLER.address, chain_id: int = CHAIN_ID,
              rollup: str = ROLLUP) -> Case:
    """Tasks of the right shape that `roller` must not take from `coordinator`: signed by another
    key than the coordinator's, by no key at all, with another task id, with times out of order,
    or open with a deadline or several slots."""
    from roller.session import task_id

    task = draw(records(m.Task))
    kind = draw(st.sampled_from(BAD_TASKS))
    right_id = task_id(chain_id, rollup, task.kind, task.index, task.round, task.seed,
                       task.statement, roller)
    task = dataclasses.replace(task, task_id=right_id)
    if kind == "wrong key":
        return Case(kind, signed(task, FORGER))
    if kind == "unsigned":
        return Case(kind, task)  # the random signature of the strategy
    if kind == "wrong task id":
        other = draw(st.binary(min_size=32, max_size=32).filter(lambda b: b != right_id))
        return Case(kind, signed(dataclasses.replace(task, task_id=other), coordinator))
    if kind == "bad times":
        times = sorted(draw(st.lists(st.integers(0, 2**64 - 1), min_size=3, max_size=3,
                                     unique=True)))
        order = draw(st.permutations(times).filter(lambda p: list(p) != times))
        task = dataclasses.replace(task, open=False, assigned_at=order[0], deadline=order[1],
                                   close_at=order[2])
        return Case(kind, signed(task, coordinator))
    slots = draw(st.integers(1, 255))
    deadline = draw(st.integers(0, m.NO_DEADLINE))
    if slots == 1 and deadline == m.NO_DEADLINE:
        slots = 2
    task = dataclasses.replace(task, open=True, slots=slots, deadline=deadline,
                               close_at=m.NO_DEADLINE)
    return Case(kind, signed(task, coordinator))


def roller_cases(**identities: Any) -> st.SearchStrategy[Case]:
    """What a coordinator (or whoever holds its peer id) sends a roller: bytes where a task,
    cancel, receipt, ping or pong is due; tasks it must not take (`bad_tasks`, for `identities`);
    bad challenges."""
    return st.one_of(stream_cases(ROLLER_RECEIVES), bad_tasks(**identities), challenge_cases())


@st.composite
def challenge_cases(draw) -> Case:
    """The coordinator's answer to `hello`: bytes where a challenge is due, or a challenge for
    another coordinator or chain."""
    if draw(st.booleans()):
        inner = draw(stream_cases((m.Challenge, m.Refused)))
        return Case(f"challenge: {inner.kind}", ("challenge", inner.data))
    challenge = draw(records(m.Challenge))
    if challenge.coordinator == bytes.fromhex(COORDINATOR.address[2:]) and challenge.chain_id == CHAIN_ID:
        challenge = dataclasses.replace(challenge, chain_id=CHAIN_ID + 1)
    return Case("challenge: wrong coordinator or chain", ("challenge", frame(m.encode(challenge))))


async def roller_case(case: Case) -> Verdict:
    """What the roller's session code makes of `case`: `handshake` for a challenge, the session's
    `receive` and then `check_task` for the rest (a task that fails it is declined, never
    journaled)."""
    from roller.session import SessionFailed, SessionRefused, TaskRefused, check_task, handshake

    if isinstance(case.data, tuple):  # a challenge
        node = ScoringNode()
        stream = MemoryStream(case.data[1])
        before = node.scores.score(str(ATTACKER))
        try:
            await handshake(MessageStream(node, stream), ROLLER, COORDINATOR.address, CHAIN_ID)  # type: ignore[arg-type]
        except SessionRefused as error:  # the coordinator's own answer, no fault
            return Verdict(type(error).__name__)
        except SessionFailed as error:  # a challenge for another coordinator or chain
            charged = before - node.scores.score(str(ATTACKER))
            return Verdict(type(error).__name__, penalised=charged > 0, charged=charged)
        except P2PError as error:
            charged = before - node.scores.score(str(ATTACKER))
            return Verdict(type(error).__name__, penalised=fairly_charged(error, charged),
                           charged=charged)
        except Exception as exc:
            return crashed(exc)
        return Verdict("crash", crash="a bad challenge was answered")
    if isinstance(case.data, m.Task):
        msg = case.data
    else:
        verdict, msg = await receive_case(case.data, ROLLER_RECEIVES)
        if not isinstance(msg, m.Task):
            return verdict
    try:
        check_task(msg, coordinator=COORDINATOR.address, chain_id=CHAIN_ID, rollup=ROLLUP,
                   roller=ROLLER.address)
    except TaskRefused as refusal:
        return Verdict(f"declined {refusal.code}")
    except Exception as exc:
        return crashed(exc)
    if case.kind in BAD_TASKS:
        return Verdict("crash", crash=f"a task with {case.kind} passed check_task")
    return Verdict("accepted")


# ---------------------------------------------------------------------- gossip

NOW = 1_800_000_000


def announcement_fields(account, *, seq: int, timestamp: int = NOW, coordinator=None) -> dict:
    return dict(coordinator=bytes.fromhex((coordinator or account).address[2:]),
                peer_id=b"\x00\x24" + bytes(36), addrs=("/ip4/127.0.0.1/tcp/4001",),
                chain_id=CHAIN_ID, staking=b"\x05" * 20, rollup=bytes.fromhex(ROLLUP[2:]),
                circuits=(b"\x07" * 32,), seq=seq, timestamp=timestamp)


def announce(account, **kw) -> m.Announce:
    return sign_announcement(account.key, announcement_fields(account, **kw))


#: the coordinator's announcement every gossip case is checked after (its seq is the replay bound)
RECORDED_SEQ = 1_000
RECORDED = announce(COORDINATOR, seq=RECORDED_SEQ)


@st.composite
def gossip_cases(draw, limit: int = CONFIG.max_gossip_bytes) -> Case:
    kind = draw(st.sampled_from(["random", "oversize", "wrong shape", "mutated", "unexpected type",
                                 "wrong key", "unregistered", "stale", "replay"]))
    if kind == "random":
        return Case(kind, draw(st.binary(max_size=512)))
    if kind == "oversize":
        return Case(kind, draw(st.binary(min_size=limit + 1, max_size=limit + 64)))
    if kind == "wrong shape":
        return Case(kind, draw(wrong_shape((m.Announce,))))
    if kind == "mutated":
        return Case(kind, draw(mutated(m.encode(RECORDED))))
    if kind == "unexpected type":
        others = [t for t in m.MESSAGE_TYPES.values() if t is not m.Announce]
        return Case(kind, m.encode(draw(messages_of(*others))))
    seq = draw(st.integers(RECORDED_SEQ + 1, 2**64 - 1))
    if kind == "wrong key":  # a forger's signature on the coordinator's name
        msg = sign_announcement(FORGER.key, announcement_fields(FORGER, seq=seq, coordinator=COORDINATOR))
    elif kind == "unregistered":  # well signed, by someone who is no coordinator
        msg = announce(FORGER, seq=seq)
    elif kind == "stale":
        skew = draw(st.one_of(st.integers(CONFIG.announce_max_age + 1, NOW),
                              st.integers(-2**40, -CONFIG.announce_max_skew - 1)))
        msg = announce(COORDINATOR, seq=seq, timestamp=NOW - skew)
    else:
        msg = announce(COORDINATOR, seq=draw(st.integers(0, RECORDED_SEQ)))
    return Case(kind, m.encode(msg))


def gossip_validator(config: P2PConfig = CONFIG) -> AnnouncementValidator:
    """A validator whose directory holds `RECORDED`, with `COORDINATOR` alone registered."""
    from p2p.gossip import CoordinatorDirectory

    directory = CoordinatorDirectory()
    directory.record(RECORDED)
    return AnnouncementValidator(config, directory, lambda a: a == COORDINATOR.address, lambda: NOW)


async def gossip_case(validator: AnnouncementValidator, case: Case) -> Verdict:
    """`case` through the real validator: rejected with a penalty, or ignored without one (late
    and duplicate copies), and the directory unchanged."""
    before = validator.directory.all()
    try:
        outcome = await validator.validate(ATTACKER, case.data)
    except Exception as exc:
        return crashed(exc)
    changed = validator.directory.all() != before
    if outcome.verdict is GossipVerdict.ACCEPT:  # none of the cases is a valid new announcement
        return Verdict("accepted", state_changed=True)
    assert outcome.error is not None
    penalty = validator.config.penalty_for(outcome.error)
    fair = penalty > 0 if outcome.verdict is GossipVerdict.REJECT else penalty == 0
    return Verdict(type(outcome.error).__name__, state_changed=changed, penalised=fair)


# ---------------------------------------------------------------------- JSON-RPC

json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
              st.text(max_size=16)),
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.text(max_size=10), inner, max_size=4)),
    max_leaves=12)

RPC_METHODS = ("l2_sendTransfer", "l2_getAccount", "l2_getAccountIndex", "l2_getFreeIndex",
               "l2_getTransfer", "l2_getBlock", "l2_getBlockInputs", "l2_status")


@st.composite
def rpc_requests(draw, transfers: st.SearchStrategy[dict]) -> dict:
    """A JSON-RPC object, each member right or wrong."""
    request: dict[str, Any] = {}
    if draw(st.integers(0, 9)):
        request["jsonrpc"] = "2.0" if draw(st.integers(0, 5)) else draw(json_values)
    if draw(st.integers(0, 4)):
        request["id"] = draw(st.one_of(st.integers(), st.text(max_size=8), st.none(), json_values))
    if draw(st.integers(0, 9)):
        request["method"] = draw(st.one_of(st.sampled_from(RPC_METHODS), st.text(max_size=20),
                                           json_values))
    if draw(st.integers(0, 3)):
        request["params"] = draw(st.one_of(json_values, st.lists(json_values, max_size=3),
                                           transfers.map(lambda t: [t])))
    return request


def deep(levels: int) -> bytes:
    return b"[" * levels + b"]" * levels


def rpc_cases(transfers: st.SearchStrategy[dict], max_body: int, max_batch: int
              ) -> st.SearchStrategy[Case]:
    """Request bodies: bytes, JSON of the wrong shape, requests with members wrong, batches (empty,
    too many), nesting deeper than a parser's stack, and transfers of `transfers` (signed by the
    wrong key, replayed, ...)."""
    requests = rpc_requests(transfers)
    return st.one_of(
        st.binary(max_size=256).map(lambda b: Case("random bytes", b)),
        json_values.map(lambda v: Case("wrong shape", json.dumps(v).encode())),
        requests.map(lambda r: Case("request", json.dumps(r).encode())),
        st.lists(requests, max_size=5).map(lambda r: Case("batch", json.dumps(r).encode())),
        st.integers(max_batch + 1, max_batch + 20).map(
            lambda n: Case("batch too large", json.dumps([{}] * n).encode())),
        st.integers(500, max_body // 2).map(lambda n: Case("nested deep", deep(n))),
        requests.map(lambda r: json.dumps(r).encode()).flatmap(
            lambda b: st.integers(1, max(1, len(b) - 1)).map(lambda cut: Case("truncated", b[:cut]))),
        transfers.map(lambda t: Case("transfer", json.dumps(
            {"jsonrpc": "2.0", "id": 1, "method": "l2_sendTransfer", "params": [t]}).encode())),
    )


def rpc_verdict(reply: bytes | None) -> Verdict:
    """The verdict on a JSON-RPC reply body: each answer a specific error code, or the result of
    a call (a read); INTERNAL_ERROR (-32603) is an exception inside the method, a crash."""
    from p2p.http_server import INTERNAL_ERROR, INVALID_PARAMS, INVALID_REQUEST, \
        METHOD_NOT_FOUND, PARSE_ERROR
    from sequencer.rpc import ERROR_CODES, REFUSED

    specific = {PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND, INVALID_PARAMS, REFUSED,
                *ERROR_CODES.values()}
    if reply is None:
        return Verdict("no reply (notifications)")
    body = json.loads(reply)
    codes = []
    for item in body if isinstance(body, list) else [body]:
        if "error" in item:
            code = item["error"]["code"]
            if code == INTERNAL_ERROR or code not in specific:
                return Verdict(f"code {code}", crash=item["error"]["message"])
            codes.append(code)
        else:
            codes.append("result")
    return Verdict(" ".join(sorted({str(c) for c in codes})))


# ---------------------------------------------------------------------- the coordinator's side

COORDINATOR_RECEIVES = (m.Accept, m.Decline, m.Proof, m.Aggregate, m.Ping)


@st.composite
def coordinator_cases(draw) -> Case:
    """What a roller (or anyone) sends a coordinator at each step of the session: bytes where
    `hello`, `auth` or a session message is due; an auth signed by the wrong key or answering
    another challenge (a replay); well-formed accepts, declines, proofs and aggregates of tasks
    it never sent."""
    stage = draw(st.sampled_from(["hello", "auth", "session", "message"]))
    if stage == "hello":
        inner = draw(stream_cases((m.Hello,)))
        return Case(f"hello: {inner.kind}", ("hello", inner.data))
    if stage == "auth":
        kind = draw(st.sampled_from(["bytes", "wrong key", "replayed"]))
        if kind == "bytes":
            inner = draw(stream_cases((m.Auth,)))
            return Case(f"auth: {inner.kind}", ("auth", inner.data))
        # The roller's own key over another challenge (one it answered before) is a replay;
        # any other key over any challenge, a forgery.
        signer = FORGER if kind == "wrong key" else None
        challenge = draw(records(m.Challenge))
        return Case(f"auth: {kind}", ("auth", signer, challenge))
    if stage == "session":
        inner = draw(stream_cases(COORDINATOR_RECEIVES))
        return Case(f"session: {inner.kind}", ("session", inner.data))
    msg = draw(messages_of(m.Accept, m.Decline, m.Proof, m.Aggregate))
    return Case("session: unknown task", ("message", msg))


def coordinator_state(service) -> tuple:
    """What bad input must not change: the core's whole state (every event reaches it through the
    store) and the tasks sent."""
    return json.dumps(service.core.snapshot(), sort_keys=True), len(service.tasks), \
        sum(len(box) for box in service.outbox.values())


def _frames(data: bytes) -> list[bytes]:
    from p2p.framing import parse_varint

    out = []
    while data:
        length, used = parse_varint(data)
        out.append(data[used:used + length])
        data = data[used + length:]
    return out


async def coordinator_case(service, roller, case: Case) -> Verdict:
    """`case` through the running coordinator `service`'s own session code, with no network: its
    `_authenticate` on a stream of the case's bytes (after a `hello` from `roller`, a staked
    account), the session's `receive`, and `_handle` for the messages that decode. The core and
    the tasks must not change."""
    stage, *data = case.data
    before = coordinator_state(service)
    try:
        if stage == "hello":
            verdict, _ = await receive_case(data[0], (m.Hello,))
        elif stage == "auth":
            verdict = await _authenticate_case(service, roller, data)
        else:
            if stage == "session":
                verdict, msg = await receive_case(data[0], COORDINATOR_RECEIVES)
            else:
                verdict, msg = Verdict("accepted"), data[0]
            if isinstance(msg, (m.Accept, m.Decline, m.Proof, m.Aggregate)):
                receipt = await service._handle(roller.address, msg)
                verdict = Verdict("no receipt" if receipt is None else
                                  f"receipt {receipt.status}: {receipt.reason}")
    except Exception as exc:
        return crashed(exc)
    return dataclasses.replace(verdict, state_changed=coordinator_state(service) != before)


async def _authenticate_case(service, roller, data: list) -> Verdict:
    node = ScoringNode()
    hello = frame(m.encode(m.Hello(roller=bytes.fromhex(roller.address[2:]), versions=(1,))))
    if len(data) == 1:
        incoming = hello + data[0]
    else:
        signer, challenge = data
        signature = sign_digest((signer or roller).key, signing_digest(challenge))
        incoming = hello + frame(m.encode(m.Auth(signature=signature)))
    stream = MemoryStream(incoming)
    try:
        who = await service._authenticate(MessageStream(node, stream))  # type: ignore[arg-type]
    except P2PError as error:
        charged = -node.scores.score(str(ATTACKER))
        return Verdict(type(error).__name__, penalised=fairly_charged(error, charged),
                       charged=charged)
    if who is not None:
        return Verdict("authenticated", crash="a bad auth was welcomed")
    answer = m.decode(_frames(bytes(stream.written))[-1], limit=FRAME_LIMIT)
    charged = -node.scores.score(str(ATTACKER))
    return Verdict(f"refused {answer.code}", penalised=charged > 0, charged=charged)


# ---------------------------------------------------------------------- drawing cases

def draw_cases(strategy: st.SearchStrategy[Case], count: int, seed: int = 0) -> list[Case]:
    """`count` cases of `strategy`, the same for the same seed: for the wire tests, which send
    them to running nodes (hypothesis cannot drive a test inside a running trio loop), and the
    fuzz command."""
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as seeded

    cases: list[Case] = []
    if count <= 0:
        return cases

    @seeded(seed)
    @settings(max_examples=count, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def collect(case: Case) -> None:
        cases.append(case)

    collect()
    return cases


# ---------------------------------------------------------------------- the sequencer's transfers

@st.composite
def transfer_json(draw, signed: list[tuple[str, dict]]) -> dict:
    """One of `signed` (transfers signed once, ahead: signing is slow), as it is or with one
    member replaced by any JSON value or dropped."""
    kind, transfer = draw(st.sampled_from(signed))
    transfer = json.loads(json.dumps(transfer))
    change = draw(st.sampled_from(["none", "replace", "drop"]))
    key = draw(st.sampled_from(sorted(transfer)))
    if change == "replace":
        transfer[key] = draw(json_values)
    elif change == "drop":
        del transfer[key]
    return transfer


def sequencer_state(sequencer) -> tuple:
    """What bad input must not change: the mempool, each genesis account as it will be, and the
    blocks."""
    mempool = sequencer.mempool
    return len(mempool), sequencer.store.last_block_number(), \
        tuple(mempool.account(i) for i in range(4)), mempool.lowest_free_index()


async def rpc_case(sequencer, case: Case) -> Verdict:
    """`case` as a request body through the running sequencer's own JSON-RPC handler."""
    before = sequencer_state(sequencer)
    try:
        reply = await sequencer.rpc.handle(case.data)
        verdict = rpc_verdict(reply)
    except Exception as exc:
        return crashed(exc)
    return dataclasses.replace(verdict, state_changed=sequencer_state(sequencer) != before)


def refused_transfers(accepted: Any) -> list[tuple[str, dict]]:
    """Transfers the sequencer must refuse once `accepted` (account 0's transfer of nonce 0 to
    account 1, of the devnet's genesis) is in: its replay, and transfers of nonce 1 signed by the
    wrong key, with a signature of other terms, for more than the balance, with a nonce ahead,
    and from an empty account."""
    from sequencer.genesis import dev_address, dev_private_key
    from sequencer.transactions import DEVNET_CHAIN_ID, Transfer, sign_transfer
    from sequencer.wire import transfer_to_json

    def sign(transfer: Transfer, key_of: int) -> dict:
        return transfer_to_json(sign_transfer(transfer, dev_private_key(key_of), DEVNET_CHAIN_ID))

    def pay(amount: int = 1, nonce: int = 1, sender: int = 0) -> Transfer:
        return Transfer(sender, 1, dev_address(1), amount, nonce)

    other_terms = sign(pay(), 0) | {"amount": "2"}
    return [("replay", transfer_to_json(accepted)), ("wrong key", sign(pay(), 2)),
            ("signature of other terms", other_terms), ("overdraft", sign(pay(10**30), 0)),
            ("nonce ahead", sign(pay(nonce=5), 0)), ("empty sender", sign(pay(sender=200), 3))]


# ---------------------------------------------------------------------- real nodes on loopback

@asynccontextmanager
async def running_coordinator(build, datadir: Path) -> AsyncIterator[tuple[Any, list]]:
    """The real coordinator service on a fresh embedded chain (the market and a Rollup of
    `build`'s key, as `provernet bench coordinator` deploys them), and two staked rollers'
    accounts: (service, [attacker, honest])."""
    from market_contracts.chain import EmbeddedChain
    from market_contracts.rules import MarketParams
    from coordinator.config import CoordinatorConfig
    from coordinator.service import CoordinatorService
    from provernet.bench_coordinator import deploy, roller_accounts

    chain = EmbeddedChain()
    rollers = roller_accounts(2)
    config = CoordinatorConfig(datadir=datadir / "coordinator", sequencer_url="http://127.0.0.1:9",
                               poll_interval=0.2)
    deployment = await trio.to_thread.run_sync(
        lambda: deploy(chain, build, MarketParams.devnet(), 1, rollers, config.datadir / "p2p"))
    service = CoordinatorService(config, chain, deployment, chain.dev_accounts[2], build)
    async with trio.open_nursery() as nursery:
        with trio.fail_after(120):
            await nursery.start(service.run)
        yield service, rollers
        nursery.cancel_scope.cancel()


async def coordinator_wire_case(service, node, roller, case: Case) -> str:
    """Send `case` to the coordinator over a real session stream from `node` (holding `roller`'s
    key): `hello` bytes straight away; an auth after a real hello and challenge; session bytes or
    messages after a real handshake. What came back: the coordinator's answer, or how the stream
    ended."""
    from roller.session import SessionRefused, handshake

    stage, *data = case.data
    hello = m.Hello(roller=bytes.fromhex(roller.address[2:]), versions=(1,))
    try:
        async with open_stream(node, service.node.peer_id) as stream:
            if stage == "hello":
                await stream.stream.write(data[0])
            elif stage == "auth":
                await stream.send(hello)
                challenge = await stream.receive(m.Challenge, timeout=10)
                if len(data) == 1:
                    await stream.stream.write(data[0])
                else:
                    signer, other = data
                    replayed = dataclasses.replace(other, coordinator=challenge.coordinator,
                                                   chain_id=challenge.chain_id)
                    key = (signer or roller).key
                    target = challenge if signer is not None else replayed
                    await stream.send(m.Auth(signature=sign_digest(key, signing_digest(target))))
            else:
                await handshake(stream, roller, service.address, service.chain.chain_id)
                if stage == "session":
                    await stream.stream.write(data[0])
                else:
                    await stream.send(data[0])
            await stream.stream.close()
            answer = await stream.receive(m.Refused, m.Receipt, m.Challenge, m.Welcome, timeout=10)
            return f"{type(answer).__name__.lower()}" + (
                f" {answer.code}" if isinstance(answer, m.Refused) else
                f" {answer.status}: {answer.reason}" if isinstance(answer, m.Receipt) else "")
    except SessionRefused as refused:
        return f"refused {refused.code}"
    except StreamClosed:
        return "reset"
    except P2PError as error:
        return type(error).__name__


async def honest_roller_served(service, node, roller) -> bool:
    """An honest staked roller's whole exchange: hello, challenge, auth, welcome, ping, pong."""
    from roller.session import handshake

    with trio.fail_after(30):
        async with open_stream(node, service.node.peer_id) as stream:
            welcome = await handshake(stream, roller, service.address, service.chain.chain_id)
            await stream.send(m.Ping(nonce=7))
            return welcome.weight > 0 and await stream.receive(m.Pong) == m.Pong(nonce=7)


def ends_inside_a_frame(data: bytes) -> bool:
    """Whether `data`, followed by the end of the stream, stops before its first frame is whole
    (nothing sent at all included): the reader then sees the stream close, not a bad frame."""
    from p2p.errors import MalformedMessage
    from p2p.framing import parse_varint

    try:
        header = parse_varint(data)
    except MalformedMessage:
        return False
    return header is None or (header[0] <= FRAME_LIMIT and len(data) < sum(header))


def roller_world(build, datadir: Path) -> SimpleNamespace:
    """What `test_roller_service`'s fake coordinator and roller need, without proofs: the market
    and a Rollup of `build`'s key on a fresh embedded chain, a coordinator registered with the
    peer id of its node directory, and `build`'s circuit served by hash."""
    from market_contracts.chain import EmbeddedChain
    from p2p.artifacts import ArtifactStore
    from provernet.world import World, peer_id_in
    from zkp.builds import manifest

    chain = EmbeddedChain()
    sequencer, coordinator, roller = chain.dev_accounts[1:4]
    world = World.deploy(chain)
    deployment = world.attach_rollup(sequencer.address, vk=build.setup.vk, genesis_root=1,
                                     batch_size=2)
    rollup = world.rollup
    coordinator_dir = datadir / "coordinator"
    world.register_coordinator(coordinator.address,
                               peer_id=peer_id_in(coordinator_dir).to_bytes(),
                               name="fuzzing coordinator")
    store = ArtifactStore(datadir / "served")
    manifest_hash = store.put(manifest(build))
    store.import_file(build.zkey)
    store.import_file(build.wasm)
    return SimpleNamespace(chain=chain, deployment=deployment, rollup=rollup,
                           coordinator=coordinator, roller=roller, coordinator_dir=coordinator_dir,
                           store=store, manifest_hash=manifest_hash)


def roller_state(roller) -> tuple:
    """What bad input must not change: every task in the roller's journal."""
    journal = roller.journal
    return journal.summary(), tuple(t.key for t in journal.history(10_000))


async def roller_under_attack(world: SimpleNamespace, datadir: Path, cases: list[Case],
                              config: P2PConfig) -> tuple[list[tuple[Case, str]], bool, Any, float]:
    """The real roller service serving a coordinator that sends one of `cases` per session (a
    bad challenge instead of the real one, or, once the roller is welcomed, bad bytes or a task
    it must not take), then a ping; the roller reconnects after each. Then one honest session:
    welcome, a ping answered. (answers, honest session completed, the roller's state before
    and after as a pair, the coordinator's score at the roller). `config` is the roller's p2p policy (a lenient ban threshold lets every
    case through)."""
    from test_roller_service import authenticate, fake_coordinator, roller_config, running_roller

    todo = list(cases)
    answers: list[tuple[Case, str]] = []

    async def until_pong(stream, nonce: int) -> str:
        replies = []
        while True:
            reply = await stream.receive(m.Decline, m.Accept, m.Pong, m.Ping, timeout=10)
            if isinstance(reply, m.Pong) and reply.nonce == nonce:
                return " ".join(replies) or "pong"
            if isinstance(reply, m.Decline):
                replies.append("declined " + reply.reason.split(":")[0])
            elif isinstance(reply, m.Accept):
                replies.append("accepted")

    async def script(stream, report) -> None:
        if not todo:  # the honest session
            await authenticate(stream, world)
            await stream.send(m.Ping(nonce=1))
            report.send_nowait(("honest", await until_pong(stream, 1) == "pong"))
            await trio.sleep_forever()
        case = todo.pop(0)
        try:
            if isinstance(case.data, tuple):  # a challenge
                await stream.receive(m.Hello, timeout=10)
                await stream.stream.write(case.data[1])
                await stream.stream.close()
                await stream.receive(m.Auth, timeout=10)
                answer = "auth sent"
            else:
                await authenticate(stream, world)
                if isinstance(case.data, m.Task):
                    await stream.send(case.data)
                else:
                    await stream.stream.write(case.data)
                if isinstance(case.data, bytes) and ends_inside_a_frame(case.data):
                    # A ping now would complete the frame: the roller sees the stream end.
                    await stream.stream.close()
                    await stream.receive(m.Pong, timeout=10)
                    answer = "pong"
                else:
                    await stream.send(m.Ping(nonce=2))
                    answer = await until_pong(stream, 2)
        except RemoteError as error:
            answer = f"error {error.code}"
        except StreamClosed:
            answer = "reset"
        report.send_nowait(("case", (case, answer)))

    async with fake_coordinator(world, script) as (node, reports):
        roller_dir = datadir / "roller-node"
        async with running_roller(world, roller_config(roller_dir, node), p2p_config=config) as roller:
            before = roller_state(roller)
            with trio.fail_after(30 + 5 * len(cases)):
                while True:
                    name, value = await reports.receive()
                    if name == "error":
                        raise value
                    if name == "honest":
                        score = roller.node.scores.score(str(node.peer_id))
                        return answers, value, (before, roller_state(roller)), score
                    answers.append(value)


#: seconds between an attacker's gossip messages: gossipsub drops a peer's messages past 10 a
#: second on a topic before they are validated (its own spam protection)
GOSSIP_PACE = 0.12


async def gossip_under_attack(datadir: Path, cases: list[Case], config: P2PConfig
                              ) -> tuple[list[tuple[Case, Any]], bool, float, float]:
    """Three hosts on loopback: a coordinator, a roller, and an attacker that publishes each of
    `cases` raw (it runs no validator). The roller's directory holds `RECORDED` first. (each
    case with the roller's validation outcome, whether the coordinator's next announcement still
    reached the roller with the directory otherwise unchanged, the attacker's and the
    coordinator's scores at the roller)."""
    from p2p.gossip import COORDINATORS_TOPIC, join_coordinators
    from p2p.host import open_node

    send, outcomes = trio.open_memory_channel(math.inf)

    def registered(address: str) -> bool:
        return address == COORDINATOR.address

    async with open_node(datadir / "coordinator", config=config) as c, \
            open_node(datadir / "roller", config=config) as r, \
            open_node(datadir / "attacker", config=config) as a, \
            join_coordinators(c, is_registered=registered, now=lambda: NOW) as c_topic, \
            join_coordinators(r, is_registered=registered, now=lambda: NOW,
                              on_outcome=send.send_nowait) as r_topic:
        await a.pubsub.subscribe(COORDINATORS_TOPIC)
        with trio.fail_after(60):
            await c.connect(r.addrs[0])
            await a.connect(r.addrs[0])
            await c_topic.wait_for_peer(r.peer_id, timeout=5)
            await r_topic.wait_for_peer(a.peer_id, timeout=5)
            await a.pubsub.wait_for_mesh(r.peer_id, COORDINATORS_TOPIC, timeout=5)
            await c_topic.publish(RECORDED)
            assert (await outcomes.receive()).verdict is GossipVerdict.ACCEPT
        seen = []
        for case in cases:
            await trio.sleep(GOSSIP_PACE)
            await a.pubsub.publish(COORDINATORS_TOPIC, case.data)
            with trio.fail_after(10):
                seen.append((case, await outcomes.receive()))
        unchanged = r_topic.directory.all() == [RECORDED]
        honest = announce(COORDINATOR, seq=RECORDED_SEQ + 1)
        await c_topic.publish(honest)
        with trio.fail_after(10):
            heard = (await outcomes.receive()).verdict is GossipVerdict.ACCEPT and \
                await r_topic.directory.wait_for(COORDINATOR.address, min_seq=RECORDED_SEQ + 1,
                                                 timeout=5) == honest
        return seen, unchanged and heard, r.scores.score(str(a.peer_id)), \
            r.scores.score(str(c.peer_id))


#: requests that are not HTTP, or HTTP the server must refuse: a TLS hello, a bad length, a body
#: over any limit, a request line over the header limit
BAD_HTTP = [b"\x16\x03\x01\x02\x00garbage\r\n\r\n",
            b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: zz\r\n\r\n",
            b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: " + str(1 << 30).encode() + b"\r\n\r\n",
            b"GET /" + b"a" * 20_000 + b" HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n"]


async def http_exchange(address: tuple[str, int], request: bytes) -> tuple[int | None, bytes]:
    """Send raw bytes, read until the server closes: (status, body); status None if the server
    closed without answering."""
    stream = await trio.open_tcp_stream(*address)
    async with stream:
        await stream.send_all(request)
        answer = b""
        with trio.fail_after(10):
            while chunk := await stream.receive_some(65536):
                answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return (int(head.split()[1]) if head else None), body


def http_post(body: bytes) -> bytes:
    return (b"POST / HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-type: application/json\r\n"
            b"content-length: " + str(len(body)).encode() + b"\r\n\r\n" + body)


async def sequencer_wire_case(address: tuple[str, int], case: Case) -> Verdict:
    """`case`'s body POSTed over HTTP (or, bytes of BAD_HTTP, sent as they are): each answer a
    specific status and JSON-RPC error code."""
    request = case.data if case.kind == "bad http" else http_post(case.data)
    status, body = await http_exchange(address, request)
    if status is None:
        return Verdict("no answer", crash="the connection closed without an answer")
    if case.kind == "bad http":
        return Verdict(f"HTTP {status}") if 400 <= status < 500 else \
            Verdict(f"HTTP {status}", crash=f"HTTP {status} to bad HTTP")
    if status == 204:
        return rpc_verdict(None)
    if status != 200:
        return Verdict(f"HTTP {status}", crash=f"HTTP {status} to a JSON-RPC body")
    return rpc_verdict(body)


async def start_sequencer(nursery: trio.Nursery, datadir: Path) -> tuple[Any, Any]:
    """The real sequencer on an in-memory Rollup (`sequencer_fakes`: L1 is not the surface here),
    building no block unless asked, with account 0's transfer of nonce 0 accepted: (sequencer,
    that transfer)."""
    from sequencer.circuit_inputs import SMALL
    from sequencer.client import SequencerClient
    from sequencer.genesis import genesis_state
    from sequencer.service import Sequencer
    from sequencer_fakes import GENESIS, FakeRollup, Wallet, config

    account = Account.create()
    rollup = FakeRollup(genesis_state(SMALL.depth, GENESIS).root, account.address)
    sequencer = Sequencer(config(datadir, block_interval=3600), rollup, account,
                          rollup.bridge)
    await nursery.start(sequencer.run)
    accepted = Wallet(0).pay(1, 1)
    async with SequencerClient(sequencer.url, timeout=10) as client:
        await client.send_transfer(accepted)
    return sequencer, accepted


def sequencer_cases(sequencer, accepted: Any) -> st.SearchStrategy[Case]:
    rpc = sequencer.rpc
    return rpc_cases(transfer_json(refused_transfers(accepted)), rpc.max_body, rpc.max_batch)


async def honest_client_served(sequencer) -> bool:
    """An honest client's transfer (account 0's next) accepted."""
    from sequencer.client import SequencerClient
    from sequencer_fakes import Wallet

    async with SequencerClient(sequencer.url, timeout=10) as client:
        await client.send_transfer(Wallet(0, nonce=1).pay(2, 5))
        return (await client.account(0))["pendingNonce"] == 2
