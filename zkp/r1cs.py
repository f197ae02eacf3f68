"""Constraint systems (.r1cs) as circom writes them.

Container magic "r1cs", version 1. Section 1 (header): u32 n8, the scalar
field prime, u32 wires, u32 public outputs, u32 public inputs, u32 private
inputs, u64 labels, u32 constraints. Section 2: each constraint as three
linear combinations A, B, C (A*B = C), each a u32 term count and terms of
u32 wire and n8-byte coefficient in normal form. Section 3: a u64 label id
per wire. Sections 4 and 5 (PLONK custom gates) have no use in Groth16 and
are not read.

Wire 0 is the constant 1; then come the public outputs, the public inputs,
the private inputs and the internal wires, the order the witness follows.
"""

import os
import struct
from dataclasses import dataclass

import numpy as np

from zkp.binfile import BinFile
from zkp.field import N8, R

_MAGIC = "r1cs"
_VERSION = 1
_TERM = struct.Struct(f"<I{N8}s")

#: wire -> coefficient, coefficients in [0, r)
LinearCombination = dict[int, int]
Constraint = tuple[LinearCombination, LinearCombination, LinearCombination]


@dataclass(frozen=True, eq=False)
class R1cs:
    n_wires: int
    n_outputs: int
    n_pub_inputs: int
    n_prv_inputs: int
    n_labels: int
    constraints: list[Constraint]
    #: label id of each wire (uint64), for naming wires through the .sym file
    wire_to_label: np.ndarray

    @property
    def n_public(self) -> int:
        """Public signals, not counting the constant wire: outputs, then public inputs."""
        return self.n_outputs + self.n_pub_inputs

    def violated_constraints(self, witness: list[int]) -> list[int]:
        """Indices of the constraints the witness (ints, one per wire) does not satisfy."""

        def evaluate(lc: LinearCombination) -> int:
            return sum(coefficient * witness[wire] for wire, coefficient in lc.items()) % R

        return [
            index
            for index, (a, b, c) in enumerate(self.constraints)
            if evaluate(a) * evaluate(b) % R != evaluate(c)
        ]


def read_r1cs(path: str | os.PathLike) -> R1cs:
    file = BinFile(path, _MAGIC, _VERSION)
    header = file.reader(1)
    header.field_prime(R)
    n_wires = header.u32()
    n_outputs = header.u32()
    n_pub_inputs = header.u32()
    n_prv_inputs = header.u32()
    n_labels = header.u64()
    n_constraints = header.u32()
    header.done()

    file.expect_size(3, n_wires * 8, f"{n_wires} wire labels")
    wire_to_label = np.frombuffer(file.read(3), dtype="<u8")

    body = file.reader(2)

    def linear_combination() -> LinearCombination:
        n_terms = body.u32()
        terms = body.raw(n_terms * _TERM.size)
        lc = {}
        for wire, coefficient in _TERM.iter_unpack(terms):
            if wire >= n_wires:
                raise file.malformed(f"constraint refers to wire {wire}, but there are {n_wires}")
            lc[wire] = int.from_bytes(coefficient, "little")
        return lc

    constraints = [
        (linear_combination(), linear_combination(), linear_combination())
        for _ in range(n_constraints)
    ]
    body.done()
    return R1cs(
        n_wires=n_wires,
        n_outputs=n_outputs,
        n_pub_inputs=n_pub_inputs,
        n_prv_inputs=n_prv_inputs,
        n_labels=n_labels,
        constraints=constraints,
        wire_to_label=wire_to_label,
    )
