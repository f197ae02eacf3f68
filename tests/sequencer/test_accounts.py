"""The account leaf and the persistent Poseidon Merkle tree."""

import random

import pytest

from sequencer.accounts import (
    EMPTY_LEAF,
    Account,
    AccountTree,
    account_leaf,
    address_of,
    empty_roots,
    root_from_path,
)
from sequencer.babyjub import BASE8
from sequencer.poseidon import poseidon

DEPTH = 4


def naive_root(depth: int, accounts: dict[int, Account]) -> int:
    """Hash every level of the full tree: an implementation independent of AccountTree's."""
    level = [account_leaf(accounts.get(i)) for i in range(1 << depth)]
    while len(level) > 1:
        level = [poseidon(level[i : i + 2]) for i in range(0, len(level), 2)]
    return level[0]


def test_leaf_and_address_are_poseidon():
    assert address_of(BASE8) == poseidon(BASE8)
    assert account_leaf(Account(address=5, balance=7, nonce=9)) == poseidon([5, 7, 9])
    assert account_leaf(None) == EMPTY_LEAF == 0


def test_empty_tree_root_is_the_empty_subtree_chain():
    roots = empty_roots(DEPTH)
    assert roots[0] == EMPTY_LEAF
    assert all(roots[h + 1] == poseidon([roots[h], roots[h]]) for h in range(DEPTH))
    assert AccountTree(DEPTH).root == roots[DEPTH] == naive_root(DEPTH, {})


def test_roots_and_proofs_match_a_full_tree():
    rng = random.Random(1)
    accounts = {}
    tree = AccountTree(DEPTH)
    for _ in range(12):
        index = rng.randrange(1 << DEPTH)
        accounts[index] = Account(rng.randrange(1, 2**250), rng.randrange(2**128), rng.randrange(9))
        tree = tree.set(index, accounts[index])
        assert tree.root == naive_root(DEPTH, accounts)
    for index in range(1 << DEPTH):
        assert tree.get(index) == accounts.get(index)
        leaf = account_leaf(accounts.get(index))
        assert root_from_path(leaf, index, tree.proof(index)) == tree.root


def test_set_leaves_the_old_tree_as_it_was():
    before = AccountTree(DEPTH).set(3, Account(11))
    after = before.set(3, Account(11, balance=5)).set(12, Account(13))
    assert before.get(3) == Account(11) and before.get(12) is None
    assert before.root == naive_root(DEPTH, {3: Account(11)})
    assert after.get(3) == Account(11, balance=5) and after.get(12) == Account(13)


def test_a_proof_does_not_fit_another_leaf():
    tree = AccountTree(DEPTH).set(6, Account(1))
    proof = tree.proof(6)
    assert root_from_path(account_leaf(Account(1, balance=1)), 6, proof) != tree.root
    assert root_from_path(account_leaf(Account(1)), 7, proof) != tree.root


@pytest.mark.parametrize("index", [-1, 1 << DEPTH])
def test_indices_outside_the_tree_are_refused(index):
    with pytest.raises(ValueError, match="outside a tree of depth 4"):
        AccountTree(DEPTH).get(index)


@pytest.mark.parametrize("depth", [0, 33])
def test_depth_is_1_to_32(depth):
    with pytest.raises(ValueError, match="tree depth must be 1 to 32"):
        AccountTree(depth)
