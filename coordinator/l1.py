"""What the coordinator learns from L1 and what it sends there.

L1 is the source of truth: blocks to prove come from `Rollup.BlockCommitted` (v2: each with the
`rosterBlock` and `randomnessBlock` pinned at its first commit); reverts, finalizations and the
settlements of this coordinator's Rollup come from their events too, so a finalization or a
settlement sent before a crash is learnt again from the chain rather than remembered.

A block is drawn only once its randomness is recorded (market-spec.md, "Randomness and the roster
of a block"): `draw_inputs` records it (anyone may, and the coordinator does as soon as L1 is past
`randomnessBlock`) and reads the roster at `rosterBlock`. Everything here blocks (web3); the
service runs it in worker threads.
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address

from market_contracts.bindings import Market, slash_gas
from market_contracts.chain import Chain, EmbeddedChain
from market_contracts.errors import TransactionFailed
from market_contracts.ledger import OutcomeReport
from market_contracts.rollup import CommittedBlock, Rollup, committed_from_event
from market_contracts.submissions import SlashEvidence, block_statement
from zkp.aggregate import AggregateProof

#: the embedded chain's gas estimate reruns the pairing check at every step of its binary
#: search; these limits cover a finalization of up to 16 proofs and one slash
EMBEDDED_FINALIZE_GAS = 3_000_000
#: L1 blocks scanned per get_logs request, under common providers' range limits
LOG_RANGE = 2_000


@dataclass(frozen=True)
class Committed:
    block: CommittedBlock
    #: `Rollup.statement(n)` of this commit, computed from the event (a later recommit of the
    #: same number has another)
    statement: bytes


@dataclass(frozen=True)
class Reverted:
    from_block: int


@dataclass(frozen=True)
class Finalized:
    batch: int


@dataclass(frozen=True)
class Settled:
    batch: int


Fact = Committed | Reverted | Finalized | Settled


@dataclass(frozen=True)
class DrawInputs:
    """What the core draws a block from: its recorded randomness and its roster."""

    randomness: bytes
    roster: tuple[tuple[str, int], ...]


class CoordinatorL1:
    def __init__(self, chain: Chain, market: Market, rollup: Rollup, account: LocalAccount):
        self.chain = chain
        self.market = market
        self.rollup = rollup
        self.account = account
        self.batch_size = rollup.batch_size()

    # ------------------------------------------------------------------ reading

    def head(self) -> int:
        return self.chain.w3.eth.block_number

    def scan(self, from_block: int, to_block: int) -> list[Fact]:
        """The facts of L1 blocks from_block..to_block, in chain order."""
        logs = []
        rollup_events = self.rollup.contract.events
        for start in range(from_block, to_block + 1, LOG_RANGE):
            end = min(to_block, start + LOG_RANGE - 1)
            logs += rollup_events.BlockCommitted().get_logs(from_block=start, to_block=end)
            logs += rollup_events.BlocksReverted().get_logs(from_block=start, to_block=end)
            logs += rollup_events.BatchFinalized().get_logs(from_block=start, to_block=end)
            # Any coordinator bound to this Rollup may settle its batches (once per batch).
            logs += self.market.staking.events.BatchSettled().get_logs(
                from_block=start, to_block=end,
                argument_filters={"rollup": self.rollup.address})
        facts: list[Fact] = []
        for log in sorted(logs, key=lambda log: (log["blockNumber"], log["logIndex"])):
            args = log["args"]
            if log["event"] == "BlockCommitted":
                block = committed_from_event(args)
                facts.append(Committed(block, block_statement(
                    block.number, block.old_root, block.new_root, block.data_hash)))
            elif log["event"] == "BlocksReverted":
                facts.append(Reverted(args["fromBlock"]))
            elif log["event"] == "BatchFinalized":
                facts.append(Finalized((args["firstBlock"] - 1) // self.batch_size))
            else:
                facts.append(Settled(args["batch"]))
        return facts

    def draw_inputs(self, block: CommittedBlock) -> DrawInputs | None:
        """Block `block`'s randomness (recorded now if nobody has yet) and its roster at its
        roster block; None while L1 is not past its randomness block."""
        randomness = self.rollup.randomness(block.number)
        if randomness is None:
            if self.head() <= block.randomness_block:
                return None
            randomness = self.rollup.record_randomness(self.account, block.number)
        return DrawInputs(bytes(randomness), tuple(self.market.roster(block=block.roster_block)))

    def public_inputs(self, block: int, prover: str) -> list[int]:
        return self.rollup.public_inputs(block, to_checksum_address(prover))

    def statement(self, block: int) -> bytes:
        """L1's current statement of a block; reverts BlockNotCommitted for one reverted."""
        return self.rollup.statement(block)

    def batch_statement(self, batch: int) -> bytes:
        return self.rollup.batch_statement(batch)

    def weight(self, roller: str) -> int:
        return self.chain.call(self.market.staking.functions.weightOf(to_checksum_address(roller)))

    def last_finalized(self) -> int:
        return self.rollup.last_finalized()

    # ------------------------------------------------------------------ writing

    def finalize(self, first_block: int, provers: tuple[str, ...], aggregate: AggregateProof) -> None:
        """Finalize the batch; a batch L1 has finalized already (a resend after a crash) is done."""
        gas = EMBEDDED_FINALIZE_GAS if isinstance(self.chain, EmbeddedChain) else None
        try:
            self.rollup.finalize_batch(self.account, first_block, provers, aggregate, gas=gas)
        except TransactionFailed:
            if self.rollup.last_finalized() < first_block + self.batch_size - 1:
                raise

    def settle(self, batch: int, outcomes: tuple[OutcomeReport, ...]) -> None:
        try:
            self.market.settle(self.account, batch, list(outcomes))
        except TransactionFailed as error:
            if error.reason != "BatchAlreadySettled":
                raise

    def lottery_due(self, batch: int) -> bool:
        """Whether the batch's lottery can be drawn (L1 is past its target block) or was drawn."""
        pending = self.market.pending_lottery(self.rollup.address, batch)
        return pending is None or self.head() > pending.target_block

    def draw_lottery(self, batch: int, entries: tuple[tuple[int, str, int], ...]) -> None:
        """Draw the batch's lottery; one drawn already (by anyone: a resend after a crash) is
        done."""
        try:
            self.market.draw_lottery(self.account, self.rollup.address, batch, list(entries))
        except TransactionFailed:
            if self.market.pending_lottery(self.rollup.address, batch) is not None:
                raise

    def slash(self, evidence: SlashEvidence) -> None:
        gas = slash_gas(evidence) if isinstance(self.chain, EmbeddedChain) else None
        try:
            self.market.slash_invalid_proof(self.account, evidence, gas=gas)
        except TransactionFailed as error:
            if error.reason != "AlreadySlashed":
                raise
