"""`provernet zkp` on files that snarkjs wrote.

Here rather than in tests/provernet because the snarkjs proofs are fixtures of tests/zkp.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from provernet.cli import cli
from zkp.snarkjs_json import read_verification_key
from zkp.solidity import render_batch_verifier, render_verifier


def _zkp(*args) -> Result:
    return CliRunner().invoke(cli, ["zkp", *(str(a) for a in args)])


def _pair(files) -> str:
    return f"{files.proof}:{files.public}"


@pytest.fixture
def vkey(multiplier_setup) -> Path:
    return multiplier_setup.verification_key


def test_verify_accepts(vkey, multiplier_proofs):
    files = multiplier_proofs[0]
    result = _zkp("verify", "--vkey", vkey, "--proof", files.proof, "--public", files.public)
    assert (result.exit_code, result.output) == (0, "valid\n")


def test_verify_rejects_with_the_reason(vkey, multiplier_proofs):
    result = _zkp("verify", "--vkey", vkey, "--proof", multiplier_proofs[0].proof,
                  "--public", multiplier_proofs[1].public)
    assert (result.exit_code, result.output) == (1, "invalid: pairing check failed\n")


def test_an_unreadable_file_is_one_error_line(vkey, multiplier_proofs, tmp_path):
    broken = tmp_path / "proof.json"
    broken.write_text("{")
    result = _zkp("verify", "--vkey", vkey, "--proof", broken,
                  "--public", multiplier_proofs[0].public)
    assert result.exit_code == 1
    assert result.output == f"Error: {broken}: not JSON: Expecting property name enclosed in " \
                            "double quotes at line 1\n"


def test_aggregate_then_verify(vkey, multiplier_proofs, tmp_path):
    out = tmp_path / "agg.json"
    result = _zkp("aggregate", "--vkey", vkey, "--out", out,
                  *(_pair(f) for f in multiplier_proofs[:3]))
    assert (result.exit_code, result.output) == (0, f"aggregated 3 proofs into {out}\n")
    assert json.loads(out.read_text())["k"] == 3
    result = _zkp("verify-aggregate", "--vkey", vkey, "--aggregate", out)
    assert (result.exit_code, result.output) == (0, "valid\n")


def test_aggregate_names_the_invalid_proof(vkey, multiplier_proofs, tmp_path):
    wrong = f"{multiplier_proofs[1].proof}:{multiplier_proofs[2].public}"
    out = tmp_path / "agg.json"
    result = _zkp("aggregate", "--vkey", vkey, "--out", out, _pair(multiplier_proofs[0]), wrong)
    assert result.exit_code == 1
    assert result.output == (f"Error: {multiplier_proofs[1].proof} with "
                             f"{multiplier_proofs[2].public} is invalid: pairing check failed\n")
    assert not out.exists()

    result = _zkp("aggregate", "--vkey", vkey, "--out", out, "--no-check",
                  _pair(multiplier_proofs[0]), wrong)
    assert result.exit_code == 0, result.output
    result = _zkp("verify-aggregate", "--vkey", vkey, "--aggregate", out)
    assert (result.exit_code, result.output) == (1, "invalid: pairing check failed\n")


def test_aggregate_wants_proof_colon_public(vkey, multiplier_proofs, tmp_path):
    result = _zkp("aggregate", "--vkey", vkey, "--out", tmp_path / "agg.json",
                  multiplier_proofs[0].proof)
    assert result.exit_code == 2
    assert "is not PROOF.json:PUBLIC.json" in result.output


@pytest.mark.parametrize(("flags", "render", "name"), [
    ((), render_verifier, "Groth16Verifier"),
    (("--batch",), render_batch_verifier, "Groth16BatchVerifier"),
    (("--batch", "--name", "MultiplierBatch"), render_batch_verifier, "MultiplierBatch"),
])
def test_export_verifier(vkey, tmp_path, flags, render, name):
    out = tmp_path / "Verifier.sol"
    result = _zkp("export-verifier", "--vkey", vkey, "--out", out, *flags)
    assert (result.exit_code, result.output) == (0, f"wrote {out}\n")
    assert out.read_text() == render(read_verification_key(vkey), name)
