"""The L2 wallet: a Baby Jubjub key in the data directory, and transfers prepared through the API.

The key is 32 random bytes (circomlibjs's private key form, see eddsa.py), kept
in DATADIR/l2-key.json readable by its owner only (0600), written whole or not
at all and never over an existing key. It is not encrypted: an L2 key moves
L2 balances only, and the wallet must sign without a prompt; keep large
balances under a key kept elsewhere.

A transfer names accounts by index, so the wallet asks the sequencer for its
own index and next nonce (counting pending transfers), and for the
recipient's index by address, or the lowest empty leaf to open an account on
for an address the L2 has not seen.
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path

from sequencer import eddsa
from sequencer.accounts import address_of
from sequencer.babyjub import Point
from sequencer.client import SequencerClient
from sequencer.errors import (
    InvalidParams,
    NoL2Account,
    UnknownRecipient,
    WalletError,
    WalletKeyExists,
    WalletKeyMissing,
)
from sequencer.genesis import dev_private_key
from sequencer.transactions import Kind, Transfer, sign_transfer
from sequencer.wire import field_element, hex32

KEY_NAME = "l2-key.json"
KEY_VERSION = 1


@dataclass(frozen=True)
class L2Key:
    private_key: bytes

    @cached_property
    def public_key(self) -> Point:
        return eddsa.public_key(self.private_key)

    @cached_property
    def address(self) -> int:
        return address_of(self.public_key)


def key_path(datadir: Path) -> Path:
    return datadir / KEY_NAME


def create_key(datadir: Path) -> L2Key:
    """A fresh random key, saved in `datadir`; an existing key is never replaced."""
    path = key_path(datadir)
    if path.exists():
        raise WalletKeyExists(f"an L2 key already exists at {path}; use another --datadir")
    key = L2Key(secrets.token_bytes(32))
    datadir.mkdir(mode=0o700, parents=True, exist_ok=True)
    document = {"version": KEY_VERSION, "private_key": key.private_key.hex(),
                "address": hex32(key.address)}
    fd, tmp = tempfile.mkstemp(dir=datadir, prefix=f".{KEY_NAME}.")  # created 0600
    try:
        with os.fdopen(fd, "w") as handle:
            json.dump(document, handle)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        # link, unlike rename, fails if the name exists: a key made meanwhile is never lost
        os.link(tmp, path)
    except FileExistsError:
        raise WalletKeyExists(
            f"an L2 key already exists at {path}; use another --datadir") from None
    finally:
        Path(tmp).unlink(missing_ok=True)
    return key


def load_key(datadir: Path) -> L2Key:
    path = key_path(datadir)
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError:
        raise WalletKeyMissing(f"no L2 key at {path}; run `provernet l2 keys new`") from None
    except (OSError, ValueError) as exc:
        raise WalletError(f"cannot read the L2 key {path}: {exc}") from None
    try:
        key = L2Key(bytes.fromhex(document["private_key"]))
    except (KeyError, TypeError, ValueError):
        raise WalletError(f"{path} is not an L2 key file (no private_key in hex)") from None
    if document.get("address") != hex32(key.address):
        raise WalletError(f"{path} is damaged: its address does not belong to its key")
    return key


def dev_key(index: int) -> L2Key:
    """The devnet's well-known key number `index`: it owns genesis account `index` (INSECURE)."""
    return L2Key(dev_private_key(index))


async def own_account(client: SequencerClient, key: L2Key) -> dict:
    """The wallet's account as the API shows it (with `pendingNonce`, `pendingBalance`)."""
    index = await client.account_index(key.address)
    if index is None:
        raise NoL2Account(f"address {hex32(key.address)} has no account on this L2 yet; it gets "
                          "one when someone sends it a transfer")
    return await client.account(index)


async def recipient(client: SequencerClient, to: str) -> tuple[int, int]:
    """(index, address) for `to`: an account index (decimal) or an address (0x-hex)."""
    if to.isdigit():
        account = await client.account(int(to))
        if account is None:
            raise UnknownRecipient(f"account index {to} is empty; give the recipient's address "
                                   "instead to open an account for it")
        return account["index"], int(account["address"], 16)
    try:
        address = field_element(to, "--to")
    except InvalidParams:
        raise UnknownRecipient(f"--to {to!r} is neither an account index nor a 0x-hex L2 "
                               "address") from None
    index = await client.account_index(address)
    if index is None:
        index = await client.free_index()
        if index is None:
            raise UnknownRecipient("the L2 tree is full: no empty leaf to open an account on")
    return index, address


async def prepare_transfer(client: SequencerClient, key: L2Key, to: str, amount: int) -> Transfer:
    """A signed transfer of `amount` from the wallet's account to `to`, at its next nonce."""
    to_index, to_address = await recipient(client, to)
    return await _signed(client, key, Transfer(0, to_index, to_address, amount, 0))


async def prepare_withdrawal(client: SequencerClient, key: L2Key, recipient_l1: int,
                             amount: int) -> Transfer:
    """A signed withdrawal of `amount` from the wallet's account to L1 address `recipient_l1`,
    at its next nonce: claimable on L1 (`l2 claim`) once its block is finalized."""
    return await _signed(client, key, Transfer(0, 0, recipient_l1, amount, 0,
                                               kind=Kind.WITHDRAW))


async def _signed(client: SequencerClient, key: L2Key, unsigned: Transfer) -> Transfer:
    """`unsigned` from the wallet's account at its next nonce, signed for the API's rollup."""
    sender = await own_account(client, key)
    chain_id = int((await client.status())["chainId"], 16)
    return sign_transfer(replace(unsigned, from_index=sender["index"],
                                 nonce=sender["pendingNonce"]), key.private_key, chain_id)
