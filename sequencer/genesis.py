"""The state a rollup starts from.

Every later state inherits the genesis state's invariants (balances below
2^128, nonces below 2^32, no account with address 0), because every
transition keeps them; the block circuit relies on that (it range-checks what
it writes, not what it reads), so genesis checks them once.
"""

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path

from sequencer.accounts import BALANCE_BITS, NONCE_BITS, Account, AccountTree, address_of
from sequencer.eddsa import public_key
from sequencer.errors import InvalidGenesis
from zkp.field import R

#: prefix of the devnet's well-known private keys (never use them for value)
DEV_KEY_TAG = b"provernet devnet account "


def genesis_state(depth: int, accounts: Mapping[int, Account]) -> AccountTree:
    """A tree of `depth` holding `accounts` by index."""
    state = AccountTree(depth)
    for index, account in sorted(accounts.items()):
        if not 0 <= index < state.capacity:
            raise InvalidGenesis(f"account index {index} is outside a tree of depth {depth}")
        if not 0 < account.address < R:
            raise InvalidGenesis(f"account {index}: address {account.address} is 0 or not below r")
        if not 0 <= account.balance < 1 << BALANCE_BITS:
            raise InvalidGenesis(f"account {index}: balance does not fit in {BALANCE_BITS} bits")
        if not 0 <= account.nonce < 1 << NONCE_BITS:
            raise InvalidGenesis(f"account {index}: nonce does not fit in {NONCE_BITS} bits")
        state = state.set(index, account)
    return state


def dev_private_key(index: int) -> bytes:
    """The devnet's well-known private key number `index`: anyone can derive it."""
    return hashlib.sha256(DEV_KEY_TAG + str(index).encode()).digest()


def dev_address(index: int) -> int:
    """The address of dev key `index`."""
    return address_of(public_key(dev_private_key(index)))


def devnet_genesis(depth: int, count: int, balance: int) -> AccountTree:
    """Accounts 0..count-1 owned by the dev keys of the same numbers, each holding `balance`."""
    return genesis_state(depth, {i: Account(dev_address(i), balance) for i in range(count)})


def load_genesis(path: str | os.PathLike) -> dict[int, Account]:
    """A genesis allocation from a JSON file, checked as `genesis_state` checks it:

        {"accounts": [{"index": 0, "address": "0x1c3f…", "balance": "1000000", "nonce": 0}, …]}

    `address` is the L2 address (Poseidon of the owner's public key, `provernet l2 keys show`),
    hex or decimal; `balance` and `nonce` are integers or decimal strings (JSON readers lose
    precision above 2^53, balances reach 2^128); `nonce` defaults to 0.
    """
    try:
        document = json.loads(Path(path).read_text())
    except OSError as error:
        raise InvalidGenesis(f"cannot read the genesis file {path}: {error.strerror or error}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise InvalidGenesis(f"the genesis file {path} is not JSON: {error}") from None
    entries = document.get("accounts") if isinstance(document, dict) else None
    if not isinstance(entries, list) or not entries:
        raise InvalidGenesis(f"the genesis file {path} has no \"accounts\" list")
    accounts: dict[int, Account] = {}
    for position, entry in enumerate(entries):
        where = f"{path}: accounts[{position}]"
        if not isinstance(entry, dict) or set(entry) - {"index", "address", "balance", "nonce"}:
            raise InvalidGenesis(f"{where} must be an object with index, address, balance and "
                                 "optionally nonce")
        index = _integer(entry.get("index"), f"{where}.index")
        if index in accounts:
            raise InvalidGenesis(f"{where}: index {index} appears twice")
        accounts[index] = Account(_integer(entry.get("address"), f"{where}.address"),
                                  _integer(entry.get("balance"), f"{where}.balance"),
                                  _integer(entry.get("nonce", 0), f"{where}.nonce"))
    return accounts


def _integer(value: object, where: str) -> int:
    if isinstance(value, bool):
        raise InvalidGenesis(f"{where} must be an integer, not {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value, 0)
        except ValueError:
            pass
    raise InvalidGenesis(f"{where} must be an integer (or a decimal or 0x-hex string), not {value!r}")


#: an account as the Rollup's `Genesis` event posts it: index (3 bytes), address (32),
#: balance (16), nonce (4), big-endian
GENESIS_ACCOUNT_BYTES = 3 + 32 + 16 + 4


def encode_accounts(accounts: Mapping[int, Account]) -> bytes:
    """The genesis accounts as the Rollup's constructor emits them (`Genesis(bytes)`), by index,
    so that `l2 rebuild` starts from L1 data alone."""
    return b"".join(index.to_bytes(3, "big") + account.address.to_bytes(32, "big")
                    + account.balance.to_bytes(16, "big") + account.nonce.to_bytes(4, "big")
                    for index, account in sorted(accounts.items()))


def decode_accounts(data: bytes) -> dict[int, Account]:
    """`encode_accounts` read back; InvalidGenesis if `data` is not such a list."""
    if len(data) % GENESIS_ACCOUNT_BYTES:
        raise InvalidGenesis(f"{len(data)} bytes of genesis accounts: not a multiple of "
                             f"{GENESIS_ACCOUNT_BYTES}")
    accounts = {}
    for at in range(0, len(data), GENESIS_ACCOUNT_BYTES):
        index = int.from_bytes(data[at:at + 3], "big")
        if index in accounts:
            raise InvalidGenesis(f"genesis account {index} appears twice")
        accounts[index] = Account(int.from_bytes(data[at + 3:at + 35], "big"),
                                  int.from_bytes(data[at + 35:at + 51], "big"),
                                  int.from_bytes(data[at + 51:at + 55], "big"))
    return accounts
