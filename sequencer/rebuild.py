"""The L2 state from L1 data alone: the genesis the Rollup emitted, then every commitBlock's data.

This is what "data availability" means for the rollup: whoever can read L1 can compute every
account, with no sequencer and no database. Each block's records say what changed (who paid
whom, how much, which account opened with which address); signatures and public keys are not
posted, because the block's proof, checked on L1 against the same data's commitment, vouches
for them. So a rebuild trusts the records as posted and applies their effects, then checks the
result against the root the block committed: a mismatch means the rebuild's reading of L1 (or
the rules it applies) differs from the circuit's, and it stops there rather than guess.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from market_contracts.rollup import Rollup
from sequencer.accounts import Account, AccountTree
from sequencer.block_data import Op, Record, parse
from sequencer.circuit_inputs import BlockCircuit
from sequencer.errors import SequencerError
from sequencer.genesis import decode_accounts, genesis_state


class RebuildMismatch(SequencerError):
    """The state rebuilt from L1 does not hash to the root L1 holds for that block."""


@dataclass(frozen=True)
class PostedBlock:
    """A block as L1 holds it: its number, committed new root, and `commitBlock`'s data."""

    number: int
    new_root: int
    records: tuple[Record, ...]


def _debit(state: AccountTree, index: int, amount: int, spends_nonce: bool) -> AccountTree:
    account = state.get(index)
    if account is None or account.balance < amount:
        raise RebuildMismatch(f"a posted record debits account {index}, which cannot pay {amount}")
    return state.set(index, replace(account, balance=account.balance - amount,
                                    nonce=account.nonce + spends_nonce))


def _credit(state: AccountTree, index: int, amount: int, address: int | None) -> AccountTree:
    account = state.get(index)
    if account is None:
        if address is None:
            raise RebuildMismatch(f"a posted transfer credits account {index}, which is empty")
        account = Account(address)
    return state.set(index, replace(account, balance=account.balance + amount))


def posted_effect(state: AccountTree, record: Record) -> AccountTree:
    """The state after one posted record, its checks left to the proof (see the module)."""
    if record.op in (Op.TRANSFER, Op.OPEN):
        debited = _debit(state, record.a, record.amount, spends_nonce=True)
        return _credit(debited, record.b, record.amount,
                       record.entry if record.op == Op.OPEN else None)
    if record.op == Op.DEPOSIT:
        return _credit(state, record.b, record.amount, record.entry)
    if record.op == Op.WITHDRAW:
        return _debit(state, record.a, record.amount, spends_nonce=True)
    if record.op == Op.FORCED:
        return _debit(state, record.a, record.amount, spends_nonce=False)
    return state  # FORCED_SKIP, PAD: nothing changes


def replay(genesis: AccountTree, blocks: Iterable[PostedBlock]) -> AccountTree:
    """`genesis` after `blocks`, in order; RebuildMismatch at the first root that differs."""
    state = genesis
    for block in blocks:
        for record in block.records:
            state = posted_effect(state, record)
        if state.root != block.new_root:
            raise RebuildMismatch(f"block {block.number}: the rebuilt state's root is "
                                  f"{state.root:#x}, L1 holds {block.new_root:#x}")
    return state


# ---------------------------------------------------------------- reading L1

def genesis_accounts(rollup: Rollup, from_l1_block: int) -> dict[int, Account]:
    """The genesis accounts the Rollup emitted at its deployment (at or after `from_l1_block`)."""
    logs = rollup.contract.events.Genesis().get_logs(from_block=from_l1_block, to_block="latest")
    if len(logs) != 1:
        raise RebuildMismatch(f"the Rollup at {rollup.address} emitted {len(logs)} Genesis events "
                              f"from L1 block {from_l1_block} on, not one: is that its deployment "
                              "block?")
    return decode_accounts(bytes(logs[0]["args"]["accounts"]))


def posted_blocks(rollup: Rollup, circuit: BlockCircuit, from_l1_block: int,
                  to_l1_block: int | str = "latest") -> list[PostedBlock]:
    """Every block standing on L1 (committed and not reverted since) with its records, read
    from its commitBlock transaction's calldata. The sequencer calls commitBlock directly, so
    the transaction's input is that call."""
    events = rollup.contract.events
    logs = [*events.BlockCommitted().get_logs(from_block=from_l1_block, to_block=to_l1_block),
            *events.BlocksReverted().get_logs(from_block=from_l1_block, to_block=to_l1_block)]
    standing: dict[int, PostedBlock] = {}
    for log in sorted(logs, key=lambda log: (log["blockNumber"], log["logIndex"])):
        if log["event"] == "BlocksReverted":
            standing = {n: b for n, b in standing.items() if n < log["args"]["fromBlock"]}
            continue
        number = log["args"]["blockNumber"]
        transaction = rollup.chain.w3.eth.get_transaction(log["transactionHash"])
        function, arguments = rollup.contract.decode_function_input(transaction["input"])
        if function.fn_name != "commitBlock":
            raise RebuildMismatch(f"block {number} was committed by a call to "
                                  f"{function.fn_name}, whose input is not its data")
        standing[number] = PostedBlock(number, arguments["newRoot"], tuple(
            parse(bytes(arguments["data"]), circuit.block_size, circuit.entries)))
    return [standing[n] for n in sorted(standing)]


def rebuild(rollup: Rollup, circuit: BlockCircuit, from_l1_block: int,
            up_to: int | None = None) -> tuple[AccountTree, int]:
    """(the state after block `up_to`, default the last committed, and that block's number),
    from L1 alone; RebuildMismatch where it disagrees with what L1 holds."""
    genesis = genesis_state(circuit.depth, genesis_accounts(rollup, from_l1_block))
    if genesis.root != rollup.block(0).new_root:
        raise RebuildMismatch(f"the emitted genesis accounts hash to {genesis.root:#x}, but the "
                              f"Rollup's genesis root is {rollup.block(0).new_root:#x}")
    blocks = [b for b in posted_blocks(rollup, circuit, from_l1_block)
              if up_to is None or b.number <= up_to]
    if [b.number for b in blocks] != list(range(1, len(blocks) + 1)):
        raise RebuildMismatch("the blocks on L1 are not numbered 1, 2, ...: the scan did not "
                              "start at the Rollup's deployment")
    return replay(genesis, blocks), len(blocks)
