"""A running libp2p node: persisted identity, host, gossipsub, peer scores and bans.

`open_node` (an async context manager) and `run_node` (a trio service that hands
the node to `task_status.started`) both build the same thing: a host on TCP with
Noise and yamux (mplex as fallback) listening on the given multiaddr, with
gossipsub running, ready once its listen addresses are known. The identity key
lives in the node's data directory, so the peer id survives restarts.

Plaintext, TLS and SECIO, which py-libp2p offers by default, are left out:
Noise is the one security protocol every node speaks.
"""

from __future__ import annotations

import stat
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

import structlog
import trio
from libp2p import new_host
from libp2p.abc import IHost, INetConn, INetStream, INetwork, INotifee
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.crypto.keys import KeyPair, KeyType
from libp2p.crypto.serialization import deserialize_private_key
from libp2p.crypto.x25519 import create_new_key_pair as create_noise_key_pair
from libp2p.exceptions import BaseLibp2pError
from libp2p.network.config import ConnectionConfig
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import PeerInfo, info_from_p2p_addr
from libp2p.peer.peerstore import PeerStore
from libp2p.pubsub.gossipsub import PROTOCOL_ID, PROTOCOL_ID_V11, GossipSub
from libp2p.pubsub.pubsub import Pubsub
from libp2p.rcmgr import ResourceLimits, new_resource_manager
from libp2p.rcmgr.connection_limits import ConnectionLimits
from libp2p.security.noise.transport import PROTOCOL_ID as NOISE_PROTOCOL_ID
from libp2p.security.noise.transport import Transport as NoiseTransport
from libp2p.tools.anyio_service import background_trio_service
from multiaddr import Multiaddr

from atomicfile import write_atomically
from p2p.config import P2PConfig
from p2p.errors import DialFailed, KeyFileError, P2PError, PeerBanned, Timeout
from p2p.peers import PeerScores

log = structlog.get_logger(__name__)

IDENTITY_FILE = "libp2p.key"
DEFAULT_LISTEN = "/ip4/127.0.0.1/tcp/0"
_KEY_TYPES = (KeyType.Ed25519, KeyType.Secp256k1)


def load_or_create_identity(data_dir: Path) -> KeyPair:
    """The node's libp2p key pair from `data_dir/libp2p.key`, made on first use.

    The file holds the key in libp2p's protobuf form, mode 0600. It is written to a
    temporary file and renamed, so a crash never leaves half a key; the data
    directory's lock keeps two nodes from creating it at once.
    """
    path = Path(data_dir) / IDENTITY_FILE
    try:
        info = path.stat()
    except FileNotFoundError:
        return _create_identity(path)
    if stat.S_IMODE(info.st_mode) & 0o077:
        raise KeyFileError(path, f"readable by other users; run `chmod 600 {path}`")
    try:
        private_key = deserialize_private_key(path.read_bytes())
        public_key = private_key.get_public_key()
    except OSError as e:
        raise KeyFileError(path, e.strerror or str(e)) from None
    except Exception as e:  # protobuf and each key type fail in their own ways on bad bytes
        raise KeyFileError(path, f"not a libp2p private key ({e})") from None
    if private_key.get_type() not in _KEY_TYPES:
        raise KeyFileError(path, f"key type {private_key.get_type().name} is not Ed25519 or secp256k1")
    return KeyPair(private_key, public_key)


def _create_identity(path: Path) -> KeyPair:
    key_pair = create_new_key_pair()
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, key_pair.private_key.serialize(), durable=True, private=True)
    log.info("created libp2p identity", path=str(path), peer_id=str(ID.from_pubkey(key_pair.public_key)))
    return key_pair


class Node:
    """A started host with gossipsub, scores and bans. Built by `open_node`."""

    def __init__(self, host: IHost, pubsub: Pubsub, config: P2PConfig, scores: PeerScores,
                 nursery: trio.Nursery):
        self.host = host
        self.pubsub = pubsub
        self.config = config
        self.scores = scores
        self._nursery = nursery

    @property
    def peer_id(self) -> ID:
        return self.host.get_id()

    @property
    def addrs(self) -> list[str]:
        """Where peers reach this node, each ending in /p2p/<peer id>."""
        return [str(a) for a in self.host.get_addrs()]

    async def connect(self, addr: str) -> ID:
        """Connect to the peer at `addr` (a multiaddr ending in /p2p/<peer id>); its id."""
        try:
            info = info_from_p2p_addr(Multiaddr(addr))
        except ValueError as e:
            raise DialFailed(addr, f"not a multiaddr ending in /p2p/<peer id> ({e})") from None
        await self._dial(info, addr)
        return info.peer_id

    async def connect_peer(self, peer_id: ID, addrs: Sequence[str]) -> None:
        """Connect to `peer_id` at any of `addrs` (as an announcement lists them)."""
        suffix = Multiaddr(f"/p2p/{peer_id}")
        try:
            maddrs = [_without_peer(Multiaddr(a), suffix) for a in addrs]
        except ValueError as e:
            raise DialFailed(str(peer_id), f"bad address ({e})") from None
        if not maddrs:
            raise DialFailed(str(peer_id), "no addresses")
        await self._dial(PeerInfo(peer_id, maddrs), str(peer_id))

    async def connect_bootstrap(self, addrs: Sequence[str]) -> list[ID]:
        """Connect to each bootstrap address, at once; the peers reached. A node that
        is down costs a warning, not the start-up: others may be up."""
        reached: list[ID] = []

        async def one(addr: str) -> None:
            try:
                reached.append(await self.connect(addr))
            except P2PError as e:
                log.warning("bootstrap peer unreachable", error=str(e))

        async with trio.open_nursery() as nursery:
            for addr in addrs:
                nursery.start_soon(one, addr)
        return reached

    def is_banned(self, peer_id: ID) -> bool:
        return self.scores.is_banned(str(peer_id))

    def check_not_banned(self, peer_id: ID) -> None:
        remaining = self.scores.ban_remaining(str(peer_id))
        if remaining > 0:
            raise PeerBanned(str(peer_id), remaining)

    def penalise(self, peer_id: ID, error: P2PError) -> None:
        """Charge `peer_id` for `error`; a peer that falls below the threshold is banned
        and disconnected (its streams and gossip with it end; nobody else's do)."""
        if peer_id == self.peer_id:
            return  # our own message failing our own check is a bug here, not misbehaviour
        penalty = self.config.penalty_for(error)
        if penalty <= 0:
            return
        banned = self.scores.penalise(str(peer_id), error)
        log.info("peer penalised", peer=str(peer_id), penalty=penalty, score=self.scores.score(str(peer_id)),
                 error=str(error))
        if banned:
            log.warning("peer banned", peer=str(peer_id), seconds=self.config.ban_seconds)
            self._nursery.start_soon(self._disconnect, peer_id)

    async def _disconnect(self, peer_id: ID) -> None:
        with trio.move_on_after(self.config.dial_timeout):
            try:
                await self.host.disconnect(peer_id)
            except BaseLibp2pError as e:
                log.debug("disconnect failed", peer=str(peer_id), error=str(e))

    async def _dial(self, info: PeerInfo, label: str) -> None:
        self.check_not_banned(info.peer_id)
        # py-libp2p refuses, for 60 s, to dial a peer whose addresses all failed once (its
        # negative cache), so a coordinator restarted a second later would stay unreachable
        # for a minute. Each caller keeps its own bounded backoff (a roller's reconnect_max):
        # every dial we make is a real one.
        self.host.get_network().unblock_peer(info.peer_id)
        try:
            with trio.fail_after(self.config.dial_timeout):
                await self.host.connect(info)
        except trio.TooSlowError:
            raise Timeout(f"connecting to {label}", self.config.dial_timeout) from None
        except BaseLibp2pError as e:
            raise DialFailed(label, str(e) or type(e).__name__) from None


def _without_peer(addr: Multiaddr, suffix: Multiaddr) -> Multiaddr:
    return addr.decapsulate(suffix) if str(addr).endswith(str(suffix)) else addr


class _BanGate(INotifee):
    """Closes every new connection from a banned peer, whichever side dialled."""

    def __init__(self, scores: PeerScores):
        self.scores = scores

    async def connected(self, network: INetwork, conn: INetConn) -> None:
        peer = conn.muxed_conn.peer_id
        if self.scores.is_banned(str(peer)):
            log.info("refused connection from banned peer", peer=str(peer))
            await conn.close()

    async def disconnected(self, network: INetwork, conn: INetConn) -> None:
        pass

    async def opened_stream(self, network: INetwork, stream: INetStream) -> None:
        pass

    async def closed_stream(self, network: INetwork, stream: INetStream) -> None:
        pass

    async def listen(self, network: INetwork, multiaddr: Multiaddr) -> None:
        pass

    async def listen_close(self, network: INetwork, multiaddr: Multiaddr) -> None:
        pass


async def _close_listeners(host: IHost, timeout: float) -> None:
    """Close the host's listening sockets. py-libp2p's `host.run` leaves them open when it
    exits, so a node opened again on the same port in the same process (a restart on its data
    directory) would share the port with a dead listener, which takes half the connections."""
    network = host.get_network()
    with trio.CancelScope(shield=True), trio.move_on_after(timeout):
        for address, listener in list(network.listeners.items()):
            await listener.close()
            del network.listeners[address]


@asynccontextmanager
async def open_node(data_dir: Path, *, listen: str = DEFAULT_LISTEN, bootstrap: Sequence[str] = (),
                    config: P2PConfig | None = None) -> AsyncIterator[Node]:
    """A node listening on `listen`, connected to whichever `bootstrap` peers answer."""
    config = config or P2PConfig()
    key_pair = load_or_create_identity(data_dir)
    try:
        listen_addr = Multiaddr(listen)
    except ValueError as e:
        raise DialFailed(listen, f"cannot listen: not a multiaddr ({e})") from None
    host = new_host(
        key_pair=key_pair,
        sec_opt={NOISE_PROTOCOL_ID: NoiseTransport(key_pair, noise_privkey=create_noise_key_pair().private_key)},
        muxer_preference="YAMUX",
        listen_addrs=[listen_addr],
        negotiate_timeout=max(1, round(config.open_stream_timeout)),
        # py-libp2p's peer store evicts past 1,000 peers, its own entry first (it has no
        # addresses), after which publishing fails ("peer ID not found"): room for every peer a
        # node may hold a connection to, and as many again that it heard of.
        peerstore_opt=PeerStore(max_peers=2 * config.max_connections),
        # No minimum or low watermark: those feed the auto-connector, stopped below, and
        # py-libp2p keeps the minimum's slots out of the inbound ones.
        connection_config=ConnectionConfig(max_connections=config.max_connections,
                                           high_watermark=config.max_connections,
                                           min_connections=0, low_watermark=0),
        resource_manager=new_resource_manager(
            limits=ResourceLimits(max_connections=config.max_connections),
            connection_limits=ConnectionLimits(
                max_pending_inbound=config.max_pending_connections,
                max_pending_outbound=config.max_pending_connections,
                max_established_inbound=config.max_connections,
                max_established_outbound=config.max_connections,
                max_established_per_peer=config.max_connections_per_peer,
                max_established_total=config.max_connections)),
    )
    scores = PeerScores(config, clock=trio.current_time)
    host.get_network().register_notifee(_BanGate(scores))
    gossipsub = GossipSub(
        [PROTOCOL_ID_V11, PROTOCOL_ID],
        degree=config.gossip_degree,
        degree_low=config.gossip_degree_low,
        degree_high=config.gossip_degree_high,
        heartbeat_interval=config.gossip_heartbeat_seconds,
    )
    pubsub = Pubsub(host, gossipsub, max_inbound_rpc_size=config.max_gossip_rpc_bytes,
                    validation_timeout=config.gossip_validation_timeout)
    # Gossipsub runs outside the host, so that on the way out the host stops first: a
    # connection still delivering gossip to a stopped pubsub makes py-libp2p's swarm fail
    # ("Nursery is closed to new arrivals").
    async with background_trio_service(pubsub), background_trio_service(gossipsub):
        async with host.run(listen_addrs=[listen_addr]):
            with trio.fail_after(config.open_stream_timeout):
                await pubsub.wait_until_ready()
            # py-libp2p's auto-connector dials every peer in the peerstore (banned ones
            # included) to keep 150 connections. Peers here connect on purpose (bootstrap,
            # announcements), so it is stopped once the swarm has started it.
            await host.get_network().auto_connector.stop()
            try:
                async with trio.open_nursery() as nursery:
                    node = Node(host, pubsub, config, scores, nursery)
                    log.info("p2p node started", peer_id=str(node.peer_id), addrs=node.addrs)
                    if bootstrap:
                        await node.connect_bootstrap(bootstrap)
                    try:
                        yield node
                    finally:
                        nursery.cancel_scope.cancel()
            finally:
                await _close_listeners(host, config.dial_timeout)


async def run_node(data_dir: Path, *, listen: str = DEFAULT_LISTEN, bootstrap: Sequence[str] = (),
                   config: P2PConfig | None = None,
                   task_status: trio.TaskStatus[Node] = trio.TASK_STATUS_IGNORED) -> None:
    """`open_node` as a trio service: `await nursery.start(run_node, ...)` returns the node."""
    async with open_node(data_dir, listen=listen, bootstrap=bootstrap, config=config) as node:
        task_status.started(node)
        await trio.sleep_forever()
