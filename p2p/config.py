"""Every tunable of the network layer, in one place, with its default and why.

Bounds that every node must agree on (field lengths, list sizes) are part of the
wire protocol and live in `messages.py`; what is here is local policy that each
node may set for itself. docs/network.md has the same table.
"""

from __future__ import annotations

from dataclasses import dataclass

from p2p import errors
from p2p.messages import MAX_ARTIFACT_CHUNK_BYTES

# Noise carries at most 65,535 bytes per transport message (ciphertext, tag included).
NOISE_MAX_FRAME = 65_535


@dataclass(frozen=True)
class P2PConfig:
    # --- sizes -----------------------------------------------------------------------------
    max_frame_bytes: int = 1 << 20
    """Largest session or artifact frame (1 MiB): a block task with its circuit inputs fits."""
    max_gossip_bytes: int = 4096
    """Largest encoded announcement; a full one (8 addresses, 16 circuits) is about 2.5 KiB."""
    max_gossip_rpc_bytes: int = 64 << 10
    """Largest gossipsub RPC frame libp2p reads (its own default is 1 MiB)."""
    write_chunk_bytes: int = NOISE_MAX_FRAME
    """Largest single write to a stream, so each fits one Noise frame."""
    artifact_chunk_bytes: int = 256 << 10
    """Artifact data per chunk message."""
    artifact_max_bytes: int = 4 << 30
    """Largest artifact a node fetches (a large-profile .zkey is a few hundred MiB)."""
    max_connections: int = 2048
    """Connections a node keeps, inbound and outbound: a coordinator holds one per roller
    session. py-libp2p's defaults (300, of them 250 inbound, pruned above 300; 256 inbound in
    its resource manager) refused the 251st roller of a coordinator."""
    max_pending_connections: int = 64
    """Connections being set up at once, each way (TCP accepted or dialled, Noise and the muxer
    not yet agreed): a burst of rollers connecting after a coordinator's restart queues here."""
    max_connections_per_peer: int = 8
    """Connections to one peer at once: a node needs one; a few more cover redials racing the
    old connection's close."""

    # --- timeouts (seconds) -------------------------------------------------------------------
    dial_timeout: float = 10.0
    """Connecting to a peer (TCP, Noise, muxer negotiation)."""
    open_stream_timeout: float = 10.0
    """Opening a stream and agreeing on its protocol."""
    read_timeout: float = 30.0
    """Receiving one whole frame unless the caller gives its own limit."""
    write_timeout: float = 30.0
    """Sending one whole frame."""
    frame_timeout: float = 30.0
    """Receiving the rest of a frame once its first byte has come, whatever the reader's own
    limit (a session waits for its next frame without one): a peer that stops inside a frame is
    cut off and penalised. A 1 MiB frame needs 35 KiB/s to arrive in time."""

    # --- gossip ---------------------------------------------------------------------------------
    announce_max_age: int = 300
    """An announcement older than this (seconds by its timestamp) is stale; coordinators re-announce
    well within it."""
    announce_max_skew: int = 30
    """How far in the future an announcement's timestamp may be (clock skew)."""
    gossip_degree: int = 6
    """Peers each node keeps in its gossipsub mesh for the topic (gossipsub's D)."""
    gossip_degree_low: int = 4
    """Below this many mesh peers, the heartbeat grafts more (D_low)."""
    gossip_degree_high: int = 12
    """Above this many mesh peers, the heartbeat prunes some (D_high)."""
    gossip_heartbeat_seconds: int = 1
    """Mesh maintenance interval (libp2p's default of 120 s leaves new peers out for minutes)."""
    gossip_validation_timeout: float = 5.0
    """How long one announcement's validation (its registry lookup included) may take; a
    message still unchecked then is dropped."""

    # --- peer scores ----------------------------------------------------------------------------
    ban_threshold: float = -100.0
    """A peer whose score falls to or below this is banned."""
    ban_seconds: float = 600.0
    """How long a ban lasts: the peer is disconnected and its connections refused."""
    score_recovery_per_second: float = 0.1
    """Points a penalised peer regains per second, up to 0, so rare faults do not add up to a ban."""
    penalty_message_too_large: float = 50.0
    """A message past the protocol's bounds: no honest encoder makes one; two ban."""
    penalty_malformed: float = 50.0
    """Bytes that are not a message (bad msgpack, not a map): two ban."""
    penalty_unsupported_version: float = 5.0
    """Small: an honest peer may be running a newer release."""
    penalty_unknown_type: float = 10.0
    """Small: a newer release may send a type this one does not know yet."""
    penalty_schema_violation: float = 50.0
    """A known message with a field missing, unknown or out of bounds: two ban."""
    penalty_protocol_violation: float = 25.0
    """A well-formed message out of turn (an answer never asked for, a chunk past the total)."""
    penalty_incomplete_frame: float = 10.0
    """Small: an honest peer killed or cut off while writing leaves half a frame too; ten within
    a few minutes (recovery below) ban."""
    penalty_bad_signature: float = 100.0
    """One forgery bans at the default threshold."""
    penalty_unknown_coordinator: float = 25.0
    """Not a ban at once: a registration may not have reached our L1 view yet."""
    penalty_artifact_mismatch: float = 100.0
    """Bytes that do not hash to the artifact asked for: a lie, one bans."""
    penalty_stale: float = 0.0
    """Gossip delivers late copies of honest messages; they are ignored, not punished."""
    penalty_replayed: float = 0.0
    """Duplicates arrive from several mesh peers; they are ignored, not punished."""

    def __post_init__(self) -> None:
        if not 0 < self.write_chunk_bytes <= NOISE_MAX_FRAME:
            raise errors.ConfigError(f"write_chunk_bytes must be in 1..{NOISE_MAX_FRAME}")
        # An artifact chunk plus its message envelope (< 200 bytes) must fit one frame.
        if self.artifact_chunk_bytes + 256 > self.max_frame_bytes:
            raise errors.ConfigError("artifact_chunk_bytes must be at least 256 below max_frame_bytes")
        if not 0 < self.artifact_chunk_bytes <= MAX_ARTIFACT_CHUNK_BYTES:
            raise errors.ConfigError(f"artifact_chunk_bytes must be in 1..{MAX_ARTIFACT_CHUNK_BYTES}")
        if self.max_gossip_bytes >= self.max_gossip_rpc_bytes:
            raise errors.ConfigError("max_gossip_bytes must be below max_gossip_rpc_bytes")
        if self.frame_timeout <= 0:
            raise errors.ConfigError("frame_timeout must be positive")
        if self.ban_threshold >= 0:
            raise errors.ConfigError("ban_threshold must be negative")

    def penalty_for(self, error: errors.P2PError) -> float:
        """Points taken from a peer whose message caused `error` (0 for local conditions)."""
        for cls in type(error).__mro__:
            name = _PENALTIES.get(cls)
            if name is not None:
                return getattr(self, name)
        return 0.0


# Subclasses inherit their parent's penalty (UnexpectedMessage is a ProtocolViolation).
_PENALTIES: dict[type, str] = {
    errors.MessageTooLarge: "penalty_message_too_large",
    errors.MalformedMessage: "penalty_malformed",
    errors.IncompleteFrame: "penalty_incomplete_frame",
    errors.UnsupportedVersion: "penalty_unsupported_version",
    errors.UnknownMessageType: "penalty_unknown_type",
    errors.SchemaViolation: "penalty_schema_violation",
    errors.ProtocolViolation: "penalty_protocol_violation",
    errors.BadSignature: "penalty_bad_signature",
    errors.UnknownCoordinator: "penalty_unknown_coordinator",
    errors.ArtifactHashMismatch: "penalty_artifact_mismatch",
    errors.StaleMessage: "penalty_stale",
    errors.ReplayedMessage: "penalty_replayed",
}
