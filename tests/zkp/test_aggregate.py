"""Batch aggregation in Python: valid batches of snarkjs proofs pass, spoiled ones do not."""

import json

import pytest
from eth_abi import encode
from eth_hash.auto import keccak
from tampering import batch_tamperings

from zkp.aggregate import AggregationError, aggregate, batch_scalars, verify_aggregate
from zkp.errors import MalformedFile
from zkp.field import R
from zkp.snarkjs_json import (
    read_aggregate,
    read_proof,
    read_public_signals,
    read_verification_key,
    write_aggregate,
)
from zkp.verify import Verdict

K_REJECTED = 4


@pytest.fixture(scope="module")
def batch(multiplier_setup, multiplier_proofs):
    """(key, proofs, public signals) of all the multiplier proofs."""
    return (read_verification_key(multiplier_setup.verification_key),
            [read_proof(f.proof) for f in multiplier_proofs],
            [read_public_signals(f.public) for f in multiplier_proofs])


@pytest.mark.parametrize("k", [2, 4, 16])
def test_accepts_batches(batch, k):
    vk, proofs, publics = batch
    assert verify_aggregate(vk, aggregate(proofs[:k], publics[:k]), publics[:k]) == Verdict(True)


def test_scalars_follow_the_abi_encoding(batch):
    """t = keccak256(abi.encodePacked(a, b, inputs)), r_i = keccak256(abi.encode(t, i)) mod r,
    computed here with eth_abi, independently of zkp.aggregate's own encoding."""
    _, proofs, publics = batch
    a = [list(p.a) for p in proofs[:3]]
    b = [[[p.b[0][1], p.b[0][0]], [p.b[1][1], p.b[1][0]]] for p in proofs[:3]]
    arrays = ([w for p in a for w in p], [w for p in b for xy in p for w in xy],
              [x for inputs in publics[:3] for x in inputs])
    packed = b"".join(encode(["uint256"] * len(words), words) for words in arrays)
    t = keccak(packed)
    expected = [int.from_bytes(keccak(encode(["bytes32", "uint256"], [t, i])), "big") % R
                for i in (1, 2, 3)]
    assert batch_scalars([p.a for p in proofs[:3]], [p.b for p in proofs[:3]],
                         publics[:3]) == expected


@pytest.mark.parametrize("tampering", batch_tamperings(K_REJECTED), ids=lambda t: t.name)
def test_rejects(batch, tampering):
    vk, proofs, publics = batch
    agg, spoiled_publics = tampering.apply(proofs[:K_REJECTED], publics[:K_REJECTED])
    assert verify_aggregate(vk, agg, spoiled_publics) == Verdict(False, tampering.reason)


def test_rejects_a_proof_with_too_many_inputs(batch):
    vk, proofs, publics = batch
    longer = [publics[0], [*publics[1], 5]]
    assert verify_aggregate(vk, aggregate(proofs[:2], publics[:2]), longer) == Verdict(
        False, "proof 1: expected 2 public inputs, got 3")


@pytest.mark.parametrize(("proofs", "publics", "message"), [
    (0, 0, "no proofs to aggregate"),
    (2, 1, "2 proofs but 1 lists of public inputs"),
])
def test_aggregate_needs_matching_counts(batch, proofs, publics, message):
    _, all_proofs, all_publics = batch
    with pytest.raises(AggregationError, match=message):
        aggregate(all_proofs[:proofs], all_publics[:publics])


def test_aggregate_needs_one_circuit(batch):
    _, proofs, publics = batch
    with pytest.raises(AggregationError, match="different numbers of public inputs"):
        aggregate(proofs[:2], [publics[0], publics[1][:1]])


def test_aggregate_file_round_trips(batch, tmp_path):
    _, proofs, publics = batch
    agg = aggregate(proofs[:3], publics[:3])
    write_aggregate(tmp_path / "agg.json", agg, publics[:3])
    assert read_aggregate(tmp_path / "agg.json") == (agg, publics[:3])
    doc = json.loads((tmp_path / "agg.json").read_text())
    assert (doc["protocol"], doc["curve"], doc["k"]) == ("groth16-batch", "bn128", 3)
    assert doc["pi_c"] == [str(agg.c[0]), str(agg.c[1]), "1"]
    assert doc["publicSignals"] == [[str(x) for x in inputs] for inputs in publics[:3]]


@pytest.mark.parametrize(("change", "message"), [
    (lambda doc: doc.update(k=4), r"pi_a: expected a list of k = 4 entries"),
    (lambda doc: doc.update(protocol="groth16"), "protocol is 'groth16'"),
    (lambda doc: doc["publicSignals"][1].__setitem__(0, str(R)),
     r"publicSignals\[1\]\[0\]: .* is not below the field modulus"),
    (lambda doc: doc["pi_b"][2].pop(), r"pi_b\[2\]: expected a G2 point"),
])
def test_malformed_aggregate_files_name_the_place(batch, tmp_path, change, message):
    _, proofs, publics = batch
    path = tmp_path / "agg.json"
    write_aggregate(path, aggregate(proofs[:3], publics[:3]), publics[:3])
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc))
    with pytest.raises(MalformedFile, match=f"{path}: {message}"):
        read_aggregate(path)
