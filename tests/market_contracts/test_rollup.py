"""The Rollup contract on the embedded EVM and on anvil: commits of real L2 blocks from the
sequencer's model, the data hash against `sequencer.transactions.data_hash`, reverts, and
finalization's bookkeeping.

Finalization here runs against `BatchVerifierStub`, which accepts exactly the public inputs it
is told to expect, so these tests see the inputs the contract builds without proving anything;
tests/zkp/test_rollup_end_to_end.py finalizes with real proofs.
"""

from __future__ import annotations

import random
from dataclasses import replace

import pytest
from eth_abi import encode
from eth_account import Account
from eth_hash.auto import keccak

from market_contracts.compile import load_artifact
from market_contracts.deploy import Deployment, RollupDeployment, check_deployment
from market_contracts.errors import RollupRejected, UnknownDeployment
from market_contracts.rollup import (
    BlockStatus,
    CommittedBlock,
    Rollup,
    deploy_poseidon,
    deploy_rollup_contract,
)
from market_contracts.rules import MarketParams
from sequencer.genesis import devnet_genesis
from sequencer.blocks import L2Block, dev_transfer as transfer, l2_chain
from sequencer.transactions import data_hash
from zkp.aggregate import AggregateProof
from zkp.field import R

BATCH_SIZE = 2
MAX_TRANSFERS = 4
GENESIS = devnet_genesis(8, 6, 10**6)
PROVERS = [Account.create().address for _ in range(4)]
#: The stub ignores the proof; any points of the right shape do.
ANY_PROOF = AggregateProof(a=((1, 2),) * BATCH_SIZE, b=(((1, 2), (3, 4)),) * BATCH_SIZE, c=(1, 2))


#: Blocks 1-4 as the sequencer's model makes them, an empty one among them; and another
#: block 2 to replace the first after a revert.
BLOCKS = l2_chain(GENESIS, [
    [transfer(0, 1, 500, 0), transfer(1, 2, 20, 0)],
    [transfer(2, 3, 7, 0)],
    [],
    [transfer(3, 0, 1, 0), transfer(0, 5, 9, 1), transfer(5, 4, 2, 0)],
])
OTHER_BLOCK_2 = l2_chain(BLOCKS[0].after, [[transfer(4, 0, 3, 0)]])[0]


class RollupWorld:
    """A Rollup over the shared stub verifier and Poseidon, and who acts on it."""

    def __init__(self, chain, stub, poseidon: str):
        self.chain = chain
        self.deployer = chain.dev_accounts[0]
        self.sequencer = chain.dev_accounts[1]
        self.stub = stub
        self.poseidon = poseidon
        self.rollup = self.deploy(GENESIS.root, BATCH_SIZE, MAX_TRANSFERS)

    def deploy(self, genesis_root: int, batch_size: int, max_transfers: int) -> Rollup:
        return deploy_rollup_contract(
            self.chain, self.deployer, sequencer=self.sequencer.address, verifier=self.stub.address,
            poseidon=self.poseidon, genesis_root=genesis_root, batch_size=batch_size,
            max_transfers=max_transfers)

    def commit(self, block: L2Block) -> CommittedBlock:
        return self.rollup.commit_block(self.sequencer, block.before.root, block.after.root,
                                        block.data)

    def expect(self, inputs: list[list[int]]) -> None:
        self.chain.transact(self.deployer, self.stub.functions.expect(inputs))

    def finalize(self, first: int, provers: list[str]):
        return self.rollup.finalize_batch(self.deployer, first, provers, ANY_PROOF)


@pytest.fixture(scope="module")
def worlds(chain) -> tuple[RollupWorld, RollupWorld]:
    """A fresh rollup, and one with blocks 1-4 committed: both made before the tests' snapshot,
    since committing is the slow part on the embedded chain."""
    stub = chain.deploy(chain.dev_accounts[0], load_artifact("BatchVerifierStub"))
    poseidon = deploy_poseidon(chain, chain.dev_accounts[0])
    fresh, committed = RollupWorld(chain, stub, poseidon), RollupWorld(chain, stub, poseidon)
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
    assert (genesis.new_root, genesis.data_hash, genesis.status) == (GENESIS.root, 0, BlockStatus.FINALIZED)
    assert (rollup.last_committed(), rollup.last_finalized()) == (0, 0)
    assert (rollup.batch_size(), rollup.max_transfers()) == (BATCH_SIZE, MAX_TRANSFERS)
    assert rollup.sequencer() == world.sequencer.address
    assert rollup.status(1) is BlockStatus.NONE


def test_commits_blocks_of_the_model_with_its_data_hash(world):
    w3 = world.chain.w3
    for number, block in enumerate(BLOCKS, start=1):
        committed = world.commit(block)
        l1 = w3.eth.get_block(committed.l1_block)
        assert committed == CommittedBlock(number, block.before.root, block.after.root,
                                           data_hash(block.data), None, l1["number"],
                                           l1["timestamp"], BlockStatus.COMMITTED,
                                           roster_block=l1["number"] - 1,
                                           randomness_block=l1["number"] + 1)
        assert world.rollup.block(number) == committed
        assert world.rollup.draw_blocks(number) == (l1["number"] - 1, l1["number"] + 1,
                                                    l1["timestamp"])
        assert world.rollup.statement(number) == committed.statement() == keccak(encode(
            ["uint256"] * 4, [number, block.before.root, block.after.root, data_hash(block.data)]))
    assert world.rollup.block(3).data_hash == 0  # the empty block
    assert world.rollup.last_committed() == len(BLOCKS)
    assert world.rollup.batch_statement(1) == keccak(encode(
        ["bytes32[]"], [[world.rollup.statement(3), world.rollup.statement(4)]]))


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


def test_data_hash_matches_the_model_for_random_elements(world):
    rng = random.Random(4)
    root = GENESIS.root
    for transfers in (1, 2, MAX_TRANSFERS):
        data = [rng.choice([0, R - 1, rng.randrange(R)]) for _ in range(2 * transfers)]
        new_root = rng.randrange(R)
        assert world.rollup.commit_block(world.sequencer, root, new_root, data).data_hash == data_hash(data)
        root = new_root


@pytest.mark.parametrize(("change", "reason", "args"), [
    pytest.param(lambda b: {**b, "old_root": BLOCKS[1].before.root}, "WrongOldRoot",
                 (BLOCKS[1].before.root, GENESIS.root), id="wrong-old-root"),
    pytest.param(lambda b: {**b, "data": b["data"][:-1]}, "OddDataLength", (3,), id="odd-length"),
    pytest.param(lambda b: {**b, "data": [1] * (2 * MAX_TRANSFERS + 2)}, "TooManyTransfers",
                 (MAX_TRANSFERS + 1, MAX_TRANSFERS), id="too-many-transfers"),
    pytest.param(lambda b: {**b, "data": [1, R]}, "NotAFieldElement", (R,), id="element-not-in-field"),
    pytest.param(lambda b: {**b, "new_root": R}, "NotAFieldElement", (R,), id="root-not-in-field"),
])
def test_refuses_malformed_commits(world, change, reason, args):
    block = BLOCKS[0]
    fields = change({"old_root": block.before.root, "new_root": block.after.root, "data": block.data})
    with pytest.raises(RollupRejected) as excinfo:
        world.rollup.commit_block(world.sequencer, **fields)
    assert rejected(excinfo) == (reason, args)
    assert world.rollup.last_committed() == 0


def test_only_the_sequencer_commits(world):
    outsider = world.chain.dev_accounts[2]
    with pytest.raises(RollupRejected) as excinfo:
        world.rollup.commit_block(outsider, GENESIS.root, BLOCKS[0].after.root, BLOCKS[0].data)
    assert rejected(excinfo) == ("NotSequencer", (outsider.address.lower(),))
    assert str(excinfo.value) == (f"{outsider.address} is not the rollup's sequencer: only the "
                                  "sequencer commits and reverts blocks")


# ---------------------------------------------------------------- finalization


def test_finalizes_a_batch_against_the_stored_public_inputs(committed):
    rollup = committed.rollup
    inputs = [BLOCKS[i].inputs(PROVERS[i]) for i in range(BATCH_SIZE)]
    assert [rollup.public_inputs(n + 1, PROVERS[n]) for n in range(BATCH_SIZE)] == inputs
    committed.expect(inputs)
    receipt = committed.finalize(1, PROVERS[:2])
    (event,) = rollup.contract.events.BatchFinalized().process_receipt(receipt)
    assert dict(event["args"]) == {"firstBlock": 1, "lastBlock": 2, "provers": PROVERS[:2]}
    assert [rollup.block(n).prover for n in (1, 2, 3)] == [*PROVERS[:2], None]
    assert [rollup.status(n) for n in (1, 2, 3)] == [BlockStatus.FINALIZED, BlockStatus.FINALIZED,
                                                     BlockStatus.COMMITTED]
    assert rollup.last_finalized() == 2

    committed.expect([BLOCKS[i].inputs(PROVERS[i]) for i in (2, 3)])
    committed.finalize(3, PROVERS[2:])
    assert rollup.last_finalized() == 4


@pytest.mark.parametrize(("first", "provers", "reason", "args"), [
    pytest.param(3, PROVERS[2:], "BatchOutOfOrder", (3, 1), id="out-of-order"),
    pytest.param(1, PROVERS[:1], "WrongBatchSize", (1, 2, 2), id="too-few-provers"),
    pytest.param(1, PROVERS[:3], "WrongBatchSize", (3, 2, 2), id="too-many-provers"),
    pytest.param(1, PROVERS[1::-1], "InvalidBatchProof", (1,), id="provers-swapped"),
])
def test_refuses_a_wrong_batch(committed, first, provers, reason, args):
    committed.expect([BLOCKS[i].inputs(PROVERS[i]) for i in range(BATCH_SIZE)])
    with pytest.raises(RollupRejected) as excinfo:
        committed.finalize(first, provers)
    assert rejected(excinfo) == (reason, args)
    assert committed.rollup.last_finalized() == 0


def test_refuses_finalizing_twice(committed):
    committed.expect([BLOCKS[i].inputs(PROVERS[i]) for i in range(BATCH_SIZE)])
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

    with pytest.raises(RollupRejected) as excinfo:  # block 3's transition no longer follows
        committed.commit(BLOCKS[2])
    assert rejected(excinfo) == ("WrongOldRoot", (BLOCKS[2].before.root, BLOCKS[0].after.root))
    replacement = committed.commit(OTHER_BLOCK_2)
    assert (replacement.number, replacement.data_hash) == (2, data_hash(OTHER_BLOCK_2.data))
    assert rollup.draw_blocks(2) == pinned  # the draw time too: a late re-commit ages nothing

    committed.expect([BLOCKS[0].inputs(PROVERS[0]), OTHER_BLOCK_2.inputs(PROVERS[1])])
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
    committed.expect([BLOCKS[i].inputs(PROVERS[i]) for i in range(BATCH_SIZE)])
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


# ---------------------------------------------------------------- deployment


@pytest.mark.parametrize(("change", "reason"), [
    pytest.param({"genesis_root": R}, "genesisRoot is not a field element", id="genesis-root"),
    pytest.param({"batch_size": 0}, "batchSize must be positive", id="batch-size"),
    pytest.param({"max_transfers": 0}, "maxTransfers must be positive", id="max-transfers"),
])
def test_deployment_refuses_bad_parameters(world, change, reason):
    parameters = {"genesis_root": GENESIS.root, "batch_size": 2, "max_transfers": 4} | change
    with pytest.raises(RollupRejected, match=f"^the rollup cannot be deployed: {reason}$"):
        world.deploy(**parameters)


def test_the_deployment_file_names_the_rollup(world, tmp_path):
    market = Deployment(world.chain.chain_id, *[world.deployer.address] * 4, 1, MarketParams.devnet())
    path = tmp_path / "deployment.json"
    market.save(path)
    assert "rollup" not in path.read_text()
    assert Deployment.load(path) == market  # files from before the rollup load as they were

    entry = world.rollup.deployment()
    assert entry == RollupDeployment(world.rollup.address, world.stub.address, world.poseidon,
                                     world.rollup.block(0).l1_block)
    with_rollup = replace(market, rollup=entry)
    with_rollup.save(path)
    assert Deployment.load(path) == with_rollup
    assert Rollup.from_deployment(world.chain, with_rollup).address == world.rollup.address
    with pytest.raises(UnknownDeployment, match="the deployment has no rollup"):
        Rollup.from_deployment(world.chain, market)

    gone = replace(with_rollup, token=world.stub.address, registry=world.stub.address,
                   staking=world.stub.address, rollup=replace(entry, poseidon=PROVERS[0]))
    with pytest.raises(UnknownDeployment, match=rf"no contract at {PROVERS[0]} \(rollup's poseidon\)"):
        check_deployment(world.chain, gone)


def test_only_this_releases_rollup_contract_is_taken_for_one(world):
    """`Rollup.is_this_release`: the deployed code is what our creation code makes with the
    parameters the contract reports. A contract behind the same ABI that is not (a proxy) is
    refused by the roller (tests/roller/test_roller_service.py); here, contracts and accounts
    that do not even answer the Rollup's views."""
    assert world.rollup.is_this_release()
    assert not Rollup(world.chain, world.poseidon).is_this_release()
    assert not Rollup(world.chain, world.stub.address).is_this_release()
    assert not Rollup(world.chain, world.deployer.address).is_this_release()
