"""A real coordinator service, stopped and started again on the same data directory and database,
resumes where it stopped: on SQLite (the default) and on a real PostgreSQL server (`--db`)."""

from __future__ import annotations

import trio
from prometheus_client import generate_latest

from coordinator.config import CoordinatorConfig
from coordinator.service import CoordinatorService
from coordinator.store import CoordinatorStore
from provernet.world import ONE_TRANSFER
from scrape import samples


async def _committed(world, service: CoordinatorService, block: int) -> None:
    """Block `block` on L1, L1 moved past its randomness block, the core told of it, and the
    follower's stored cursor past the commit: the coordinator is done with it."""
    commit = await trio.to_thread.run_sync(world.rollup.commit_block, world.sequencer, block + 1,
                                           ONE_TRANSFER)
    with trio.fail_after(30):
        while (service.core.last_committed < block
               or int(service.store.meta("l1_cursor") or 0) <= commit.l1_block):
            await trio.to_thread.run_sync(world.chain.mine)
            await trio.sleep(0.1)


async def test_a_restarted_coordinator_resumes_from_its_database(tmp_path, db, small_circuit,
                                                                 coordinator_world):
    world = coordinator_world
    config = CoordinatorConfig(datadir=tmp_path / "coordinator",
                               sequencer_url="http://127.0.0.1:9", poll_interval=0.1, db=db)

    def coordinator() -> CoordinatorService:
        return CoordinatorService(config, world.chain, world.deployment, world.coordinator,
                                  small_circuit)

    first = coordinator()
    async with trio.open_nursery() as nursery:
        with trio.fail_after(60):
            await nursery.start(first.run)
        await _committed(world, first, 1)
        await _committed(world, first, 2)
        nursery.cancel_scope.cancel()
    store = CoordinatorStore.open(config.datadir, db)
    stopped = (first.core.snapshot(), store.meta("l1_cursor"))
    store.close()

    second = coordinator()
    async with trio.open_nursery() as nursery:
        with trio.fail_after(60):
            await nursery.start(second.run)
        # Rebuilt from the stored events and cursor (L1 has nothing new for it meanwhile).
        assert (second.core.snapshot(), second.store.meta("l1_cursor")) == stopped
        await _committed(world, second, 3)
        nursery.cancel_scope.cancel()
    # It followed L1 from its stored cursor: block 3 only, none of the commits it had handled.
    events = {labels: value for (name, labels), value in
              samples(generate_latest(second.metrics.registry).decode()).items()
              if name == "provernet_coordinator_core_events_total"}
    assert events == {(("event", "BlockCommitted"), ("result", "handled")): 1}
