"""The simulated rollers: one `Identity` per staking address, built from a scenario's entries.

An entry of `count` machines gives `count * identities` addresses (identities > 1 only for a
sybil, whose addresses share their machine). Addresses are numbered in scenario order and come
from fixed keys (`simulation.l1.roller_key`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from market_contracts.rules import MarketParams, TaskKind
from simulation.behaviours import Behaviour, Context
from simulation.l1 import address_of, roller_key
from simulation.machines import Machine
from simulation.profiles import HardwareProfile
from simulation.scenario import Scenario


@dataclass(eq=False)
class Identity:
    address: str
    #: the name its results are reported under: the entry's label
    strategy: str
    behaviour: Behaviour
    machine: Machine
    profile: HardwareProfile
    #: wei staked when it joins
    stake: int
    #: the commit slot before which it stakes
    join_block: int
    #: mean proving time per task kind, milliseconds: the roller's own estimate
    mean_ms: dict[TaskKind, int]
    #: proofs computed for this address (a sybil's machine computes for all its addresses)
    proofs: int = 0


def build_identities(scenario: Scenario, params: MarketParams,
                     rng: np.random.Generator) -> list[Identity]:
    identities: list[Identity] = []
    for group in scenario.rollers:
        n = group.identities
        addresses = [address_of(roller_key(len(identities) + i))
                     for i in range(group.count * n)]
        context = Context(params, rng, frozenset(addresses))
        mean_ms = {kind: group.profile.mean_ms(kind) for kind in TaskKind}
        for m in range(group.count):
            machine = Machine(group.profile.slots)
            for address in addresses[m * n:(m + 1) * n]:
                identities.append(Identity(
                    address, group.label, group.behaviour(group.settings, context), machine,
                    group.profile, group.stake // n, group.join_block, mean_ms))
    return identities
