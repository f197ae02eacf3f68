"""The chaos harness (provernet/chaos, benchmarks/chaos.py): its rules on made-up histories, its
L1 fault relay against a real anvil, and a short campaign: the market's nodes as separate
processes on anvil, two of them SIGKILLed and restarted and L1 cut off once, with every check
passing."""

from __future__ import annotations

import json
import random
from dataclasses import asdict

import httpx
import pytest
import trio

from market_contracts.anvil import run_anvil
from market_contracts.chain import RpcChain
from market_contracts.errors import RpcUnreachable
from provernet.chaos import checks
from provernet.chaos.campaign import CampaignConfig, plan, run_campaign
from provernet.chaos.proxy import Fault, L1Proxy
from zkp.system import SealedProof

(SNAPSHOT,) = checks.REPEATABLE_CALLS  # snapshotRoster()


def test_commit_history_counts_duplicates_skips_and_reverts():
    fine = checks.commit_history([("commit", 1, 11, 1), ("commit", 2, 12, 2),
                                  ("revert", 2), ("commit", 2, 22, 3), ("commit", 3, 23, 4)])
    assert (fine.duplicate_commits, fine.skipped_blocks, fine.reverted_not_recommitted) == (0, 0, ())
    assert fine.standing == {1: (11, 1), 2: (22, 3), 3: (23, 4)} and fine.reverts == 1
    bad = checks.commit_history([("commit", 1, 11, 1), ("commit", 1, 11, 1), ("commit", 3, 13, 3),
                                 ("revert", 3)])
    assert (bad.duplicate_commits, bad.skipped_blocks, bad.reverted_not_recommitted) == (1, 1, (3,))


def test_transfer_placement_finds_lost_and_duplicated_transfers():
    placement = checks.transfer_placement(["a", "b", "c", "a"], {1: ["a", "b"], 2: ["b", "x"]})
    assert placement.lost == ("c",) and placement.duplicated == ("b",)


def test_repeats_double_signatures_nonce_gaps_and_duplicate_transactions():
    assert checks.repeated([(1, 2), (1, 3), (1, 2), (1, 2)]) == 2
    same, other = SealedProof("groth16", b"\x01"), SealedProof("groth16", b"\x02")
    key = ("0xR", 0, 7, 0, "ab")
    assert checks.double_signed([(key, same), (key, same), (("0xR", 0, 8, 0, "ab"), other)]) == 0
    assert checks.double_signed([(key, same), (key, other)]) == 1
    assert checks.nonce_gaps([0, 1, 2], latest=3, pending=3, queued=0) == 0
    assert checks.nonce_gaps([0, 2], latest=3, pending=3, queued=0) == 1
    assert checks.nonce_gaps([0, 1], latest=2, pending=3, queued=1) == 2
    sent = [("0xS", "0xR", b"\x01\x02\x03\x04data"), ("0xS", "0xR", b"\x01\x02\x03\x04data"),
            ("0xS", "0xT", SNAPSHOT), ("0xS", "0xT", SNAPSHOT), ("0xO", "0xR", b"\x01\x02\x03\x04data")]
    assert checks.duplicate_transactions(sent) == 1


def test_the_plan_is_seeded_and_holds_every_fault():
    nodes = ["sequencer", "coordinator", "roller-0"]
    first = plan(5, 2, nodes, ("freeze", "refuse"), random.Random(3))
    assert first == plan(5, 2, nodes, ("freeze", "refuse"), random.Random(3))
    assert sum(1 for kind, _ in first if kind == "kill") == 5 and len(first) == 7
    assert {target for kind, target in first if kind == "l1"} <= {"freeze", "refuse"}


@pytest.mark.anvil
async def test_the_relay_passes_calls_and_fails_them_on_command():
    with run_anvil() as anvil:
        async with trio.open_nursery() as nursery:
            proxy = L1Proxy(anvil.port)
            url = await nursery.start(proxy.run)
            chain = await trio.to_thread.run_sync(RpcChain, url)
            assert chain.client_version.lower().startswith("anvil")  # a dev node, through it
            before = await trio.to_thread.run_sync(lambda: chain.w3.eth.block_number)
            for fault in (Fault.REFUSE, Fault.ERROR, Fault.LOSE_REPLY):
                proxy.set_fault(fault)
                with pytest.raises(RpcUnreachable):
                    await trio.to_thread.run_sync(lambda: chain.w3.eth.block_number)
            # A lost reply is of a call the node did: a mined block stays mined.
            with pytest.raises(RpcUnreachable):
                await trio.to_thread.run_sync(lambda: chain.w3.provider.make_request(
                    "evm_mine", []))
            proxy.set_fault(Fault.BLACKHOLE)
            async with httpx.AsyncClient() as client:
                with pytest.raises(httpx.ReadTimeout):
                    await client.post(url, json={"jsonrpc": "2.0", "id": 1,
                                                 "method": "eth_blockNumber", "params": []},
                                      timeout=1.0)
            proxy.set_fault(Fault.NONE)
            after = await trio.to_thread.run_sync(lambda: chain.w3.eth.block_number)
            assert after == before + 1
            assert all(proxy.failed[f.value] >= 1 for f in
                       (Fault.REFUSE, Fault.ERROR, Fault.LOSE_REPLY, Fault.BLACKHOLE))
            nursery.cancel_scope.cancel()


@pytest.mark.anvil
async def test_a_short_campaign_of_kills_and_an_l1_outage_loses_nothing(tmp_path):
    """SIGKILLed nodes and an L1 outage, under transfers and deposits: no transfer lost or
    doubled, every deposit included."""
    report = await run_campaign(CampaignConfig(
        datadir=tmp_path, kills=2, l1_faults=1, seed=7, gap_s=(3.0, 6.0),
        l1_fault_s=(8.0, 12.0), l1_fault_kinds=("lose_reply",),
        # `make test` runs other tests beside it on two cores: more time to finalize (the run
        # ends as soon as everything is)
        settle_deadlines=8.0))
    assert report.kills == 2 and report.l1_faults == 1
    assert report.accepted_transfers > 0 and report.finalized_blocks > 0
    # Deposits were made through the kills, and every one was taken by a block (failures).
    assert report.deposits > 0
    # Every check, the outage shown in every node's /health among them; a failure shows each
    # node's details too (which nonces are missing, held or in flight), whole: a string is not
    # shortened by pytest as a dict is.
    assert report.failures == [], json.dumps({**report.summary(), "nodes": report.nodes,
                                              "faults": [asdict(f) for f in report.faults]},
                                             default=str, indent=1)
