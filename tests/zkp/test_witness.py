"""Witness calculation against snarkjs's and circom's own JavaScript calculators."""

import json
import logging

import numpy as np
import pytest

from zkp.errors import InputSignalError, MalformedFile, WitnessError, ZkpError
from zkp.field import R, limbs_to_ints
from zkp.r1cs import read_r1cs
from zkp.witness import WitnessCalculator, calculate_witness
from zkp.wtns import read_wtns


@pytest.fixture
def snarkjs_witness(snarkjs):
    """The witness that `snarkjs wtns calculate` computes, read back through our reader."""

    def calculate(circuit, inputs, tmp_path) -> np.ndarray:
        (tmp_path / "input.json").write_text(json.dumps(inputs))
        snarkjs("wtns", "calculate", circuit.wasm, tmp_path / "input.json", tmp_path / "w.wtns")
        return read_wtns(tmp_path / "w.wtns")

    return calculate


@pytest.mark.parametrize(
    "inputs",
    [
        {"a": 3, "b": 11},
        {"a": "-5", "b": str(R + 7)},  # negative and unreduced values are taken mod r
        {"a": "0x1f", "b": 2**200},  # a power of two: a JSON number that JavaScript reads exactly
    ],
)
def test_multiplier_matches_snarkjs(circuits, snarkjs_witness, tmp_path, inputs):
    circuit = circuits["multiplier"]
    ours = calculate_witness(circuit.wasm, inputs)
    np.testing.assert_array_equal(ours, snarkjs_witness(circuit, inputs, tmp_path))


@pytest.mark.parametrize(
    "grid", [[[0, 0], [0, 0]], [[1, 2], [3, 4]], [["-1", str(R - 1)], [2**253, "123456789"]]]
)  # 2**253: see above
def test_poseidon_matches_snarkjs_and_satisfies_r1cs(circuits, snarkjs_witness, tmp_path, grid):
    circuit = circuits["poseidon"]
    ours = calculate_witness(circuit.wasm, {"in": grid})
    np.testing.assert_array_equal(ours, snarkjs_witness(circuit, {"in": grid}, tmp_path))
    assert read_r1cs(circuit.r1cs).violated_constraints(limbs_to_ints(ours)) == []


def test_eddsa_matches_snarkjs_on_valid_signatures(
    circuits, eddsa_inputs, snarkjs_witness, tmp_path
):
    circuit = circuits["eddsa"]
    calculator = WitnessCalculator(circuit.wasm)
    r1cs = read_r1cs(circuit.r1cs)
    assert calculator.witness_size == r1cs.n_wires
    for i, inputs in enumerate(eddsa_inputs):
        (tmp_path / str(i)).mkdir()
        ours = calculator.calculate(inputs)
        np.testing.assert_array_equal(ours, snarkjs_witness(circuit, inputs, tmp_path / str(i)))
        assert r1cs.violated_constraints(limbs_to_ints(ours)) == []


def test_forged_signature_fails_with_the_circuits_message(circuits, eddsa_inputs):
    forged = dict(eddsa_inputs[0], M=str(int(eddsa_inputs[0]["M"]) + 1))
    with pytest.raises(WitnessError, match=r"assert failed: Error in template ForceEqualIfEnabled"):
        calculate_witness(circuits["eddsa"].wasm, forged)


def test_failing_assert_names_template_and_line(circuits):
    with pytest.raises(WitnessError) as failure:
        calculate_witness(circuits["multiplier"].wasm, {"a": 1, "b": 5})
    assert "assert failed: Error in template Multiplier_0 line: 9" in str(failure.value)
    assert str(circuits["multiplier"].wasm) in str(failure.value)
    assert not isinstance(failure.value, InputSignalError)


def test_bus_inputs_match_circoms_generate_witness(circuits, node, tmp_path):
    circuit = circuits["buses"]
    inputs = {"p": [{"x": 1, "y": "2"}, {"x": 3, "y": -4}], "scale": 5}
    (tmp_path / "input.json").write_text(json.dumps(inputs))
    generate = circuit.wasm.parent / "generate_witness.js"
    node(generate, circuit.wasm, tmp_path / "input.json", tmp_path / "w.wtns")
    ours = calculate_witness(circuit.wasm, inputs)
    np.testing.assert_array_equal(ours, read_wtns(tmp_path / "w.wtns"))
    assert limbs_to_ints(ours)[1:3] == [20, (-10) % R]


@pytest.mark.parametrize(
    ("inputs", "signal", "problem"),
    [
        ({"a": 3, "b": 4, "c": 5}, "c", "'c' is not an input signal"),
        ({"a": [3, 4], "b": 5}, "a", "input 'a' takes 1 value, 2 given"),
        ({"a": 3, "b": "eleven"}, "b", "'eleven' is not an integer"),
        ({"a": 3, "b": 1.5}, "b", "1.5 is not an integer"),
        ({"a": 3}, None, "inputs missing: 1 of 2 input values given"),
    ],
)
def test_bad_inputs_name_the_signal(circuits, inputs, signal, problem):
    with pytest.raises(InputSignalError, match=problem) as failure:
        calculate_witness(circuits["multiplier"].wasm, inputs)
    assert failure.value.signal == signal


def test_array_size_is_checked(circuits):
    with pytest.raises(InputSignalError, match="input 'in' takes 4 values, 3 given"):
        calculate_witness(circuits["poseidon"].wasm, {"in": [[1, 2], [3]]})


def test_circuit_logs_go_to_logging(circuits, caplog):
    with caplog.at_level(logging.INFO, logger="zkp.witness"):
        calculate_witness(circuits["multiplier"].wasm, {"a": 3, "b": 11})
    assert any(record.getMessage().endswith(": product 33") for record in caplog.records)


def test_calculator_is_reusable_after_a_failure(circuits):
    calculator = WitnessCalculator(circuits["multiplier"].wasm)
    with pytest.raises(WitnessError):
        calculator.calculate({"a": 1, "b": 2})
    assert limbs_to_ints(calculator.calculate({"a": 2, "b": 3})) == [1, 6, 2, 3]
    assert WitnessCalculator(circuits["multiplier"].wasm)._module is calculator._module


def test_unusable_wasm_is_malformed(tmp_path):
    (tmp_path / "junk.wasm").write_bytes(b"\0asm junk")
    with pytest.raises(MalformedFile, match="junk.wasm: not a valid wasm module"):
        WitnessCalculator(tmp_path / "junk.wasm")
    (tmp_path / "empty.wasm").write_bytes(b"\0asm\1\0\0\0")
    with pytest.raises(MalformedFile, match="empty.wasm: not a circom witness calculator"):
        WitnessCalculator(tmp_path / "empty.wasm")
    with pytest.raises(ZkpError, match="missing.wasm"):
        WitnessCalculator(tmp_path / "missing.wasm")
