"""The block circuit against the Python L2 model.

Valid blocks: the circuit's witness has the model's new root and data hash as
public signals. Invalid ones: each transfer the model refuses (with a specific
error) the circuit refuses too (no witness), when a prover substitutes it into
an honest block's inputs with a valid signature; and a forged public signal
leaves constraints of an honest witness unsatisfied.
"""

import random
import re
from dataclasses import replace
from pathlib import Path

import pytest

from sequencer import eddsa
from sequencer.accounts import BALANCE_BITS, Account, AccountTree
from sequencer.circuit_inputs import LARGE, SMALL, BlockCircuit, block_inputs
from sequencer.errors import (
    AmountOverflow,
    BadSignature,
    BlockTooLarge,
    InsufficientBalance,
    InvalidAddress,
    InvalidTransfer,
    KeyMismatch,
    UnknownAccount,
    WrongNonce,
    WrongDepth,
    WrongRecipient,
)
from sequencer.genesis import dev_address, dev_private_key, genesis_state
from sequencer.poseidon import poseidon
from sequencer.transactions import DEVNET_CHAIN_ID, Transfer, block_data, data_hash, sign_transfer
from sequencer.transition import apply_block, debit_sender
from zkp.errors import WitnessError
from zkp.field import limbs_to_ints
from zkp.r1cs import R1cs, read_r1cs
from zkp.witness import WitnessCalculator

REPO = Path(__file__).resolve().parents[2]
TINY = BlockCircuit("block_tiny", block_size=2, depth=4, chain_id=DEVNET_CHAIN_ID, entries=1)
PROVER = "0x" + "c0ffee" * 6 + "0001"
PUBLIC = ("oldRoot", "newRoot", "dataHash", "prover")
MAX_BALANCE = (1 << BALANCE_BITS) - 1


def transfer(from_index, to_index, amount, *, nonce=0, to_address=None, key=None) -> Transfer:
    """A transfer signed by dev key `key` (by default the sender's own)."""
    unsigned = Transfer(
        from_index,
        to_index,
        dev_address(to_index) if to_address is None else to_address,
        amount,
        nonce,
    )
    return sign_transfer(
        unsigned, dev_private_key(from_index if key is None else key), DEVNET_CHAIN_ID
    )


#: accounts 0-2 hold 1000 each, account 4 the most a balance can
GENESIS = genesis_state(
    TINY.depth,
    {i: Account(dev_address(i), 1000) for i in range(3)}
    | {4: Account(dev_address(4), MAX_BALANCE)},
)


@pytest.fixture(scope="module")
def calculator(block_tiny) -> WitnessCalculator:
    return WitnessCalculator(block_tiny.circuit.wasm)


@pytest.fixture(scope="module")
def r1cs(block_tiny) -> R1cs:
    return read_r1cs(block_tiny.circuit.r1cs)


def public_signals(calculator, inputs) -> dict[str, int]:
    witness = limbs_to_ints(calculator.calculate(inputs))
    return dict(zip(PUBLIC, witness[1:5]))


@pytest.mark.parametrize(
    ("source", "profile"),
    [
        ("tests/zkp/circuits/block_tiny.circom", TINY),
        ("zkp/circuits/block_small.circom", SMALL),
        ("zkp/circuits/block_large.circom", LARGE),
    ],
)
def test_profiles_are_the_main_components(source, profile):
    main = re.search(
        r"component main .*= Block\((\w+), (\w+), (\w+)\);", (REPO / source).read_text()
    )
    assert main, f"{source} has no Block main component"
    assert tuple(int(p, 0) for p in main.groups()) == (
        profile.block_size,
        profile.depth,
        profile.chain_id,
    )


def test_public_signals_are_the_four_in_order(block_tiny, calculator, r1cs):
    assert (r1cs.n_outputs, r1cs.n_pub_inputs) == (0, 4)
    assert [block_tiny.wires[f"main.{name}"] for name in PUBLIC] == [1, 2, 3, 4]
    inputs = block_inputs(TINY, GENESIS, [transfer(0, 1, 10)], PROVER)
    witness = limbs_to_ints(calculator.calculate(inputs))
    assert witness[1:5] == [int(inputs[name]) for name in PUBLIC]
    assert witness[4] == int(PROVER, 16)
    assert r1cs.violated_constraints(witness) == []


def random_block(seed: int) -> tuple[AccountTree, list[Transfer]]:
    """A random state and a block of 0 to 2 transfers that the model accepts.

    Senders and amounts are drawn from the state as the block changes it;
    recipients may be empty leaves (opened) or the sender itself.
    """
    rng = random.Random(seed)
    accounts = {
        i: Account(
            dev_address(i),
            rng.choice([0, rng.randrange(10**6), MAX_BALANCE // 2]),
            rng.randrange(5),
        )
        for i in rng.sample(range(1 << TINY.depth), 5)
    }
    state = before = genesis_state(TINY.depth, accounts)
    transfers = []
    for _ in range(rng.choice([0, 1, 2, 2, 2])):
        funded = [i for i in range(1 << TINY.depth) if state.get(i) and state.get(i).balance]
        if not funded:
            break
        sender = state.get(from_index := rng.choice(funded))
        to_index = rng.choice([from_index, *range(1 << TINY.depth)])
        recipient = state.get(to_index)
        room = MAX_BALANCE - (recipient.balance if recipient and to_index != from_index else 0)
        amount = rng.randrange(min(sender.balance, room) + 1)
        transfers.append(transfer(from_index, to_index, amount, nonce=sender.nonce))
        state = apply_block(state, transfers[-1:], DEVNET_CHAIN_ID)
    return before, transfers


@pytest.mark.parametrize("seed", range(5))
def test_random_valid_blocks_reach_the_models_root(calculator, seed):
    state, transfers = random_block(seed)
    inputs = block_inputs(TINY, state, transfers, PROVER)
    assert public_signals(calculator, inputs) == {
        "oldRoot": state.root,
        "newRoot": apply_block(state, transfers, DEVNET_CHAIN_ID).root,
        "dataHash": data_hash(block_data(transfers)),
        "prover": int(PROVER, 16),
    }


def test_padding_needs_no_signature_and_changes_nothing(calculator):
    inputs = block_inputs(TINY, GENESIS, [], PROVER)
    assert set(inputs["sigS"]) == {"0"}
    signals = public_signals(calculator, inputs)
    assert signals["newRoot"] == signals["oldRoot"] == GENESIS.root
    assert signals["dataHash"] == 0


def substitute(inputs: dict, forged: Transfer, slot: int = 0, **others) -> dict:
    """`inputs` with `forged` in `slot`, as a prover would try: its fields, key and signature."""
    fields = {
        "from": forged.from_index,
        "to": forged.to_index,
        "toAddress": forged.to_address,
        "amount": forged.amount,
        "nonce": forged.nonce,
        "senderAx": forged.public_key[0],
        "senderAy": forged.public_key[1],
        "sigR8x": forged.signature.r8[0],
        "sigR8y": forged.signature.r8[1],
        "sigS": forged.signature.s,
    }
    changed = {name: list(values) for name, values in inputs.items() if isinstance(values, list)}
    for name, value in (fields | others).items():
        changed[name][slot] = value if isinstance(value, tuple) else str(value)
    return inputs | changed


def packed_beyond_widths(from_index, to_index, amount, nonce) -> int:
    """Packing without range checks: an amount of 2^128 spills into the recipient index."""
    return ((from_index * 2**32 + to_index) * 2**128 + amount) * 2**32 + nonce


def transfer_with_oversized_amount() -> Transfer:
    """4 -> 1 of 2^128, signed as the word it packs to: which is 4 -> 2 of 0, a valid transfer."""
    key = dev_private_key(4)
    word = packed_beyond_widths(4, 1, 2**128, 0)
    message = poseidon((DEVNET_CHAIN_ID, word, dev_address(1)))
    return Transfer(
        4, 1, dev_address(1), 2**128, 0, eddsa.public_key(key), eddsa.sign(key, message)
    )


def refused_at(source: str, statement: str) -> str:
    """A pattern for the witness calculator's report of a failure at `statement`.

    The report names each template on the way with the line it was at; the
    line is looked up, so the tests follow edits to the circuit.
    """
    lines = (REPO / "zkp/circuits" / source).read_text().splitlines()
    number = next(i for i, line in enumerate(lines, 1) if line.strip() == statement)
    template = {"transfer.circom": "TransferStep", "block.circom": "Block"}[source]
    return rf"assert failed: .*Error in template {template}_\d+ line: {number}\b"


SIGNATURE = "Error in template ForceEqualIfEnabled"
SENDER_IN_TREE = refused_at("transfer.circom", "enabled * (senderBefore.root - root) === 0;")
RECIPIENT_IN_TREE = refused_at(
    "transfer.circom", "enabled * (recipientBefore.root - senderAfter.root) === 0;"
)
AMOUNT_RANGE = refused_at("transfer.circom", "amountBits.in <== amount;")
SENDER_LEFT_RANGE = refused_at("transfer.circom", "senderLeftBits.in <== senderLeft;")
RECIPIENT_TOTAL_RANGE = refused_at("transfer.circom", "recipientTotalBits.in <== recipientTotal;")
NEW_ACCOUNT_ADDRESS = refused_at("transfer.circom", "recipientEmpty * addressIsZero.out === 0;")

#: the overflowing transfer's sender can pay, so a prover has the recipient's path after the debit
OVERFLOW = transfer(4, 1, MAX_BALANCE - 999)
OVERFLOW_PATH = tuple(map(str, debit_sender(GENESIS, OVERFLOW, DEVNET_CHAIN_ID).proof(1)))

# name: (honest transfer, the forged one in its place, other inputs the prover changes,
#        the model's error, where the circuit refuses)
FORGERIES = {
    "bad signature": (
        transfer(0, 1, 10),
        replace(transfer(0, 1, 10), amount=11),
        {},
        BadSignature,
        SIGNATURE,
    ),
    "wrong nonce": (
        transfer(0, 1, 10),
        transfer(0, 1, 10, nonce=1),
        {},
        WrongNonce,
        SENDER_IN_TREE,
    ),
    "insufficient balance": (
        transfer(0, 1, 10),
        transfer(0, 1, 1001),
        {},
        InsufficientBalance,
        SENDER_LEFT_RANGE,
    ),
    "recipient balance overflow": (
        transfer(4, 1, 10),
        OVERFLOW,
        {"recipientPath": OVERFLOW_PATH},
        AmountOverflow,
        RECIPIENT_TOTAL_RANGE,
    ),
    "amount beyond 128 bits": (
        transfer(4, 1, 10),
        transfer_with_oversized_amount(),
        {},
        AmountOverflow,
        AMOUNT_RANGE,
    ),
    "key of another account": (
        transfer(0, 1, 10),
        transfer(0, 1, 10, key=1),
        {},
        KeyMismatch,
        SENDER_IN_TREE,
    ),
    "sender leaf empty": (
        transfer(0, 1, 10),
        transfer(7, 1, 10),
        {"senderPath": tuple(map(str, GENESIS.proof(7)))},
        UnknownAccount,
        SENDER_IN_TREE,
    ),
    "recipient with another address": (
        transfer(0, 1, 10),
        transfer(0, 1, 10, to_address=dev_address(2)),
        {},
        WrongRecipient,
        RECIPIENT_IN_TREE,
    ),
    "empty leaf opened for address 0": (
        transfer(0, 9, 10),
        transfer(0, 9, 10, to_address=0),
        {},
        InvalidAddress,
        NEW_ACCOUNT_ADDRESS,
    ),
}


@pytest.mark.parametrize(
    ("honest", "forged", "others", "error", "where"), FORGERIES.values(), ids=FORGERIES.keys()
)
def test_circuit_refuses_what_the_model_refuses(calculator, honest, forged, others, error, where):
    with pytest.raises(error):
        apply_block(GENESIS, [forged], DEVNET_CHAIN_ID)
    inputs = block_inputs(TINY, GENESIS, [honest], PROVER)
    calculator.calculate(inputs)  # the honest block has a witness
    with pytest.raises(WitnessError, match=where):
        calculator.calculate(substitute(inputs, forged, **others))


@pytest.mark.parametrize(
    ("forged", "where"),
    [
        ({"oldRoot": "1"}, SENDER_IN_TREE),  # a state the chain is not in
        ({"newRoot": "1"}, refused_at("block.circom", "root[N] === newRoot;")),
        ({"dataHash": "1"}, refused_at("block.circom", "chain[N] === dataHash;")),
    ],
    ids=["wrong old root", "wrong new root", "data not hashing to dataHash"],
)
def test_circuit_refuses_public_signals_the_block_does_not_have(calculator, forged, where):
    inputs = block_inputs(TINY, GENESIS, [transfer(0, 1, 10), transfer(1, 2, 5)], PROVER)
    with pytest.raises(WitnessError, match=where):
        calculator.calculate(inputs | forged)


def test_posted_data_other_than_the_blocks_transfers_is_refused(calculator):
    honest = transfer(0, 1, 10)
    inputs = block_inputs(TINY, GENESIS, [honest], PROVER)
    posted = block_data([honest])
    posted[0] += 1  # the nonce posted as 1: data the transfers do not hash to
    with pytest.raises(WitnessError, match=refused_at("block.circom", "chain[N] === dataHash;")):
        calculator.calculate(inputs | {"dataHash": str(data_hash(posted))})


@pytest.mark.parametrize("name", PUBLIC)
def test_forged_public_signal_breaks_an_honest_witness(block_tiny, calculator, r1cs, name):
    """Each public signal is bound: no proof of this witness verifies for other values."""
    inputs = block_inputs(TINY, GENESIS, [transfer(0, 1, 10)], PROVER)
    witness = limbs_to_ints(calculator.calculate(inputs))
    wire = block_tiny.wires[f"main.{name}"]
    witness[wire] += 1
    assert r1cs.violated_constraints(witness) != []


def test_block_inputs_refuse_what_does_not_fit():
    three = [transfer(0, 1, 1), transfer(0, 1, 1, nonce=1), transfer(0, 1, 1, nonce=2)]
    with pytest.raises(BlockTooLarge, match="3 transfers, but block_tiny has 2 slots"):
        block_inputs(TINY, GENESIS, three, PROVER)
    with pytest.raises(WrongDepth, match="depth 8, block_tiny depth 4"):
        block_inputs(TINY, AccountTree(8), [], PROVER)
    with pytest.raises(InvalidTransfer, match="transfer 1: nonce 0, but account 0 is at nonce 1"):
        block_inputs(TINY, GENESIS, [three[0], three[0]], PROVER)


def test_small_profile_compiles_within_2_to_the_15_constraints(compile_block):
    """Also proves one honest block on the small profile (the CPU demo's circuit)."""
    build = compile_block(REPO / "zkp/circuits/block_small.circom")
    r1cs = read_r1cs(build.circuit.r1cs)
    assert len(r1cs.constraints) <= 2**15
    assert (r1cs.n_outputs, r1cs.n_pub_inputs) == (0, 4)
    state = genesis_state(SMALL.depth, {0: Account(dev_address(0), 50)})
    transfers = [transfer(0, 200, 20), transfer(200, 0, 5)]
    signals = public_signals(
        WitnessCalculator(build.circuit.wasm), block_inputs(SMALL, state, transfers, PROVER)
    )
    assert signals["newRoot"] == apply_block(state, transfers, DEVNET_CHAIN_ID).root
