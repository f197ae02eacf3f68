"""The wallet's bridge commands as a user runs them (`provernet l2 deposit | withdraw |
force-withdraw | claim | exit | rebuild | tx`), against a sequencer relaying a real Bridge on the
embedded chain, served over JSON-RPC as the devnet serves it.

The Rollup runs over the verifier stub (told each batch's public inputs), so blocks finalize
without proofs: what is tested is the money's path, L1 to L2 and back, and the refusals."""

from __future__ import annotations

import json

import pytest
import trio
from click.testing import CliRunner
from eth_utils import to_checksum_address

from market_contracts.bridge import Bridge
from market_contracts.chain import EmbeddedChain
from market_contracts.l1_server import EmbeddedL1Server
from market_contracts.rollup import Rollup
from provernet.cli import cli
from provernet.world import World, l2_genesis
from sequencer.genesis import dev_address
from sequencer.relayer import BridgeMessages
from sequencer.service import Sequencer
from sequencer_fakes import config
from zkp.aggregate import AggregateProof

BATCH_SIZE = 2
PROVERS = ["0x00000000000000000000000000000000000000a1", "0x00000000000000000000000000000000000000a2"]
#: the stub ignores the proof; any points of the right shape do
ANY_PROOF = AggregateProof(a=((1, 2),) * BATCH_SIZE, b=(((1, 2), (3, 4)),) * BATCH_SIZE, c=(1, 2))
RECIPIENT = to_checksum_address("0x00000000000000000000000000000000000000e1")
#: dev account 2 deposits and claims (it holds the L2 token); 3 only pays gas
DEPOSITOR, CLAIMER = 2, 3
DEPOSIT = 5 * 10**18


@pytest.fixture
async def bridged(tmp_path, nursery):
    chain = EmbeddedChain()
    world = World.deploy(chain)
    sequencer_key = chain.dev_accounts[1]
    deployment = world.attach_rollup(sequencer_key.address, batch_size=BATCH_SIZE,
                                     force_delay=600, escape_delay=3600)
    path = tmp_path / "deployment.json"
    deployment.save(path)
    rollup = Rollup(chain, deployment.rollup.address)
    bridge = Bridge(chain, deployment.rollup.bridge)
    chain.transact(world.owner, bridge.token.functions.mint(
        chain.dev_accounts[DEPOSITOR].address, 10 * DEPOSIT))
    url = await nursery.start(EmbeddedL1Server(chain).run)
    sequencer = Sequencer(config(tmp_path / "node", block_interval=3600, genesis=l2_genesis(),
                                 relayer_start_block=deployment.rollup.block),
                          rollup, sequencer_key, BridgeMessages(bridge))
    await nursery.start(sequencer.run)
    return chain, world, rollup, bridge, sequencer, ["--rpc-url", url, "--deployment", str(path)]


async def provernet(*args: str):
    return await trio.to_thread.run_sync(lambda: CliRunner().invoke(cli, list(args)))


async def block_committed(sequencer: Sequencer, number: int) -> None:
    """Until block `number` is built and the sequencer has seen L1 take it (the relayer wakes the
    builder for each L1 message it stores, so the builder may have built it already)."""
    with trio.fail_after(20):
        while sequencer.committer.last_committed < number:
            if sequencer.mempool.tip_number < number:
                await sequencer.builder.build_block()
            await trio.sleep(0.05)


async def message_known(position: int, seq: list[str]) -> None:
    """Until the relayer has stored the L1 message at `position`."""
    with trio.fail_after(20):
        while (await provernet("l2", "tx", "--message", str(position), *seq)).exit_code:
            await trio.sleep(0.05)


def finalize_next(world: World, rollup: Rollup) -> None:
    first = rollup.last_finalized() + 1
    world.chain.transact(world.owner, world.stub.functions.expect(
        rollup.batch_inputs(first, PROVERS)))
    rollup.finalize_batch(world.owner, first, PROVERS, ANY_PROOF)


def last_line(result) -> str:
    assert result.output, result
    return result.output.strip().splitlines()[-1]


async def test_deposit_withdraw_claim_rebuild(bridged):
    chain, world, rollup, bridge, sequencer, market = bridged
    seq = ["--sequencer", sequencer.url]

    result = await provernet("l2", "deposit", "--amount", str(DEPOSIT), "--dev-key", "9",
                             "--dev-account", str(DEPOSITOR), *market)
    assert result.exit_code == 0, result.output
    assert last_line(result) == (f"deposited {DEPOSIT} to L2 address {dev_address(9):#066x}: "
                                 "queue position 0")
    await message_known(0, seq)
    await block_committed(sequencer, 1)
    result = await provernet("l2", "tx", "--message", "0", *seq)
    assert "included in block 1 as DEPOSIT: committed" in result.output
    result = await provernet("l2", "balance", "--dev-key", "9", *seq)
    assert f"balance {DEPOSIT}" in result.output  # a new account, opened by the deposit

    result = await provernet("l2", "withdraw", "--dev-key", "9", "--amount", str(DEPOSIT // 5),
                             "--recipient", RECIPIENT, *seq)
    assert result.exit_code == 0, result.output
    hash_ = last_line(result).split(": ")[-1]
    await block_committed(sequencer, 2)
    result = await provernet("l2", "tx", hash_, *seq)
    assert "claimable once its block is finalized" in result.output
    result = await provernet("l2", "claim", "--block", "2", "--position", "0",
                             "--dev-account", str(CLAIMER), *market)
    assert result.exit_code == 1 and "not finalized" in last_line(result)

    await trio.to_thread.run_sync(finalize_next, world, rollup)
    with trio.fail_after(20):
        while "claimable: provernet l2 claim --block 2 --position 0" not in (
                await provernet("l2", "tx", hash_, *seq)).output:
            await trio.sleep(0.05)
    result = await provernet("l2", "claim", "--block", "2", "--position", "0",
                             "--dev-account", str(CLAIMER), *market)
    assert last_line(result) == f"claimed {DEPOSIT // 5} to {RECIPIENT} (block 2, exit 0)"
    assert chain.call(bridge.token.functions.balanceOf(RECIPIENT)) == DEPOSIT // 5
    result = await provernet("l2", "tx", hash_, *seq, *market)
    assert "claimed on L1 (block 2, exit 0)" in result.output
    again = await provernet("l2", "claim", "--block", "2", "--position", "0",
                            "--dev-account", str(CLAIMER), *market)
    assert again.exit_code == 1 and "claimed already" in last_line(again)

    result = await provernet("l2", "rebuild", "--json", *market)
    summary = json.loads(last_line(result))
    assert summary["block"] == 2 and summary["matches"] is True
    assert summary["root"] == f"{sequencer.mempool.tip.root:#066x}"


async def test_force_withdraw_then_exit_after_the_freeze(bridged):
    chain, world, rollup, bridge, sequencer, market = bridged
    seq = ["--sequencer", sequencer.url]
    result = await provernet("l2", "force-withdraw", "--dev-key", "1", "--index", "1",
                             "--amount", "7", "--recipient", RECIPIENT,
                             "--dev-account", str(CLAIMER), *market)
    assert last_line(result) == f"forced withdrawal of 7 from account 1 to {RECIPIENT}: queue position 0"
    # another key's request for account 2: queued, taken, and skipped
    result = await provernet("l2", "force-withdraw", "--dev-key", "1", "--index", "2",
                             "--amount", "7", "--recipient", RECIPIENT,
                             "--dev-account", str(CLAIMER), *market)
    assert result.exit_code == 0, result.output
    await message_known(1, seq)
    await block_committed(sequencer, 1)
    await block_committed(sequencer, 2)
    assert "as FORCED:" in (await provernet("l2", "tx", "--message", "0", *seq)).output
    assert "as FORCED_SKIP:" in (await provernet("l2", "tx", "--message", "1", *seq)).output
    await trio.to_thread.run_sync(finalize_next, world, rollup)

    # a deposit no block takes before the freeze is refunded, once frozen
    result = await provernet("l2", "deposit", "--amount", str(DEPOSIT), "--dev-key", "9",
                             "--dev-account", str(DEPOSITOR), *market)
    assert last_line(result).endswith("queue position 2")
    reclaim_args = ("l2", "reclaim", "--message", "2", "--dev-account", str(CLAIMER), *market)
    result = await provernet(*reclaim_args)
    assert result.exit_code == 1 and "the rollup is not frozen" in last_line(result)

    exit_args = ("l2", "exit", "--dev-key", "0", "--index", "0", "--recipient", RECIPIENT,
                 "--dev-account", str(CLAIMER), *market)
    result = await provernet(*exit_args)
    assert result.exit_code == 1 and "the rollup is not frozen" in last_line(result)
    await trio.to_thread.run_sync(chain.increase_time, 3601)
    result = await provernet(*exit_args)
    balance = l2_genesis()[0].balance
    assert last_line(result) == f"exited account 0: {balance} to {RECIPIENT}"
    result = await provernet(*exit_args)
    assert result.exit_code == 1 and "exited" in last_line(result).lower()
    wrong_key = await provernet("l2", "exit", "--dev-key", "3", "--index", "1", "--recipient",
                                RECIPIENT, "--dev-account", str(CLAIMER), *market)
    assert wrong_key.exit_code == 1 and "no account of this key at index 1" in last_line(wrong_key)
    assert chain.call(bridge.token.functions.balanceOf(RECIPIENT)) == balance
    depositor = chain.dev_accounts[DEPOSITOR].address
    before = chain.call(bridge.token.functions.balanceOf(depositor))
    result = await provernet(*reclaim_args)
    assert last_line(result) == f"refunded deposit 2: {DEPOSIT} to {depositor}"
    assert chain.call(bridge.token.functions.balanceOf(depositor)) == before + DEPOSIT
    assert (await provernet(*reclaim_args)).exit_code == 1


async def test_unpostable_amounts_are_refused_with_the_rounded_one(bridged):
    *_, market = bridged
    result = await provernet("l2", "deposit", "--amount", "12345678901234", "--dev-key", "9",
                             "--dev-account", str(DEPOSITOR), *market)
    assert result.exit_code == 2
    assert "send 12345678900000" in result.output
