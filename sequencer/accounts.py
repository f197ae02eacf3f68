"""Accounts and the Poseidon Merkle tree that holds them: the L2 state.

An account sits at a leaf of a binary tree of depth D; its index (leaf
position) is how transfers name it. Its leaf is

    Poseidon(address, balance, nonce),   address = Poseidon(Ax, Ay)

where (Ax, Ay) is the owner's Baby Jubjub EdDSA public key. Committing to the
key through its hash, like an Ethereum address, lets a transfer name its
recipient with one field element, which the block's posted data carries, so
the state can be rebuilt from L1 data alone; the sender shows its key, which
the circuit hashes and checks against the leaf. An empty leaf is 0: no
Poseidon output is 0 in practice, so emptiness cannot be faked.

Balances are below 2^128 (`BALANCE_BITS`): wide enough for any ERC-20 supply
in 18-decimal base units, and so far below r ~ 2^254 that a sum of two never
wraps in the field; the circuit range-checks every balance it writes. Nonces
are below 2^32.

A node is Poseidon(left, right). `AccountTree` is persistent: `set` returns a
new tree sharing all but one path with the old one, so a block applies to a
state without changing it and every intermediate state stays readable (the
block circuit's inputs need each transfer's paths).
"""

import functools
from dataclasses import dataclass

from sequencer.babyjub import Point
from sequencer.poseidon import poseidon

BALANCE_BITS = 128
NONCE_BITS = 32
#: deepest tree: a packed transfer gives each index 32 bits
MAX_DEPTH = 32
EMPTY_LEAF = 0


@dataclass(frozen=True)
class Account:
    address: int
    balance: int = 0
    nonce: int = 0


def address_of(public_key: Point) -> int:
    """The address an EdDSA public key owns: Poseidon(Ax, Ay)."""
    return poseidon(public_key)


def account_leaf(account: Account | None) -> int:
    if account is None:
        return EMPTY_LEAF
    return poseidon((account.address, account.balance, account.nonce))


def root_from_path(leaf: int, index: int, siblings: tuple[int, ...]) -> int:
    """The root that a leaf at `index` with these siblings (leaf level first) hashes up to.

    Bit k of the index (least significant first) says whether the node at
    height k is a right child: the circuit's MerkleRoot does the same.
    """
    node = leaf
    for height, sibling in enumerate(siblings):
        pair = (sibling, node) if index >> height & 1 else (node, sibling)
        node = poseidon(pair)
    return node


@functools.cache
def empty_roots(depth: int) -> tuple[int, ...]:
    """Root of an empty subtree of each height 0..depth."""
    roots = [EMPTY_LEAF]
    for _ in range(depth):
        roots.append(poseidon((roots[-1], roots[-1])))
    return tuple(roots)


# A node is (hash, left, right); a leaf is (hash, account or None).
_Node = tuple


@functools.cache
def _empty_nodes(depth: int) -> tuple[_Node, ...]:
    nodes: list[_Node] = [(EMPTY_LEAF, None)]
    for root in empty_roots(depth)[1:]:
        nodes.append((root, nodes[-1], nodes[-1]))
    return tuple(nodes)


class AccountTree:
    """A persistent sparse Poseidon Merkle tree of accounts, depth 1 to 32."""

    __slots__ = ("depth", "_top")

    def __init__(self, depth: int, _top: _Node | None = None):
        if not 1 <= depth <= MAX_DEPTH:
            raise ValueError(f"tree depth must be 1 to {MAX_DEPTH}, not {depth}")
        self.depth = depth
        self._top = _empty_nodes(depth)[depth] if _top is None else _top

    @property
    def root(self) -> int:
        return self._top[0]

    @property
    def capacity(self) -> int:
        return 1 << self.depth

    def get(self, index: int) -> Account | None:
        """The account at `index`, or None for an empty leaf."""
        return self._path(index)[-1][1]

    def set(self, index: int, account: Account) -> "AccountTree":
        """A tree with `account` at `index`, everything else as in this one."""
        path = self._path(index)
        node: _Node = (account_leaf(account), account)
        for height in range(self.depth):
            parent = path[-2 - height]
            if index >> height & 1:
                node = (poseidon((parent[1][0], node[0])), parent[1], node)
            else:
                node = (poseidon((node[0], parent[2][0])), node, parent[2])
        return AccountTree(self.depth, node)

    def proof(self, index: int) -> tuple[int, ...]:
        """The siblings of the path to `index`, leaf level first (see `root_from_path`)."""
        path = self._path(index)
        siblings = []
        for height in range(self.depth):
            parent = path[-2 - height]
            siblings.append(parent[1][0] if index >> height & 1 else parent[2][0])
        return tuple(siblings)

    def _path(self, index: int) -> list[_Node]:
        """Nodes from the top down to the leaf at `index`."""
        if not 0 <= index < self.capacity:
            raise ValueError(f"index {index} is outside a tree of depth {self.depth}")
        path = [self._top]
        for height in reversed(range(self.depth)):
            path.append(path[-1][2] if index >> height & 1 else path[-1][1])
        return path
