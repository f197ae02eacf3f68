"""`provernet roller`: an operator's stake and standing on the market contracts."""

from __future__ import annotations

import json
from pathlib import Path

import click

from market_contracts.bindings import Market
from market_contracts.rules import parse_address
from market_contracts.units import format_tokens, format_utc, parse_tokens
from provernet.commands.connection import market_options, open_market
from provernet.commands.keys import account_options, datadir_option, unlock
from provernet.views import console, roller_state, share, unbonding_lines
from roller.keys import keystore_address


@click.group("roller")
def command() -> None:
    """Stake, unstake, withdraw, pause, resume, claim, and see a roller's standing."""


def _signed(action):
    """Shared shape of the signing commands: connect, unlock, act, report."""

    @market_options
    @account_options
    def run(rpc_url, deployment, datadir, password_file, **kwargs):
        market = open_market(rpc_url, deployment, datadir)
        account = unlock(datadir, password_file)
        click.echo(action(market, account, **kwargs))

    run.__name__ = action.__name__
    run.__doc__ = action.__doc__
    return run


@command.command("stake")
@click.argument("amount")
@_signed
def stake(market: Market, account, amount: str) -> str:
    """Stake AMOUNT tokens (adds to an existing stake)."""
    units = parse_tokens(amount)
    market.stake(account, units)
    info = market.roller_info(account.address)
    return f"staked {format_tokens(units)}; active stake is now {format_tokens(info.active)}"


@command.command("unstake")
@click.argument("amount")
@_signed
def unstake(market: Market, account, amount: str) -> str:
    """Move AMOUNT tokens of active stake to unbonding; withdraw them after the delay."""
    units = parse_tokens(amount)
    release = market.request_unstake(account, units)
    return f"unbonding {format_tokens(units)}; withdraw it from {format_utc(release)} with `provernet roller withdraw`"


@command.command("withdraw")
@_signed
def withdraw(market: Market, account) -> str:
    """Withdraw every unbonding entry whose release time has come."""
    return f"withdrew {format_tokens(market.withdraw(account))}"


@command.command("pause")
@_signed
def pause(market: Market, account) -> str:
    """Stop being selected for tasks, without penalty."""
    market.pause(account)
    return "paused: no new tasks will be assigned until `provernet roller resume`"


@command.command("resume")
@_signed
def resume(market: Market, account) -> str:
    """Become selectable again after a pause."""
    market.resume(account)
    return "resumed: selectable again"


@command.command("claim")
@_signed
def claim(market: Market, account) -> str:
    """Transfer every claimable reward to the roller's account."""
    return f"claimed {format_tokens(market.claim(account))}"


@command.command("status")
@market_options
@datadir_option
@click.option("--address", help="Any roller's address; default: the keystore's account.")
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON (amounts in base units).")
def status(rpc_url: str, deployment: Path | None, datadir: Path | None, address: str | None, as_json: bool) -> None:
    """Stake, unbonding with release times, reputation, weight and its share, claimable rewards."""
    market = open_market(rpc_url, deployment, datadir)
    roller = parse_address(address) if address else keystore_address(datadir)
    report = status_report(market, roller)
    if as_json:
        click.echo(json.dumps(report))
        return
    out = console()
    out.print(f"[bold]Roller {roller}[/bold]  ({report['state']})")
    rows = [
        ("active stake", format_tokens(int(report["active"]))),
        ("unbonding", format_tokens(int(report["unbonding_total"]))),
        ("reputation", f"{report['reputation']} / {report['rep_max']}"),
        ("weight", f"{report['weight']} ({report['weight_share']:.2%} of total weight)"),
        ("claimable rewards", format_tokens(int(report["claimable"]))),
        ("wallet balance", format_tokens(int(report["wallet"]))),
    ]
    for label, value in rows:
        out.print(f"  {label:<18} {value}")
    for line in unbonding_lines(market.unbondings(roller), market.chain.latest_timestamp()):
        out.print(f"    {line}")


def status_report(market: Market, roller: str) -> dict:
    """A roller's standing as JSON-ready values; token amounts are decimal strings of base units."""
    block = market.chain.w3.eth.block_number
    info = market.roller_info(roller, block)
    total_weight = sum(w for _, w in market.roster(block))
    return {
        "address": info.address,
        "state": roller_state(info),
        "active": str(info.active),
        "unbonding_total": str(info.unbonding),
        "unbonding": [{"amount": str(e.amount), "release_time": e.release_time}
                      for e in market.unbondings(roller, block)],
        "reputation": info.rep,
        "rep_max": market.deployment.params.rep_max,
        "weight": str(info.weight),
        "weight_share": share(info.weight, total_weight),
        "claimable": str(info.claimable),
        "wallet": str(market.token_balance(roller, block)),
        "paused": info.paused,
        "block": block,
    }
