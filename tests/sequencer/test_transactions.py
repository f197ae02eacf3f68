"""Packing and the signed message."""

from dataclasses import replace

import pytest

from sequencer.errors import (
    AmountOverflow,
    IndexOutOfRange,
    InvalidAddress,
    NonceOverflow,
)
from sequencer.poseidon import poseidon
from sequencer.transactions import (
    DEVNET_CHAIN_ID,
    Kind,
    Transfer,
    pack,
    signing_message,
)
from zkp.field import R

TRANSFER = Transfer(
    from_index=0x01020304, to_index=0x05060708, to_address=77, amount=0x1122, nonce=9
)


def test_packed_word_reads_as_fields_in_a_big_endian_word():
    word = pack(TRANSFER).to_bytes(32, "big")
    assert word[:4] == bytes(4)
    assert word[4:8] == bytes.fromhex("01020304")
    assert word[8:12] == bytes.fromhex("05060708")
    assert int.from_bytes(word[12:28], "big") == 0x1122
    assert int.from_bytes(word[28:], "big") == 9


def test_widest_fields_pack_below_r():
    widest = Transfer(2**32 - 1, 2**32 - 1, 1, 2**128 - 1, 2**32 - 1)
    assert pack(widest) == 2**224 - 1 < R


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("from_index", 2**32, IndexOutOfRange),
        ("to_index", -1, IndexOutOfRange),
        ("amount", 2**128, AmountOverflow),
        ("nonce", 2**32, NonceOverflow),
    ],
)
def test_fields_beyond_their_widths_do_not_pack(field, value, error):
    with pytest.raises(error, match="does not fit"):
        pack(replace(TRANSFER, **{field: value}))


def test_signed_message_binds_chain_fields_and_recipient():
    message = signing_message(TRANSFER, DEVNET_CHAIN_ID)
    assert message == poseidon([DEVNET_CHAIN_ID, pack(TRANSFER), 77])
    assert signing_message(TRANSFER, DEVNET_CHAIN_ID + 1) != message
    with pytest.raises(InvalidAddress):
        signing_message(Transfer(0, 1, R, 1, 0), DEVNET_CHAIN_ID)


def test_a_withdrawals_message_is_not_a_transfers():
    withdrawal = replace(TRANSFER, kind=Kind.WITHDRAW)
    assert signing_message(withdrawal, DEVNET_CHAIN_ID) == poseidon(
        [DEVNET_CHAIN_ID, 2**224 + pack(TRANSFER), 77])
    assert signing_message(withdrawal, DEVNET_CHAIN_ID) != signing_message(TRANSFER,
                                                                           DEVNET_CHAIN_ID)
