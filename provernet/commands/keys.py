"""`provernet keys`: the operator's encrypted Ethereum keystore.

Other commands that sign (the roller's staking commands) reuse `account_options` and `unlock`,
so every command finds the keystore and its password the same way.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, TypeVar

import click
from eth_account.signers.local import LocalAccount

from market_contracts.errors import ChainError
from roller import keys

F = TypeVar("F", bound=Callable[..., object])

datadir_option = click.option(
    "--datadir", type=click.Path(file_okay=False, path_type=Path), envvar=keys.DATADIR_ENV,
    help=f"Directory of the keystore [env {keys.DATADIR_ENV}; default {keys.DEFAULT_DATADIR}].")

password_file_option = click.option(
    "--password-file", type=click.Path(dir_okay=False, path_type=Path),
    help=f"File whose first line is the keystore password [else env {keys.PASSWORD_ENV}, "
         "else a prompt].")


def account_options(func: F) -> F:
    """Adds `datadir` and `password_file` parameters, for use with `unlock`."""
    return datadir_option(password_file_option(func))


def unlock(datadir: Path | None, password_file: Path | None) -> LocalAccount:
    """The signing account; a missing keystore fails before anyone is asked for a password."""
    keys.keystore_address(datadir)
    return keys.load_account(datadir, keys.resolve_password(password_file))


dev_account_option = click.option(
    "--dev-account", type=int, default=None,
    help="Sign with the node's Nth development account (anvil, the devnet) instead of the keystore.")


def signing_account(chain, dev_account: int | None, datadir: Path | None,
                    password_file: Path | None) -> LocalAccount:
    """The keystore's account, or with `--dev-account N` a dev node's Nth account."""
    if dev_account is None:
        return unlock(datadir, password_file)
    if not 0 <= dev_account < len(chain.dev_accounts):
        raise ChainError(f"{chain.name} has {len(chain.dev_accounts)} development accounts; "
                         f"--dev-account {dev_account} does not exist")
    return chain.dev_accounts[dev_account]


@click.group("keys")
def command() -> None:
    """The operator's Ethereum account, in an encrypted keystore."""


@command.command("new")
@account_options
def new(datadir: Path | None, password_file: Path | None) -> None:
    """Create a keystore with a fresh random account."""
    keys.refuse_existing_keystore(keys.keystore_path(datadir))
    address = keys.create_keystore(datadir, keys.resolve_password(password_file, confirm=True))
    _report_created(address, datadir)


@command.command("import")
@account_options
@click.option("--key-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="File holding the hex private key; otherwise it is asked for, hidden.")
def import_(datadir: Path | None, password_file: Path | None, key_file: Path | None) -> None:
    """Encrypt an existing private key into a keystore.

    The key is never a command-line argument: it would land in the shell history.
    """
    keys.refuse_existing_keystore(keys.keystore_path(datadir))
    private_key = _read_private_key(key_file)
    keys.parse_private_key(private_key)  # fail on a bad key before asking for a password
    password = keys.resolve_password(password_file, confirm=True)
    _report_created(keys.import_keystore(datadir, private_key, password), datadir)


@command.command("show")
@datadir_option
@click.option("--json", "as_json", is_flag=True, help="Print {\"address\", \"keystore\"} as JSON.")
def show(datadir: Path | None, as_json: bool) -> None:
    """Print the account's address; needs no password."""
    address = keys.keystore_address(datadir)
    path = keys.keystore_path(datadir)
    if as_json:
        click.echo(json.dumps({"address": address, "keystore": str(path)}))
    else:
        click.echo(f"Address:  {address}\nKeystore: {path}")


def _read_private_key(key_file: Path | None) -> str:
    if key_file is not None:
        try:
            return key_file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise click.FileError(str(key_file), hint=str(exc)) from exc
    if not keys.stdin_is_interactive():
        raise click.UsageError("no terminal to ask for the private key on; pass --key-file PATH")
    return click.prompt("Private key (hex)", hide_input=True)


def _report_created(address: str, datadir: Path | None) -> None:
    click.echo(f"Address:  {address}\nKeystore: {keys.keystore_path(datadir)}")
    click.echo("Back up the keystore and its password: without both the account is lost.",
               err=True)
