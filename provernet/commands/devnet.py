"""`provernet devnet`: the market on one machine, on the embedded chain.

For now it deploys the contracts, funds and stakes a few generated rollers, and shows their
standing; the sequencer, coordinator and roller nodes join it as they are built.
"""

from __future__ import annotations

import json

import click
from eth_account import Account

from market_contracts.bindings import Market
from market_contracts.chain import EmbeddedChain
from market_contracts.deploy import deploy_market
from market_contracts.rules import MarketParams
from market_contracts.units import ONE_TOKEN
from provernet.views import console, rollers_table, share

ROLLER_TOKENS = 1_000 * ONE_TOKEN
ROLLER_ETH = 10 * 10**18
REWARD_POOL = 10_000 * ONE_TOKEN


def stake_for(index: int, params: MarketParams) -> int:
    """Unequal stakes, so that weight shares differ visibly: 1.5x, 3x, 4.5x MIN_STAKE, ..."""
    return params.min_stake * 3 * (index + 1) // 2


def start_market(rollers: int, params: MarketParams) -> tuple[Market, list]:
    chain = EmbeddedChain()
    owner = chain.dev_accounts[0]
    market = Market(chain, deploy_market(chain, owner, params))
    market.mint(owner, owner.address, REWARD_POOL)
    market.fund_rewards(owner, REWARD_POOL)
    accounts = [Account.create() for _ in range(rollers)]
    for index, account in enumerate(accounts):
        chain.send_eth(owner, account.address, ROLLER_ETH)
        market.mint(owner, account.address, ROLLER_TOKENS)
        market.stake(account, stake_for(index, params))
    return market, accounts


@click.command("devnet")
@click.option("--rollers", default=3, show_default=True, type=click.IntRange(1, 64),
              help="How many rollers to generate and stake.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def command(rollers: int, as_json: bool) -> None:
    """Run the market on one machine (embedded chain, INSECURE development keys)."""
    params = MarketParams.devnet()
    market, accounts = start_market(rollers, params)
    infos = [market.roller_info(a.address) for a in accounts]
    total = sum(w for _, w in market.roster())
    d = market.deployment
    if as_json:
        click.echo(json.dumps({
            "chain_id": d.chain_id,
            "contracts": {"token": d.token, "registry": d.registry, "staking": d.staking},
            "reward_pool": str(market.reward_pool()),
            "rollers": [{"address": i.address, "stake": str(i.active), "reputation": i.rep,
                         "weight": str(i.weight), "weight_share": share(i.weight, total)} for i in infos],
        }))
        return
    out = console()
    out.print(f"[bold]provernet devnet[/bold]: embedded chain, chain id {d.chain_id} "
                  "[yellow](development keys: INSECURE)[/yellow]")
    out.print(f"  ProverToken {d.token}\n  CoordinatorRegistry {d.registry}\n  RollerStaking {d.staking}")
    out.print(rollers_table(infos, total, params.rep_max, title=f"{rollers} staked rollers"))
