"""Blocks of the L2 model: signed transfers applied in order, with what L1 and the circuit see.

Tests, benchmarks and the devnet's load generator build chains of these from the devnet genesis.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from sequencer.accounts import AccountTree
from sequencer.genesis import dev_address, dev_private_key
from sequencer.transactions import DEVNET_CHAIN_ID, Transfer, block_data, data_hash, sign_transfer
from sequencer.transition import apply_block


@dataclass(frozen=True)
class L2Block:
    before: AccountTree
    transfers: list[Transfer]
    after: AccountTree

    @property
    def data(self) -> list[int]:
        """The elements the block posts on L1."""
        return block_data(self.transfers)

    def inputs(self, prover: str) -> list[int]:
        """The block circuit's public inputs for a proof by `prover` (an address)."""
        return [self.before.root, self.after.root, data_hash(self.data), int(prover, 16)]


def dev_transfer(sender: int, recipient: int, amount: int, nonce: int,
                 chain_id: int = DEVNET_CHAIN_ID) -> Transfer:
    """A transfer between devnet accounts, signed with the sender's well-known dev key."""
    unsigned = Transfer(sender, recipient, dev_address(recipient), amount, nonce)
    return sign_transfer(unsigned, dev_private_key(sender), chain_id)


def l2_chain(state: AccountTree, blocks: Sequence[list[Transfer]],
             chain_id: int = DEVNET_CHAIN_ID) -> list[L2Block]:
    """Apply each block's transfers in turn, from `state`."""
    chain = []
    for transfers in blocks:
        after = apply_block(state, transfers, chain_id)
        chain.append(L2Block(state, transfers, after))
        state = after
    return chain
