"""A roster prepared once for many draws, with the hash that names it in audit records.

`market_contracts.rules.draw_slots` is the reference: it re-validates the whole roster on every
call (about 20 ms for 1,000 rollers), which is right for an auditor checking a few draws and far
too slow for a coordinator drawing every round of every block. `Roster.draw_slots` gives the same
answer (tests compare the two on random rosters) from the candidates validated once, in the
order given (a roster snapshot's), with their prefix sums: each slot is one `rules.slot_draw`
and a binary search.
"""

from __future__ import annotations

import functools
from bisect import bisect_right
from collections.abc import Iterable
from dataclasses import dataclass

from eth_utils import keccak

from market_contracts.rules import InvalidRoster, parse_address, slot_draw

UINT256_LIMIT = 2**256
#: Distinct addresses whose checksum form is kept: a roster is re-read for every block, and the
#: checksum (a keccak per address) would otherwise dominate.
ADDRESS_CACHE_SIZE = 1 << 16
#: abi.encode of one dynamic argument starts with its offset, 0x20.
ABI_DYNAMIC_OFFSET = (32).to_bytes(32, "big")


@functools.lru_cache(maxsize=ADDRESS_CACHE_SIZE)
def checksum_address(address: str) -> str:
    """`rules.parse_address`, memoized: the canonical form every address is compared in."""
    return parse_address(address)


@functools.lru_cache(maxsize=ADDRESS_CACHE_SIZE)
def _address_forms(address: str) -> tuple[int, str, bytes]:
    """(uint160 value, checksum form, abi word): what comparing and hashing use."""
    checksum = checksum_address(address)
    value = int(checksum, 16)
    return value, checksum, value.to_bytes(32, "big")


@dataclass(frozen=True, eq=False)
class Roster:
    """The selectable part of a roster: weight > 0, in the roster's (snapshot) order, so that
    candidate i's draw interval is [prefix[i], prefix[i + 1]), its snapshot entry's."""

    candidates: tuple[str, ...]
    weights: tuple[int, ...]
    #: prefix[i] = sum(weights[:i]); strictly increasing, since every weight is positive
    prefix: tuple[int, ...]
    #: keccak256(abi.encode((address, uint256)[] candidates)), in this order. Zero weights are
    #: left out, since they cannot be drawn: a shell that drops them and one that keeps them
    #: name the same roster.
    hash: bytes

    def entries(self) -> list[tuple[str, int]]:
        return list(zip(self.candidates, self.weights))

    def draw_slots(self, seed: bytes, m: int) -> list[str]:
        """`rules.draw_slots(seed, roster, m)`: m slots with replacement, in slot order.

        Slot j goes to the first candidate whose running sum exceeds r, that is the last i with
        prefix[i] <= r; no candidate is ever removed, so the prefix sums serve every slot."""
        total = self.prefix[-1]
        if total == 0:
            return []
        return [self.candidates[bisect_right(self.prefix, slot_draw(seed, j) % total) - 1]
                for j in range(m)]


def prepare_roster(entries: Iterable[tuple[str, int]]) -> Roster:
    """Validate as `rules.draw_slots` does (distinct addresses, natural weights) and keep the
    candidates in the order given. A live roster changes with every settlement, so this runs per
    batch: addresses' forms are memoized and the hash is built from them."""
    forms = []
    seen: set[int] = set()
    for address, w in entries:
        if type(w) is not int or not 0 <= w < UINT256_LIMIT:
            raise InvalidRoster(f"weight of {address} must be a uint256, got {w!r}")
        form = _address_forms(address)
        if form[0] in seen:
            raise InvalidRoster(f"address {form[1]} appears twice")
        seen.add(form[0])
        forms.append((*form, w))
    cands = [form for form in forms if form[3] > 0]
    candidates = tuple(checksum for _, checksum, _, _ in cands)
    weights = tuple(w for _, _, _, w in cands)
    prefix = [0]
    for w in weights:
        prefix.append(prefix[-1] + w)
    body = b"".join(word + w.to_bytes(32, "big") for _, _, word, w in cands)
    return Roster(candidates, weights, tuple(prefix),
                  keccak(ABI_DYNAMIC_OFFSET + len(cands).to_bytes(32, "big") + body))
