"""The prepared roster's draw against the reference `rules.select`, and the roster hash against
eth-abi's encoding; malformed rosters are refused as the reference refuses them."""

from __future__ import annotations

import pytest
from eth_abi import encode
from eth_utils import keccak, to_checksum_address
from hypothesis import given, settings
from hypothesis import strategies as st

from coordinator.roster import checksum_address, draw_number, prepare_roster
from market_contracts.rules import InvalidAddress, InvalidRoster, select

SEED = keccak(text="roster seed")
A = to_checksum_address("0x" + "11" * 20)
B = to_checksum_address("0x" + "22" * 20)
C = to_checksum_address("0x" + "33" * 20)
ROLLUP = "0x3eAabe171D8A4EACe693Ae2D9a1E40b458151a99"
ROLLUP_WITH_BAD_CHECKSUM = ROLLUP.replace("Aa", "aA", 1)

addresses = st.binary(min_size=20, max_size=20).map(to_checksum_address)
weights = st.one_of(st.integers(0, 3), st.integers(0, 10**6), st.integers(0, 2**200))


@st.composite
def draws(draw):
    entries = draw(st.lists(st.tuples(addresses, weights), max_size=12,
                            unique_by=lambda entry: entry[0].lower()))
    known = [address for address, _ in entries]
    exclude = draw(st.lists(st.sampled_from(known), unique=True) if known else st.just([]))
    exclude += draw(st.lists(addresses, max_size=2))  # not in the roster: no effect
    return entries, draw(st.integers(0, 14)), exclude, draw(st.binary(min_size=32, max_size=32))


@settings(max_examples=300)
@given(draws())
def test_select_matches_the_reference(case):
    entries, m, exclude, seed = case
    assert prepare_roster(entries).select(seed, m, exclude) == select(seed, entries, m, exclude)


def test_select_with_skewed_weights_and_exclusions_beside_the_reference():
    # One heavy roller between light ones, excluded or not: the walk must step over removed
    # candidates on either side of the answer.
    entries = [(to_checksum_address(f"0x{i:040x}"), w) for i, w in
               enumerate([1, 2, 10**30, 3, 0, 5, 7, 10**29, 1], start=1)]
    roster = prepare_roster(entries)
    for j in range(40):
        seed = keccak(j.to_bytes(32, "big"))
        for exclude in ([], [entries[2][0]], [entries[0][0], entries[7][0]],
                        [a for a, _ in entries[:6]]):
            assert roster.select(seed, 4, exclude) == select(seed, entries, 4, exclude)


def test_draw_number_is_the_specs_uint256_of_keccak_abi_encode():
    assert draw_number(SEED, 7) == int.from_bytes(
        keccak(encode(["bytes32", "uint256"], [SEED, 7])), "big")


def test_roster_hash_is_keccak_of_abi_encoded_sorted_candidates():
    roster = prepare_roster([(C, 3), (A, 1), (B, 0)])
    expected = keccak(encode(["(address,uint256)[]"], [[(A, 1), (C, 3)]]))
    assert roster.hash == expected
    assert roster.candidates == (A, C)


def test_zero_weights_and_address_case_do_not_change_the_roster():
    assert (prepare_roster([(A, 1), (B, 0)]).hash
            == prepare_roster([(A.lower(), 1)]).hash)
    assert prepare_roster([]).hash == keccak(encode(["(address,uint256)[]"], [[]]))


@pytest.mark.parametrize("entries, error, reference_refuses", [
    ([(A, 1), (A.lower(), 2)], InvalidRoster, True),
    ([(A, -1)], InvalidRoster, True),
    ([(A, True)], InvalidRoster, True),
    ([(A, 2**256)], InvalidRoster, False),  # would not fit the uint256 that abi.encode writes
    ([("0x1234", 1)], InvalidAddress, True),
    ([(ROLLUP_WITH_BAD_CHECKSUM, 1)], InvalidAddress, True),
])
def test_malformed_rosters_are_refused(entries, error, reference_refuses):
    with pytest.raises(error):
        prepare_roster(entries)
    if reference_refuses:
        with pytest.raises(error):
            select(SEED, entries, 1)


def test_checksum_address_normalizes_lower_case():
    assert checksum_address(A.lower()) == A
