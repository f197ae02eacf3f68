"""One builder of a market world: the deployed market, the rollups it serves, their coordinators
and staked rollers, built in small steps on any `Chain`. The devnet, the chaos harness, the
benchmarks and the tests (tests/factories.py) all build their worlds with it.

    world = World.deploy(chain)                      # token, registry, staking (devnet params)
    world.attach_rollup(sequencer, vk=build.setup.vk)  # or vk=None: the verifier stub
    world.register_coordinator(coordinator.address, peer_id=peer_id_in(p2p_dir).to_bytes())
    world.fund_rewards()
    world.stake_rollers(rollers, [stake_for(i, world.params) for i in range(len(rollers))])
    world.snapshot_roster()                          # the first blocks' roster

Each step is one thing the market's owner (`World.owner`, who deployed the staking contract and
so alone adds rollups and registers coordinators) does on L1, in the order a market is set up;
a caller that needs one odd step more does it itself with `world.market` or `world.chain`.
`devnet_world` is the devnet's composition of them, which the chaos harness deploys too.

It lives in provernet, at the top, because its defaults need the layers below it together: the
devnet's L2 genesis (sequencer), libp2p identities (p2p), generated verifiers (zkp through
market_contracts). It is one module rather than a chain-only half in market_contracts and a
rollup half here: the chain-only steps are already `market_contracts.deploy.deploy_market`,
`rollup.attach_rollup` and the `Market` bindings, which these steps call; what this module adds
(the order, the defaults, the stub rollups, the devnet's layout) is what the callers share, and
all of them sit in provernet or above it. `provernet deploy` is a user's command with its own
options (no coordinator, no rollers) and calls those primitives itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount
from libp2p.peer.id import ID

from market_contracts.bindings import Market
from market_contracts.bridge import Bridge
from market_contracts.chain import Chain
from market_contracts.compile import load_artifact
from market_contracts.deploy import Deployment, deploy_market
from market_contracts.rollup import (
    Rollup,
    attach_rollup,
    deploy_bridged_rollup,
    deploy_rollup_contract,
)
from market_contracts.rules import MarketParams
from market_contracts.units import ONE_TOKEN
from p2p.host import load_or_create_identity
from sequencer.accounts import Account as L2Account
from sequencer.block_data import Op, Record, calldata
from sequencer.circuit_inputs import SMALL
from sequencer.genesis import dev_address, encode_accounts, genesis_state
from zkp.proof import VerificationKey

#: tokens minted to each roller (and guest) before it stakes
ROLLER_TOKENS = 1_000 * ONE_TOKEN
#: ETH sent to each fresh roller account for its gas
ROLLER_ETH = 10 * 10**18
#: tokens the owner mints and puts in each rollup's reward pool
REWARD_POOL = 10_000 * ONE_TOKEN
#: what the blocks of a stub-verified rollup (`attach_rollup(vk=None)`) may post: one transfer.
#: The Rollup checks the data, not the transition, and the stub no proof, so no state needs it.
ONE_TRANSFER = calldata([Record(Op.TRANSFER, 0, 1, 1)])
#: the devnet's L2 genesis: the accounts of dev keys 0..L2_ACCOUNTS-1, each holding L2_BALANCE
L2_ACCOUNTS = 8
L2_BALANCE = 10**24
#: the L2 token (each rollup's RollupToken) minted to the owner and each guest, to deposit
L2_DEPOSIT_TOKENS = 10**6 * ONE_TOKEN
#: the L1 dev accounts (ETH-funded by the node) that `devnet_world` also gives ROLLER_TOKENS,
#: for rollers that join from outside
GUEST_ACCOUNTS = slice(3, 6)
#: ETH for the sequencer and coordinator of each devnet rollup after the first (fresh keys: the
#: first rollup's are dev accounts the node funds)
NODE_ETH = 10 * 10**18


def l2_genesis() -> dict[int, L2Account]:
    """The devnet's L2 genesis allocation, by account index."""
    return {i: L2Account(dev_address(i), L2_BALANCE) for i in range(L2_ACCOUNTS)}


def l2_genesis_root() -> int:
    """The root of `l2_genesis` in the small circuit's tree: where the devnet's rollups start."""
    return genesis_state(SMALL.depth, l2_genesis()).root


def stake_for(index: int, params: MarketParams) -> int:
    """Unequal stakes, so that weight shares differ visibly: 1.5x, 3x, 4.5x MIN_STAKE, ..."""
    return params.min_stake * 3 * (index + 1) // 2


def peer_id_in(p2p_dir: Path) -> ID:
    """The libp2p peer id of the node key in `p2p_dir`, made there if absent: what a coordinator
    registers on L1 and then runs with (`--datadir`'s `p2p/`)."""
    return ID.from_pubkey(load_or_create_identity(p2p_dir).public_key)


class World:
    """One market on `chain` and what was built around it, step by step. `market` names the
    first attached rollup once there is one (so its `fund_rewards` and the like default to it);
    `deployments` holds each attached rollup's deployment, in order."""

    def __init__(self, chain: Chain, owner: LocalAccount, market: Market):
        self.chain = chain
        self.owner = owner
        self.market = market
        #: each attached rollup's deployment file: the market with that rollup
        self.deployments: list[Deployment] = []
        #: the verifier stub that `attach_rollup(vk=None)` rollups share
        self._stub = None

    @classmethod
    def deploy(cls, chain: Chain, params: MarketParams | None = None,
               owner: LocalAccount | None = None) -> World:
        """Token, registry and staking contract, deployed by `owner` (dev account 0 when None)
        with `params` (`MarketParams.devnet()` when None). No rollup yet."""
        owner = owner or chain.dev_accounts[0]
        params = params or MarketParams.devnet()
        return cls(chain, owner, Market(chain, deploy_market(chain, owner, params)))

    @property
    def params(self) -> MarketParams:
        return self.market.deployment.params

    @property
    def deployment(self) -> Deployment:
        """The first rollup's deployment; the market alone before any rollup is attached."""
        return self.market.deployment

    @property
    def rollup(self) -> Rollup:
        """The first attached rollup."""
        return Rollup.from_deployment(self.chain, self.deployments[0])

    @property
    def stub(self):
        """`BatchVerifierStub` (a test contract: it accepts exactly the public inputs it was told
        to `expect`), deployed on first use; the verifier of `attach_rollup(vk=None)` rollups."""
        if self._stub is None:
            self._stub = self.chain.deploy(self.owner, load_artifact("BatchVerifierStub"))
        return self._stub

    # ------------------------------------------------------------------ steps

    def attach_rollup(self, sequencer: str, *, vk: VerificationKey | None = None,
                      genesis_root: int | None = None, batch_size: int | None = None,
                      max_transfers: int = SMALL.block_size, entries: int = SMALL.entries,
                      bridge: str | None = None, **options) -> Deployment:
        """Deploy a Rollup whose blocks `sequencer` (an address) commits and add it to the
        market (`addRollup`); return its deployment and keep it in `deployments`.

        `vk`: the block circuit's key, from which its batch and block verifiers are generated;
        None: `stub` stands in for both (no proof is checked: tests and gas figures). `bridge`
        None: the rollup gets its Bridge and L2 token (the devnet genesis is emitted at
        deployment for `l2 rebuild` and backed by tokens minted to the Bridge); an address: that
        account stands in for the Bridge (it alone enqueues: tests and benchmarks).
        `genesis_root` None: `l2_genesis_root()`; `batch_size` None: the market's K;
        `max_transfers`, `entries`: records a block may post and entries it may consume (the
        small circuit's by default); `options`: `deploy_rollup_contract`'s (delays, ring size,
        genesis accounts)."""
        batch_size = self.params.k if batch_size is None else batch_size
        backing = 0
        if genesis_root is None:
            genesis_root = l2_genesis_root()
            options.setdefault("genesis_accounts", encode_accounts(l2_genesis()))
            backing = sum(account.balance for account in l2_genesis().values())
        bridging = (dict(l2_chain_id=SMALL.chain_id, depth=SMALL.depth, genesis_backing=backing)
                    if bridge is None else dict(bridge=bridge))
        if vk is not None:
            deployment = attach_rollup(self.chain, self.owner, self.market.deployment,
                                       sequencer=sequencer, vk=vk, genesis_root=genesis_root,
                                       batch_size=batch_size, max_transfers=max_transfers,
                                       entries=entries, **bridging, **options)
        else:
            parameters = dict(sequencer=sequencer, verifier=self.stub.address,
                              genesis_root=genesis_root, batch_size=batch_size,
                              max_transfers=max_transfers, entries=entries, **bridging, **options)
            rollup = (deploy_bridged_rollup if bridge is None else deploy_rollup_contract)(
                self.chain, self.owner, **parameters)
            self.market.add_rollup(self.owner, rollup.address, self.stub.address)
            deployment = replace(self.market.deployment, rollup=replace(
                rollup.deployment(), block_verifier=self.stub.address))
        self.deployments.append(deployment)
        if len(self.deployments) == 1:
            self.market = Market(self.chain, deployment)
        return deployment

    def register_coordinator(self, coordinator: str, *, rollup: str | None = None,
                             peer_id: bytes = b"peer", name: str = "test") -> None:
        """Register `coordinator` bound to `rollup` (None: the first attached). `peer_id`: the
        libp2p peer id it announces (`peer_id_in(p2p_dir).to_bytes()`); the default is a
        placeholder, for a coordinator no roller dials."""
        rollup = rollup or self.deployments[0].rollup.address
        self.market.register_coordinator(self.owner, coordinator, peer_id, name, rollup)

    def fund_rewards(self, amount: int = REWARD_POOL, rollup: str | None = None) -> None:
        """Mint `amount` to the owner and put it in `rollup`'s reward pool (None: the first)."""
        self.market.mint(self.owner, self.owner.address, amount)
        self.market.fund_rewards(self.owner, amount, rollup)

    def fund(self, address: str, *, eth: int = ROLLER_ETH, tokens: int = ROLLER_TOKENS) -> None:
        """Send `address` ETH and mint it tokens (either may be 0: none)."""
        if eth:
            self.chain.send_eth(self.owner, address, eth)
        if tokens:
            self.market.mint(self.owner, address, tokens)

    def new_account(self, *, eth: int = ROLLER_ETH, tokens: int = ROLLER_TOKENS) -> LocalAccount:
        """A fresh account, funded (`fund`)."""
        account = Account.create()
        self.fund(account.address, eth=eth, tokens=tokens)
        return account

    def stake_rollers(self, rollers: Sequence[LocalAccount], stakes: Sequence[int], *,
                      eth: int = ROLLER_ETH, tokens: int = ROLLER_TOKENS) -> None:
        """Fund each roller (`fund`: 0 for a dev account that has what it needs) and stake
        `stakes[i]` (token units) from roller i, in order: the roster's order."""
        if len(stakes) != len(rollers):
            raise ValueError(f"{len(rollers)} rollers but {len(stakes)} stakes")
        for account, stake in zip(rollers, stakes):
            self.fund(account.address, eth=eth, tokens=tokens)
            self.market.stake(account, stake)

    def snapshot_roster(self) -> int:
        """Take a roster snapshot (its id): a block's roster is the snapshot before its commit,
        so a world whose blocks should draw from its rollers takes one after they stake."""
        return self.market.snapshot_roster(self.owner)


def devnet_world(chain: Chain, vk: VerificationKey, datadir: Path,
                 node_keys: Sequence[tuple[LocalAccount, LocalAccount]],
                 rollers: Sequence[LocalAccount], params: MarketParams) -> World:
    """The devnet's world: one market and a rollup per (sequencer, coordinator) pair of
    `node_keys` (the small circuit's verifiers from `vk`, the devnet's L2 genesis), each
    rollup's deployment file in `datadir` (`deployment.json`, then `deployment-2.json`, ...),
    its coordinator registered with the peer id of the key made in `datadir/coordinator/p2p`
    (`coordinator-2/p2p`, ...) and its reward pool funded; the guest accounts given tokens, the
    `rollers` (fresh accounts) funded and staked unequally (`stake_for`), and the first roster
    snapshot taken. Node keys after the first pair are sent NODE_ETH."""
    world = World.deploy(chain, params)
    for index, (sequencer, coordinator) in enumerate(node_keys):
        suffix = "" if index == 0 else f"-{index + 1}"
        deployment = world.attach_rollup(sequencer.address, vk=vk)
        deployment.save(datadir / f"deployment{suffix}.json")
        if index > 0:
            for key in (sequencer, coordinator):
                world.fund(key.address, eth=NODE_ETH, tokens=0)
        p2p_dir = datadir / f"coordinator{suffix}" / "p2p"
        p2p_dir.mkdir(parents=True)
        world.register_coordinator(coordinator.address, rollup=deployment.rollup.address,
                                   peer_id=peer_id_in(p2p_dir).to_bytes(),
                                   name=f"provernet devnet coordinator{suffix}")
        world.fund_rewards(rollup=deployment.rollup.address)
        # The L2's token, for the devnet's deposits (its owner) and a guest's `l2 deposit`.
        token = Bridge(chain, deployment.rollup.bridge).token
        for holder in (world.owner, *chain.dev_accounts[GUEST_ACCOUNTS]):
            chain.transact(world.owner, token.functions.mint(holder.address, L2_DEPOSIT_TOKENS))
    for guest in chain.dev_accounts[GUEST_ACCOUNTS]:
        world.fund(guest.address, eth=0)
    world.stake_rollers(rollers, [stake_for(i, params) for i in range(len(rollers))])
    # The first blocks' roster: without a snapshot before its commit a block has none.
    world.snapshot_roster()
    return world
