"""`provernet l2`: a wallet on the L2 rollup, through a sequencer's JSON-RPC API."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import click
import trio

from provernet.commands.keys import datadir_option
from roller.keys import datadir_from
from sequencer.client import DEFAULT_URL, SequencerClient
from sequencer.transactions import Transfer
from sequencer.wallet import (
    L2Key,
    create_key,
    dev_key,
    key_path,
    load_key,
    own_account,
    prepare_transfer,
)
from sequencer.wire import hex32

T = TypeVar("T")

sequencer_option = click.option(
    "--sequencer", "url", default=DEFAULT_URL, show_default=True, envvar="PROVERNET_SEQUENCER",
    help="JSON-RPC URL of the sequencer [env PROVERNET_SEQUENCER].")
dev_key_option = click.option(
    "--dev-key", type=click.IntRange(0), default=None,
    help="Use the devnet's well-known key N (owner of genesis account N; INSECURE) instead of "
         "the data directory's key.")


def _key(datadir: Path | None, dev: int | None) -> L2Key:
    return dev_key(dev) if dev is not None else load_key(datadir_from(datadir))


def _with_client(url: str, work: Callable[[SequencerClient], Awaitable[T]]) -> T:
    async def main() -> T:
        async with SequencerClient(url) as client:
            return await work(client)

    return trio.run(main)


@click.group("l2")
def command() -> None:
    """An L2 wallet: keys, balance, transfers, transfer status."""


@command.group("keys")
def keys() -> None:
    """The wallet's Baby Jubjub key, kept in the data directory."""


@keys.command("new")
@datadir_option
def keys_new(datadir: Path | None) -> None:
    """Create a random L2 key (DATADIR/l2-key.json, 0600) and print its L2 address."""
    directory = datadir_from(datadir)
    key = create_key(directory)
    click.echo(f"L2 address: {hex32(key.address)}\nKey file:   {key_path(directory)}")
    click.echo("Back up the key file: without it the L2 balance is lost.", err=True)


@keys.command("show")
@datadir_option
def keys_show(datadir: Path | None) -> None:
    """Print the L2 address of the data directory's key."""
    click.echo(hex32(load_key(datadir_from(datadir)).address))


@command.command("balance")
@sequencer_option
@datadir_option
@dev_key_option
@click.option("--json", "as_json", is_flag=True, help="Print the account as the API gives it.")
def balance(url: str, datadir: Path | None, dev_key: int | None, as_json: bool) -> None:
    """The wallet's balance and nonce, in the newest block and counting pending transfers."""
    account = _with_client(url, lambda client: own_account(client, _key(datadir, dev_key)))
    if as_json:
        click.echo(json.dumps(account))
        return
    pending = "" if account["pendingBalance"] == account["balance"] else \
        f" ({account['pendingBalance']} counting pending transfers)"
    click.echo(f"account {account['index']} ({account['address']}): balance {account['balance']}"
               f"{pending}, next nonce {account['pendingNonce']}")


@command.command("transfer")
@sequencer_option
@datadir_option
@dev_key_option
@click.option("--to", required=True, help="Recipient: an account index, or an L2 address (0x-hex).")
@click.option("--amount", required=True, type=click.IntRange(1), help="Amount in base units.")
def transfer(url: str, datadir: Path | None, dev_key: int | None, to: str, amount: int) -> None:
    """Sign a transfer at the wallet's next nonce, send it, and print its hash."""
    key = _key(datadir, dev_key)

    async def send(client: SequencerClient) -> tuple[Transfer, str]:
        signed = await prepare_transfer(client, key, to, amount)
        return signed, await client.send_transfer(signed)

    signed, hash_ = _with_client(url, send)
    click.echo(f"sent {amount} from account {signed.from_index} to account {signed.to_index} "
               f"(nonce {signed.nonce}): {hash_}")


@command.command("tx")
@sequencer_option
@click.argument("hash_", metavar="HASH")
@click.option("--json", "as_json", is_flag=True, help="Print the transfer as the API gives it.")
def tx(url: str, hash_: str, as_json: bool) -> None:
    """A transfer by its hash, and the status of the block that holds it."""
    found = _with_client(url, lambda client: client.transfer(hash_))
    if found is None:
        raise click.ClickException(f"the sequencer at {url} knows no transfer {hash_}")
    if as_json:
        click.echo(json.dumps(found))
        return
    t = found["transfer"]
    click.echo(f"transfer {found['hash']}\n  from account {t['from']} (nonce {t['nonce']}) "
               f"to account {t['to']} ({t['toAddress']}): {t['amount']}")
    if found["state"] == "included":
        click.echo(f"  in block {found['block']} at position {found['position']}: "
                   f"{found['blockStatus']}")
    else:
        click.echo("  pending: accepted, waiting for the next block")
