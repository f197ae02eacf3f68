"""The rules module against the shared vectors, with invalid inputs beside valid ones so that each
case doubles as a vector for a second implementation."""

from __future__ import annotations

import dataclasses

import pytest
from eth_utils import keccak, to_checksum_address
from hypothesis import given
from hypothesis import strategies as st

from market_contracts.rules import (
    BPS,
    DOMAIN_AGG,
    DOMAIN_ASSIGN,
    DOMAIN_REWARD,
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
    batch_seed,
    block_rewards,
    block_seed,
    lottery_winner,
    next_reputation,
    parse_address,
    parse_bytes32,
    reward_ticket,
    select,
    weight,
)

A = to_checksum_address("0x" + "11" * 20)
B = to_checksum_address("0x" + "22" * 20)
C = to_checksum_address("0x" + "33" * 20)
D = to_checksum_address("0x" + "44" * 20)
SEED = keccak(text="test seed")
RANDOMNESS = "0x" + "ab" * 32
ROLLUP = "0x3eAabe171D8A4EACe693Ae2D9a1E40b458151a99"


def _roster(vector: dict) -> list[tuple[str, int]]:
    return [(address, int(w)) for address, w in vector["roster"]]


def _vector_id(vector: dict) -> str:
    return f"block {vector['block_number']} round {vector['round']}"


def _assert_one_line_naming(exc: pytest.ExceptionInfo, bad_value: str) -> None:
    message = str(exc.value)
    assert "\n" not in message
    assert bad_value in message


# Constants and enums

def test_domains_are_keccak_of_their_names():
    assert DOMAIN_ASSIGN == keccak(text="provernet.assign.v1")
    assert DOMAIN_AGG == keccak(text="provernet.aggregate.v1")
    assert DOMAIN_REWARD == keccak(text="provernet.reward.v1")
    assert BPS == 10_000


def test_enum_numbering_matches_solidity():
    assert (Outcome.ON_TIME, Outcome.LATE, Outcome.MISSED, Outcome.INVALID) == (0, 1, 2, 3)
    assert (TaskKind.BLOCK, TaskKind.AGGREGATION) == (0, 1)
    assert (RewardMode.LOTTERY, RewardMode.SPLIT) == (0, 1)


def test_errors_share_one_root_that_is_a_value_error():
    for error in (InvalidAddress, InvalidNumber, InvalidParams, InvalidRoster, InvalidSeed):
        assert issubclass(error, RulesError)
    assert issubclass(RulesError, ValueError)


# Parameters

def test_devnet_params_are_the_spec_defaults():
    p = MarketParams.devnet()
    assert p.as_tuple() == (
        100 * 10**18, 10_000, 5_000, 500, 1_000, 1_000, 2_500, 1_000, 1_000,
        60, 2, 30, 60, 4, 30, 10 * 10**18, 5 * 10**18, RewardMode.LOTTERY,
    )
    assert p.late_window == 2 * p.t


def test_params_round_trip_through_a_tuple():
    p = dataclasses.replace(MarketParams.devnet(), reward_mode=RewardMode.SPLIT, m=3)
    assert MarketParams.from_tuple(p.as_tuple()) == p
    from_solidity = MarketParams.from_tuple(tuple(int(v) for v in p.as_tuple()))
    assert from_solidity.reward_mode is RewardMode.SPLIT


@pytest.mark.parametrize(("changes", "named"), [
    ({"alpha_bps": 10_000}, None),
    ({"slash_bps": 10_000, "reporter_bps": 0}, None),
    ({"rep_min": 5_000, "rep_init": 5_000}, None),
    ({"late_window": 30}, None),
    ({"alpha_bps": 10_001}, "alpha_bps"),
    ({"reporter_bps": 20_000}, "reporter_bps"),
    ({"rep_min": 5_001}, "rep_min"),
    ({"rep_init": 10_001}, "rep_init"),
    ({"late_window": 29}, "late_window"),
    ({"m": 0}, "m must"),
    ({"k": 0}, "k must"),
    ({"min_stake": -1}, "min_stake"),
    ({"t": 1.5}, "t must"),
    ({"reward_mode": 2}, "reward_mode"),
])
def test_params_validation(changes, named):
    if named is None:
        dataclasses.replace(MarketParams.devnet(), **changes)
        return
    with pytest.raises(InvalidParams) as exc:
        dataclasses.replace(MarketParams.devnet(), **changes)
    _assert_one_line_naming(exc, named)


def test_params_from_tuple_of_wrong_length():
    with pytest.raises(InvalidParams, match="18 values, got 17"):
        MarketParams.from_tuple(MarketParams.devnet().as_tuple()[:-1])


# Weight

MIN_STAKE = 100 * 10**18


@pytest.mark.parametrize(("active_stake", "rep", "paused", "expected"), [
    (MIN_STAKE, 5_000, False, MIN_STAKE * 5_000),
    (3 * MIN_STAKE, 1, False, 3 * MIN_STAKE),
    (MIN_STAKE - 1, 5_000, False, 0),
    (MIN_STAKE, 0, False, 0),
    (MIN_STAKE, 5_000, True, 0),
    (0, 10_000, False, 0),
])
def test_weight(active_stake, rep, paused, expected):
    assert weight(active_stake, rep, paused, MIN_STAKE) == expected


# Seeds

def test_block_seeds_match_vectors(draw_vectors, subtests):
    for v in draw_vectors:
        with subtests.test(_vector_id(v)):
            seed = block_seed(v["chain_id"], v["rollup"], v["block_number"], v["round"],
                              v["randomness"])
            assert "0x" + seed.hex() == v["seed"]


def test_batch_seed_matches_vector(vectors, subtests):
    cases = [v for v in vectors if v.get("kind") == "batch_seed"]
    assert cases, "no batch_seed vector in market-vectors.json"
    for v in cases:
        with subtests.test(f"batch {v['batch_index']}"):
            seed = batch_seed(v["chain_id"], v["rollup"], v["batch_index"], v["round"],
                              v["randomness"])
            assert "0x" + seed.hex() == v["seed"]


def test_seed_accepts_bytes_and_any_case(draw_vectors):
    v = draw_vectors[0]
    expected = bytes.fromhex(v["seed"][2:])
    randomness = bytes.fromhex(v["randomness"][2:])
    assert block_seed(v["chain_id"], v["rollup"].lower(), v["block_number"], v["round"],
                      randomness) == expected
    assert block_seed(v["chain_id"], "0x" + v["rollup"][2:].upper(), v["block_number"],
                      v["round"], v["randomness"].upper().replace("0X", "0x")) == expected


def test_block_and_batch_domains_differ():
    assert block_seed(1, ROLLUP, 7, 0, RANDOMNESS) != batch_seed(1, ROLLUP, 7, 0, RANDOMNESS)


@pytest.mark.parametrize(("args", "error", "named"), [
    ((31337, "0x1234", 1, 0, RANDOMNESS), InvalidAddress, "0x1234"),
    ((31337, ROLLUP.replace("a", "A", 1), 1, 0, RANDOMNESS), InvalidAddress, "checksum"),
    ((31337, ROLLUP, 1, 0, "0x" + "ab" * 31), InvalidSeed, "randomness must be 32 bytes"),
    ((31337, ROLLUP, 1, 0, "0x" + "zz" * 32), InvalidSeed, "randomness is not hex"),
    ((31337, ROLLUP, 1, -1, RANDOMNESS), InvalidNumber, "round"),
    ((31337, ROLLUP, 2**256, 0, RANDOMNESS), InvalidNumber, "L2 block"),
    ((-5, ROLLUP, 1, 0, RANDOMNESS), InvalidNumber, "chain id"),
])
def test_block_seed_rejects(args, error, named):
    with pytest.raises(error) as exc:
        block_seed(*args)
    _assert_one_line_naming(exc, named)


# Parsing

@pytest.mark.parametrize(("value", "expected"), [
    (A.lower(), A),
    ("0x" + A[2:].upper(), A),
    (A, A),
    ("0x3eaabe171d8a4eace693ae2d9a1e40b458151a99", ROLLUP),
])
def test_parse_address(value, expected):
    assert parse_address(value) == expected


@pytest.mark.parametrize("value", [
    "", "0x", "0x1234", "0x" + "11" * 21, "0x" + "gg" * 20, ROLLUP.replace("a", "A", 1), None,
    bytes(20),
])
def test_parse_address_rejects(value):
    with pytest.raises(InvalidAddress) as exc:
        parse_address(value)
    _assert_one_line_naming(exc, repr(value))


@pytest.mark.parametrize(("value", "expected"), [
    ("0x" + "ab" * 32, b"\xab" * 32),
    ("AB" * 32, b"\xab" * 32),
    (b"\x01" * 32, b"\x01" * 32),
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
    _assert_one_line_naming(exc, repr(value))


# Selection

def test_selection_matches_vectors(draw_vectors, subtests):
    for v in draw_vectors:
        with subtests.test(_vector_id(v)):
            seed = bytes.fromhex(v["seed"][2:])
            assert select(seed, _roster(v), v["m"], v["exclude"]) == v["selected"]


@pytest.mark.parametrize(("roster", "m", "exclude", "expected"), [
    pytest.param([], 2, [], [], id="empty roster"),
    pytest.param([(A, 0), (B, 0)], 2, [], [], id="all weights zero"),
    pytest.param([(A, 0), (B, 5), (C, 0)], 3, [], [B], id="zero weight never picked"),
    pytest.param([(A, 1), (B, 1), (C, 1)], 3, [A, C], [B], id="excluded never picked"),
    pytest.param([(A, 1), (B, 1)], 2, [A.lower(), B.lower()], [], id="exclude in lower case"),
    pytest.param([(A, 9)], 5, [], [A], id="m larger than candidates"),
    pytest.param([(A, 1), (B, 1)], 0, [], [], id="m zero"),
    pytest.param([(A.lower(), 3)], 1, [D], [A], id="returns checksummed addresses"),
])
def test_select_edge_cases(roster, m, exclude, expected):
    assert select(SEED, roster, m, exclude) == expected


def test_select_draws_every_candidate_when_m_exceeds_them():
    picked = select(SEED, [(A, 1), (B, 10**30), (C, 0), (D, 7)], 10)
    assert sorted(picked) == sorted([A, B, D])


def test_select_ignores_roster_order():
    roster = [(A, 5), (B, 3), (C, 8), (D, 1)]
    assert select(SEED, roster, 3) == select(SEED, roster[::-1], 3)


@pytest.mark.parametrize(("seed", "roster", "m", "exclude", "error", "named"), [
    pytest.param(SEED, [(A, 1), (A.lower(), 2)], 1, [], InvalidRoster, A, id="duplicate address"),
    pytest.param(SEED, [(A, 1), (B, -1)], 1, [], InvalidRoster, B, id="negative weight"),
    pytest.param(SEED, [(A, 1), (B, "5")], 1, [], InvalidRoster, B, id="weight not an integer"),
    pytest.param(SEED, [(A, 1), ("0xnothex", 1)], 1, [], InvalidAddress, "0xnothex",
                 id="bad address"),
    pytest.param(SEED, [(A, 1)], 1, ["0x12"], InvalidAddress, "0x12", id="bad excluded address"),
    pytest.param(SEED[:31], [(A, 1)], 1, [], InvalidSeed, "31", id="short seed"),
    pytest.param(SEED + b"\x00", [(A, 1)], 1, [], InvalidSeed, "33", id="long seed"),
    pytest.param(SEED, [(A, 1)], -1, [], InvalidNumber, "-1", id="negative m"),
])
def test_select_rejects(seed, roster, m, exclude, error, named):
    with pytest.raises(error) as exc:
        select(seed, roster, m, exclude)
    _assert_one_line_naming(exc, named)


addresses = st.binary(min_size=20, max_size=20).map(to_checksum_address)
rosters = st.lists(st.tuples(addresses, st.integers(0, 10**32)), max_size=16,
                   unique_by=lambda entry: entry[0])


@given(seed=st.binary(min_size=32, max_size=32), roster=rosters, m=st.integers(0, 20),
       data=st.data())
def test_select_properties(seed, roster, m, data):
    exclude = data.draw(st.lists(st.sampled_from([a for a, _ in roster]) if roster else addresses,
                                 max_size=4))
    picked = select(seed, roster, m, exclude)
    weights = dict(roster)
    candidates = {a for a, w in roster if w > 0 and a not in exclude}
    assert len(picked) == len(set(picked)) == min(m, len(candidates))
    assert set(picked) <= candidates
    assert all(weights[a] > 0 for a in picked)


# Lottery and rewards

def test_lottery_matches_vectors(draw_vectors, subtests):
    for v in draw_vectors:
        with subtests.test(_vector_id(v)):
            seed = bytes.fromhex(v["seed"][2:])
            on_time = [(roller, seed) for roller in v["selected"]]
            assert lottery_winner(on_time) == v["lottery_winner_if_all_on_time"]
            assert lottery_winner(reversed(on_time)) == v["lottery_winner_if_all_on_time"]


def test_lottery_of_nobody_has_no_winner():
    assert lottery_winner([]) is None


def test_lottery_winner_has_the_smallest_ticket_under_its_own_round_seed():
    other_seed = keccak(text="round 1")
    entries = [(A, SEED), (B.lower(), other_seed), (C, SEED)]
    tickets = {A: reward_ticket(SEED, A), B: reward_ticket(other_seed, B),
               C: reward_ticket(SEED, C)}
    assert lottery_winner(entries) == min(tickets, key=tickets.__getitem__)


def test_lottery_rejects_bad_address():
    with pytest.raises(InvalidAddress) as exc:
        lottery_winner([(A, SEED), ("0xdead", SEED)])
    _assert_one_line_naming(exc, "0xdead")


def test_block_rewards_lottery_pays_the_winner_only():
    params = MarketParams.devnet()
    on_time = [(A, SEED), (B, SEED), (C, SEED)]
    assert block_rewards(on_time, params) == {lottery_winner(on_time): params.r_block}
    assert block_rewards([], params) == {}


def test_block_rewards_split_pays_equal_shares_rounded_down():
    params = dataclasses.replace(MarketParams.devnet(), reward_mode=RewardMode.SPLIT, r_block=10)
    assert block_rewards([(A, SEED), (B.lower(), SEED), (C, SEED)], params) == {A: 3, B: 3, C: 3}
    assert block_rewards([], params) == {}


def test_block_rewards_split_rejects_a_prover_counted_twice():
    params = dataclasses.replace(MarketParams.devnet(), reward_mode=RewardMode.SPLIT)
    with pytest.raises(InvalidRoster) as exc:
        block_rewards([(A, SEED), (A.lower(), SEED)], params)
    _assert_one_line_naming(exc, A)


# Reputation

def test_reputation_steps_match_vectors(vectors, subtests):
    cases = [v for v in vectors if v.get("kind") == "reputation"]
    assert cases, "no reputation vector in market-vectors.json"
    for v in cases:
        params = dataclasses.replace(MarketParams.devnet(), **v["params"])
        for rep, outcome, expected in v["steps"]:
            with subtests.test(f"{rep} {outcome}"):
                assert next_reputation(rep, Outcome[outcome.upper()], params) == expected


@pytest.mark.parametrize(("rep", "outcome", "expected"), [
    (0, Outcome.ON_TIME, 1_000),
    (10_000, Outcome.ON_TIME, 10_000),
    (9_999, Outcome.ON_TIME, 9_999),
    (500, Outcome.LATE, 500),
    (500, Outcome.MISSED, 500),
    (100, Outcome.MISSED, 500),
    (10_000, Outcome.LATE, 9_000),
    (10_000, Outcome.MISSED, 7_500),
    (0, Outcome.LATE, 0),
    (0, Outcome.MISSED, 0),
    (10_000, Outcome.INVALID, 0),
    (0, Outcome.INVALID, 0),
    (5_000, 1, 4_500),
])
def test_next_reputation(rep, outcome, expected):
    assert next_reputation(rep, outcome, MarketParams.devnet()) == expected


@st.composite
def market_params(draw):
    rep_max = draw(st.integers(1, 10**6))
    rep_min = draw(st.integers(0, rep_max))
    bps = st.integers(0, BPS)
    return dataclasses.replace(
        MarketParams.devnet(), rep_max=rep_max, rep_min=rep_min,
        rep_init=draw(st.integers(rep_min, rep_max)),
        alpha_bps=draw(bps), beta_bps=draw(bps), gamma_bps=draw(bps),
    )


@given(params=market_params(), data=st.data(), outcomes=st.lists(st.sampled_from(Outcome)))
def test_reputation_stays_within_scale(params, data, outcomes):
    rep = data.draw(st.integers(0, params.rep_max))
    for outcome in outcomes:
        rep = next_reputation(rep, outcome, params)
        assert 0 <= rep <= params.rep_max


@given(params=market_params(), outcome=st.sampled_from([Outcome.LATE, Outcome.MISSED]))
def test_zero_reputation_stays_zero_on_late_or_missed(params, outcome):
    assert next_reputation(0, outcome, params) == 0
