"""`provernet l2`: a wallet on the L2 rollup, through a sequencer's JSON-RPC API."""

from __future__ import annotations

import json
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import click
import trio
from eth_utils import is_address, to_checksum_address

from market_contracts.bridge import Bridge
from market_contracts.chain import Chain
from market_contracts.rollup import Rollup
from provernet.commands.connection import DEFAULT_RPC_URL, market_options, open_market
from provernet.commands.keys import (
    datadir_option,
    dev_account_option,
    password_file_option,
    signing_account,
)
from roller.keys import datadir_from
from sequencer import eddsa
from sequencer.accounts import NONCE_BITS
from sequencer.block_data import is_postable, round_amount
from sequencer.circuit_inputs import BlockCircuit
from sequencer.client import DEFAULT_URL, SequencerClient
from sequencer.l1_wallet import claim as l1_claim
from sequencer.l1_wallet import exit_of
from sequencer.rebuild import rebuild
from sequencer.transactions import Transfer, forced_withdrawal_message
from sequencer.wallet import (
    L2Key,
    create_key,
    dev_key,
    key_path,
    load_key,
    own_account,
    prepare_transfer,
    prepare_withdrawal,
)
from sequencer.wire import field_element, hex32

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., object])

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


def l1_signing_options(func: F) -> F:
    """A command that signs on L1: the deployment it talks to, and the account that signs (a dev
    node's `--dev-account`, or the keystore in `--datadir`)."""
    return market_options(datadir_option(password_file_option(dev_account_option(func))))


def _send_signed(url: str, prepare: Callable[[SequencerClient], Awaitable[Transfer]]
                 ) -> tuple[Transfer, str]:
    """Prepare a signed transaction with the sequencer's help, send it: (it, its hash)."""
    async def send(client: SequencerClient) -> tuple[Transfer, str]:
        signed = await prepare(client)
        return signed, await client.send_transfer(signed)

    return _with_client(url, send)


@click.group("l2")
def command() -> None:
    """An L2 wallet: keys, balance, transfers, deposits and withdrawals through the Bridge, the
    escape hatch, a rebuild from L1."""


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
    signed, hash_ = _send_signed(url, lambda client: prepare_transfer(client, key, to, amount))
    click.echo(f"sent {amount} from account {signed.from_index} to account {signed.to_index} "
               f"(nonce {signed.nonce}): {hash_}")


@command.command("tx")
@sequencer_option
@click.argument("hash_", metavar="HASH", required=False)
@click.option("--message", "position", type=click.IntRange(0), default=None,
              help="Instead of HASH: the L1 queue message at this position (a deposit or a "
                   "forced withdrawal): queued, or included in block n.")
@click.option("--rpc-url", default=None, envvar="PROVERNET_RPC_URL",
              help="With --deployment: also read from L1 whether a withdrawal was claimed.")
@click.option("--deployment", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="The deployment file of the rollup (with --rpc-url).")
@click.option("--json", "as_json", is_flag=True, help="Print what the API gives, as JSON.")
def tx(url: str, hash_: str | None, position: int | None, rpc_url: str | None,
       deployment: Path | None, as_json: bool) -> None:
    """A transaction by its hash (a transfer, or a withdrawal: pending, claimable once its block
    is finalized, claimed), or an L1 message by its queue position (`--message`)."""
    if (hash_ is None) == (position is None):
        raise click.UsageError("give a transaction HASH or --message POSITION")
    found = _with_client(url, lambda client: client.transfer(hash_) if position is None
                         else client.l1_message(position))
    if found is None:
        raise click.ClickException(f"the sequencer at {url} knows no "
                                   + (f"transaction {hash_}" if position is None
                                      else f"L1 message at position {position}"))
    paid = found.get("exit")
    if paid is not None and deployment is not None:
        l1 = _open_l1(rpc_url or DEFAULT_RPC_URL, deployment, None)
        found["claimed"] = l1.bridge.is_claimed(paid["block"], paid["position"])
    if as_json:
        click.echo(json.dumps(found))
        return
    if position is not None:
        click.echo(f"L1 message {found['position']} ({found['kind']}): {found['amount']} "
                   + (f"to L2 address {found['l2Address']}" if found["kind"] == "deposit"
                      else f"from account {found['index']} to {found['recipient']}"))
        click.echo("  queued: waiting for the next block" if found["state"] == "queued" else
                   f"  included in block {found['block']} as {found['op']}: "
                   f"{found['blockStatus']}")
    else:
        t = found["transfer"]
        if t.get("kind") == "withdraw":
            click.echo(f"withdrawal {found['hash']}\n  from account {t['from']} (nonce "
                       f"{t['nonce']}) to L1 address {to_checksum_address(t['toAddress'][-40:])}"
                       f": {t['amount']}")
        else:
            click.echo(f"transfer {found['hash']}\n  from account {t['from']} (nonce "
                       f"{t['nonce']}) to account {t['to']} ({t['toAddress']}): {t['amount']}")
        if found["state"] == "included":
            click.echo(f"  in block {found['block']} at position {found['position']}: "
                       f"{found['blockStatus']}")
        elif found["state"] == "dropped":
            click.echo(f"  dropped: {found['reason']}")
        else:
            click.echo("  pending: accepted, waiting for the next block")
    if paid is not None:
        if found.get("claimed"):
            click.echo(f"  claimed on L1 (block {paid['block']}, exit {paid['position']})")
        elif found.get("claimable"):
            click.echo(f"  claimable: provernet l2 claim --block {paid['block']} "
                       f"--position {paid['position']}")
        else:
            click.echo("  claimable once its block is finalized")


# ---------------------------------------------------------------- L1: the bridge in and out

@dataclass(frozen=True)
class _L1:
    """The rollup of a deployment file, its Bridge, and its circuit's shape read from them."""

    chain: Chain
    rollup: Rollup
    bridge: Bridge
    circuit: BlockCircuit
    #: where reading the rollup's events starts: its deployment block
    from_block: int


def _open_l1(rpc_url: str, deployment: Path | None, datadir: Path | None) -> _L1:
    market = open_market(rpc_url, deployment, datadir)
    entry = market.deployment.rollup
    if entry is None:
        raise click.ClickException("the deployment file names no rollup")
    rollup = Rollup(market.chain, entry.address)
    bridge = Bridge(market.chain, entry.bridge)
    circuit = BlockCircuit("rollup", block_size=rollup.max_transfers(), depth=bridge.depth(),
                           chain_id=bridge.l2_chain_id(), entries=rollup.entries())
    return _L1(market.chain, rollup, bridge, circuit, entry.block)


def _l1_address(value: str, option: str) -> int:
    if not is_address(value):
        raise click.BadParameter(f"{value!r} is not a 20-byte 0x-hex L1 address", param_hint=option)
    return int(value, 16)


def _postable(amount: int) -> int:
    if not is_postable(amount):
        raise click.BadParameter(f"{amount} has more significant digits than a block can post; "
                                 f"send {round_amount(amount)}", param_hint="--amount")
    return amount


@command.command("deposit")
@l1_signing_options
@dev_key_option
@click.option("--amount", required=True, type=click.IntRange(1), help="Tokens, in base units.")
@click.option("--to", "to_address", default=None,
              help="L2 address (0x-hex) to credit [default: the wallet's own].")
def deposit(rpc_url: str, deployment: Path | None, datadir: Path | None,
            password_file: Path | None, dev_account: int | None, dev_key: int | None,
            amount: int, to_address: str | None) -> None:
    """Lock tokens in the Bridge for an L2 address: the sequencer must include the deposit in
    queue order, within the Rollup's force delay. Prints its queue position (`l2 tx --message`)."""
    l1 = _open_l1(rpc_url, deployment, datadir)
    address = (_key(datadir, dev_key).address if to_address is None
               else field_element(to_address, "--to"))
    account = signing_account(l1.chain, dev_account, datadir, password_file)
    event = l1.bridge.deposit(account, address, _postable(amount))
    click.echo(f"deposited {event.amount} to L2 address {hex32(address)}: queue position "
               f"{event.position}")


@command.command("withdraw")
@sequencer_option
@datadir_option
@dev_key_option
@click.option("--amount", required=True, type=click.IntRange(1), help="Amount in base units.")
@click.option("--recipient", required=True, help="The L1 address (0x-hex) the exit pays.")
def withdraw(url: str, datadir: Path | None, dev_key: int | None, amount: int,
             recipient: str) -> None:
    """Sign a withdrawal to L1 at the wallet's next nonce and send it; once its block is
    finalized, `l2 claim` pays it on L1 (`l2 tx HASH` says when)."""
    key = _key(datadir, dev_key)
    to = _l1_address(recipient, "--recipient")
    signed, hash_ = _send_signed(
        url, lambda client: prepare_withdrawal(client, key, to, _postable(amount)))
    click.echo(f"withdrawing {amount} from account {signed.from_index} to {recipient} "
               f"(nonce {signed.nonce}): {hash_}")


@command.command("force-withdraw")
@l1_signing_options
@dev_key_option
@click.option("--index", required=True, type=click.IntRange(0), help="The account's index.")
@click.option("--amount", required=True, type=click.IntRange(1), help="Amount in base units.")
@click.option("--recipient", required=True, help="The L1 address (0x-hex) the exit pays.")
def force_withdraw(rpc_url: str, deployment: Path | None, datadir: Path | None,
                   password_file: Path | None, dev_account: int | None, dev_key: int | None,
                   index: int, amount: int, recipient: str) -> None:
    """Request a withdrawal on L1, for a sequencer that ignores `l2 withdraw`: it joins the L1
    queue, which every block must take in order within the force delay (a request the account
    cannot pay is taken and skipped). Prints its queue position (`l2 tx --message` reads it)."""
    l1 = _open_l1(rpc_url, deployment, datadir)
    key = _key(datadir, dev_key)
    to = _l1_address(recipient, "--recipient")
    salt = secrets.randbelow(1 << NONCE_BITS)
    message = forced_withdrawal_message(index, _postable(amount), salt, to, l1.circuit.chain_id)
    signature = eddsa.sign(key.private_key, message)
    account = signing_account(l1.chain, dev_account, datadir, password_file)
    event = l1.bridge.request_withdrawal(account, index, amount, recipient, salt, key.public_key,
                                         signature.r8, signature.s)
    click.echo(f"forced withdrawal of {amount} from account {index} to {recipient}: queue "
               f"position {event.position}")


@command.command("claim")
@l1_signing_options
@click.option("--block", "block_number", required=True, type=click.IntRange(1),
              help="The L2 block that holds the withdrawal (`l2 tx HASH` prints the claim).")
@click.option("--position", required=True, type=click.IntRange(0),
              help="The withdrawal's exit position in that block's exits (`l2 tx HASH` prints "
                   "the claim).")
def claim(rpc_url: str, deployment: Path | None, datadir: Path | None,
          password_file: Path | None, dev_account: int | None, block_number: int,
          position: int) -> None:
    """Pay a finalized withdrawal on L1, from L1 data alone (no sequencer needed): the proof
    comes from the block's posted records. Anyone may claim; the tokens go to the recipient."""
    l1 = _open_l1(rpc_url, deployment, datadir)
    found = l1_claim(l1.rollup, l1.circuit, l1.from_block, block_number, position)
    account = signing_account(l1.chain, dev_account, datadir, password_file)
    paid = l1.bridge.claim_withdrawal(account, found.block_number, found.position,
                                      to_checksum_address(found.recipient.to_bytes(20, "big")),
                                      found.amount,
                                      found.proof)
    click.echo(f"claimed {paid.amount} to {to_checksum_address(paid.recipient)} (block "
               f"{block_number}, exit "
               f"{position})")


@command.command("exit")
@l1_signing_options
@dev_key_option
@click.option("--index", required=True, type=click.IntRange(0), help="The account's index.")
@click.option("--recipient", required=True, help="The L1 address (0x-hex) to pay.")
def exit_(rpc_url: str, deployment: Path | None, datadir: Path | None,
          password_file: Path | None, dev_account: int | None, dev_key: int | None, index: int,
          recipient: str) -> None:
    """The escape hatch: once the rollup is frozen (no batch finalized for its escape delay),
    take the account's whole balance in the last finalized state to L1, once. Needs no
    sequencer: the state is rebuilt from L1."""
    l1 = _open_l1(rpc_url, deployment, datadir)
    if not l1.rollup.frozen():
        raise click.ClickException("the rollup is not frozen: withdraw through the sequencer "
                                   "(`l2 withdraw`), or force it on L1 if it ignores you")
    leaving = exit_of(l1.rollup, l1.circuit, l1.from_block, _key(datadir, dev_key), index,
                      _l1_address(recipient, "--recipient"))
    account = signing_account(l1.chain, dev_account, datadir, password_file)
    paid = l1.bridge.exit(account, leaving.index, leaving.public_key, leaving.balance,
                          leaving.nonce, leaving.path, recipient, leaving.r8, leaving.s)
    click.echo(f"exited account {index}: {paid.amount} to {to_checksum_address(paid.recipient)}")


@command.command("reclaim")
@l1_signing_options
@click.option("--message", "position", required=True, type=click.IntRange(0),
              help="The deposit's queue position (what `l2 deposit` printed).")
def reclaim(rpc_url: str, deployment: Path | None, datadir: Path | None,
            password_file: Path | None, dev_account: int | None, position: int) -> None:
    """Once the rollup is frozen: refund a deposit no finalized block took to its sender (whoever
    sends this), once."""
    l1 = _open_l1(rpc_url, deployment, datadir)
    account = signing_account(l1.chain, dev_account, datadir, password_file)
    refund = l1.bridge.reclaim_deposit(account, position)
    click.echo(f"refunded deposit {position}: {refund.amount} to "
               f"{to_checksum_address(refund.sender)}")


@command.command("rebuild")
@market_options
@datadir_option
@click.option("--json", "as_json", is_flag=True, help="Print {block, root, matches} as JSON.")
def rebuild_command(rpc_url: str, deployment: Path | None, datadir: Path | None,
                    as_json: bool) -> None:
    """Rebuild every L2 account from L1 data alone (the Rollup's genesis event and each block's
    posted records) and check the root against the Rollup's latest."""
    l1 = _open_l1(rpc_url, deployment, datadir)
    state, number = rebuild(l1.rollup, l1.circuit, l1.from_block)
    on_l1 = l1.rollup.block(l1.rollup.last_committed()).new_root
    summary = {"block": number, "root": hex32(state.root), "rollupRoot": hex32(on_l1),
               "matches": state.root == on_l1}
    if as_json:
        click.echo(json.dumps(summary))
    else:
        click.echo(f"rebuilt the L2 state through block {number} from L1: root "
                   f"{summary['root']}, " + ("equal to the Rollup's" if summary["matches"]
                                             else f"but the Rollup holds {summary['rollupRoot']}"))
    if not summary["matches"]:
        raise SystemExit(1)
