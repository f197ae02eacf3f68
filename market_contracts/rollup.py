"""Typed bindings of the Rollup contract (`contracts/Rollup.sol`), and its deployment.

Reads return dataclasses; writes sign locally, wait for the receipt, and turn the contract's
refusals into `RollupRejected` with a one-line message (`explain_rollup`).
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
from web3.types import TxReceipt

from market_contracts.bindings import Market
from market_contracts.chain import Chain
from market_contracts.compile import POSEIDON_CONTRACT, load_artifact
from market_contracts.deploy import Deployment, RollupDeployment
from market_contracts.errors import RollupRejected, TransactionFailed, UnknownDeployment
from market_contracts.submissions import block_statement
from market_contracts.verifiers import deploy_batch_verifier, deploy_verifier
from zkp.aggregate import AggregateProof
from zkp.evm import g1_words, g2_words
from zkp.proof import VerificationKey


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
    "WrongOldRoot": lambda given, expected:
        f"the block starts from root {given:#x}, but the last committed block ends at "
        f"{expected:#x}: build it on the rollup's current state",
    "NotAFieldElement": lambda value:
        f"{value:#x} is not a field element: roots and posted elements are below the BN254 "
        "scalar field modulus",
    "OddDataLength": lambda length:
        f"{length} posted elements: a block posts two per transfer",
    "TooManyTransfers": lambda transfers, most:
        f"{transfers} transfers in one block; the rollup takes at most {most}",
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

    def commit_block(self, sequencer: LocalAccount, old_root: int, new_root: int,
                     data: Sequence[int]) -> CommittedBlock:
        """Commit the next block: `data` is its posted elements (`sequencer.transactions.block_data`)."""
        receipt = self._send(sequencer, self.contract.functions.commitBlock(old_root, new_root, list(data)))
        (event,) = self.contract.events.BlockCommitted().process_receipt(receipt, errors=DISCARD)
        return committed_from_event(event["args"])

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
        return self._call(self.contract.functions.maxTransfers())

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
        standing: dict[int, CommittedBlock] = {}
        for log in sorted(logs, key=lambda log: (log["blockNumber"], log["logIndex"])):
            if log["event"] == "BlockCommitted":
                standing[log["args"]["blockNumber"]] = committed_from_event(log["args"])
            else:
                standing = {n: b for n, b in standing.items() if n < log["args"]["fromBlock"]}
        return [standing[n] for n in sorted(standing)]

    def is_this_release(self) -> bool:
        """Whether the code at this address is this release's Rollup contract, made with the
        parameters it reports: what our creation code returns, run (eth_call, nothing mined) with
        its sequencer, verifier, Poseidon, batch size and maximum transfers, which are code
        (immutables); the genesis root is storage, so any root gives the same code.

        Anything else behind the Rollup's ABI (a proxy, a fork) may answer `statement` and
        `publicInputs` apart, or change them after a roller signed for them: then a valid
        proof would be judged against other inputs and slashed. A roller serving a rollup it
        did not deploy (the staking contract's deployer adds them) checks this first."""
        functions = self.contract.functions
        try:
            parameters = (self.sequencer(), self._call(functions.verifier()),
                          self._call(functions.poseidon()), 0, self.batch_size(),
                          self.max_transfers())
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
            poseidon=self._call(self.contract.functions.poseidon()),
            block=self.block(0).l1_block,
        )


def committed_from_event(args) -> CommittedBlock:
    """A `BlockCommitted` event's block; its randomness is None (recorded later, by
    `recordRandomness`)."""
    return CommittedBlock(args["blockNumber"], args["oldRoot"], args["newRoot"], args["dataHash"],
                          None, args["l1Block"], args["timestamp"], BlockStatus.COMMITTED,
                          roster_block=args["rosterBlock"],
                          randomness_block=args["randomnessBlock"])


def _recorded(randomness: bytes) -> bytes | None:
    """The contract's zero word means "not recorded yet" (a block hash is never zero)."""
    return None if int.from_bytes(randomness, "big") == 0 else bytes(randomness)


def deploy_poseidon(chain: Chain, deployer: LocalAccount) -> str:
    """Deploy circomlibjs's Poseidon(3) contract; return its address."""
    return chain.deploy(deployer, load_artifact(POSEIDON_CONTRACT)).address


def deploy_rollup_contract(chain: Chain, deployer: LocalAccount, *, sequencer: str, verifier: str,
                           poseidon: str, genesis_root: int, batch_size: int,
                           max_transfers: int) -> Rollup:
    """Deploy a Rollup over an already deployed batch verifier and Poseidon."""
    try:
        contract = chain.deploy(deployer, load_artifact("Rollup"), to_checksum_address(sequencer),
                                to_checksum_address(verifier), to_checksum_address(poseidon),
                                genesis_root, batch_size, max_transfers)
    except TransactionFailed as exc:
        raise explain_rollup(exc) from exc
    return Rollup(chain, contract.address)


def deploy_rollup(chain: Chain, deployer: LocalAccount, *, sequencer: str, vk: VerificationKey,
                  genesis_root: int, batch_size: int, max_transfers: int) -> Rollup:
    """Deploy Poseidon, the batch verifier generated for the block circuit's key `vk`, and the
    Rollup over them; `Rollup.deployment()` gives the entry for the deployment file."""
    poseidon = deploy_poseidon(chain, deployer)
    verifier = deploy_batch_verifier(chain, deployer, vk, "RollupBatchVerifier")
    return deploy_rollup_contract(chain, deployer, sequencer=sequencer, verifier=verifier.address,
                                  poseidon=poseidon, genesis_root=genesis_root,
                                  batch_size=batch_size, max_transfers=max_transfers)


def attach_rollup(chain: Chain, deployer: LocalAccount, deployment: Deployment, *, sequencer: str,
                  vk: VerificationKey, genesis_root: int, batch_size: int,
                  max_transfers: int) -> Deployment:
    """Deploy a Rollup for the market of `deployment` (as `deploy_rollup`) and the single-proof
    verifier of the same key, and add both to its staking contract (`addRollup`: settlement, the
    rollup's reward pool and slashing); return `deployment` naming the rollup and that verifier.
    `deployer` must be the account that deployed the staking contract: only it adds rollups.
    Coordinators are registered afterwards, bound to the rollup (`Market.register_coordinator`)."""
    rollup = deploy_rollup(chain, deployer, sequencer=sequencer, vk=vk, genesis_root=genesis_root,
                           batch_size=batch_size, max_transfers=max_transfers)
    block_verifier = deploy_verifier(chain, deployer, vk, "RollupBlockVerifier")
    Market(chain, deployment).add_rollup(deployer, rollup.address, block_verifier.address)
    return replace(deployment, rollup=replace(rollup.deployment(),
                                              block_verifier=block_verifier.address))
