"""The state a rollup starts from.

Every later state inherits the genesis state's invariants (balances below
2^128, nonces below 2^32, no account with address 0), because every
transition keeps them; the block circuit relies on that (it range-checks what
it writes, not what it reads), so genesis checks them once.
"""

import hashlib
from collections.abc import Mapping

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
