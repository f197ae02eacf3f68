"""`provernet deploy`: put the market contracts on a chain and write the deployment file."""

from __future__ import annotations

import tomllib
from dataclasses import fields, replace
from pathlib import Path

import click

from market_contracts.chain import connect
from market_contracts.deploy import deploy_market
from market_contracts.errors import ChainError
from market_contracts.rules import MarketParams, RewardMode
from provernet.commands.connection import rpc_url_option
from provernet.commands.keys import account_options, unlock


def load_params(path: Path | None) -> MarketParams:
    """Devnet defaults, overridden by a TOML table of MarketParams fields (amounts in base units)."""
    params = MarketParams.devnet()
    if path is None:
        return params
    try:
        overrides = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise click.BadParameter(f"cannot read {path}: {exc}", param_hint="--params") from exc
    known = {f.name for f in fields(MarketParams)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise click.BadParameter(f"unknown parameters {unknown}; known: {sorted(known)}", param_hint="--params")
    if "reward_mode" in overrides:
        overrides["reward_mode"] = RewardMode[str(overrides["reward_mode"]).upper()]
    return replace(params, **overrides)


@click.command("deploy")
@rpc_url_option
@account_options
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Where to write the deployment file.")
@click.option("--params", "params_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="TOML file overriding the devnet defaults of the market parameters.")
@click.option("--dev-account", type=int, default=None,
              help="Sign with the node's Nth development account (anvil) instead of the keystore.")
def command(rpc_url: str, datadir: Path | None, password_file: Path | None, out: Path,
            params_file: Path | None, dev_account: int | None) -> None:
    """Deploy ProverToken, CoordinatorRegistry and RollerStaking, wired together."""
    params = load_params(params_file)
    chain = connect(rpc_url)
    if dev_account is None:
        owner = unlock(datadir, password_file)
    elif not 0 <= dev_account < len(chain.dev_accounts):
        raise ChainError(f"{rpc_url} has {len(chain.dev_accounts)} development accounts; "
                         f"--dev-account {dev_account} does not exist")
    else:
        owner = chain.dev_accounts[dev_account]
    deployment = deploy_market(chain, owner, params)
    deployment.save(out)
    click.echo(f"deployed on chain {deployment.chain_id}: token {deployment.token}, "
               f"registry {deployment.registry}, staking {deployment.staking}; wrote {out}")
