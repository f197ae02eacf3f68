"""The coordinator announcement topic: signing, validation, and the directory it feeds.

Topic `/provernet/1/coordinators` carries `announce` messages. A coordinator
signs each with its Ethereum key (`signing.py`: EIP-191 over the Keccak-256 of
the canonical msgpack without the signature) and re-announces with a higher
`seq` and a fresh `timestamp` well within `announce_max_age` (a seq that keeps
growing across restarts without stored state is the timestamp in milliseconds).

Every node validates every announcement before gossipsub forwards it, in this
order (cheap checks before the registry lookup, which may be an L1 call):

1. size at most `max_gossip_bytes`                    -> reject (MessageTooLarge)
2. msgpack map, version, type, schema                 -> reject (Malformed..., SchemaViolation)
3. the type is `announce`                             -> reject (UnexpectedMessage)
4. the signature recovers to `coordinator`            -> reject (BadSignature)
5. `timestamp` within [now - max_age, now + skew]     -> ignore (StaleMessage)
6. `seq` above the last accepted for `coordinator`    -> ignore (ReplayedMessage)
7. `is_registered(coordinator)`                       -> reject (UnknownCoordinator), or
   ignore when the registry cannot be asked now (RegistryUnavailable: our L1, not the peer, is
   at fault, and penalising honest peers for it would cut us off the mesh)

Reject costs the peer that forwarded it its penalty; ignore drops the message
without blame (late or duplicate copies of honest messages look like that).
Messages forwarded by a banned peer are ignored. An accepted announcement
becomes its coordinator's entry in the `CoordinatorDirectory` at once, so the
next copy of it is already a replay.
"""

from __future__ import annotations

import dataclasses
import enum
import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import structlog
import trio
from eth_utils import to_checksum_address
from libp2p.peer.id import ID
from libp2p.pubsub.pb import rpc_pb2

from p2p import messages
from p2p.config import P2PConfig
from p2p.errors import (BadSignature, MessageTooLarge, P2PError, PeerBanned, RegistryUnavailable,
                        ReplayedMessage, StaleMessage, Timeout, UnexpectedMessage,
                        UnknownCoordinator)
from p2p.host import Node
from p2p.messages import Announce
from p2p.signing import recover_signer, sign_digest, signing_digest

log = structlog.get_logger(__name__)

COORDINATORS_TOPIC = "/provernet/1/coordinators"

IsRegistered = Callable[[str], bool | Awaitable[bool]]
"""Whether a checksummed address is a registered coordinator (may be async, e.g. an L1 call);
raises RegistryUnavailable when the registry cannot be asked now."""


def sign_announcement(private_key: bytes | str, fields: Mapping[str, Any]) -> Announce:
    """An `Announce` of `fields` (every field but `signature`) signed by `private_key`."""
    unsigned = Announce(**fields, signature=bytes(65))
    return dataclasses.replace(unsigned, signature=sign_digest(private_key, signing_digest(unsigned)))


class Verdict(enum.Enum):
    ACCEPT = "accept"
    REJECT = "reject"   # invalid: dropped, and the forwarding peer penalised
    IGNORE = "ignore"   # not useful (late, duplicate, banned sender): dropped without blame


@dataclass(frozen=True)
class Outcome:
    """What validation made of one gossip message."""
    peer: ID
    verdict: Verdict
    announcement: Announce | None = None
    error: P2PError | None = None


_IGNORED = (StaleMessage, ReplayedMessage, PeerBanned, RegistryUnavailable)


class CoordinatorDirectory:
    """The latest valid announcement of each coordinator, by checksummed address."""

    def __init__(self) -> None:
        self._latest: dict[str, Announce] = {}
        self._changed = trio.Event()

    def get(self, address: str) -> Announce | None:
        return self._latest.get(address)

    def all(self) -> list[Announce]:
        return list(self._latest.values())

    def active(self, now: int, max_age: int) -> list[Announce]:
        """Announcements at most `max_age` seconds old: coordinators that are still announcing."""
        return [a for a in self._latest.values() if a.timestamp >= now - max_age]

    def record(self, announcement: Announce) -> None:
        """Make `announcement` its coordinator's entry; ReplayedMessage unless its seq is higher."""
        address = to_checksum_address(announcement.coordinator)
        last = self._latest.get(address)
        if last is not None and announcement.seq <= last.seq:
            raise ReplayedMessage(announcement.seq, last.seq)
        self._latest[address] = announcement
        self._changed.set()
        self._changed = trio.Event()

    async def wait_for(self, address: str, *, min_seq: int = 0, timeout: float) -> Announce:
        """`address`'s entry once its seq is at least `min_seq`."""
        try:
            with trio.fail_after(timeout):
                while (entry := self._latest.get(address)) is None or entry.seq < min_seq:
                    await self._changed.wait()
        except trio.TooSlowError:
            raise Timeout(f"waiting for an announcement from {address}", timeout) from None
        return entry


class AnnouncementValidator:
    """The checks of the module docstring, against `directory`, `is_registered` and `now`."""

    def __init__(self, config: P2PConfig, directory: CoordinatorDirectory, is_registered: IsRegistered,
                 now: Callable[[], float] = time.time):
        self.config = config
        self.directory = directory
        self.is_registered = is_registered
        self.now = now

    async def check(self, data: bytes) -> Announce:
        """The announcement in `data` if it passes every check; the specific error if not."""
        limit = self.config.max_gossip_bytes
        if len(data) > limit:
            raise MessageTooLarge(len(data), limit)
        msg = messages.decode(data, limit=limit)
        if not isinstance(msg, Announce):
            raise UnexpectedMessage(messages.type_name(msg), (Announce.TYPE,))
        address = to_checksum_address(msg.coordinator)
        signer = recover_signer(signing_digest(msg), msg.signature)
        if signer != address:
            raise BadSignature(f"signed by {signer}, not by the announced coordinator {address}")
        now = int(self.now())
        if not now - self.config.announce_max_age <= msg.timestamp <= now + self.config.announce_max_skew:
            raise StaleMessage(msg.timestamp, now)
        last = self.directory.get(address)
        if last is not None and msg.seq <= last.seq:
            raise ReplayedMessage(msg.seq, last.seq)
        registered = self.is_registered(address)
        if inspect.isawaitable(registered):
            registered = await registered
        if not registered:
            raise UnknownCoordinator(address)
        return msg

    async def validate(self, peer: ID, data: bytes) -> Outcome:
        """Check `data` and, if it is valid, record it in the directory."""
        try:
            announcement = await self.check(data)
            # Checked again here, with no await since: another copy may have been
            # accepted while this one waited for the registry.
            self.directory.record(announcement)
        except _IGNORED as e:
            return Outcome(peer, Verdict.IGNORE, error=e)
        except P2PError as e:
            return Outcome(peer, Verdict.REJECT, error=e)
        return Outcome(peer, Verdict.ACCEPT, announcement=announcement)


class CoordinatorTopic:
    """This node's membership of the coordinators topic. Built by `join_coordinators`."""

    def __init__(self, node: Node, validator: AnnouncementValidator,
                 on_outcome: Callable[[Outcome], None] | None):
        self.node = node
        self.validator = validator
        self.directory = validator.directory
        self.on_outcome = on_outcome

    async def publish(self, announcement: Announce) -> None:
        """Gossip `announcement`; raises the specific error if it would not pass validation."""
        data = messages.encode(announcement)
        await self.validator.check(data)
        await self.node.pubsub.publish(COORDINATORS_TOPIC, data)

    async def wait_for_peer(self, peer_id: ID, *, timeout: float) -> None:
        """Until `peer_id` has told us it is subscribed (so a publish reaches it)."""
        try:
            await self.node.pubsub.wait_for_subscription(peer_id, COORDINATORS_TOPIC, timeout=timeout)
        except trio.TooSlowError:
            raise Timeout(f"waiting for {peer_id} to join {COORDINATORS_TOPIC}", timeout) from None

    async def _pubsub_validator(self, forwarder: ID, msg: rpc_pb2.Message) -> bool:
        if self.node.is_banned(forwarder):
            outcome = Outcome(forwarder, Verdict.IGNORE,
                              error=PeerBanned(str(forwarder), self.node.scores.ban_remaining(str(forwarder))))
        else:
            outcome = await self.validator.validate(forwarder, msg.data)
        if outcome.verdict is Verdict.REJECT:
            assert outcome.error is not None
            self.node.penalise(forwarder, outcome.error)
        log.debug("announcement validated", peer=str(forwarder), verdict=outcome.verdict.value,
                  error=None if outcome.error is None else str(outcome.error))
        if self.on_outcome is not None:
            self.on_outcome(outcome)
        return outcome.verdict is Verdict.ACCEPT


@asynccontextmanager
async def join_coordinators(node: Node, *, is_registered: IsRegistered, now: Callable[[], float] = time.time,
                            on_outcome: Callable[[Outcome], None] | None = None
                            ) -> AsyncIterator[CoordinatorTopic]:
    """Subscribe `node` to the coordinators topic with its validator, for the context's span.

    `on_outcome` sees every validation result (accepted, rejected or ignored, with the
    error), e.g. for metrics.
    """
    validator = AnnouncementValidator(node.config, CoordinatorDirectory(), is_registered, now)
    topic = CoordinatorTopic(node, validator, on_outcome)
    node.pubsub.set_topic_validator(COORDINATORS_TOPIC, topic._pubsub_validator, is_async_validator=True)
    subscription = await node.pubsub.subscribe(COORDINATORS_TOPIC)
    try:
        async with trio.open_nursery() as nursery:
            # The directory is fed by the validator; the subscription's queue only needs
            # emptying, or libp2p logs a warning for every message once it is full.
            nursery.start_soon(_drain, subscription)
            yield topic
            nursery.cancel_scope.cancel()
    finally:
        node.pubsub.remove_topic_validator(COORDINATORS_TOPIC)
        with trio.CancelScope(shield=True), trio.move_on_after(node.config.write_timeout):
            await node.pubsub.unsubscribe(COORDINATORS_TOPIC)


async def _drain(subscription: Any) -> None:
    async for _ in subscription:
        pass
