"""Liveness after faults, on the sequencer's side (docs/reliability.md, "Liveness after faults"):
blocks reverted on L1 (`Rollup.revertBlocks`, which only the sequencer's key may send: the
devnet, or an operator by hand) are seen within one L1 poll, with no new transfer to wake the
committer, and committed again, the same blocks, in order.

The Rollup runs over `BatchVerifierStub` on the embedded chain, as in test_sequencer_l1.py."""

from __future__ import annotations

import trio

from market_contracts.bridge import Bridge
from market_contracts.chain import EmbeddedChain
from market_contracts.rollup import Rollup
from sequencer.client import SequencerClient
from sequencer.relayer import BridgeMessages
from sequencer.service import Sequencer
from sequencer_fakes import Wallet, config
from test_sequencer_l1 import deploy_l1

#: the committer's L1 poll; the revert must be noticed, and the blocks committed again, within
#: one poll plus the time the commits take on the embedded chain
POLL = 1.0
COMMITS_TAKE = 4.0


def deployed() -> tuple[EmbeddedChain, Rollup, object, Bridge]:
    chain = EmbeddedChain()
    _, rollup, bridge = deploy_l1(chain)
    return chain, rollup, chain.dev_accounts[1], bridge


async def test_blocks_reverted_on_l1_are_seen_within_a_poll_and_committed_again(tmp_path):
    chain, rollup, key, bridge = await trio.to_thread.run_sync(deployed)
    wallet = Wallet(0)
    async with trio.open_nursery() as nursery:
        sequencer = Sequencer(config(tmp_path, block_interval=3600, l1_poll_interval=POLL),
                              rollup, key, BridgeMessages(bridge))
        await nursery.start(sequencer.run)
        async with SequencerClient(sequencer.url) as client:
            for _ in range(2):
                await client.send_transfer(wallet.pay(1, 10))
                await sequencer.builder.build_block()
            with trio.fail_after(30):
                while (await client.status())["l1"]["lastCommitted"] != 2:
                    await trio.sleep(0.05)
            before = [await client.block(n) for n in (1, 2)]
            assert [b["status"] for b in before] == ["committed", "committed"]

            # A poll has just passed: the revert lands in the middle of the next wait.
            await trio.to_thread.run_sync(rollup.revert_blocks, key, 1)
            assert rollup.last_committed() == 0
            reverted_at = trio.current_time()
            with trio.fail_after(POLL + COMMITS_TAKE):
                while not (rollup.last_committed() == 2
                           and (await client.status())["l1"]["lastCommitted"] == 2):
                    await trio.sleep(0.05)
            took = trio.current_time() - reverted_at
            after = [await client.block(n) for n in (1, 2)]
        nursery.cancel_scope.cancel()

    for old, new, n in zip(before, after, (1, 2)):
        # The same block again (roots and data), committed in a later L1 block.
        assert (new["oldRoot"], new["newRoot"], new["dataHash"]) == (
            old["oldRoot"], old["newRoot"], old["dataHash"])
        assert new["status"] == "committed" and new["l1Block"] > old["l1Block"]
        on_l1 = rollup.block(n)
        assert (on_l1.new_root, on_l1.l1_block) == (int(new["newRoot"], 16), new["l1Block"])
    assert sequencer.metrics.blocks_reverted._value.get() == 2
    assert took < POLL + COMMITS_TAKE
    assert len(sequencer.mempool) == 0  # no new transfer woke the committer
