"""The `cpu` backend: the native library (zkp.native) on every core."""

import os

import numpy as np

from zkp import native
from zkp.backends import Backend, CircuitProver, Commitments
from zkp.zkey import ZKey


class CpuCircuitProver(CircuitProver):
    def __init__(self, zkey: ZKey):
        self.zkey = zkey

    def commitments(self, witness: np.ndarray) -> Commitments:
        zkey = self.zkey
        h = native.groth16_h(zkey.coefficients, witness, zkey.domain_size)
        return Commitments(
            a=native.msm_g1(zkey.a, witness),
            b1=native.msm_g1(zkey.b1, witness),
            b2=native.msm_g2(zkey.b2, witness),
            c=native.msm_g1(zkey.c, witness[zkey.n_public + 1 :]),
            h=native.msm_g1(zkey.h, h),
        )


class CpuBackend(Backend):
    name = "cpu"

    def load(self, zkey: ZKey) -> CircuitProver:
        return CpuCircuitProver(zkey)

    def describe(self) -> str:
        return f"cpu ({native.threads} threads of {os.cpu_count()} cores)"
