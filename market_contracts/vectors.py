"""Writes the worked cases of docs/market-spec.md, computed by `rules.py`:
`python -m market_contracts.vectors [--out PATH]` (default tests/vectors/market-vectors.json).

Every input is fixed here, so the file is the same on every run; tests/market_contracts/
test_rules.py checks each case against the rules and that this module still writes the committed
file byte for byte, so a rule change without regenerating fails. Each section is a list of
cases, valid and invalid side by side: a valid case has its result, an invalid one names the
`rules` error class it raises. Numbers that can exceed 2**53 (weights, token amounts, 256-bit
draws and tickets) are decimal strings, since many JSON readers cannot hold them exactly.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

from eth_utils import keccak, to_checksum_address

from market_contracts import rules
from market_contracts.rules import MarketParams, Outcome, RulesError

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "tests/vectors/market-vectors.json"
CHAIN_ID = 31337
#: Addresses and randomness are hashes of labels, so that they look like real ones and anyone
#: can see that nothing was searched for.
ROLLUP = to_checksum_address(keccak(text="provernet vectors: rollup")[-20:])
A, B, C, D, E, F = (to_checksum_address(keccak(text=f"provernet vectors: roller {name}")[-20:])
                    for name in "abcdef")
RANDOMNESS = keccak(text="provernet vectors: randomness of L2 block 1")
LOTTERY_RANDOMNESS = keccak(text="provernet vectors: lottery randomness of batch 0")
PNT = 10**18
DEVNET = MarketParams.devnet()
#: Rosters whose snapshots have 0, 1, 2, 3 and 5 entries: no tree, a lone leaf, a pair, an odd
#: last leaf, and an odd node one level up. Zero weights are left out of the entries.
SNAPSHOT_ROSTERS = [
    ("no roller with weight: no entries, root 0", [(A, 0)]),
    ("one entry: the root is its leaf", [(A, 3 * PNT)]),
    ("two entries", [(A, 3 * PNT), (B, 5 * PNT)]),
    ("three entries: the odd last leaf goes up unchanged",
     [(A, 3 * PNT), (B, 5 * PNT), (C, 7 * PNT)]),
    ("five entries in roster (registration) order, a zero weight left out",
     [(F, 1), (C, 7 * PNT), (A, 0), (E, 2 * PNT), (B, 5 * PNT), (D, 9 * PNT)]),
]
FIVE = SNAPSHOT_ROSTERS[-1][1]


def _hex(value: bytes) -> str:
    return "0x" + value.hex()


def _number(value: int) -> int | str:
    return str(value) if abs(value) >= 2**53 else value


def _roster_json(roster: list[tuple[str, int]]) -> list[list[str]]:
    return [[address, str(w)] for address, w in roster]


def _error_name(call: Callable[[], object]) -> str:
    """The rules error class `call` raises; generating fails if it raises none, since the case
    would then claim an error the rules do not make."""
    try:
        call()
    except RulesError as exc:
        return type(exc).__name__
    raise AssertionError("an invalid case was accepted by the rules")


def params_table() -> dict:
    """The spec's parameter table: the devnet defaults, in `MarketParams` field order."""
    table = {}
    for field in dataclasses.fields(MarketParams):
        value = getattr(DEVNET, field.name)
        if field.name == "reward_mode":
            table[field.name] = value.name.lower()
        else:
            table[field.name] = _number(value)
    return table


def constants() -> dict:
    return {
        "BPS": rules.BPS,
        "RANDOMNESS_DELAY": rules.RANDOMNESS_DELAY,
        "BLOCKHASH_WINDOW": rules.BLOCKHASH_WINDOW,
        "UNBONDING_MARGIN": rules.UNBONDING_MARGIN,
        "MAX_UNBONDING_ENTRIES": rules.MAX_UNBONDING_ENTRIES,
        "AGG_CLOSE_IN_DEADLINES": rules.AGG_CLOSE_IN_DEADLINES,
    }


def domains() -> dict:
    return {name: {"string": text, "tag": _hex(getattr(rules, name))} for name, text in [
        ("DOMAIN_ASSIGN", "provernet.assign.v2"),
        ("DOMAIN_AGG", "provernet.aggregate.v2"),
        ("DOMAIN_SLOT", "provernet.slot.v2"),
        ("DOMAIN_TICKET", "provernet.ticket.v2"),
    ]}


def seed_cases(seed_of: Callable, index_name: str, valid: list[tuple],
               invalid: list[tuple]) -> list:
    """Cases of `block_seed` or `batch_seed`: (case, chain id, rollup, index, round, randomness)."""
    cases = []
    for case, chain_id, rollup, index, round_, randomness in valid:
        cases.append({"case": case, "chain_id": chain_id, "rollup": rollup,
                      index_name: _number(index), "round": round_, "randomness": randomness,
                      "seed": _hex(seed_of(chain_id, rollup, index, round_, randomness))})
    for case, chain_id, rollup, index, round_, randomness in invalid:
        cases.append({"case": case, "chain_id": chain_id, "rollup": rollup,
                      index_name: _number(index), "round": round_, "randomness": randomness,
                      "error": _error_name(
                          lambda: seed_of(chain_id, rollup, index, round_, randomness))})
    return cases


def block_seed_cases() -> list:
    r = _hex(RANDOMNESS)
    return seed_cases(rules.block_seed, "block", valid=[
        ("block 1, round 0", CHAIN_ID, ROLLUP, 1, 0, r),
        ("block 1, round 1: its own seed, same randomness", CHAIN_ID, ROLLUP, 1, 1, r),
        ("block 1, the open round (R_OPEN = 3) still has a seed", CHAIN_ID, ROLLUP, 1, 3, r),
        ("block 2: another block, same randomness, another seed", CHAIN_ID, ROLLUP, 2, 0, r),
        ("another chain id", 1, ROLLUP, 1, 0, r),
        ("rollup and randomness in lower case read the same", CHAIN_ID, ROLLUP.lower(), 1, 0,
         r.lower()),
    ], invalid=[
        ("rollup not an address", CHAIN_ID, "0x1234", 1, 0, r),
        ("rollup with a wrong checksum", CHAIN_ID, ROLLUP.swapcase().replace("0X", "0x"), 1, 0, r),
        ("randomness of 31 bytes", CHAIN_ID, ROLLUP, 1, 0, r[:-2]),
        ("randomness not hex", CHAIN_ID, ROLLUP, 1, 0, "0x" + "zz" * 32),
        ("negative round", CHAIN_ID, ROLLUP, 1, -1, r),
        ("block beyond uint256", CHAIN_ID, ROLLUP, 2**256, 0, r),
    ])


def batch_seed_cases() -> list:
    r = _hex(RANDOMNESS)
    return seed_cases(rules.batch_seed, "batch", valid=[
        ("batch 0, round 0 (randomness of its last block)", CHAIN_ID, ROLLUP, 0, 0, r),
        ("batch 0, round 1", CHAIN_ID, ROLLUP, 0, 1, r),
        ("batch 1: the aggregation domain differs from block 1's", CHAIN_ID, ROLLUP, 1, 0, r),
    ], invalid=[
        ("negative batch", CHAIN_ID, ROLLUP, -1, 0, r),
    ])


def draw_slots_cases() -> list:
    stake = 100 * PNT
    three = [(A, stake * 5_000), (B, 3 * stake * 7_500), (C, stake * 10_000)]
    cases = []
    valid = [
        ("three rollers, round 0 of block 2: one roller holds both slots",
         rules.block_seed(CHAIN_ID, ROLLUP, 2, 0, RANDOMNESS), three, DEVNET.m, 1),
        ("three rollers, round 3 of block 2: two holders",
         rules.block_seed(CHAIN_ID, ROLLUP, 2, 3, RANDOMNESS), three, DEVNET.m, 2),
        ("the same roster in the other order: the walk follows the roster, so other holders",
         rules.block_seed(CHAIN_ID, ROLLUP, 2, 3, RANDOMNESS), three[::-1], DEVNET.m, 2),
        ("two rollers, round 2 of block 1: the heavier is drawn twice",
         rules.block_seed(CHAIN_ID, ROLLUP, 1, 2, RANDOMNESS),
         [(A, stake * 5_000), (B, 2 * stake * 5_000)], DEVNET.m, 1),
        ("a single roller holds every slot",
         rules.block_seed(CHAIN_ID, ROLLUP, 1, 0, RANDOMNESS), [(D, stake * 5_000)], 3, 1),
        ("zero weights are never drawn (paused, under MIN_STAKE or rep 0)",
         rules.block_seed(CHAIN_ID, ROLLUP, 1, 0, RANDOMNESS),
         [(A, 0), (B, stake * 500), (C, 0)], DEVNET.m, 1),
        ("an aggregation draws one slot",
         rules.batch_seed(CHAIN_ID, ROLLUP, 0, 0, RANDOMNESS), three, 1, 1),
        ("four slots among four rollers", rules.block_seed(CHAIN_ID, ROLLUP, 3, 0, RANDOMNESS),
         [*three, (D, 1)], 4, None),
        ("every weight zero: no slots, the round waits for its deadline",
         rules.block_seed(CHAIN_ID, ROLLUP, 1, 0, RANDOMNESS), [(A, 0), (B, 0)], DEVNET.m, 0),
        ("empty roster: no slots", rules.block_seed(CHAIN_ID, ROLLUP, 1, 0, RANDOMNESS), [],
         DEVNET.m, 0),
        ("m = 0: no slots", rules.block_seed(CHAIN_ID, ROLLUP, 1, 0, RANDOMNESS), three, 0, 0),
    ]
    for case, seed, roster, m, distinct in valid:
        holders = rules.draw_slots(seed, roster, m)
        if distinct is not None:
            assert len(rules.slot_counts(holders)) == distinct, case
        cands = rules.candidates(roster)
        total = sum(w for _, w in cands)
        counts = rules.slot_counts(holders)
        held = [[entry.roller, rules.slots_held(seed, entry.start, entry.weight, total, m)]
                for entry in rules.snapshot_entries(roster)]
        # What settle checks per entry must be what the walk gave each roller.
        assert held == [[roller, counts.get(roller, 0)] for roller, _ in held], case
        cases.append({
            "case": case, "seed": _hex(seed), "roster": _roster_json(roster), "m": m,
            "candidates": _roster_json(cands), "total_weight": str(total),
            "draws": [str(rules.slot_draw(seed, j) % total) for j in range(m)] if total else [],
            "holders": holders,
            "slot_counts": [[holder, k] for holder, k in counts.items()],
            "slots_held": held,
        })
    seed = rules.block_seed(CHAIN_ID, ROLLUP, 1, 0, RANDOMNESS)
    invalid = [
        ("an address twice (in another case)", seed, [(A, 1), (A.lower(), 2)], 1),
        ("a negative weight", seed, [(A, 1), (B, -1)], 1),
        ("an address that is not one", seed, [(A, 1), ("0xnothex", 1)], 1),
        ("a seed of 31 bytes", seed[:31], [(A, 1)], 1),
        ("a negative m", seed, [(A, 1)], -1),
    ]
    for case, seed, roster, m in invalid:
        cases.append({"case": case, "seed": _hex(seed), "roster": _roster_json(roster), "m": m,
                      "error": _error_name(lambda: rules.draw_slots(seed, roster, m))})
    return cases


def _entry_json(entry: rules.RosterEntry) -> list:
    return [entry.index, entry.roller, str(entry.start), str(entry.weight)]


def snapshot_cases() -> list:
    """`snapshot_entries` and `snapshot_root`: what `RollerStaking.snapshotRoster` stores."""
    cases = []
    for case, roster in SNAPSHOT_ROSTERS:
        entries = rules.snapshot_entries(roster)
        cases.append({"case": case, "roster": _roster_json(roster),
                      "entries": [_entry_json(e) for e in entries],
                      "leaves": [_hex(e.leaf()) for e in entries],
                      "total": str(sum(e.weight for e in entries)),
                      "root": _hex(rules.snapshot_root(entries))})
    for case, roster in [("an address twice", [(A, 1), (A.lower(), 2)]),
                         ("a negative weight", [(A, 1), (B, -1)])]:
        cases.append({"case": case, "roster": _roster_json(roster),
                      "error": _error_name(lambda: rules.snapshot_entries(roster))})
    return cases


def _tampered(entries: list[rules.RosterEntry]) -> list[tuple]:
    """Draw proofs that must fail against the root, each beside the valid one it alters:
    (case, entry, path)."""
    one, three = entries[1], entries[3]
    path = rules.snapshot_path(entries, one.index)
    return [
        ("another roller in entry 1's place", dataclasses.replace(one, roller=A), path),
        ("entry 1 claiming a wider interval", dataclasses.replace(one, weight=one.weight + 1),
         path),
        ("entry 1 claiming an interval that starts earlier",
         dataclasses.replace(one, start=one.start - 1), path),
        ("entry 1 under another index", dataclasses.replace(one, index=2), path),
        ("entry 1 with entry 3's path", one, rules.snapshot_path(entries, three.index)),
        ("entry 1 with a sibling changed", one, [path[0][:-1] + bytes([path[0][-1] ^ 1]),
                                                 *path[1:]]),
        ("entry 1 with its path cut short", one, path[:-1]),
        ("entry 1 with a node added to its path", one, [*path, path[0]]),
    ]


def snapshot_path_cases() -> list:
    """`snapshot_path` and `verify_snapshot_path` over the five-entry snapshot: every entry's
    path verifies; altered entries and paths, side by side, do not."""
    entries = rules.snapshot_entries(FIVE)
    root = rules.snapshot_root(entries)
    cases = []
    for entry in entries:
        path = rules.snapshot_path(entries, entry.index)
        assert rules.verify_snapshot_path(root, entry, path)
        cases.append({"case": f"entry {entry.index}", "root": _hex(root),
                      "entry": _entry_json(entry), "index": entry.index,
                      "path": [_hex(node) for node in path], "valid": True})
    for case, entry, path in _tampered(entries):
        valid = rules.verify_snapshot_path(root, entry, path)
        assert not valid, case
        cases.append({"case": case, "root": _hex(root), "entry": _entry_json(entry),
                      "path": [_hex(node) for node in path], "valid": valid})
    for case, index in [("no entry 5 in a snapshot of 5", 5), ("a negative index", -1)]:
        cases.append({"case": case, "root": _hex(root), "index": index,
                      "error": _error_name(lambda: rules.snapshot_path(entries, index))})
    entry, path = entries[0], rules.snapshot_path(entries, 0)
    cases.append({"case": "a path node of 31 bytes", "root": _hex(root),
                  "entry": _entry_json(entry), "path": [_hex(path[0][:31]), *map(_hex, path[1:])],
                  "error": _error_name(lambda: rules.verify_snapshot_path(
                      root, entry, [path[0][:31], *path[1:]]))})
    return cases


def slots_held_cases() -> list:
    """`slots_held` for intervals that are no entry's, beside the entries' own (the draw_slots
    cases hold those, each matching the walk's slot counts)."""
    entries = rules.snapshot_entries(FIVE)
    total = sum(e.weight for e in entries)
    seed = rules.block_seed(CHAIN_ID, ROLLUP, 1, 0, RANDOMNESS)
    draws = [rules.slot_draw(seed, j) % total for j in range(DEVNET.m)]
    holder = next(e for e in entries if e.start <= draws[0] < e.start + e.weight)
    cases = []
    for case, start, weight, total_, m in [
        ("the entry that holds slot 0", holder.start, holder.weight, total, DEVNET.m),
        ("the whole roster holds every slot", 0, total, total, DEVNET.m),
        ("an interval ending at slot 0's draw holds it not", 0, draws[0], total, 1),
        ("an interval starting at slot 0's draw holds it", draws[0], 1, total, 1),
        ("an interval past the total holds nothing", total, 10 * PNT, total, DEVNET.m),
        ("total 0: no slots", 0, 1, 0, DEVNET.m),
        ("m = 0: no slots", 0, total, total, 0),
    ]:
        cases.append({"case": case, "seed": _hex(seed), "start": str(start),
                      "weight": str(weight), "total": str(total_), "m": m,
                      "slots": rules.slots_held(seed, start, weight, total_, m)})
    cases.append({"case": "a seed of 31 bytes", "seed": _hex(seed[:31]), "start": "0",
                  "weight": str(total), "total": str(total), "m": 1,
                  "error": _error_name(lambda: rules.slots_held(seed[:31], 0, total, total, 1))})
    return cases


def roster_snapshot_for_cases() -> list:
    """Which snapshot is a block's roster, with SNAPSHOT_MAX_AGE = 300 s."""
    snapshots = [(100, 1_000), (110, 1_120), (130, 1_360)]
    age = DEVNET.snapshot_max_age
    cases = []
    for case, taken, roster_block_, draw_time in [
        ("no snapshot taken yet", [], 500, 2_000),
        ("a roster block before the first snapshot", snapshots, 99, 1_012),
        ("a snapshot taken exactly at the roster block", snapshots, 110, 1_132),
        ("one taken in the commit's own L1 block is not its roster", snapshots, 109, 1_132),
        ("between two snapshots: the earlier", snapshots, 129, 1_372),
        ("after the last snapshot", snapshots, 200, 1_500),
        ("exactly SNAPSHOT_MAX_AGE old at the first commit: still the roster", snapshots, 200,
         1_360 + age),
        ("one second older: no roster (an older snapshot is older still)", snapshots, 200,
         1_360 + age + 1),
        ("an old snapshot too old, while a newer one came after the roster block", snapshots,
         115, 1_120 + age + 1),
    ]:
        cases.append({"case": case, "snapshots": [list(s) for s in taken],
                      "roster_block": roster_block_, "draw_time": draw_time, "max_age": age,
                      "snapshot": rules.roster_snapshot_for(taken, roster_block_, draw_time,
                                                            age)})
    return cases


def roster_and_randomness_block_cases() -> list:
    cases = [{"case": "committed first in L1 block 1000", "commit_l1_block": 1000,
              "roster_block": rules.roster_block(1000),
              "randomness_block": rules.randomness_block(1000)}]
    cases.append({"case": "a negative L1 block", "commit_l1_block": -1,
                  "error": _error_name(lambda: rules.roster_block(-1))})
    return cases


def randomness_source_cases() -> list:
    target = 1001
    valid = [
        ("the next block: the target's own hash", target + 1),
        ("inside the window", target + 100),
        ("at the edge of the window (now - target = 256)", target + 256),
        ("just past the window: the fallback, one period on", target + 257),
        ("the fallback in the middle of the next period", target + 400),
        ("the last block whose fallback is one period on", target + 512),
        ("the fallback moves to two periods on", target + 513),
    ]
    cases = [{"case": case, "target": target, "now": now,
              "source": rules.randomness_source(target, now)} for case, now in valid]
    for case, target_, now in [("now is the target: its hash is not known yet", target, target),
                               ("now before the target", target, target - 5),
                               ("a negative target", -1, 5)]:
        cases.append({"case": case, "target": target_, "now": now,
                      "error": _error_name(lambda: rules.randomness_source(target_, now))})
    return cases


def weight_cases() -> list:
    stake = DEVNET.min_stake
    return [{"case": case, "active_stake": str(active), "rep": rep, "paused": paused,
             "min_stake": str(stake), "weight": str(rules.weight(active, rep, paused, stake))}
            for case, active, rep, paused in [
                ("at MIN_STAKE", stake, 5_000, False),
                ("linear in stake", 3 * stake, 5_000, False),
                ("under MIN_STAKE", stake - 1, 5_000, False),
                ("reputation 0 (slashed)", stake, 0, False),
                ("paused", stake, 5_000, True),
            ]]


def next_reputation_cases() -> list:
    p = DEVNET
    steps = [
        ("on time from REP_INIT", 5_000, Outcome.ON_TIME, {}),
        ("on time at REP_MAX stays", 10_000, Outcome.ON_TIME, {}),
        ("on time rounds down", 9_999, Outcome.ON_TIME, {}),
        ("on time from 0 (after a slash)", 0, Outcome.ON_TIME, {}),
        ("late from REP_INIT", 5_000, Outcome.LATE, {}),
        ("missed from REP_INIT", 5_000, Outcome.MISSED, {}),
        ("late just above REP_MIN stops at REP_MIN", 550, Outcome.LATE, {}),
        ("missed just above REP_MIN stops at REP_MIN", 600, Outcome.MISSED, {}),
        ("late at REP_MIN leaves it", p.rep_min, Outcome.LATE, {}),
        ("missed at REP_MIN leaves it", p.rep_min, Outcome.MISSED, {}),
        ("late below REP_MIN never raises it", 300, Outcome.LATE, {}),
        ("missed below REP_MIN never raises it", 300, Outcome.MISSED, {}),
        ("late at 0 leaves it", 0, Outcome.LATE, {}),
        ("missed at 0 leaves it", 0, Outcome.MISSED, {}),
        ("invalid (only by slashing) takes it to 0", 5_000, Outcome.INVALID, {}),
        ("REP_MIN 0: missed goes down with no floor", 1, Outcome.MISSED,
         {"rep_min": 0, "gamma_bps": 10_000}),
        ("another scale: REP_MAX 1000, ALPHA_BPS 5000", 100, Outcome.ON_TIME,
         {"rep_max": 1_000, "rep_init": 500, "rep_min": 50, "alpha_bps": 5_000}),
    ]
    return [{"case": case, "params": changes, "rep": rep, "outcome": outcome.name.lower(),
             "next": rules.next_reputation(rep, outcome, dataclasses.replace(p, **changes))}
            for case, rep, outcome, changes in steps]


def split_reward_cases() -> list:
    cases = []
    for case, round_, slots, changes in [
        ("a drawn round, one slot: R_BLOCK // M", 0, 1, {}),
        ("a drawn round, two slots (drawn twice)", 0, 2, {}),
        ("the last drawn round", 2, 1, {}),
        ("the open round (R_OPEN) pays R_BLOCK", 3, 1, {}),
        ("M = 3: shares round down", 1, 1, {"m": 3}),
        ("R_OPEN = 1: round 1 is open", 1, 1, {"r_open": 1}),
    ]:
        params = DEVNET.replace(**changes)
        cases.append({"case": case, "params": changes, "round": round_, "slots": slots,
                      "reward": str(rules.split_reward(round_, slots, params))})
    return cases


def lottery_cases() -> list:
    r = _hex(LOTTERY_RANDOMNESS)
    cases = []
    for case, block, entries in [
        ("two on-time records, one with two slots", 1, [(A, 2), (B, 1)]),
        ("the same records in the other order: the tickets do not move", 1, [(B, 1), (A, 2)]),
        ("block 2: other tickets for the same rollers", 2, [(A, 2), (B, 1)]),
        ("an open-round rescue and a drawn record", 3, [(C, 1), (D, 1)]),
        ("no on-time records: no winner", 4, []),
    ]:
        tickets = [[roller, j, str(rules.reward_ticket(r, block, roller, j))]
                   for roller, slots in entries for j in range(slots)]
        cases.append({"case": case, "lottery_randomness": r, "block": block,
                      "entries": [[roller, slots] for roller, slots in entries],
                      "tickets": tickets, "winner": rules.lottery_winner(r, block, entries)})
    for case, randomness, entries in [
        ("an entry that is not an address", r, [(A, 1), ("0xdead", 1)]),
        ("lottery randomness of 31 bytes", r[:-2], [(A, 1)]),
        ("negative slots", r, [(A, -1)]),
    ]:
        cases.append({"case": case, "lottery_randomness": randomness, "block": 1,
                      "entries": [[roller, slots] for roller, slots in entries],
                      "error": _error_name(lambda: rules.lottery_winner(randomness, 1, entries))})
    return cases


def batch_cases() -> list:
    return [{"case": case, "block": block, "k": k, "batch": rules.batch_of(block, k),
             "first_block": rules.first_block_of(rules.batch_of(block, k), k),
             "last_block": rules.last_block_of(rules.batch_of(block, k), k)}
            for case, block, k in [
                ("the first block (blocks count from 1)", 1, 4),
                ("the last block of batch 0", 4, 4),
                ("the first block of batch 1", 5, 4),
                ("a block inside batch 2", 10, 4),
                ("K = 1: a batch per block", 7, 1),
            ]]


def exposure_cases() -> list:
    cases = []
    for case, changes in [
        ("the devnet defaults", {}),
        ("R_OPEN = 1", {"r_open": 1, "unbonding": 1_200}),
        ("longer deadlines", {"t": 60, "late_window": 120, "t_agg": 60, "unbonding": 2_640}),
        ("SNAPSHOT_MAX_AGE 0: the rounds and the slash window alone",
         {"snapshot_max_age": 0, "unbonding": 1_080}),
        ("SNAPSHOT_MAX_AGE of an hour", {"snapshot_max_age": 3_600, "unbonding": 8_280}),
    ]:
        params = dataclasses.replace(DEVNET, **changes)
        cases.append({"case": case, "params": changes, "exposure": rules.exposure(params),
                      "min_unbonding": rules.min_unbonding(params)})
    return cases


def market_params_cases() -> list:
    """Parameters the deployment refuses, beside their accepted neighbours; `changes` are
    applied to the devnet defaults as given (UNBONDING is not raised to fit)."""
    cases = []
    for case, changes in [
        ("UNBONDING exactly the margin", {"unbonding": 1_680}),
        ("UNBONDING one second under the margin", {"unbonding": 1_679}),
        ("R_OPEN 2 needs less UNBONDING", {"r_open": 2, "unbonding": 1_440}),
        ("SNAPSHOT_MAX_AGE as long as UNBONDING 1800 allows", {"snapshot_max_age": 360}),
        ("SNAPSHOT_MAX_AGE one second longer", {"snapshot_max_age": 361}),
        ("ALPHA_BPS at BPS", {"alpha_bps": 10_000}),
        ("ALPHA_BPS above BPS", {"alpha_bps": 10_001}),
        ("REP_MIN = REP_INIT", {"rep_min": 5_000}),
        ("REP_MIN above REP_INIT", {"rep_min": 5_001}),
        ("REP_INIT above REP_MAX", {"rep_init": 10_001}),
        ("LATE_WINDOW = T", {"late_window": 30}),
        ("LATE_WINDOW under T", {"late_window": 29}),
        ("M = 0", {"m": 0}),
        ("K = 0", {"k": 0}),
        ("R_OPEN = 0", {"r_open": 0}),
        ("MIN_STAKE = 0", {"min_stake": 0}),
        ("a negative SLASH_WINDOW", {"slash_window": -1}),
    ]:
        entry = {"case": case, "changes": changes}
        try:
            dataclasses.replace(DEVNET, **changes)
            entry["valid"] = True
        except RulesError as exc:
            entry["error"] = type(exc).__name__
        cases.append(entry)
    return cases


def build() -> dict:
    return {
        "about": "Worked cases of docs/market-spec.md (v2), written by `python -m "
                 "market_contracts.vectors` from market_contracts/rules.py; do not edit by hand. "
                 "A case with `error` names the rules error class the input raises. Numbers "
                 "that can exceed 2**53 are decimal strings. `params` in a case are changes to "
                 "the devnet defaults.",
        "chain_id": CHAIN_ID,
        "rollup": ROLLUP,
        "constants": constants(),
        "domains": domains(),
        "params": params_table(),
        "block_seed": block_seed_cases(),
        "batch_seed": batch_seed_cases(),
        "draw_slots": draw_slots_cases(),
        "snapshot": snapshot_cases(),
        "snapshot_path": snapshot_path_cases(),
        "slots_held": slots_held_cases(),
        "roster_snapshot_for": roster_snapshot_for_cases(),
        "draw_blocks": roster_and_randomness_block_cases(),
        "randomness_source": randomness_source_cases(),
        "weight": weight_cases(),
        "next_reputation": next_reputation_cases(),
        "split_reward": split_reward_cases(),
        "lottery": lottery_cases(),
        "batches": batch_cases(),
        "exposure": exposure_cases(),
        "market_params": market_params_cases(),
    }


def render() -> str:
    return json.dumps(build(), indent=1) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m market_contracts.vectors",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help=f"where to write the vectors [default: {DEFAULT_OUT}]")
    out = parser.parse_args(argv).out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render())
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
