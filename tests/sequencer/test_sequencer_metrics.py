"""A real sequencer's /metrics and /health over HTTP on loopback: transfers in through its API,
blocks built and committed to L1 (the in-memory Rollup of sequencer_fakes), and L1 failing."""

from __future__ import annotations

import json

import pytest
import trio
from eth_account import Account

from sequencer.circuit_inputs import SMALL
from sequencer.client import SequencerClient
from sequencer.errors import RequestRefused
from sequencer.genesis import genesis_state
from sequencer.service import Sequencer
from sequencer_fakes import GENESIS, FakeRollup, Wallet, config
from scrape import get, samples

GENESIS_ROOT = genesis_state(SMALL.depth, GENESIS).root
P = "provernet_sequencer"


async def start(nursery, datadir) -> tuple[Sequencer, FakeRollup]:
    """A sequencer serving metrics on a free port, building blocks only when asked."""
    account = Account.create()
    rollup = FakeRollup(GENESIS_ROOT, account.address)
    sequencer = Sequencer(config(datadir, block_interval=3600, metrics_listen="127.0.0.1:0"),
                          rollup, account, rollup.bridge)
    await nursery.start(sequencer.run)
    return sequencer, rollup


async def scrape(sequencer: Sequencer) -> dict:
    status, headers, body = await get(sequencer.metrics_port, "/metrics")
    assert status == 200 and headers["content-type"].startswith("text/plain; version=")
    return samples(body.decode())


async def health(sequencer: Sequencer, ok: bool) -> dict:
    """The health once it says `ok` (the committer works in the background)."""
    with trio.fail_after(10):
        while True:
            status, _, body = await get(sequencer.metrics_port, "/health")
            if status == (200 if ok else 503):
                return json.loads(body)
            await trio.sleep(0.05)


async def test_transfers_blocks_and_commits_are_counted(tmp_path, nursery):
    sequencer, rollup = await start(nursery, tmp_path)
    assert await health(sequencer, ok=True) == {
        "ok": True, "last_block": 0, "pending": 0, "l1_reconciled": True, "last_committed": 0,
        "last_finalized": 0, "problems": []}
    wallet = Wallet(0)
    async with SequencerClient(sequencer.url, timeout=10) as client:
        for to in (1, 2):
            await client.send_transfer(wallet.pay(to, 10))
        with pytest.raises(RequestRefused) as refused:
            await client.send_transfer(wallet.pay(3, 10, nonce=0))  # used already
        assert refused.value.name == "WrongNonce"
        assert (await client.status())["pending"] == 2

        seen = await scrape(sequencer)
        assert {key: seen.get(key) for key in [
            (f"{P}_transactions_accepted_total", ()),
            (f"{P}_transactions_rejected_total", (("reason", "WrongNonce"),)),
            (f"{P}_mempool_transactions", ()),
            (f"{P}_rpc_requests_total", (("method", "l2_sendTransfer"), ("status", "ok"))),
            (f"{P}_rpc_requests_total", (("method", "l2_sendTransfer"), ("status", "error"))),
            (f"{P}_rpc_requests_total", (("method", "l2_status"), ("status", "ok"))),
            (f"{P}_rpc_request_seconds_count", (("method", "l2_sendTransfer"),)),
            (f"{P}_head_block", ()),
        ]} == {
            (f"{P}_transactions_accepted_total", ()): 2,
            (f"{P}_transactions_rejected_total", (("reason", "WrongNonce"),)): 1,
            (f"{P}_mempool_transactions", ()): 2,
            (f"{P}_rpc_requests_total", (("method", "l2_sendTransfer"), ("status", "ok"))): 2,
            (f"{P}_rpc_requests_total", (("method", "l2_sendTransfer"), ("status", "error"))): 1,
            (f"{P}_rpc_requests_total", (("method", "l2_status"), ("status", "ok"))): 1,
            (f"{P}_rpc_request_seconds_count", (("method", "l2_sendTransfer"),)): 3,
            (f"{P}_head_block", ()): 0,
        }

    # Block 1's commit lands on L1 but its receipt is lost: counted as failed, then found on
    # L1 and adopted. Block 2 goes out normally.
    rollup.lose_receipts = True
    assert await sequencer.builder.build_block() == 1
    with trio.fail_after(10):
        while sequencer.committer.last_committed != 1:
            await trio.sleep(0.02)
    rollup.lose_receipts = False
    async with SequencerClient(sequencer.url, timeout=10) as client:
        await client.send_transfer(wallet.pay(1, 5))
    assert await sequencer.builder.build_block() == 2
    with trio.fail_after(10):
        while sequencer.committer.last_committed != 2:
            await trio.sleep(0.02)

    seen = await scrape(sequencer)
    assert {key: seen.get(key) for key in [
        (f"{P}_blocks_built_total", ()),
        (f"{P}_transactions_included_total", ()),
        (f"{P}_commit_transactions_sent_total", ()),
        (f"{P}_commit_transactions_failed_total", (("error", "RpcUnreachable"),)),
        (f"{P}_blocks_committed_total", (("how", "adopted"),)),
        (f"{P}_blocks_committed_total", (("how", "sent"),)),
        (f"{P}_block_commit_seconds_count", ()),
        (f"{P}_head_block", ()),
        (f"{P}_mempool_transactions", ()),
        (f"{P}_last_committed_block", ()),
        (f"{P}_last_finalized_block", ()),
    ]} == {
        (f"{P}_blocks_built_total", ()): 2,
        (f"{P}_transactions_included_total", ()): 3,
        (f"{P}_commit_transactions_sent_total", ()): 2,
        (f"{P}_commit_transactions_failed_total", (("error", "RpcUnreachable"),)): 1,
        (f"{P}_blocks_committed_total", (("how", "adopted"),)): 1,
        (f"{P}_blocks_committed_total", (("how", "sent"),)): 1,
        (f"{P}_block_commit_seconds_count", ()): 2,
        (f"{P}_head_block", ()): 2,
        (f"{P}_mempool_transactions", ()): 0,
        (f"{P}_last_committed_block", ()): 2,
        (f"{P}_last_finalized_block", ()): 0,
    }


async def test_health_fails_while_l1_does(tmp_path, nursery):
    sequencer, rollup = await start(nursery, tmp_path)
    await health(sequencer, ok=True)
    rollup.unreachable = 10**9  # every call fails until the test says otherwise
    down = await health(sequencer, ok=False)
    assert down["problems"] == [
        "L1: follow finalization: cannot reach JSON-RPC endpoint fake: [Errno 111] refused"]
    rollup.unreachable = 0
    assert (await health(sequencer, ok=True))["problems"] == []
