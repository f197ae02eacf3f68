"""A roster prepared once for many draws, with the hash that names it in audit records.

`market_contracts.rules.select` is the reference: it re-validates and re-sorts the whole roster
on every call (about 20 ms for 1,000 rollers), which is right for an auditor checking a few draws
and far too slow for a coordinator drawing every block. `Roster.select` gives the same answer
(tests compare the two on random rosters) from the candidates sorted once, with their prefix
sums: a draw is a binary search, corrected for the few rollers already excluded or picked.
"""

from __future__ import annotations

import functools
from bisect import bisect_right, insort
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from eth_utils import keccak

from market_contracts.rules import InvalidRoster, parse_address

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
    """(uint160 value, checksum form, abi word): what sorting, comparing and hashing use."""
    checksum = checksum_address(address)
    value = int(checksum, 16)
    return value, checksum, value.to_bytes(32, "big")


def draw_number(seed: bytes, j: int) -> int:
    """uint256(keccak256(abi.encode(bytes32 seed, uint256 j))): both are one 32-byte word."""
    return int.from_bytes(keccak(seed + j.to_bytes(32, "big")), "big")


@dataclass(frozen=True, eq=False)
class Roster:
    """The selectable part of a roster: weight > 0, ascending by address as uint160."""

    candidates: tuple[str, ...]
    weights: tuple[int, ...]
    #: prefix[i] = sum(weights[:i]); strictly increasing, since every weight is positive
    prefix: tuple[int, ...]
    position: Mapping[str, int]
    #: keccak256(abi.encode((address, uint256)[] candidates)), in this order. Zero weights are
    #: left out, since they cannot be drawn: a shell that drops them and one that keeps them
    #: name the same roster.
    hash: bytes

    def entries(self) -> list[tuple[str, int]]:
        return list(zip(self.candidates, self.weights))

    def select(self, seed: bytes, m: int, exclude: Iterable[str] = ()) -> list[str]:
        """`rules.select(seed, roster, m, exclude)`, for a 32-byte seed and checksum addresses."""
        removed = sorted({self.position[a] for a in exclude if a in self.position})
        removed_weight = sum(self.weights[i] for i in removed)
        picked = []
        for j in range(min(m, len(self.candidates) - len(removed))):
            r = draw_number(seed, j) % (self.prefix[-1] - removed_weight)
            i = self._walk(r, removed)
            picked.append(self.candidates[i])
            insort(removed, i)
            removed_weight += self.weights[i]
        return picked

    def _walk(self, r: int, removed: list[int]) -> int:
        """The first remaining candidate whose running sum, over remaining candidates only,
        exceeds r. A removed candidate before the answer shifts every later running sum down by
        its weight, so the search target moves up by it; removed are few, so this is a handful
        of binary searches."""
        offset = 0
        for p in removed:
            i = bisect_right(self.prefix, r + offset) - 1
            if i < p:
                return i
            offset += self.weights[p]
        return bisect_right(self.prefix, r + offset) - 1


def prepare_roster(entries: Iterable[tuple[str, int]]) -> Roster:
    """Validate as `rules.select` does (distinct addresses, natural weights), keep the
    candidates, sort them once. A live roster changes with every settlement, so this runs per
    batch: addresses' forms are memoized and the hash is built from them."""
    forms = []
    for address, w in entries:
        if type(w) is not int or not 0 <= w < UINT256_LIMIT:
            raise InvalidRoster(f"weight of {address} must be a uint256, got {w!r}")
        forms.append((*_address_forms(address), w))
    forms.sort()
    for before, after in zip(forms, forms[1:]):
        if before[0] == after[0]:
            raise InvalidRoster(f"address {after[1]} appears twice")
    cands = [form for form in forms if form[3] > 0]
    candidates = tuple(checksum for _, checksum, _, _ in cands)
    weights = tuple(w for _, _, _, w in cands)
    prefix = [0]
    for w in weights:
        prefix.append(prefix[-1] + w)
    body = b"".join(word + w.to_bytes(32, "big") for _, _, word, w in cands)
    return Roster(candidates, weights, tuple(prefix),
                  {address: i for i, address in enumerate(candidates)},
                  keccak(ABI_DYNAMIC_OFFSET + len(cands).to_bytes(32, "big") + body))
