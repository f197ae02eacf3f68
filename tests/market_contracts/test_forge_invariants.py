"""RollerStaking's invariants under Foundry's forge (market_contracts/forge): its invariant fuzzer
drives a handler of staking, unbonding, pause, pool and snapshot operations, and after every call
checks that the tokens held equal every balance owed and that no stake leaves before its slash
window closes (docs/reliability.md, "Contract invariants").

forge is npm's `@foundry-rs/forge-linux-amd64`; its compiler is solcjs, the npm build of the solc
that market_contracts/compile.py uses, behind a shim (market_contracts/forge/solcjs): no native
solc can be installed here. A short campaign runs here; the long one is in docs/reliability.md.
"""

from __future__ import annotations

import json
import os
import subprocess

from market_contracts.compile import NODE_MODULES, PACKAGE_DIR

FORGE = NODE_MODULES / "@foundry-rs" / "forge-linux-amd64" / "bin" / "forge"
PROJECT = PACKAGE_DIR / "forge"
SUITE = "test/RollerStakingInvariants.t.sol:RollerStakingInvariants"
#: A short campaign: sequences (forge's runs) of this many calls each.
RUNS, DEPTH = 16, 50
INVARIANTS = ("invariant_tokens_held_equal_every_balance_owed()",
              "invariant_no_stake_leaves_before_its_slash_window_closes()")


def test_forge_finds_no_broken_invariant_of_roller_staking(tmp_path):
    env = {**os.environ, "FOUNDRY_OUT": str(tmp_path / "out"),
           "FOUNDRY_CACHE_PATH": str(tmp_path / "cache"),
           "FOUNDRY_INVARIANT_RUNS": str(RUNS), "FOUNDRY_INVARIANT_DEPTH": str(DEPTH)}
    ran = subprocess.run([str(FORGE), "test", "--json"], cwd=PROJECT, env=env,
                         capture_output=True, text=True, timeout=600)
    assert ran.returncode == 0, (ran.stdout[-3000:], ran.stderr[-3000:])
    results = json.loads(ran.stdout)[SUITE]["test_results"]
    assert {name: r["status"] for name, r in results.items()} == {
        **{name: "Success" for name in INVARIANTS},
        "test_the_handlers_operations_move_tokens()": "Success"}
    for name in INVARIANTS:
        campaign = results[name]["kind"]["Invariant"]
        assert (campaign["runs"], campaign["calls"], campaign["reverts"]) == (RUNS, RUNS * DEPTH, 0)
        # every operation of the handler was drawn
        assert len(campaign["metrics"]) == 8
