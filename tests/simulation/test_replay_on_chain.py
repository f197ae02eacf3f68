"""The simulation's ledger against the real contracts: a small run (honest, lazy, invalid and
copycat rollers, three batches) is replayed on the embedded chain, operation by operation from
the run's journal: the same stakes, the coordinator's settlements and its slashing evidence. Every
balance and reputation the contracts end with must be the simulation's.

Slashing needs a Rollup holding the blocks: the run's blocks are committed there (no data, so
their data hash is 0), and each invalid proof is signed by the simulated roller's own key. The
signed proof has a coordinate not below q, which the verifier refuses before any pairing, so a
slash costs no pairing check on the embedded chain (as in test_ledger_vs_contract.py).
"""

from __future__ import annotations

import pytest
from eth_account import Account
from py_ecc import optimized_bn128 as bn

from market_contracts.bindings import Market
from market_contracts.chain import EmbeddedChain
from market_contracts.compile import load_artifact
from market_contracts.deploy import deploy_market
from market_contracts.rollup import deploy_poseidon, deploy_rollup_contract
from market_contracts.submissions import SlashEvidence
from market_contracts.verifiers import deploy_verifier
from simulation.engine import Simulation
from simulation.l1 import (
    COORDINATOR,
    COORDINATOR_KEY,
    FUNDER_KEY,
    Fund,
    SettleBatch,
    SlashProof,
    Stake,
    roller_key,
)
from simulation.scenario import parse_scenario
from zkp.field import Q
from zkp.proof import Proof, VerificationKey

ETH = 10**18
SCENARIO = {
    "seed": 5,
    "blocks": 12,
    "market": {"k": 4},
    "rollers": [
        {"behaviour": "honest", "count": 3, "profile": "gpu-h100"},
        {"behaviour": "honest", "count": 1, "profile": "gpu-4090", "stake": 400},
        {"behaviour": "lazy"},
        {"behaviour": "invalid", "stake": 700},
        {"behaviour": "copycat", "stake": 300},
    ],
}
#: Refused by the verifier before any pairing: a coordinate not below q.
INVALID_PROOF = Proof(a=(Q, 0), b=((0, 0), (0, 0)), c=(0, 0))


def roots(block: int) -> tuple[int, int]:
    """The (old, new) state roots block `block` is committed with: a chain of distinct roots."""
    return 11 * (block - 1), 11 * block


def any_key() -> VerificationKey:
    """A key of four public inputs, as the block circuit's; its points do not matter here."""
    x, y = bn.normalize(bn.G2)
    g1, g2 = (1, 2), (tuple(x.coeffs), tuple(y.coeffs))
    return VerificationKey(g1, g2, g2, g2, (g1,) * 5)


@pytest.fixture(scope="module")
def run():
    scenario = parse_scenario(SCENARIO)
    result = Simulation(scenario).run()
    journal = result.l1.journal
    # The run must exercise what is being compared.
    assert result.metrics["liveness"]["reverts"] == 0
    assert any(isinstance(e, SlashProof) for e in journal)
    outcomes = {o.outcome.name for e in journal if isinstance(e, SettleBatch) for o in e.outcomes}
    assert {"ON_TIME", "MISSED", "INVALID"} <= outcomes
    keys = {Account.from_key(roller_key(i)).address: roller_key(i)
            for i in range(result.metrics["scenario"]["rollers"])}
    return result, keys


def test_contracts_end_where_the_simulated_ledger_ends(run):
    result, keys = run
    ledger = result.l1.ledger
    chain = EmbeddedChain()
    owner = chain.dev_accounts[0]
    market = Market(chain, deploy_market(chain, owner, ledger.params))
    coordinator, funder = Account.from_key(COORDINATOR_KEY), Account.from_key(FUNDER_KEY)
    rollers = {address: Account.from_key(key) for address, key in keys.items()}
    for account in (coordinator, funder, *rollers.values()):
        chain.send_eth(owner, account.address, ETH)
    market.register_coordinator(owner, coordinator.address, b"simulation", "replay")
    assert coordinator.address == COORDINATOR
    rollup = deploy_rollup_contract(
        chain, owner, sequencer=owner.address,
        verifier=chain.deploy(owner, load_artifact("BatchVerifierStub")).address,
        poseidon=deploy_poseidon(chain, owner), genesis_root=0, batch_size=ledger.params.k,
        max_transfers=1)
    market.set_rollup(owner, rollup.address, deploy_verifier(chain, owner, any_key()).address)
    for block in range(1, result.l1.height + 1):
        rollup.commit_block(owner, *roots(block), [])
    supply = market.token_supply()
    minted = 0

    for entry in result.l1.journal:
        if isinstance(entry, Fund):
            market.mint(owner, funder.address, entry.amount)
            market.fund_rewards(funder, entry.amount)
            minted += entry.amount
        elif isinstance(entry, Stake):
            market.mint(owner, entry.roller, entry.amount)
            market.stake(rollers[entry.roller], entry.amount)
            minted += entry.amount
        elif isinstance(entry, SettleBatch):
            market.settle(coordinator, entry.batch, list(entry.outcomes))
        else:
            evidence = SlashEvidence.signed(
                rollers[entry.roller], chain_id=chain.chain_id, rollup=rollup.address,
                staking=market.staking.address, index=entry.block, round_=entry.round,
                proof=INVALID_PROOF,
                public_inputs=[*roots(entry.block), 0, int(entry.roller, 16)])
            market.slash_invalid_proof(coordinator, evidence)

    for address in rollers:
        info, model = market.roller_info(address), ledger.roller(address)
        assert (info.active, info.unbonding, info.rep, info.registered) == (
            model.active, model.unbonding_total, model.rep, model.registered), address
        assert info.claimable == ledger.claimable.get(address, 0), address
        assert market.token_balance(address) == ledger.wallets.get(address, 0), address
    assert market.token_balance(coordinator.address) == ledger.wallets.get(COORDINATOR, 0) > 0
    assert market.roster() == ledger.roster()
    assert market.totals() == {"active": ledger.total_active,
                               "unbonding": ledger.total_unbonding,
                               "reward_pool": ledger.reward_pool,
                               "claimable": ledger.total_claimable}
    assert market.token_supply() == supply + minted - ledger.burned
    # and the simulation's per-strategy figures are the ledger's
    strategies = result.metrics["strategies"]
    assert strategies["invalid"]["slashed"] > 0 and strategies["invalid"]["roi"] < 0
    assert strategies["honest"]["rewards"] > 0
