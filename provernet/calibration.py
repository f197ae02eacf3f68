"""The sample block a roller measures its proving speed on."""

from __future__ import annotations

from collections.abc import Callable

from sequencer.accounts import AccountTree
from sequencer.circuit_inputs import LARGE, SMALL, block_inputs

PROFILES = {profile.name: profile for profile in (SMALL, LARGE)}


def empty_block_inputs(address: str) -> Callable[[str], dict]:
    """The sample input the node measures its proving speed on: an empty block of the named
    block circuit (its slots are all padding, which costs what full ones do), bound to
    `address`. A circuit of no known profile raises KeyError: the node then measures on its first
    task's inputs."""

    def sample(circuit: str) -> dict:
        profile = PROFILES[circuit]
        return block_inputs(profile, AccountTree(profile.depth), [], address)

    return sample
