"""What a run measures, and `metrics.json`, its summary.

`Recorder` is filled while the run goes: commit and finality times, liveness counters, and
samples of reputation and backlog at regular commit slots. `summarize` turns it, the core's
per-roller counts and the ledger's balances into plain JSON: no wall-clock figure goes in, so the
same scenario and seed give a byte-identical file.

Per strategy (the label of a `[[rollers]]` entry, by default its behaviour):
`roi = (rewards - slashed) / stake` over the run, tokens in whole tokens; `reward_share`,
`stake_share` and `compute_share` are the strategy's part of all rollers' rewards, initial stake
and proving time; `reward_per_proof` is rewards per proof computed, what compute earns;
`active_share` is the part of the run it was staked (below 1 for newcomers).

`operators` says what the coordinator and the sequencer did: an adversarial coordinator's
refused settlements by the contract's error, its accepted misreports, when the audit found it and
when it was removed; a rerolling sequencer's reverts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from coordinator.views import RollerCounts
from market_contracts.units import ONE_TOKEN
from simulation.l1 import L1
from simulation.rollers import Identity
from simulation.scenario import TOKEN_PARAMS, Scenario

MS_PER_HOUR = 3_600_000
OUTCOME_COUNTS = ("assigned", "declined", "on_time", "late", "missed", "invalid")


class Recorder:
    def __init__(self, strategies: Sequence[str]):
        #: the time of each live block's latest commit (milliseconds)
        self.committed_at: dict[int, int] = {}
        #: seconds from a block's commit to its batch's finalization on L1
        self.finality_s: list[float] = []
        #: redraws: rounds after round 0; opened: tasks opened to every staked roller;
        #: reverts, recommits (and those whose round 0 drew other holders than the first
        #: commit's): the sequencer's; stale_messages: roller messages about a statement L1 no
        #: longer holds; slashed_*: evidence that slashed
        self.counters = Counter(redraws=0, opened=0, reverts=0, recommits=0,
                                recommits_with_another_draw=0, stale_messages=0,
                                slashed_blocks=0, slashed_aggregations=0, settled_batches=0)
        self.max_waiting = 0
        self.series: dict[str, object] = {
            "t_hours": [], "blocks_waiting": [], "redraws": [],
            "reputation": {strategy: [] for strategy in strategies},
        }

    def finalized(self, blocks: range, at: int) -> None:
        for n in blocks:
            self.finality_s.append((at - self.committed_at.pop(n)) / 1000)

    def sample(self, at: int, waiting: int, reputation: dict[str, float | None]) -> None:
        self.max_waiting = max(self.max_waiting, waiting)
        self.series["t_hours"].append(round(at / MS_PER_HOUR, 4))
        self.series["blocks_waiting"].append(waiting)
        self.series["redraws"].append(self.counters["redraws"])
        for strategy, rep in reputation.items():
            self.series["reputation"][strategy].append(rep)


def mean_reputation(identities: Sequence[Identity], l1: L1) -> dict[str, float | None]:
    """Mean reputation per strategy over its registered addresses (None before any joined)."""
    reps: dict[str, list[int]] = {}
    for identity in identities:
        state = l1.ledger.rollers.get(identity.address)
        bucket = reps.setdefault(identity.strategy, [])
        if state is not None:
            bucket.append(state.rep)
    return {s: round(sum(r) / len(r), 1) if r else None for s, r in reps.items()}


def summarize(scenario: Scenario, identities: Sequence[Identity], counts: dict[str, RollerCounts],
              l1: L1, recorder: Recorder, *, end_ms: int, l2_height: int,
              finalized_blocks: int, operators: dict[str, dict]) -> dict:
    strategies = _strategies(scenario, identities, counts, l1)
    return {
        "scenario": {"name": scenario.name, "seed": scenario.seed, "blocks": scenario.blocks,
                     "block_interval_s": scenario.block_interval_ms / 1000,
                     "rollers": len(identities)},
        "params": _params(scenario),
        "strategies": strategies,
        "finality": _finality(recorder.finality_s),
        "liveness": {
            "commit_slots": scenario.blocks,
            "l2_height": l2_height,
            "finalized_blocks": finalized_blocks,
            **recorder.counters,
            "max_blocks_waiting": recorder.max_waiting,
            "virtual_hours": round(end_ms / MS_PER_HOUR, 4),
        },
        "operators": operators,
        "series": recorder.series,
    }


def _strategies(scenario: Scenario, identities: Sequence[Identity],
                counts: dict[str, RollerCounts], l1: L1) -> dict[str, dict]:
    groups: dict[str, list[Identity]] = {}
    for identity in identities:
        groups.setdefault(identity.strategy, []).append(identity)
    machines = {s: list({id(i.machine): i.machine for i in g}.values()) for s, g in groups.items()}
    rewards = {s: sum(l1.ledger.claimable.get(i.address, 0) for i in g) for s, g in groups.items()}
    stakes = {s: sum(i.stake for i in g) for s, g in groups.items()}
    compute = {s: sum(m.busy_ms for m in ms) for s, ms in machines.items()}
    reputation = mean_reputation(identities, l1)
    totals = {"rewards": sum(rewards.values()), "stake": sum(stakes.values()),
              "compute": sum(compute.values())}
    result = {}
    for s, group in groups.items():
        slashed = sum(l1.slashed.get(i.address, 0) for i in group)
        proofs = sum(i.proofs for i in group)
        tally = {name: sum(getattr(counts.get(i.address, RollerCounts()), name) for i in group)
                 for name in OUTCOME_COUNTS}
        result[s] = {
            "behaviour": group[0].behaviour.name,
            "profiles": "+".join(dict.fromkeys(i.profile.name for i in group)),
            "rollers": len(group),
            "machines": len(machines[s]),
            "stake": _tokens(stakes[s]),
            "rewards": _tokens(rewards[s]),
            "slashed": _tokens(slashed),
            "roi": round((rewards[s] - slashed) / stakes[s], 6),
            **tally,
            "proofs": proofs,
            "compute_hours": round(compute[s] / MS_PER_HOUR, 4),
            "reward_per_proof": _tokens(rewards[s] // proofs) if proofs else None,
            "stake_share": _share(stakes[s], totals["stake"]),
            "reward_share": _share(rewards[s], totals["rewards"]),
            "compute_share": _share(compute[s], totals["compute"]),
            "reputation": reputation[s],
            "active_share": round(sum(_active_share(i, scenario) for i in group) / len(group), 6),
        }
    return result


def _params(scenario: Scenario) -> dict:
    """As a scenario writes them: token amounts in tokens, the reward mode by name."""
    params = {key: int(value) for key, value in vars(scenario.params).items()}
    for key in TOKEN_PARAMS:
        params[key] = _tokens(params[key])
    params["reward_mode"] = scenario.params.reward_mode.name.lower()
    return params


def _active_share(identity: Identity, scenario: Scenario) -> float:
    return (scenario.blocks - identity.join_block + 1) / scenario.blocks


def _finality(seconds: list[float]) -> dict:
    if not seconds:
        return {"blocks": 0, "mean_s": None, "p50_s": None, "p90_s": None, "p99_s": None,
                "max_s": None}
    values = np.asarray(seconds)
    p50, p90, p99 = np.percentile(values, [50, 90, 99])
    return {"blocks": len(seconds), "mean_s": round(float(values.mean()), 3),
            "p50_s": round(float(p50), 3), "p90_s": round(float(p90), 3),
            "p99_s": round(float(p99), 3), "max_s": round(float(values.max()), 3)}


def _tokens(wei: int) -> float:
    return round(wei / ONE_TOKEN, 6)


def _share(part: int, total: int) -> float:
    return round(part / total, 6) if total else 0.0
