"""Blocks of the L2 model: signed transfers posted as records (`transition.record_for`) and
applied in order, with what L1 and the circuit see.

Tests, benchmarks and the devnet's load generator build chains of these from the devnet genesis.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from sequencer.accounts import AccountTree
from sequencer.block_data import Record, block_commitment, calldata
from sequencer.circuit_inputs import BlockCircuit
from sequencer.genesis import dev_address, dev_private_key
from sequencer.transactions import DEVNET_CHAIN_ID, Transfer, sign_transfer
from sequencer.transition import apply_record, record_for


@dataclass(frozen=True)
class L2Block:
    before: AccountTree
    #: each record with its signed transaction: what `circuit_inputs.block_inputs` takes
    ops: list[tuple[Record, Transfer | None]]
    after: AccountTree

    @property
    def records(self) -> list[Record]:
        return [record for record, _ in self.ops]

    @property
    def data(self) -> bytes:
        """What the block posts on L1 (`Rollup.commit_block`'s data)."""
        return calldata(self.records)

    def inputs(self, circuit: BlockCircuit, prover: str) -> list[int]:
        """`circuit`'s public inputs for a proof by `prover` (an address)."""
        return [self.before.root, self.after.root,
                block_commitment(self.records, circuit.block_size, circuit.entries),
                int(prover, 16)]


def dev_transfer(sender: int, recipient: int, amount: int, nonce: int,
                 chain_id: int = DEVNET_CHAIN_ID) -> Transfer:
    """A transfer between devnet accounts, signed with the sender's well-known dev key."""
    unsigned = Transfer(sender, recipient, dev_address(recipient), amount, nonce)
    return sign_transfer(unsigned, dev_private_key(sender), chain_id)


def l2_chain(state: AccountTree, blocks: Sequence[list[Transfer]],
             chain_id: int = DEVNET_CHAIN_ID) -> list[L2Block]:
    """Post and apply each block's transfers in turn, from `state`."""
    chain = []
    for transfers in blocks:
        before, ops = state, []
        for tx in transfers:
            record = record_for(state, tx)
            state = apply_record(state, record, tx, chain_id)
            ops.append((record, tx))
        chain.append(L2Block(before, ops, state))
    return chain
