"""Message schemas: valid and invalid cases side by side, round trips, signatures."""

from __future__ import annotations

import dataclasses

import msgpack
import pytest
from eth_account import Account
from hypothesis import given, settings
from hypothesis import strategies as st

from fuzz_strategies import any_message
from p2p import messages as m
from p2p.config import P2PConfig
from p2p.errors import (BadSignature, MalformedMessage, MessageTooLarge, P2PError, SchemaViolation,
                        UnknownMessageType, UnsupportedVersion)
from p2p.signing import recover_signer, sign_digest, signing_digest

LIMIT = 1 << 20
H = bytes(range(32))
ADDR = bytes(range(20))
SIG = bytes(65)
STATEMENT = bytes(range(100, 132))
#: a proof as its system encodes it: opaque to p2p (a Groth16 proof is 256 bytes)
PROOF_BYTES = bytes(range(256))
ITEM = m.BatchItem(index=7, system="groth16", proof=PROOF_BYTES, public=(1, 2, 3, 2**256 - 1))

# One valid instance of every message type.
EXAMPLES = [
    m.Announce(coordinator=ADDR, peer_id=b"\x00\x24" + bytes(36), addrs=("/ip4/127.0.0.1/tcp/4001",),
               chain_id=31337, staking=ADDR, rollup=ADDR, circuits=(H,), seq=1, timestamp=1_700_000_000,
               signature=SIG),
    m.Hello(roller=ADDR, versions=(1,)),
    m.Challenge(nonce=H, coordinator=ADDR, chain_id=1, expires_at=1_700_000_030),
    m.Auth(signature=SIG),
    m.Welcome(weight=10**24 * 5000, session=bytes(16)),
    m.Refused(code="not_staked", reason="no active stake"),
    m.Task(task_id=H, kind="block", index=3, round=0, seed=H, slots=2, statement=STATEMENT, open=False,
           assigned_at=10, deadline=40, close_at=70, circuit=H, inputs=b'{"oldRoot": "1"}',
           signature=SIG),
    m.Accept(task_id=H),
    m.Decline(task_id=H, reason="busy"),
    m.Proof(task_id=H, statement=STATEMENT, system="groth16", proof=PROOF_BYTES, signature=SIG),
    m.Receipt(task_id=H, status="late", reason=""),
    m.Error(code="internal", reason="try later"),
    m.Ping(nonce=5),
    m.Pong(nonce=5),
    m.ArtifactRequest(hash=H, offset=0),
    m.ArtifactChunk(hash=H, offset=0, total=3, data=b"abc"),
    m.ArtifactMissing(hash=H),
    m.Aggregate(task_id=H, statement=STATEMENT, system="groth16", aggregate=bytes(range(100)) * 6,
                signature=SIG),
    m.Cancel(task_id=H, reason="block 7 was reverted"),
]
BATCH = m.Task(task_id=H, kind="batch", index=1, round=2, seed=H, slots=1, statement=STATEMENT,
               open=False, assigned_at=10, deadline=40, close_at=70, circuit=H, inputs=(ITEM, ITEM),
               signature=SIG)
#: a task open to every staked roller: one slot, no deadline
OPEN = dataclasses.replace(EXAMPLES[6], round=3, slots=1, open=True, deadline=m.NO_DEADLINE,
                           close_at=m.NO_DEADLINE)


def test_every_message_type_has_an_example():
    assert {m.type_name(x) for x in EXAMPLES} == set(m.MESSAGE_TYPES)


@pytest.mark.parametrize("msg", EXAMPLES + [BATCH, OPEN], ids=lambda x: m.type_name(x))
def test_valid_messages_round_trip(msg):
    assert m.decode(m.encode(msg), limit=LIMIT) == msg


def _wire(msg) -> dict:
    return msgpack.unpackb(m.encode(msg), raw=False)


def _put(wire: dict, path: list, value) -> dict:
    target = wire
    for key in path[:-1]:
        target = target[key]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return wire


_DELETE = object()
ANNOUNCE, TASK, PROOF, AGGREGATE = EXAMPLES[0], EXAMPLES[6], EXAMPLES[9], EXAMPLES[17]

# (valid message, where to change its wire form, the bad value, the field the error names).
INVALID = [
    (TASK, ["index"], -1, "index"),
    (TASK, ["index"], -(2**63), "index"),
    (TASK, ["round"], True, "round"),
    (TASK, ["deadline"], 1.5, "deadline"),
    (TASK, ["seed"], bytes(31), "seed"),
    (TASK, ["seed"], "00" * 32, "seed"),
    (TASK, ["kind"], "blob", "kind"),
    (TASK, ["inputs"], b"x" * (m.MAX_BLOCK_INPUTS_BYTES + 1), "inputs"),
    (TASK, ["inputs"], [], "inputs"),                       # a block carries bytes, not proofs
    (BATCH, ["inputs"], b"{}", "inputs"),                   # a batch carries proofs, not bytes
    (BATCH, ["inputs"], [], "inputs"),
    (BATCH, ["inputs", 0, "proof"], [1], "inputs[0].proof"),
    (BATCH, ["inputs", 0, "proof"], bytes(m.MAX_PROOF_BYTES + 1), "inputs[0].proof"),
    (BATCH, ["inputs", 0, "system"], "g" * (m.MAX_SYSTEM_CHARS + 1), "inputs[0].system"),
    (BATCH, ["inputs", 1, "public", 0], 5, "inputs[1].public[0]"),  # a uint256 travels as 32 bytes
    (BATCH, ["inputs", 0, "extra"], 1, "inputs[0].extra"),
    (TASK, ["task_id"], _DELETE, "task_id"),
    (TASK, ["priority"], 1, "priority"),
    (TASK, ["slots"], 0, "slots"),                          # a task holds at least one slot
    (TASK, ["slots"], m.MAX_SLOTS + 1, "slots"),
    (TASK, ["slots"], _DELETE, "slots"),
    (TASK, ["statement"], bytes(31), "statement"),
    (TASK, ["statement"], _DELETE, "statement"),
    (TASK, ["open"], 1, "open"),                            # a flag is true or false, not 1
    (TASK, ["open"], "yes", "open"),
    (TASK, ["open"], _DELETE, "open"),
    (PROOF, ["statement"], bytes(33), "statement"),
    (PROOF, ["statement"], _DELETE, "statement"),
    (PROOF, ["public"], [bytes(32)] * 4, "public"),         # inputs come from L1, not the roller
    (AGGREGATE, ["statement"], None, "statement"),
    (PROOF, ["proof"], bytes(m.MAX_PROOF_BYTES + 1), "proof"),
    (PROOF, ["system"], _DELETE, "system"),
    (PROOF, ["system"], 16, "system"),
    (AGGREGATE, ["aggregate"], bytes(m.MAX_AGGREGATE_BYTES + 1), "aggregate"),
    (AGGREGATE, ["system"], "g" * (m.MAX_SYSTEM_CHARS + 1), "system"),
    (PROOF, ["signature"], bytes(64), "signature"),
    (ANNOUNCE, ["circuits"], [H] * (m.MAX_CIRCUITS + 1), "circuits"),
    (ANNOUNCE, ["addrs"], ["/ip4/1.2.3.4/tcp/1/" + "x" * m.MAX_ADDR_CHARS], "addrs[0]"),
    (ANNOUNCE, ["addrs"], "/ip4/1.2.3.4/tcp/1", "addrs"),
    (ANNOUNCE, ["peer_id"], bytes(m.MAX_PEER_ID_BYTES + 1), "peer_id"),
    (EXAMPLES[1], ["versions"], [], "versions"),
    (EXAMPLES[10], ["status"], "maybe", "status"),
    (EXAMPLES[11], ["reason"], "r" * (m.MAX_REASON_CHARS + 1), "reason"),
]


@pytest.mark.parametrize("msg, path, bad, field", INVALID,
                         ids=[f"{m.type_name(c[0])}-{c[3]}" for c in INVALID])
def test_invalid_fields_are_named(msg, path, bad, field):
    valid = _wire(msg)
    assert m.decode(msgpack.packb(valid, use_bin_type=True), limit=LIMIT) == msg
    invalid = msgpack.packb(_put(valid, path, bad), use_bin_type=True)
    with pytest.raises(SchemaViolation) as caught:
        m.decode(invalid, limit=LIMIT)
    assert caught.value.field == field


@pytest.mark.parametrize("data, error", [
    (msgpack.packb([1, 2]), MalformedMessage),
    (msgpack.packb({"type": "ping", "nonce": 1}), MalformedMessage),
    (msgpack.packb({"v": 2, "type": "ping", "nonce": 1}), UnsupportedVersion),
    (msgpack.packb({"v": True, "type": "ping", "nonce": 1}), UnsupportedVersion),
    (msgpack.packb({"v": 1.0, "type": "ping", "nonce": 1}), UnsupportedVersion),
    (msgpack.packb({"v": 1, "nonce": 1}), MalformedMessage),
    (msgpack.packb({"v": 1, "type": "gossip", "nonce": 1}), UnknownMessageType),
    (msgpack.packb({"v": 1, "type": "ping", "nonce": 1}) + b"\x00", MalformedMessage),
    (b"\xc1", MalformedMessage),                                     # a byte msgpack never uses
    (b"\x81\xa1v\x01\xd9\x02\xff\xfe", MalformedMessage),            # a str that is not UTF-8
    (msgpack.packb({1: 1}), MalformedMessage),                       # a key that is not a string
    (msgpack.packb({"v": 1, "type": "ping", "nonce": msgpack.ExtType(1, b"")}), SchemaViolation),
    (b"", MalformedMessage),
])
def test_envelope_errors(data, error):
    with pytest.raises(error):
        m.decode(data, limit=LIMIT)


def test_the_largest_valid_messages_fit_the_default_limits():
    config = P2PConfig()
    biggest_announce = dataclasses.replace(
        ANNOUNCE, peer_id=bytes(m.MAX_PEER_ID_BYTES), addrs=("a" * m.MAX_ADDR_CHARS,) * m.MAX_ADDRS,
        circuits=(H,) * m.MAX_CIRCUITS, chain_id=2**64 - 1, seq=2**64 - 1, timestamp=2**64 - 1)
    assert len(m.encode(biggest_announce)) <= config.max_gossip_bytes
    item = dataclasses.replace(ITEM, index=2**64 - 1, system="g" * m.MAX_SYSTEM_CHARS,
                               proof=bytes(m.MAX_PROOF_BYTES),
                               public=(2**256 - 1,) * m.MAX_PUBLIC_INPUTS)
    for task in (dataclasses.replace(TASK, inputs=bytes(m.MAX_BLOCK_INPUTS_BYTES)),
                 dataclasses.replace(BATCH, inputs=(item,) * m.MAX_BATCH_PROOFS)):
        assert len(m.encode(task)) <= config.max_frame_bytes
    aggregate = dataclasses.replace(AGGREGATE, aggregate=bytes(m.MAX_AGGREGATE_BYTES))
    assert len(m.encode(aggregate)) <= config.max_frame_bytes
    chunk = m.ArtifactChunk(hash=H, offset=2**64 - 1, total=2**64 - 1, data=bytes(config.artifact_chunk_bytes))
    assert len(m.encode(chunk)) <= config.max_frame_bytes


def test_size_is_checked_before_parsing():
    with pytest.raises(MessageTooLarge) as caught:
        m.decode(b"\xc1" * 101, limit=100)
    assert (caught.value.size, caught.value.limit) == (101, 100)


def test_encode_refuses_what_decode_would():
    with pytest.raises(SchemaViolation):
        m.encode(dataclasses.replace(TASK, index=-1))
    with pytest.raises(SchemaViolation):
        m.encode(dataclasses.replace(TASK, index=2**64))  # more than msgpack's integers carry
    with pytest.raises(SchemaViolation):
        m.encode(dataclasses.replace(PROOF, proof=bytes(m.MAX_PROOF_BYTES + 1)))
    with pytest.raises(SchemaViolation):
        m.encode(dataclasses.replace(TASK, slots=0))
    with pytest.raises(SchemaViolation):
        m.encode(dataclasses.replace(TASK, open=0))
    with pytest.raises(TypeError):
        m.encode(ITEM)  # a nested record is not a message


def test_encoding_is_canonical():
    wire = _wire(TASK)
    shuffled = msgpack.packb(dict(reversed(list(wire.items()))), use_bin_type=True)
    assert m.encode(m.decode(shuffled, limit=LIMIT)) == m.encode(TASK)
    assert signing_digest(m.decode(shuffled, limit=LIMIT)) == signing_digest(TASK)


def test_signatures_cover_every_field_but_the_signature():
    account = Account.create()
    unsigned = dataclasses.replace(TASK, signature=bytes(65))
    signed = dataclasses.replace(unsigned, signature=sign_digest(account.key, signing_digest(unsigned)))
    assert recover_signer(signing_digest(signed), signed.signature) == account.address
    tampered = dataclasses.replace(signed, deadline=signed.deadline + 1)
    assert recover_signer(signing_digest(tampered), tampered.signature) != account.address
    with pytest.raises(BadSignature):
        recover_signer(signing_digest(signed), bytes(65))


# --- property tests: strategies come from the same schema table (fuzz_strategies) -------------

@settings(max_examples=300, deadline=None)
@given(any_message)
def test_any_valid_message_round_trips(msg):
    data = m.encode(msg)
    assert m.decode(data, limit=LIMIT) == msg
    assert m.encode(m.decode(data, limit=LIMIT)) == data


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=200), any_message.map(m.encode).flatmap(
    lambda data: st.tuples(st.integers(0, len(data) - 1), st.integers(0, 255)).map(
        lambda change: data[:change[0]] + bytes([change[1]]) + data[change[0] + 1:]))))
def test_arbitrary_bytes_raise_only_p2p_errors(data):
    try:
        m.decode(data, limit=LIMIT)
    except P2PError:
        pass
