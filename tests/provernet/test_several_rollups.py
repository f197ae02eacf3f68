"""Several rollups, one staking pool, end to end, as `provernet devnet --rollups 2` runs them:
two Rollups on one L1 and one RollerStaking, each with its own verifiers, sequencer, coordinator
and funded reward pool, and one set of honest rollers (the small circuit, proven on the CPU)
serving both.

Checked on the chain: each rollup finalizes and settles its first batch; a roller proved for
both; every settlement of a rollup came from that rollup's coordinator and paid from that
rollup's pool only; and the coordinator of one rollup cannot settle the other's batch: the same
`settle` call, with the same records and at the same L1 state, is accepted from the coordinator
the batch belongs to and refused from the other, whose own batch of that number is what the
contract judges (tests/market_contracts/test_attacks.py checks the pools contract by contract).
"""

from __future__ import annotations

import trio
from rich.console import Console

from market_contracts.errors import TransactionFailed
from market_contracts.rules import MarketParams, Outcome
from provernet.commands.devnet import _live_view
from provernet.devnet import Devnet, DevnetConfig, DevnetRollup
from provernet.world import REWARD_POOL

# Short deadlines, as the other devnet tests use, a little shorter still: settling waits for
# every late window to close.
PARAMS = MarketParams.devnet().replace(k=2, t=15, late_window=30, t_agg=15)
#: blocks of each rollup that must finalize and settle (one batch), and the run's limit
BLOCKS = 2
RUN_LIMIT_S = 600


def _settled_batches(devnet: Devnet, lane: DevnetRollup) -> list:
    return devnet.market.staking.events.BatchSettled().get_logs(
        from_block=devnet.first_block, argument_filters={"rollup": lane.rollup.address})


def _rewards(devnet: Devnet, lane: DevnetRollup) -> list:
    return devnet.market.staking.events.RewardCredited().get_logs(
        from_block=devnet.first_block, argument_filters={"rollup": lane.rollup.address})


def _finalized_at(lane: DevnetRollup, first_block: int) -> int:
    """The L1 block that finalized the rollup's batch 0."""
    (log,) = lane.rollup.contract.events.BatchFinalized().get_logs(
        from_block=first_block, argument_filters={"firstBlock": 1})
    return log["blockNumber"]


def _settle_refusal(devnet: Devnet, lane: DevnetRollup, batch: dict, block: int) -> str | None:
    """What RollerStaking answers `lane`'s coordinator calling `settle` with `batch`'s arguments
    in the state after L1 block `block` (eth_call: nothing is sent); None when it would settle."""
    fn = devnet.market.staking.functions.settle(batch["batch"], batch["records"], batch["draws"])
    try:
        devnet.chain.call(fn, block, sender=lane.coordinator_key.address)
    except TransactionFailed as exc:
        return exc.reason
    return None


async def test_two_rollups_share_the_rollers_and_each_pays_from_its_own_pool(tmp_path):
    config = DevnetConfig(datadir=tmp_path, params=PARAMS, rollers=2, rollups=2, l1_port=None,
                          block_interval=5.0, load=0.25, backend="cpu")
    devnet = Devnet(config)
    with trio.fail_after(RUN_LIMIT_S):
        async with trio.open_nursery() as nursery:
            await nursery.start(devnet.run)
            while not await trio.to_thread.run_sync(
                    lambda: all(lane.settled(BLOCKS) for lane in devnet.rollups)):
                await trio.sleep(1)
            # Each roller's own record of what it took, before its journal closes; the live
            # view as `provernet devnet` draws it.
            journaled = {r.account.address: r.service.journal.rollups() for r in devnet.rollers}
            view = Console(width=200, record=True)
            view.print(await trio.to_thread.run_sync(_live_view, devnet))
            nursery.cancel_scope.cancel()

    market, lanes = devnet.market, devnet.rollups
    addresses = {lane.rollup.address for lane in lanes}
    assert len(addresses) == 2 and len({lane.coordinator_key.address for lane in lanes}) == 2
    assert (tmp_path / "deployment.json").is_file() and (tmp_path / "deployment-2.json").is_file()
    rows = [line for line in view.export_text().splitlines()
            if any(address[:10] in line for address in addresses)]
    assert len(rows) == 4  # one row per rollup in the live view's blocks and Bridge tables

    # A roller proved (delivered a valid proof that settled on time or late) for both rollups,
    # and its journal holds tasks of both.
    delivered = [{r.report.roller for r in market.settled_records(lane.rollup.address,
                                                                   devnet.first_block)
                  if r.report.outcome in (Outcome.ON_TIME, Outcome.LATE)} for lane in lanes]
    both = delivered[0] & delivered[1]
    assert both, delivered
    assert all(journaled[roller] == addresses for roller in both)

    for lane in lanes:
        # Every settlement of the rollup came from its own coordinator ...
        settled = _settled_batches(devnet, lane)
        assert {log["args"]["batch"] for log in settled} >= {0}
        assert {log["args"]["coordinator"] for log in settled} == {lane.coordinator_key.address}
        # ... and paid from its own pool, in those settlements only.
        rewards = _rewards(devnet, lane)
        paid = sum(log["args"]["amount"] for log in rewards)
        assert paid > 0
        assert {log["transactionHash"] for log in rewards} <= {
            log["transactionHash"] for log in settled}
        assert market.reward_pool(lane.rollup.address) == REWARD_POOL - paid

    # The batch 0 finalized first, X's, settled later by X's coordinator: its arguments, replayed
    # (eth_call) in the L1 state right after that finalization, settle X's batch from X's
    # coordinator and are refused from Y's, whose own batch 0 is not finalized there yet.
    first, second = sorted(lanes, key=lambda lane: _finalized_at(lane, devnet.first_block))
    at = _finalized_at(first, devnet.first_block)
    assert at < _finalized_at(second, devnet.first_block)
    (settlement,) = [log for log in _settled_batches(devnet, first) if log["args"]["batch"] == 0]
    tx = devnet.chain.w3.eth.get_transaction(settlement["transactionHash"])
    _, arguments = market.staking.decode_function_input(tx["input"])
    assert _settle_refusal(devnet, first, arguments, at) is None
    assert _settle_refusal(devnet, second, arguments, at) == "BatchNotFinalized"
