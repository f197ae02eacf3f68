"""Slashing signed proofs and aggregates that do not verify against what L1 holds
(`RollerStaking.slashInvalidProof`, `slashInvalidAggregate`), on the embedded EVM and on anvil,
with real proofs of the block circuit's test profile (block_tiny, development setup) and real
aggregates of them (`zkp.aggregate`), for blocks committed on a Rollup that `World.attach_rollup`
wired into the staking contract with its real single-proof and batch verifiers.

Attacks of market-spec.md, "Slashing" and "Stake cannot outrun its slash", refused and accepted
side by side: (h) a copied proof, junk, a valid proof, a stale statement, a junk and a valid
aggregate, the same offense twice; (i) a slash over the most unbonding entries a roller can
have. The embedded chain's pairing check is pure Python (about 1 s a proof), so only the tests
that need a verdict run it; every other refusal comes before the proof check.
`SlashEvidence` and its file format are tested without a chain.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_abi import encode
from eth_utils import keccak
from hexbytes import HexBytes
from web3.exceptions import ContractLogicError
from web3.logs import DISCARD

from market_contracts.bindings import SLASH_GAS, Market, slash_gas
from market_contracts.chain import decode_revert
from market_contracts.deploy import Deployment, check_deployment
from market_contracts.errors import (
    AlreadySlashed,
    ContractRejected,
    InvalidEvidence,
    ProofIsValid,
)
from market_contracts.ledger import slash_split
from market_contracts.rollup import Rollup
from market_contracts.rules import MAX_UNBONDING_ENTRIES, Outcome, TaskKind
from market_contracts.submissions import (
    PROOF_SUBMISSION_TYPE,
    SlashEvidence,
    batch_statement,
    block_statement,
    offense_key,
    recover_submitter,
    sign_submission,
    submission_digest,
)
from market_contracts.units import ONE_TOKEN
from market_contracts.verifiers import (
    deploy_batch_verifier,
    deploy_verifier,
    verification_gas,
    verify_batch_call,
    verify_proof_call,
)
from sequencer.blocks import dev_transfer as transfer
from sequencer.blocks import l2_chain
from sequencer.circuit_inputs import BlockCircuit, block_inputs
from sequencer.genesis import devnet_genesis
from sequencer.block_data import Op, Record, block_commitment, calldata
from sequencer.transactions import DEVNET_CHAIN_ID
from zkp.aggregate import AggregateProof, aggregate
from zkp.field import Q
from zkp.groth16 import Prover
from zkp.proof import Proof
from zkp.system import system

GROTH16 = system("groth16")
from zkp.setup import SetupFiles, cached_setup
from zkp.witness import WitnessCalculator
from zkp.zkey import read_zkey

REPO = Path(__file__).resolve().parents[2]
CIRCOM = REPO / "node_modules" / ".bin" / "circom2"
#: tests/zkp/circuits/block_tiny.circom
TINY = BlockCircuit("block_tiny", block_size=2, depth=4, chain_id=DEVNET_CHAIN_ID, entries=1)
GENESIS = devnet_genesis(TINY.depth, 6, 1000)
#: Blocks 1 and 2 (batch 0) are committed; 3 and 4 only serve the K = 4 gas measurement.
BLOCKS = l2_chain(GENESIS, [[transfer(0, 1, 300, 0), transfer(1, 2, 40, 0)], [transfer(2, 3, 5, 0)],
                            [transfer(3, 4, 1, 0)], [transfer(4, 5, 2, 0)]])
#: Another block 2, committed after a revert: a new statement for the same number.
OTHER_BLOCK_2 = l2_chain(BLOCKS[0].after, [[transfer(4, 5, 8, 0)]])[0]
BATCH_SIZE = 2
#: Fixed keys, so that proofs (bound to their prover) are made once for both chains.
ROLLER = Account.from_key(keccak(b"slashing test roller"))
STRANGER = Account.from_key(keccak(b"slashing test stranger"))
#: Who proved each block of the proofs made once: ROLLER and STRANGER both prove block 1 (the
#: copy attack), STRANGER proves block 2 so that batch 0's aggregate names two provers.
PROVEN = ((1, ROLLER), (1, STRANGER), (2, STRANGER), (3, ROLLER), (4, ROLLER))
#: Batch 0's provers, in block order, and each K's provers for the gas measurement.
BATCH_0_PROVERS = (ROLLER, STRANGER)
MEASURED_PROVERS = {2: BATCH_0_PROVERS, 4: (ROLLER, STRANGER, ROLLER, ROLLER)}
#: market-spec.md, "Slashing": every verifier allowance is at least this many times what a
#: check was measured to use, so that a verifier never answers false for want of gas, whatever
#: the chain's gas schedule does to it within that factor.
ALLOWANCE_MARGIN = 2
#: What walking one unbonding entry may add to a slash: reading and clearing its two slots
#: (amount, releaseTime), each at most a cold SLOAD plus an SSTORE reset, 2 x (2,100 + 2,900)
#: (EIP-2929, EIP-2200), plus the loop and the array's length, with room. Measured: see
#: test_a_slash_over_the_most_unbonding_entries_is_bounded.
ENTRY_GAS_CEILING = 12_000


#: block_tiny's proofs still bind the Poseidon data hash of the old posted elements, while the
#: Rollup now holds block_data's SHA-256 commitment: a valid proof cannot verify against L1 until
#: the circuit commits to it (issue 13's circuit, another branch). Strict: once it does, these
#: pass, and the mark must go.
OLD_DATA_HASH_PROOFS = pytest.mark.xfail(
    strict=True, reason="block_tiny proves the old data hash; re-point at issue 13's circuit")


def negated(point):
    """-P: on the curve still, a well-formed proof of the wrong value."""
    x, y = point
    return x, (Q - y) % Q


def statement_of(number: int, block=None) -> bytes:
    block = BLOCKS[number - 1] if block is None else block
    return block_statement(number, block.before.root, block.after.root,
                           block_commitment(records_of(block), TINY.block_size, TINY.entries))


def records_of(block) -> list[Record]:
    """What L1 holds of `block`: its transfers as block_data records."""
    return [Record(Op.TRANSFER, t.from_index, t.to_index, t.amount) for t in block.transfers]


# ---------------------------------------------------------------- proofs


@pytest.fixture(scope="module")
def key_and_proofs(tmp_path_factory) -> tuple[SetupFiles, dict[tuple[int, str], Proof]]:
    """block_tiny compiled (about 10 s), its development key, and the valid proofs of PROVEN."""
    if not CIRCOM.exists():
        pytest.fail("the slashing tests need circom2 from `npm ci`: run `make setup`")
    out = tmp_path_factory.mktemp("block_tiny")
    source = Path("tests/zkp/circuits/block_tiny.circom")
    # circom2 reads only files below its working directory: run it from the repository root.
    subprocess.run([str(CIRCOM), str(source), "--r1cs", "--wasm", "--O2", "-l", "node_modules",
                    "-o", str(out)], cwd=REPO, check=True, capture_output=True)
    key = cached_setup(out / "block_tiny.r1cs", out / "setup-cache")
    prover = Prover(read_zkey(key.zkey), "cpu")
    calculator = WitnessCalculator(out / "block_tiny_js" / "block_tiny.wasm")
    proofs = {}
    for number, account in PROVEN:
        block = BLOCKS[number - 1]
        proof, public = prover.prove(calculator.calculate(
            block_inputs(TINY, block.before, block.transfers, account.address)))
        assert public == block.inputs(account.address)
        proofs[number, account.address] = proof
    return key, proofs


def aggregate_of(proofs, provers) -> AggregateProof:
    """The real aggregate of blocks 1.. len(provers), block i proven by provers[i]."""
    return aggregate([proofs[n, p.address] for n, p in enumerate(provers, start=1)],
                     [BLOCKS[n - 1].inputs(p.address) for n, p in enumerate(provers, start=1)])


class SlashingWorld:
    """The conftest's market with a real Rollup attached, batch 0 (blocks 1, 2) committed, and
    ROLLER staking 200; STRANGER holds tokens but has not staked."""

    def __init__(self, world, key: SetupFiles, proofs):
        self.chain, self.owner, self.params = world.chain, world.owner, world.params
        self.world = world
        self.key = key
        self.sequencer = world.new_account(tokens=0)
        self.deployment = world.world.attach_rollup(
            self.sequencer.address, vk=key.vk, genesis_root=GENESIS.root, batch_size=BATCH_SIZE,
            max_transfers=TINY.block_size, entries=TINY.entries)
        self.market = Market(self.chain, self.deployment)
        self.rollup = Rollup.from_deployment(self.chain, self.deployment)
        self.proofs = proofs
        for block in BLOCKS[:BATCH_SIZE]:
            self.commit(block)
        for account in (ROLLER, STRANGER):
            world.world.fund(account.address, eth=10**18, tokens=1_000 * ONE_TOKEN)
        self.market.stake(ROLLER, 200 * ONE_TOKEN)
        self.reporter = world.new_account(tokens=0)

    def commit(self, block) -> None:
        self.rollup.commit_block(self.sequencer, block.after.root, calldata(records_of(block)))

    def evidence(self, number: int = 1, *, signer=ROLLER, proof: Proof | None = None,
                 prover=None, round_: int = 0, statement: bytes | None = None,
                 chain_id: int | None = None, rollup: str | None = None) -> SlashEvidence:
        """`signer`'s signed submission of `prover`'s proof of block `number` (its own by
        default), or of `proof`, over the block's statement as BLOCKS made it."""
        if proof is None:
            proof = self.proofs[number, (prover or signer).address]
        return SlashEvidence.signed(
            signer, chain_id=self.chain.chain_id if chain_id is None else chain_id,
            rollup=self.rollup.address if rollup is None else rollup,
            staking=self.deployment.staking, index=number, round_=round_,
            statement=statement_of(number) if statement is None else statement,
            proof=GROTH16.seal(proof))

    def junk(self, **kwargs) -> SlashEvidence:
        """ROLLER's own proof of block 1 with C negated: well-formed, and false."""
        valid = self.proofs[1, ROLLER.address]
        return self.evidence(proof=replace(valid, c=negated(valid.c)), **kwargs)

    def aggregate_evidence(self, *, signer=ROLLER, provers=BATCH_0_PROVERS,
                           agg: AggregateProof | None = None, round_: int = 0,
                           statement: bytes | None = None) -> SlashEvidence:
        """`signer`'s signed submission of batch 0's aggregate (the real one by default) naming
        `provers`."""
        if statement is None:
            statement = batch_statement([statement_of(n) for n in (1, 2)])
        return SlashEvidence.signed_aggregate(
            signer, chain_id=self.chain.chain_id, rollup=self.rollup.address,
            staking=self.deployment.staking, index=0, round_=round_, statement=statement,
            provers=[p.address for p in provers],
            aggregate=GROTH16.seal_aggregate(agg or aggregate_of(self.proofs, BATCH_0_PROVERS)))

    def slash(self, evidence: SlashEvidence):
        return self.market.slash_invalid_proof(self.reporter, evidence, gas=slash_gas(evidence))

    def held(self) -> int:
        return self.market.token_balance(self.market.staking.address)


@pytest.fixture(scope="module")
def deployed(deployed_world, key_and_proofs) -> SlashingWorld:
    return SlashingWorld(deployed_world, *key_and_proofs)


@pytest.fixture
def world(deployed):
    snapshot = deployed.chain.snapshot()
    yield deployed
    deployed.chain.revert(snapshot)


def rejected(excinfo) -> tuple[str, tuple]:
    assert "\n" not in str(excinfo.value)
    return excinfo.value.reason, excinfo.value.error_args


def refused_unchanged(world, evidence, exception=ContractRejected) -> tuple[str, tuple]:
    """Send `evidence`; it must be refused and change nothing. Returns (reason, args)."""
    before = [world.market.roller_info(a.address) for a in (ROLLER, STRANGER)]
    with pytest.raises(exception) as excinfo:
        world.slash(evidence)
    assert [world.market.roller_info(a.address) for a in (ROLLER, STRANGER)] == before
    return rejected(excinfo)


# ---------------------------------------------------------------- (h) what is slashed


@OLD_DATA_HASH_PROOFS
def test_a_valid_proof_is_refused_and_junk_is_slashed(world):
    assert refused_unchanged(world, world.evidence(), ProofIsValid) == ("ProofIsValid", ())
    result = world.slash(world.junk())
    assert (result.roller, result.amount) == (ROLLER.address, 20 * ONE_TOKEN)
    assert world.market.roller_info(ROLLER.address).rep == 0


@OLD_DATA_HASH_PROOFS
def test_a_copied_proof_is_slashed_and_the_original_is_not(world):
    """STRANGER's valid proof of block 1 under ROLLER's signature: the contract checks it with
    ROLLER as prover, for whom it is false. Signed by STRANGER, the same proof is valid."""
    world.market.stake(STRANGER, 200 * ONE_TOKEN)
    original = world.evidence(signer=STRANGER)
    copied = world.evidence(signer=ROLLER, prover=STRANGER)
    assert copied.proof == original.proof
    assert refused_unchanged(world, original, ProofIsValid) == ("ProofIsValid", ())
    result = world.slash(copied)
    assert (result.roller, result.amount) == (ROLLER.address, 20 * ONE_TOKEN)
    assert world.market.roller_info(STRANGER.address).active == 200 * ONE_TOKEN


def test_an_invalid_proof_slashes_active_stake_then_the_newest_unbonding(world):
    market, params = world.market, world.params
    # 200 staked: 150 then 40 start unbonding, 10 stays active. SLASH_BPS of 200 is 20: the
    # 10 active, then 10 of the newest entry (40 -> 30); the older entry is untouched.
    first_release = market.request_unstake(ROLLER, 150 * ONE_TOKEN)
    second_release = market.request_unstake(ROLLER, 40 * ONE_TOKEN)
    supply, held = market.token_supply(), world.held()
    evidence = world.junk(round_=1)

    expected = slash_split(200 * ONE_TOKEN, params)
    assert (expected.amount, expected.reporter_share, expected.burned) == (
        20 * ONE_TOKEN, 2 * ONE_TOKEN, 18 * ONE_TOKEN)
    preview = market.check_slash(world.reporter.address, evidence)
    result = world.slash(evidence)
    assert preview == replace(result, transaction=None)
    assert (result.roller, result.reporter) == (ROLLER.address, world.reporter.address)
    assert (result.amount, result.reporter_share, result.burned) == (
        expected.amount, expected.reporter_share, expected.burned)
    assert result.offense == evidence.offense_key() == offense_key(
        world.rollup.address, ROLLER.address, TaskKind.BLOCK, 1, statement_of(1))

    info = market.roller_info(ROLLER.address)
    assert (info.active, info.unbonding, info.rep, info.weight) == (0, 180 * ONE_TOKEN, 0, 0)
    assert [(e.amount, e.release_time) for e in market.unbondings(ROLLER.address)] == [
        (150 * ONE_TOKEN, first_release), (30 * ONE_TOKEN, second_release)]
    assert market.token_balance(world.reporter.address) == 2 * ONE_TOKEN
    assert market.token_supply() == supply - 18 * ONE_TOKEN
    assert world.held() == held - 20 * ONE_TOKEN == sum(market.totals().values())
    assert market.is_slashed(result.offense)

    receipt = world.chain.w3.eth.get_transaction_receipt(result.transaction)
    (rep_event,) = market.staking.events.ReputationChanged().process_receipt(receipt, errors=DISCARD)
    assert dict(rep_event["args"]) == {
        "roller": ROLLER.address, "rollup": world.rollup.address, "kind": TaskKind.BLOCK,
        "task": 1, "round": 1, "slots": 0, "outcome": Outcome.INVALID,
        "oldRep": params.rep_init, "newRep": 0}
    (slashed,) = market.staking.events.Slashed().process_receipt(receipt, errors=DISCARD)
    assert (slashed["args"]["rollup"], slashed["args"]["index"], slashed["args"]["round"]) == (
        world.rollup.address, 1, 1)

    # The same offense slashes once: the same evidence, the junk re-signed for another round,
    # another junk proof and a copied proof of the same statement are refused before the
    # proof check.
    valid = world.proofs[1, ROLLER.address]
    for again in (evidence, world.junk(round_=0),
                  world.evidence(proof=replace(valid, a=negated(valid.a))),
                  world.evidence(prover=STRANGER)):
        assert refused_unchanged(world, again, AlreadySlashed) == ("AlreadySlashed", (result.offense,))
    assert market.roller_info(ROLLER.address) == info


def test_a_stale_statement_is_refused_and_the_current_one_is_slashed(world):
    """Junk signed for block 2 (and batch 0) as first committed says nothing about the block 2
    that replaced it: refused, not slashed, though it would not verify against the new one.
    The same junk signed over the current statement is slashed."""
    junk_2 = replace(world.proofs[2, STRANGER.address], c=(1, 2))
    stale = world.evidence(2, proof=junk_2)
    stale_aggregate = world.aggregate_evidence(provers=(ROLLER, ROLLER))
    world.rollup.revert_blocks(world.sequencer, 2)
    world.commit(OTHER_BLOCK_2)
    assert refused_unchanged(world, stale) == ("StaleStatement", (2,))
    assert refused_unchanged(world, stale_aggregate) == ("StaleStatement", (0,))

    current = world.evidence(2, proof=junk_2, statement=statement_of(2, OTHER_BLOCK_2))
    assert current.statement == world.rollup.statement(2)
    assert world.slash(current).offense != stale.offense_key()


@OLD_DATA_HASH_PROOFS
def test_a_valid_aggregate_is_refused_and_junk_aggregates_are_slashed_once(world):
    valid = world.aggregate_evidence()
    assert refused_unchanged(world, valid, ProofIsValid) == ("ProofIsValid", ())

    agg = aggregate_of(world.proofs, BATCH_0_PROVERS)
    junk = world.aggregate_evidence(agg=replace(agg, c=negated(agg.c)), round_=1)
    result = world.slash(junk)
    assert (result.roller, result.amount, result.offense) == (
        ROLLER.address, 20 * ONE_TOKEN, offense_key(world.rollup.address, ROLLER.address,
                                                    TaskKind.AGGREGATION, 0, valid.statement))
    assert world.market.roller_info(ROLLER.address).rep == 0
    # The same batch and statement is one offense: a valid aggregate naming the wrong provers
    # (a copy of the real one) is refused now, before the proof check.
    renamed = world.aggregate_evidence(provers=(STRANGER, ROLLER))
    assert refused_unchanged(world, renamed, AlreadySlashed) == ("AlreadySlashed", (result.offense,))


def test_an_aggregate_naming_other_provers_is_slashed(world):
    """The real aggregate of batch 0 (ROLLER, STRANGER) signed as if STRANGER proved both blocks:
    the inputs the contract builds differ, so it does not verify."""
    result = world.slash(world.aggregate_evidence(provers=(STRANGER, STRANGER)))
    assert (result.roller, result.amount) == (ROLLER.address, 20 * ONE_TOKEN)


# ---------------------------------------------------------------- (i) a bounded slash


def test_a_slash_over_the_most_unbonding_entries_is_bounded(world):
    """MAX_UNBONDING_ENTRIES caps the queue a slash walks: a 17th unstake is refused, and the
    slash that walks all 16 entries (15 newest popped, the oldest cut) costs at most
    ENTRY_GAS_CEILING more a walked entry than one that walks none, and fits SLASH_GAS."""
    snapshot = world.chain.snapshot()
    no_entries = world.chain.w3.eth.get_transaction_receipt(
        world.slash(world.junk()).transaction)["gasUsed"]
    world.chain.revert(snapshot)

    # 184 then 15 x 1 unbonding, 1 active: SLASH_BPS of 200 is 20 = 1 active + 15 + 4 of 184.
    world.market.request_unstake(ROLLER, 184 * ONE_TOKEN)
    for _ in range(MAX_UNBONDING_ENTRIES - 1):
        world.market.request_unstake(ROLLER, ONE_TOKEN)
    with pytest.raises(ContractRejected) as excinfo:
        world.market.request_unstake(ROLLER, ONE_TOKEN)
    assert rejected(excinfo) == ("TooManyUnbondings", (MAX_UNBONDING_ENTRIES,))
    assert world.market.roller_info(ROLLER.address).active == ONE_TOKEN

    result = world.slash(world.junk())
    assert result.amount == 20 * ONE_TOKEN
    assert [e.amount for e in world.market.unbondings(ROLLER.address)] == [180 * ONE_TOKEN]
    all_entries = world.chain.w3.eth.get_transaction_receipt(result.transaction)["gasUsed"]
    # Measured, the same on both chains: no entry 359,780, 16 entries 440,455 (5,042 an entry:
    # the cleared slots' refunds pay back part of each pop).
    assert all_entries - no_entries <= MAX_UNBONDING_ENTRIES * ENTRY_GAS_CEILING
    assert all_entries <= SLASH_GAS


# ---------------------------------------------------------------- refusals before the proof check


def _signed_by_stranger(world):
    evidence = world.junk()
    return replace(evidence, signature=sign_submission(
        STRANGER, evidence.chain_id, evidence.rollup, evidence.kind, evidence.index, evidence.round,
        evidence.statement, evidence.proof_hash()))


def _signed_for_the_other_rollup(world):
    """Signed for the conftest's rollup, which the market also serves, sent for this one."""
    return replace(world.junk(rollup=world.world.rollup.address), rollup=world.rollup.address)


def _short_aggregate(world):
    agg = aggregate([world.proofs[1, ROLLER.address]], [BLOCKS[0].inputs(ROLLER.address)])
    return SlashEvidence.signed_aggregate(
        ROLLER, chain_id=world.chain.chain_id, rollup=world.rollup.address,
        staking=world.deployment.staking, index=0, round_=0,
        statement=world.rollup.batch_statement(0), provers=[ROLLER.address],
        aggregate=GROTH16.seal_aggregate(agg))


@pytest.mark.parametrize(("make", "reason", "args"), [
    pytest.param(_signed_by_stranger, "BadSignature", lambda w: (ROLLER.address, STRANGER.address),
                 id="signed-by-someone-else"),
    pytest.param(lambda w: w.junk(chain_id=w.chain.chain_id + 1), "BadSignature", None,
                 id="signed-for-another-chain"),
    pytest.param(_signed_for_the_other_rollup, "BadSignature", None,
                 id="signed-for-another-rollup"),
    pytest.param(lambda w: w.junk(rollup=w.deployment.staking), "RollupNotEnabled",
                 lambda w: (w.deployment.staking,), id="a-rollup-not-served"),
    pytest.param(lambda w: replace(w.junk(), signature=bytes(65)), "BadSignature",
                 lambda w: (ROLLER.address, "0x" + "00" * 20), id="not-a-signature"),
    pytest.param(lambda w: w.evidence(3), "BlockNotCommitted", lambda w: (3,),
                 id="block-not-committed"),
    pytest.param(lambda w: w.junk(statement=statement_of(2)), "StaleStatement", lambda w: (1,),
                 id="statement-of-another-block"),
    pytest.param(lambda w: w.evidence(signer=STRANGER), "UnknownRoller",
                 lambda w: (STRANGER.address,), id="never-staked"),
    pytest.param(_short_aggregate, "WrongAggregateSize", lambda w: (1, 1, 1, BATCH_SIZE),
                 id="aggregate-of-one-block"),
])
def test_refuses_evidence_that_is_not_the_rollers_invalid_proof(world, make, reason, args):
    got_reason, got_args = refused_unchanged(world, make(world))
    assert got_reason == reason
    if args is not None:
        assert tuple(map(_plain, got_args)) == tuple(map(_plain, args(world)))


def _plain(value):
    return value.lower() if isinstance(value, str) else value


@pytest.mark.parametrize("kind", ["block", "aggregate"])
def test_too_little_gas_for_the_proof_check_is_refused(world, kind):
    """A verifier short of gas answers false, like for an invalid proof: the contract refuses to
    check with less than it gives the verifier, so too little gas cannot make a valid proof look
    invalid."""
    staking = world.market.staking.functions
    if kind == "block":
        evidence, allowance, proofs = world.evidence(), staking.VERIFIER_GAS().call(), 1
    else:
        evidence = world.aggregate_evidence()
        allowance, proofs = staking.aggregateVerifierGas(BATCH_SIZE).call(), BATCH_SIZE
    call = getattr(staking, evidence.function_name())(*evidence.call_args())
    with pytest.raises(ContractLogicError) as excinfo:
        call.call({"from": world.reporter.address, "gas": allowance // 2})
    reason, (left, needed) = decode_revert(HexBytes(excinfo.value.data))
    assert reason == "NotEnoughGas"
    # The allowance, the 1/64 the CALL keeps, CALL_OVERHEAD and CALL_OVERHEAD_PER_PROOF a proof.
    assert left < needed == allowance + allowance // 63 + 10_000 + 2_000 * proofs


# ---------------------------------------------------------------- the verifiers' allowances


def test_the_verifier_allowances_cover_the_measured_checks(world):
    """What a check of a valid block proof, and of an aggregate at K = 2 and 4, costs (calldata
    included, so more than the verifier itself uses) is at most 1/ALLOWANCE_MARGIN of the gas
    the contract gives the verifier. Measured, the same on both chains: single 214,964 (allowance
    1,000,000, 4.7x); K = 2 282,375 (900,000, 3.2x); K = 4 375,452 (1,100,000, 2.9x)."""
    chain, owner, staking = world.chain, world.owner, world.market.staking.functions
    single = deploy_verifier(chain, owner, world.key.vk)
    used = verification_gas(chain, owner, verify_proof_call(
        single, world.proofs[1, ROLLER.address], BLOCKS[0].inputs(ROLLER.address)))
    assert ALLOWANCE_MARGIN * used <= staking.VERIFIER_GAS().call()
    batch = deploy_batch_verifier(chain, owner, world.key.vk)
    for k, provers in MEASURED_PROVERS.items():
        inputs = [BLOCKS[n - 1].inputs(p.address) for n, p in enumerate(provers, start=1)]
        used = verification_gas(chain, owner, verify_batch_call(
            batch, aggregate_of(world.proofs, provers), inputs))
        assert ALLOWANCE_MARGIN * used <= staking.aggregateVerifierGas(k).call(), k


# ---------------------------------------------------------------- wiring


def test_a_rollup_is_added_once_by_the_deployer(world):
    owner, market, rollup = world.owner, world.market, world.rollup.address
    block_verifier = world.deployment.rollup.block_verifier
    assert (market.rollup_enabled(rollup), market.block_verifier_of(rollup)) == (True, block_verifier)
    assert (market.rollup_enabled(world.reporter.address),
            market.block_verifier_of(world.reporter.address)) == (False, None)
    with pytest.raises(ContractRejected) as excinfo:
        market.add_rollup(world.reporter, rollup, block_verifier)
    assert rejected(excinfo)[0] == "NotDeployer"
    with pytest.raises(ContractRejected) as excinfo:
        market.add_rollup(owner, rollup, block_verifier)
    assert rejected(excinfo)[0] == "RollupAlreadyAdded"
    with pytest.raises(ContractRejected) as excinfo:
        market.add_rollup(owner, world.reporter.address, block_verifier)
    assert rejected(excinfo) == ("InvalidParams", ("rollup has no code",))
    with pytest.raises(ContractRejected) as excinfo:
        market.add_rollup(owner, market.token.address, world.reporter.address)
    assert rejected(excinfo) == ("InvalidParams", ("verifier has no code",))
    assert not market.rollup_enabled(market.token.address)


def test_the_deployment_file_names_the_block_verifier(world, tmp_path):
    deployment = world.deployment
    assert world.market.block_verifier_of(deployment.rollup.address) == deployment.rollup.block_verifier
    path = tmp_path / "deployment.json"
    deployment.save(path)
    assert json.loads(path.read_text())["rollup"]["block_verifier"] == deployment.rollup.block_verifier
    assert Deployment.load(path) == deployment
    check_deployment(world.chain, deployment)


# ---------------------------------------------------------------- what is signed


def test_python_computes_what_the_contract_signs_and_checks(world):
    staking, rollup = world.market.staking.functions, world.rollup
    assert bytes(staking.PROOF_SUBMISSION_TYPEHASH().call()) == keccak(text=PROOF_SUBMISSION_TYPE)
    assert rollup.statement(1) == statement_of(1)
    assert rollup.batch_statement(0) == batch_statement([statement_of(1), statement_of(2)])
    for evidence in (world.junk(round_=3), world.aggregate_evidence(round_=2)):
        proof = evidence.call_args()[5]
        hashed = (staking.blockProofHash(proof) if evidence.kind is TaskKind.BLOCK
                  else staking.aggregateHash(proof)).call()
        assert bytes(hashed) == evidence.proof_hash()
        assert bytes(staking.submissionDigest(
            rollup.address, evidence.kind, evidence.index, evidence.round, evidence.statement,
            evidence.proof_hash()).call()) == evidence.digest()
        assert bytes(staking.offenseKey(rollup.address, ROLLER.address, evidence.kind,
                                        evidence.index, evidence.statement).call()
                     ) == evidence.offense_key()
        assert evidence.signer() == ROLLER.address


def test_the_digest_is_eip712_as_eth_account_encodes_it():
    """An independent encoder: eth-account's EIP-712 implementation."""
    rollup = "0x3eAabe171D8A4EACe693Ae2D9a1E40b458151a99"
    hashed, statement = keccak(b"proof"), keccak(b"statement")
    typed = encode_typed_data(full_message={
        "types": {
            "EIP712Domain": [{"name": "name", "type": "string"}, {"name": "version", "type": "string"},
                             {"name": "chainId", "type": "uint256"},
                             {"name": "verifyingContract", "type": "address"}],
            "ProofSubmission": [{"name": "kind", "type": "uint8"}, {"name": "index", "type": "uint256"},
                                {"name": "round", "type": "uint256"},
                                {"name": "statement", "type": "bytes32"},
                                {"name": "proofHash", "type": "bytes32"}],
        },
        "primaryType": "ProofSubmission",
        "domain": {"name": "provernet", "version": "2", "chainId": 31337, "verifyingContract": rollup},
        "message": {"kind": 0, "index": 7, "round": 2, "statement": statement, "proofHash": hashed},
    })
    signature = sign_submission(ROLLER, 31337, rollup, TaskKind.BLOCK, 7, 2, statement, hashed)
    assert bytes(ROLLER.sign_message(typed).signature) == signature
    assert keccak(b"\x19" + typed.version + typed.header + typed.body) == submission_digest(
        31337, rollup, TaskKind.BLOCK, 7, 2, statement, hashed)
    assert recover_submitter(31337, rollup, TaskKind.BLOCK, 7, 2, statement, hashed,
                             signature) == ROLLER.address
    for other in ((TaskKind.BLOCK, 7, 3, statement), (TaskKind.AGGREGATION, 7, 2, statement),
                  (TaskKind.BLOCK, 7, 2, keccak(b"another statement"))):
        assert recover_submitter(31337, rollup, *other, hashed, signature) != ROLLER.address


# ---------------------------------------------------------------- evidence files

PROOF = Proof(a=(1, 2), b=((3, 4), (5, 6)), c=(7, 8))
AGGREGATE = AggregateProof(a=((1, 2), (9, 10)), b=(((3, 4), (5, 6)),) * 2, c=(7, 8))
STAKING = "0x3eAabe171D8A4EACe693Ae2D9a1E40b458151a99"


def _evidence(kind: str = "block") -> SlashEvidence:
    common = dict(chain_id=31337, rollup=STRANGER.address, staking=STAKING, index=5, round_=1,
                  statement=keccak(b"statement"))
    if kind == "block":
        return SlashEvidence.signed(ROLLER, **common, proof=GROTH16.seal(PROOF))
    return SlashEvidence.signed_aggregate(ROLLER, **common, provers=[ROLLER.address, STRANGER.address],
                                          aggregate=GROTH16.seal_aggregate(AGGREGATE))


@pytest.mark.parametrize("kind", ["block", "aggregation"])
def test_evidence_files_round_trip(tmp_path, kind):
    evidence = _evidence(kind)
    data = evidence.to_json()
    assert (data["kind"], data["index"], data["round"], data["roller"]) == (kind, 5, 1, ROLLER.address)
    assert data["statement"] == "0x" + keccak(b"statement").hex()
    if kind == "block":
        # The proof as its system encodes it: for Groth16 the words abi.encode(a, b, c) takes,
        # B in the precompile's order.
        words = [1, 2, 4, 3, 6, 5, 7, 8]
        assert data["proof"] == {"system": "groth16",
                                 "data": "0x" + b"".join(w.to_bytes(32, "big") for w in words).hex()}
        assert evidence.proof_hash() == keccak(bytes.fromhex(data["proof"]["data"][2:]))
    else:
        assert data["aggregate"]["provers"] == [ROLLER.address, STRANGER.address]
        assert GROTH16.open_aggregate(evidence.aggregate) == AGGREGATE
        assert evidence.proof_hash() == keccak(encode(
            ["address[]", "uint256[2][]", "uint256[2][2][]", "uint256[2]"],
            [[ROLLER.address, STRANGER.address], [[1, 2], [9, 10]], [[[4, 3], [6, 5]]] * 2, [7, 8]]))
    path = tmp_path / "evidence.json"
    evidence.save(path)
    loaded = SlashEvidence.load(path)
    assert loaded == evidence
    assert loaded.signer() == ROLLER.address


def _aggregate_change(**fields):
    return {"aggregate": _evidence("aggregation").to_json()["aggregate"] | fields}


@pytest.mark.parametrize(("kind", "change", "named"), [
    pytest.param("block", {"version": 1}, "version 1", id="version-1"),
    pytest.param("block", {"kind": "aggregation"}, "aggregation evidence carries no 'proof'",
                 id="aggregation-with-a-proof"),
    pytest.param("block", {"kind": "batch"}, "kind 'batch'", id="unknown-kind"),
    pytest.param("block", {"index": -1}, "index must be a non-negative integer", id="negative-index"),
    pytest.param("block", {"roller": "0xabc"}, "roller", id="bad-address"),
    pytest.param("block", {"statement": "0x1234"}, "statement must be 0x and 32 bytes",
                 id="short-statement"),
    pytest.param("block", {"proof": {"system": "groth16", "data": "0x123"}}, "proof.data must be",
                 id="odd-hex"),
    pytest.param("block", {"proof": {"system": "plonk", "data": "0x"}},
                 "unknown proof system 'plonk'", id="unknown-system"),
    pytest.param("block", {"proof": ["groth16", "0x"]}, "proof must be a JSON object",
                 id="proof-not-an-object"),
    pytest.param("block", {"signature": "0x1234"}, "signature must be", id="short-signature"),
    pytest.param("block", {"chain_id": None}, "chain_id", id="no-chain-id"),
    pytest.param("aggregation", _aggregate_change(provers=[ROLLER.address]),
                 "1 provers for an aggregate of 2 proofs", id="fewer-provers-than-proofs"),
    pytest.param("aggregation", _aggregate_change(data="0x" + "00" * 32),
                 "not a groth16 aggregate", id="aggregate-bytes-not-an-aggregate"),
    pytest.param("aggregation", _aggregate_change(provers="0x"), "must be a list",
                 id="provers-not-a-list"),
    pytest.param("block", _aggregate_change(), "block evidence carries no 'aggregate'",
                 id="block-with-an-aggregate"),
])
def test_malformed_evidence_is_a_one_line_error(tmp_path, kind, change, named):
    path = tmp_path / "evidence.json"
    path.write_text(json.dumps(_evidence(kind).to_json() | change))
    with pytest.raises(InvalidEvidence) as excinfo:
        SlashEvidence.load(path)
    message = str(excinfo.value)
    assert "\n" not in message and named in message and str(path) in message


def test_unreadable_evidence_is_a_one_line_error(tmp_path):
    with pytest.raises(InvalidEvidence, match="cannot read evidence file .*: No such file"):
        SlashEvidence.load(tmp_path / "absent.json")
    path = tmp_path / "evidence.json"
    path.write_text("{not json")
    with pytest.raises(InvalidEvidence, match="is not JSON"):
        SlashEvidence.load(path)


SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def test_signatures_the_contract_refuses_are_refused_here():
    evidence = _evidence()
    high_s = bytearray(evidence.signature)  # (r, n - s) with v flipped: the malleable twin
    high_s[32:64] = (SECP256K1_N - int.from_bytes(high_s[32:64], "big")).to_bytes(32, "big")
    high_s[64] = 27 + 28 - high_s[64]
    for signature, named in ((bytes(high_s), "upper half"),
                             (evidence.signature[:64] + b"\x01", "v is 1")):
        with pytest.raises(InvalidEvidence, match=named):
            replace(evidence, signature=signature).signer()
