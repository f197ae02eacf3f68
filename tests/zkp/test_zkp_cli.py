"""`provernet zkp` on files that snarkjs wrote.

Here rather than in tests/provernet because the snarkjs proofs are fixtures of tests/zkp.
"""

from __future__ import annotations

import json
import re
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


# setup and prove: our own key and prover, judged by snarkjs

CIRCUITS = Path(__file__).parent / "circuits"


@pytest.fixture
def multiplier_keys(tmp_path) -> Path:
    out = tmp_path / "keys"
    result = _zkp("setup", CIRCUITS / "multiplier.circom", "--out", out,
                  "--cache-dir", tmp_path / "cache")
    assert result.exit_code == 0, result.output
    assert "made:" in result.output and "INSECURE development setup" in result.output
    return out


def test_setup_is_made_once(multiplier_keys, tmp_path):
    again = _zkp("setup", multiplier_keys / "multiplier.r1cs", "--out", tmp_path / "again",
                 "--cache-dir", tmp_path / "cache")
    assert again.exit_code == 0, again.output
    assert "reused the cached key" in again.output
    assert (tmp_path / "again" / "circuit.zkey").read_bytes() == (
        multiplier_keys / "circuit.zkey").read_bytes()


def test_prove_then_snarkjs_verifies(multiplier_keys, snarkjs, tmp_path):
    (tmp_path / "input.json").write_text(json.dumps({"a": 3, "b": 11}))
    proof, public = tmp_path / "proof.json", tmp_path / "public.json"
    result = _zkp("prove", "--zkey", multiplier_keys / "circuit.zkey",
                  "--wasm", multiplier_keys / "multiplier_js" / "multiplier.wasm",
                  "--input", tmp_path / "input.json", "--proof", proof, "--public", public,
                  "--backend", "cpu")
    assert result.exit_code == 0, result.output
    assert "proving on cpu" in result.output
    assert json.loads(public.read_text()) == ["33", "3"]
    assert "OK" in snarkjs("groth16", "verify", multiplier_keys / "verification_key.json",
                           public, proof)
    verdict = _zkp("verify", "--vkey", multiplier_keys / "verification_key.json",
                   "--proof", proof, "--public", public)
    assert (verdict.exit_code, verdict.output) == (0, "valid\n")


@pytest.mark.parametrize(
    "inputs, message",
    [({"a": 1, "b": 5}, "Error: .*multiplier.wasm: assert failed: .*Multiplier_0 line: 9"),
     ({"a": 3}, "Error: .*inputs missing")],
    ids=["circuit-assert", "missing-input"])
def test_prove_reports_the_circuits_refusal_in_one_line(multiplier_keys, tmp_path, inputs,
                                                        message):
    (tmp_path / "input.json").write_text(json.dumps(inputs))
    result = _zkp("prove", "--zkey", multiplier_keys / "circuit.zkey",
                  "--wasm", multiplier_keys / "multiplier_js" / "multiplier.wasm",
                  "--input", tmp_path / "input.json", "--proof", tmp_path / "p.json",
                  "--public", tmp_path / "x.json")
    assert result.exit_code == 1
    assert re.search(message, result.output), result.output
    assert "Traceback" not in result.output and not (tmp_path / "p.json").exists()


def test_prove_wants_a_witness_or_wasm_and_input(multiplier_keys, tmp_path):
    result = _zkp("prove", "--zkey", multiplier_keys / "circuit.zkey",
                  "--wasm", multiplier_keys / "multiplier_js" / "multiplier.wasm",
                  "--proof", tmp_path / "p.json", "--public", tmp_path / "x.json")
    assert result.exit_code == 2 and "give either --witness, or both --wasm and --input" in result.output


def test_bench_gas_json(monkeypatch, tmp_path):
    """Real proofs of the 4-input benchmark circuit, verified on the embedded chain."""
    monkeypatch.setenv("PROVERNET_CACHE", str(tmp_path))
    result = CliRunner().invoke(cli, ["bench", "gas", "--k", "2", "--json"])
    assert result.exit_code == 0, result.output
    figure = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(figure) == {"k", "single_verify_gas", "aggregate_verify_gas", "gas_per_proof"}
    assert figure["k"] == 2
    assert figure["gas_per_proof"] == figure["aggregate_verify_gas"] // 2
    assert 150_000 < figure["single_verify_gas"] < figure["aggregate_verify_gas"]


def test_bench_proves_a_full_small_block_on_the_cpu(small_circuit, build_cache, tmp_path):
    """`provernet zkp bench --circuits block_small`: a real proof of a full block of the small
    profile (its inputs built by the L2 model, `_full_block_inputs`), timed on the cpu."""
    out = tmp_path / "bench.json"
    result = CliRunner().invoke(cli, ["zkp", "bench", "--backend", "cpu", "--min-log", "1",
                                      "--max-log", "0", "--circuits", "block_small", "--runs",
                                      "1", "--cache-dir", str(build_cache), "--json", str(out)])
    assert result.exit_code == 0, result.output
    (row,) = json.loads(out.read_text())["rows"]
    assert (row["what"], row["log_n"], row["constraints"]) == ("proof block_small", 16, 57_834)
    assert row["cpu_ms"] > 0
