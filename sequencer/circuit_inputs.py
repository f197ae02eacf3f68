"""The block circuit's input (snarkjs's input.json) for a block, built from the L2 model.

Coordinators hand it to rollers with each task; a roller computes the witness
from it. It walks the block's records through `transition` (so a block the rules
refuse raises the same `InvalidTransfer` here) and reads each slot's leaves and
paths from the states in between: the sender's (at a) before its debit, the
recipient's (at b) after it. Slots past the block's records are padding: op 0
and every other input 0, which the circuit accepts without a signature. The
block's entries are the body's (`sequencer.block_data.body`): the consumed
entries in record order, then zeros.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from sequencer.accounts import AccountTree
from sequencer.block_data import EXPONENT_BITS, Op, Record, block_commitment, pack_amount
from sequencer.errors import BlockTooLarge, InvalidTransfer, WrongDepth
from sequencer.transactions import DEVNET_CHAIN_ID, Transfer
from sequencer.transition import (
    CREDIT_OPS,
    DEBIT_OPS,
    SIGNED_OPS,
    credit_recipient,
    debit_sender,
)


@dataclass(frozen=True)
class BlockCircuit:
    """A profile of zkp/circuits/block.circom: main = Block(block_size, depth, chain_id,
    entries)."""

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
    "op", "a", "b", "mantissa", "exponent", "toAddress",
    "senderAx", "senderAy", "sigR8x", "sigR8y", "sigS",
    "senderEmpty", "senderAddress", "senderBalance", "senderNonce", "senderPath",
    "recipientEmpty", "recipientBalance", "recipientNonce", "recipientPath",
)  # fmt: skip
_PATHS = ("senderPath", "recipientPath")
#: the ops whose slot proves the sender's leaf: those that debit it, and FORCED_SKIP (which
#: proves the leaf does not pay)
_SENDER_OPS = DEBIT_OPS | {Op.FORCED_SKIP}


def block_inputs(
    circuit: BlockCircuit,
    state_before: AccountTree,
    ops: Sequence[tuple[Record, Transfer | None]],
    prover: int | str,
) -> dict[str, object]:
    """input.json for proving the records `ops` (each with its signed transaction, or None;
    see `transition.apply_record`) on `state_before`; values as decimal strings.

    `prover` is the roller's Ethereum address (0x-hex or int): the proof is bound to it.
    """
    records = [record for record, _ in ops]
    entries = [record.entry for record in records if record.entry is not None]
    if len(records) > circuit.block_size or len(entries) > circuit.entries:
        raise BlockTooLarge(
            f"{len(records)} records and {len(entries)} entries, but {circuit.name} has "
            f"{circuit.block_size} slots and {circuit.entries} entries"
        )
    if state_before.depth != circuit.depth:
        raise WrongDepth(
            f"the state's tree has depth {state_before.depth}, {circuit.name} depth {circuit.depth}"
        )
    slots = []
    state = state_before
    for position, (record, tx) in enumerate(ops):
        try:
            debited = debit_sender(state, record, tx, circuit.chain_id)
            after = credit_recipient(debited, record, tx)
        except InvalidTransfer as error:
            error.position = position
            raise
        slots.append(slot_inputs(state, debited, record, tx))
        state = after
    slots += [_padding(circuit.depth)] * (circuit.block_size - len(records))
    inputs: dict[str, object] = {
        "oldRoot": state_before.root,
        "newRoot": state.root,
        "dataHash": block_commitment(records, circuit.block_size, circuit.entries),
        "prover": int(prover, 16) if isinstance(prover, str) else prover,
        "entries": entries + [0] * (circuit.entries - len(entries)),
    }
    for name in SLOT_INPUTS:
        inputs[name] = [slot[name] for slot in slots]
    return _decimal(inputs)


def _padding(depth: int) -> dict[str, object]:
    """A padding slot's inputs: all 0."""
    return {name: (0,) * depth if name in _PATHS else 0 for name in SLOT_INPUTS}


def slot_inputs(before: AccountTree, debited: AccountTree, record: Record,
                tx: Transfer | None) -> dict[str, object]:
    """One slot's inputs: `record` applied to `before`, `debited` the state after its sender's
    update; what the op does not use is 0."""
    packed = pack_amount(record.amount)
    slot = _padding(before.depth) | {
        "op": int(record.op),
        "a": record.a,
        "b": record.b,
        "mantissa": packed >> EXPONENT_BITS,
        "exponent": packed & ((1 << EXPONENT_BITS) - 1),
        "toAddress": tx.to_address if record.op == Op.TRANSFER else record.entry or 0,
    }
    if record.op in SIGNED_OPS:
        slot |= {"senderAx": tx.public_key[0], "senderAy": tx.public_key[1],
                 "sigR8x": tx.signature.r8[0], "sigR8y": tx.signature.r8[1],
                 "sigS": tx.signature.s}
    if record.op in _SENDER_OPS:
        sender = before.get(record.a)
        slot |= {"senderEmpty": int(sender is None), "senderPath": before.proof(record.a)}
        if sender is not None:
            slot |= {"senderAddress": sender.address, "senderBalance": sender.balance,
                     "senderNonce": sender.nonce}
    if record.op in CREDIT_OPS:
        recipient = debited.get(record.b)
        slot |= {"recipientEmpty": int(recipient is None),
                 "recipientPath": debited.proof(record.b)}
        if recipient is not None:
            slot |= {"recipientBalance": recipient.balance, "recipientNonce": recipient.nonce}
    return slot


def _decimal(value: object) -> object:
    """Ints as decimal strings, through lists and dicts: JSON-safe, as snarkjs reads them."""
    if isinstance(value, dict):
        return {key: _decimal(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_decimal(item) for item in value]
    return str(value)
