"""Discovery: which coordinators the roller serves, and for which rollup.

`Discovery.run` joins the coordinators' gossip topic; `p2p.gossip` validates each announcement
against the registry on L1 (`Market.coordinator_rollup`, asked here: `is_registered`), and the
accepted ones come to a loop that decides whether to serve the announcer. A coordinator is served
when its chain id and staking contract are the deployment's (and `config.coordinators` lists it,
if set), the registry binds it to the rollup it announces, and that rollup is one this roller
serves (`ServedRollup`: enabled in the staking contract, listed in `config.rollups` if that is
set, and this release's Rollup contract). Each coordinator newly served goes to the sessions'
supervisor (`roller.intake`) on a zero-buffer channel; the supervisor asks again
(`check_served`) before each reconnection: a coordinator whose rollup is no longer served, or
that stopped announcing itself, is dropped until it announces again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import structlog
import trio
from eth_utils import to_checksum_address
from libp2p.peer.id import ID

from market_contracts.bindings import Market
from market_contracts.chain import Chain
from market_contracts.deploy import Deployment, RollupDeployment
from market_contracts.rollup import Rollup
from p2p.errors import RegistryUnavailable
from p2p.gossip import CoordinatorDirectory, Outcome, Verdict, join_coordinators
from p2p.host import Node
from p2p.messages import Announce
from roller.config import RollerConfig
from roller.errors import L1_UNAVAILABLE, RollerError

log = structlog.get_logger(__name__)


class NotServed(RollerError):
    """An announced coordinator, or its rollup, this roller does not serve; the message says
    why."""


@dataclass(frozen=True)
class ServedRollup:
    """A rollup this roller serves, as L1 wires it: its contract, its entry (the batch verifier
    it finalizes with, and the block verifier the staking contract slashes its proofs with, both
    read from L1, not from a file) and its batch size. Read once: the deployer adds a rollup and
    its block verifier once, and the rest is the Rollup's code."""

    rollup: Rollup
    entry: RollupDeployment
    batch_size: int

    @property
    def address(self) -> str:
        return self.rollup.address


class Discovery:
    """The coordinators and rollups served; see the module docstring."""

    def __init__(self, config: RollerConfig, chain: Chain, deployment: Deployment,
                 market: Market, clock: Callable[[], float]):
        self.config = config
        self.chain = chain
        self.deployment = deployment
        self.market = market
        self._clock = clock
        #: the gossip topic's latest announcement per coordinator, once `run` has joined it
        self.directory: CoordinatorDirectory | None = None
        #: an announcement older than this is stale (`P2PConfig.announce_max_age`, from `run`)
        self._announce_max_age = 0.0
        #: coordinators served now (a session open, or being reconnected)
        self.serving: set[str] = set()
        #: announced but not served, with why
        self.ignored: dict[str, str] = {}
        #: the rollups served, by address
        self.rollups: dict[str, ServedRollup] = {}
        #: each served coordinator's rollup: its tasks are of it
        self.rollup_of: dict[str, ServedRollup] = {}
        #: coordinator -> (the rollup the registry binds it to, until when that is trusted)
        self._registered: dict[str, tuple[str, float]] = {}
        #: rollups refused, with why and until when
        self._refused_rollups: dict[str, tuple[str, float]] = {}

    async def run(self, node: Node, serve: trio.MemorySendChannel[str], *,
                  task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Join the gossip topic on `node`; send each coordinator to serve on `serve`."""
        self._announce_max_age = node.config.announce_max_age
        send, announcements = trio.open_memory_channel[Announce](self.config.announcement_queue)

        def on_outcome(outcome: Outcome) -> None:
            if outcome.verdict is Verdict.ACCEPT and outcome.announcement is not None:
                try:
                    send.send_nowait(outcome.announcement)
                except trio.WouldBlock:
                    pass  # discovery is behind; the coordinator announces again shortly

        async with join_coordinators(node, is_registered=self.is_registered, now=self._clock,
                                     on_outcome=on_outcome) as topic:
            self.directory = topic.directory
            task_status.started()
            async for ann in announcements:
                await self._consider(ann, serve)

    async def _consider(self, ann: Announce, serve: trio.MemorySendChannel[str]) -> None:
        address = to_checksum_address(ann.coordinator)
        if address in self.serving:
            return
        try:
            served = await self.rollup_to_serve(ann)
        except NotServed as exc:
            if self.ignored.get(address) != str(exc):
                log.info("not serving coordinator", coordinator=address, reason=str(exc))
                self.ignored[address] = str(exc)
            return
        self.ignored.pop(address, None)
        self.serving.add(address)
        self.rollup_of[address] = served
        log.info("serving coordinator", coordinator=address, peer=str(ID(ann.peer_id)),
                 rollup=served.address)
        await serve.send(address)

    async def check_served(self, address: str) -> Announce:
        """The latest announcement of served coordinator `address`, if it is served still: its
        rollup read again (`rollup_to_serve`, which the registry's owner may have changed) and
        its announcement fresh. Else NotServed, and `address` is no longer served: its next
        announcement is considered afresh."""
        ann = None if self.directory is None else self.directory.get(address)
        try:
            if ann is None:
                raise NotServed("its announcement is gone")
            self.rollup_of[address] = await self.rollup_to_serve(ann)
            if ann.timestamp < self._clock() - self._announce_max_age:
                raise NotServed("it stopped announcing itself")
        except NotServed:
            self.serving.discard(address)
            raise
        return ann

    async def is_registered(self, address: str) -> bool:
        """The registry's answer on L1. It must be the true one, also for coordinators this
        roller does not serve: gossip through this node depends on it."""
        return await self._registered_rollup(address) is not None

    async def _registered_rollup(self, address: str) -> str | None:
        """The rollup the registry binds coordinator `address` to (registering binds one); None
        if it is not registered; RegistryUnavailable if L1 cannot be read now (logged). A rollup
        is trusted for config.registry_ttl: the registry's owner may remove a coordinator and
        bind it anew."""
        cached = self._registered.get(address)
        if cached is not None and cached[1] > trio.current_time():
            return cached[0]
        try:
            with trio.fail_after(self.config.l1_read_timeout):
                rollup = await trio.to_thread.run_sync(
                    self.market.coordinator_rollup, address, abandon_on_cancel=True)
        except (*L1_UNAVAILABLE, trio.TooSlowError) as exc:
            log.warning("cannot ask the registry about a coordinator", coordinator=address,
                        error=str(exc) or "timed out")
            raise RegistryUnavailable(f"cannot ask the registry about {address} now: "
                                      f"{str(exc) or 'timed out'}") from None
        if rollup is None:
            return None
        rollup = to_checksum_address(rollup)
        self._registered[address] = (rollup, trio.current_time() + self.config.registry_ttl)
        return rollup

    async def rollup_to_serve(self, ann: Announce) -> ServedRollup:
        """The rollup whose tasks the announced coordinator would send, if this roller serves
        it; else `NotServed`. The coordinator must be bound to the rollup it announces: one
        bound to rollup X announcing Y is refused (its tasks would be checked, and signed for,
        against a rollup whose batches it cannot settle)."""
        address = to_checksum_address(ann.coordinator)
        wanted = self.config.coordinators
        if wanted is not None and address not in wanted:
            raise NotServed("not among the coordinators in the configuration")
        mismatches = []
        if ann.chain_id != self.deployment.chain_id:
            mismatches.append(f"chain {ann.chain_id}, not {self.deployment.chain_id}")
        if to_checksum_address(ann.staking) != self.deployment.staking:
            mismatches.append(f"staking {to_checksum_address(ann.staking)}, not "
                              f"{self.deployment.staking}")
        if mismatches:
            raise NotServed("it serves another deployment: " + "; ".join(mismatches))
        announced = to_checksum_address(ann.rollup)
        try:
            bound = await self._registered_rollup(address)
        except RegistryUnavailable as exc:  # asked again with the next announcement
            raise NotServed(str(exc)) from None
        if bound is None:
            raise NotServed("the registry names no rollup for it (not registered)")
        if bound != announced:
            raise NotServed(f"it announces rollup {announced}, but the registry binds it to "
                            f"rollup {bound}")
        return await self._served_rollup(announced)

    async def _served_rollup(self, address: str) -> ServedRollup:
        """Rollup `address` as served, read from L1 the first time; `NotServed` if this roller
        does not serve it (that answer is kept for config.registry_ttl: the deployer may add it)."""
        served = self.rollups.get(address)
        if served is not None:
            return served
        refused = self._refused_rollups.get(address)
        if refused is not None and refused[1] > trio.current_time():
            raise NotServed(refused[0])
        try:
            with trio.fail_after(self.config.l1_read_timeout):
                served = await trio.to_thread.run_sync(self._bind_rollup, address,
                                                       abandon_on_cancel=True)
        except NotServed as exc:
            self._refused_rollups[address] = (str(exc), trio.current_time() + self.config.registry_ttl)
            log.warning("not serving rollup", rollup=address, reason=str(exc))
            raise
        except (*L1_UNAVAILABLE, trio.TooSlowError) as exc:  # asked again with the next announcement
            raise NotServed(f"cannot read rollup {address} from L1 now: "
                            f"{str(exc) or 'timed out'}") from None
        self.rollups[address] = served
        log.info("serving rollup", rollup=address, batch_verifier=served.entry.verifier,
                 block_verifier=served.entry.block_verifier, batch_size=served.batch_size)
        return served

    def _bind_rollup(self, address: str) -> ServedRollup:
        """Rollup `address` as served, or `NotServed` (blocking: reads L1). The staking
        contract's deployer adds rollups; a roller serves one only if it is enabled there (else
        its batches are never settled, nor its proofs judged), listed in `config.rollups` if
        that is set, and is this release's Rollup contract (`Rollup.is_this_release`: another
        contract could move a block's inputs after a roller signed for them, and have a valid
        proof slashed). Its verifiers are checked against each circuit (`roller.circuits`)."""
        wanted = self.config.rollups
        if wanted is not None and address not in wanted:
            raise NotServed(f"rollup {address} is not among the rollups in the configuration")
        if not self.market.rollup_enabled(address):
            raise NotServed(f"rollup {address} is not enabled in the staking contract "
                            f"{self.deployment.staking}: its batches cannot be settled")
        rollup = Rollup(self.chain, address)
        if not rollup.is_this_release():
            raise NotServed(f"the code at {address} is not this release's Rollup contract: what "
                            "it reports about a block could change after a proof is signed")
        entry = replace(rollup.deployment(), block_verifier=self.market.block_verifier_of(address))
        return ServedRollup(rollup, entry, rollup.batch_size())
