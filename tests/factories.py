"""Worlds the tests build again and again, on the shared builder (`provernet.world`).

`stub_rollup_world` is the common one: a market serving one Rollup whose verifier is the stub
(`World.stub`: it accepts what it is told to `expect`, so nothing is proven), dev account 1 its
sequencer and dev account 2 a coordinator registered for it; its blocks post
`provernet.world.ONE_TRANSFER`. A test that needs a step more takes
it on the returned `World`.
"""

from __future__ import annotations

from eth_account.signers.local import LocalAccount

from market_contracts.chain import Chain
from market_contracts.rules import MarketParams
from provernet.world import World

#: the stub rollups' genesis root: any field element, since no proof is checked
STUB_GENESIS_ROOT = 1


def stub_rollup_world(chain: Chain, params: MarketParams | None = None, *,
                      batch_size: int | None = None
                      ) -> tuple[World, LocalAccount, LocalAccount]:
    """`World.deploy(chain, params)` with a stub-verified Rollup (batches of `batch_size`,
    None: the market's K; blocks of at most one transfer) and a registered coordinator: the
    world, the sequencer (dev account 1) and the coordinator (dev account 2)."""
    sequencer, coordinator = chain.dev_accounts[1:3]
    world = World.deploy(chain, params)
    world.attach_rollup(sequencer.address, genesis_root=STUB_GENESIS_ROOT, batch_size=batch_size,
                        max_transfers=1)
    world.register_coordinator(coordinator.address)
    return world, sequencer, coordinator
