"""The genesis state and its invariants."""

import pytest

from sequencer.accounts import Account, address_of
from sequencer.eddsa import public_key
from sequencer.errors import InvalidGenesis
from sequencer.genesis import dev_address, dev_private_key, devnet_genesis, genesis_state
from zkp.field import R


def test_devnet_accounts_belong_to_the_dev_keys():
    state = devnet_genesis(depth=4, count=3, balance=500)
    for i in range(3):
        assert state.get(i) == Account(dev_address(i), 500)
        assert dev_address(i) == address_of(public_key(dev_private_key(i)))
    assert state.get(3) is None
    assert len({dev_private_key(i) for i in range(3)}) == 3


@pytest.mark.parametrize(
    ("accounts", "problem"),
    [
        ({16: Account(1)}, "account index 16 is outside a tree of depth 4"),
        ({0: Account(0)}, "account 0: address 0 is 0 or not below r"),
        ({0: Account(R)}, "not below r"),
        ({2: Account(1, balance=2**128)}, "account 2: balance does not fit in 128 bits"),
        ({2: Account(1, nonce=2**32)}, "account 2: nonce does not fit in 32 bits"),
    ],
)
def test_genesis_refuses_broken_invariants(accounts, problem):
    with pytest.raises(InvalidGenesis, match=problem):
        genesis_state(4, accounts)
