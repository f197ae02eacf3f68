"""The sequencer against the real Rollup contract on the embedded chain: commits that the
contract accepts (its own dataHash equal to ours), finalization followed, and a restart that
reconciles with L1 instead of committing again.

The Rollup runs over `BatchVerifierStub` (it accepts the public inputs it is told to expect),
so finalizing needs no proof; tests/market_contracts/test_rollup.py covers the contract itself.
"""

from __future__ import annotations

import pytest
import trio

from market_contracts.chain import EmbeddedChain
from market_contracts.rollup import BlockStatus, Rollup
from provernet.world import World
from sequencer.circuit_inputs import SMALL
from sequencer.client import SequencerClient
from sequencer.genesis import genesis_state
from sequencer.service import Sequencer
from sequencer_fakes import GENESIS, Wallet, config
from zkp.aggregate import AggregateProof

BATCH_SIZE = 2
PROVERS = ["0x00000000000000000000000000000000000000a1", "0x00000000000000000000000000000000000000a2"]
#: the stub ignores the proof; any points of the right shape do
ANY_PROOF = AggregateProof(a=((1, 2),) * BATCH_SIZE, b=(((1, 2), (3, 4)),) * BATCH_SIZE, c=(1, 2))


@pytest.fixture(scope="module")
def l1():
    chain = EmbeddedChain()
    sequencer = chain.dev_accounts[1]
    world = World.deploy(chain)
    world.attach_rollup(sequencer.address, genesis_root=genesis_state(SMALL.depth, GENESIS).root,
                        batch_size=BATCH_SIZE)
    return chain, world.stub, world.rollup, sequencer


async def wait_for(condition, timeout: float = 30.0) -> None:
    with trio.fail_after(timeout):
        while not await condition():
            await trio.sleep(0.05)


async def test_blocks_go_to_the_rollup_contract_once(tmp_path, l1):
    chain, stub, rollup, key = l1
    wallet = Wallet(0)
    async with trio.open_nursery() as nursery:
        sequencer = Sequencer(config(tmp_path, block_interval=3600), Rollup(chain, rollup.address),
                              key)
        await nursery.start(sequencer.run)
        async with SequencerClient(sequencer.url) as client:
            for _ in range(3):
                await client.send_transfer(wallet.pay(1, 10))
            assert await sequencer.builder.build_block() == 1
            assert await sequencer.builder.build_block() == 2

            async def committed():
                return (await client.status())["l1"]["lastCommitted"] == 2
            await wait_for(committed)
            for number in (1, 2):
                ours, theirs = await client.block(number), rollup.block(number)
                assert (int(ours["oldRoot"], 16), int(ours["newRoot"], 16),
                        int(ours["dataHash"], 16)) == (theirs.old_root, theirs.new_root,
                                                       theirs.data_hash)
                assert (ours["status"], ours["l1Block"]) == ("committed", theirs.l1_block)

            inputs = [rollup.public_inputs(n, PROVERS[n - 1]) for n in (1, 2)]
            chain.transact(chain.dev_accounts[0], stub.functions.expect(inputs))
            rollup.finalize_batch(chain.dev_accounts[0], 1, PROVERS, ANY_PROOF, gas=2_000_000)

            async def finalized():
                return (await client.block(2))["status"] == "finalized"
            await wait_for(finalized)
        nursery.cancel_scope.cancel()

    # A restart finds both blocks on L1 and commits only the new one.
    async with trio.open_nursery() as nursery:
        sequencer = Sequencer(config(tmp_path, block_interval=3600), Rollup(chain, rollup.address),
                              key)
        await nursery.start(sequencer.run)
        await sequencer.mempool.submit(wallet.pay(1, 10))
        assert await sequencer.builder.build_block() == 3

        async def third_committed():
            return sequencer.committer.last_committed == 3
        await wait_for(third_committed)
        assert (await sequencer.get_block(1))["status"] == "finalized"
        nursery.cancel_scope.cancel()
    assert rollup.last_committed() == 3
    assert [rollup.status(n) for n in (1, 2, 3)] == [BlockStatus.FINALIZED, BlockStatus.FINALIZED,
                                                    BlockStatus.COMMITTED]
