"""Block data (sequencer/block_data.py): records, calldata and its parse, the committed body and
its commitment, which zkp/circuits/data_commitment.circom computes as the block circuit does."""

from __future__ import annotations

import random

import pytest

from market_contracts.units import ONE_TOKEN
from sequencer.block_data import (
    COMMITMENT_BITS,
    CONSUMES_ENTRY,
    ENTRY_BYTES,
    FORCED_OPS,
    MANTISSA_BITS,
    RECORD_BYTES,
    Op,
    Record,
    block_commitment,
    body,
    calldata,
    commitment,
    pack_amount,
    parse,
    record_bytes,
    round_amount,
)
from sequencer.circuit_inputs import LARGE, SMALL
from sequencer.errors import AmountOverflow, IndexOutOfRange, MalformedBlockData
from zkp.builds import CIRCUITS_DIR
from zkp.circom import NODE_MODULES, compile_circuit
from zkp.errors import WitnessError
from zkp.field import R, limbs_to_ints
from zkp.r1cs import read_r1cs
from zkp.witness import WitnessCalculator

#: the small profile's body: 2 records and 1 entry, 54 bytes, one SHA-256 compression
SMALL_BODY = SMALL.block_size * RECORD_BYTES + SMALL.entries * ENTRY_BYTES


@pytest.fixture(scope="module")
def circuit(tmp_path_factory):
    folder = tmp_path_factory.mktemp("data_commitment")
    source = folder / "data_commitment_small.circom"
    source.write_text('pragma circom 2.0.0;\ninclude "data_commitment.circom";\n'
                      f"component main = PackedDataCommitment({SMALL_BODY});\n")
    compiled = compile_circuit(source, folder, (NODE_MODULES, CIRCUITS_DIR), optimization=2)
    return WitnessCalculator(compiled.wasm), read_r1cs(compiled.r1cs)


def random_record(rng: random.Random) -> Record:
    op = Op(rng.randrange(1, 7))
    return Record(op, rng.randrange(1 << 24), rng.randrange(1 << 24),
                  rng.randrange(1 << MANTISSA_BITS) * 10 ** rng.randrange(32),
                  rng.randrange(1 << 160 if op == Op.WITHDRAW else R) if op in CONSUMES_ENTRY else None,
                  rng.randrange(1 << 160) if op in FORCED_OPS else None)


def random_block(rng: random.Random, slots: int, entries: int) -> list[Record]:
    records = []
    while len(records) < rng.randrange(1, slots + 1):
        record = random_record(rng)
        if sum(r.entry is not None for r in records + [record]) <= entries:
            records.append(record)
    return records


def test_circuit_computes_the_references_commitment(circuit):
    calculator, r1cs = circuit
    records = [Record(Op.OPEN, 3, 200, 10**21, 12345), Record(Op.TRANSFER, 200, 3, 7)]
    data = body(records, SMALL.block_size, SMALL.entries)
    assert len(data) == SMALL_BODY
    witness = limbs_to_ints(calculator.calculate({"data": list(data)}))
    assert witness[1] == commitment(data) == block_commitment(records, SMALL.block_size,
                                                              SMALL.entries)
    assert witness[1] < 1 << COMMITMENT_BITS
    assert r1cs.violated_constraints(witness) == []
    witness[1] ^= 1
    assert r1cs.violated_constraints(witness) != []


def test_circuit_refuses_a_value_that_is_not_a_byte(circuit):
    calculator, _ = circuit
    with pytest.raises(WitnessError):
        calculator.calculate({"data": [256] + [0] * (SMALL_BODY - 1)})


@pytest.mark.parametrize("seed", range(20))
def test_calldata_parses_back_to_its_records(seed):
    rng = random.Random(seed)
    profile = rng.choice([SMALL, LARGE])
    records = random_block(rng, profile.block_size, profile.entries)
    posted = calldata(records)
    assert posted[0] == len(records)
    assert len(posted) == (1 + RECORD_BYTES * len(records)
                           + ENTRY_BYTES * sum(r.op in CONSUMES_ENTRY for r in records)
                           + 20 * sum(r.op in FORCED_OPS for r in records))
    assert parse(posted, profile.block_size, profile.entries) == [
        Record(r.op, r.a, r.b, r.amount, r.entry, r.recipient) for r in records]
    committed = body(records, profile.block_size, profile.entries)
    assert len(committed) == (RECORD_BYTES * profile.block_size
                              + ENTRY_BYTES * profile.entries)
    assert committed.startswith(b"".join(record_bytes(r) for r in records))


def test_body_lengths_of_the_profiles():
    one = [Record(Op.TRANSFER, 1, 2, 3)]
    assert len(body(one, SMALL.block_size, SMALL.entries)) == 54
    assert len(body(one, LARGE.block_size, LARGE.entries)) == 608
    assert body([], SMALL.block_size, SMALL.entries) == bytes(54)


def test_record_layout():
    # 1.23456789e20 posts as 1,234,567,890 * 10^11: the smallest exponent whose mantissa fits
    record = Record(Op.WITHDRAW, 0x010203, 0xA0B0C0, 123_456_789 * 10**12, 1)
    word = 4 << 85 | 0x010203 << 61 | 0xA0B0C0 << 37 | 1_234_567_890 << 5 | 11
    assert record_bytes(record) == word.to_bytes(RECORD_BYTES, "big")


@pytest.mark.parametrize(("records", "problem"), [
    ([], "1 to 255 records"),
    ([Record(Op.PAD)], "padding is implicit"),
    ([Record(Op.OPEN, 0, 1, 1)], "needs entry"),
    ([Record(Op.TRANSFER, 0, 1, 1, entry=5)], "takes no entry"),
    ([Record(Op.FORCED, 0, 0, 1, entry=5)], "needs L1 recipient"),
    ([Record(Op.DEPOSIT, 0, 1, 1, entry=1 << 256)], "does not fit in 32 bytes"),
])
def test_calldata_refuses_malformed_records(records, problem):
    with pytest.raises(MalformedBlockData, match=problem):
        calldata(records)


def test_body_refuses_more_than_the_profile_holds():
    opens = [Record(Op.OPEN, 0, i, 1, entry=i + 1) for i in range(2)]
    with pytest.raises(MalformedBlockData, match="2 records and 2 entries"):
        body(opens, SMALL.block_size, SMALL.entries)
    with pytest.raises(MalformedBlockData, match="3 records"):
        body([Record(Op.TRANSFER)] * 3, SMALL.block_size, SMALL.entries)


@pytest.mark.parametrize(("data", "problem"), [
    (b"", "not an empty"),
    (bytes([3]) + bytes(33), "not 3"),
    (bytes([1]) + bytes(11), "record 0 has op 0"),
    (bytes([1]) + (7 << 85).to_bytes(11, "big"), "record 0 has op 7"),
    (bytes([1]) + (2 << 85).to_bytes(11, "big"), "1 entries and 0 recipients take 44"),
    (bytes([1]) + (1 << 85).to_bytes(11, "big") + bytes(1), "13 bytes of block data"),
])
def test_parse_refuses_what_the_contract_refuses(data, problem):
    with pytest.raises(MalformedBlockData, match=problem):
        parse(data, SMALL.block_size, SMALL.entries)


def test_record_refuses_an_index_beyond_three_bytes():
    with pytest.raises(IndexOutOfRange):
        record_bytes(Record(Op.TRANSFER, 1 << 24, 0, 1))


@pytest.mark.parametrize("amount, packed", [
    (0, 0),
    ((1 << MANTISSA_BITS) - 1, ((1 << MANTISSA_BITS) - 1) << 5),  # fits without an exponent
    (10**11, 10**9 << 5 | 2),
    (1_000 * ONE_TOKEN, 10**9 << 5 | 12),  # the smallest exponent that fits
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
    (123_456_789_012_345, 1_234_567_890 * 10**5),
    ((1 << 128) - 1, 3_402_823_669 * 10**29),  # ten digits where they stay below 2^32
])
def test_round_amount_keeps_the_leading_digits_that_pack(amount, rounded):
    assert round_amount(amount) == rounded
    pack_amount(rounded)
