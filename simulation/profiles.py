"""Hardware profiles: how long a roller's machine takes to prove, per task kind.

A profile is a distribution of proving times for a block proof and for a batch aggregation, plus
the number of proofs the machine runs at once (`slots`). Times are seconds in the scenario and
integer milliseconds in the run, like the coordinator's clock. The built-in figures are
assumptions for the large block circuit (a scenario can override them under `[profiles.NAME]`):
an H100 proves a block in about 4 s, a 4090 in about 8 s, and a CPU in about 45 s, which misses
the devnet's 30 s deadline.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from market_contracts.rules import TaskKind

MS_PER_SECOND = 1000


@dataclass(frozen=True)
class LogNormal:
    """exp(N(ln median, sigma²)): right-skewed, as proving times under contention are."""

    NAME: ClassVar[str] = "lognormal"
    median: float
    sigma: float

    def __post_init__(self) -> None:
        if not self.median > 0:
            raise ValueError(f"median must be positive, got {self.median}")
        if not self.sigma >= 0:
            raise ValueError(f"sigma must be at least 0, got {self.sigma}")

    @property
    def mean(self) -> float:
        return self.median * math.exp(self.sigma**2 / 2)

    def sample(self, rng: np.random.Generator) -> float:
        return rng.lognormal(math.log(self.median), self.sigma)


@dataclass(frozen=True)
class Gamma:
    """Gamma with the given mean and shape (scale = mean / shape); a larger shape is steadier."""

    NAME: ClassVar[str] = "gamma"
    mean: float
    shape: float

    def __post_init__(self) -> None:
        if not (self.mean > 0 and self.shape > 0):
            raise ValueError(f"mean and shape must be positive, got {self.mean}, {self.shape}")

    def sample(self, rng: np.random.Generator) -> float:
        return rng.gamma(self.shape, self.mean / self.shape)


@dataclass(frozen=True)
class Fixed:
    """Always the same time: for tests and for reasoning about one effect at a time."""

    NAME: ClassVar[str] = "fixed"
    seconds: float

    def __post_init__(self) -> None:
        if not self.seconds > 0:
            raise ValueError(f"seconds must be positive, got {self.seconds}")

    @property
    def mean(self) -> float:
        return self.seconds

    def sample(self, rng: np.random.Generator) -> float:
        return self.seconds


Distribution = LogNormal | Gamma | Fixed
DISTRIBUTIONS: dict[str, type[Distribution]] = {cls.NAME: cls for cls in (LogNormal, Gamma, Fixed)}


@dataclass(frozen=True)
class HardwareProfile:
    name: str
    block: Distribution
    aggregation: Distribution
    #: proofs the machine runs at once; each takes its own sampled time
    slots: int = 1

    def __post_init__(self) -> None:
        if self.slots < 1:
            raise ValueError(f"slots must be at least 1, got {self.slots}")

    def distribution(self, kind: TaskKind) -> Distribution:
        return self.block if kind is TaskKind.BLOCK else self.aggregation

    def sample_ms(self, kind: TaskKind, rng: np.random.Generator) -> int:
        return max(1, round(self.distribution(kind).sample(rng) * MS_PER_SECOND))

    def mean_ms(self, kind: TaskKind) -> int:
        return max(1, round(self.distribution(kind).mean * MS_PER_SECOND))


BUILTIN_PROFILES = {
    profile.name: profile for profile in (
        HardwareProfile("gpu-h100", LogNormal(4.0, 0.25), LogNormal(2.0, 0.25)),
        HardwareProfile("gpu-4090", LogNormal(8.0, 0.3), LogNormal(4.0, 0.3)),
        HardwareProfile("cpu", LogNormal(45.0, 0.3), LogNormal(20.0, 0.3)),
    )
}
