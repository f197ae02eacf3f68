"""The L2 state rebuilt from L1 alone (sequencer/rebuild.py): the Rollup's Genesis event, then
every standing commitBlock's calldata, on the embedded chain, equals the state the model built
block by block; a block whose posted root disagrees with its records is named, not guessed past.

The Rollup runs over the verifier stub (commitBlock checks no proof), the owner standing in for
the Bridge: what is tested is the reading of L1, not the proofs (test_rollup_end_to_end's)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from market_contracts.chain import EmbeddedChain
from provernet.world import World, l2_genesis
from sequencer.block_data import calldata, deposit_hash, forced_hash
from sequencer.circuit_inputs import SMALL
from sequencer.genesis import (
    decode_accounts,
    dev_address,
    dev_private_key,
    encode_accounts,
    genesis_state,
)
from sequencer.rebuild import RebuildMismatch, posted_effect, rebuild
from sequencer.transactions import Kind, Transfer, sign_transfer
from sequencer.transition import apply_record, deposit_record, forced_record, record_for

RECIPIENT = 0x00000000000000000000000000000000000000E1


def signed(sender: int, to: int, amount: int, nonce: int, *, to_address: int | None = None,
           kind: Kind = Kind.TRANSFER) -> Transfer:
    address = dev_address(to) if to_address is None else to_address
    return sign_transfer(Transfer(sender, to, address, amount, nonce, kind=kind),
                         dev_private_key(sender), SMALL.chain_id)


class Chain:
    """A rollup on the embedded chain and the model's state, block by block."""

    def __init__(self):
        self.chain = EmbeddedChain()
        self.sequencer = self.chain.dev_accounts[1]
        world = World.deploy(self.chain)
        self.from_block = self.chain.w3.eth.block_number
        # the owner stands in for the Bridge: it enqueues the deposits and forced withdrawals
        world.attach_rollup(self.sequencer.address, bridge=world.owner.address)
        self.owner, self.rollup = world.owner, world.rollup
        self.state = genesis_state(SMALL.depth, l2_genesis())
        self.states = [self.state]

    def commit(self, *ops, root: int | None = None) -> None:
        state = self.state
        for record, tx in ops:
            state = apply_record(state, record, tx, SMALL.chain_id)
        self.rollup.commit_block(self.sequencer, state.root if root is None else root,
                                 calldata([record for record, _ in ops]))
        self.state = state
        self.states.append(state)


@pytest.fixture
def l1():
    return Chain()


def test_genesis_accounts_round_trip():
    assert decode_accounts(encode_accounts(l2_genesis())) == l2_genesis()


def test_rebuilds_every_op_through_a_revert(l1):
    opening = signed(0, 9, 5 * 10**18, 0, to_address=dev_address(9))
    l1.commit((record_for(l1.state, opening), opening),
              (record_for(l1.state, signed(1, 2, 7, 0)), signed(1, 2, 7, 0)))
    l1.rollup.enqueue(l1.owner, deposit_hash(dev_address(12), 10**20))
    l1.commit((deposit_record(l1.state, dev_address(12), 10**20, 12), None))
    withdrawal = signed(2, 0, 3 * 10**18, 0, to_address=RECIPIENT, kind=Kind.WITHDRAW)
    l1.commit((record_for(l1.state, withdrawal), withdrawal))
    # a forced withdrawal that applies, and one naming another key: skipped, nothing changes
    for index, address in ((3, dev_address(3)), (4, dev_address(5))):
        l1.rollup.enqueue(l1.owner, forced_hash(index, address, 10**18, RECIPIENT))
        l1.commit((forced_record(l1.state, index, address, 10**18, RECIPIENT), None))
    assert l1.states[-1].get(4) == l1.states[-2].get(4)

    # block 5 is reverted and replaced: the rebuild follows what stands
    l1.rollup.revert_blocks(l1.sequencer, 5)
    l1.state = l1.states[4]
    l1.rollup.enqueue(l1.owner, forced_hash(4, dev_address(5), 10**18, RECIPIENT))
    again = signed(6, 7, 11, 0)
    l1.commit((forced_record(l1.state, 4, dev_address(5), 10**18, RECIPIENT), None),
              (record_for(l1.state, again), again))

    state, number = rebuild(l1.rollup, SMALL, l1.from_block)
    assert (number, state.root) == (5, l1.state.root)
    assert state.get(12).balance == 10**20 and state.get(9).address == dev_address(9)
    assert rebuild(l1.rollup, SMALL, l1.from_block, up_to=2)[0].root == l1.states[2].root


def test_a_posted_root_its_records_do_not_reach_is_named(l1):
    tx = signed(0, 1, 5, 0)
    l1.commit((record_for(l1.state, tx), tx), root=12345)
    with pytest.raises(RebuildMismatch, match="block 1: the rebuilt state's root"):
        rebuild(l1.rollup, SMALL, l1.from_block)


def test_a_scan_that_misses_the_deployment_is_refused(l1):
    with pytest.raises(RebuildMismatch, match="Genesis events"):
        rebuild(l1.rollup, SMALL, l1.chain.w3.eth.block_number + 1)


def test_a_record_that_debits_more_than_an_account_holds_is_named():
    state = genesis_state(SMALL.depth, l2_genesis())
    record = record_for(state, signed(0, 1, 5, 0))
    with pytest.raises(RebuildMismatch, match="cannot pay"):
        posted_effect(state, replace(record, amount=10**30))
