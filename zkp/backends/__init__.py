"""Where the heavy steps of a proof run.

A backend computes, for one circuit's proving key and a witness, the
polynomial step and the five multi-scalar multiplications; zkp.groth16 adds
the randomness and assembles the proof, identically for every backend, so the
same witness and the same r, s give the same proof whichever backend ran.

`load` prepares a circuit once (a GPU backend uploads the key's points and
keeps them on the device); `commitments` then runs per proof.
"""

import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from zkp.errors import BackendUnavailable
from zkp.zkey import ZKey

NAMES = ("cpu", "gpu", "auto")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Commitments:
    """Witness-dependent sums, affine points as Montgomery limb arrays (the .zkey layout)."""

    #: sum_i w_i A_i, (2, 4)
    a: np.ndarray
    #: sum_i w_i B1_i, (2, 4)
    b1: np.ndarray
    #: sum_i w_i B2_i, (2, 2, 4)
    b2: np.ndarray
    #: sum over the private wires of w_i C_i, (2, 4)
    c: np.ndarray
    #: sum_j h_j H_j with h the quotient's evaluations on the odd coset, (2, 4)
    h: np.ndarray


class CircuitProver(ABC):
    """One circuit's proving key, prepared on a backend."""

    @abstractmethod
    def commitments(self, witness: np.ndarray) -> Commitments:
        """The sums for a witness: an (n_vars, 4) uint64 array of values below r, normal form."""


class Backend(ABC):
    name: ClassVar[str]
    #: why select_backend chose this backend, for logs and `roller status`
    reason: str = "asked for by name"

    @abstractmethod
    def load(self, zkey: ZKey) -> CircuitProver: ...

    @abstractmethod
    def describe(self) -> str:
        """The backend and the hardware it runs on, for logs and `roller status`."""


def select_backend(name: str = "auto") -> Backend:
    """`cpu`, `gpu`, or `auto`: the GPU when CuPy sees a CUDA device, else the CPU.

    `auto` logs its choice, and the backend's `reason` says why it was made.
    """
    from zkp.backends.cpu import CpuBackend

    if name == "cpu":
        return CpuBackend()
    if name == "gpu":
        return _gpu_backend()
    if name == "auto":
        try:
            backend = _gpu_backend()
        except BackendUnavailable as e:
            backend = CpuBackend()
            backend.reason = f"auto: no usable GPU ({e})"
        else:
            backend.reason = "auto: CuPy sees a CUDA device"
        log.info("proving on %s; %s", backend.describe(), backend.reason)
        return backend
    raise ValueError(f"unknown backend {name!r}; choose one of {', '.join(NAMES)}")


def _gpu_backend() -> Backend:
    # Imported here: zkp.backends.gpu imports CuPy, and raises BackendUnavailable without it.
    from zkp.backends.gpu import GpuBackend

    return GpuBackend()
