"""Errors of the coordinator package."""

from __future__ import annotations


class CoordinatorError(Exception):
    """Root of everything the coordinator package raises."""


class InvalidEvent(CoordinatorError):
    """An event with a malformed field (an address, a 32-byte value, a roster, a kind): the shell
    built it wrong. The core changes nothing."""


class InconsistentEvent(CoordinatorError):
    """An event that contradicts what the core knows, such as a block committed out of order or
    a batch finalized before the one ahead of it: an L1 event was missed or the shell's log is
    from another chain. The core changes nothing, so replaying it raises again and still changes
    nothing; resynchronise from L1 (or start from a fresh core)."""


class InvalidSnapshot(CoordinatorError):
    """A snapshot of another version, or one that does not describe a consistent state."""


class InvalidSetup(CoordinatorError):
    """Constructor arguments that cannot describe a rollup (e.g. a finalized height that is not
    a whole number of batches)."""
