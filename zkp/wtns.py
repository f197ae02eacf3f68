"""Witness files (.wtns), as snarkjs and circom's generate_witness.js write them.

Container magic "wtns", version 2. Section 1: u32 n8, the scalar field prime
(n8 bytes), u32 number of values. Section 2: the values, n8 bytes each, in
normal (not Montgomery) form. Value 0 is the constant 1, then the public
signals (outputs, then public inputs), then the rest.
"""

import os
from collections.abc import Sequence

import numpy as np

from zkp.binfile import BinFile, write_binfile
from zkp.field import LIMBS, N8, R, ints_to_limbs

_MAGIC = "wtns"
_VERSION = 2


def read_wtns(path: str | os.PathLike) -> np.ndarray:
    """The witness as a read-only (n, 4) uint64 limb array."""
    file = BinFile(path, _MAGIC, _VERSION)
    header = file.reader(1)
    header.field_prime(R)
    n_values = header.u32()
    header.done()
    file.expect_size(2, n_values * N8, f"{n_values} witness values")
    return np.frombuffer(file.read(2), dtype="<u8").reshape(n_values, LIMBS)


def write_wtns(path: str | os.PathLike, witness: np.ndarray | Sequence[int]) -> None:
    """Write a witness given as a limb array or as ints already reduced mod r."""
    if not isinstance(witness, np.ndarray):
        witness = ints_to_limbs(witness)
    values = np.ascontiguousarray(witness, dtype="<u8")
    if values.ndim != 2 or values.shape[1] != LIMBS:
        raise ValueError(f"witness limb array must have shape (n, {LIMBS}), not {values.shape}")
    header = N8.to_bytes(4, "little") + R.to_bytes(N8, "little") + len(values).to_bytes(4, "little")
    write_binfile(path, _MAGIC, _VERSION, [(1, header), (2, values.tobytes())])
