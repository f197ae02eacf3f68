"""What the coordinator learns from L1 and what it sends there.

L1 is the source of truth: blocks to prove come from `Rollup.BlockCommitted`, each with the
roster read at the L1 block of its commit (market-spec, "Weight"); reverts, finalizations and
this coordinator's settlements come from their events too, so a finalization or a settlement
the coordinator sent before a crash is learnt again from the chain rather than remembered.
Everything here blocks (web3); the service runs it in worker threads.
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address

from market_contracts.bindings import SLASH_GAS, Market
from market_contracts.chain import Chain, EmbeddedChain
from market_contracts.errors import TransactionFailed
from market_contracts.ledger import OutcomeReport
from market_contracts.rollup import CommittedBlock, Rollup, committed_from_event
from market_contracts.submissions import SlashEvidence
from zkp.aggregate import AggregateProof

#: the embedded chain's gas estimate reruns the pairing check at every step of its binary
#: search; these limits cover a finalization of up to 16 proofs and one slash
EMBEDDED_FINALIZE_GAS = 3_000_000
#: L1 blocks scanned per get_logs request, under common providers' range limits
LOG_RANGE = 2_000


@dataclass(frozen=True)
class Committed:
    block: CommittedBlock
    roster: tuple[tuple[str, int], ...]


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
            logs += self.market.staking.events.BatchSettled().get_logs(
                from_block=start, to_block=end,
                argument_filters={"coordinator": self.account.address})
        facts: list[Fact] = []
        for log in sorted(logs, key=lambda log: (log["blockNumber"], log["logIndex"])):
            args = log["args"]
            if log["event"] == "BlockCommitted":
                block = committed_from_event(args)
                roster = tuple(self.market.roster(block=block.l1_block))
                facts.append(Committed(block, roster))
            elif log["event"] == "BlocksReverted":
                facts.append(Reverted(args["fromBlock"]))
            elif log["event"] == "BatchFinalized":
                facts.append(Finalized((args["firstBlock"] - 1) // self.batch_size))
            else:
                facts.append(Settled(args["batch"]))
        return facts

    def public_inputs(self, block: int, prover: str) -> list[int]:
        return self.rollup.public_inputs(block, to_checksum_address(prover))

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

    def slash(self, evidence: SlashEvidence) -> None:
        gas = SLASH_GAS if isinstance(self.chain, EmbeddedChain) else None
        try:
            self.market.slash_invalid_proof(self.account, evidence, gas=gas)
        except TransactionFailed as error:
            if error.reason != "AlreadySlashed":
                raise
