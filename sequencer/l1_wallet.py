"""The wallet's L1 side: what it needs from L1 data alone to claim a withdrawal or exit.

Neither needs the sequencer: a claim's Merkle proof comes from the records the block posted
(its commitBlock calldata), an exit's leaf and path from the state rebuilt from L1 up to the
last finalized block (`sequencer.rebuild`). So a user whose sequencer has vanished, or
refuses to answer, still gets their tokens out, which is the point of both paths.
"""

from __future__ import annotations

from dataclasses import dataclass

from market_contracts.rollup import Rollup
from sequencer import eddsa
from sequencer.block_data import exit_proof, exits
from sequencer.circuit_inputs import BlockCircuit
from sequencer.errors import WalletError
from sequencer.rebuild import posted_blocks, rebuild
from sequencer.transactions import exit_message
from sequencer.wallet import L2Key


@dataclass(frozen=True)
class Claim:
    """What `Bridge.claimWithdrawal` takes for exit `position` of block `block_number`."""

    block_number: int
    position: int
    recipient: int
    amount: int
    proof: tuple[bytes, ...]


@dataclass(frozen=True)
class Exit:
    """What `Bridge.exit` takes for the account at `index` in the last finalized state."""

    index: int
    public_key: tuple[int, int]
    balance: int
    nonce: int
    path: tuple[int, ...]
    recipient: int
    r8: tuple[int, int]
    s: int


def claim(rollup: Rollup, circuit: BlockCircuit, from_l1_block: int, block_number: int,
          position: int) -> Claim:
    """Exit `position` of L2 block `block_number` as its posted records say (WalletError if that
    block, standing on L1, pays no such exit)."""
    standing = {b.number: b for b in posted_blocks(rollup, circuit, from_l1_block)}
    if block_number not in standing:
        raise WalletError(f"L2 block {block_number} is not committed on L1")
    records = standing[block_number].records
    paid = exits(records)
    if not 0 <= position < len(paid):
        raise WalletError(f"L2 block {block_number} pays {len(paid)} exit(s); there is no "
                          f"exit {position}")
    recipient, amount = paid[position]
    return Claim(block_number, position, recipient, amount,
                 tuple(exit_proof(block_number, records, position)))


def exit_of(rollup: Rollup, circuit: BlockCircuit, from_l1_block: int, key: L2Key, index: int,
            recipient: int) -> Exit:
    """The exit of `key`'s account at `index` to L1 address `recipient`, from the state of the
    last finalized block rebuilt from L1, signed with `key`."""
    state, _ = rebuild(rollup, circuit, from_l1_block, up_to=rollup.last_finalized())
    account = state.get(index)
    if account is None or account.address != key.address:
        raise WalletError(f"the last finalized state has no account of this key at index {index}")
    signature = eddsa.sign(key.private_key, exit_message(index, recipient, circuit.chain_id))
    return Exit(index, key.public_key, account.balance, account.nonce, tuple(state.proof(index)),
                recipient, signature.r8, signature.s)
