"""The block circuit against the Python L2 model.

Valid blocks: the circuit's witness has the model's new root and data commitment as public
signals, for every op and for random blocks of them. Invalid ones: each record the model refuses
(with a specific error) the circuit refuses too (no witness), when a prover puts it in a block's
inputs as well as it can (the model's leaves and paths, a valid signature where one exists, the
body's entries and commitment); and a forged public signal leaves constraints of an honest
witness unsatisfied.
"""

import random
import re
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sequencer import eddsa
from sequencer.accounts import BALANCE_BITS, NONCE_BITS, Account, AccountTree
from sequencer.block_data import Op, Record, block_commitment, round_amount
from sequencer.circuit_inputs import LARGE, SMALL, BlockCircuit, block_inputs, slot_inputs
from sequencer.errors import (
    AmountOverflow,
    BadSignature,
    BlockTooLarge,
    EmptyRecipient,
    ForcedApplies,
    ForcedNotApplicable,
    InsufficientBalance,
    InvalidAddress,
    InvalidTransfer,
    KeyMismatch,
    NonceOverflow,
    OccupiedLeaf,
    UnknownAccount,
    WrongDepth,
    WrongNonce,
    WrongRecipient,
)
from sequencer.genesis import dev_address, dev_private_key, genesis_state
from sequencer.poseidon import poseidon
from sequencer.transactions import DEVNET_CHAIN_ID, Kind, Transfer, sign_transfer
from sequencer.transition import (
    DEBIT_OPS,
    SIGNED_OPS,
    apply_block,
    deposit_record,
    forced_applies,
    forced_record,
    record_for,
)
from zkp.errors import WitnessError
from zkp.field import limbs_to_ints
from zkp.r1cs import R1cs, read_r1cs
from zkp.witness import WitnessCalculator

REPO = Path(__file__).resolve().parents[2]
TINY = BlockCircuit("block_tiny", block_size=2, depth=4, chain_id=DEVNET_CHAIN_ID, entries=1)
#: tests/zkp/circuits/block_two_entries.circom: TINY with 2 entries, consumed in record order
TWO_ENTRIES = replace(TINY, name="block_two_entries", entries=2)
PROVER = "0x" + "c0ffee" * 6 + "0001"
PUBLIC = ("oldRoot", "newRoot", "dataHash", "prover")
MAX_BALANCE = (1 << BALANCE_BITS) - 1
LAST_NONCE = (1 << NONCE_BITS) - 1
L1_RECIPIENT = 0xBEEF


def transfer(from_index, to_index, amount, *, nonce=0, to_address=None, key=None,
             kind=Kind.TRANSFER) -> Transfer:
    """A transfer signed by dev key `key` (by default the sender's own)."""
    unsigned = Transfer(
        from_index,
        to_index,
        dev_address(to_index) if to_address is None else to_address,
        amount,
        nonce,
        kind=kind,
    )
    return sign_transfer(
        unsigned, dev_private_key(from_index if key is None else key), DEVNET_CHAIN_ID
    )


def withdrawal(from_index, amount, *, nonce=0, recipient=L1_RECIPIENT, kind=Kind.WITHDRAW):
    return transfer(from_index, 0, amount, nonce=nonce, to_address=recipient, kind=kind)


#: accounts 0-2 hold 1000 each, account 3 is at the last nonce, account 4 holds the most a
#: balance can
GENESIS = genesis_state(
    TINY.depth,
    {i: Account(dev_address(i), 1000) for i in range(3)}
    | {3: Account(dev_address(3), 1000, LAST_NONCE), 4: Account(dev_address(4), MAX_BALANCE)},
)


def posted(tx: Transfer, state: AccountTree = GENESIS) -> tuple[Record, Transfer]:
    """`tx` with the record the sequencer posts for it."""
    return record_for(state, tx), tx


@pytest.fixture(scope="module")
def calculator(block_tiny) -> WitnessCalculator:
    return WitnessCalculator(block_tiny.circuit.wasm)


@pytest.fixture(scope="module")
def two_entries(compile_block) -> WitnessCalculator:
    build = compile_block(REPO / "tests/zkp/circuits/block_two_entries.circom")
    return WitnessCalculator(build.circuit.wasm)


@pytest.fixture(scope="module")
def r1cs(block_tiny) -> R1cs:
    return read_r1cs(block_tiny.circuit.r1cs)


def public_signals(calculator, inputs) -> dict[str, int]:
    witness = limbs_to_ints(calculator.calculate(inputs))
    return dict(zip(PUBLIC, witness[1:5]))


def model_signals(circuit, state, ops) -> dict[str, int]:
    return {
        "oldRoot": state.root,
        "newRoot": apply_block(state, ops, DEVNET_CHAIN_ID).root,
        "dataHash": block_commitment([r for r, _ in ops], circuit.block_size, circuit.entries),
        "prover": int(PROVER, 16),
    }


@pytest.mark.parametrize(
    ("source", "profile"),
    [
        ("tests/zkp/circuits/block_tiny.circom", TINY),
        ("tests/zkp/circuits/block_two_entries.circom", TWO_ENTRIES),
        ("zkp/circuits/block_small.circom", SMALL),
        ("zkp/circuits/block_large.circom", LARGE),
    ],
)
def test_profiles_are_the_main_components(source, profile):
    main = re.search(
        r"component main .*= Block\((\w+), (\w+), (\w+), (\w+)\);", (REPO / source).read_text()
    )
    assert main, f"{source} has no Block main component"
    assert tuple(int(p, 0) for p in main.groups()) == (
        profile.block_size,
        profile.depth,
        profile.chain_id,
        profile.entries,
    )


def test_public_signals_are_the_four_in_order(block_tiny, calculator, r1cs):
    assert (r1cs.n_outputs, r1cs.n_pub_inputs) == (0, 4)
    assert [block_tiny.wires[f"main.{name}"] for name in PUBLIC] == [1, 2, 3, 4]
    inputs = block_inputs(TINY, GENESIS, [posted(transfer(0, 1, 10))], PROVER)
    witness = limbs_to_ints(calculator.calculate(inputs))
    assert witness[1:5] == [int(inputs[name]) for name in PUBLIC]
    assert witness[4] == int(PROVER, 16)
    assert r1cs.violated_constraints(witness) == []


#: one block of each op (and some pairs), from GENESIS
EVERY_OP = {
    "transfer": [posted(transfer(0, 1, 10))],
    "open": [posted(transfer(0, 9, 10))],
    "withdraw": [posted(withdrawal(0, 1000))],
    "deposit opening a leaf": [(deposit_record(GENESIS, dev_address(9), 5 * 10**20, 9), None)],
    "deposit to its address": [(deposit_record(GENESIS, dev_address(1), 5, 1), None)],
    "forced at the last nonce": [(forced_record(GENESIS, 3, dev_address(3), 1000, 7), None)],
    "forced skipped: another address": [(forced_record(GENESIS, 2, dev_address(1), 1, 7), None)],
    "forced skipped: too little": [(forced_record(GENESIS, 2, dev_address(2), 1001, 7), None)],
    "forced skipped: empty leaf": [(forced_record(GENESIS, 7, dev_address(7), 1, 7), None)],
    "to oneself": [posted(transfer(2, 2, 700)), posted(withdrawal(2, 300, nonce=1))],
    "empty": [],
}


@pytest.mark.parametrize("ops", EVERY_OP.values(), ids=EVERY_OP.keys())
def test_every_op_reaches_the_models_root(calculator, ops):
    inputs = block_inputs(TINY, GENESIS, ops, PROVER)
    assert public_signals(calculator, inputs) == model_signals(TINY, GENESIS, ops)


def random_op(rng: random.Random, state: AccountTree, entries_left: int):
    """A record (and its transaction) that the model accepts on `state`, of a random op."""
    size = state.capacity
    funded = [i for i in range(size) if state.get(i) and state.get(i).balance]
    ops = ["deposit", "forced"] + ["transfer", "withdraw"] * bool(funded)
    op = rng.choice(ops if entries_left else ["transfer"] * bool(funded) or ["none"])
    if op == "none":
        return None
    if op == "deposit":
        to_index = rng.randrange(size)
        account = state.get(to_index)
        address = account.address if account else dev_address(to_index)
        room = MAX_BALANCE - (account.balance if account else 0)
        return deposit_record(state, address, round_amount(rng.randrange(room + 1)),
                              to_index), None
    if op == "forced":
        index = rng.choice(funded) if funded and rng.random() < 0.7 else rng.randrange(size)
        account = state.get(index)
        address = dev_address(index) if rng.random() < 0.8 else dev_address(index + 1)
        balance = account.balance if account else 0
        amount = round_amount(rng.randrange(balance + 1) if rng.random() < 0.7
                              else rng.randrange(balance + 1, 2 * balance + 10))
        return forced_record(state, index, address, amount, L1_RECIPIENT), None
    sender = state.get(from_index := rng.choice(funded))
    amount = round_amount(rng.randrange(sender.balance + 1))
    if op == "withdraw":
        return posted(withdrawal(from_index, amount, nonce=sender.nonce), state)
    to_index = rng.choice([from_index, *range(size)])
    recipient = state.get(to_index)
    if recipient is None and not entries_left:
        to_index, recipient = from_index, sender
    room = MAX_BALANCE - (recipient.balance if recipient and to_index != from_index else 0)
    tx = transfer(from_index, to_index, min(amount, round_amount(room)), nonce=sender.nonce)
    return posted(tx, state)


def random_block(seed: int, circuit: BlockCircuit):
    """A random state and a block of 0 to `block_size` records that the model accepts.

    Ops and their fields are drawn from the state as the block changes it: transfers to
    accounts, to empty leaves (opened) or to the sender itself; withdrawals; deposits to empty
    leaves or their address's account; forced withdrawals that apply or are skipped.
    """
    rng = random.Random(seed)
    accounts = {
        i: Account(
            dev_address(i),
            rng.choice([0, rng.randrange(10**6), MAX_BALANCE // 2]),
            rng.randrange(5),
        )
        for i in rng.sample(range(1 << circuit.depth), 5)
    }
    state = before = genesis_state(circuit.depth, accounts)
    ops = []
    for _ in range(rng.choice([0, 1, 2, 2, 2])):
        entries_left = circuit.entries - sum(r.entry is not None for r, _ in ops)
        op = random_op(rng, state, entries_left)
        if op is None:
            break
        ops.append(op)
        state = apply_block(state, [op], DEVNET_CHAIN_ID)
    return before, ops


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32))
def test_random_valid_blocks_reach_the_models_root(two_entries, seed):
    state, ops = random_block(seed, TWO_ENTRIES)
    inputs = block_inputs(TWO_ENTRIES, state, ops, PROVER)
    assert public_signals(two_entries, inputs) == model_signals(TWO_ENTRIES, state, ops)


def test_padding_needs_no_signature_and_changes_nothing(calculator):
    inputs = block_inputs(TINY, GENESIS, [], PROVER)
    assert set(inputs["sigS"]) == set(inputs["op"]) == {"0"}
    signals = public_signals(calculator, inputs)
    assert signals["newRoot"] == signals["oldRoot"] == GENESIS.root
    assert signals["dataHash"] == block_commitment([], TINY.block_size, TINY.entries)


def _decimal(value):
    return [str(v) for v in value] if isinstance(value, tuple) else str(value)


def prover_debit(record: Record, tx: Transfer | None) -> AccountTree:
    """GENESIS after the sender's update as a prover makes it whatever the rules say: the
    amount taken from a leaf that holds it, a nonce spent if signed."""
    sender = GENESIS.get(record.a)
    if record.op not in DEBIT_OPS or sender is None or sender.balance < record.amount:
        return GENESIS
    return GENESIS.set(record.a, replace(sender, balance=sender.balance - record.amount,
                                         nonce=sender.nonce + (record.op in SIGNED_OPS)))


def forged_inputs(record: Record, tx: Transfer | None = None, **changed) -> dict:
    """A one-record block's inputs for `record` (which the model refuses), as a prover would
    try: GENESIS's leaves and paths (the recipient's after `prover_debit`), the body's entries
    and commitment; `changed` the slot inputs it also sets."""
    inputs = block_inputs(TINY, GENESIS, [], PROVER)
    slot = slot_inputs(GENESIS, prover_debit(record, tx), record, tx)
    for name, value in (slot | changed).items():
        inputs[name] = [_decimal(value), *inputs[name][1:]]
    entry = [] if record.entry is None else [str(record.entry)]
    inputs["entries"] = entry + inputs["entries"][len(entry):]
    inputs["dataHash"] = str(block_commitment([record], TINY.block_size, TINY.entries))
    return inputs


def spilled_signature_transfer() -> Transfer:
    """4 -> 1 of 10^39 (beyond 128 bits, yet postable), signed as the word it packs to without
    range checks: 4 -> 3 of 10^39 - 2 * 2^128, a valid transfer."""
    key = dev_private_key(4)
    word = ((4 * 2**32 + 1) * 2**128 + 10**39) * 2**32
    message = poseidon((DEVNET_CHAIN_ID, word, dev_address(1)))
    return Transfer(
        4, 1, dev_address(1), 10**39, 0, eddsa.public_key(key), eddsa.sign(key, message)
    )


def refused_at(source: str, statement: str) -> str:
    """A pattern for the witness calculator's report of a failure at `statement`.

    The report names each template on the way with the line it was at; the
    line is looked up, so the tests follow edits to the circuit.
    """
    lines = (REPO / "zkp/circuits" / source).read_text().splitlines()
    number = next(i for i, line in enumerate(lines, 1) if line.strip() == statement)
    template = {"transfer.circom": "Slot", "block.circom": "Block"}[source]
    return rf"assert failed: .*Error in template {template}_\d+ line: {number}\b"


def slot_refuses(statement: str) -> str:
    return refused_at("transfer.circom", statement)


SIGNATURE = "Error in template ForceEqualIfEnabled"
SENDER_IN_TREE = slot_refuses("touchesSender * (senderBefore.root - root) === 0;")
RECIPIENT_IN_TREE = slot_refuses("credits * (recipientBefore.root - debited) === 0;")
KEY = slot_refuses("signed * (keyAddress.out - senderAddress) === 0;")
SHORT = slot_refuses("debits * short.out === 0;")
NEXT_NONCE = slot_refuses("nextNonceBits.in <== nextNonce;")
RECIPIENT_TOTAL_RANGE = slot_refuses("recipientTotalBits.in <== recipientTotal;")
L1_ADDRESS = slot_refuses("isWithdraw * entryHigh === 0;")
ADDRESS_ZERO = slot_refuses("(recipientEmpty + isWithdraw) * addressIsZero.out === 0;")
EMPTY_SENDER = slot_refuses("debits * senderEmpty === 0;")
FORCED_HOLDER = slot_refuses("isForced * (1 - holder) === 0;")
SKIP_APPLIES = slot_refuses("isSkip * applies === 0;")
OPEN_EMPTY = slot_refuses("isOpen * (1 - recipientEmpty) === 0;")
TRANSFER_FILLED = slot_refuses("isTransfer * recipientEmpty === 0;")
ENTRY = slot_refuses("consumes * (toAddress - entry) === 0;")
DATA = refused_at("block.circom", "data.commitment === dataHash;")
NEW_ROOT = refused_at("block.circom", "root[N] === newRoot;")

# name: (the refused record, its transaction, the slot inputs the prover also changes,
#        the model's error, where the circuit refuses)
FORGERIES = {
    "bad signature": (*posted(replace(transfer(0, 1, 10), amount=11)), {}, BadSignature,
                      SIGNATURE),
    "wrong nonce": (*posted(transfer(0, 1, 10, nonce=1)), {"senderNonce": 1}, WrongNonce,
                    SENDER_IN_TREE),
    "insufficient balance": (*posted(transfer(0, 1, 1001)), {}, InsufficientBalance, SHORT),
    "no nonce left": (*posted(transfer(3, 1, 10, nonce=LAST_NONCE)), {}, NonceOverflow,
                      NEXT_NONCE),
    "recipient balance overflow": (*posted(transfer(0, 4, 10)), {}, AmountOverflow,
                                   RECIPIENT_TOTAL_RANGE),
    "amount beyond 128 bits": (*posted(spilled_signature_transfer()), {}, AmountOverflow, SHORT),
    "key of another account": (*posted(transfer(0, 1, 10, key=1)), {}, KeyMismatch, KEY),
    "sender leaf empty": (
        *posted(transfer(7, 1, 10)),
        {"senderEmpty": 0, "senderAddress": dev_address(7), "senderBalance": 1000},
        UnknownAccount, SENDER_IN_TREE),
    "recipient with another address": (*posted(transfer(0, 1, 10, to_address=dev_address(2))),
                                       {}, WrongRecipient, RECIPIENT_IN_TREE),
    "empty leaf opened for address 0": (*posted(transfer(0, 9, 10, to_address=0)), {},
                                        InvalidAddress, ADDRESS_ZERO),
    "FORCED_SKIP of a request that applies": (
        Record(Op.FORCED_SKIP, 2, 0, 1000, dev_address(2), 7), None, {}, ForcedApplies,
        SKIP_APPLIES),
    "FORCED of a request for another address": (
        Record(Op.FORCED, 2, 0, 10, dev_address(1), 7), None, {}, ForcedNotApplicable,
        FORCED_HOLDER),
    "FORCED of more than the balance": (
        Record(Op.FORCED, 2, 0, 1001, dev_address(2), 7), None, {}, ForcedNotApplicable, SHORT),
    "FORCED from an empty leaf": (
        Record(Op.FORCED, 7, 0, 0, dev_address(7), 7), None, {}, ForcedNotApplicable,
        EMPTY_SENDER),
    "DEPOSIT to a leaf of another address": (
        Record(Op.DEPOSIT, 0, 1, 10, dev_address(2)), None, {}, WrongRecipient,
        RECIPIENT_IN_TREE),
    "DEPOSIT beyond 128 bits": (
        Record(Op.DEPOSIT, 0, 4, 10, dev_address(4)), None, {}, AmountOverflow,
        RECIPIENT_TOTAL_RANGE),
    "OPEN onto an account": (
        Record(Op.OPEN, 0, 1, 10, dev_address(1)), transfer(0, 1, 10), {}, OccupiedLeaf,
        OPEN_EMPTY),
    "TRANSFER to an empty leaf": (
        Record(Op.TRANSFER, 0, 9, 10), transfer(0, 9, 10), {}, EmptyRecipient,
        TRANSFER_FILLED),
    "WITHDRAW signed as a transfer (kind replay)": (
        Record(Op.WITHDRAW, 0, 0, 10, L1_RECIPIENT), withdrawal(0, 10, kind=Kind.TRANSFER), {},
        BadSignature, SIGNATURE),
    "TRANSFER signed as a withdrawal": (
        Record(Op.TRANSFER, 0, 1, 10), transfer(0, 1, 10, kind=Kind.WITHDRAW), {},
        BadSignature, SIGNATURE),
    "WITHDRAW to more than an L1 address": (
        Record(Op.WITHDRAW, 0, 0, 10, 1 << 160), withdrawal(0, 10, recipient=1 << 160), {},
        InvalidAddress, L1_ADDRESS),
    "WITHDRAW to L1 address 0": (
        Record(Op.WITHDRAW, 0, 0, 10, 0), withdrawal(0, 10, recipient=0), {}, InvalidAddress,
        ADDRESS_ZERO),
}


@pytest.mark.parametrize(
    ("record", "tx", "changed", "error", "where"), FORGERIES.values(), ids=FORGERIES.keys()
)
def test_circuit_refuses_what_the_model_refuses(calculator, record, tx, changed, error, where):
    with pytest.raises(error):
        apply_block(GENESIS, [(record, tx)], DEVNET_CHAIN_ID)
    with pytest.raises(WitnessError, match=where):
        calculator.calculate(forged_inputs(record, tx, **changed))


def test_forged_inputs_of_a_valid_record_have_a_witness(calculator):
    """The forgeries' inputs are built as an honest block's: only what the rules refuse fails."""
    record, tx = posted(transfer(0, 9, 10))
    assert not forced_applies(GENESIS, 2, dev_address(2), 1001)
    inputs = forged_inputs(record, tx)
    with pytest.raises(WitnessError, match=NEW_ROOT):  # the empty block's newRoot
        calculator.calculate(inputs)
    after = apply_block(GENESIS, [(record, tx)], DEVNET_CHAIN_ID)
    assert public_signals(calculator, inputs | {"newRoot": str(after.root)}) == model_signals(
        TINY, GENESIS, [(record, tx)])


def test_an_entry_other_than_the_committed_one_is_refused(calculator):
    committed = [(deposit_record(GENESIS, dev_address(9), 10, 9), None)]
    inputs = block_inputs(TINY, GENESIS, committed, PROVER)
    other = str(dev_address(8))
    with pytest.raises(WitnessError, match=ENTRY):  # the slot credits another address
        calculator.calculate(inputs | {"entries": [other]})
    # a deposit for another address, whole and consistent, but not the committed body
    deposited = [(deposit_record(GENESIS, dev_address(8), 10, 9), None)]
    forged = block_inputs(TINY, GENESIS, deposited, PROVER) | {"dataHash": inputs["dataHash"]}
    with pytest.raises(WitnessError, match=DATA):
        calculator.calculate(forged)


def test_entries_are_consumed_in_record_order(two_entries):
    ops = [posted(transfer(0, 9, 10)), (deposit_record(GENESIS, dev_address(8), 3, 8), None)]
    inputs = block_inputs(TWO_ENTRIES, GENESIS, ops, PROVER)
    assert inputs["entries"] == [str(dev_address(9)), str(dev_address(8))]
    assert public_signals(two_entries, inputs) == model_signals(TWO_ENTRIES, GENESIS, ops)
    with pytest.raises(WitnessError, match=ENTRY):
        two_entries.calculate(inputs | {"entries": inputs["entries"][::-1]})
    # one entry consumed: the second is the body's zero word
    one = block_inputs(TWO_ENTRIES, GENESIS, ops[:1] + [posted(transfer(1, 0, 5))], PROVER)
    assert one["entries"] == [str(dev_address(9)), "0"]
    with pytest.raises(WitnessError, match=DATA):
        two_entries.calculate(one | {"entries": [one["entries"][0], "1"]})


@pytest.mark.parametrize(
    ("forged", "where"),
    [
        ({"oldRoot": "1"}, SENDER_IN_TREE),  # a state the chain is not in
        ({"newRoot": "1"}, NEW_ROOT),
        ({"dataHash": "1"}, DATA),
    ],
    ids=["wrong old root", "wrong new root", "data not hashing to dataHash"],
)
def test_circuit_refuses_public_signals_the_block_does_not_have(calculator, forged, where):
    ops = [posted(transfer(0, 1, 10)), posted(transfer(1, 2, 5))]
    inputs = block_inputs(TINY, GENESIS, ops, PROVER)
    with pytest.raises(WitnessError, match=where):
        calculator.calculate(inputs | forged)


def test_commitment_of_other_data_is_refused(calculator):
    honest = posted(transfer(0, 1, 10))
    inputs = block_inputs(TINY, GENESIS, [honest], PROVER)
    # the amount posted as 11: data the block does not have
    other = block_commitment([replace(honest[0], amount=11)], TINY.block_size, TINY.entries)
    with pytest.raises(WitnessError, match=DATA):
        calculator.calculate(inputs | {"dataHash": str(other)})


@pytest.mark.parametrize("name", PUBLIC)
def test_forged_public_signal_breaks_an_honest_witness(block_tiny, calculator, r1cs, name):
    """Each public signal is bound: no proof of this witness verifies for other values."""
    inputs = block_inputs(TINY, GENESIS, [posted(transfer(0, 1, 10))], PROVER)
    witness = limbs_to_ints(calculator.calculate(inputs))
    wire = block_tiny.wires[f"main.{name}"]
    witness[wire] += 1
    assert r1cs.violated_constraints(witness) != []


def test_block_inputs_refuse_what_does_not_fit():
    three = [posted(transfer(0, 1, 1, nonce=n)) for n in range(3)]
    with pytest.raises(BlockTooLarge, match="3 records and 0 entries, but block_tiny has 2 "
                                            "slots and 1 entries"):
        block_inputs(TINY, GENESIS, three, PROVER)
    opens = [posted(transfer(0, 9, 1)), posted(transfer(0, 8, 1, nonce=1))]
    with pytest.raises(BlockTooLarge, match="2 records and 2 entries"):
        block_inputs(TINY, GENESIS, opens, PROVER)
    with pytest.raises(WrongDepth, match="depth 8, block_tiny depth 4"):
        block_inputs(TINY, AccountTree(8), [], PROVER)
    with pytest.raises(InvalidTransfer, match="transfer 1: nonce 0, but account 0 is at nonce 1"):
        block_inputs(TINY, GENESIS, [three[0], three[0]], PROVER)
    with pytest.raises(AmountOverflow, match="is not m"):
        block_inputs(TINY, GENESIS, [posted(transfer(0, 1, 123_456_789_011))], PROVER)


def test_small_profile_compiles_within_2_to_the_16_constraints(compile_block):
    """Also computes one honest block's witness on the small profile (the CPU demo's circuit)."""
    build = compile_block(REPO / "zkp/circuits/block_small.circom")
    r1cs = read_r1cs(build.circuit.r1cs)
    assert len(r1cs.constraints) <= 2**16
    assert (r1cs.n_outputs, r1cs.n_pub_inputs) == (0, 4)
    state = genesis_state(SMALL.depth, {0: Account(dev_address(0), 50)})
    ops = [posted(transfer(0, 200, 20), state)]
    ops.append(posted(withdrawal(0, 5, nonce=1), apply_block(state, ops, DEVNET_CHAIN_ID)))
    with pytest.raises(BlockTooLarge):
        block_inputs(SMALL, state, ops, PROVER)  # one entry: the OPEN's, not the WITHDRAW's too
    ops[1] = posted(transfer(200, 0, 5), apply_block(state, ops[:1], DEVNET_CHAIN_ID))
    signals = public_signals(
        WitnessCalculator(build.circuit.wasm), block_inputs(SMALL, state, ops, PROVER)
    )
    assert signals == model_signals(SMALL, state, ops)
