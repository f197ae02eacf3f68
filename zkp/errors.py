"""Errors of the proof system.

Every failure `zkp` reports is a `ZkpError`, so a caller can catch one type and
show its message: a one-line cause that names the file or signal at fault.
"""

import os


class ZkpError(Exception):
    """Root of every error raised by `zkp`."""


class ArtifactFileError(ZkpError):
    """A circuit artifact (.r1cs, .zkey, .wtns, .wasm, .json) cannot be used.

    `path` is the file as the caller named it; `problem` says what is wrong
    without the file name, so callers can rephrase.
    """

    def __init__(self, path: str | os.PathLike, problem: str):
        self.path = os.fspath(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class FileAccessError(ArtifactFileError):
    """The file cannot be opened, read or written: missing, a directory, no permission."""


class MalformedFile(ArtifactFileError):
    """The file's bytes are not a valid artifact for BN254 Groth16.

    Truncated or corrupted files, wrong magic or version, section sizes that
    disagree with the header, and artifacts made for another curve all land
    here: fetch or regenerate the file.
    """


class WitnessError(ZkpError):
    """The circuit refused the inputs: an assert or constraint failed inside it.

    The message carries the circuit's own report (template and line).
    """


class InputSignalError(WitnessError):
    """An input does not fit the circuit's input signals.

    Unknown or missing signal, wrong number of values for an array, or a
    value that is not an integer. `signal` names the input at fault, or is
    None when only a count is known (the wasm does not carry signal names).
    """

    def __init__(self, message: str, signal: str | None = None):
        self.signal = signal
        super().__init__(message)


class BackendUnavailable(ZkpError):
    """The proving backend asked for cannot run here (no CUDA device, CuPy not installed)."""


class InvalidWitness(ZkpError):
    """A witness that cannot belong to the proving key: wrong length, values not in the field,
    or a first value other than the constant 1."""


class CircuitCompileError(ZkpError):
    """circom refused a circuit, or is not installed; the message carries circom's report."""


class NativeLibraryMissing(ZkpError):
    """The native BN254 library (zkp/native/*.cpp, built at install) is not built or cannot load.

    Reinstalling provernet builds it: `make setup`, or `pip install -e .`.
    """
