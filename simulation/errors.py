"""What the simulation raises. `SimulationError` is the root (the command line shows it as one
line); the scenario errors name the offending key by its path in the file, e.g.
`rollers[2].stake`, so that a typo is found without reading code."""

from __future__ import annotations


class SimulationError(Exception):
    """Root of everything the simulation raises on purpose."""


class ScenarioError(SimulationError):
    """A scenario file that cannot be run as written."""


class UnreadableScenario(ScenarioError):
    """The file is missing, unreadable, or not TOML."""


class UnknownKey(ScenarioError):
    """A key the scenario format does not have (usually a typo); the message lists the known
    ones."""


class MissingKey(ScenarioError):
    """A key that has no default was left out."""


class WrongType(ScenarioError):
    """A value of the wrong TOML type, e.g. a string where a number belongs."""


class InvalidValue(ScenarioError):
    """A value of the right type that the market or the model cannot take (out of range, an
    unknown behaviour or profile, a stake below MIN_STAKE)."""


class InvalidSweep(SimulationError):
    """A `--param NAME=V1,V2` that is malformed or names no scenario setting."""
