"""Witness calculation: runs a circuit's circom-generated .wasm under wasmtime.

This is the protocol of the witness_calculator.js that circom 2 emits next to
the wasm, without Node. Field elements cross the boundary through the wasm's
shared read-write memory (n32 little-endian 32-bit words, least significant
first, i.e. the 32 bytes of a .wtns value). An input signal is addressed by
the FNV-1a 64 hash of its name and an index into its flattened array; setting
the last input runs the circuit. The circuit reports failures by calling the
imported exceptionHandler(code) after printErrorMessage has delivered its
text (for an assert: the template and line).

Compiling a circuit's wasm to machine code takes longer than running it (0.56 s against 0.08 s
for block_small on 2 cores), so compiled modules are kept: in memory by the wasm's SHA-256, and on
disk under the cache directory's `wasm/` by that hash and wasmtime's version. wasmtime loads a
serialized module without checking its body (a flipped byte in it is accepted, and would run), so
each file carries the SHA-256 of the module it holds; a file that fails the check, or that
wasmtime refuses (another build or CPU), is compiled again and replaced.
"""

import functools
import hashlib
import logging
import os
import re
from collections.abc import Mapping
from importlib.metadata import version
from pathlib import Path

import numpy as np
import wasmtime

from atomicfile import write_atomically
from zkp.cache import default_cache_dir
from zkp.errors import FileAccessError, InputSignalError, MalformedFile, WitnessError
from zkp.field import LIMBS, N8, R

log = logging.getLogger(__name__)

_ENGINE = wasmtime.Engine()
#: compiled modules by sha256 of the wasm: compiling a large circuit takes seconds
_MODULES: dict[bytes, wasmtime.Module] = {}
#: the first bytes of a compiled module's file, then the SHA-256 of the serialized module, then
#: the module; a new layout takes a new number
_COMPILED_MAGIC = b"provernet compiled wasm 1\n"

#: exceptionHandler codes, as witness_calculator.js words them
_EXCEPTIONS = {
    1: "signal not found",
    2: "too many signals set",
    3: "signal already set",
    4: "assert failed",
    5: "not enough memory",
    6: "input signal array access exceeds the size",
    7: "out of bounds array access",
}
#: the codes that mean the caller's inputs, not the circuit, are at fault
_INPUT_EXCEPTIONS = {1, 2, 3, 6}

_PAGE = 65536
#: getWitness(i) for every i, each value copied from shared memory to dest + 32 i
_COPY_WITNESS = """
(module
  (import "circuit" "memory" (memory 1))
  (import "circuit" "getWitness" (func $getWitness (param i32)))
  (func (export "copyWitness") (param $count i32) (param $shared i32) (param $dest i32)
    (local $i i32)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $count)))
        (call $getWitness (local.get $i))
        (memory.copy
          (i32.add (local.get $dest) (i32.mul (local.get $i) (i32.const 32)))
          (local.get $shared)
          (i32.const 32))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))))
"""

_INTEGER = re.compile(r"-?[0-9]+\Z|0[xX][0-9a-fA-F]+\Z|0[oO][0-7]+\Z|0[bB][01]+\Z")


class WitnessCalculator:
    """A circuit's witness calculator; make one per wasm file, call it per input."""

    def __init__(self, wasm_path: str | os.PathLike, cache_dir: Path | None = None):
        """`cache_dir` keeps the compiled wasm [default: zkp.cache.default_cache_dir()]."""
        self.path = os.fspath(wasm_path)
        self._module = _compile(self.path, cache_dir or default_cache_dir())
        probe = _Instance(self._module, self.path)
        if probe.call("getVersion") != 2:
            raise MalformedFile(self.path, "not a circom 2 witness calculator")
        if probe.call("getFieldNumLen32") * 4 != N8 or probe.prime() != R:
            raise MalformedFile(
                self.path,
                "circuit compiled for a prime other than BN254's scalar field "
                "(compile with circom's default --prime bn128)",
            )
        self.witness_size = probe.call("getWitnessSize")
        self.input_size = probe.call("getInputSize")

    def calculate(self, inputs: Mapping[str, object]) -> np.ndarray:
        """The witness for `inputs`, as an (n, 4) uint64 limb array.

        `inputs` is what snarkjs takes as input.json: signal name to value,
        arrays as (nested) lists, bus fields as nested objects; values are
        ints or decimal (or 0x-prefixed) strings, reduced mod r, so negative
        values mean r - |v|.
        """
        try:
            return self._calculate(inputs)
        except InputSignalError as e:
            raise InputSignalError(f"{self.path}: {e}", e.signal) from None
        except WitnessError as e:
            raise WitnessError(f"{self.path}: {e}") from None

    def _calculate(self, inputs: Mapping[str, object]) -> np.ndarray:
        run = _Instance(self._module, self.path)
        run.call("init", 1)
        signals = _qualify(inputs)
        given = 0
        for name, values in signals.items():
            msb, lsb = _split_hash(name)
            size = run.call("getInputSignalSize", msb, lsb)
            if size <= 0:
                raise InputSignalError(f"{name!r} is not an input signal", name)
            if len(values) != size:
                plural = "s" * (size > 1)
                raise InputSignalError(
                    f"input {name!r} takes {size} value{plural}, {len(values)} given", name
                )
            for index, value in enumerate(values):
                run.set_input(name, msb, lsb, index, _field_element(value, name, index))
            given += size
        if given < self.input_size:
            raise InputSignalError(
                f"inputs missing: {given} of {self.input_size} input values given "
                f"(for {', '.join(map(repr, signals)) or 'no signals'})"
            )
        return run.witness(self.witness_size)


def calculate_witness(wasm_path: str | os.PathLike, inputs: Mapping[str, object]) -> np.ndarray:
    return WitnessCalculator(wasm_path).calculate(inputs)


@functools.cache
def _copy_witness_module() -> wasmtime.Module:
    return wasmtime.Module(_ENGINE, _COPY_WITNESS)


def _compile(path: str, cache_dir: Path) -> wasmtime.Module:
    try:
        wasm = Path(path).read_bytes()
    except OSError as e:
        raise FileAccessError(path, e.strerror or str(e)) from e
    key = hashlib.sha256(wasm).digest()
    module = _MODULES.get(key)
    if module is None:
        compiled = compiled_path(cache_dir, key)
        module = _load_compiled(compiled)
        if module is None:
            try:
                module = wasmtime.Module(_ENGINE, wasm)
            except wasmtime.WasmtimeError as e:
                raise MalformedFile(path, f"not a valid wasm module: {_first_line(e)}") from e
            _store_compiled(compiled, module)
        _MODULES[key] = module
    return module


def compiled_path(cache_dir: Path, wasm_hash: bytes) -> Path:
    """Where the module compiled from the wasm of SHA-256 `wasm_hash` is kept."""
    return cache_dir / "wasm" / f"{wasm_hash.hex()}-wasmtime-{_wasmtime_version()}.cwasm"


@functools.cache
def _wasmtime_version() -> str:
    return version("wasmtime")


def _load_compiled(path: Path) -> wasmtime.Module | None:
    """The module kept at `path`, or None where there is none that can be trusted."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as e:
        log.warning("cannot read the compiled module %s (%s); compiling again", path, e)
        return None
    start = len(_COMPILED_MAGIC)
    digest, body = data[start:start + 32], data[start + 32:]
    if data[:start] != _COMPILED_MAGIC or hashlib.sha256(body).digest() != digest:
        log.warning("the compiled module %s is corrupt; compiling again", path)
        return None
    try:
        return wasmtime.Module.deserialize(_ENGINE, body)
    except wasmtime.WasmtimeError as e:
        log.warning("wasmtime refuses the compiled module %s (%s); compiling again", path,
                    _first_line(e))
        return None


def _store_compiled(path: Path, module: wasmtime.Module) -> None:
    """Keep `module` at `path`, written by a rename so that no reader sees half a file. A cache
    that cannot be written costs the next run a compile, nothing more: a warning, not an error."""
    body = module.serialize()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, _COMPILED_MAGIC + hashlib.sha256(body).digest() + body)
    except OSError as e:
        log.warning("cannot keep the compiled module in %s (%s); the next run compiles it again",
                    path.parent, e)


class _CircuitException(Exception):
    def __init__(self, code: int):
        self.code = code


class _Instance:
    """One wasm instance, used for one witness.

    A fresh instance per witness costs little next to the run, and no state
    survives from an earlier run that failed halfway.
    """

    def __init__(self, module: wasmtime.Module, path: str):
        self._path = path
        self._store = wasmtime.Store(_ENGINE)
        self._errors: list[str] = []
        self._log_line: list[str] = []
        i32 = wasmtime.ValType.i32()
        linker = wasmtime.Linker(_ENGINE)
        imports = {
            "exceptionHandler": (wasmtime.FuncType([i32], []), self._exception_handler),
            "printErrorMessage": (wasmtime.FuncType([], []), self._print_error_message),
            "writeBufferMessage": (wasmtime.FuncType([], []), self._write_buffer_message),
            "showSharedRWMemory": (wasmtime.FuncType([], []), self._show_shared_rw_memory),
        }
        for name, (signature, function) in imports.items():
            linker.define_func("runtime", name, signature, function)
        try:
            exports = linker.instantiate(self._store, module).exports(self._store)
            self._memory = exports["memory"]
            self._functions = {
                name: exports[name]
                for name in (
                    "getVersion", "getFieldNumLen32", "getRawPrime", "getWitnessSize",
                    "getInputSize", "getInputSignalSize", "getSharedRWMemoryStart", "init",
                    "setInputSignal", "getWitness", "getMessageChar",
                )
            }
        except (wasmtime.WasmtimeError, wasmtime.Trap, KeyError) as e:
            raise MalformedFile(path, f"not a circom witness calculator: {_first_line(e)}") from e
        self._shared = self.call("getSharedRWMemoryStart")

    def call(self, name: str, *args: int) -> int:
        return self._functions[name](self._store, *args)

    def prime(self) -> int:
        self.call("getRawPrime")
        return self._shared_value()

    def set_input(self, name: str, msb: int, lsb: int, index: int, value: int) -> None:
        self._memory.write(self._store, value.to_bytes(N8, "little"), self._shared)
        try:
            self.call("setInputSignal", msb, lsb, index)
        except _CircuitException as e:
            problem = _EXCEPTIONS.get(e.code, f"unknown error {e.code}")
            details = "; ".join(line.strip() for line in self._errors if line.strip())
            message = problem + (f": {details}" if details else "")
            if e.code in _INPUT_EXCEPTIONS:
                raise InputSignalError(f"{message} (setting input {name!r})", name) from None
            raise WitnessError(message) from None
        except (wasmtime.Trap, wasmtime.WasmtimeError) as e:
            raise WitnessError(f"the circuit's wasm trapped: {_first_line(e)}") from e

    def witness(self, size: int) -> np.ndarray:
        """Read the witness out through `_COPY_WITNESS`, in one call.

        Calling getWitness from Python costs about 16 us a value, seconds for
        a large circuit; the helper runs the same loop inside wasm, copying
        each value to fresh pages past the circuit's memory, which the
        circuit, done computing, never touches.
        """
        try:
            first_page = self._memory.grow(self._store, -(-size * N8 // _PAGE))
        except wasmtime.WasmtimeError as e:
            raise WitnessError(f"no wasm memory left for {size} witness values") from e
        buffer = first_page * _PAGE
        linker = wasmtime.Linker(_ENGINE)
        linker.define(self._store, "circuit", "memory", self._memory)
        linker.define(self._store, "circuit", "getWitness", self._functions["getWitness"])
        copy = linker.instantiate(self._store, _copy_witness_module()).exports(self._store)
        copy["copyWitness"](self._store, size, self._shared, buffer)
        raw = self._memory.read(self._store, buffer, buffer + size * N8)
        return np.frombuffer(raw, dtype="<u8").reshape(size, LIMBS)

    def _message(self) -> str:
        chars = []
        while (c := self.call("getMessageChar")) != 0:
            chars.append(chr(c))
        return "".join(chars)

    def _exception_handler(self, code: int) -> None:
        raise _CircuitException(code)

    def _print_error_message(self) -> None:
        self._errors.append(self._message())

    def _write_buffer_message(self) -> None:
        """Collect a circuit's log() call, which ends with a lone newline message."""
        message = self._message()
        if message == "\n":
            log.info("%s: %s", self._path, " ".join(self._log_line))
            self._log_line.clear()
        else:
            self._log_line.append(message)

    def _show_shared_rw_memory(self) -> None:
        self._log_line.append(str(self._shared_value()))

    def _shared_value(self) -> int:
        raw = self._memory.read(self._store, self._shared, self._shared + N8)
        return int.from_bytes(raw, "little")


def _qualify(inputs: Mapping[str, object]) -> dict[str, list]:
    """Flatten inputs to signal name -> values, as circom's witness_calculator.js does.

    Nested objects are bus fields ("a.b"); a list of objects is an array of
    buses ("a[0].b"); any other list is one array signal, flattened.
    """
    flat: dict[str, list] = {}

    def visit(prefix: str, value: object) -> None:
        if isinstance(value, Mapping):
            for key, item in value.items():
                visit(f"{prefix}.{key}" if prefix else str(key), item)
        elif isinstance(value, list | tuple):
            leaves = _flatten(value)
            if leaves and any(isinstance(leaf, Mapping) for leaf in leaves):
                if not all(isinstance(leaf, Mapping) for leaf in leaves):
                    raise InputSignalError(f"input {prefix!r} mixes objects and values", prefix)
                for index, item in enumerate(value):
                    visit(f"{prefix}[{index}]", item)
            else:
                add(prefix, leaves)
        else:
            add(prefix, [value])

    def add(name: str, values: list) -> None:
        if name in flat:
            raise InputSignalError(f"input {name!r} given twice", name)
        flat[name] = values

    visit("", inputs)
    return flat


def _flatten(value: object) -> list:
    if isinstance(value, list | tuple):
        return [leaf for item in value for leaf in _flatten(item)]
    return [value]


def _field_element(value: object, name: str, index: int) -> int:
    if isinstance(value, int):
        return value % R
    if isinstance(value, str) and _INTEGER.match(value):
        return int(value, 0 if value[:2].lower() in ("0x", "0o", "0b") else 10) % R
    raise InputSignalError(
        f"input {name!r}, value {index}: {value!r} is not an integer or an integer string", name
    )


def _split_hash(name: str) -> tuple[int, int]:
    """FNV-1a 64 of the signal name, split into the two 32-bit halves the wasm takes."""
    h = 0xCBF29CE484222325
    for byte in name.encode():
        h = ((h ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h >> 32, h & 0xFFFFFFFF


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
