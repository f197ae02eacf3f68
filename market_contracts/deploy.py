"""Deploying the market contracts, wired together, and the deployment file that names them.

The deployment file is how every other command finds the contracts: `provernet deploy` (and the
devnet) writes it; the roller, coordinator and audit commands read it with `--deployment`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address

from market_contracts.chain import Chain
from market_contracts.compile import load_artifact
from market_contracts.errors import UnknownDeployment, WrongChainId
from market_contracts.files import save_json
from market_contracts.rules import MarketParams, RewardMode

#: 4: the rollup names its bridge (issue 13), no Poseidon; 3: market rules v2 with roster
#: snapshots (param snapshot_max_age); 2 had no snapshots.
DEPLOYMENT_VERSION = 4


@dataclass(frozen=True)
class RollupDeployment:
    """The Rollup contract, the batch verifier it calls and the bridge that appends to its queue;
    `block` is the L1 block it was deployed in, where reading its events starts. `block_verifier` is the single-proof verifier of the same circuit
    that the staking contract slashes with (`RollerStaking.addRollup`): None when the rollup was
    deployed without being added to the market."""

    address: str
    verifier: str
    bridge: str
    block: int
    block_verifier: str | None = None

    def to_json(self) -> dict:
        data = asdict(self)
        if self.block_verifier is None:
            del data["block_verifier"]
        return data

    @classmethod
    def from_json(cls, data: dict) -> "RollupDeployment":
        block_verifier = data.get("block_verifier")
        return cls(
            address=to_checksum_address(data["address"]),
            verifier=to_checksum_address(data["verifier"]),
            bridge=to_checksum_address(data["bridge"]),
            block=int(data["block"]),
            block_verifier=None if block_verifier is None else to_checksum_address(block_verifier),
        )


@dataclass(frozen=True)
class Deployment:
    chain_id: int
    token: str
    registry: str
    staking: str
    deployer: str
    block: int
    params: MarketParams
    #: absent from files written before the rollup existed, and from market-only deployments
    rollup: RollupDeployment | None = None

    def to_json(self) -> dict:
        data = asdict(self)
        data["params"] = {k: int(v) for k, v in asdict(self.params).items()}
        # Token amounts exceed 2**53: keep every parameter a decimal string for JSON readers.
        data["params"] = {k: str(v) for k, v in data["params"].items()}
        if self.rollup is None:
            del data["rollup"]
        else:
            data["rollup"] = self.rollup.to_json()
        return {"version": DEPLOYMENT_VERSION, **data}

    @classmethod
    def from_json(cls, data: dict, source: str = "deployment") -> "Deployment":
        try:
            if data.get("version") != DEPLOYMENT_VERSION:
                raise ValueError(f"version {data.get('version')!r}, expected {DEPLOYMENT_VERSION}")
            raw = {k: int(v) for k, v in data["params"].items()}
            raw["reward_mode"] = RewardMode(raw["reward_mode"])
            return cls(
                chain_id=int(data["chain_id"]),
                token=to_checksum_address(data["token"]),
                registry=to_checksum_address(data["registry"]),
                staking=to_checksum_address(data["staking"]),
                deployer=to_checksum_address(data["deployer"]),
                block=int(data["block"]),
                params=MarketParams(**raw),
                rollup=(None if data.get("rollup") is None
                        else RollupDeployment.from_json(data["rollup"])),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise UnknownDeployment(f"{source} is not a provernet deployment file: {exc}") from exc

    def save(self, path: Path) -> None:
        save_json(path, self.to_json())

    @classmethod
    def load(cls, path: Path) -> "Deployment":
        try:
            data = json.loads(Path(path).read_text())
        except FileNotFoundError as exc:
            raise UnknownDeployment(
                f"no deployment file at {path}; pass --deployment with the file `provernet deploy` "
                "or the devnet wrote"
            ) from exc
        except (OSError, json.JSONDecodeError) as exc:
            raise UnknownDeployment(f"cannot read deployment file {path}: {exc}") from exc
        if not isinstance(data, dict):
            raise UnknownDeployment(f"{path} is not a provernet deployment file: not a JSON object")
        return cls.from_json(data, source=str(path))


def deploy_market(chain: Chain, owner: LocalAccount, params: MarketParams) -> Deployment:
    """Deploys token, registry and staking, the staking contract bound to the other two. The
    market serves no rollup yet: `rollup.attach_rollup` adds one."""
    token = chain.deploy(owner, load_artifact("ProverToken"), owner.address)
    registry = chain.deploy(owner, load_artifact("CoordinatorRegistry"), owner.address)
    staking = chain.deploy(
        owner, load_artifact("RollerStaking"), token.address, registry.address, params.as_tuple()
    )
    return Deployment(
        chain_id=chain.chain_id,
        token=token.address,
        registry=registry.address,
        staking=staking.address,
        deployer=owner.address,
        block=chain.w3.eth.block_number,
        params=params,
    )


def check_deployment(chain: Chain, deployment: Deployment, source: str = "the deployment") -> None:
    """Fails early, with the fix, when the endpoint is not the chain the deployment lives on."""
    if chain.chain_id != deployment.chain_id:
        raise WrongChainId(
            f"the endpoint serves chain id {chain.chain_id} but {source} is on chain id "
            f"{deployment.chain_id}; use the matching --rpc-url or --deployment"
        )
    contracts = {name: getattr(deployment, name) for name in ("token", "registry", "staking")}
    if deployment.rollup is not None:
        # Not the bridge: a deployer may name any account (a test account acting as the bridge).
        contracts |= {"rollup": deployment.rollup.address,
                      "rollup's verifier": deployment.rollup.verifier}
        if deployment.rollup.block_verifier is not None:
            contracts["rollup's block verifier"] = deployment.rollup.block_verifier
    for name, address in contracts.items():
        if not chain.w3.eth.get_code(address):
            raise UnknownDeployment(
                f"no contract at {address} ({name}) on chain {chain.chain_id}: {source} does not "
                "belong to this chain (was the node restarted?)"
            )


@dataclass(frozen=True)
class BridgeSupport:
    """What a Bridge is built over: the L2's token and the contracts that hash and verify for it
    (circomlibjs's Poseidon of 2 and 3 inputs; BabyJubJub over Poseidon of 5)."""

    token: str
    poseidon2: str
    poseidon3: str
    baby_jubjub: str


def deploy_bridge_support(chain: Chain, deployer: LocalAccount, *,
                          token: str | None = None) -> BridgeSupport:
    """Deploy what `deploy_bridge` needs; without `token`, a devnet `RollupToken` that `deployer`
    mints. Separate from `deploy_bridge` so that the Bridge is one creation: a Rollup deployed
    before it learns its address from the deployer's nonce."""
    # imported here so that this function merges as an addition to the module
    from market_contracts.compile import poseidon_contract

    if token is None:
        token = chain.deploy(deployer, load_artifact("RollupToken")).address
    poseidon2, poseidon3, poseidon5 = (
        chain.deploy(deployer, load_artifact(poseidon_contract(n))).address for n in (2, 3, 5))
    baby_jubjub = chain.deploy(deployer, load_artifact("BabyJubJub"), poseidon5).address
    return BridgeSupport(to_checksum_address(token), poseidon2, poseidon3, baby_jubjub)


def deploy_bridge(chain: Chain, deployer: LocalAccount, support: BridgeSupport, *, rollup: str,
                  l2_chain_id: int, depth: int) -> str:
    """Deploy the Bridge of `rollup` (its L2's chain id and tree depth) over `support`, in one
    creation; return its address."""
    return chain.deploy(deployer, load_artifact("Bridge"), to_checksum_address(rollup),
                        support.token, l2_chain_id, depth, support.poseidon2, support.poseidon3,
                        support.baby_jubjub).address
