"""The simulation's ledger against the real contracts: a small run (honest, lazy, invalid and
copycat rollers, three batches) is replayed on the embedded chain, operation by operation from
the run's L1 journal: the same stakes and reward pool, roster snapshots, the Rollup's commits and
finalizations (naming each block's prover), the coordinator's settlements with their draw proofs,
the lottery draws and the slashing evidence, for blocks and for aggregates. Every stake,
reputation, claimable balance, wallet, pool and the token supply the contracts end with must be
the simulation's.

How the replay stands in for what it cannot reproduce, and what it leaves out:

- Blocks are committed with the data the journal's commits post (`simulation.l1.block_records`,
  on a Rollup of the simulation's SLOTS and ENTRIES), so the chain's statements are the
  simulation's: the contract refuses evidence under any other statement (`StaleStatement`), so
  each slash checks it. A run with reverts is not replayed (there is no `Revert` case).
- Batches are finalized against `BatchVerifierStub`, told each time to expect the batch's inputs
  with the deployer as every block's prover (the ledger does not read who proved).
- A block's invalid proof is signed by the simulated roller's own key; it has a coordinate not
  below q, which the rollup's real Groth16 verifier refuses before any pairing. An invalid
  aggregate is signed over junk points naming the roller as every block's prover: the Rollup's
  batch verifier is the stub, which refuses every input but the last finalized batch's, as a
  real verifier refuses junk. The pairing itself is not exercised here (test_slashing.py does).
- Lottery mode: the chain draws from an L1 block hash, the simulation from its own generator, so
  the winners differ. The contract's payouts are compared with the simulation's after moving
  each block's R_BLOCK from the simulation's winner to the winner `rules.lottery_winner` names
  under the chain's randomness (`LotteryDrawn`); everything else must match as it is.
- Block randomness is the chain's: the replay runs beside the simulation, and when the run
  commits a block it applies the journal so far, mines the randomness block and records it on
  chain, and the run draws under that (`L1.randomness_source`). So every settlement's draw
  proofs must pass the contract's checks (snapshot, Merkle path, slots under the seed).
- The chain keeps no wall clock (`FixedClockChain`): its block hashes, the run's randomness, are
  the same on every run of one build, so the run is. They change with every transaction's bytes,
  the deployed contracts' bytecode included, so no figure of the run is pinned: the scenario
  makes what the comparison needs near-certain under any randomness (`SCENARIO`).
"""

from __future__ import annotations

import pytest
from eth_account import Account
from eth_tester.backends.pyevm.main import get_default_genesis_params
from eth_utils import keccak
from py_ecc import optimized_bn128 as bn
from web3.logs import DISCARD

from market_contracts.bindings import Market, slash_gas
from market_contracts.chain import EmbeddedChain
from market_contracts.compile import load_artifact
from market_contracts.deploy import deploy_market
from market_contracts.rollup import deploy_rollup_contract
from market_contracts.rules import RewardMode, TaskKind, first_block_of, lottery_winner
from market_contracts.submissions import SlashEvidence
from market_contracts.verifiers import deploy_verifier
from simulation.engine import Simulation
from simulation.l1 import (
    COORDINATOR,
    COORDINATOR_KEY,
    ENTRIES,
    FUNDER_KEY,
    SLOTS,
    Commit,
    DrawLottery,
    FinalizeBatch,
    Fund,
    SettleBatch,
    SlashProof,
    SnapshotRoster,
    Stake,
    roller_key,
)
from simulation.scenario import parse_scenario
from zkp.aggregate import AggregateProof
from zkp.field import Q
from zkp.proof import Proof, VerificationKey
from zkp.system import system

ETH = 10**18
#: The run's seed. It steers the rollers, not the draws: those follow the chain's block hashes.
SEED = 5
#: What the comparison needs (`simulate` checks it) comes from the scenario, not from a lucky
#: history: the first roster snapshot is in force for blocks 1-28 (slots every 2 s; the next
#: snapshot is due 57 s on), and in it the invalid roller holds 9000 of 15,400 weight (every
#: reputation is REP_INIT), lazy and copycat 1500 each. So a slashed invalid roller stays
#: drawable for the aggregations of batches 0-6 (each draws from its last block's roster), each
#: round of one draws it with p = 0.58, and one drawn lazy or copycat brings another round: each
#: of those 7 batches gives an aggregate slash with p ~ 0.75 (0.70 to 0.82 per batch measured
#: over 300 simulated seeds), so none does with p ~ 0.25^7 = 6e-5. Blocks 1-28 draw at least 56
#: slots (about 2 rounds a block, as the invalid, lazy and copycat rollers leave rounds
#: unproven): no block slash has p < 0.42^56, no lazy (missed) or copycat slot p < 0.903^56 =
#: 3e-3 for 56 slots, about 1e-5 for the ~110 drawn. In 600 simulated runs (300 seeds in
#: each mode) every check held; over 300 more the fewest aggregate slashes were 2, missed
#: records 11. The second snapshot needs only the roster to change by slot 29, which the first
#: slash does.
#: Failure: under 1 in 10,000 runs. 40 blocks keep the replay near 15 s per mode.
SCENARIO = {
    "blocks": 40,
    "snapshot_interval": 57,
    # more than 40 blocks and 10 batches can pay, so no credit is cut short (see `simulate`)
    "reward_pool": 1000,
    "rollers": [
        {"behaviour": "honest", "count": 3, "profile": "gpu-h100"},
        {"behaviour": "honest", "count": 1, "profile": "gpu-4090", "stake": 400},
        {"behaviour": "lazy", "stake": 1500},
        {"behaviour": "invalid", "stake": 9000},
        {"behaviour": "copycat", "stake": 1500},
    ],
}
#: The replay's escape delay: py-evm estimates gas in a child of the pending block stamped with
#: the wall clock (`in_costless_state`), years after GENESIS_TIME, so the week's default would
#: freeze the rollup in every estimate; the simulation has no escape hatch to compare.
NEVER_FROZEN = 1_000 * 365 * 24 * 3600
#: The fixed clock: the genesis block's timestamp and the seconds between blocks (the embedded
#: chain's own step, so its snapshots stay well within SNAPSHOT_MAX_AGE as the run's do). Any
#: genesis does: this one is not searched for.
GENESIS_TIME = 1_700_000_000
BLOCK_TIME = 1
#: Refused by the verifier before any pairing: a coordinate not below q.
INVALID_PROOF = Proof(a=(Q, 0), b=((0, 0), (0, 0)), c=(0, 0))
GROTH16 = system("groth16")


def junk_aggregate(k: int) -> AggregateProof:
    return AggregateProof(a=((1, 2),) * k, b=(((1, 2), (3, 4)),) * k, c=(1, 2))


def any_key() -> VerificationKey:
    """A key of four public inputs, as the block circuit's; its points do not matter here."""
    x, y = bn.normalize(bn.G2)
    g1, g2 = (1, 2), (tuple(x.coeffs), tuple(y.coeffs))
    return VerificationKey(g1, g2, g2, g2, (g1,) * 5)


def simulate(mode: RewardMode, seed: int = SEED):
    """The run, with the chain replaying it as it goes (its randomness is the chain's)."""
    scenario = parse_scenario({**SCENARIO, "seed": seed, "market": {"k": 4, "reward_mode": mode.name.lower()}})
    replay = ChainReplay(scenario.params, sum(group.count for group in scenario.rollers))
    simulation = Simulation(scenario, chain_id=replay.chain.chain_id,
                            rollup=replay.rollup.address)
    simulation.l1.randomness_source = lambda n: replay.randomness(simulation.l1.journal, n)
    result = simulation.run()
    replay.catch_up(result.l1.journal)
    journal = result.l1.journal
    # The run must exercise what is being compared.
    assert result.metrics["liveness"]["reverts"] == 0
    assert {e.kind for e in journal if isinstance(e, SlashProof)} == set(TaskKind)
    outcomes = {o.outcome.name for e in journal if isinstance(e, SettleBatch) for o in e.outcomes}
    assert {"ON_TIME", "MISSED"} <= outcomes
    assert any(isinstance(e, DrawLottery) for e in journal) == (mode is RewardMode.LOTTERY)
    # Every credit was paid in full (a short pool stays empty, nothing refunds it), so moving a
    # lottery's R_BLOCK between winners moves exactly R_BLOCK.
    assert result.l1.ledger.reward_pool(replay.rollup.address) > 0
    assert sum(isinstance(e, SnapshotRoster) for e in journal) > 1
    return result, replay


class FixedClockChain(EmbeddedChain):
    """The embedded chain with nothing left to chance in its block headers, so that its block
    hashes are the same on every run: the genesis at GENESIS_TIME (eth-tester takes the wall
    clock), every block, deployments included, BLOCK_TIME after the one before (py-evm takes the
    later of the wall clock and the parent's time + 1), and each block's prevrandao the hash of
    its number (`EmbeddedChain` draws it at random)."""

    def __init__(self):
        super().__init__()
        backend = self._tester.backend
        backend.reset_to_genesis(get_default_genesis_params({"timestamp": GENESIS_TIME}))

        def draw_prevrandao():
            header = backend.chain.header
            backend.chain.header = header.copy(mix_hash=keccak(header.block_number.to_bytes(32, "big")))

        backend.draw_prevrandao = draw_prevrandao
        draw_prevrandao()

    def _tick(self) -> None:
        self._set_next_block_timestamp(self.latest_timestamp() + BLOCK_TIME)

    def _transact(self, *args):  # every transaction: calls, deployments, transfers
        self._tick()
        return super()._transact(*args)

    def _mine(self) -> None:
        self._tick()
        super()._mine()


class ChainReplay:
    """A market serving one Rollup on a fresh embedded chain, driven by a simulation's journal."""

    def __init__(self, params, rollers: int):
        self.params = params
        self.chain = chain = FixedClockChain()
        self.owner = owner = chain.dev_accounts[0]
        self.market = Market(chain, deploy_market(chain, owner, self.params))
        self.stub = chain.deploy(owner, load_artifact("BatchVerifierStub"))
        self.rollup = deploy_rollup_contract(
            chain, owner, sequencer=owner.address, verifier=self.stub.address,
            bridge=owner.address, genesis_root=0, batch_size=self.params.k, max_transfers=SLOTS,
            entries=ENTRIES, escape_delay=NEVER_FROZEN)
        self.market.add_rollup(owner, self.rollup.address,
                               deploy_verifier(chain, owner, any_key()).address)
        self.coordinator = Account.from_key(COORDINATOR_KEY)
        self.funder = Account.from_key(FUNDER_KEY)
        self.rollers = {account.address: account for account in (
            Account.from_key(roller_key(i)) for i in range(rollers))}
        for account in (self.coordinator, self.funder, *self.rollers.values()):
            chain.send_eth(owner, account.address, ETH)
        assert self.coordinator.address == COORDINATOR
        self.market.register_coordinator(owner, COORDINATOR, b"simulation", "replay",
                                         self.rollup.address)
        self.supply_before = self.market.token_supply()
        self.minted = 0
        #: the randomness each lottery was drawn with on chain, by batch
        self.lottery_randomness: dict[int, bytes] = {}
        #: journal entries applied so far
        self.applied = 0

    def catch_up(self, journal) -> None:
        for entry in journal[self.applied:]:
            self.apply(entry)
        self.applied = len(journal)

    def randomness(self, journal, n: int) -> bytes:
        """Block `n`'s randomness on chain, its commit being the journal's last entry."""
        self.catch_up(journal)
        self.chain.mine()  # the randomness block: the hash of the block after the commit
        return self.rollup.record_randomness(self.owner, n)

    def apply(self, entry) -> None:
        market, owner, rollup = self.market, self.owner, self.rollup
        match entry:
            case Fund(amount):
                market.mint(owner, self.funder.address, amount)
                market.fund_rewards(self.funder, amount, rollup.address)
                self.minted += amount
            case Stake(roller, amount):
                market.mint(owner, roller, amount)
                market.stake(self.rollers[roller], amount)
                self.minted += amount
            case Commit(block, old_root, new_root, data):
                assert rollup.last_committed() == block - 1
                assert rollup.block(block - 1).new_root == old_root
                rollup.commit_block(owner, new_root, data)
            case SnapshotRoster():
                market.snapshot_roster(owner)
            case FinalizeBatch(batch, provers):
                first = first_block_of(batch, self.params.k)
                self.chain.transact(owner, self.stub.functions.expect(
                    rollup.batch_inputs(first, list(provers))))
                rollup.finalize_batch(owner, first, list(provers), junk_aggregate(self.params.k))
            case SettleBatch(coordinator, batch, outcomes, draws):
                assert coordinator == COORDINATOR
                market.settle(self.coordinator, batch, list(outcomes), list(draws))
            case DrawLottery(batch, entries, _):
                target = market.pending_lottery(rollup.address, batch).target_block
                while self.chain.w3.eth.block_number < target:  # the draw's block must follow it
                    self.chain.mine()
                receipt = market.draw_lottery(self.coordinator, rollup.address, batch,
                                              list(entries))
                (drawn,) = market.staking.events.LotteryDrawn().process_receipt(
                    receipt, errors=DISCARD)
                self.lottery_randomness[batch] = bytes(drawn["args"]["randomness"])
            case SlashProof(roller, TaskKind.BLOCK, index, round_, statement):
                self.slash(SlashEvidence.signed(
                    self.rollers[roller], chain_id=self.chain.chain_id, rollup=rollup.address,
                    staking=market.staking.address, index=index, round_=round_,
                    statement=statement, proof=GROTH16.seal(INVALID_PROOF)))
            case SlashProof(roller, TaskKind.AGGREGATION, index, round_, statement):
                self.slash(SlashEvidence.signed_aggregate(
                    self.rollers[roller], chain_id=self.chain.chain_id, rollup=rollup.address,
                    staking=market.staking.address, index=index, round_=round_,
                    statement=statement, provers=[roller] * self.params.k,
                    aggregate=GROTH16.seal_aggregate(junk_aggregate(self.params.k))))
            case _:
                raise AssertionError(f"the replay does not cover {entry}")

    def slash(self, evidence: SlashEvidence) -> None:
        self.market.slash_invalid_proof(self.coordinator, evidence, gas=slash_gas(evidence))


def claimable_under_chain_randomness(ledger, journal, chain_randomness: dict[int, bytes]):
    """The simulation's claimable balances with each lottery's R_BLOCK per block moved from the
    winner under the simulation's randomness to the winner under the chain's."""
    claimable = dict(ledger.claimable)
    prize = ledger.params.r_block
    for entry in journal:
        if not isinstance(entry, DrawLottery):
            continue
        by_block: dict[int, list[tuple[str, int]]] = {}
        for block, roller, slots in entry.entries:
            by_block.setdefault(block, []).append((roller, slots))
        for block, tickets in by_block.items():
            claimable[lottery_winner(entry.randomness, block, tickets)] -= prize
            winner = lottery_winner(chain_randomness[entry.batch], block, tickets)
            claimable[winner] = claimable.get(winner, 0) + prize
    return claimable


@pytest.mark.parametrize("mode", [RewardMode.SPLIT, RewardMode.LOTTERY], ids=lambda mode: mode.name.lower())
def test_contracts_end_where_the_simulated_ledger_ends(mode):
    result, replay = simulate(mode)
    ledger, journal = result.l1.ledger, result.l1.journal
    market = replay.market
    expected_claimable = claimable_under_chain_randomness(ledger, journal,
                                                          replay.lottery_randomness)
    for address in replay.rollers:
        info, model = market.roller_info(address), ledger.roller(address)
        assert (info.active, info.unbonding, info.rep, info.registered) == (
            model.active, model.unbonding_total, model.rep, model.registered), address
        assert info.claimable == expected_claimable.get(address, 0), address
        assert market.token_balance(address) == ledger.wallets.get(address, 0), address
    # the coordinator sent every piece of evidence and holds the reporter's shares
    assert market.token_balance(COORDINATOR) == ledger.wallets.get(COORDINATOR, 0) > 0
    assert market.roster() == ledger.roster()
    assert market.reward_pool(replay.rollup.address) == ledger.reward_pool(replay.rollup.address)
    assert market.totals() == {"active": ledger.total_active,
                               "unbonding": ledger.total_unbonding,
                               "reward_pool": ledger.total_reward_pool,
                               "claimable": ledger.total_claimable}
    assert market.token_supply() == replay.supply_before + replay.minted - ledger.burned
    settled = [e.batch for e in journal if isinstance(e, SettleBatch)]
    assert settled and all(market.batch_settled(replay.rollup.address, b) for b in settled)
    assert all(market.pending_lottery(replay.rollup.address, b) is None for b in settled)
    # and the simulation's per-strategy figures are the ledger's
    strategies = result.metrics["strategies"]
    assert strategies["invalid"]["slashed"] > 0 and strategies["invalid"]["roi"] < 0
    assert strategies["copycat"]["slashed"] > 0
    assert strategies["honest"]["rewards"] > 0
