"""Typed bindings of the Rollup contract (`contracts/Rollup.sol`), and its deployment.

Reads return dataclasses; writes sign locally, wait for the receipt, and turn the contract's
refusals into `RollupRejected` with a one-line message (`explain_rollup`). A block's posted data
is `sequencer.block_data.calldata`; its `dataHash` is `block_data.block_commitment`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import IntEnum

from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address
from web3.contract.contract import ContractFunction
from web3.exceptions import BadFunctionCallOutput, ContractLogicError, Web3RPCError
from web3.logs import DISCARD
from web3.types import EventData, TxReceipt
from web3.utils.address import get_create_address

from market_contracts.bindings import Market
from market_contracts.chain import Chain
from market_contracts.compile import load_artifact
from market_contracts.deploy import (
    Deployment,
    RollupDeployment,
    deploy_bridge,
    deploy_bridge_support,
)
from market_contracts.errors import RollupRejected, TransactionFailed, UnknownDeployment
from market_contracts.submissions import block_statement
from market_contracts.verifiers import deploy_batch_verifier, deploy_verifier
from zkp.aggregate import AggregateProof
from zkp.evm import g1_words, g2_words
from zkp.proof import VerificationKey

#: seconds a queue entry (a deposit, a forced withdrawal) may wait before the next block must
#: include it: a day, as Arbitrum's delayed inbox, so that an L1 user can force the sequencer
FORCE_DELAY = 24 * 3600
#: seconds without a finalized batch after which the rollup freezes and the bridge pays exits
#: from the last finalized state: a week, long after any honest outage of provers
ESCAPE_DELAY = 7 * 24 * 3600
#: blocks the sequencer may run ahead of finalization: each costs three slots at deployment
#: (66,300 gas), and a commit must never write a fresh slot (docs/rollup-data.md, "Storage")
RING_SIZE = 64


class BlockStatus(IntEnum):
    """L1's status of an L2 block: `Rollup.blockStatus`, numbered as the Solidity enum. The
    coordinator's view of a block's proving is `coordinator.views.ProvingStatus`, the
    sequencer's of its own blocks `sequencer.store.StoredBlockStatus`."""

    NONE = 0
    COMMITTED = 1
    FINALIZED = 2


@dataclass(frozen=True)
class CommittedBlock:
    """An L2 block as L1 records it."""

    number: int
    old_root: int
    new_root: int
    data_hash: int
    #: the hash of L1 block `randomness_block` as `Rollup.recordRandomness` stored it: the
    #: block's draws start here. None until recorded, and in events.
    randomness: bytes | None
    #: the L1 block and time of the commit
    l1_block: int
    timestamp: int
    status: BlockStatus
    #: the prover its finalizing batch named; None until finalized, and in events
    prover: str | None = None
    #: the L1 block whose state is the block's roster, and the one whose hash is its randomness:
    #: pinned by the first commit of this number, kept through reverts (0 if never committed)
    roster_block: int = 0
    randomness_block: int = 0

    def statement(self) -> bytes:
        """`Rollup.statement(number)`: what a proof of this block is about."""
        return block_statement(self.number, self.old_root, self.new_root, self.data_hash)


_MESSAGES = {
    "NotSequencer": lambda caller:
        f"{to_checksum_address(caller)} is not the rollup's sequencer: only the sequencer commits and reverts blocks",
    "NotBridge": lambda caller:
        f"{to_checksum_address(caller)} is not the rollup's bridge: only the bridge appends to the queue",
    "RollupFrozen": lambda last_finalized_time, escape_delay:
        f"the rollup is frozen: no batch was finalized for {escape_delay} s after "
        f"{last_finalized_time}; nothing commits, finalizes or reverts any more (the bridge pays exits)",
    "NotAFieldElement": lambda value:
        f"{value:#x} is not a field element: roots are below the BN254 scalar field modulus",
    "RingFull": lambda number, last_finalized:
        f"block {number} would overwrite the ring entry of a block not finalized (the last "
        f"finalized is {last_finalized}): finalize before committing further",
    "BadRecordCount": lambda count, most: f"a block posts 1 to {most} records, not {count}",
    "DataTooShort": lambda length, count: f"{length} bytes of block data cannot hold {count} records",
    "BadOp": lambda record, op: f"record {record} has op {op}",
    "WrongDataLength": lambda length, expected:
        f"{length} bytes of block data, but its records take {expected}",
    "TooManyEntries": lambda consumed, most:
        f"{consumed} entries in one block; the rollup takes at most {most}",
    "RecipientNotAnAddress": lambda record, entry:
        f"record {record} withdraws to {entry:#x}, which is not an L1 address",
    "QueueExhausted": lambda record, position:
        f"record {record} takes queue entry {position}, which the bridge has not appended",
    "NotNextInQueue": lambda record, position:
        f"record {record} is not queue entry {position}: deposits and forced withdrawals are "
        "included in queue order, exactly as enqueued",
    "ForcedInclusionDue": lambda position:
        f"queue entry {position} is overdue: the block must include it (or as many queue entries "
        "as a block takes)",
    "BlockForgotten": lambda number:
        f"block {number} left the ring: its commit's L1 block and time are in its BlockCommitted event",
    "NoSuchQueueEntry": lambda position, length:
        f"the queue has {length} entries: no entry {position}",
    "BatchOutOfOrder": lambda first, expected:
        f"the next batch to finalize starts at block {expected}, not {first}",
    "WrongBatchSize": lambda provers, proofs, size:
        f"a batch is {size} blocks, one proof and one prover each: got {proofs} proofs and "
        f"{provers} provers",
    "BlockNotCommitted": lambda number: f"block {number} is not committed",
    "InvalidBatchProof": lambda first:
        f"the batch proof from block {first} does not verify against the committed blocks and "
        "the named provers",
    "CannotRevertFinalized": lambda first, last_finalized:
        f"cannot revert from block {first}: blocks up to {last_finalized} are finalized",
    "NothingToRevert": lambda first, last_committed:
        f"nothing to revert from block {first}: the last committed block is {last_committed}",
    "InvalidParams": lambda reason: f"the rollup cannot be deployed: {reason}",
    "BlockNeverCommitted": lambda number:
        f"block {number} was never committed: it has no randomness to record",
    "RandomnessNotYetAvailable": lambda target:
        f"the randomness is the hash of L1 block {target}, which is not mined yet: record it "
        "after that block",
}


def explain_rollup(exc: TransactionFailed) -> TransactionFailed:
    """The user-facing error for a Rollup revert; other reverts pass through unchanged."""
    describe = _MESSAGES.get(exc.reason)
    if describe is None:
        return exc
    return RollupRejected(describe(*exc.error_args), exc.reason, exc.error_args)


class Rollup:
    """One deployed Rollup contract on one chain."""

    def __init__(self, chain: Chain, address: str):
        self.chain = chain
        self.address = to_checksum_address(address)
        self.contract = chain.w3.eth.contract(self.address, abi=load_artifact("Rollup")["abi"])

    @classmethod
    def from_deployment(cls, chain: Chain, deployment: Deployment) -> Rollup:
        if deployment.rollup is None:
            raise UnknownDeployment("the deployment has no rollup: deploy one with the market, "
                                    "or pass the deployment file that names it")
        return cls(chain, deployment.rollup.address)

    # ------------------------------------------------------------ writes

    def _send(self, account: LocalAccount, fn: ContractFunction, gas: int | None = None) -> TxReceipt:
        try:
            return self.chain.transact(account, fn, gas=gas)
        except TransactionFailed as exc:
            raise explain_rollup(exc) from exc

    def commit_block(self, sequencer: LocalAccount, new_root: int, data: bytes, *,
                     gas: int | None = None) -> CommittedBlock:
        """Commit the next block (its old root is the last committed block's new root): `data`
        is what it posts, `sequencer.block_data.calldata(records)`."""
        receipt = self._send(sequencer, self.contract.functions.commitBlock(new_root, bytes(data)),
                             gas)
        (event,) = self.contract.events.BlockCommitted().process_receipt(receipt, errors=DISCARD)
        return self.committed_from_log(event)

    def enqueue(self, bridge: LocalAccount, entry_hash: bytes) -> int:
        """Append `entry_hash` to the queue (the bridge's account only); its position."""
        receipt = self._send(bridge, self.contract.functions.enqueue(bytes(entry_hash)))
        (event,) = self.contract.events.Enqueued().process_receipt(receipt, errors=DISCARD)
        return event["args"]["position"]

    def finalize_batch(self, sender: LocalAccount, first_block: int, provers: Sequence[str],
                       aggregate: AggregateProof, *, gas: int | None = None) -> TxReceipt:
        """Finalize blocks first_block .. first_block + K - 1 with the aggregate of their proofs,
        proof i bound to `provers[i]`.

        `gas` None estimates it, which runs the pairing check once per step of a binary search:
        instant on a node, seconds a step on the embedded chain, where callers pass a limit.
        """
        fn = self.contract.functions.finalizeBatch(
            first_block, [to_checksum_address(p) for p in provers],
            [g1_words(a) for a in aggregate.a], [g2_words(b) for b in aggregate.b],
            g1_words(aggregate.c))
        return self._send(sender, fn, gas)

    def revert_blocks(self, sequencer: LocalAccount, from_block: int) -> TxReceipt:
        """Drop the committed blocks from `from_block` on; the next commit is `from_block` again
        (with the roster and randomness blocks the first commit pinned)."""
        return self._send(sequencer, self.contract.functions.revertBlocks(from_block))

    def record_randomness(self, account: LocalAccount, number: int) -> bytes:
        """Record block `number`'s randomness (anyone may, once its randomness block is mined);
        returns it. Recording again returns the same value."""
        receipt = self._send(account, self.contract.functions.recordRandomness(number))
        events = self.contract.events.RandomnessRecorded().process_receipt(receipt, errors=DISCARD)
        if events:
            return bytes(events[0]["args"]["randomness"])
        return self.randomness(number, receipt["blockNumber"])

    def record_randomness_many(self, account: LocalAccount, numbers: Sequence[int], *,
                               gas: int | None = None) -> dict[int, bytes]:
        """Record the randomness of each of blocks `numbers` in one transaction
        (`recordRandomnessMany`; each block's randomness block must be mined); each block's
        randomness. Blocks recorded before cost one read each."""
        if not numbers:
            return {}
        receipt = self._send(account, self.contract.functions.recordRandomnessMany(list(numbers)),
                             gas)
        recorded = {event["args"]["blockNumber"]: bytes(event["args"]["randomness"])
                    for event in self.contract.events.RandomnessRecorded().process_receipt(
                        receipt, errors=DISCARD)}
        return {n: recorded[n] if n in recorded else self.randomness(n, receipt["blockNumber"])
                for n in numbers}

    # ------------------------------------------------------------ reads

    def _call(self, fn: ContractFunction, block_identifier="latest"):
        try:
            return self.chain.call(fn, block_identifier)
        except TransactionFailed as exc:
            raise explain_rollup(exc) from exc

    def block(self, number: int, block_identifier="latest") -> CommittedBlock:
        """Block `number` as stored; status NONE (and zeros) if it is not committed."""
        (old_root, new_root, data_hash, randomness, l1_block, timestamp, status, prover,
         roster_block, randomness_block) = self._call(self.contract.functions.blockInfo(number),
                                                      block_identifier)
        return CommittedBlock(number, old_root, new_root, data_hash, _recorded(randomness),
                              l1_block, timestamp, BlockStatus(status),
                              None if int(prover, 16) == 0 else prover, roster_block,
                              randomness_block)

    def randomness(self, number: int, block_identifier="latest") -> bytes | None:
        """Block `number`'s recorded randomness; None until `record_randomness`."""
        return _recorded(self._call(self.contract.functions.randomness(number), block_identifier))

    def draw_blocks(self, number: int, block_identifier="latest") -> tuple[int, int, int]:
        """(roster block, randomness block, draw time) pinned by the first commit of `number`:
        its roster is the last roster snapshot taken at or before the roster block, if no older
        than SNAPSHOT_MAX_AGE at the draw time (the commit's timestamp). (0, 0, 0) if it was never
        committed."""
        roster_block, randomness_block, draw_time = self._call(
            self.contract.functions.drawBlocks(number), block_identifier)
        return roster_block, randomness_block, draw_time

    def statement(self, number: int, block_identifier="latest") -> bytes:
        """What a proof of block `number` is about, as L1 holds the block now."""
        return bytes(self._call(self.contract.functions.statement(number), block_identifier))

    def batch_statement(self, batch: int, block_identifier="latest") -> bytes:
        """What an aggregate of batch `batch` is about: over its blocks' statements."""
        return bytes(self._call(self.contract.functions.batchStatement(batch), block_identifier))

    def batch_inputs(self, first_block: int, provers: Sequence[str],
                     block_identifier="latest") -> list[list[int]]:
        """Each block's [oldRoot, newRoot, dataHash, prover] from `first_block`, block i proven by
        provers[i]: what an aggregate is checked against."""
        return [list(inputs) for inputs in self._call(
            self.contract.functions.batchInputs(first_block,
                                                [to_checksum_address(p) for p in provers]),
            block_identifier)]

    def status(self, number: int, block_identifier="latest") -> BlockStatus:
        return BlockStatus(self._call(self.contract.functions.blockStatus(number), block_identifier))

    def last_committed(self, block_identifier="latest") -> int:
        return self._call(self.contract.functions.lastCommitted(), block_identifier)

    def last_finalized(self, block_identifier="latest") -> int:
        return self._call(self.contract.functions.lastFinalized(), block_identifier)

    def batch_size(self) -> int:
        return self._call(self.contract.functions.batchSize())

    def max_transfers(self) -> int:
        """The circuit profile's record slots: a block posts 1 to this many records."""
        return self._call(self.contract.functions.maxTransfers())

    def entries(self) -> int:
        """The circuit profile's entries: a block consumes at most this many."""
        return self._call(self.contract.functions.entries())

    def bridge(self) -> str:
        return self._call(self.contract.functions.bridge())

    def committed_at(self, number: int, block_identifier="latest") -> tuple[int, int]:
        """(L1 block, time) of block `number`'s commit; RollupRejected (BlockForgotten) once a
        later block took its ring entry."""
        l1_block, timestamp = self._call(self.contract.functions.committedAt(number),
                                         block_identifier)
        return l1_block, timestamp

    # the queue and the escape hatch

    def queue_length(self, block_identifier="latest") -> int:
        return self._call(self.contract.functions.queueLength(), block_identifier)

    def queue_next(self, block_identifier="latest") -> int:
        """The position of the queue's next entry for a block to consume."""
        return self._call(self.contract.functions.queueNext(), block_identifier)

    def finalized_queue_next(self, block_identifier="latest") -> int:
        """The queue position the last finalized state has consumed up to (what a frozen
        rollup's Bridge refunds from)."""
        return self._call(self.contract.functions.finalizedQueueNext(), block_identifier)

    def queue_entry(self, position: int, block_identifier="latest") -> tuple[bytes, int]:
        """(hash, enqueue time) of queue entry `position`."""
        entry_hash, time = self._call(self.contract.functions.queueEntry(position),
                                      block_identifier)
        return bytes(entry_hash), time

    def exit_root(self, number: int, block_identifier="latest") -> bytes:
        """Block `number`'s exit root (`block_data.exit_root`): zero if it pays no exit."""
        return bytes(self._call(self.contract.functions.exitRoot(number), block_identifier))

    def frozen(self, block_identifier="latest") -> bool:
        return self._call(self.contract.functions.frozen(), block_identifier)

    def finalized_root(self, block_identifier="latest") -> int:
        return self._call(self.contract.functions.finalizedRoot(), block_identifier)

    def last_finalized_time(self, block_identifier="latest") -> int:
        return self._call(self.contract.functions.lastFinalizedTime(), block_identifier)

    def sequencer(self) -> str:
        return self._call(self.contract.functions.sequencer())

    def public_inputs(self, number: int, prover: str) -> list[int]:
        """[oldRoot, newRoot, dataHash, prover]: what block `number`'s proof by `prover` proves."""
        return list(self._call(
            self.contract.functions.publicInputs(number, to_checksum_address(prover))))

    def committed_blocks(self, from_l1_block: int,
                         to_l1_block: int | str = "latest") -> list[CommittedBlock]:
        """The blocks committed in L1 blocks from_l1_block..to_l1_block that no revert in that
        range dropped, by number, as their `BlockCommitted` events tell them (status COMMITTED:
        ask `block` for what they are now)."""
        events = self.contract.events
        logs = [*events.BlockCommitted().get_logs(from_block=from_l1_block, to_block=to_l1_block),
                *events.BlocksReverted().get_logs(from_block=from_l1_block, to_block=to_l1_block)]
        standing: dict[int, EventData] = {}
        for log in sorted(logs, key=lambda log: (log["blockNumber"], log["logIndex"])):
            if log["event"] == "BlockCommitted":
                standing[log["args"]["blockNumber"]] = log
            else:
                standing = {n: b for n, b in standing.items() if n < log["args"]["fromBlock"]}
        return [self.committed_from_log(standing[n]) for n in sorted(standing)]

    def committed_from_log(self, log: EventData) -> CommittedBlock:
        """A `BlockCommitted` event's block (status COMMITTED, randomness and prover None: what
        the commit made). The event holds the number alone (for commitBlock's gas): the rest is
        `blockInfo` as of the log's L1 block, where the block's ring entry is this commit's.
        Only if a later transaction of the same L1 block reverted the block is it what L1 held at
        that block's end instead (a recommit's, or zeros): such a log does not stand, and
        `committed_blocks` drops it."""
        block = self.block(log["args"]["blockNumber"], log["blockNumber"])
        return replace(block, randomness=None, status=BlockStatus.COMMITTED, prover=None)

    def config(self) -> tuple:
        """The constructor's `Config` as the contract reports it (its immutables)."""
        functions = self.contract.functions
        return tuple(self._call(getattr(functions, name)()) for name in _CONFIG)

    def is_this_release(self) -> bool:
        """Whether the code at this address is this release's Rollup contract, made with the
        parameters it reports: what our creation code returns, run (eth_call, nothing mined) with
        its `Config` (sequencer, verifier, bridge, batch size, slots, entries, delays, ring size),
        which is code (immutables); the genesis root and accounts are storage and a log, so any
        give the same code.

        Anything else behind the Rollup's ABI (a proxy, a fork) may answer `statement` and
        `publicInputs` apart, or change them after a roller signed for them: then a valid
        proof would be judged against other inputs and slashed. A roller serving a rollup it
        did not deploy (the staking contract's deployer adds them) checks this first."""
        try:
            parameters = (self.config(), 0, b"")
        except (TransactionFailed, BadFunctionCallOutput, Web3RPCError):
            # Not even the Rollup's views: a revert, no return data, or (anvil) the node's
            # "EVM error" for code that is no function of ours
            return False
        artifact = load_artifact("Rollup")
        factory = self.chain.w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
        try:
            expected = self.chain.w3.eth.call(
                {"data": factory.constructor(*parameters).data_in_transaction})
        except ContractLogicError:
            return False  # parameters our constructor refuses: no Rollup of ours has them
        return bytes(self.chain.w3.eth.get_code(self.address)) == bytes(expected)

    def deployment(self) -> RollupDeployment:
        """This rollup's entry of a deployment file, read from the chain."""
        return RollupDeployment(
            address=self.address,
            verifier=self._call(self.contract.functions.verifier()),
            bridge=self.bridge(),
            block=self.block(0).l1_block,
        )


#: the Solidity `Rollup.Config`'s fields in order, each the name of the view that reports it
_CONFIG = ("sequencer", "verifier", "bridge", "batchSize", "maxTransfers", "entries", "forceDelay",
           "escapeDelay", "ringSize")


def _recorded(randomness: bytes) -> bytes | None:
    """The contract's zero word means "not recorded yet" (a block hash is never zero)."""
    return None if int.from_bytes(randomness, "big") == 0 else bytes(randomness)


def deploy_rollup_contract(chain: Chain, deployer: LocalAccount, *, sequencer: str, verifier: str,
                           bridge: str, genesis_root: int, batch_size: int, max_transfers: int,
                           entries: int, genesis_accounts: bytes = b"",
                           force_delay: int = FORCE_DELAY, escape_delay: int = ESCAPE_DELAY,
                           ring_size: int = RING_SIZE) -> Rollup:
    """Deploy a Rollup over an already deployed batch verifier. `max_transfers` and `entries`
    are the circuit profile's slots and entries; `bridge` the one account that appends to the
    queue; `genesis_accounts` is emitted as is (`Genesis`), for `l2 rebuild`."""
    config = (to_checksum_address(sequencer), to_checksum_address(verifier),
              to_checksum_address(bridge), batch_size, max_transfers, entries, force_delay,
              escape_delay, ring_size)
    try:
        contract = chain.deploy(deployer, load_artifact("Rollup"), config, genesis_root,
                                bytes(genesis_accounts))
    except TransactionFailed as exc:
        raise explain_rollup(exc) from exc
    return Rollup(chain, contract.address)


def deploy_bridged_rollup(chain: Chain, deployer: LocalAccount, *, sequencer: str, verifier: str,
                          genesis_root: int, batch_size: int, max_transfers: int, entries: int,
                          l2_chain_id: int, depth: int, token: str | None = None,
                          genesis_backing: int = 0, **options) -> Rollup:
    """Deploy a Rollup over the batch verifier at `verifier` and its Bridge (for the L2 of
    `l2_chain_id` with a tree of `depth`, holding `token`: None deploys a devnet RollupToken
    that `deployer` mints), `options` being deploy_rollup_contract's.

    The Rollup and the Bridge each name the other in their code, so the Rollup is deployed
    with the address the Bridge will have: the deployer's next creation after it.
    `genesis_backing` tokens (the genesis balances' total) are minted to the Bridge, so that
    every L2 balance, genesis ones included, is backed by tokens an exit can pay."""
    support = deploy_bridge_support(chain, deployer, token=token)
    nonce = chain.w3.eth.get_transaction_count(deployer.address, "pending")
    bridge = get_create_address(deployer.address, nonce + 1)
    rollup = deploy_rollup_contract(chain, deployer, sequencer=sequencer, verifier=verifier,
                                    bridge=bridge, genesis_root=genesis_root,
                                    batch_size=batch_size, max_transfers=max_transfers,
                                    entries=entries, **options)
    deployed = deploy_bridge(chain, deployer, support, rollup=rollup.address,
                             l2_chain_id=l2_chain_id, depth=depth)
    if deployed != bridge:
        raise UnknownDeployment(f"the Bridge was deployed at {deployed}, not at {bridge} where "
                                "the Rollup expects it: another transaction of the deployer "
                                "came between the two; deploy again")
    if genesis_backing:
        token_contract = chain.w3.eth.contract(support.token, abi=load_artifact("RollupToken")["abi"])
        chain.transact(deployer, token_contract.functions.mint(bridge, genesis_backing))
    return rollup


def deploy_rollup(chain: Chain, deployer: LocalAccount, *, vk: VerificationKey,
                  bridge: str | None = None, **options) -> Rollup:
    """Deploy the batch verifier generated for the block circuit's key `vk`, then the Rollup
    over it with its Bridge (`deploy_bridged_rollup`, whose arguments `options` are), or with
    the account `bridge` standing in for one (`deploy_rollup_contract`'s arguments: tests and
    benchmarks that enqueue themselves); `Rollup.deployment()` gives the entry for the
    deployment file."""
    verifier = deploy_batch_verifier(chain, deployer, vk, "RollupBatchVerifier")
    if bridge is not None:
        return deploy_rollup_contract(chain, deployer, verifier=verifier.address, bridge=bridge,
                                      **options)
    return deploy_bridged_rollup(chain, deployer, verifier=verifier.address, **options)


def attach_rollup(chain: Chain, deployer: LocalAccount, deployment: Deployment, *, sequencer: str,
                  vk: VerificationKey, genesis_root: int, batch_size: int,
                  max_transfers: int, entries: int, **options) -> Deployment:
    """Deploy a Rollup for the market of `deployment` (as `deploy_rollup`) and the single-proof
    verifier of the same key, and add both to its staking contract (`addRollup`: settlement, the
    rollup's reward pool and slashing); return `deployment` naming the rollup and that verifier.
    `deployer` must be the account that deployed the staking contract: only it adds rollups.
    Coordinators are registered afterwards, bound to the rollup (`Market.register_coordinator`)."""
    rollup = deploy_rollup(chain, deployer, sequencer=sequencer, vk=vk,
                           genesis_root=genesis_root, batch_size=batch_size,
                           max_transfers=max_transfers, entries=entries, **options)
    block_verifier = deploy_verifier(chain, deployer, vk, "RollupBlockVerifier")
    Market(chain, deployment).add_rollup(deployer, rollup.address, block_verifier.address)
    return replace(deployment, rollup=replace(rollup.deployment(),
                                              block_verifier=block_verifier.address))
