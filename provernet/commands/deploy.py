"""`provernet deploy`: put the market contracts on a chain and write the deployment file."""

from __future__ import annotations

import tomllib
from dataclasses import fields, replace
from pathlib import Path

import click

from market_contracts.chain import connect
from market_contracts.deploy import deploy_market
from market_contracts.rollup import attach_rollup
from market_contracts.rules import MarketParams, RewardMode
from provernet.commands.connection import rpc_url_option
from provernet.commands.keys import account_options, dev_account_option, signing_account
from provernet.commands.sequencer import (CIRCUITS, DEVNET_ACCOUNTS, DEVNET_BALANCE,
                                          genesis_accounts_from)
from sequencer.genesis import genesis_state
from zkp.builds import BLOCK_PROFILES, build_block_circuit


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
@dev_account_option
@click.option("--rollup/--no-rollup", "with_rollup", default=False,
              help="Also deploy the Rollup for the block circuit (its verifiers, Poseidon) and "
                   "wire it into the staking contract for slashing.")
@click.option("--circuit", type=click.Choice(BLOCK_PROFILES), default="small", show_default=True,
              help="With --rollup: the block circuit profile (built and set up on first use; "
                   "the setup is a development one, INSECURE).")
@click.option("--sequencer", "sequencer_address", default=None,
              help="With --rollup: the sequencer's L1 address [default: the deploying account].")
@click.option("--genesis", "genesis_file", type=click.Path(dir_okay=False, path_type=Path),
              help="With --rollup: the L2 genesis allocation (JSON, as `sequencer run --genesis`); "
                   "default: the devnet's dev-key accounts.")
@click.option("--genesis-accounts", type=click.IntRange(1), default=DEVNET_ACCOUNTS,
              show_default=True, help="With --rollup and no --genesis: dev-key accounts 0..N-1.")
@click.option("--genesis-balance", type=click.IntRange(0), default=DEVNET_BALANCE,
              show_default=True, help="With --rollup and no --genesis: each account's balance.")
def command(rpc_url: str, datadir: Path | None, password_file: Path | None, out: Path,
            params_file: Path | None, dev_account: int | None, with_rollup: bool, circuit: str,
            sequencer_address: str | None, genesis_file: Path | None, genesis_accounts: int,
            genesis_balance: int) -> None:
    """Deploy ProverToken, CoordinatorRegistry and RollerStaking, wired together (and with
    --rollup the Rollup contract of the block circuit)."""
    params = load_params(params_file)
    chain = connect(rpc_url)
    owner = signing_account(chain, dev_account, datadir, password_file)
    deployment = deploy_market(chain, owner, params)
    if with_rollup:
        profile = CIRCUITS[circuit]
        genesis = genesis_accounts_from(genesis_file, genesis_accounts, genesis_balance)
        build = build_block_circuit(circuit)
        deployment = attach_rollup(
            chain, owner, deployment, sequencer=sequencer_address or owner.address,
            vk=build.setup.vk, genesis_root=genesis_state(profile.depth, genesis).root,
            batch_size=params.k, max_transfers=profile.block_size, entries=profile.entries,
            # the owner stands in for the Bridge until it is deployed with the rollup
            bridge=owner.address)
    deployment.save(out)
    click.echo(f"deployed on chain {deployment.chain_id}: token {deployment.token}, "
               f"registry {deployment.registry}, staking {deployment.staking}"
               + (f", rollup {deployment.rollup.address}" if deployment.rollup else "")
               + f"; wrote {out}")
