"""Errors of the network layer.

Everything `p2p` raises is a `P2PError` whose message is one line saying what
went wrong. Errors caused by what a peer sent carry a penalty in
`P2PConfig.penalty_for` (see docs/network.md); the rest (timeouts, closed
streams, our own configuration) are local conditions.
"""

from __future__ import annotations


class P2PError(Exception):
    """Root of every error raised by `p2p`."""


class ConfigError(P2PError):
    """A `P2PConfig` whose values contradict each other (e.g. a chunk that cannot fit a frame)."""


class KeyFileError(P2PError):
    """The node's identity key file is unreadable, corrupt, or readable by others."""

    def __init__(self, path: object, reason: str):
        super().__init__(f"identity key {path}: {reason}")
        self.path = path
        self.reason = reason


class DialFailed(P2PError):
    """A peer could not be reached at the given address."""

    def __init__(self, addr: str, reason: str):
        super().__init__(f"cannot connect to {addr}: {reason}")
        self.addr = addr
        self.reason = reason


class Timeout(P2PError):
    """A network wait ran past its limit."""

    def __init__(self, what: str, seconds: float):
        super().__init__(f"{what} timed out after {seconds:g} s")
        self.what = what
        self.seconds = seconds


class StreamClosed(P2PError):
    """The stream ended (closed or reset by either side) before the exchange finished."""

    def __init__(self, reason: str):
        super().__init__(f"stream closed: {reason}")
        self.reason = reason


class IncompleteFrame(P2PError):
    """The peer ended the stream, or stopped sending, inside a frame: a peer cut off mid-write
    leaves one (a small penalty), a peer that holds a reader with half a frame is cut off."""

    def __init__(self, reason: str, received: int):
        super().__init__(f"incomplete frame: {reason} ({received} bytes of it received)")
        self.reason = reason
        self.received = received


class PeerBanned(P2PError):
    """The peer is banned here for misbehaving; nothing is sent to or taken from it."""

    def __init__(self, peer: str, seconds_left: float):
        super().__init__(f"peer {peer} is banned for another {seconds_left:.0f} s")
        self.peer = peer
        self.seconds_left = seconds_left


class MessageTooLarge(P2PError):
    """A frame or gossip message longer than the limit; it is dropped unread."""

    def __init__(self, size: int, limit: int):
        super().__init__(f"message of {size} bytes exceeds the limit of {limit} bytes")
        self.size = size
        self.limit = limit


class MalformedMessage(P2PError):
    """Bytes that are not one msgpack map with a version and a type."""

    def __init__(self, reason: str):
        super().__init__(f"malformed message: {reason}")
        self.reason = reason


class UnsupportedVersion(P2PError):
    """A message of a protocol version this node does not speak."""

    def __init__(self, v: object):
        super().__init__(f"unsupported protocol version {v!r}")
        self.v = v


class UnknownMessageType(P2PError):
    """A message whose `type` is in no schema."""

    def __init__(self, type: object):
        super().__init__(f"unknown message type {type!r}")
        self.type = type


class SchemaViolation(P2PError):
    """A message field that is missing, unknown, of the wrong type, or out of bounds."""

    def __init__(self, field: str, reason: str):
        super().__init__(f"field {field!r}: {reason}")
        self.field = field
        self.reason = reason


class ProtocolViolation(P2PError):
    """A well-formed message that breaks the exchange's rules (e.g. a chunk at the wrong offset)."""

    def __init__(self, reason: str):
        super().__init__(f"protocol violation: {reason}")
        self.reason = reason


class UnexpectedMessage(ProtocolViolation):
    """A valid message of a type the exchange does not allow at this point."""

    def __init__(self, type: str, expected: tuple[str, ...]):
        super().__init__(f"got {type!r}, expected one of {', '.join(expected)}")
        self.type = type
        self.expected = expected


class RemoteError(P2PError):
    """The peer ended the exchange with an `error` message."""

    def __init__(self, code: str, reason: str):
        super().__init__(f"peer reported {code}: {reason}")
        self.code = code
        self.reason = reason


class BadSignature(P2PError):
    """A signature that does not parse, or that recovers to another address than the claimed one."""

    def __init__(self, reason: str):
        super().__init__(f"bad signature: {reason}")
        self.reason = reason


class UnknownCoordinator(P2PError):
    """An announcement signed by an address the registry does not list as a coordinator."""

    def __init__(self, address: str):
        super().__init__(f"{address} is not a registered coordinator")
        self.address = address


class RegistryUnavailable(P2PError):
    """The registry cannot be asked now (our L1 endpoint is down or slow): the announcement is
    dropped without blame, since the peer that forwarded it may well be right."""


class StaleMessage(P2PError):
    """A timestamp outside the freshness window around our clock."""

    def __init__(self, timestamp: int, now: int):
        super().__init__(f"timestamp {timestamp} is outside the freshness window at {now}")
        self.timestamp = timestamp
        self.now = now


class ReplayedMessage(P2PError):
    """A sequence number not above the last one accepted from the same sender."""

    def __init__(self, seq: int, last_seq: int):
        super().__init__(f"sequence number {seq} is not above the last accepted {last_seq}")
        self.seq = seq
        self.last_seq = last_seq


class ArtifactNotFound(P2PError):
    """The peer does not have the requested artifact."""

    def __init__(self, digest: bytes):
        super().__init__(f"peer has no artifact {digest.hex()}")
        self.digest = digest


class ArtifactHashMismatch(P2PError):
    """The bytes received do not hash to the requested artifact; nothing was written."""

    def __init__(self, expected: bytes, actual: bytes):
        super().__init__(f"artifact {expected.hex()} arrived as {actual.hex()}")
        self.expected = expected
        self.actual = actual


class ListenError(P2PError):
    """A node's HTTP server (`p2p.http_server`: the metrics and health server, the sequencer's
    API, the embedded L1 chain's JSON-RPC) cannot listen on its address."""
