"""The candidate compact encoding of issue 13: 12 bytes a transfer, committed by SHA-256.

Not what the rollup posts yet (that is `transactions.block_data`, 64 bytes a transfer, committed
by a Poseidon chain): this is the reference that zkp/circuits/data_commitment.circom is tested
against, and docs/rollup-data.md the design it belongs to.

A transfer, big-endian, most significant byte first:

    op (1 byte) | from_index (3) | to_index (3) | amount (5)

- op: OP_TRANSFER for a transfer to an account that exists; 0 is padding (a block of k < N
  transfers is its k * 12 bytes followed by zero bytes, which the contract appends in memory
  rather than posting). Other kinds (a transfer that opens an account, which must post the
  recipient's 32-byte address; deposits, withdrawals) take other op values and lengths.
- indices: 24 bits, 16.7M accounts, above the large profile's 2^20 leaves.
- amount: a decimal float, mantissa (35 bits) << 5 | exponent (5 bits), worth
  mantissa * 10^exponent, as zkSync Lite packed amounts: ten significant digits (eleven while
  they stay below 2^35) over the whole 128-bit balance range (2^35 > 10^10; (2^35 - 1) * 10^31
  > 2^128) in 5 bytes, where a fixed-point amount in 5 bytes reaches 1.1e12 of its unit (1,100
  tokens of 18 decimals counted in gwei). A wallet rounds an amount so (`round_amount`); the
  circuit would check amount = m * 10^e.
- no nonce (the state says it: it increments) and no signature (the proof vouches for it).

The commitment is SHA-256 of the packed bytes as a big-endian integer mod 2^253: one field
element below BN254's r, as the contract gets it from the precompile with one AND.
"""

import hashlib

from sequencer.errors import AmountOverflow, IndexOutOfRange
from sequencer.transactions import Transfer

TRANSFER_BYTES = 12
#: the op byte of a transfer to an existing account
OP_TRANSFER = 1
INDEX_BYTES = 3
AMOUNT_BYTES = 5
#: the amount's float: 35 + 5 = 40 bits = AMOUNT_BYTES
MANTISSA_BITS = 35
EXPONENT_BITS = 5
#: the digest's low 253 bits: every such number is a BN254 field element (r > 2^253)
COMMITMENT_BITS = 253


def pack_amount(amount: int) -> int:
    """mantissa << EXPONENT_BITS | exponent, with the smallest exponent that fits; AmountOverflow
    if `amount` is not m * 10^e with m < 2^35 and e < 32."""
    mantissa, exponent = amount, 0
    largest_exponent = (1 << EXPONENT_BITS) - 1
    while mantissa >= 1 << MANTISSA_BITS and mantissa % 10 == 0 and exponent < largest_exponent:
        mantissa, exponent = mantissa // 10, exponent + 1
    if not 0 <= mantissa < 1 << MANTISSA_BITS:
        raise AmountOverflow(f"amount {amount} is negative or has more significant digits than "
                             f"m * 10^e with m < 2^{MANTISSA_BITS} holds: round it (round_amount)")
    return mantissa << EXPONENT_BITS | exponent


def round_amount(amount: int) -> int:
    """`amount` (non-negative, below 2^128) cut to what `pack_amount` posts, as a wallet would
    round it: m * 10^e with m its leading digits below 2^35 and e the smallest exponent so."""
    exponent = 0
    while amount >> MANTISSA_BITS:
        amount, exponent = amount // 10, exponent + 1
    return amount * 10**exponent


def pack_transfer(transfer: Transfer) -> bytes:
    """The 12 posted bytes of a transfer to an existing account."""
    for name, index in (("from", transfer.from_index), ("to", transfer.to_index)):
        if not 0 <= index < 1 << 8 * INDEX_BYTES:
            raise IndexOutOfRange(f"{name} index {index} does not fit in {INDEX_BYTES} bytes")
    return (bytes([OP_TRANSFER]) + transfer.from_index.to_bytes(INDEX_BYTES, "big")
            + transfer.to_index.to_bytes(INDEX_BYTES, "big")
            + pack_amount(transfer.amount).to_bytes(AMOUNT_BYTES, "big"))


def commitment(data: bytes) -> int:
    """SHA-256 of `data`, big-endian, mod 2^253: the block's public data commitment."""
    return int.from_bytes(hashlib.sha256(data).digest(), "big") % (1 << COMMITMENT_BITS)
