"""The Rollup contract on the embedded EVM and on anvil: commits of blocks as
`sequencer.block_data` posts them (its parser's refusals, side by side with the contract's on
random and malformed data; the data hash against `block_data.block_commitment`), the L1 queue
(order, forced inclusion), exit roots, the freeze, the ring of not yet finalized blocks,
reverts and finalization's bookkeeping.

Finalization here runs against `BatchVerifierStub`, which accepts exactly the public inputs it
is told to expect, so these tests see the inputs the contract builds without proving anything.
The contract does not check transitions (the proofs do): the blocks' roots are arbitrary field
elements.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

import pytest
from eth_abi import encode
from eth_account import Account
from eth_hash.auto import keccak

from market_contracts.compile import load_artifact
from market_contracts.deploy import Deployment, RollupDeployment, check_deployment
from market_contracts.errors import RollupRejected, TransactionFailed, UnknownDeployment
from market_contracts.rollup import BlockStatus, CommittedBlock, Rollup, deploy_rollup_contract
from market_contracts.rules import MarketParams
from sequencer.block_data import (
    ADDRESS_BITS,
    FORCED_OPS,
    QUEUE_OPS,
    Op,
    Record,
    block_commitment,
    calldata,
    deposit_hash,
    exit_root,
    forced_hash,
    parse,
    queue_hash,
    round_amount,
)
from sequencer.errors import MalformedBlockData
from zkp.aggregate import AggregateProof
from zkp.field import R

BATCH_SIZE = 2
#: the test profile: record slots and entries a block may use
SLOTS, ENTRIES = 4, 2
#: blocks the rollup may run ahead of finalization: two batches
RING = 4
FORCE_DELAY, ESCAPE_DELAY = 100, 1_000
GENESIS_ROOT = 12345
GENESIS_ACCOUNTS = b"\x01genesis accounts, opaque to the contract"
PROVERS = [Account.create().address for _ in range(4)]
#: The stub ignores the proof; any points of the right shape do.
ANY_PROOF = AggregateProof(a=((1, 2),) * BATCH_SIZE, b=(((1, 2), (3, 4)),) * BATCH_SIZE, c=(1, 2))
RECIPIENT = int(Account.create().address, 16)
#: a gas limit for transactions that must run at a set time (an estimate would run later)
GAS = 1_000_000


def transfer(a: int, b: int, amount: int = 1) -> Record:
    return Record(Op.TRANSFER, a, b, amount)


@dataclass(frozen=True)
class Block:
    """A block as the sequencer posts it: its new root and its records."""

    new_root: int
    records: tuple[Record, ...]

    @property
    def data(self) -> bytes:
        return calldata(self.records)

    @property
    def data_hash(self) -> int:
        return block_commitment(self.records, SLOTS, ENTRIES)

    def inputs(self, old_root: int, prover: str) -> list[int]:
        return [old_root, self.new_root, self.data_hash, int(prover, 16)]


#: Blocks 1-4: transfers, an opening and a withdrawal; and another block 2 to replace the first
#: after a revert.
BLOCKS = [
    Block(101, (transfer(0, 1, 500), transfer(1, 2, 20))),
    Block(102, (transfer(2, 3, 7), Record(Op.OPEN, 3, 9, 1, entry=77))),
    Block(103, (Record(Op.WITHDRAW, 4, 0, 10**18, entry=RECIPIENT),)),
    Block(104, (transfer(3, 0, 1), transfer(0, 5, 9), transfer(5, 4, 2))),
]
OTHER_BLOCK_2 = Block(202, (transfer(4, 0, 3),))


def old_root(number: int, blocks=BLOCKS) -> int:
    return GENESIS_ROOT if number == 1 else blocks[number - 2].new_root


class RollupWorld:
    """A Rollup over the shared stub verifier, and who acts on it (dev account 2 stands in for
    the Bridge)."""

    def __init__(self, chain, stub):
        self.chain = chain
        self.deployer = chain.dev_accounts[0]
        self.sequencer = chain.dev_accounts[1]
        self.bridge = chain.dev_accounts[2]
        self.stub = stub
        self.rollup = self.deploy()

    def deploy(self, **change) -> Rollup:
        parameters = dict(sequencer=self.sequencer.address, verifier=self.stub.address,
                          bridge=self.bridge.address, genesis_root=GENESIS_ROOT,
                          genesis_accounts=GENESIS_ACCOUNTS, batch_size=BATCH_SIZE,
                          max_transfers=SLOTS, entries=ENTRIES, force_delay=FORCE_DELAY,
                          escape_delay=ESCAPE_DELAY, ring_size=RING) | change
        return deploy_rollup_contract(self.chain, self.deployer, **parameters)

    def commit(self, block: Block) -> CommittedBlock:
        return self.rollup.commit_block(self.sequencer, block.new_root, block.data)

    def commit_records(self, *records: Record, root: int = 7, gas: int | None = None) -> CommittedBlock:
        """`gas` given: not estimated, so the transaction runs at exactly the time set for it."""
        return self.rollup.commit_block(self.sequencer, root, calldata(records), gas=gas)

    def expect(self, inputs: list[list[int]]) -> None:
        self.chain.transact(self.deployer, self.stub.functions.expect(inputs))

    def finalize(self, first: int, provers: list[str], gas: int | None = None):
        return self.rollup.finalize_batch(self.deployer, first, provers, ANY_PROOF, gas=gas)

    def finalize_next(self) -> None:
        """Finalize the next batch, whatever its blocks hold (the stub is told their inputs)."""
        first = self.rollup.last_finalized() + 1
        provers = PROVERS[:BATCH_SIZE]
        self.expect(self.rollup.batch_inputs(first, provers))
        self.finalize(first, provers)

    def verdict(self, data: bytes) -> str | None:
        """What commitBlock says to `data` now (eth_call, nothing mined): None if it commits,
        else the name of its refusal."""
        try:
            self.chain.call(self.rollup.contract.functions.commitBlock(1, data),
                            sender=self.sequencer.address)
        except TransactionFailed as exc:
            return exc.reason
        return None


@pytest.fixture(scope="module")
def worlds(chain) -> tuple[RollupWorld, RollupWorld]:
    """A fresh rollup, and one with blocks 1-4 committed: both made before the tests' snapshot,
    since committing is the slow part on the embedded chain."""
    stub = chain.deploy(chain.dev_accounts[0], load_artifact("BatchVerifierStub"))
    fresh, committed = RollupWorld(chain, stub), RollupWorld(chain, stub)
    for block in BLOCKS:
        committed.commit(block)
    return fresh, committed


@pytest.fixture
def rolled_back(chain, worlds):
    snapshot = chain.snapshot()
    yield worlds
    chain.revert(snapshot)


@pytest.fixture
def world(rolled_back) -> RollupWorld:
    return rolled_back[0]


@pytest.fixture
def committed(rolled_back) -> RollupWorld:
    """Blocks 1-4 committed."""
    return rolled_back[1]


def rejected(excinfo) -> tuple[str, tuple]:
    return excinfo.value.reason, excinfo.value.error_args


# ---------------------------------------------------------------- genesis and commits


def test_block_zero_is_the_finalized_genesis(world):
    rollup = world.rollup
    genesis = rollup.block(0)
    assert (genesis.new_root, genesis.data_hash, genesis.status) == (GENESIS_ROOT, 0, BlockStatus.FINALIZED)
    assert genesis.l1_block == rollup.deployment().block > 0
    assert (rollup.last_committed(), rollup.last_finalized()) == (0, 0)
    assert (rollup.batch_size(), rollup.max_transfers(), rollup.entries()) == (BATCH_SIZE, SLOTS, ENTRIES)
    assert (rollup.sequencer(), rollup.bridge()) == (world.sequencer.address, world.bridge.address)
    assert rollup.status(1) is BlockStatus.NONE
    assert rollup.finalized_root() == GENESIS_ROOT and not rollup.frozen()
    assert rollup.draw_blocks(0) == (0, 0, 0)
    (event,) = rollup.contract.events.Genesis().get_logs(from_block=genesis.l1_block)
    assert event["args"]["accounts"] == GENESIS_ACCOUNTS


def test_commits_blocks_with_their_data_hash(world):
    w3 = world.chain.w3
    for number, block in enumerate(BLOCKS, start=1):
        committed = world.commit(block)
        l1 = w3.eth.get_block(committed.l1_block)
        assert committed == CommittedBlock(number, old_root(number), block.new_root,
                                           block.data_hash, None, l1["number"],
                                           l1["timestamp"], BlockStatus.COMMITTED,
                                           roster_block=l1["number"] - 1,
                                           randomness_block=l1["number"] + 1)
        assert world.rollup.block(number) == committed
        assert world.rollup.committed_at(number) == (l1["number"], l1["timestamp"])
        assert world.rollup.draw_blocks(number) == (l1["number"] - 1, l1["number"] + 1,
                                                    l1["timestamp"])
        assert world.rollup.statement(number) == committed.statement() == keccak(encode(
            ["uint256"] * 4, [number, old_root(number), block.new_root, block.data_hash]))
    assert world.rollup.last_committed() == len(BLOCKS)
    assert world.rollup.batch_statement(1) == keccak(encode(
        ["bytes32[]"], [[world.rollup.statement(3), world.rollup.statement(4)]]))


def test_the_event_holds_the_number_and_the_block_is_read_as_of_its_l1_block(world):
    block = BLOCKS[1]
    world.commit(BLOCKS[0])
    committed = world.commit(block)
    (event,) = world.rollup.contract.events.BlockCommitted().get_logs(from_block=committed.l1_block)
    assert dict(event["args"]) == {"blockNumber": 2}
    world.rollup.revert_blocks(world.sequencer, 2)
    world.commit(OTHER_BLOCK_2)
    # the dropped commit's log still tells its own root and data hash
    from_log = world.rollup.committed_from_log(event)
    assert from_log == committed
    assert (from_log.old_root, from_log.new_root, from_log.data_hash) == (
        BLOCKS[0].new_root, block.new_root, block.data_hash)


#: the Rollup's ring (RING_BASE in Rollup.sol): entry i is slots RING_BASE + 3i .. + 3i + 2
RING_BASE = int.from_bytes(keccak(b"provernet.Rollup.ring"), "big")
FIELD = (1 << 40) - 1


def stored(world: RollupWorld, number: int) -> tuple[list[int], int]:
    """Block `number`'s ring entry (new root, data hash, meta) and the packed counters, as the
    Rollup's storage holds them."""
    def word(slot: int) -> int:
        return int.from_bytes(world.chain.w3.eth.get_storage_at(world.rollup.address, slot), "big")

    base = RING_BASE + 3 * (number % RING)
    return [word(base), word(base + 1), word(base + 2)], word(0)


@pytest.mark.parametrize("block", [BLOCKS[3], BLOCKS[1]], ids=["plain-transfers", "checked"])
def test_both_commit_paths_write_the_same_words(world, block):
    """commitBlock writes a first commit of transfers alone with the queue empty itself, any
    other block (here one that opens an account) through `_commitChecked`: alike."""
    _, counters = stored(world, 1)
    committed = world.commit(block)
    entry, after = stored(world, 1)
    when = committed.l1_block | committed.timestamp << 40
    # new root, data hash; the commit's L1 block and time, pinned as the draw's, queue start 0
    assert entry == [block.new_root, block.data_hash, 1 << 255 | when | when << 80]
    # lastCommitted and the high water mark are 1; the queue and finalization untouched
    assert after == counters | 1 | 1 << 80 and counters & (FIELD | FIELD << 80) == 0


def test_randomness_is_the_hash_of_the_block_after_the_commit(world):
    committed = world.commit(BLOCKS[0])
    assert world.rollup.randomness(1) is None
    world.chain.mine()
    recorded = world.rollup.record_randomness(world.deployer, 1)
    assert recorded == bytes(world.chain.w3.eth.get_block(committed.randomness_block)["hash"])
    assert world.rollup.randomness(1) == world.rollup.block(1).randomness == recorded


def test_randomness_of_many_blocks_is_recorded_in_one_transaction_as_one_by_one(world):
    committed = [world.commit(block) for block in BLOCKS[:3]]
    world.chain.mine()
    first = world.rollup.record_randomness(world.deployer, 1)  # recorded before: kept
    recorded = world.rollup.record_randomness_many(world.deployer, [1, 2, 3, 2])
    assert recorded == {block.number: bytes(world.chain.w3.eth.get_block(
        block.randomness_block)["hash"]) for block in committed}
    assert recorded[1] == first
    assert [world.rollup.randomness(n) for n in (1, 2, 3)] == [recorded[n] for n in (1, 2, 3)]


@pytest.mark.parametrize(("numbers", "reason"), [
    pytest.param([1, 3], "BlockNeverCommitted", id="never-committed"),
    pytest.param([1, 2], "RandomnessNotYetAvailable", id="not-yet-available"),
])
def test_randomness_of_many_blocks_is_all_or_nothing(world, numbers, reason):
    world.commit(BLOCKS[0])
    world.chain.mine()
    world.commit(BLOCKS[1])  # its randomness block is the next L1 block
    with pytest.raises(RollupRejected) as excinfo:
        world.rollup.record_randomness_many(world.deployer, numbers)
    assert rejected(excinfo)[0] == reason
    assert world.rollup.randomness(1) is None  # block 1 could be recorded, but was not


def random_records(rng: random.Random, count: int) -> list[Record]:
    """Records of every op that takes no queue entry, fields anywhere in their ranges."""
    records = []
    for _ in range(count):
        op = rng.choice([Op.TRANSFER, Op.TRANSFER, Op.OPEN, Op.WITHDRAW])
        amount = round_amount(rng.choice([0, 1, rng.randrange(1 << 128)]))
        entry = None
        if op == Op.OPEN:
            entry = rng.choice([0, rng.randrange(1 << 256)])
        elif op == Op.WITHDRAW:
            entry = rng.randrange(1 << ADDRESS_BITS)
        records.append(Record(op, rng.randrange(1 << 24), 0 if op == Op.WITHDRAW else rng.randrange(1 << 24),
                              amount, entry))
    return records


def test_data_hash_is_the_block_data_commitment_of_random_blocks(world):
    rng = random.Random(4)
    for number in range(1, 4):
        records = random_records(rng, rng.randrange(1, SLOTS + 1))
        while sum(r.entry is not None for r in records) > ENTRIES:
            records = random_records(rng, rng.randrange(1, SLOTS + 1))
        new_root = rng.randrange(R)
        block = world.rollup.commit_block(world.sequencer, new_root, calldata(records))
        assert block.data_hash == block_commitment(records, SLOTS, ENTRIES)
        assert world.rollup.exit_root(number) == exit_root(number, records)


# ---------------------------------------------------------------- the data: the contract parses as block_data


#: the contract's refusals of data `block_data.parse` refuses, in parse's order
PARSE_REFUSALS = ("BadRecordCount", "DataTooShort", "BadOp", "WrongDataLength", "TooManyEntries")


def expected_verdict(data: bytes) -> str | None:
    """What commitBlock must say to `data` on a rollup with an empty queue: "parse" if
    `block_data.parse` refuses it; else the first record's refusal that parsing does not see (a
    queue record when the queue is empty); else None."""
    try:
        records = parse(data, SLOTS, ENTRIES)
    except MalformedBlockData:
        return "parse"
    for record in records:
        if record.op in QUEUE_OPS:
            return "QueueExhausted"
    return None


def mutations(rng: random.Random, data: bytes) -> list[bytes]:
    """`data` and ways to break it: cut, lengthened, its count or an op changed, random bytes."""
    k = rng.randrange(1, data[0] + 1)
    op_at = 1 + (k - 1) * 11
    return [
        data,
        data[:rng.randrange(len(data))],
        data + bytes(rng.randrange(1, 40)),
        bytes([rng.randrange(256)]) + data[1:],
        data[:op_at] + bytes([data[op_at] & 0x1f | rng.choice([0, 7, 3, 5, 6]) << 5]) + data[op_at + 1:],
        rng.randbytes(rng.randrange(80)),
    ]


def test_the_contract_refuses_exactly_what_block_data_parse_refuses(world):
    """Parity on random and malformed data: the contract accepts what `parse` accepts (an empty
    queue refuses queue records, which parsing cannot see) and refuses the rest for the reason
    parse's order gives first."""
    rng = random.Random(13)
    seen = set()
    for _ in range(60):
        records = random_records(rng, rng.randrange(1, SLOTS + 1))
        records = [r if rng.random() < 0.8 else Record(rng.choice(sorted(QUEUE_OPS)), r.a, 0, r.amount, 5,
                                                        RECIPIENT if rng.random() < 0.7 else None)
                   for r in records]
        records = [r if (r.recipient is not None) == (r.op in FORCED_OPS) else replace(
            r, recipient=RECIPIENT if r.op in FORCED_OPS else None) for r in records]
        for data in mutations(rng, calldata(records)):
            expected, verdict = expected_verdict(data), world.verdict(data)
            seen.add(verdict)
            if expected == "parse":
                assert verdict in PARSE_REFUSALS, data.hex()
            else:
                assert verdict == expected, data.hex()
    assert {None, "QueueExhausted", *PARSE_REFUSALS} <= seen  # every path was taken


@pytest.mark.parametrize(("data", "reason", "args"), [
    pytest.param(b"", "BadRecordCount", (0, SLOTS), id="empty"),
    pytest.param(bytes([0]), "BadRecordCount", (0, SLOTS), id="no-records"),
    pytest.param(calldata([transfer(1, 2)] * (SLOTS + 1)), "BadRecordCount", (SLOTS + 1, SLOTS),
                 id="more-than-the-slots"),
    pytest.param(calldata([transfer(1, 2)] * 2)[:-1], "DataTooShort", (22, 2), id="short"),
    pytest.param(bytes([2]) + bytes(11) + calldata([transfer(1, 2)])[1:], "BadOp", (0, 0),
                 id="padding-posted"),
    pytest.param(calldata([transfer(1, 2), transfer(2, 3)])[:12] + bytes([0xe0]) + bytes(10),
                 "BadOp", (1, 7), id="op-7"),
    pytest.param(calldata([transfer(1, 2)]) + bytes(1), "WrongDataLength", (13, 12), id="a-byte-more"),
    pytest.param(calldata([Record(Op.OPEN, 1, 2, 3, entry=4)])[:-1], "WrongDataLength", (43, 44),
                 id="entry-cut"),
    pytest.param(calldata([Record(Op.OPEN, 1, 2, 3, entry=4)] * 3), "TooManyEntries", (3, ENTRIES),
                 id="too-many-entries"),
    pytest.param(calldata([Record(Op.WITHDRAW, 1, 0, 3, entry=1)])[:-32]
                 + (1 << 160).to_bytes(32, "big"), "RecipientNotAnAddress",
                 (0, 1 << 160), id="withdrawal-to-no-address"),
])
def test_refuses_malformed_data(world, data, reason, args):
    with pytest.raises(RollupRejected) as excinfo:
        world.rollup.commit_block(world.sequencer, 1, data)
    assert rejected(excinfo) == (reason, args)
    assert world.rollup.last_committed() == 0
    with pytest.raises(MalformedBlockData):
        parse(data, SLOTS, ENTRIES)


#: block sizes that take each branch of commitBlock's check of plain transfers: below twelve
#: (every third record's word, then the ops left), twelve and more (twelve an iteration, then
#: the last twelve), with every remainder of twelve and of three, up to 64
PLAIN_SIZES = (1, 2, 3, 4, 5, 6, 11, 12, 13, 14, 15, 16, 23, 24, 25, 35, 36, 64)


def test_every_record_of_a_block_of_transfers_is_checked(world):
    """A block of transfers but one record whose op is 0 (padding) or 7 is refused BadOp naming
    that record, whatever its size and the record's place; the same block of transfers alone
    commits (calls as the sequencer: nothing is committed)."""
    rollup = world.deploy(max_transfers=64)
    commit = rollup.contract.functions.commitBlock
    for size in PLAIN_SIZES:
        data = calldata([transfer(k, k + 1, k + 1) for k in range(size)])
        assert world.chain.call(commit(7, data), sender=world.sequencer.address) == 1
        for k in range(size):
            op = 7 * (k % 2)
            bad = bytearray(data)
            bad[1 + 11 * k] = bad[1 + 11 * k] & 0x1f | op << 5
            with pytest.raises(TransactionFailed) as excinfo:
                world.chain.call(commit(7, bytes(bad)), sender=world.sequencer.address)
            assert rejected(excinfo) == ("BadOp", (k, op)), (size, k)


def test_refuses_a_root_that_is_no_field_element(world):
    with pytest.raises(RollupRejected) as excinfo:
        world.rollup.commit_block(world.sequencer, R, BLOCKS[0].data)
    assert rejected(excinfo) == ("NotAFieldElement", (R,))


def test_the_op_table_counts_what_block_data_says(world):
    """`OP_COUNTS`, written out in the contract: entries, recipients and refusal per op."""
    table = world.rollup._call(world.rollup.contract.functions.OP_COUNTS())
    for op in range(8):
        counts = table >> 32 * op & 0xffffffff
        valid = Op.PAD < op <= Op.FORCED_SKIP
        assert counts == (0 if not valid else (Op(op) in {Op.OPEN, *QUEUE_OPS, Op.WITHDRAW})
                          | (Op(op) in FORCED_OPS) << 10) | (not valid) << 20


def test_only_the_sequencer_commits(world):
    outsider = world.chain.dev_accounts[3]
    with pytest.raises(RollupRejected) as excinfo:
        world.rollup.commit_block(outsider, BLOCKS[0].new_root, BLOCKS[0].data)
    assert rejected(excinfo) == ("NotSequencer", (outsider.address.lower(),))
    assert str(excinfo.value) == (f"{outsider.address} is not the rollup's sequencer: only the "
                                  "sequencer commits and reverts blocks")


# ---------------------------------------------------------------- finalization


def test_finalizes_a_batch_against_the_stored_public_inputs(committed):
    rollup = committed.rollup
    inputs = [BLOCKS[i].inputs(old_root(i + 1), PROVERS[i]) for i in range(BATCH_SIZE)]
    assert [rollup.public_inputs(n + 1, PROVERS[n]) for n in range(BATCH_SIZE)] == inputs
    committed.expect(inputs)
    receipt = committed.finalize(1, PROVERS[:2])
    (event,) = rollup.contract.events.BatchFinalized().process_receipt(receipt)
    assert dict(event["args"]) == {"firstBlock": 1, "lastBlock": 2, "provers": PROVERS[:2]}
    assert [rollup.block(n).prover for n in (1, 2, 3)] == [*PROVERS[:2], None]
    assert [rollup.status(n) for n in (1, 2, 3)] == [BlockStatus.FINALIZED, BlockStatus.FINALIZED,
                                                     BlockStatus.COMMITTED]
    assert rollup.last_finalized() == 2

    committed.expect([BLOCKS[i].inputs(old_root(i + 1), PROVERS[i]) for i in (2, 3)])
    committed.finalize(3, PROVERS[2:])
    assert rollup.last_finalized() == 4


@pytest.mark.parametrize(("first", "provers", "reason", "args"), [
    pytest.param(3, PROVERS[2:], "BatchOutOfOrder", (3, 1), id="out-of-order"),
    pytest.param(1, PROVERS[:1], "WrongBatchSize", (1, 2, 2), id="too-few-provers"),
    pytest.param(1, PROVERS[:3], "WrongBatchSize", (3, 2, 2), id="too-many-provers"),
    pytest.param(1, PROVERS[1::-1], "InvalidBatchProof", (1,), id="provers-swapped"),
])
def test_refuses_a_wrong_batch(committed, first, provers, reason, args):
    committed.expect([BLOCKS[i].inputs(old_root(i + 1), PROVERS[i]) for i in range(BATCH_SIZE)])
    with pytest.raises(RollupRejected) as excinfo:
        committed.finalize(first, provers)
    assert rejected(excinfo) == (reason, args)
    assert committed.rollup.last_finalized() == 0


def test_refuses_finalizing_twice(committed):
    committed.expect([BLOCKS[i].inputs(old_root(i + 1), PROVERS[i]) for i in range(BATCH_SIZE)])
    committed.finalize(1, PROVERS[:2])
    with pytest.raises(RollupRejected) as excinfo:
        committed.finalize(1, PROVERS[:2])
    assert rejected(excinfo) == ("BatchOutOfOrder", (1, 3))


def test_refuses_a_batch_not_yet_committed(world):
    world.commit(BLOCKS[0])
    with pytest.raises(RollupRejected) as excinfo:
        world.finalize(1, PROVERS[:2])
    assert rejected(excinfo) == ("BlockNotCommitted", (2,))
    with pytest.raises(RollupRejected) as excinfo:
        world.rollup.public_inputs(2, PROVERS[0])
    assert rejected(excinfo) == ("BlockNotCommitted", (2,))


# ---------------------------------------------------------------- reverts


def test_reverted_blocks_are_replaced_from_the_root_before_them(committed):
    rollup = committed.rollup
    receipt = rollup.revert_blocks(committed.sequencer, 2)
    (event,) = rollup.contract.events.BlocksReverted().process_receipt(receipt)
    assert dict(event["args"]) == {"fromBlock": 2, "toBlock": 4}
    assert rollup.last_committed() == 1
    assert [rollup.status(n) for n in (1, 2, 3, 4)] == [BlockStatus.COMMITTED] + [BlockStatus.NONE] * 3
    assert rollup.block(2) == CommittedBlock(2, 0, 0, 0, None, 0, 0, BlockStatus.NONE)
    pinned = rollup.draw_blocks(2)
    assert pinned[1] > 0  # pinned for good: the next block 2 draws from them

    replacement = committed.commit(OTHER_BLOCK_2)  # from block 1's root, not the dropped 2's
    assert (replacement.number, replacement.old_root, replacement.data_hash) == (
        2, BLOCKS[0].new_root, OTHER_BLOCK_2.data_hash)
    assert rollup.draw_blocks(2) == pinned  # the draw time too: a late re-commit ages nothing

    committed.expect([BLOCKS[0].inputs(GENESIS_ROOT, PROVERS[0]),
                      OTHER_BLOCK_2.inputs(BLOCKS[0].new_root, PROVERS[1])])
    committed.finalize(1, PROVERS[:2])
    assert rollup.block(2).status is BlockStatus.FINALIZED


def test_committed_blocks_follow_the_events_through_reverts(committed):
    rollup = committed.rollup
    start = rollup.deployment().block
    first_four = [rollup.block(n) for n in (1, 2, 3, 4)]
    assert rollup.committed_blocks(start) == first_four
    before_revert = committed.chain.w3.eth.block_number
    rollup.revert_blocks(committed.sequencer, 2)
    replacement = committed.commit(OTHER_BLOCK_2)
    assert rollup.committed_blocks(start) == [first_four[0], replacement]
    assert rollup.committed_blocks(start, before_revert) == first_four
    assert rollup.committed_blocks(before_revert + 1) == [replacement]


@pytest.mark.parametrize(("from_block", "reason", "args"), [
    pytest.param(0, "CannotRevertFinalized", (0, 0), id="genesis"),
    pytest.param(5, "NothingToRevert", (5, 4), id="past-the-last"),
])
def test_refuses_impossible_reverts(committed, from_block, reason, args):
    with pytest.raises(RollupRejected) as excinfo:
        committed.rollup.revert_blocks(committed.sequencer, from_block)
    assert rejected(excinfo) == (reason, args)


def test_refuses_reverting_finalized_blocks(committed):
    committed.expect([BLOCKS[i].inputs(old_root(i + 1), PROVERS[i]) for i in range(BATCH_SIZE)])
    committed.finalize(1, PROVERS[:2])
    with pytest.raises(RollupRejected) as excinfo:
        committed.rollup.revert_blocks(committed.sequencer, 2)
    assert rejected(excinfo) == ("CannotRevertFinalized", (2, 2))
    assert str(excinfo.value) == "cannot revert from block 2: blocks up to 2 are finalized"
    committed.rollup.revert_blocks(committed.sequencer, 3)
    assert committed.rollup.last_committed() == 2


def test_only_the_sequencer_reverts(committed):
    with pytest.raises(RollupRejected) as excinfo:
        committed.rollup.revert_blocks(committed.deployer, 2)
    assert rejected(excinfo) == ("NotSequencer", (committed.deployer.address.lower(),))


# ---------------------------------------------------------------- the queue


def deposit(l2_address: int = 55, amount: int = 10**18, to: int = 3) -> Record:
    return Record(Op.DEPOSIT, 0, to, amount, entry=l2_address)


def forced(index: int = 4, l2_address: int = 66, amount: int = 5, skip: bool = False) -> Record:
    return Record(Op.FORCED_SKIP if skip else Op.FORCED, index, 0, amount, entry=l2_address,
                  recipient=RECIPIENT)


def enqueue(world: RollupWorld, *records: Record) -> None:
    for record in records:
        world.rollup.enqueue(world.bridge, queue_hash(record))


def test_queue_entries_are_the_bridges_hashes_with_their_time(world):
    position = world.rollup.enqueue(world.bridge, deposit_hash(55, 10**18))
    time = world.chain.latest_timestamp()
    assert position == 0 and world.rollup.enqueue(world.bridge, forced_hash(4, 66, 5, RECIPIENT)) == 1
    assert world.rollup.queue_entry(0) == (deposit_hash(55, 10**18), time)
    assert (world.rollup.queue_length(), world.rollup.queue_next()) == (2, 0)
    with pytest.raises(RollupRejected) as excinfo:
        world.rollup.queue_entry(2)
    assert rejected(excinfo) == ("NoSuchQueueEntry", (2, 2))
    with pytest.raises(RollupRejected) as excinfo:
        world.rollup.enqueue(world.sequencer, deposit_hash(1, 1))
    assert rejected(excinfo) == ("NotBridge", (world.sequencer.address.lower(),))


def test_queue_records_are_taken_in_order_exactly(world):
    d0, f1, d2 = deposit(55), forced(skip=True), deposit(56, 7)
    enqueue(world, d0, f1, d2)
    for records, reason, args in [
        ((f1,), "NotNextInQueue", (0, 0)),  # skips entry 0
        ((f1, d0), "NotNextInQueue", (0, 0)),  # reorders
        ((replace(d0, amount=2 * 10**18),), "NotNextInQueue", (0, 0)),  # alters the amount
        ((replace(d0, entry=57),), "NotNextInQueue", (0, 0)),  # alters the address
        ((d0, replace(f1, recipient=RECIPIENT + 1)), "NotNextInQueue", (1, 1)),  # another recipient
        ((d0, replace(f1, a=5)), "NotNextInQueue", (1, 1)),  # another account
    ]:
        with pytest.raises(RollupRejected) as excinfo:
            world.commit_records(*records)
        assert rejected(excinfo) == (reason, args)
    world.commit_records(transfer(1, 2), d0, f1)  # in order, among transfers
    assert world.rollup.queue_next() == 2
    with pytest.raises(RollupRejected) as excinfo:
        world.commit_records(d2, deposit(99))  # invents an entry past the queue's end
    assert rejected(excinfo) == ("QueueExhausted", (1, 3))
    world.commit_records(d2)
    assert world.rollup.queue_next() == 3


def test_an_entry_must_be_included_once_force_delay_old_and_not_before(world):
    d0 = deposit()
    enqueue(world, d0)
    enqueued = world.rollup.queue_entry(0)[1]
    world.chain.set_next_block_timestamp(enqueued + FORCE_DELAY - 1)
    world.commit_records(transfer(1, 2), gas=GAS)  # not yet due: the sequencer may leave it out
    for records in [(transfer(1, 2),), (transfer(1, 2),) * SLOTS]:  # an empty-ish or a full block
        world.chain.set_next_block_timestamp(max(enqueued + FORCE_DELAY,
                                                 world.chain.latest_timestamp() + 1))
        with pytest.raises(RollupRejected) as excinfo:
            world.commit_records(*records, gas=GAS)
        assert rejected(excinfo) == ("ForcedInclusionDue", (0,))
    world.commit_records(transfer(1, 2), d0)
    assert world.rollup.queue_next() == 1


def test_a_backlog_of_due_entries_stalls_nothing_while_blocks_take_all_they_can(world):
    entries = [deposit(50 + i) for i in range(ENTRIES + 1)]
    enqueue(world, *entries)
    world.chain.increase_time(FORCE_DELAY)
    with pytest.raises(RollupRejected) as excinfo:  # takes one where it could take ENTRIES
        world.commit_records(entries[0])
    assert rejected(excinfo) == ("ForcedInclusionDue", (1,))
    world.commit_records(*entries[:ENTRIES])  # as many as a block takes: the next is still due
    world.commit_records(entries[ENTRIES])
    assert world.rollup.queue_next() == ENTRIES + 1


def test_a_revert_gives_back_the_queue_entries_of_the_dropped_blocks(world):
    d0, d1 = deposit(55), deposit(56)
    enqueue(world, d0, d1)
    world.commit_records(d0)
    world.commit_records(transfer(1, 2), d1)
    world.rollup.revert_blocks(world.sequencer, 1)
    assert world.rollup.queue_next() == 0
    with pytest.raises(RollupRejected) as excinfo:
        world.commit_records(d1)
    assert rejected(excinfo) == ("NotNextInQueue", (0, 0))
    world.commit_records(d0, d1)
    assert world.rollup.queue_next() == 2


def test_the_finalized_queue_position_trails_the_blocks_not_yet_finalized(world):
    """What a frozen rollup's Bridge refunds: deposits no finalized block took, including those
    of blocks committed after the last finalization."""
    d0, d1, d2 = deposit(55), deposit(56), deposit(57)
    enqueue(world, d0, d1, d2)
    world.commit_records(d0)
    assert (world.rollup.queue_next(), world.rollup.finalized_queue_next()) == (1, 0)
    world.commit_records(d1)
    world.commit_records(d2)
    world.finalize_next()
    assert (world.rollup.queue_next(), world.rollup.finalized_queue_next()) == (3, 2)
    world.commit_records(transfer(1, 2))
    world.finalize_next()
    assert world.rollup.finalized_queue_next() == 3


# ---------------------------------------------------------------- exits


def test_the_exit_root_is_stored_for_blocks_that_pay_exits(world):
    f0 = forced(amount=3 * 10**17)
    enqueue(world, f0)
    paying = (Record(Op.WITHDRAW, 4, 0, 10**18, entry=RECIPIENT), transfer(1, 2), f0)
    world.commit_records(*paying)
    world.commit_records(transfer(1, 2))
    assert world.rollup.exit_root(1) == exit_root(1, paying) != bytes(32)
    assert world.rollup.exit_root(2) == bytes(32)
    # A dropped block's exits go with it: the new block 1 pays none.
    world.rollup.revert_blocks(world.sequencer, 1)
    assert world.rollup.exit_root(1) == bytes(32)
    enqueue_free = (transfer(3, 4), Record(Op.FORCED_SKIP, 4, 0, 3 * 10**17, entry=66, recipient=RECIPIENT))
    world.commit_records(*enqueue_free)
    assert world.rollup.exit_root(1) == exit_root(1, enqueue_free) == bytes(32)


def test_exit_roots_of_one_and_two_exits_are_block_data_s(world):
    rng = random.Random(5)
    for number, count in enumerate((1, ENTRIES, 1, ENTRIES), start=1):
        records = [Record(Op.WITHDRAW, rng.randrange(1 << 24), 0, round_amount(rng.randrange(1 << 100)),
                          entry=rng.randrange(1 << ADDRESS_BITS)) for _ in range(count)]
        world.commit_records(*records)
        assert world.rollup.exit_root(number) == exit_root(number, records)


# ---------------------------------------------------------------- the freeze


def test_freezes_escape_delay_after_the_last_finalization_and_not_before(committed):
    rollup = committed.rollup
    start = rollup.last_finalized_time()
    committed.expect(rollup.batch_inputs(1, PROVERS[:BATCH_SIZE]))
    committed.chain.set_next_block_timestamp(start + ESCAPE_DELAY)
    committed.finalize(1, PROVERS[:BATCH_SIZE], gas=GAS)  # the last moment: still live; it restarts the clock
    restarted = rollup.last_finalized_time()
    assert restarted == start + ESCAPE_DELAY and rollup.finalized_root() == BLOCKS[1].new_root
    committed.chain.set_next_block_timestamp(restarted + ESCAPE_DELAY)
    committed.commit_records(transfer(1, 2), gas=GAS)
    assert not rollup.frozen()
    committed.chain.increase_time(1)
    assert rollup.frozen()
    for act in (lambda: committed.commit_records(transfer(1, 2)),
                lambda: committed.finalize_next(),
                lambda: rollup.revert_blocks(committed.sequencer, 4)):
        with pytest.raises(RollupRejected) as excinfo:
            act()
        assert rejected(excinfo) == ("RollupFrozen", (restarted, ESCAPE_DELAY))
    assert rollup.finalized_root() == BLOCKS[1].new_root and rollup.last_finalized() == 2


# ---------------------------------------------------------------- the ring


def test_the_sequencer_runs_at_most_the_ring_ahead_of_finalization(committed):
    with pytest.raises(RollupRejected) as excinfo:
        committed.commit_records(transfer(1, 2))
    assert rejected(excinfo) == ("RingFull", (RING + 1, 0))
    committed.finalize_next()
    for _ in range(BATCH_SIZE):
        committed.commit_records(transfer(1, 2))
    with pytest.raises(RollupRejected) as excinfo:
        committed.commit_records(transfer(1, 2))
    assert rejected(excinfo) == ("RingFull", (RING + BATCH_SIZE + 1, BATCH_SIZE))


def test_finalized_blocks_outlive_their_ring_entries(committed):
    rollup = committed.rollup
    before = {n: (rollup.statement(n), rollup.public_inputs(n, PROVERS[0]), rollup.draw_blocks(n))
              for n in (1, 2)}
    committed.finalize_next()
    committed.commit_records(transfer(1, 2))  # block 5 takes block 1's entry
    with pytest.raises(RollupRejected) as excinfo:
        rollup.committed_at(1)
    assert rejected(excinfo) == ("BlockForgotten", (1,))
    assert rollup.committed_at(2)[0] > 0
    info = rollup.block(1)
    assert (info.old_root, info.new_root, info.data_hash, info.status, info.prover) == (
        GENESIS_ROOT, BLOCKS[0].new_root, BLOCKS[0].data_hash, BlockStatus.FINALIZED, PROVERS[0])
    assert (info.l1_block, info.timestamp) == (0, 0)  # forgotten, as committed_at says
    for n in (1, 2):  # what settlement and slashing read, for good
        assert (rollup.statement(n), rollup.public_inputs(n, PROVERS[0]), rollup.draw_blocks(n)) == before[n]
    assert rollup.batch_inputs(1, PROVERS[:2])[0] == BLOCKS[0].inputs(GENESIS_ROOT, PROVERS[0])
    assert rollup.public_inputs(5, PROVERS[0])[0] == BLOCKS[3].new_root


# ---------------------------------------------------------------- deployment


@pytest.mark.parametrize(("change", "reason"), [
    pytest.param({"genesis_root": R}, "genesisRoot is not a field element", id="genesis-root"),
    pytest.param({"batch_size": 0}, "batchSize must be positive", id="batch-size"),
    pytest.param({"max_transfers": 0}, "maxTransfers must be in 1..255: the count is one byte",
                 id="no-slots"),
    pytest.param({"max_transfers": 256}, "maxTransfers must be in 1..255: the count is one byte",
                 id="slots-past-the-count-byte"),
    pytest.param({"entries": 0}, "entries must be in 1..255", id="entries"),
    pytest.param({"ring_size": BATCH_SIZE - 1}, "ringSize must be >= batchSize", id="ring"),
    pytest.param({"escape_delay": FORCE_DELAY}, "escapeDelay must exceed forceDelay", id="delays"),
    pytest.param({"bridge": "0x" + "00" * 20}, "bridge is the zero address", id="bridge"),
])
def test_deployment_refuses_bad_parameters(world, change, reason):
    with pytest.raises(RollupRejected, match=f"^the rollup cannot be deployed: {reason}$"):
        world.deploy(**change)


def test_the_deployment_file_names_the_rollup(world, tmp_path):
    market = Deployment(world.chain.chain_id, *[world.deployer.address] * 4, 1, MarketParams.devnet())
    path = tmp_path / "deployment.json"
    market.save(path)
    assert "rollup" not in path.read_text()
    assert Deployment.load(path) == market  # files from before the rollup load as they were

    entry = world.rollup.deployment()
    assert entry == RollupDeployment(world.rollup.address, world.stub.address, world.bridge.address,
                                     world.rollup.block(0).l1_block)
    with_rollup = replace(market, rollup=entry)
    with_rollup.save(path)
    assert Deployment.load(path) == with_rollup
    assert Rollup.from_deployment(world.chain, with_rollup).address == world.rollup.address
    with pytest.raises(UnknownDeployment, match="the deployment has no rollup"):
        Rollup.from_deployment(world.chain, market)

    gone = replace(with_rollup, token=world.stub.address, registry=world.stub.address,
                   staking=world.stub.address, rollup=replace(entry, verifier=PROVERS[0]))
    with pytest.raises(UnknownDeployment, match=rf"no contract at {PROVERS[0]} \(rollup's verifier\)"):
        check_deployment(world.chain, gone)


def test_only_this_releases_rollup_contract_is_taken_for_one(world):
    """`Rollup.is_this_release`: the deployed code is what our creation code makes with the
    parameters the contract reports. A contract behind the same ABI that is not (a proxy) is
    refused by the roller (tests/roller/test_roller_service.py); here, contracts and accounts
    that do not even answer the Rollup's views."""
    assert world.rollup.is_this_release()
    assert not Rollup(world.chain, world.stub.address).is_this_release()
    assert not Rollup(world.chain, world.deployer.address).is_this_release()
