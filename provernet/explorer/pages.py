"""The JSON each page of the explorer shows, as functions of what was read from L1 (and the
coordinator's audit log): no I/O here, and no state but the draw checks of settled tasks, which
`build_pages` keeps (`MarketState.final_draws`) since they cannot change.

Token amounts are given twice, as decimal strings of base units (they exceed what JSON numbers
hold exactly) and as people read them (`format_tokens`); times are L1 block timestamps.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from coordinator.audit import (
    PublicTask,
    audit_mismatches,
    draw_size,
    task_seed,
    unexplained_settlements,
)
from coordinator.commands import AuditRecord
from market_contracts import rules
from market_contracts.bindings import RollerInfo
from market_contracts.deploy import Deployment
from market_contracts.rules import MarketParams, Outcome, RewardMode, TaskKind
from market_contracts.units import format_tokens
from provernet.explorer.history import (
    BatchEntry,
    BlockEntry,
    History,
    ReputationChange,
    Reward,
    Slash,
    Where,
)
from provernet.views import roller_state, share

#: Blocks the overview lists, newest first.
LATEST_BLOCKS = 8

#: What a draw check found, as the pages mark it.
WAITING = "waiting"  # no randomness recorded yet: nothing drawn
DRAWN = "drawn"  # recomputed; neither a log record nor a settlement to compare with yet
MATCH = "match"  # recomputed, and the log record and the settled records agree with it
MISMATCH = "mismatch"

OUTCOME_NAMES = [o.name.lower() for o in Outcome]


@dataclass(frozen=True)
class MarketState:
    """Everything one refresh read: the events, and the state they do not carry."""

    deployment: Deployment
    params: MarketParams
    history: History
    #: (kind, index) -> what L1 holds for the task's draws, for every task with randomness
    tasks: Mapping[tuple[TaskKind, int], PublicTask]
    #: the coordinator's audit log by (kind, index); None when no log was given
    audit: Mapping[tuple[TaskKind, int], AuditRecord] | None
    #: lines of the audit log that are not records
    audit_problems: Sequence[str]
    rollers: Mapping[str, RollerInfo]
    reward_pool: int
    totals: Mapping[str, int]
    #: slash transaction -> the evidence it carried (`SlashEvidence.to_json`) and whether its
    #: signature recovers to the slashed roller; (None, None) when sent through a contract
    evidence: Mapping[str, tuple[dict | None, bool | None]] = field(default_factory=dict)
    #: the draw checks of tasks that can no longer change (`_final`), kept across refreshes by
    #: `build_pages` itself so that a long history is not recomputed every second
    final_draws: dict[tuple[TaskKind, int], dict] = field(default_factory=dict)

    @property
    def rollup(self) -> str:
        return self.history.rollup


def amount(units: int) -> dict:
    return {"units": str(units), "text": format_tokens(units)}


def _where(where: Where | None) -> dict | None:
    return None if where is None else where.to_json()


def _hex(value: bytes | None) -> str | None:
    return None if value is None else "0x" + value.hex()


def build_pages(state: MarketState) -> dict:
    """Every page's JSON: `overview`, `blocks`, `block` (by number), `batches`, `rollers`,
    `roller` (by address), `slashes`."""
    settled = defaultdict(list)
    for change in state.history.settled_records():
        settled[(change.kind, change.task)].append(change)
    rewards = defaultdict(list)
    for reward in state.history.rewards:
        rewards[(reward.kind, reward.task)].append(reward)
    draws = {}
    for key in [(TaskKind.BLOCK, n) for n in state.history.blocks] + [
            (TaskKind.AGGREGATION, b) for b in _aggregation_tasks(state)]:
        draws[key] = state.final_draws.get(key) or draw_check(
            state, *key, settled.get(key, []), rewards.get(key, []))
        if _final(state, *key):
            state.final_draws[key] = draws[key]
    blocks = {n: block_detail(state, entry, draws[(TaskKind.BLOCK, n)])
              for n, entry in state.history.blocks.items()}
    rows = [_block_row(detail) for _, detail in sorted(blocks.items(), reverse=True)]
    rollers = {address: roller_detail(state, address) for address in _roller_addresses(state)}
    return {
        "overview": overview(state, rows),
        "blocks": rows,
        "block": blocks,
        "batches": [batch_row(batch, draws.get((TaskKind.AGGREGATION, batch.index)),
                              rewards.get((TaskKind.AGGREGATION, batch.index), []))
                    for _, batch in sorted(state.history.batches.items(), reverse=True)],
        "rollers": [_roller_row(detail) for detail in rollers.values()],
        "roller": rollers,
        "slashes": [slash_row(state, slash) for slash in reversed(state.history.slashes)],
    }


def _final(state: MarketState, kind: TaskKind, index: int) -> bool:
    """Whether a task's draw check can no longer change: its batch is settled (so every record
    and reward is on L1; in lottery mode, its blocks' lottery drawn too) and the audit log, if
    one is read, holds its record."""
    batch = state.history.batches.get(
        index if kind is TaskKind.AGGREGATION else rules.batch_of(index, state.params.k))
    if batch is None or batch.settled is None:
        return False
    if state.audit is not None and (kind, index) not in state.audit:
        return False
    lottery = kind is TaskKind.BLOCK and state.params.reward_mode is RewardMode.LOTTERY
    return not lottery or batch.lottery is not None


def _aggregation_tasks(state: MarketState) -> list[int]:
    """Batches whose aggregation may have been drawn: those with a committed last block."""
    k = state.params.k
    return sorted({rules.batch_of(n, k) for n in state.history.blocks
                   if rules.ends_batch(n, k)})


def _roller_addresses(state: MarketState) -> list[str]:
    """Every roller that registered, in the order it did."""
    return [*state.history.registered, *(a for a in state.rollers
                                         if a not in state.history.registered)]


# ---------------------------------------------------------------------- overview


def overview(state: MarketState, rows: list[dict]) -> dict:
    d, p, h = state.deployment, state.params, state.history
    return {
        "chain_id": d.chain_id,
        "contracts": {"staking": d.staking, "token": d.token, "registry": d.registry,
                      "rollup": h.rollup},
        "params": {"k": p.k, "m": p.m, "t": p.t, "late_window": p.late_window, "t_agg": p.t_agg,
                   "r_open": p.r_open, "reward_mode": p.reward_mode.name.lower(),
                   "r_block": amount(p.r_block), "r_agg": amount(p.r_agg),
                   "min_stake": amount(p.min_stake), "rep_max": p.rep_max},
        "counts": {
            "committed": h.last_committed,
            "finalized": h.last_finalized,
            "batches_finalized": len(h.batches),
            "batches_settled": sum(1 for b in h.batches.values() if b.settled is not None),
            "rollers": len(_roller_addresses(state)),
            "slashes": len(h.slashes),
            "draws_matching": sum(1 for r in rows if r["check"] == MATCH),
            "draws_mismatching": sum(1 for r in rows if r["check"] == MISMATCH),
        },
        "pools": {"reward_pool": amount(state.reward_pool),
                  **{f"total_{name}": amount(value) for name, value in state.totals.items()}},
        "latest_blocks": rows[:LATEST_BLOCKS],
        "audit_log": None if state.audit is None else {
            "records": len(state.audit), "problems": list(state.audit_problems)},
    }


# ---------------------------------------------------------------------- blocks and draws


def block_status(state: MarketState, entry: BlockEntry) -> str:
    """committed, finalized (its batch is on L1), or settled (its batch's outcomes are too)."""
    batch = state.history.batch_of_block(entry.block.number)
    if batch is not None and batch.settled is not None:
        return "settled"
    return "finalized" if entry.finalized is not None else "committed"


def block_detail(state: MarketState, entry: BlockEntry, draw: dict) -> dict:
    block = entry.block
    batch = state.history.batch_of_block(block.number)
    return {
        "number": block.number,
        "status": block_status(state, entry),
        "batch": rules.batch_of(block.number, state.params.k),
        "committed": _where(entry.committed),
        "finalized": _where(entry.finalized),
        "settled": _where(batch.settled if batch else None),
        "prover": entry.prover,
        "old_root": hex(block.old_root),
        "new_root": hex(block.new_root),
        "data_hash": hex(block.data_hash),
        "roster_block": block.roster_block,
        "randomness_block": block.randomness_block,
        "randomness": _hex(entry.randomness),
        "draw": draw,
    }


def _block_row(detail: dict) -> dict:
    return {key: detail[key] for key in ("number", "status", "batch", "committed", "finalized",
                                         "settled", "prover")} | {"check": detail["draw"]["status"]}


def draw_check(state: MarketState, kind: TaskKind, index: int,
               settled: list[ReputationChange], rewards: list[Reward]) -> dict:
    """A task's rounds recomputed from public data (its randomness and roster snapshot, by the
    reference rules), compared with the coordinator's audit log record and with every record
    L1 settled for it; its rewards, and in lottery mode the recomputed winner."""
    task = state.tasks.get((kind, index))
    record = state.audit.get((kind, index)) if state.audit is not None else None
    paid = [{"roller": r.roller, "amount": amount(r.amount)} for r in rewards]
    if task is None:
        return {"status": WAITING, "problems": [], "compared": [], "rounds": [], "roster": [],
                "rewards": paid, "lottery": None}
    chain_id, rollup = state.deployment.chain_id, state.rollup
    problems, compared = [], []
    if record is not None:
        problems += audit_mismatches(record, task, state.params, chain_id, rollup)
        compared.append("audit log")
    if settled:
        problems += unexplained_settlements([c.report() for c in settled], {(kind, index): task},
                                            state.params, chain_id, rollup)
        compared.append("settlement")
    numbers = {0, *(c.round for c in settled)}
    if record is not None:
        numbers |= {r.round for r in record.rounds}
    total = sum(weight for _, weight in task.roster)
    return {
        "status": MISMATCH if problems else MATCH if compared else DRAWN,
        "problems": problems,
        "compared": compared,
        "roster": [{"roller": roller, "share": share(weight, total)}
                   for roller, weight in task.roster],
        "rounds": [_round(state, kind, index, task, number, record, settled)
                   for number in sorted(numbers)],
        "rewards": paid,
        "lottery": _lottery(state, kind, index, settled, rewards),
    }


def _round(state: MarketState, kind: TaskKind, index: int, task: PublicTask, number: int,
           record: AuditRecord | None, settled: list[ReputationChange]) -> dict:
    params = state.params
    drawn = number < params.r_open
    seed = (task_seed(kind, index, number, task.randomness, state.deployment.chain_id,
                      state.rollup) if drawn else None)
    holders = rules.draw_slots(seed, task.roster, draw_size(kind, params)) if drawn else []
    on_l1 = [c for c in settled if c.round == number]
    if on_l1:
        outcomes = [{"roller": c.roller, "slots": c.slots, "outcome": c.outcome.name.lower(),
                     "source": "L1"} for c in on_l1]
    else:
        logged = next((r for r in (record.rounds if record else ()) if r.round == number), None)
        outcomes = [{"roller": roller, "slots": slots,
                     "outcome": None if outcome is None else outcome.name.lower(),
                     "source": "audit log"} for roller, slots, outcome in
                    (logged.outcomes if logged else ())]
    return {"round": number, "open": rules.is_open_round(number, params), "seed": _hex(seed),
            "slots": [{"roller": roller, "slots": count}
                      for roller, count in rules.slot_counts(holders).items()],
            "outcomes": outcomes}


def _lottery(state: MarketState, kind: TaskKind, index: int, settled: list[ReputationChange],
             rewards: list[Reward]) -> dict | None:
    """Lottery mode: the block's winner recomputed from the lottery randomness and its on-time
    records in settlement order, beside whom L1 paid."""
    if kind is not TaskKind.BLOCK or state.params.reward_mode is not RewardMode.LOTTERY:
        return None
    batch = state.history.batch_of_block(index)
    if batch is None or batch.lottery_randomness is None:
        return {"drawn": False, "winner": None, "matches": None}
    entries = [(c.roller, c.slots) for c in settled if c.outcome is Outcome.ON_TIME]
    winner = rules.lottery_winner(batch.lottery_randomness, index, entries)
    paid = sorted({r.roller for r in rewards})
    return {"drawn": True, "randomness": _hex(batch.lottery_randomness), "winner": winner,
            "matches": paid == ([winner] if winner else [])}


# ---------------------------------------------------------------------- batches


def batch_row(batch: BatchEntry, draw: dict | None, rewards: list[Reward]) -> dict:
    return {
        "index": batch.index,
        "first_block": batch.first_block,
        "last_block": batch.last_block,
        "provers": list(batch.provers),
        "finalized": _where(batch.finalized),
        "settled": _where(batch.settled),
        "coordinator": batch.coordinator,
        "records": batch.records,
        "lottery": _where(batch.lottery),
        "aggregation": draw,
        "rewards": [{"roller": r.roller, "amount": amount(r.amount)} for r in rewards],
    }


# ---------------------------------------------------------------------- rollers


def roller_detail(state: MarketState, address: str) -> dict:
    h = state.history
    info = state.rollers.get(address)
    total_weight = sum(r.weight for r in state.rollers.values())
    ours = [c for c in h.reputation if c.roller == address]
    rewards = [r for r in h.rewards if r.roller == address]
    slashes = [s for s in h.slashes if s.roller == address]
    registered = h.registered.get(address)
    history = ([] if registered is None else
               [{"time": registered[0].time, "l1_block": registered[0].l1_block,
                 "rep": registered[1], "cause": "registered"}])
    history += [{"time": c.where.time, "l1_block": c.where.l1_block, "rep": c.new_rep,
                 "cause": _cause(c)} for c in ours]
    outcomes = Counter(c.outcome.name.lower() for c in ours if c.rollup == h.rollup)
    return {
        "address": address,
        "stake": amount(info.active if info else 0),
        "unbonding": amount(info.unbonding if info else 0),
        "rep": info.rep if info else None,
        "weight_share": share(info.weight, total_weight) if info else 0.0,
        "claimable": amount(info.claimable if info else 0),
        "state": roller_state(info) if info else "unknown",
        "rewards": amount(sum(r.amount for r in rewards)),
        "slashed": amount(sum(s.amount for s in slashes)),
        "outcomes": {name: outcomes[name] for name in OUTCOME_NAMES},
        "registered": None if registered is None else _where(registered[0]),
        "reputation": history,
        "reward_history": [{"time": r.where.time, "l1_block": r.where.l1_block,
                            "kind": r.kind.name.lower(), "task": r.task,
                            "amount": amount(r.amount)} for r in rewards],
        "slashes": [slash_row(state, s) for s in slashes],
        "stake_changes": [{"what": c.what, "amount": amount(c.amount), **c.where.to_json()}
                          for c in h.stake_changes if c.roller == address],
        "records": [{"kind": c.kind.name.lower(), "task": c.task, "round": c.round,
                     "slots": c.slots, "outcome": c.outcome.name.lower(),
                     **c.where.to_json()} for c in ours if c.rollup == h.rollup],
    }


def _cause(change: ReputationChange) -> str:
    task = f"{change.kind.name.lower()} {change.task} round {change.round}"
    if change.outcome is Outcome.INVALID:
        return f"slashed ({task})"
    return f"{change.outcome.name.lower()} ({task})"


def _roller_row(detail: dict) -> dict:
    return {key: detail[key] for key in ("address", "stake", "unbonding", "rep", "weight_share",
                                         "claimable", "state", "rewards", "slashed", "outcomes")}


# ---------------------------------------------------------------------- slashes


def slash_row(state: MarketState, slash: Slash) -> dict:
    evidence, signed = state.evidence.get(slash.where.transaction, (None, None))
    return {
        "roller": slash.roller,
        "reporter": slash.reporter,
        "kind": slash.kind.name.lower(),
        "index": slash.index,
        "round": slash.round,
        "offense": _hex(slash.offense),
        "amount": amount(slash.amount),
        "reporter_share": amount(slash.reporter_share),
        "burned": amount(slash.burned),
        **slash.where.to_json(),
        "evidence": evidence,
        "signature_is_rollers": signed,
    }
