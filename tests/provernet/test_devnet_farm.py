"""`provernet devnet --farm-workers 2`: the devnet's roller proves on a farm of two worker
processes, on a PostgreSQL server the devnet starts; its blocks are proven on time, and the
proofs are the workers'."""

from __future__ import annotations

import pytest
import trio

from market_contracts.rules import MarketParams
from provernet.devnet import Devnet, DevnetConfig
from roller.farm.queue import FarmQueue

PARAMS = MarketParams.devnet().replace(k=2, t=20, late_window=40, t_agg=20)
RUN_LIMIT_S = 600
PROVEN = 2


@pytest.mark.postgres
async def test_the_devnet_roller_proves_through_a_farm(tmp_path):
    devnet = Devnet(DevnetConfig(datadir=tmp_path, params=PARAMS, rollers=1, l1_port=None,
                                 block_interval=5.0, load=0.25, backend="cpu", farm_workers=2))
    with trio.fail_after(RUN_LIMIT_S):
        async with trio.open_nursery() as nursery:
            await nursery.start(devnet.run)
            (roller,) = devnet.rollers
            assert (await roller.service.status()).backend.startswith("farm postgresql://")
            while devnet.coordinator.core.roller_counts(roller.account.address).on_time < PROVEN:
                await trio.sleep(1)
            queue = await trio.to_thread.run_sync(FarmQueue.open, devnet.farm_url, "test")
            try:
                workers = await trio.to_thread.run_sync(queue.workers)
            finally:
                queue.close()
            nursery.cancel_scope.cancel()
    assert sorted(w.name for w in workers) == ["farm-worker-0", "farm-worker-1"]
    assert all(w.live and w.quarantined is None for w in workers)
    # Calibration's proof and the blocks' (a batch is aggregated by the roller itself).
    assert sum(w.jobs for w in workers) >= PROVEN + 1
