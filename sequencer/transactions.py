"""Signed transactions: their fields and what is signed.

A transfer moves `amount` from the account at index `from_index` to the one at
`to_index`, whose address must be `to_address`. If that leaf is empty the
transfer opens the account there with `to_address` (so a fresh wallet can
receive); if it holds an account, its address must be `to_address`, which
keeps a transfer from paying a different account than the signer meant. A
withdrawal (kind WITHDRAW) is a `Transfer` with to_index 0 and to_address the
L1 recipient. What a block posts on L1 for them (a record each) is
`sequencer.block_data`'s; `sequencer.transition.record_for` says which.

Packing. The signed fields are packed into one word, most significant first,

    from_index (32 bits) | to_index (32) | amount (128) | nonce (32)

224 bits, so written as a 32-byte big-endian word it reads as 4 zero bytes,
then the fields in that order.

Signing. The sender signs m = Poseidon(chain_id, kind * 2^224 + packed,
to_address) with EdDSA-Poseidon. The chain id names one rollup deployment (its
circuit has it built in), so a signature cannot be replayed on another rollup;
the kind, so a transfer's signature cannot be replayed as a withdrawal's; the
nonce, which must equal the sender's and then increments, stops replays on
this one.
"""

from dataclasses import dataclass, replace
from enum import IntEnum

from sequencer import eddsa
from sequencer.accounts import BALANCE_BITS, NONCE_BITS
from sequencer.babyjub import Point
from sequencer.block_data import ADDRESS_BITS
from sequencer.errors import (
    AmountOverflow,
    IndexOutOfRange,
    InvalidAddress,
    NonceOverflow,
)
from sequencer.poseidon import poseidon
from zkp.field import R

INDEX_BITS = 32
AMOUNT_BITS = BALANCE_BITS
#: the devnet rollup's chain id: ASCII "provernet-devnet" (a deployment picks its own)
DEVNET_CHAIN_ID = int.from_bytes(b"provernet-devnet", "big")


class Kind(IntEnum):
    """What a signed transaction does; part of the signed message, so that a signature for one
    kind can never be replayed as another (a transfer to L2 address x as a withdrawal to L1
    address x)."""

    TRANSFER = 0
    #: to_index is 0 and to_address the L1 recipient (a 160-bit address)
    WITHDRAW = 1
    #: signed for L1, checked by the Bridge, never by the circuit: a forced withdrawal
    #: (`forced_withdrawal_message`) and an exit through the escape hatch (`exit_message`)
    FORCED = 2
    EXIT = 3


#: the signed message carries the kind above the packed word's 224 bits
KIND_SHIFT = 224


@dataclass(frozen=True)
class Transfer:
    from_index: int
    to_index: int
    to_address: int
    amount: int
    nonce: int
    #: the sender's public key, which its address commits to; None until signed
    public_key: Point | None = None
    signature: eddsa.Signature | None = None
    kind: Kind = Kind.TRANSFER


def pack(transfer: Transfer) -> int:
    """The posted word of a transfer: from | to | amount | nonce."""
    for name, index in (("from", transfer.from_index), ("to", transfer.to_index)):
        if not 0 <= index < 1 << INDEX_BITS:
            raise IndexOutOfRange(f"{name} index {index} does not fit in {INDEX_BITS} bits")
    if not 0 <= transfer.amount < 1 << AMOUNT_BITS:
        raise AmountOverflow(f"amount {transfer.amount} does not fit in {AMOUNT_BITS} bits")
    if not 0 <= transfer.nonce < 1 << NONCE_BITS:
        raise NonceOverflow(f"nonce {transfer.nonce} does not fit in {NONCE_BITS} bits")
    word = transfer.from_index
    for value, bits in (
        (transfer.to_index, INDEX_BITS),
        (transfer.amount, AMOUNT_BITS),
        (transfer.nonce, NONCE_BITS),
    ):
        word = word << bits | value
    return word


def signing_message(transfer: Transfer, chain_id: int) -> int:
    """m = Poseidon(chain_id, kind * 2^224 + packed, to_address), what the sender signs; a
    transfer's kind is 0, so its message is Poseidon(chain_id, packed, to_address)."""
    if not 0 <= transfer.to_address < R:
        raise InvalidAddress(f"recipient address {transfer.to_address} is not below r")
    return poseidon((chain_id, transfer.kind << KIND_SHIFT | pack(transfer), transfer.to_address))


def forced_withdrawal_message(index: int, amount: int, salt: int, recipient: int,
                              chain_id: int) -> int:
    """m = Poseidon(chain_id, 2 * 2^224 + pack(index, 0, amount, salt), recipient): what the key of
    the account at `index` signs to force a withdrawal of `amount` to L1 address `recipient`
    through `Bridge.requestWithdrawal`. The salt (32 bits, in the nonce's place) makes a repeated
    request another message: the Bridge queues each message once."""
    _check_l1_address(recipient)
    return signing_message(Transfer(index, 0, recipient, amount, salt, kind=Kind.FORCED), chain_id)


def exit_message(index: int, recipient: int, chain_id: int) -> int:
    """m = Poseidon(chain_id, 3 * 2^224 + pack(index, 0, 0, 0), recipient): what the key of the
    account at `index` signs to exit its balance to L1 address `recipient` once the rollup is
    frozen (`Bridge.exit`; each account exits once)."""
    _check_l1_address(recipient)
    return signing_message(Transfer(index, 0, recipient, 0, 0, kind=Kind.EXIT), chain_id)


def _check_l1_address(recipient: int) -> None:
    if not 0 < recipient < 1 << ADDRESS_BITS:
        raise InvalidAddress(f"L1 recipient {recipient:#x} is not a non-zero 20-byte address")


def sign_transfer(transfer: Transfer, private_key: bytes, chain_id: int) -> Transfer:
    """`transfer` signed with `private_key`, carrying its public key."""
    return replace(
        transfer,
        public_key=eddsa.public_key(private_key),
        signature=eddsa.sign(private_key, signing_message(transfer, chain_id)),
    )
