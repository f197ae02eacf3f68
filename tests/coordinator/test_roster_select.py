"""The prepared roster's slot draw against the reference `rules.draw_slots` (both walk the roster
in the order given, a snapshot's), and the roster hash against eth-abi's encoding; malformed
rosters are refused as the reference refuses them."""

from __future__ import annotations

import pytest
from eth_abi import encode
from eth_utils import keccak, to_checksum_address
from hypothesis import given, settings
from hypothesis import strategies as st

from coordinator.roster import checksum_address, prepare_roster
from market_contracts.rules import (
    InvalidAddress,
    InvalidRoster,
    draw_slots,
    slot_draw,
    snapshot_entries,
)

SEED = keccak(text="roster seed")
A = to_checksum_address("0x" + "11" * 20)
B = to_checksum_address("0x" + "22" * 20)
C = to_checksum_address("0x" + "33" * 20)
ROLLUP = "0x3eAabe171D8A4EACe693Ae2D9a1E40b458151a99"
ROLLUP_WITH_BAD_CHECKSUM = ROLLUP.replace("Aa", "aA", 1)

addresses = st.binary(min_size=20, max_size=20).map(to_checksum_address)
weights = st.one_of(st.integers(0, 3), st.integers(0, 10**6), st.integers(0, 2**200))


@settings(max_examples=300)
@given(entries=st.lists(st.tuples(addresses, weights), max_size=12,
                        unique_by=lambda entry: entry[0].lower()),
       m=st.integers(0, 6), seed=st.binary(min_size=32, max_size=32))
def test_draw_slots_matches_the_reference(entries, m, seed):
    assert prepare_roster(entries).draw_slots(seed, m) == draw_slots(seed, entries, m)


@settings(max_examples=100)
@given(entries=st.lists(st.tuples(addresses, weights), min_size=1, max_size=12,
                        unique_by=lambda entry: entry[0].lower()),
       m=st.integers(1, 6), seed=st.binary(min_size=32, max_size=32))
def test_each_slot_goes_to_the_snapshot_entry_whose_interval_holds_its_draw(entries, m, seed):
    # What settle checks on-chain: the prepared roster's order is the snapshot's, so a slot's
    # holder is the entry with start <= draw < start + weight.
    roster = prepare_roster(entries)
    snapshot = snapshot_entries(entries)
    assert list(roster.candidates) == [e.roller for e in snapshot]
    total = roster.prefix[-1]
    for j, holder in enumerate(roster.draw_slots(seed, m)):
        draw = slot_draw(seed, j) % total
        assert [e.roller for e in snapshot if e.start <= draw < e.start + e.weight] == [holder]


def test_the_order_given_is_the_order_walked():
    # Sorting the roster (as v1 did) would move every interval: the same seed and weights in
    # the other order give other holders, in the reference and the prepared roster alike.
    entries = [(A, 1), (B, 1)]
    seed = next(keccak(j.to_bytes(32, "big")) for j in range(64)
                if slot_draw(keccak(j.to_bytes(32, "big")), 0) % 2 == 0)
    assert prepare_roster(entries).draw_slots(seed, 1) == draw_slots(seed, entries, 1) == [A]
    assert prepare_roster(entries[::-1]).draw_slots(seed, 1) == (
        draw_slots(seed, entries[::-1], 1)) == [B]


def test_draw_slots_with_skewed_weights_beside_the_reference():
    # One heavy roller between light ones, with zero weights among them: every slot lands on a
    # boundary of the prefix sums now and then, where an off-by-one would show.
    entries = [(to_checksum_address(f"0x{i:040x}"), w) for i, w in
               enumerate([1, 2, 10**30, 3, 0, 5, 7, 10**29, 1], start=1)]
    roster = prepare_roster(entries)
    drawn = set()
    for j in range(60):
        seed = keccak(j.to_bytes(32, "big"))
        holders = roster.draw_slots(seed, 4)
        assert holders == draw_slots(seed, entries, 4)
        drawn.update(holders)
    assert len(drawn) >= 2  # the heavy two take nearly every slot, but not one alone


def test_vector_draws_through_the_prepared_roster(vectors, subtests):
    for case in vectors["draw_slots"]:
        if "error" in case:
            continue
        with subtests.test(case["case"]):
            roster = prepare_roster([(a, int(w)) for a, w in case["roster"]])
            assert roster.draw_slots(bytes.fromhex(case["seed"][2:]), case["m"]) == (
                case["holders"])


def test_roster_without_candidates_draws_nothing():
    assert prepare_roster([]).draw_slots(SEED, 2) == []
    assert prepare_roster([(A, 0), (B, 0)]).draw_slots(SEED, 2) == []
    assert prepare_roster([(A, 1)]).draw_slots(SEED, 3) == [A, A, A]


def test_roster_hash_is_keccak_of_abi_encoded_candidates_in_order():
    roster = prepare_roster([(C, 3), (A, 1), (B, 0)])
    assert roster.hash == keccak(encode(["(address,uint256)[]"], [[(C, 3), (A, 1)]]))
    assert roster.candidates == (C, A)
    assert prepare_roster([(A, 1), (C, 3)]).hash != roster.hash


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
            draw_slots(SEED, entries, 1)


def test_checksum_address_normalizes_lower_case():
    assert checksum_address(A.lower()) == A
