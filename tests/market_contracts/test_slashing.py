"""Slashing a signed invalid proof (`RollerStaking.slashInvalidProof`), on the embedded EVM and on
anvil, with real proofs of the block circuit's test profile (block_tiny, development setup) for
blocks committed on a Rollup that `attach_rollup` wired into the staking contract.

The embedded chain's pairing check is pure Python (about 1 s a proof), so only three tests run
it there: a valid proof checked, an invalid one checked and then slashed. Every other refusal
comes before the proof check. `SlashEvidence` and its file format are tested without a chain.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak
from hexbytes import HexBytes
from web3.exceptions import ContractLogicError
from web3.logs import DISCARD

from market_contracts.bindings import SLASH_GAS, Market
from market_contracts.chain import decode_revert
from market_contracts.deploy import Deployment, check_deployment, deploy_market
from market_contracts.errors import (
    AlreadySlashed,
    ContractRejected,
    InvalidEvidence,
    ProofIsValid,
)
from market_contracts.ledger import slash_split
from market_contracts.rollup import Rollup, attach_rollup
from market_contracts.rules import Outcome, TaskKind
from market_contracts.submissions import (
    PROOF_SUBMISSION_TYPE,
    SlashEvidence,
    offense_key,
    proof_hash,
    recover_submitter,
    sign_submission,
    submission_digest,
)
from market_contracts.units import ONE_TOKEN
from sequencer.blocks import dev_transfer as transfer
from sequencer.blocks import l2_chain
from sequencer.circuit_inputs import BlockCircuit, block_inputs
from sequencer.genesis import devnet_genesis
from sequencer.transactions import DEVNET_CHAIN_ID
from zkp.field import Q
from zkp.groth16 import Prover
from zkp.proof import Proof
from zkp.setup import SetupFiles, cached_setup
from zkp.witness import WitnessCalculator
from zkp.zkey import read_zkey

REPO = Path(__file__).resolve().parents[2]
CIRCOM = REPO / "node_modules" / ".bin" / "circom2"
#: tests/zkp/circuits/block_tiny.circom
TINY = BlockCircuit("block_tiny", block_size=2, depth=4, chain_id=DEVNET_CHAIN_ID)
GENESIS = devnet_genesis(TINY.depth, 6, 1000)
#: block 1 is committed; block 2 is not, until a test commits it
BLOCKS = l2_chain(GENESIS, [[transfer(0, 1, 300, 0), transfer(1, 2, 40, 0)], [transfer(2, 3, 5, 0)]])
BATCH_SIZE = 2
#: Fixed keys, so that proofs (bound to their prover) are made once for both chains.
ROLLER = Account.from_key(keccak(b"slashing test roller"))
STRANGER = Account.from_key(keccak(b"slashing test stranger"))


def negated(point):
    """-P: on the curve still, a well-formed proof of the wrong value."""
    x, y = point
    return x, (Q - y) % Q


# ---------------------------------------------------------------- proofs


@pytest.fixture(scope="module")
def key_and_proofs(tmp_path_factory) -> tuple[SetupFiles, dict[tuple[int, str], Proof]]:
    """block_tiny compiled (about 10 s), its development key, and valid proofs of blocks 1 and 2
    by ROLLER and of block 1 by STRANGER."""
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
    for number, account in ((1, ROLLER), (2, ROLLER), (1, STRANGER)):
        block = BLOCKS[number - 1]
        proof, public = prover.prove(calculator.calculate(
            block_inputs(TINY, block.before, block.transfers, account.address)))
        assert public == block.inputs(account.address)
        proofs[number, account.address] = proof
    return key, proofs


class SlashingWorld:
    """The conftest's market with a Rollup attached, block 1 committed, and ROLLER staking 200."""

    def __init__(self, world, key: SetupFiles, proofs):
        self.chain, self.owner, self.params = world.chain, world.owner, world.params
        self.world = world
        self.sequencer = world.new_account(tokens=0)
        self.deployment = attach_rollup(
            self.chain, self.owner, world.market.deployment, sequencer=self.sequencer.address,
            vk=key.vk, genesis_root=GENESIS.root, batch_size=BATCH_SIZE,
            max_transfers=TINY.block_size)
        self.market = Market(self.chain, self.deployment)
        self.rollup = Rollup.from_deployment(self.chain, self.deployment)
        self.proofs = proofs
        self.commit(1)
        for account in (ROLLER, STRANGER):
            self.chain.send_eth(self.owner, account.address, 10**18)
            self.market.mint(self.owner, account.address, 1_000 * ONE_TOKEN)
        self.market.stake(ROLLER, 200 * ONE_TOKEN)
        self.reporter = world.new_account(tokens=0)

    def commit(self, number: int) -> None:
        block = BLOCKS[number - 1]
        self.rollup.commit_block(self.sequencer, block.before.root, block.after.root, block.data)

    def evidence(self, number: int = 1, *, signer=ROLLER, round_: int = 0, proof: Proof | None = None,
                 inputs: list[int] | None = None, chain_id: int | None = None,
                 rollup: str | None = None) -> SlashEvidence:
        """`signer`'s signed submission of its proof of block `number`, or of what is given."""
        if proof is None:
            proof = self.proofs[number, signer.address]
        return SlashEvidence.signed(
            signer, chain_id=self.chain.chain_id if chain_id is None else chain_id,
            rollup=self.rollup.address if rollup is None else rollup,
            staking=self.deployment.staking, index=number, round_=round_, proof=proof,
            public_inputs=BLOCKS[number - 1].inputs(signer.address) if inputs is None else inputs)

    def invalid_evidence(self, **kwargs) -> SlashEvidence:
        valid = self.proofs[1, ROLLER.address]
        return self.evidence(proof=replace(valid, c=negated(valid.c)), **kwargs)

    def slash(self, evidence: SlashEvidence):
        return self.market.slash_invalid_proof(self.reporter, evidence, gas=SLASH_GAS)

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
    return excinfo.value.reason, excinfo.value.error_args


# ---------------------------------------------------------------- the proof check


def test_a_valid_proof_is_not_slashable(world):
    before = world.market.roller_info(ROLLER.address)
    with pytest.raises(ProofIsValid) as excinfo:
        world.market.check_slash(world.reporter.address, world.evidence())
    assert rejected(excinfo) == ("ProofIsValid", ())
    assert str(excinfo.value) == "the proof is valid: nothing to slash"
    assert world.market.roller_info(ROLLER.address) == before


def test_an_invalid_proof_slashes_active_stake_then_the_newest_unbonding(world):
    market, params = world.market, world.params
    # 200 staked: 150 then 40 start unbonding, 10 stays active. SLASH_BPS of 200 is 20: the
    # 10 active, then 10 of the newest entry (40 -> 30); the older entry is untouched.
    first_release = market.request_unstake(ROLLER, 150 * ONE_TOKEN)
    second_release = market.request_unstake(ROLLER, 40 * ONE_TOKEN)
    supply, held = market.token_supply(), world.held()
    evidence = world.invalid_evidence(round_=1)

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
        ROLLER.address, TaskKind.BLOCK, 1, BLOCKS[0].inputs(ROLLER.address))

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
        "roller": ROLLER.address, "kind": TaskKind.BLOCK, "task": 1, "round": 1,
        "outcome": Outcome.INVALID, "oldRep": params.rep_init, "newRep": 0}
    (slashed,) = market.staking.events.Slashed().process_receipt(receipt, errors=DISCARD)
    assert (slashed["args"]["index"], slashed["args"]["round"]) == (1, 1)

    # The same offense slashes once: the same evidence, the proof re-signed for another round,
    # and another invalid proof of the same block by the same roller are all refused before
    # the proof check.
    valid = world.proofs[1, ROLLER.address]
    for again in (evidence, world.invalid_evidence(round_=0),
                  world.evidence(proof=replace(valid, a=negated(valid.a)))):
        with pytest.raises(AlreadySlashed) as excinfo:
            world.slash(again)
        assert rejected(excinfo) == ("AlreadySlashed", (result.offense,))
    assert market.roller_info(ROLLER.address) == info


# ---------------------------------------------------------------- refusals before the proof check


def _wrong_signer(world):
    evidence = world.invalid_evidence()
    return replace(evidence, signature=sign_submission(
        STRANGER, evidence.chain_id, evidence.rollup, evidence.kind, evidence.index, evidence.round,
        evidence.proof_hash()))


@pytest.mark.parametrize(("make", "reason", "args"), [
    pytest.param(_wrong_signer, "BadSignature", lambda w: (ROLLER.address, STRANGER.address),
                 id="signed-by-someone-else"),
    pytest.param(lambda w: w.invalid_evidence(chain_id=w.chain.chain_id + 1), "BadSignature", None,
                 id="signed-for-another-chain"),
    pytest.param(lambda w: w.invalid_evidence(rollup=w.deployment.staking), "BadSignature", None,
                 id="signed-for-another-rollup"),
    pytest.param(lambda w: replace(w.invalid_evidence(), signature=bytes(65)), "BadSignature",
                 lambda w: (ROLLER.address, "0x" + "00" * 20), id="not-a-signature"),
    pytest.param(lambda w: w.evidence(2), "BlockNotCommitted", lambda w: (2,),
                 id="block-not-committed"),
    pytest.param(lambda w: w.invalid_evidence(inputs=BLOCKS[1].inputs(ROLLER.address)),
                 "WrongPublicInputs", lambda w: (1,), id="inputs-of-another-block"),
    pytest.param(lambda w: w.evidence(signer=STRANGER), "UnknownRoller",
                 lambda w: (STRANGER.address,), id="never-staked"),
])
def test_refuses_evidence_that_is_not_the_rollers_invalid_proof(world, make, reason, args):
    before = world.market.roller_info(ROLLER.address)
    with pytest.raises(ContractRejected) as excinfo:
        world.slash(make(world))
    got_reason, got_args = rejected(excinfo)
    assert got_reason == reason
    if args is not None:
        assert tuple(map(_plain, got_args)) == tuple(map(_plain, args(world)))
    assert "\n" not in str(excinfo.value)
    assert world.market.roller_info(ROLLER.address) == before


def _plain(value):
    return value.lower() if isinstance(value, str) else value


def test_a_block_proof_after_its_block_was_replaced_is_refused(world):
    """A proof signed for block 1 as first committed says nothing about the block 1 that replaced
    it, so it is refused, not slashed, even though it would not verify against the new one."""
    evidence = world.evidence(1)
    world.rollup.revert_blocks(world.sequencer, 1)
    replacement = l2_chain(GENESIS, [[transfer(4, 5, 8, 0)]])[0]
    world.rollup.commit_block(world.sequencer, GENESIS.root, replacement.after.root, replacement.data)
    with pytest.raises(ContractRejected) as excinfo:
        world.slash(evidence)
    assert rejected(excinfo) == ("WrongPublicInputs", (1,))


def test_too_little_gas_for_the_proof_check_is_refused(world):
    """A verifier short of gas answers false, like for an invalid proof: the contract refuses to
    check with less than it gives the verifier, so too little gas cannot make a valid proof look
    invalid."""
    call = world.market.staking.functions.slashInvalidProof(*world.evidence().call_args())
    with pytest.raises(ContractLogicError) as excinfo:
        call.call({"from": world.reporter.address, "gas": 600_000})
    reason, (left, needed) = decode_revert(HexBytes(excinfo.value.data))
    assert reason == "NotEnoughGas"
    assert left < needed == 1_000_000 + 1_000_000 // 63 + 10_000


# ---------------------------------------------------------------- wiring


def test_slashing_is_wired_once_by_the_deployer(world):
    chain, owner = world.chain, world.owner
    market = Market(chain, deploy_market(chain, owner, world.params))
    with pytest.raises(ContractRejected) as excinfo:
        market.slash_invalid_proof(world.reporter, world.invalid_evidence(), gas=SLASH_GAS)
    assert rejected(excinfo) == ("SlashingNotEnabled", ())
    assert market.slashing_contracts() is None

    block_verifier = world.deployment.rollup.block_verifier
    with pytest.raises(ContractRejected) as excinfo:
        market.set_rollup(world.reporter, world.rollup.address, block_verifier)
    assert rejected(excinfo)[0] == "NotDeployer"
    with pytest.raises(ContractRejected) as excinfo:
        market.set_rollup(owner, world.reporter.address, block_verifier)
    assert rejected(excinfo) == ("InvalidParams", ("rollup has no code",))
    market.set_rollup(owner, world.rollup.address, block_verifier)
    assert market.slashing_contracts() == (world.rollup.address, block_verifier)
    with pytest.raises(ContractRejected) as excinfo:
        market.set_rollup(owner, world.rollup.address, block_verifier)
    assert rejected(excinfo)[0] == "RollupAlreadySet"


def test_the_deployment_file_names_the_block_verifier(world, tmp_path):
    deployment = world.deployment
    assert world.market.slashing_contracts() == (deployment.rollup.address,
                                                 deployment.rollup.block_verifier)
    path = tmp_path / "deployment.json"
    deployment.save(path)
    assert json.loads(path.read_text())["rollup"]["block_verifier"] == deployment.rollup.block_verifier
    assert Deployment.load(path) == deployment
    check_deployment(world.chain, deployment)


# ---------------------------------------------------------------- what is signed


def test_python_computes_what_the_contract_signs_and_checks(world):
    evidence = world.invalid_evidence(round_=3)
    args = evidence.call_args()
    staking = world.market.staking.functions
    assert bytes(staking.proofHash(args[3], args[4]).call()) == evidence.proof_hash()
    assert bytes(staking.submissionDigest(0, 1, 3, evidence.proof_hash()).call()) == evidence.digest()
    assert bytes(staking.offenseKey(ROLLER.address, 0, 1, args[4]).call()) == evidence.offense_key()
    assert bytes(staking.PROOF_SUBMISSION_TYPEHASH().call()) == keccak(text=PROOF_SUBMISSION_TYPE)


def test_the_digest_is_eip712_as_eth_account_encodes_it():
    """An independent encoder: eth-account's EIP-712 implementation."""
    rollup = "0x3eAabe171D8A4EACe693Ae2D9a1E40b458151a99"
    hashed = keccak(b"proof")
    typed = encode_typed_data(full_message={
        "types": {
            "EIP712Domain": [{"name": "name", "type": "string"}, {"name": "version", "type": "string"},
                             {"name": "chainId", "type": "uint256"},
                             {"name": "verifyingContract", "type": "address"}],
            "ProofSubmission": [{"name": "kind", "type": "uint8"}, {"name": "index", "type": "uint256"},
                                {"name": "round", "type": "uint256"},
                                {"name": "proofHash", "type": "bytes32"}],
        },
        "primaryType": "ProofSubmission",
        "domain": {"name": "provernet", "version": "1", "chainId": 31337, "verifyingContract": rollup},
        "message": {"kind": 0, "index": 7, "round": 2, "proofHash": hashed},
    })
    signature = sign_submission(ROLLER, 31337, rollup, TaskKind.BLOCK, 7, 2, hashed)
    assert bytes(ROLLER.sign_message(typed).signature) == signature
    assert keccak(b"\x19" + typed.version + typed.header + typed.body) == submission_digest(
        31337, rollup, TaskKind.BLOCK, 7, 2, hashed)
    assert recover_submitter(31337, rollup, TaskKind.BLOCK, 7, 2, hashed, signature) == ROLLER.address
    assert recover_submitter(31337, rollup, TaskKind.BLOCK, 7, 3, hashed, signature) != ROLLER.address


def _evidence() -> SlashEvidence:
    proof = Proof(a=(1, 2), b=((3, 4), (5, 6)), c=(7, 8))
    inputs = [11, 12, 13, int(ROLLER.address, 16)]
    return SlashEvidence.signed(ROLLER, chain_id=31337, rollup=STRANGER.address,
                                staking="0x3eAabe171D8A4EACe693Ae2D9a1E40b458151a99", index=5,
                                round_=1, proof=proof, public_inputs=inputs)


def test_evidence_files_round_trip(tmp_path):
    evidence = _evidence()
    data = evidence.to_json()
    assert data["proof"] == {"a": ["1", "2"], "b": [["4", "3"], ["6", "5"]], "c": ["7", "8"]}
    assert (data["kind"], data["index"], data["round"], data["roller"]) == ("block", 5, 1, ROLLER.address)
    assert evidence.proof_hash() == proof_hash(evidence.proof, evidence.public_inputs)
    path = tmp_path / "evidence.json"
    evidence.save(path)
    loaded = SlashEvidence.load(path)
    assert loaded == evidence
    assert loaded.signer() == ROLLER.address


@pytest.mark.parametrize(("change", "named"), [
    pytest.param({"version": 2}, "version 2", id="version"),
    pytest.param({"kind": "aggregation"}, "aggregation evidence is not yet", id="aggregation"),
    pytest.param({"kind": "batch"}, "kind 'batch'", id="unknown-kind"),
    pytest.param({"index": -1}, "index must be a non-negative integer", id="negative-index"),
    pytest.param({"roller": "0xabc"}, "roller", id="bad-address"),
    pytest.param({"public_inputs": ["1", "2", "3"]}, "4 decimal strings", id="three-inputs"),
    pytest.param({"public_inputs": [1, 2, 3, 4]}, "not a uint256 as a decimal string", id="numbers"),
    pytest.param({"proof": {"a": ["1", "2"], "b": [["1", "2"]], "c": ["1", "2"]}}, "proof.b",
                 id="short-b"),
    pytest.param({"signature": "0x1234"}, "signature must be", id="short-signature"),
    pytest.param({"chain_id": None}, "chain_id", id="no-chain-id"),
])
def test_malformed_evidence_is_a_one_line_error(tmp_path, change, named):
    path = tmp_path / "evidence.json"
    path.write_text(json.dumps(_evidence().to_json() | change))
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
