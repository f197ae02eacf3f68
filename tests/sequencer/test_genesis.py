"""The genesis state and its invariants, and the genesis file a rollup team writes."""

import json

import pytest

from sequencer.accounts import Account, address_of
from sequencer.eddsa import public_key
from sequencer.errors import InvalidGenesis
from sequencer.genesis import (dev_address, dev_private_key, devnet_genesis, genesis_state,
                              load_genesis)
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


def test_a_genesis_file_gives_the_allocation_it_lists(tmp_path):
    path = tmp_path / "genesis.json"
    path.write_text(json.dumps({"accounts": [
        {"index": 0, "address": hex(dev_address(0)), "balance": str(2**100)},
        {"index": 5, "address": str(dev_address(1)), "balance": 7, "nonce": 3},
    ]}))
    accounts = load_genesis(path)
    assert accounts == {0: Account(dev_address(0), 2**100), 5: Account(dev_address(1), 7, 3)}
    assert genesis_state(4, accounts).get(5) == Account(dev_address(1), 7, 3)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("{", "is not JSON"),
        ("[]", 'has no "accounts" list'),
        ('{"accounts": []}', 'has no "accounts" list'),
        ('{"accounts": [7]}', r"accounts\[0\] must be an object"),
        ('{"accounts": [{"index": 0, "address": 1, "balance": 1, "owner": "me"}]}',
         r"accounts\[0\] must be an object with index, address, balance"),
        ('{"accounts": [{"index": 0, "address": 1}]}', r"accounts\[0\].balance must be an integer"),
        ('{"accounts": [{"index": "zero", "address": 1, "balance": 1}]}',
         r"accounts\[0\].index must be an integer .* not 'zero'"),
        ('{"accounts": [{"index": 0, "address": true, "balance": 1}]}',
         r"accounts\[0\].address must be an integer, not True"),
        ('{"accounts": [{"index": 1, "address": 1, "balance": 1}, {"index": 1, "address": 2, "balance": 1}]}',
         r"accounts\[1\]: index 1 appears twice"),
    ],
)
def test_a_malformed_genesis_file_is_refused_with_where_and_why(tmp_path, text, problem):
    path = tmp_path / "genesis.json"
    path.write_text(text)
    with pytest.raises(InvalidGenesis, match=problem):
        load_genesis(path)


def test_a_missing_genesis_file_is_named(tmp_path):
    with pytest.raises(InvalidGenesis, match="cannot read the genesis file .*nowhere.json"):
        load_genesis(tmp_path / "nowhere.json")
