"""The block circuit's input (snarkjs's input.json) for a block, built from the L2 model.

Coordinators hand it to rollers with each task; a roller computes the witness
from it. It walks the block through `transition` (so a block the rules refuse
raises the same `InvalidTransfer` here) and reads each slot's paths from the
states in between: the sender's path before its debit, the recipient's after
it. Slots past the block's transfers are padding: enabled = 0 and every other
input 0, which the circuit accepts without a signature.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from sequencer.accounts import AccountTree
from sequencer.errors import BlockTooLarge, InvalidTransfer, WrongDepth
from sequencer.transactions import DEVNET_CHAIN_ID, Transfer, block_data, data_hash
from sequencer.transition import credit_recipient, debit_sender


@dataclass(frozen=True)
class BlockCircuit:
    """A profile of zkp/circuits/block.circom: main = Block(block_size, depth, chain_id)."""

    name: str
    block_size: int
    depth: int
    chain_id: int
    #: 32-byte entries a block can consume (sequencer.block_data): openings, deposits, exits
    entries: int


#: zkp/circuits/block_small.circom: tests and the CPU demo
SMALL = BlockCircuit("block_small", block_size=2, depth=8, chain_id=DEVNET_CHAIN_ID, entries=1)
#: zkp/circuits/block_large.circom: GPU proving
LARGE = BlockCircuit("block_large", block_size=32, depth=20, chain_id=DEVNET_CHAIN_ID,
                     entries=8)

#: per-slot inputs, in the order block.circom declares them
SLOT_INPUTS = (
    "enabled", "from", "to", "toAddress", "amount", "nonce",
    "senderAx", "senderAy", "senderBalance", "sigR8x", "sigR8y", "sigS", "senderPath",
    "recipientEmpty", "recipientBalance", "recipientNonce", "recipientPath",
)  # fmt: skip
_PATHS = ("senderPath", "recipientPath")


def block_inputs(
    circuit: BlockCircuit,
    state_before: AccountTree,
    transfers: Sequence[Transfer],
    prover: int | str,
) -> dict[str, object]:
    """input.json for proving `transfers` on `state_before`; values as decimal strings.

    `prover` is the roller's Ethereum address (0x-hex or int): the proof is bound to it.
    """
    if len(transfers) > circuit.block_size:
        raise BlockTooLarge(
            f"{len(transfers)} transfers, but {circuit.name} has {circuit.block_size} slots"
        )
    if state_before.depth != circuit.depth:
        raise WrongDepth(
            f"the state's tree has depth {state_before.depth}, {circuit.name} depth {circuit.depth}"
        )
    slots = []
    state = state_before
    for position, transfer in enumerate(transfers):
        before = state
        try:
            debited = debit_sender(before, transfer, circuit.chain_id)
            state = credit_recipient(debited, transfer)
        except InvalidTransfer as error:
            error.position = position
            raise
        sender = before.get(transfer.from_index)
        recipient = debited.get(transfer.to_index)
        slots.append(
            {
                "enabled": 1,
                "from": transfer.from_index,
                "to": transfer.to_index,
                "toAddress": transfer.to_address,
                "amount": transfer.amount,
                "nonce": transfer.nonce,
                "senderAx": transfer.public_key[0],
                "senderAy": transfer.public_key[1],
                "senderBalance": sender.balance,
                "sigR8x": transfer.signature.r8[0],
                "sigR8y": transfer.signature.r8[1],
                "sigS": transfer.signature.s,
                "senderPath": before.proof(transfer.from_index),
                "recipientEmpty": int(recipient is None),
                "recipientBalance": 0 if recipient is None else recipient.balance,
                "recipientNonce": 0 if recipient is None else recipient.nonce,
                "recipientPath": debited.proof(transfer.to_index),
            }
        )
    padding = {name: (0,) * circuit.depth if name in _PATHS else 0 for name in SLOT_INPUTS}
    slots += [padding] * (circuit.block_size - len(transfers))
    inputs: dict[str, object] = {
        "oldRoot": state_before.root,
        "newRoot": state.root,
        "dataHash": data_hash(block_data(transfers)),
        "prover": int(prover, 16) if isinstance(prover, str) else prover,
    }
    for name in SLOT_INPUTS:
        inputs[name] = [slot[name] for slot in slots]
    return _decimal(inputs)


def _decimal(value: object) -> object:
    """Ints as decimal strings, through lists and dicts: JSON-safe, as snarkjs reads them."""
    if isinstance(value, dict):
        return {key: _decimal(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_decimal(item) for item in value]
    return str(value)
