"""The rollup end to end: L2 blocks of the sequencer's model (transfers, an opening, a
withdrawal) committed on L1 as `block_data` calldata, each proven with the block circuit by a
different prover (and checked by snarkjs), their proofs aggregated K = 2 at a time and finalized
by the Rollup contract against the roots and the SHA-256 data commitments it stored.

The circuit is the `small` profile (2 slots, depth 8, 1 entry) that the devnet runs, built and
set up by `zkp.builds` as the devnet does. The embedded chain's pairing precompile is pure
Python, so it finalizes twice; the refusals run on anvil.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_hash.auto import keccak
from tampering import plus_generator_g1

from market_contracts.anvil import run_anvil
from market_contracts.chain import Chain, EmbeddedChain, RpcChain
from market_contracts.errors import RollupRejected
from market_contracts.rollup import BlockStatus, Rollup, deploy_rollup
from sequencer.block_data import block_commitment, exit_root
from sequencer.circuit_inputs import SMALL, block_inputs
from sequencer.genesis import dev_private_key, devnet_genesis
from sequencer.blocks import L2Block, dev_transfer as transfer, l2_chain
from sequencer.transactions import DEVNET_CHAIN_ID, Kind, Transfer, sign_transfer
from zkp.aggregate import AggregateProof, aggregate
from zkp.groth16 import Prover
from zkp.proof import Proof
from zkp.builds import CircuitBuild
from zkp.setup import SetupFiles
from zkp.snarkjs_json import write_proof, write_public_signals
from zkp.witness import WitnessCalculator
from zkp.zkey import read_zkey

GENESIS = devnet_genesis(SMALL.depth, 6, 1000)
K = 2
#: one prover per block, and one that proves nothing
PROVERS = [Account.from_key(keccak(b"rollup prover %d" % i)).address for i in range(5)]
STRANGER = PROVERS[4]
#: The embedded chain estimates gas by a binary search that reruns the pairing check at every
#: step; this limit is above a K = 2 finalization's use.
EMBEDDED_FINALIZE_GAS = 1_500_000


#: the L1 address block 3's withdrawal pays
RECIPIENT = int.from_bytes(keccak(b"rollup withdrawal recipient")[:20], "big")
#: blocks 1-4 (block 3 a withdrawal), and another block 2 to replace the first after a revert
BLOCKS = l2_chain(GENESIS, [
    [transfer(0, 1, 300, 0), transfer(1, 7, 40, 0)],  # opens account 7
    [transfer(2, 3, 5, 0)],
    [sign_transfer(Transfer(5, 0, RECIPIENT, 20, 0, kind=Kind.WITHDRAW), dev_private_key(5),
                   DEVNET_CHAIN_ID)],
    [transfer(7, 0, 10, 0), transfer(3, 3, 1, 0)],  # from the opened account; to itself
])
OTHER_BLOCK_2 = l2_chain(BLOCKS[0].after, [[transfer(4, 5, 8, 0)]])[0]


@dataclass(frozen=True)
class BlockProof:
    proof: Proof
    public: list[int]


@pytest.fixture(scope="module")
def key(small_circuit: CircuitBuild) -> SetupFiles:
    return small_circuit.setup


@pytest.fixture(scope="module")
def proofs(small_circuit, key, snarkjs, tmp_path_factory) -> dict[tuple[int, str], BlockProof]:
    """Proofs by prover: blocks 1-4 by PROVERS[0..3], the other block 2 (numbered 22) by
    PROVERS[1]; snarkjs accepts each."""
    prover = Prover(read_zkey(key.zkey), "cpu")
    calculator = WitnessCalculator(small_circuit.wasm)
    jobs = [(n, block, PROVERS[n - 1]) for n, block in enumerate(BLOCKS, start=1)]
    jobs.append((22, OTHER_BLOCK_2, PROVERS[1]))
    proven = {}
    files = tmp_path_factory.mktemp("block-proofs")
    for number, block, address in jobs:
        inputs = block_inputs(SMALL, block.before, block.ops, address)
        proof, public = prover.prove(calculator.calculate(inputs))
        assert public == block.inputs(SMALL, address)
        write_proof(files / "proof.json", proof)
        write_public_signals(files / "public.json", public)
        assert "OK" in snarkjs("groth16", "verify", key.verification_key, files / "public.json",
                               files / "proof.json")
        proven[number, address] = BlockProof(proof, public)
    return proven


def batch(proofs, *keys: tuple[int, str]) -> AggregateProof:
    chosen = [proofs[k] for k in keys]
    return aggregate([p.proof for p in chosen], [p.public for p in chosen])


@dataclass
class Deployed:
    chain: Chain
    rollup: Rollup
    sequencer: LocalAccount
    coordinator: LocalAccount

    def commit(self, block: L2Block) -> None:
        self.rollup.commit_block(self.sequencer, block.after.root, block.data)

    def finalize(self, first: int, provers: list[str], agg: AggregateProof):
        gas = EMBEDDED_FINALIZE_GAS if isinstance(self.chain, EmbeddedChain) else None
        return self.rollup.finalize_batch(self.coordinator, first, provers, agg, gas=gas)


def deploy(chain: Chain, key: SetupFiles) -> Deployed:
    deployer, sequencer, coordinator = chain.dev_accounts[:3]
    rollup = deploy_rollup(chain, deployer, sequencer=sequencer.address, vk=key.vk,
                           genesis_root=GENESIS.root, batch_size=K,
                           max_transfers=SMALL.block_size, entries=SMALL.entries,
                           l2_chain_id=SMALL.chain_id, depth=SMALL.depth)
    deployed = Deployed(chain, rollup, sequencer, coordinator)
    for block in BLOCKS:
        deployed.commit(block)
    return deployed


def test_committed_blocks_are_finalized_by_their_proofs(chain, key, proofs):
    deployed = deploy(chain, key)
    rollup = deployed.rollup
    for n, block in enumerate(BLOCKS, start=1):
        assert rollup.block(n).data_hash == block_commitment(block.records, SMALL.block_size,
                                                             SMALL.entries)
        assert rollup.public_inputs(n, PROVERS[n - 1]) == proofs[n, PROVERS[n - 1]].public
    assert [rollup.status(n) for n in (1, 2, 3, 4)] == [BlockStatus.COMMITTED] * 4
    assert rollup.exit_root(3) == exit_root(3, BLOCKS[2].records) != bytes(32)

    deployed.finalize(1, PROVERS[:2], batch(proofs, (1, PROVERS[0]), (2, PROVERS[1])))
    assert [rollup.status(n) for n in (1, 2, 3, 4)] == [BlockStatus.FINALIZED] * 2 + [BlockStatus.COMMITTED] * 2
    deployed.finalize(3, PROVERS[2:4], batch(proofs, (3, PROVERS[2]), (4, PROVERS[3])))
    assert [rollup.status(n) for n in (1, 2, 3, 4)] == [BlockStatus.FINALIZED] * 4
    assert [rollup.block(n).prover for n in (1, 2, 3, 4)] == PROVERS[:4]
    assert rollup.last_finalized() == 4


# ---------------------------------------------------------------- refusals, on anvil


@pytest.fixture(scope="module")
def anvil_deployed(key) -> Iterator[Deployed]:
    with run_anvil() as node:
        yield deploy(RpcChain(node.url), key)


@pytest.fixture
def on_anvil(anvil_deployed) -> Iterator[Deployed]:
    snapshot = anvil_deployed.chain.snapshot()
    yield anvil_deployed
    anvil_deployed.chain.revert(snapshot)


def refusal(deployed: Deployed, first: int, provers: list[str], agg: AggregateProof) -> tuple:
    with pytest.raises(RollupRejected) as excinfo:
        deployed.finalize(first, provers, agg)
    return excinfo.value.reason, excinfo.value.error_args


def first_batch(proofs) -> AggregateProof:
    return batch(proofs, (1, PROVERS[0]), (2, PROVERS[1]))


@pytest.mark.anvil
def test_refuses_finalizing_out_of_order(on_anvil, proofs):
    agg = batch(proofs, (3, PROVERS[2]), (4, PROVERS[3]))
    assert refusal(on_anvil, 3, PROVERS[2:4], agg) == ("BatchOutOfOrder", (3, 1))


@pytest.mark.anvil
def test_refuses_finalizing_twice(on_anvil, proofs):
    on_anvil.finalize(1, PROVERS[:2], first_batch(proofs))
    assert refusal(on_anvil, 1, PROVERS[:2], first_batch(proofs)) == ("BatchOutOfOrder", (1, 3))


@pytest.mark.anvil
@pytest.mark.parametrize("provers", [PROVERS[:2], PROVERS[2:4]], ids=["their-provers", "next-provers"])
def test_refuses_proofs_of_other_blocks(on_anvil, proofs, provers):
    on_anvil.finalize(1, PROVERS[:2], first_batch(proofs))
    assert refusal(on_anvil, 3, provers, first_batch(proofs)) == ("InvalidBatchProof", (3,))
    assert on_anvil.rollup.status(3) is BlockStatus.COMMITTED


@pytest.mark.anvil
@pytest.mark.parametrize("provers", [
    pytest.param(PROVERS[1::-1], id="swapped"),
    pytest.param([PROVERS[0], STRANGER], id="stranger"),
])
def test_refuses_a_wrong_prover_list(on_anvil, proofs, provers):
    assert refusal(on_anvil, 1, provers, first_batch(proofs)) == ("InvalidBatchProof", (1,))


@pytest.mark.anvil
def test_refuses_an_altered_aggregate(on_anvil, proofs):
    agg = first_batch(proofs)
    altered = replace(agg, c=plus_generator_g1(agg.c))
    assert refusal(on_anvil, 1, PROVERS[:2], altered) == ("InvalidBatchProof", (1,))


@pytest.mark.anvil
@pytest.mark.parametrize(("provers", "blocks", "args"), [
    pytest.param(PROVERS[:1], [1], (1, 1, 2), id="one"),
    pytest.param(PROVERS[:3], [1, 2, 3], (3, 3, 2), id="three"),
    pytest.param(PROVERS[:2], [1], (2, 1, 2), id="fewer-proofs-than-provers"),
])
def test_refuses_a_batch_of_the_wrong_size(on_anvil, proofs, provers, blocks, args):
    agg = batch(proofs, *[(n, PROVERS[n - 1]) for n in blocks])
    assert refusal(on_anvil, 1, provers, agg) == ("WrongBatchSize", args)


@pytest.mark.anvil
def test_a_reverted_block_needs_a_proof_of_its_replacement(on_anvil, proofs):
    rollup = on_anvil.rollup
    rollup.revert_blocks(on_anvil.sequencer, 2)
    on_anvil.commit(OTHER_BLOCK_2)
    assert refusal(on_anvil, 1, PROVERS[:2], first_batch(proofs)) == ("InvalidBatchProof", (1,))
    on_anvil.finalize(1, PROVERS[:2], batch(proofs, (1, PROVERS[0]), (22, PROVERS[1])))
    assert rollup.block(2).status is BlockStatus.FINALIZED
    assert rollup.block(2).data_hash == block_commitment(OTHER_BLOCK_2.records, SMALL.block_size,
                                                         SMALL.entries)
