"""The rules module against the worked cases of tests/vectors/market-vectors.json (read as a second
implementation would read them: valid and invalid cases side by side, each invalid one with the
error class it raises), that file against its generator, and properties no list of cases
covers."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest
from eth_utils import keccak, to_checksum_address
from hypothesis import given
from hypothesis import strategies as st

from market_contracts import rules, vectors as vectors_module
from market_contracts.rules import (
    BPS,
    InvalidAddress,
    InvalidNumber,
    InvalidParams,
    InvalidRoster,
    InvalidSeed,
    MarketParams,
    Outcome,
    RewardMode,
    RulesError,
    TaskKind,
    parse_address,
    parse_bytes32,
)

A = to_checksum_address("0x" + "11" * 20)
B = to_checksum_address("0x" + "22" * 20)
C = to_checksum_address("0x" + "33" * 20)
SEED = keccak(text="test seed")
DEVNET = MarketParams.devnet()


def _cases(vectors: dict, section: str) -> list[dict]:
    cases = vectors[section]
    assert cases, f"no {section} cases in market-vectors.json"
    return cases


def _check(subtests, cases: list[dict], compute, expected_key: str) -> None:
    """Each case's result, or the error class it names, from the rules."""
    for case in cases:
        with subtests.test(case["case"]):
            if "error" in case:
                with pytest.raises(getattr(rules, case["error"])) as exc:
                    compute(case)
                assert "\n" not in str(exc.value)
            else:
                assert compute(case) == case[expected_key]


def _roster(case: dict) -> list[tuple[str, int]]:
    return [(address, int(w)) for address, w in case["roster"]]


def _with(changes: dict) -> MarketParams:
    return dataclasses.replace(DEVNET, **changes)


# The generator

def test_regenerating_gives_the_committed_file_byte_for_byte(vectors_path):
    assert vectors_module.render() == vectors_path.read_text(), (
        "tests/vectors/market-vectors.json is stale: run `python -m market_contracts.vectors`")


def test_the_module_writes_where_it_is_told(tmp_path, vectors_path):
    out = tmp_path / "v.json"
    subprocess.run([sys.executable, "-m", "market_contracts.vectors", "--out", str(out)],
                   check=True, capture_output=True)
    assert out.read_bytes() == vectors_path.read_bytes()


# Constants, domains and parameters

def test_constants_and_domains_match_the_vectors(vectors):
    for name, value in vectors["constants"].items():
        assert getattr(rules, name) == value
    for name, domain in vectors["domains"].items():
        assert getattr(rules, name) == keccak(text=domain["string"])
        assert "0x" + getattr(rules, name).hex() == domain["tag"]
        assert domain["string"].endswith(".v2")


def test_devnet_params_are_the_table(vectors):
    table = vectors["params"]
    assert list(table) == [f.name for f in dataclasses.fields(MarketParams)]
    values = [RewardMode[v.upper()] if name == "reward_mode" else int(v)
              for name, v in table.items()]
    assert MarketParams.from_tuple(values) == DEVNET
    assert DEVNET.reward_mode is RewardMode.SPLIT


def test_market_params_match_vectors(vectors, subtests):
    cases = _cases(vectors, "market_params")
    assert {"valid" in c for c in cases} == {True, False}
    for case in cases:
        with subtests.test(case["case"]):
            if "error" in case:
                with pytest.raises(getattr(rules, case["error"])):
                    _with(case["changes"])
            else:
                _with(case["changes"])


def test_exposure_matches_vectors(vectors, subtests):
    for case in _cases(vectors, "exposure"):
        with subtests.test(case["case"]):
            params = _with(case["params"])
            assert rules.exposure(params) == case["exposure"]
            assert rules.min_unbonding(params) == case["min_unbonding"]
            assert params.unbonding >= case["min_unbonding"]


def test_params_replace_raises_unbonding_to_the_margin_unless_given():
    assert DEVNET.replace(r_open=5).unbonding == rules.min_unbonding(DEVNET.replace(r_open=5))
    assert DEVNET.replace(m=3).unbonding == DEVNET.unbonding
    with pytest.raises(InvalidParams, match="unbonding must be at least 1680"):
        DEVNET.replace(unbonding=1_000)


@pytest.mark.parametrize(("changes", "named"), [
    ({"t": 1.5}, "t must"),
    ({"reward_mode": 2}, "reward_mode"),
    ({"m": True}, "m must"),
])
def test_params_of_the_wrong_type_are_refused(changes, named):
    with pytest.raises(InvalidParams, match=named) as exc:
        _with(changes)
    assert "\n" not in str(exc.value)


def test_params_round_trip_through_a_tuple():
    p = DEVNET.replace(reward_mode=RewardMode.LOTTERY, m=3)
    assert MarketParams.from_tuple(tuple(int(v) for v in p.as_tuple())) == p
    with pytest.raises(InvalidParams, match="21 values, got 20"):
        MarketParams.from_tuple(DEVNET.as_tuple()[:-1])


def test_enum_numbering_matches_solidity():
    assert (Outcome.ON_TIME, Outcome.LATE, Outcome.MISSED, Outcome.INVALID) == (0, 1, 2, 3)
    assert (TaskKind.BLOCK, TaskKind.AGGREGATION) == (0, 1)
    assert (RewardMode.LOTTERY, RewardMode.SPLIT) == (0, 1)


def test_errors_share_one_root_that_is_a_value_error():
    for error in (InvalidAddress, InvalidNumber, InvalidParams, InvalidRoster, InvalidSeed):
        assert issubclass(error, RulesError)
    assert issubclass(RulesError, ValueError)


# Batches, weight, randomness

def test_batches_match_vectors(vectors, subtests):
    for case in _cases(vectors, "batches"):
        with subtests.test(case["case"]):
            k, batch = case["k"], case["batch"]
            assert rules.batch_of(case["block"], k) == batch
            assert (rules.first_block_of(batch, k), rules.last_block_of(batch, k)) == (
                case["first_block"], case["last_block"])
            assert case["block"] in rules.blocks_of(batch, k)
            assert rules.ends_batch(case["block"], k) == (case["block"] == case["last_block"])
            assert rules.batches_through(case["last_block"], k) == batch + 1


def test_a_finalized_prefix_is_whole_batches():
    assert rules.ends_batch(0, 4) and rules.batches_through(0, 4) == 0
    assert [rules.batches_through(n, 4) for n in (3, 4, 5, 8)] == [0, 1, 1, 2]


def test_weight_matches_vectors(vectors, subtests):
    for case in _cases(vectors, "weight"):
        with subtests.test(case["case"]):
            assert rules.weight(int(case["active_stake"]), case["rep"], case["paused"],
                                int(case["min_stake"])) == int(case["weight"])


def test_draw_blocks_match_vectors(vectors, subtests):
    _check(subtests, _cases(vectors, "draw_blocks"),
           lambda c: rules.roster_block(c["commit_l1_block"]), "roster_block")
    _check(subtests, _cases(vectors, "draw_blocks"),
           lambda c: rules.randomness_block(c["commit_l1_block"]), "randomness_block")


def test_randomness_source_matches_vectors(vectors, subtests):
    _check(subtests, _cases(vectors, "randomness_source"),
           lambda c: rules.randomness_source(c["target"], c["now"]), "source")


@given(target=st.integers(0, 10**9), ahead=st.integers(1, 10**5))
def test_randomness_source_is_a_hash_the_evm_holds_a_whole_period_on(target, ahead):
    now = target + ahead
    source = rules.randomness_source(target, now)
    assert 1 <= now - source <= rules.BLOCKHASH_WINDOW
    assert (source - target) % rules.BLOCKHASH_WINDOW == 0
    assert source == target or now - target > rules.BLOCKHASH_WINDOW


# Seeds

def test_block_seeds_match_vectors(vectors, subtests):
    _check(subtests, _cases(vectors, "block_seed"), lambda c: "0x" + rules.block_seed(
        c["chain_id"], c["rollup"], int(c["block"]), c["round"], c["randomness"]).hex(), "seed")


def test_batch_seeds_match_vectors(vectors, subtests):
    _check(subtests, _cases(vectors, "batch_seed"), lambda c: "0x" + rules.batch_seed(
        c["chain_id"], c["rollup"], int(c["batch"]), c["round"], c["randomness"]).hex(), "seed")


def test_seed_accepts_bytes():
    case_randomness = "0x" + "ab" * 32
    rollup = "0x3eAabe171D8A4EACe693Ae2D9a1E40b458151a99"
    assert rules.block_seed(1, rollup, 7, 0, case_randomness) == rules.block_seed(
        1, rollup, 7, 0, bytes.fromhex("ab" * 32))
    assert rules.block_seed(1, rollup, 7, 0, case_randomness) != rules.batch_seed(
        1, rollup, 7, 0, case_randomness)


# Parsing

@pytest.mark.parametrize(("value", "expected"), [
    (A.lower(), A), ("0x" + A[2:].upper(), A), (A, A),
])
def test_parse_address(value, expected):
    assert parse_address(value) == expected


@pytest.mark.parametrize("value", [
    "", "0x", "0x1234", "0x" + "11" * 21, "0x" + "gg" * 20,
    "0x3eAabe171D8A4EACe693Ae2D9a1E40b458151a99".replace("a", "A", 1), None, bytes(20),
])
def test_parse_address_rejects(value):
    with pytest.raises(InvalidAddress) as exc:
        parse_address(value)
    assert repr(value) in str(exc.value) and "\n" not in str(exc.value)


@pytest.mark.parametrize(("value", "expected"), [
    ("0x" + "ab" * 32, b"\xab" * 32), ("AB" * 32, b"\xab" * 32), (b"\x01" * 32, b"\x01" * 32),
])
def test_parse_bytes32(value, expected):
    assert parse_bytes32(value) == expected


@pytest.mark.parametrize("value", [
    "", "0x", "0x" + "ab" * 31, "0x" + "ab" * 33, "0x" + "a" * 63, "0x" + "xy" * 32,
    "0x" + "ab " * 32, b"\x00" * 31, 5,
])
def test_parse_bytes32_rejects(value):
    with pytest.raises(InvalidSeed) as exc:
        parse_bytes32(value)
    assert repr(value) in str(exc.value) and "\n" not in str(exc.value)


# Slots

def test_draw_slots_match_vectors(vectors, subtests):
    cases = _cases(vectors, "draw_slots")
    _check(subtests, cases, lambda c: rules.draw_slots(c["seed"], _roster(c), c["m"]), "holders")
    for case in cases:
        if "error" in case:
            continue
        with subtests.test(case["case"] + ": the worked steps"):
            cands = rules.candidates(_roster(case))
            assert [[a, str(w)] for a, w in cands] == case["candidates"]
            total = sum(w for _, w in cands)
            assert str(total) == case["total_weight"]
            assert [str(rules.slot_draw(case["seed"], j) % total)
                    for j in range(case["m"] if total else 0)] == case["draws"]
            assert [[a, k] for a, k in rules.slot_counts(case["holders"]).items()] == (
                case["slot_counts"])


def test_the_draw_walks_the_roster_in_its_own_order(vectors):
    cases = [c for c in vectors["draw_slots"] if "error" not in c]
    reversed_pairs = [(a, b) for a in cases for b in cases
                      if a["seed"] == b["seed"] and a["roster"] == b["roster"][::-1]
                      and a["roster"] != b["roster"]]
    assert reversed_pairs, "no case with the same roster in another order"
    for a, b in reversed_pairs:
        assert a["candidates"] == a["roster"] and b["candidates"] == b["roster"]
        assert a["holders"] != b["holders"]


def test_slots_held_by_the_entries_match_the_walk(vectors, subtests):
    for case in vectors["draw_slots"]:
        if "error" in case:
            continue
        with subtests.test(case["case"]):
            entries = rules.snapshot_entries(_roster(case))
            total = int(case["total_weight"])
            held = [[e.roller, rules.slots_held(case["seed"], e.start, e.weight, total, case["m"])]
                    for e in entries]
            assert held == case["slots_held"]
            counts = dict(case["slot_counts"])
            assert held == [[roller, counts.get(roller, 0)] for roller, _ in held]


def test_vectors_draw_a_roller_twice_and_hold_every_edge(vectors):
    cases = [c for c in vectors["draw_slots"] if "error" not in c]
    assert any(len(set(c["holders"])) < len(c["holders"]) for c in cases), "no repeated roller"
    assert any(c["roster"] == [] for c in cases), "no empty roster"
    assert any(c["roster"] and c["holders"] == [] and c["m"] > 0 for c in cases), "no W == 0"
    assert any(len(c["candidates"]) == 1 for c in cases), "no single roller"


@pytest.mark.parametrize(("roster", "m", "expected"), [
    pytest.param([(A, 1)], 3, [A, A, A], id="one roller holds every slot"),
    pytest.param([(A.lower(), 3)], 1, [A], id="returns checksummed addresses"),
    pytest.param([(A, 0), (B, 5), (C, 0)], 4, [B] * 4, id="zero weight never drawn"),
])
def test_draw_slots_edge_cases(roster, m, expected):
    assert rules.draw_slots(SEED, roster, m) == expected


def test_draw_slots_refuses_a_weight_that_is_not_an_integer():
    with pytest.raises(InvalidRoster, match=B):
        rules.draw_slots(SEED, [(A, 1), (B, "5")], 1)


addresses = st.binary(min_size=20, max_size=20).map(to_checksum_address)
rosters = st.lists(st.tuples(addresses, st.integers(0, 10**32)), max_size=16,
                   unique_by=lambda entry: entry[0])


@given(seed=st.binary(min_size=32, max_size=32), roster=rosters, m=st.integers(0, 8))
def test_draw_slots_properties(seed, roster, m):
    holders = rules.draw_slots(seed, roster, m)
    positive = {a for a, w in roster if w > 0}
    assert len(holders) == (m if positive else 0)
    assert set(holders) <= positive
    # Each slot goes to the snapshot entry whose interval holds its draw, so the slots `settle`
    # counts in an entry's interval are the slots the walk gave its roller.
    entries = rules.snapshot_entries(roster)
    total = sum(entry.weight for entry in entries)
    counts = rules.slot_counts(holders)
    for entry in entries:
        assert rules.slots_held(seed, entry.start, entry.weight, total, m) == (
            counts.get(entry.roller, 0))
    # Slot j does not depend on how many slots are drawn after it.
    assert rules.draw_slots(seed, roster, m + 1)[:m] == holders
    assert sum(rules.slot_counts(holders).values()) == len(holders)


# Roster snapshots

def _entry(data: list) -> rules.RosterEntry:
    index, roller, start, weight = data
    return rules.RosterEntry(index, roller, int(start), int(weight))


def test_snapshot_entries_and_roots_match_vectors(vectors, subtests):
    cases = _cases(vectors, "snapshot")
    sizes = {len(c["entries"]) for c in cases if "error" not in c}
    assert sizes >= {0, 1, 2, 3, 5}, sizes
    _check(subtests, cases, lambda c: [
        [e.index, e.roller, str(e.start), str(e.weight)]
        for e in rules.snapshot_entries(_roster(c))], "entries")
    for case in cases:
        if "error" in case:
            continue
        with subtests.test(case["case"] + ": leaves, total and root"):
            entries = [_entry(e) for e in case["entries"]]
            assert ["0x" + e.leaf().hex() for e in entries] == case["leaves"]
            assert str(sum(e.weight for e in entries)) == case["total"]
            assert "0x" + rules.snapshot_root(entries).hex() == case["root"]
            starts = [e.start for e in entries]
            assert starts == [sum(e.weight for e in entries[:i]) for i in range(len(entries))]


def test_snapshot_paths_match_vectors(vectors, subtests):
    cases = _cases(vectors, "snapshot_path")
    assert {c.get("valid") for c in cases} == {True, False, None}
    five = next(c for c in vectors["snapshot"] if len(c.get("entries", ())) == 5)
    entries = [_entry(e) for e in five["entries"]]
    for case in cases:
        with subtests.test(case["case"]):
            assert case["root"] == five["root"]
            if "error" in case:
                with pytest.raises(getattr(rules, case["error"])):
                    if "index" in case:
                        rules.snapshot_path(entries, case["index"])
                    else:
                        rules.verify_snapshot_path(case["root"], _entry(case["entry"]),
                                                   case["path"])
                continue
            if case["valid"]:
                path = rules.snapshot_path(entries, case["index"])
                assert ["0x" + node.hex() for node in path] == case["path"]
            assert rules.verify_snapshot_path(case["root"], _entry(case["entry"]),
                                              case["path"]) is case["valid"]


def test_slots_held_matches_vectors(vectors, subtests):
    _check(subtests, _cases(vectors, "slots_held"), lambda c: rules.slots_held(
        c["seed"], int(c["start"]), int(c["weight"]), int(c["total"]), c["m"]), "slots")


def test_roster_snapshot_for_matches_vectors(vectors, subtests):
    cases = _cases(vectors, "roster_snapshot_for")
    assert {c["snapshot"] is None for c in cases} == {True, False}
    _check(subtests, cases, lambda c: rules.roster_snapshot_for(
        [tuple(s) for s in c["snapshots"]], c["roster_block"], c["draw_time"], c["max_age"]),
        "snapshot")


@given(roster=rosters, data=st.data())
def test_every_entry_has_a_path_to_the_root_and_no_other_entry_does(roster, data):
    entries = rules.snapshot_entries(roster)
    root = rules.snapshot_root(entries)
    for entry in entries:
        path = rules.snapshot_path(entries, entry.index)
        assert rules.verify_snapshot_path(root, entry, path)
        assert len(path) <= max(len(entries) - 1, 0).bit_length()
    if len(entries) >= 2:
        i, j = data.draw(st.permutations(range(len(entries))))[:2]
        assert not rules.verify_snapshot_path(root, entries[i],
                                              rules.snapshot_path(entries, j))


# Reputation and rewards

def test_next_reputation_matches_vectors(vectors, subtests):
    _check(subtests, _cases(vectors, "next_reputation"), lambda c: rules.next_reputation(
        c["rep"], Outcome[c["outcome"].upper()], _with(c["params"])), "next")


def test_split_reward_matches_vectors(vectors, subtests):
    _check(subtests, _cases(vectors, "split_reward"), lambda c: str(rules.split_reward(
        c["round"], c["slots"], DEVNET.replace(**c["params"]))), "reward")


def test_lottery_matches_vectors(vectors, subtests):
    cases = _cases(vectors, "lottery")
    _check(subtests, cases, lambda c: rules.lottery_winner(
        c["lottery_randomness"], c["block"], [tuple(e) for e in c["entries"]]), "winner")
    for case in cases:
        if "error" in case:
            continue
        with subtests.test(case["case"] + ": tickets"):
            tickets = [[roller, j, str(rules.reward_ticket(case["lottery_randomness"],
                                                           case["block"], roller, j))]
                       for roller, slots in case["entries"] for j in range(slots)]
            assert tickets == case["tickets"]
            if tickets:
                assert case["winner"] == min(tickets, key=lambda t: int(t[2]))[0]


@st.composite
def market_params(draw):
    rep_max = draw(st.integers(1, 10**6))
    rep_min = draw(st.integers(0, rep_max))
    bps = st.integers(0, BPS)
    return DEVNET.replace(rep_max=rep_max, rep_min=rep_min,
                          rep_init=draw(st.integers(rep_min, rep_max)),
                          alpha_bps=draw(bps), beta_bps=draw(bps), gamma_bps=draw(bps))


@given(params=market_params(), data=st.data(),
       outcome=st.sampled_from([Outcome.LATE, Outcome.MISSED]))
def test_late_or_missed_never_raises_nor_goes_below_rep_min(params, data, outcome):
    rep = data.draw(st.integers(0, params.rep_max))
    after = rules.next_reputation(rep, outcome, params)
    assert after <= rep
    assert after >= min(rep, params.rep_min)


@given(params=market_params(), data=st.data(), outcomes=st.lists(st.sampled_from(Outcome)))
def test_reputation_stays_within_scale(params, data, outcomes):
    rep = data.draw(st.integers(0, params.rep_max))
    for outcome in outcomes:
        rep = rules.next_reputation(rep, outcome, params)
        assert 0 <= rep <= params.rep_max
