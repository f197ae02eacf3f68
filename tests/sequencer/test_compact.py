"""The candidate compact encoding (sequencer/compact.py) and its commitment circuit
(zkp/circuits/data_commitment.circom): the circuit's output is the reference's SHA-256 commitment
of a random packed block, and its constraints hold it there."""

from __future__ import annotations

import random

import pytest

from market_contracts.units import ONE_TOKEN
from sequencer.compact import (
    COMMITMENT_BITS,
    MANTISSA_BITS,
    TRANSFER_BYTES,
    commitment,
    pack_amount,
    pack_transfer,
    round_amount,
)
from sequencer.errors import AmountOverflow, IndexOutOfRange
from sequencer.transactions import Transfer
from zkp.builds import CIRCUITS_DIR
from zkp.circom import NODE_MODULES, compile_circuit
from zkp.errors import WitnessError
from zkp.field import limbs_to_ints
from zkp.r1cs import read_r1cs
from zkp.witness import WitnessCalculator

#: transfers in the compiled block: one SHA-256 block (24 bytes), a few seconds to compile
N = 2


@pytest.fixture(scope="module")
def circuit(tmp_path_factory):
    folder = tmp_path_factory.mktemp("data_commitment")
    source = folder / "data_commitment_2.circom"
    source.write_text('pragma circom 2.0.0;\ninclude "data_commitment.circom";\n'
                      f"component main = PackedDataCommitment({N * TRANSFER_BYTES});\n")
    compiled = compile_circuit(source, folder, (NODE_MODULES, CIRCUITS_DIR), optimization=2)
    return WitnessCalculator(compiled.wasm), read_r1cs(compiled.r1cs)


def random_block(rng: random.Random) -> bytes:
    return b"".join(pack_transfer(Transfer(rng.randrange(1 << 24), rng.randrange(1 << 24), 0,
                                           rng.randrange(1 << MANTISSA_BITS)
                                           * 10 ** rng.randrange(32), 0))
                    for _ in range(N))


def test_circuit_computes_the_references_commitment(circuit):
    calculator, r1cs = circuit
    data = random_block(random.Random(13))
    witness = limbs_to_ints(calculator.calculate({"data": list(data)}))
    assert witness[1] == commitment(data) < 1 << COMMITMENT_BITS
    assert r1cs.violated_constraints(witness) == []
    witness[1] ^= 1
    assert r1cs.violated_constraints(witness) != []


def test_circuit_refuses_a_value_that_is_not_a_byte(circuit):
    calculator, _ = circuit
    with pytest.raises(WitnessError):
        calculator.calculate({"data": [256] + [0] * (N * TRANSFER_BYTES - 1)})


def test_pack_transfer_layout():
    packed = pack_transfer(Transfer(0x010203, 0xA0B0C0, 0, 123_456_789 * 10**12, 7))
    assert len(packed) == TRANSFER_BYTES
    # 1.23456789e20 posts as 12,345,678,900 * 10^10: the smallest exponent whose mantissa fits
    amount = (12_345_678_900 << 5 | 10).to_bytes(5, "big")
    assert packed == bytes.fromhex("01" "010203" "a0b0c0") + amount


@pytest.mark.parametrize("amount, packed", [
    (0, 0),
    ((1 << MANTISSA_BITS) - 1, ((1 << MANTISSA_BITS) - 1) << 5),  # fits without an exponent
    (10**11, 10**10 << 5 | 1),
    (1_000 * ONE_TOKEN, 10**10 << 5 | 11),  # the smallest exponent that fits
    (((1 << MANTISSA_BITS) - 1) * 10**31, ((1 << MANTISSA_BITS) - 1) << 5 | 31),
])
def test_pack_amount(amount, packed):
    assert pack_amount(amount) == packed


@pytest.mark.parametrize("amount", [-1, 123_456_789_011, 1 << MANTISSA_BITS + 1 | 1,
                                    (1 << MANTISSA_BITS) * 10**31])
def test_pack_amount_refuses_what_it_cannot_post(amount):
    with pytest.raises(AmountOverflow):
        pack_amount(amount)


@pytest.mark.parametrize("amount, rounded", [
    (0, 0),
    ((1 << MANTISSA_BITS) - 1, (1 << MANTISSA_BITS) - 1),
    (123_456_789_012_345, 12_345_678_901 * 10**4),
    ((1 << 128) - 1, 34_028_236_692 * 10**28),  # eleven digits where they stay below 2^35
])
def test_round_amount_keeps_the_leading_digits_that_pack(amount, rounded):
    assert round_amount(amount) == rounded
    pack_amount(rounded)


def test_pack_transfer_refuses_an_index_beyond_three_bytes():
    with pytest.raises(IndexOutOfRange):
        pack_transfer(Transfer(1 << 24, 0, 0, 1, 0))
