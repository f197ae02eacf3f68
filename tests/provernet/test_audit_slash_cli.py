"""`provernet audit slash EVIDENCE.json` against anvil: a dry run, the slash itself, and one-line
refusals.

The verification key here is one whose secrets the test knows, so it makes valid proofs of any
public inputs without a circuit (tests/market_contracts/test_slashing.py uses real proofs of the
block circuit); the contract and its generated verifiers cannot tell the difference.
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from click.testing import CliRunner
from eth_account import Account
from py_ecc import optimized_bn128 as bn

from market_contracts.anvil import run_anvil
from market_contracts.chain import RpcChain
from market_contracts.submissions import SlashEvidence
from market_contracts.units import ONE_TOKEN
from provernet.cli import cli
from provernet.world import ONE_TRANSFER, World
from roller.keys import import_keystore
from zkp.field import R
from zkp.proof import Proof, VerificationKey
from zkp.system import system

pytestmark = pytest.mark.anvil

PASSWORD = "correct horse battery staple"
#: The key's secrets: alpha, beta, gamma, delta, and the discrete logs of IC0..IC4.
ALPHA, BETA, GAMMA, DELTA = 3, 5, 7, 11
IC = (13, 17, 19, 23, 29)
OLD_ROOT, NEW_ROOT = 0, 77


def g1(scalar: int):
    x, y = bn.normalize(bn.multiply(bn.G1, scalar))
    return x.n, y.n


def g2(scalar: int):
    x, y = bn.normalize(bn.multiply(bn.G2, scalar))
    return tuple(x.coeffs), tuple(y.coeffs)


KEY = VerificationKey(g1(ALPHA), g2(BETA), g2(GAMMA), g2(DELTA), tuple(g1(s) for s in IC))


def valid_proof(inputs: list[int]) -> Proof:
    """A = aG1, B = bG2, C = cG1 with ab = alpha beta + gamma (IC0 + sum x_i IC_i) + delta c."""
    a, b = 2, 3
    vk_x = (IC[0] + sum(x * s for x, s in zip(inputs, IC[1:]))) % R
    c = (a * b - ALPHA * BETA - GAMMA * vk_x) * pow(DELTA, -1, R) % R
    return Proof(g1(a), g2(b), g1(c))


@pytest.fixture(scope="module")
def node():
    with run_anvil() as anvil:
        yield anvil


@pytest.fixture(scope="module")
def deployed(node, tmp_path_factory):
    """A market with a Rollup attached on anvil, block 1 committed, a roller staking 200 tokens
    and a reporter with a keystore; each test rolls back what it does."""
    chain = RpcChain(node.url)
    owner, sequencer = chain.dev_accounts[:2]
    world = World.deploy(chain)
    deployment = world.attach_rollup(sequencer.address, vk=KEY, genesis_root=OLD_ROOT,
                                     batch_size=2, max_transfers=1)
    market, rollup = world.market, world.rollup
    rollup.commit_block(sequencer, NEW_ROOT, ONE_TRANSFER)
    roller, reporter = Account.create(), Account.create()
    for account in (roller, reporter):
        world.fund(account.address, eth=10**18, tokens=0)
    world.stake_rollers([roller], [200 * ONE_TOKEN], eth=0, tokens=200 * ONE_TOKEN)

    files = tmp_path_factory.mktemp("slash-cli")
    deployment_file = files / "deployment.json"
    deployment.save(deployment_file)
    import_keystore(files / "reporter", reporter.key.hex(), PASSWORD, scrypt_n=2**4)
    password_file = files / "password"
    password_file.write_text(PASSWORD + "\n")
    # The contract builds the inputs itself: block 1's on L1, with the signer as prover.
    inputs = rollup.public_inputs(1, roller.address)
    statement = rollup.statement(1)

    def signed(proof: Proof, index: int = 1, statement: bytes = statement) -> SlashEvidence:
        return SlashEvidence.signed(roller, chain_id=chain.chain_id, rollup=rollup.address,
                                    staking=deployment.staking, index=index, round_=0,
                                    statement=statement, proof=system("groth16").seal(proof))

    valid = valid_proof(inputs)
    invalid = replace(valid, c=g1(1))
    evidence = {"valid": signed(valid), "invalid": signed(invalid),
                "uncommitted": signed(invalid, index=2),
                # signed for another statement of block 1 (one since reverted, say)
                "stale": signed(invalid, statement=b"\x01" * 32)}
    for name, item in evidence.items():
        item.save(files / f"{name}.json")
    common = ["--rpc-url", node.url, "--deployment", str(deployment_file),
              "--datadir", str(files / "reporter"), "--password-file", str(password_file)]
    return {"chain": chain, "market": market, "roller": roller, "reporter": reporter,
            "evidence": evidence, "files": files, "common": common}


@pytest.fixture
def world(deployed):
    snapshot = deployed["chain"].snapshot()
    yield deployed
    deployed["chain"].revert(snapshot)


def slash(world, name: str, *args: str):
    return CliRunner().invoke(cli, ["audit", "slash", str(world["files"] / f"{name}.json"),
                                    *world["common"], *args])


def output(result) -> dict:
    assert result.exit_code == 0, result.output
    assert result.stdout.count("\n") == 1
    return json.loads(result.stdout)


def assert_one_line_error(result, *fragments):
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_dry_run_then_slash(world):
    market, roller, reporter = world["market"], world["roller"], world["reporter"]
    expected = {"roller": roller.address, "reporter": reporter.address,
                "slashed": str(20 * ONE_TOKEN), "reporter_share": str(2 * ONE_TOKEN),
                "burned": str(18 * ONE_TOKEN),
                "offense": "0x" + world["evidence"]["invalid"].offense_key().hex()}

    checked = output(slash(world, "invalid", "--dry-run"))
    assert checked == expected | {"transaction": None, "dry_run": True}
    assert market.roller_info(roller.address).active == 200 * ONE_TOKEN

    supply = market.token_supply()
    done = output(slash(world, "invalid"))
    assert done == expected | {"transaction": done["transaction"], "dry_run": False}
    receipt = world["chain"].w3.eth.get_transaction_receipt(done["transaction"])
    assert receipt["status"] == 1
    info = market.roller_info(roller.address)
    assert (info.active, info.rep) == (180 * ONE_TOKEN, 0)
    assert market.token_balance(reporter.address) == 2 * ONE_TOKEN
    assert market.token_supply() == supply - 18 * ONE_TOKEN

    assert_one_line_error(slash(world, "invalid"), "already slashed")


@pytest.mark.parametrize("dry_run", [False, True], ids=["send", "dry-run"])
def test_a_valid_proof_is_a_one_line_refusal(world, dry_run):
    result = slash(world, "valid", *(["--dry-run"] if dry_run else []))
    assert_one_line_error(result, "the proof is valid: nothing to slash")


def test_a_block_not_committed_is_a_one_line_refusal(world):
    assert_one_line_error(slash(world, "uncommitted"), "block 2 is not committed on the rollup")


def test_a_stale_statement_is_a_one_line_refusal(world):
    assert_one_line_error(slash(world, "stale"), "the signed statement is not the one the rollup "
                                                 "holds now for 1")


def test_evidence_for_another_deployment_is_refused_before_sending(world):
    evidence = world["evidence"]["invalid"]
    other = world["files"] / "other-staking.json"
    replace(evidence, staking=evidence.rollup).save(other)
    assert_one_line_error(slash(world, "other-staking"), "names staking contract",
                          "pass the deployment the evidence belongs to")
    replace(evidence, chain_id=1).save(world["files"] / "other-chain.json")
    assert_one_line_error(slash(world, "other-chain"), "signed for chain id 1")
    replace(evidence, rollup=evidence.staking).save(world["files"] / "other-rollup.json")
    assert_one_line_error(slash(world, "other-rollup"), f"rollup {evidence.staking}")


def test_a_malformed_evidence_file_is_a_one_line_error(world):
    (world["files"] / "broken.json").write_text('{"version": 1}')
    assert_one_line_error(slash(world, "broken"), "broken.json is not slash evidence")
