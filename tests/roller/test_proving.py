"""Proving tasks with the small block circuit: real proofs that the Python verifier accepts,
aggregates of them, every refusal before anything is signed, and the on-chain verifier check."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from market_contracts.chain import EmbeddedChain
from market_contracts.verifiers import deploy_batch_verifier, deploy_verifier
from roller import proving
from roller.capacity import ProvingSpeed, calibrate
from roller.errors import CircuitMismatch, InvalidTaskInputs, SelfCheckFailed, WrongProver
from roller.journal import (JOURNAL_NAME, Journal, TaskOffer, decode_batch_inputs,
                            encode_batch_inputs)
from roller.proving import BlockProver, vk_matches_verifier
from sequencer.accounts import AccountTree
from sequencer.blocks import dev_transfer, l2_chain
from sequencer.circuit_inputs import SMALL, block_inputs
from sequencer.genesis import devnet_genesis
from zkp.aggregate import verify_aggregate
from zkp.proof import Proof
from zkp.snarkjs_json import read_verification_key
from zkp.system import system
from zkp.verify import verify

GROTH16 = system("groth16")

ADDRESS = "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23"
OTHER = "0x00000000000000000000000000000000000000aB"
COORDINATOR = "0x5B38Da6a701c568545dCfcB03FcB875f56beddC4"
ROLLUP = "0x5FbDB2315678afecb367f032d93F642f64180aa3"


@pytest.fixture(scope="module")
def prover(small_circuit) -> BlockProver:
    return BlockProver(small_circuit, "cpu")


@pytest.fixture(scope="module")
def blocks():
    state = devnet_genesis(SMALL.depth, 4, 1_000)
    return l2_chain(state, [[dev_transfer(0, 1, 5, 0), dev_transfer(1, 2, 3, 0)],
                            [dev_transfer(2, 3, 1, 0)]])


def inputs(block, address: str = ADDRESS) -> bytes:
    return json.dumps(block_inputs(SMALL, block.before, block.ops, address)).encode()


def task(circuit: bytes, inputs_: bytes, kind: str = "block", index: int = 1,
         units: int = 1) -> TaskOffer:
    return TaskOffer(b"\x01" * 32, COORDINATOR, ROLLUP, kind, index, 0, b"\x02" * 32, b"\x03" * 32, 1,
                     False, 1_000, 1_030, 1_060,
                     circuit, inputs_, units)


class Signer:
    """Records what it is asked to sign: `run` must only ask for verified proofs."""

    def __init__(self):
        self.calls = []

    def __call__(self, kind, index, round_, proof, public) -> bytes:
        self.calls.append((kind, index, round_, proof, public))
        return b"\x1b" * 65


@pytest.fixture(scope="module")
def proven(prover, blocks):
    """Both blocks proven once through `run`, for the tests that need proofs."""
    sign = Signer()
    results = [prover.run(task(prover.build.zkey_hash, inputs(b), index=i + 1), ADDRESS, sign)
               for i, b in enumerate(blocks)]
    return results, sign


def test_a_block_proof_that_the_python_verifier_accepts(prover, blocks, proven):
    results, sign = proven
    vk = read_verification_key(prover.build.verification_key)  # the key as published, as JSON
    for block, result in zip(blocks, results, strict=True):
        assert result.public == tuple(block.inputs(SMALL, ADDRESS))
        assert verify(vk, GROTH16.open(result.proof), result.public).valid
        # Bound to its prover: the same proof is not one for another address.
        assert not verify(vk, GROTH16.open(result.proof), block.inputs(SMALL, OTHER)).valid
        assert result.signature == b"\x1b" * 65
        assert 0 < result.witness_seconds < result.seconds
    assert [(kind, index, r) for kind, index, r, _, _ in sign.calls] == [
        ("block", 1, 0), ("block", 2, 0)]
    assert sign.calls[0][3:] == (results[0].proof, results[0].public)


def test_inputs_for_another_prover_are_refused_before_proving(prover, blocks):
    sign = Signer()
    with pytest.raises(WrongProver, match=f"bind the proof to {OTHER.lower()}, not to this "
                                          f"roller \\({ADDRESS}\\)"):
        prover.run(task(prover.build.zkey_hash, inputs(blocks[0], OTHER)), ADDRESS, sign)
    assert sign.calls == []


@pytest.mark.parametrize(("damage", "error", "message"), [
    (lambda i: b"{not json", InvalidTaskInputs, "not JSON"),
    (lambda i: b"[1, 2]", InvalidTaskInputs, "not a JSON object"),
    (lambda i: json.dumps({k: v for k, v in json.loads(i).items() if k != "prover"}).encode(),
     InvalidTaskInputs, "prover None is not an address"),
    (lambda i: json.dumps({**json.loads(i), "newRoot": "5"}).encode(), InvalidTaskInputs,
     "the circuit refuses the inputs"),
    (lambda i: json.dumps({**json.loads(i), "mantissa": ["5"]}).encode(), InvalidTaskInputs,
     "the circuit refuses the inputs: .*'mantissa' takes 2 values"),
])
def test_bad_inputs_are_refused_with_the_reason(prover, blocks, damage, error, message):
    sign = Signer()
    with pytest.raises(error, match=message):
        prover.run(task(prover.build.zkey_hash, damage(inputs(blocks[0]))), ADDRESS, sign)
    assert sign.calls == []


def test_a_task_for_another_circuit_is_refused(prover, blocks):
    with pytest.raises(CircuitMismatch, match="is for circuit 0303"):
        prover.run(task(b"\x03" * 32, inputs(blocks[0])), ADDRESS, Signer())


def test_a_proof_that_fails_our_own_check_is_never_signed(prover, blocks, proven, monkeypatch):
    good = proven[0][0]
    points = GROTH16.open(good.proof)
    forged = Proof(a=points.c, b=points.b, c=points.a)
    monkeypatch.setattr(prover._prover, "prove", lambda witness: (forged, list(good.public)))
    sign = Signer()
    with pytest.raises(SelfCheckFailed, match="our own proof does not verify .pairing check "
                                              "failed.; not signing it"):
        prover.run(task(prover.build.zkey_hash, inputs(blocks[0])), ADDRESS, sign)
    assert sign.calls == []


def test_a_batch_is_aggregated_verified_and_signed(prover, proven):
    results, _ = proven
    items = [(index, r.proof, r.public) for index, r in zip((1, 2), results, strict=True)]
    sign = Signer()
    batch = prover.run(task(prover.build.zkey_hash, encode_batch_inputs(items), "batch", 0, 2),
                       ADDRESS, sign)
    assert batch.public == tuple(r.public for r in results)
    assert verify_aggregate(prover.vk, GROTH16.open_aggregate(batch.proof), batch.public).valid
    assert sign.calls == [("batch", 0, 0, batch.proof, batch.public)]
    assert batch.witness_seconds is None and batch.seconds > 0


def test_a_batch_with_an_invalid_proof_names_it(prover, proven):
    results, _ = proven
    bad = GROTH16.seal(replace(GROTH16.open(results[1].proof), c=GROTH16.open(results[0].proof).c))
    items = [(1, results[0].proof, results[0].public), (2, bad, results[1].public)]
    sign = Signer()
    with pytest.raises(InvalidTaskInputs, match="proof 1 of the batch does not verify"):
        prover.run(task(prover.build.zkey_hash, encode_batch_inputs(items), "batch", 0, 2),
                   ADDRESS, sign)
    assert sign.calls == []


def test_batch_inputs_round_trip_and_malformed_ones_are_refused(proven):
    results, _ = proven
    items = [(5, results[0].proof, results[0].public), (6, results[1].proof, results[1].public)]
    assert decode_batch_inputs(encode_batch_inputs(items)) == items
    with pytest.raises(InvalidTaskInputs, match=r"blocks \[6, 5\] are not consecutive"):
        decode_batch_inputs(encode_batch_inputs(items[::-1]))
    with pytest.raises(InvalidTaskInputs, match="holds no proofs"):
        decode_batch_inputs(b"[]")
    with pytest.raises(InvalidTaskInputs, match="malformed: KeyError"):
        decode_batch_inputs(b'[{"index": 1}]')


def test_the_backend_choice_is_reported(prover, small_circuit):
    assert (prover.backend_name, prover.backend_reason) == ("cpu", "asked for by name")
    assert prover.backend_description.startswith("cpu (")
    auto = BlockProver(small_circuit, "auto")
    assert auto.backend_reason.startswith("auto: ")
    if auto.backend_name == "cpu":
        assert "no usable GPU" in auto.backend_reason


def test_calibration_with_an_empty_block(prover, tmp_path):
    empty = json.dumps(block_inputs(SMALL, AccountTree(SMALL.depth), [], ADDRESS)).encode()
    journal = Journal.open(tmp_path / JOURNAL_NAME)
    try:
        speed = ProvingSpeed(journal, prover.backend_description)
        per_block, per_proof = calibrate(prover, speed, empty, ADDRESS)
        assert speed.measured(prover.build.zkey_hash)
        assert speed.snapshot() == {(prover.build.zkey_hash, "block"): per_block,
                                    (prover.build.zkey_hash, "batch"): per_proof}
        assert per_block > 0 and per_proof > 0
    finally:
        journal.close()


def test_the_vk_is_checked_against_the_deployed_verifiers(small_circuit, tmp_path, monkeypatch):
    # Compiled fresh here, whatever earlier tests of this process compiled (the cache below is
    # this test's tmp_path, and the in-memory one would skip writing it).
    monkeypatch.setattr(proving, "_COMPILED", {})
    chain = EmbeddedChain()
    account = chain.dev_accounts[0]
    vk = small_circuit.setup.vk
    block_verifier = deploy_verifier(chain, account, vk, "RollupBlockVerifier").address
    batch_verifier = deploy_batch_verifier(chain, account, vk, "RollupBatchVerifier").address

    assert vk_matches_verifier(small_circuit, chain, block_verifier, "block", tmp_path)
    assert vk_matches_verifier(small_circuit, chain, batch_verifier, "batch", tmp_path)
    assert not vk_matches_verifier(small_circuit, chain, batch_verifier, "block", tmp_path)
    assert not vk_matches_verifier(small_circuit, chain, account.address, "block", tmp_path)
    other_key = replace(small_circuit, setup=replace(small_circuit.setup,
                                                     vk=replace(vk, alpha1=vk.ic[0])))
    assert not vk_matches_verifier(other_key, chain, block_verifier, "block", tmp_path)

    # A restart finds the compiled code in the cache: no compiler needed.
    monkeypatch.setattr(proving, "_COMPILED", {})
    monkeypatch.setattr(proving, "run_solc", lambda _: pytest.fail("compiled again"))
    assert vk_matches_verifier(small_circuit, chain, block_verifier, "block", tmp_path)
    assert len(list((tmp_path / "verifiers").glob("*.hex"))) == 3
