"""What a block posts on L1 and what its proof commits to: records, entries, the commitment.

The reference for the Rollup contract's `commitBlock` parser and for zkp/circuits/block.circom's
data commitment (docs/rollup-data.md has the design and its measurements). A block is a list of
`Record`s, one per operation, applied in order.

A record is 11 bytes, an 88-bit big-endian integer, most significant field first:

    op (3 bits) | a (24) | b (24) | mantissa (32) | exponent (5)

with amount = mantissa * 10^exponent (a decimal float, as zkSync Lite packed amounts: nine
significant digits over the whole 128-bit balance range, since (2^32 - 1) * 10^31 > 2^128).
An amount that is not exactly m * 10^e with m < 2^32 cannot be posted: wallets round
(`round_amount`), and the mempool and the Bridge refuse the rest.

Ops (what a and b are, and which 32-byte entry the record consumes):

    0 PAD          padding: every field 0; only ever implicit (the contract pads, never posts it)
    1 TRANSFER     a = from, b = to, an existing account;                     no entry
    2 OPEN         a = from, b = to, an empty leaf the transfer opens;        entry: its L2 address
    3 DEPOSIT      a = 0, b = to (empty, or holding the address);             entry: the L2 address
    4 WITHDRAW     a = from, b = 0;                                           entry: the L1 recipient
    5 FORCED       a = from, b = 0, a forced withdrawal that applies;         entry: the L2 address
    6 FORCED_SKIP  a = from, b = 0, a forced withdrawal that does not apply;  entry: the L2 address

Deposits and forced withdrawals are the L1 queue's entries, consumed in queue order. A forced
withdrawal applies when the account at `from` has the address its request named and holds the
amount; otherwise it is consumed and skipped (op 6), so a bad request cannot stall the rollup.
Its L1 recipient is posted after the entries (`recipients`), for the contract alone: the
circuit never needs it, the exit it pays does.

Calldata (`calldata`): one byte k (1 <= k <= slots), the k records, then the m entries they consume (32 bytes each, an L1
recipient as a 20-byte address right-aligned), then one 20-byte recipient per forced record,
all in record order. The committed body (`body`) is a fixed length per circuit profile: the
records zero-padded to `slots` records, then the entries zero-padded to `entries` entries.
The commitment is SHA-256 of the body, as a big-endian integer, mod 2^253: every such number
is below BN254's r, so it is one public input with no reduction, and the contract gets it from
the SHA-256 precompile with one AND.

Queue entries are keccak256 hashes (`deposit_hash`, `forced_hash`), as the Rollup stores them
when the Bridge enqueues; exits (`exit_leaf`, `exit_root`, `exit_proof`) form a keccak Merkle
tree with OpenZeppelin's commutative pair hash, which `Bridge.claimWithdrawal` checks.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum

from eth_utils import keccak

from sequencer.errors import AmountOverflow, IndexOutOfRange, MalformedBlockData

#: the record count, the first byte of the calldata
COUNT_BYTES = 1
RECORD_BYTES = 11
ENTRY_BYTES = 32
RECIPIENT_BYTES = 20
OP_BITS = 3
INDEX_BITS = 24
MANTISSA_BITS = 32
EXPONENT_BITS = 5
#: the digest's low 253 bits: every such number is a BN254 field element (r > 2^253)
COMMITMENT_BITS = 253
ADDRESS_BITS = 160


class Op(IntEnum):
    PAD = 0
    TRANSFER = 1
    OPEN = 2
    DEPOSIT = 3
    WITHDRAW = 4
    FORCED = 5
    FORCED_SKIP = 6


#: the ops that consume one 32-byte entry, and the ops that also post an L1 recipient
CONSUMES_ENTRY = frozenset({Op.OPEN, Op.DEPOSIT, Op.WITHDRAW, Op.FORCED, Op.FORCED_SKIP})
FORCED_OPS = frozenset({Op.FORCED, Op.FORCED_SKIP})
#: the ops that take the next L1 queue entry, and the ops that pay an exit on L1
QUEUE_OPS = frozenset({Op.DEPOSIT, Op.FORCED, Op.FORCED_SKIP})
EXIT_OPS = frozenset({Op.WITHDRAW, Op.FORCED})


@dataclass(frozen=True)
class Record:
    op: Op
    a: int = 0
    b: int = 0
    amount: int = 0
    #: the 32-byte entry it consumes (an L2 address, or an L1 recipient for WITHDRAW); None if none
    entry: int | None = None
    #: a forced withdrawal's L1 recipient (an address as an int); None for other ops
    recipient: int | None = None


def pack_amount(amount: int) -> int:
    """mantissa << EXPONENT_BITS | exponent, with the smallest exponent that fits; AmountOverflow
    if `amount` is not m * 10^e with m < 2^32 and e < 32."""
    mantissa, exponent = amount, 0
    largest_exponent = (1 << EXPONENT_BITS) - 1
    while mantissa >= 1 << MANTISSA_BITS and mantissa % 10 == 0 and exponent < largest_exponent:
        mantissa, exponent = mantissa // 10, exponent + 1
    if not 0 <= mantissa < 1 << MANTISSA_BITS:
        raise AmountOverflow(f"amount {amount} is negative or has more significant digits than "
                             f"m * 10^e with m < 2^{MANTISSA_BITS} holds: round it (round_amount)")
    return mantissa << EXPONENT_BITS | exponent


def unpack_amount(packed: int) -> int:
    return (packed >> EXPONENT_BITS) * 10 ** (packed & ((1 << EXPONENT_BITS) - 1))


def round_amount(amount: int) -> int:
    """`amount` (non-negative) cut to what `pack_amount` posts, as a wallet would round it:
    m * 10^e with m its leading digits below 2^32 and e the smallest exponent so."""
    exponent = 0
    while amount >> MANTISSA_BITS:
        amount, exponent = amount // 10, exponent + 1
    return amount * 10**exponent


def is_postable(amount: int) -> bool:
    try:
        pack_amount(amount)
    except AmountOverflow:
        return False
    return True


def record_bytes(record: Record) -> bytes:
    """The 11 posted bytes of a record."""
    for name, index in (("a", record.a), ("b", record.b)):
        if not 0 <= index < 1 << INDEX_BITS:
            raise IndexOutOfRange(f"record field {name} = {index} does not fit in {INDEX_BITS} bits")
    word = int(record.op) << INDEX_BITS | record.a
    word = (word << INDEX_BITS | record.b) << (MANTISSA_BITS + EXPONENT_BITS)
    word |= pack_amount(record.amount)
    return word.to_bytes(RECORD_BYTES, "big")


def _check_shape(record: Record) -> None:
    if record.op == Op.PAD:
        raise MalformedBlockData("padding is implicit: a block never posts an op 0 record")
    if (record.entry is not None) != (record.op in CONSUMES_ENTRY):
        raise MalformedBlockData(f"a {record.op.name} record {'needs' if record.op in CONSUMES_ENTRY else 'takes no'} entry")
    if (record.recipient is not None) != (record.op in FORCED_OPS):
        raise MalformedBlockData(f"a {record.op.name} record {'needs' if record.op in FORCED_OPS else 'takes no'} L1 recipient")
    if record.entry is not None and not 0 <= record.entry < 1 << 8 * ENTRY_BYTES:
        raise MalformedBlockData(f"entry {record.entry} does not fit in {ENTRY_BYTES} bytes")
    if record.recipient is not None and not 0 <= record.recipient < 1 << ADDRESS_BITS:
        raise MalformedBlockData(f"recipient {record.recipient} is not a 20-byte address")


def calldata(records: Sequence[Record]) -> bytes:
    """The `data` argument of `Rollup.commitBlock`: records, then entries, then recipients. A
    withdrawal to an entry that is no 20-byte address is refused here, as the contract refuses
    it (the body, what the circuit hashes, takes any entry: the circuit refuses it there)."""
    for record in records:
        _check_shape(record)
        if record.op == Op.WITHDRAW and record.entry >> ADDRESS_BITS:
            raise MalformedBlockData(f"a withdrawal's recipient {record.entry:#x} is no "
                                     "20-byte L1 address")
    if not 1 <= len(records) < 1 << 8 * COUNT_BYTES:
        raise MalformedBlockData(f"a block posts 1 to 255 records, not {len(records)}")
    return (len(records).to_bytes(COUNT_BYTES, "big")
            + b"".join(record_bytes(r) for r in records)
            + b"".join(r.entry.to_bytes(ENTRY_BYTES, "big") for r in records if r.entry is not None)
            + b"".join(r.recipient.to_bytes(RECIPIENT_BYTES, "big")
                       for r in records if r.recipient is not None))


def body(records: Sequence[Record], slots: int, entries: int) -> bytes:
    """The committed bytes of a block for a profile of `slots` records and `entries` entries."""
    consumed = [r.entry for r in records if r.entry is not None]
    if len(records) > slots or len(consumed) > entries:
        raise MalformedBlockData(f"{len(records)} records and {len(consumed)} entries, but the "
                                 f"profile has {slots} slots and {entries} entries")
    for record in records:
        _check_shape(record)
    return (b"".join(record_bytes(r) for r in records).ljust(slots * RECORD_BYTES, b"\0")
            + b"".join(e.to_bytes(ENTRY_BYTES, "big") for e in consumed).ljust(
                entries * ENTRY_BYTES, b"\0"))


def commitment(data: bytes) -> int:
    """SHA-256 of `data`, big-endian, mod 2^253: the block's public data commitment."""
    return int.from_bytes(hashlib.sha256(data).digest(), "big") % (1 << COMMITMENT_BITS)


def block_commitment(records: Sequence[Record], slots: int, entries: int) -> int:
    return commitment(body(records, slots, entries))


def parse(data: bytes, slots: int, entries: int) -> list[Record]:
    """The records of `commitBlock`'s data, as the contract reads them; MalformedBlockData for
    anything the contract refuses (a length that does not add up, op 0 or 7, too many)."""
    if not data or not 1 <= data[0] <= slots:
        raise MalformedBlockData(f"a block posts 1 to {slots} records, not "
                                 f"{data[0] if data else 'an empty'} ")
    count = data[0]
    if len(data) < COUNT_BYTES + count * RECORD_BYTES:
        raise MalformedBlockData(f"{len(data)} bytes cannot hold {count} records")
    records = []
    for k in range(count):
        at = COUNT_BYTES + k * RECORD_BYTES
        word = int.from_bytes(data[at:at + RECORD_BYTES], "big")
        op_value = word >> (2 * INDEX_BITS + MANTISSA_BITS + EXPONENT_BITS)
        if not Op.PAD < op_value <= Op.FORCED_SKIP:
            raise MalformedBlockData(f"record {k} has op {op_value}")
        a = word >> (INDEX_BITS + MANTISSA_BITS + EXPONENT_BITS) & ((1 << INDEX_BITS) - 1)
        b = word >> (MANTISSA_BITS + EXPONENT_BITS) & ((1 << INDEX_BITS) - 1)
        amount = unpack_amount(word & ((1 << (MANTISSA_BITS + EXPONENT_BITS)) - 1))
        records.append((Op(op_value), a, b, amount))
    consuming = sum(op in CONSUMES_ENTRY for op, *_ in records)
    forced = sum(op in FORCED_OPS for op, *_ in records)
    entry_at = COUNT_BYTES + count * RECORD_BYTES
    recipient_at = entry_at + consuming * ENTRY_BYTES
    if len(data) != recipient_at + forced * RECIPIENT_BYTES:
        raise MalformedBlockData(f"{len(data)} bytes of block data, but {count} records with "
                                 f"{consuming} entries and {forced} recipients take "
                                 f"{recipient_at + forced * RECIPIENT_BYTES}")
    if consuming > entries:
        raise MalformedBlockData(f"{consuming} entries, but the profile has {entries}")
    parsed = []
    for op, a, b, amount in records:
        entry = recipient = None
        if op in CONSUMES_ENTRY:
            entry = int.from_bytes(data[entry_at:entry_at + ENTRY_BYTES], "big")
            entry_at += ENTRY_BYTES
            if op == Op.WITHDRAW and entry >> ADDRESS_BITS:
                raise MalformedBlockData(f"a withdrawal's recipient {entry:#x} is no 20-byte "
                                         "L1 address")
        if op in FORCED_OPS:
            recipient = int.from_bytes(data[recipient_at:recipient_at + RECIPIENT_BYTES], "big")
            recipient_at += RECIPIENT_BYTES
        parsed.append(Record(op, a, b, amount, entry, recipient))
    return parsed


# ---------------------------------------------------------------- the L1 queue

def deposit_hash(l2_address: int, amount: int) -> bytes:
    """keccak256(abi.encodePacked(uint8 DEPOSIT, uint256 l2Address, uint256 amount))."""
    return keccak(bytes([Op.DEPOSIT]) + l2_address.to_bytes(32, "big") + amount.to_bytes(32, "big"))


def forced_hash(index: int, l2_address: int, amount: int, recipient: int) -> bytes:
    """keccak256(abi.encodePacked(uint8 FORCED, uint24 index, uint256 l2Address, uint256 amount,
    address recipient)): a forced withdrawal request, whether it then applies or is skipped."""
    return keccak(bytes([Op.FORCED]) + index.to_bytes(3, "big") + l2_address.to_bytes(32, "big")
                  + amount.to_bytes(32, "big") + recipient.to_bytes(RECIPIENT_BYTES, "big"))


def queue_hash(record: Record) -> bytes:
    """The queue entry a DEPOSIT, FORCED or FORCED_SKIP record must match."""
    if record.op == Op.DEPOSIT:
        return deposit_hash(record.entry, record.amount)
    if record.op in FORCED_OPS:
        return forced_hash(record.a, record.entry, record.amount, record.recipient)
    raise MalformedBlockData(f"a {record.op.name} record takes no queue entry")


# ---------------------------------------------------------------- exits

def exits(records: Sequence[Record]) -> list[tuple[int, int]]:
    """(L1 recipient, amount) of each exit the block pays, in record order."""
    return [(r.entry if r.op == Op.WITHDRAW else r.recipient, r.amount)
            for r in records if r.op in EXIT_OPS]


def exit_leaf(block_number: int, position: int, recipient: int, amount: int) -> bytes:
    """keccak256(abi.encodePacked(uint256 block, uint256 position, address recipient,
    uint256 amount)): the block and position make every leaf unique, so a claim is one leaf."""
    return keccak(block_number.to_bytes(32, "big") + position.to_bytes(32, "big")
                  + recipient.to_bytes(RECIPIENT_BYTES, "big") + amount.to_bytes(32, "big"))


def _pair(x: bytes, y: bytes) -> bytes:
    """OpenZeppelin's Hashes.commutativeKeccak256: the smaller word first."""
    return keccak(min(x, y) + max(x, y))


def _levels(leaves: Sequence[bytes]) -> list[list[bytes]]:
    width = 1
    while width < len(leaves):
        width *= 2
    level = list(leaves) + [bytes(32)] * (width - len(leaves))
    levels = [level]
    while len(level) > 1:
        level = [_pair(level[i], level[i + 1]) for i in range(0, len(level), 2)]
        levels.append(level)
    return levels


def exit_root(block_number: int, records: Sequence[Record]) -> bytes:
    """The block's exit root: zero without exits, else the root of its leaves padded with zero
    words to a power of two."""
    leaves = [exit_leaf(block_number, i, *e) for i, e in enumerate(exits(records))]
    return _levels(leaves)[-1][0] if leaves else bytes(32)


def exit_proof(block_number: int, records: Sequence[Record], position: int) -> list[bytes]:
    """The sibling path of exit `position`, for `Bridge.claimWithdrawal` (MerkleProof.verify)."""
    leaves = [exit_leaf(block_number, i, *e) for i, e in enumerate(exits(records))]
    if not 0 <= position < len(leaves):
        raise MalformedBlockData(f"block {block_number} has no exit {position}")
    proof = []
    for level in _levels(leaves)[:-1]:
        proof.append(level[position ^ 1])
        position //= 2
    return proof
