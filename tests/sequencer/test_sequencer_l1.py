"""The sequencer against the real Rollup and Bridge contracts on the embedded chain: commits
that the contract accepts (its own dataHash equal to ours, its queue consumed in order),
finalization followed, a restart that reconciles with L1 instead of committing again, and a
deposit made on the Bridge that reaches L2 while a withdrawal leaves it and is claimed on L1
with the exit the sequencer reports.

The Rollup runs over `BatchVerifierStub` (it accepts the public inputs it is told to expect),
so finalizing needs no proof; tests/market_contracts/test_rollup.py covers the contract itself.
"""

from __future__ import annotations

import pytest
import trio
from eth_utils import to_checksum_address

from market_contracts.bridge import Bridge
from market_contracts.chain import EmbeddedChain
from market_contracts.rollup import BlockStatus, Rollup
from provernet.world import World
from sequencer.circuit_inputs import SMALL
from sequencer.client import SequencerClient
from sequencer.genesis import genesis_state
from sequencer.relayer import BridgeMessages
from sequencer.service import Sequencer
from sequencer_fakes import GENESIS, GENESIS_BALANCE, Wallet, config
from zkp.aggregate import AggregateProof

BATCH_SIZE = 2
PROVERS = ["0x00000000000000000000000000000000000000a1", "0x00000000000000000000000000000000000000a2"]
#: the stub ignores the proof; any points of the right shape do
ANY_PROOF = AggregateProof(a=((1, 2),) * BATCH_SIZE, b=(((1, 2), (3, 4)),) * BATCH_SIZE, c=(1, 2))


def deploy_l1(chain: EmbeddedChain) -> tuple[World, Rollup, Bridge]:
    """The market, a Rollup of the small circuit over the stub and GENESIS, and its Bridge,
    whose token backs the genesis balances."""
    world = World.deploy(chain)
    world.attach_rollup(chain.dev_accounts[1].address,
                        genesis_root=genesis_state(SMALL.depth, GENESIS).root,
                        batch_size=BATCH_SIZE)
    bridge = Bridge(chain, world.rollup.bridge())
    chain.transact(world.owner, bridge.token.functions.mint(bridge.address,
                                                            GENESIS_BALANCE * len(GENESIS)))
    return world, world.rollup, bridge


@pytest.fixture(scope="module")
def l1():
    chain = EmbeddedChain()
    world, rollup, bridge = deploy_l1(chain)
    return chain, world.stub, rollup, chain.dev_accounts[1], bridge


async def wait_for(condition, timeout: float = 30.0) -> None:
    with trio.fail_after(timeout):
        while not await condition():
            await trio.sleep(0.05)


async def test_blocks_go_to_the_rollup_contract_once(tmp_path, l1):
    chain, stub, rollup, key, bridge = l1
    wallet = Wallet(0)
    async with trio.open_nursery() as nursery:
        sequencer = Sequencer(config(tmp_path, block_interval=3600), Rollup(chain, rollup.address),
                              key, BridgeMessages(bridge))
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
                              key, BridgeMessages(bridge))
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


RECIPIENT = to_checksum_address("0x00000000000000000000000000000000000000e1")


async def test_a_deposit_reaches_l2_and_a_withdrawal_is_claimed_on_l1(tmp_path):
    chain = EmbeddedChain()
    world, rollup, bridge = await trio.to_thread.run_sync(deploy_l1, chain)
    key, depositor, anyone = chain.dev_accounts[1], chain.dev_accounts[2], chain.dev_accounts[3]
    await trio.to_thread.run_sync(chain.transact, world.owner,
                                  bridge.token.functions.mint(depositor.address, 1_000))
    wallet = Wallet(0)
    async with trio.open_nursery() as nursery:
        sequencer = Sequencer(config(tmp_path, block_interval=0.5, relayer_poll_interval=0.05),
                              Rollup(chain, rollup.address), key, BridgeMessages(bridge))
        await nursery.start(sequencer.run)
        async with SequencerClient(sequencer.url) as client:
            withdrawal = await client.send_transfer(wallet.withdraw(300, int(RECIPIENT, 16)))
            deposited = await trio.to_thread.run_sync(bridge.deposit, depositor, 0xA11CE, 700)

            async def committed(number):
                return (await client.status())["l1"]["lastCommitted"] == number
            # the relayer wakes the builder for block 1, the deposit; the withdrawal waits for
            # block 2 (each takes the small circuit's one entry)
            await wait_for(lambda: committed(2))
            message = await client.l1_message(deposited.position)
            assert (message["state"], message["block"], message["index"]) == ("included", 1, 4)
            assert (await client.account(4))["balance"] == "700"
            assert rollup.queue_next() == 1
            for number in (1, 2):
                ours, theirs = await client.block(number), rollup.block(number)
                assert (int(ours["newRoot"], 16), int(ours["dataHash"], 16)) == (
                    theirs.new_root, theirs.data_hash)

            inputs = [rollup.public_inputs(n, PROVERS[n - 1]) for n in (1, 2)]
            chain.transact(chain.dev_accounts[0], world.stub.functions.expect(inputs))
            rollup.finalize_batch(chain.dev_accounts[0], 1, PROVERS, ANY_PROOF, gas=2_000_000)

            async def claimable():
                return (await client.transfer(withdrawal))["claimable"]
            await wait_for(claimable)
            exit_ = (await client.transfer(withdrawal))["exit"]
        nursery.cancel_scope.cancel()
    assert exit_["block"] == 2 and int(exit_["recipient"], 16) == int(RECIPIENT, 16)
    before = chain.call(bridge.token.functions.balanceOf(RECIPIENT))
    bridge.claim_withdrawal(anyone, exit_["block"], exit_["position"], exit_["recipient"],
                            int(exit_["amount"]), [bytes.fromhex(p[2:]) for p in exit_["proof"]])
    assert chain.call(bridge.token.functions.balanceOf(RECIPIENT)) == before + 300
