"""zkp.builds: a circuit is compiled and set up once per content, and named by its key's hash."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from zkp.builds import build_block_circuit, build_circuit, file_hash
from zkp.errors import CircuitCompileError

MULTIPLIER = Path(__file__).parent / "circuits" / "multiplier.circom"


def test_a_second_build_is_the_first_one_found_again(tmp_path):
    source = tmp_path / "src" / "multiplier.circom"
    source.parent.mkdir()
    shutil.copyfile(MULTIPLIER, source)
    first = build_circuit(source, tmp_path / "cache")
    assert first.setup.made
    again = build_circuit(source, tmp_path / "cache")
    assert not again.setup.made
    assert (again.r1cs, again.zkey, again.zkey_hash) == (first.r1cs, first.zkey, first.zkey_hash)
    assert again.zkey_hash == file_hash(again.zkey) and again.wasm_hash == file_hash(again.wasm)

    # Any change to the sources is another circuit, with another key.
    source.write_text(source.read_text() + "\n// changed\n")
    changed = build_circuit(source, tmp_path / "cache")
    assert changed.r1cs.parent != first.r1cs.parent


def test_unknown_profile_and_missing_source_are_named(tmp_path):
    with pytest.raises(CircuitCompileError, match="no block circuit profile 'medium'; there are large, small"):
        build_block_circuit("medium", tmp_path)
    with pytest.raises(CircuitCompileError, match="nowhere.circom: no such circuit file"):
        build_circuit(tmp_path / "nowhere.circom", tmp_path)


def test_a_circuit_that_does_not_compile_leaves_nothing_in_the_cache(tmp_path):
    source = tmp_path / "broken.circom"
    source.write_text("pragma circom 2.0.0;\ntemplate T() { signal input a; a === ; }\n"
                      "component main = T();\n")
    with pytest.raises(CircuitCompileError, match="circom failed on"):
        build_circuit(source, tmp_path / "cache")
    leftovers = [p.name for p in (tmp_path / "cache" / "circuits").iterdir()
                 if not p.name.endswith(".lock")]
    assert leftovers == []
