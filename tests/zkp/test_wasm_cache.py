"""The compiled witness calculators kept on disk (zkp.witness): used by the next process, and
never trusted when damaged."""

import hashlib
import logging
from pathlib import Path

import numpy as np
import pytest
import wasmtime

from zkp import witness
from zkp.witness import WitnessCalculator, compiled_path

INPUTS = {"in": [[1, 2], [3, 4]]}


@pytest.fixture
def wasm(circuits) -> Path:
    return circuits["poseidon"].wasm


@pytest.fixture
def compiles(monkeypatch) -> list:
    """The wasm compiled from now on, one entry per compile; each test starts as a new process
    does, with nothing compiled in memory."""
    monkeypatch.setattr(witness, "_MODULES", {})
    witness._copy_witness_module()  # compiled once per process, whatever the cache holds
    calls = []
    compile_ = wasmtime.Module.__init__

    def counted(self, engine, wasm):
        calls.append(len(wasm))
        compile_(self, engine, wasm)

    monkeypatch.setattr(wasmtime.Module, "__init__", counted)
    return calls


def _new_process(wasm: Path, cache: Path) -> np.ndarray:
    witness._MODULES.clear()
    return WitnessCalculator(wasm, cache).calculate(INPUTS)


def _cache_file(cache: Path, wasm: Path) -> Path:
    return compiled_path(cache, hashlib.sha256(wasm.read_bytes()).digest())


def test_second_process_loads_the_compiled_module(wasm, tmp_path, compiles):
    expected = _new_process(wasm, tmp_path)
    assert len(compiles) == 1
    cached = _cache_file(tmp_path, wasm)
    assert cached.parent == tmp_path / "wasm"
    assert f"wasmtime-{witness._wasmtime_version()}" in cached.name
    assert list(cached.parent.iterdir()) == [cached]  # no partial file left behind

    np.testing.assert_array_equal(_new_process(wasm, tmp_path), expected)
    assert len(compiles) == 1


def _flip_middle(data: bytes) -> bytes:
    middle = len(data) // 2
    return data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1:]


def _refused_by_wasmtime(_data: bytes) -> bytes:
    """An entry that checks out but holds what wasmtime refuses, as one of another build."""
    body = b"\x7fELF, but not a module"
    return witness._COMPILED_MAGIC + hashlib.sha256(body).digest() + body


@pytest.mark.parametrize("damage", [
    pytest.param(_flip_middle, id="flipped byte"),  # which wasmtime itself would load and run
    pytest.param(lambda data: data[: len(data) // 3], id="truncated"),
    pytest.param(lambda data: b"", id="empty"),
    pytest.param(lambda data: b"X" + data[1:], id="wrong magic"),
    pytest.param(_refused_by_wasmtime, id="refused by wasmtime"),
])
def test_damaged_cache_file_is_compiled_again_and_replaced(wasm, tmp_path, compiles, caplog,
                                                           damage):
    expected = _new_process(wasm, tmp_path)
    cached = _cache_file(tmp_path, wasm)
    cached.write_bytes(damage(cached.read_bytes()))

    with caplog.at_level(logging.WARNING, logger="zkp.witness"):
        np.testing.assert_array_equal(_new_process(wasm, tmp_path), expected)
    assert len(compiles) == 2
    assert str(cached) in caplog.text and "compiling again" in caplog.text
    # Replaced by a good entry: the process after loads it.
    np.testing.assert_array_equal(_new_process(wasm, tmp_path), expected)
    assert len(compiles) == 2


def test_unwritable_cache_costs_a_compile_not_the_witness(wasm, tmp_path, compiles, caplog):
    blocked = tmp_path / "cache"
    blocked.write_text("a file where the cache directory should be")
    with caplog.at_level(logging.WARNING, logger="zkp.witness"):
        values = _new_process(wasm, blocked)
    assert values.shape == (WitnessCalculator(wasm, blocked).witness_size, 4)
    assert "cannot keep the compiled module" in caplog.text
