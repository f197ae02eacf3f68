"""Gas of the staking operations, measured on the embedded EVM.

    .venv/bin/python benchmarks/gas.py [--json]

Settlement is measured as a coordinator would send it: M = 2 rollers per block, mostly on time,
one outcome in eight missed, for 1, 16 and 64 outcomes in one call.
"""

from __future__ import annotations

import argparse
import json

from eth_account import Account
from rich.console import Console
from rich.table import Table

from market_contracts.bindings import Market
from market_contracts.chain import EmbeddedChain
from market_contracts.deploy import deploy_market
from market_contracts.ledger import OutcomeReport, sort_outcomes
from market_contracts.rules import MarketParams, Outcome, TaskKind, block_seed
from market_contracts.units import ONE_TOKEN

SETTLE_SIZES = (1, 16, 64)
ROLLERS = 8


def gas_of(receipt) -> int:
    return receipt["gasUsed"]


def measure() -> list[dict]:
    chain = EmbeddedChain()
    owner = chain.dev_accounts[0]
    params = MarketParams.devnet()
    market = Market(chain, deploy_market(chain, owner, params))
    coordinator = Account.create()
    chain.send_eth(owner, coordinator.address, 10**18)
    market.register_coordinator(owner, coordinator.address, b"bench", "")
    market.mint(owner, owner.address, 100_000 * ONE_TOKEN)
    market.fund_rewards(owner, 100_000 * ONE_TOKEN)

    rollers = []
    for _ in range(ROLLERS):
        account = Account.create()
        chain.send_eth(owner, account.address, 10**18)
        market.mint(owner, account.address, 1_000 * ONE_TOKEN)
        # Approve once up front so that the stake rows measure stake alone.
        chain.transact(account, market.token.functions.approve(market.staking.address, 2**256 - 1))
        rollers.append(account)

    s = market.staking.functions
    a = rollers[0]
    rows = [
        ("stake (first)", gas_of(chain.transact(a, s.stake(200 * ONE_TOKEN)))),
        ("stake (add)", gas_of(chain.transact(a, s.stake(100 * ONE_TOKEN)))),
        ("unstake (request)", gas_of(chain.transact(a, s.requestUnstake(100 * ONE_TOKEN)))),
    ]
    for r in rollers[1:]:
        chain.transact(r, s.stake(200 * ONE_TOKEN))
    chain.increase_time(params.unbonding)
    rows.append(("withdraw", gas_of(chain.transact(a, s.withdraw()))))

    results = [{"operation": name, "outcomes": None, "gas": gas, "gas_per_outcome": None} for name, gas in rows]
    task = 0
    for batch, size in enumerate(SETTLE_SIZES):
        outcomes = []
        for i in range(size):
            if i % 2 == 0:
                task += 1
            roller = rollers[(i + task) % ROLLERS]
            outcome = Outcome.MISSED if i % 8 == 7 else Outcome.ON_TIME
            seed = block_seed(chain.chain_id, market.staking.address, task, 0, b"\x01" * 32)
            outcomes.append(OutcomeReport(roller.address, TaskKind.BLOCK, task, 0, outcome, seed))
        gas = gas_of(market.settle(coordinator, batch, sort_outcomes(outcomes)))
        results.append({"operation": "settle", "outcomes": size, "gas": gas, "gas_per_outcome": gas // size})

    claimant = next(r for r in rollers if market.roller_info(r.address).claimable > 0)
    results.append({"operation": "claim", "outcomes": None, "gas": gas_of(chain.transact(claimant, s.claim())),
                    "gas_per_outcome": None})
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    results = measure()
    if parser.parse_args().json:
        print(json.dumps(results, indent=1))
        return
    table = Table(title="RollerStaking gas (embedded EVM, solc 0.8.37, optimizer 200 runs)")
    for column in ("operation", "outcomes", "gas", "gas per outcome"):
        table.add_column(column, justify="left" if column == "operation" else "right")
    for row in results:
        table.add_row(row["operation"], str(row["outcomes"] or ""), f"{row['gas']:,}",
                      f"{row['gas_per_outcome']:,}" if row["gas_per_outcome"] else "")
    Console().print(table)


if __name__ == "__main__":
    main()
