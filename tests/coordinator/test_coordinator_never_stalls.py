"""The coordinator never stalls on itself: an L1 action whose RPC call hangs (here a settlement)
holds up the L1 actions after it, in order, and nothing else: a block committed meanwhile is
still followed, drawn and assigned. The hang is a thread blocked on an event, released by the
test, so the property is about order and progress, not timing."""

from __future__ import annotations

import threading

import trio

from coordinator.commands import Assign, Settle
from coordinator.config import CoordinatorConfig
from coordinator.service import CoordinatorService
from coordinator.views import ProvingStatus
from market_contracts.rules import MarketParams
from provernet.world import ONE_TRANSFER

PARAMS = MarketParams.devnet()


async def test_a_hung_settlement_does_not_hold_up_the_next_assignment(tmp_path, small_circuit,
                                                                      coordinator_world):
    world = coordinator_world
    roller = world.chain.dev_accounts[5]
    world.built.stake_rollers([roller], [2 * PARAMS.min_stake], eth=0,
                              tokens=2 * PARAMS.min_stake)
    world.built.snapshot_roster()  # the roster block 1 is drawn from: the one roller

    # The sequencer is unreachable: tasks are drawn and dispatched but cannot be built, which
    # is all this test needs (the session side has tests of its own).
    service = CoordinatorService(
        CoordinatorConfig(datadir=tmp_path / "coordinator", sequencer_url="http://127.0.0.1:9",
                          poll_interval=0.05, call_timeout=30),
        world.chain, world.deployment, world.coordinator, small_circuit)
    entered, release = threading.Event(), threading.Event()
    settled: list[int] = []

    def hung_settle(batch, outcomes) -> None:
        entered.set()
        release.wait(60)
        settled.append(batch)

    service.l1.settle = hung_settle
    try:
        async with trio.open_nursery() as nursery:
            with trio.fail_after(60):
                await nursery.start(service.run)
            hung = Settle(batch=0, outcomes=(), key=(10**9, 0))
            await service._dispatch(hung)
            with trio.fail_after(10):
                await trio.to_thread.run_sync(entered.wait)

            # Block 1 committed while the settlement hangs: followed, drawn, assigned.
            await trio.to_thread.run_sync(world.rollup.commit_block, world.sequencer, 2, ONE_TRANSFER)
            # The core decides at once; the task is recorded once the group commit stored the
            # decision, a moment later: wait for both.
            with trio.fail_after(30):
                while (service.core.block_status(1) is ProvingStatus.UNKNOWN
                       or not any(isinstance(s.command, Assign) for s in service.tasks.values())):
                    await trio.to_thread.run_sync(world.chain.mine)
                    await trio.sleep(0.05)
            assert service.core.block_status(1) is ProvingStatus.ASSIGNED
            assert {(s.command.index, s.roller) for s in service.tasks.values()
                    if isinstance(s.command, Assign)} == {(1, roller.address)}
            # ... and the settlement is still under way, in the worker, not given up.
            assert service._l1_current == {Settle: hung} and settled == []

            release.set()
            with trio.fail_after(10):
                while service._l1_pending():
                    await trio.sleep(0.02)
            assert settled == [0]
            nursery.cancel_scope.cancel()
    finally:
        release.set()
