"""The market rules of `shared/design/market-spec.md` as pure functions.

The contracts enforce the on-chain half of these rules; the coordinator, the roller's audit
command and the simulation all call this module, so that every assignment, lottery and
reputation change can be recomputed from public data by anyone and comes out the same. Nothing
here does I/O or keeps state; integers are exact, as on the EVM.
"""

from __future__ import annotations

import dataclasses
import enum
import re
from collections.abc import Iterable, Sequence

from eth_abi import encode
from eth_utils import (
    is_checksum_address,
    is_checksum_formatted_address,
    is_hex_address,
    keccak,
    to_checksum_address,
)

BPS = 10_000
DOMAIN_ASSIGN = keccak(text="provernet.assign.v1")
DOMAIN_AGG = keccak(text="provernet.aggregate.v1")
DOMAIN_REWARD = keccak(text="provernet.reward.v1")

_UINT256_LIMIT = 2**256
_HEX = re.compile(r"(?:0[xX])?((?:[0-9a-fA-F]{2})*)")


class RulesError(ValueError):
    """Root of everything this module raises: an input the rules cannot be applied to."""


class InvalidAddress(RulesError):
    """Not a 20-byte hex address, or a mixed-case one whose checksum is wrong (a likely typo)."""


class InvalidSeed(RulesError):
    """A seed or randomness that is not exactly 32 bytes of hex."""


class InvalidNumber(RulesError):
    """An integer that does not fit the uint256 the contracts encode it as."""


class InvalidRoster(RulesError):
    """A roster or list of provers with a duplicate address, or a weight that is not a natural
    number."""


class InvalidParams(RulesError):
    """Market parameters that the contracts would reject or that make the rules meaningless."""


class Outcome(enum.IntEnum):
    """What one assignment came to; the numbering is the Solidity enum's."""

    ON_TIME = 0
    LATE = 1
    MISSED = 2
    INVALID = 3


class TaskKind(enum.IntEnum):
    BLOCK = 0
    AGGREGATION = 1


class RewardMode(enum.IntEnum):
    LOTTERY = 0
    SPLIT = 1


@dataclasses.dataclass(frozen=True)
class MarketParams:
    """The on-chain parameters; field order is the Solidity struct's. Token amounts are in wei."""

    min_stake: int
    rep_max: int
    rep_init: int
    rep_min: int
    alpha_bps: int
    beta_bps: int
    gamma_bps: int
    slash_bps: int
    reporter_bps: int
    unbonding: int
    m: int
    t: int
    late_window: int
    k: int
    t_agg: int
    r_block: int
    r_agg: int
    reward_mode: RewardMode

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self)[:-1]:
            value = getattr(self, field.name)
            if not _is_uint256(value):
                raise InvalidParams(f"{field.name} must be a uint256, got {value!r}")
        try:
            object.__setattr__(self, "reward_mode", RewardMode(self.reward_mode))
        except ValueError:
            raise InvalidParams(f"reward_mode must be one of {[m.name for m in RewardMode]}, "
                                f"got {self.reward_mode!r}") from None
        for name in ("alpha_bps", "beta_bps", "gamma_bps", "slash_bps", "reporter_bps"):
            if getattr(self, name) > BPS:
                raise InvalidParams(f"{name} must be at most {BPS}, got {getattr(self, name)}")
        if not self.rep_min <= self.rep_init <= self.rep_max:
            raise InvalidParams(f"need rep_min <= rep_init <= rep_max, got {self.rep_min}, "
                                f"{self.rep_init}, {self.rep_max}")
        if self.late_window < self.t:
            raise InvalidParams(
                f"late_window must be at least t ({self.t}), got {self.late_window}")
        for name in ("m", "k"):
            if getattr(self, name) < 1:
                raise InvalidParams(f"{name} must be at least 1, got {getattr(self, name)}")

    @classmethod
    def devnet(cls) -> MarketParams:
        return cls(
            min_stake=100 * 10**18, rep_max=10_000, rep_init=5_000, rep_min=500,
            alpha_bps=1_000, beta_bps=1_000, gamma_bps=2_500, slash_bps=1_000, reporter_bps=1_000,
            unbonding=60, m=2, t=30, late_window=60, k=4, t_agg=30,
            r_block=10 * 10**18, r_agg=5 * 10**18, reward_mode=RewardMode.LOTTERY,
        )

    def as_tuple(self) -> tuple[int, ...]:
        return tuple(getattr(self, field.name) for field in dataclasses.fields(self))

    @classmethod
    def from_tuple(cls, values: Sequence[int]) -> MarketParams:
        expected = len(dataclasses.fields(cls))
        if len(values) != expected:
            raise InvalidParams(f"market params need {expected} values, got {len(values)}")
        return cls(*values)


def parse_address(value: str) -> str:
    if not isinstance(value, str) or not is_hex_address(value):
        raise InvalidAddress(f"not a 20-byte hex address: {value!r}")
    if is_checksum_formatted_address(value) and not is_checksum_address(value):
        raise InvalidAddress(
            f"bad checksum in address {value!r} (write it all lower case to skip the check)")
    return to_checksum_address(value)


def parse_bytes32(value: bytes | str, what: str = "seed") -> bytes:
    if isinstance(value, str):
        match = _HEX.fullmatch(value)
        if match is None:
            raise InvalidSeed(f"{what} is not hex: {value!r}")
        raw = bytes.fromhex(match[1])
    elif isinstance(value, bytes):
        raw = value
    else:
        raise InvalidSeed(f"{what} must be bytes or a hex string, got {value!r}")
    if len(raw) != 32:
        raise InvalidSeed(f"{what} must be 32 bytes, got {len(raw)}: {value!r}")
    return raw


def _is_uint256(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < _UINT256_LIMIT


def _uint256(value: int, what: str) -> int:
    if not _is_uint256(value):
        raise InvalidNumber(f"{what} must be an integer in [0, 2**256), got {value!r}")
    return value


def weight(active_stake: int, rep: int, paused: bool, min_stake: int) -> int:
    """Linear in stake, so splitting stake over many addresses gains nothing."""
    if paused or active_stake < min_stake or rep <= 0:
        return 0
    return active_stake * rep


def _seed(domain: bytes, chain_id: int, rollup: str, index: int, index_name: str, round_: int,
          randomness: bytes | str) -> bytes:
    return keccak(encode(
        ["bytes32", "uint256", "address", "uint256", "uint256", "bytes32"],
        [domain, _uint256(chain_id, "chain id"), parse_address(rollup),
         _uint256(index, index_name), _uint256(round_, "round"),
         parse_bytes32(randomness, "randomness")],
    ))


def block_seed(chain_id: int, rollup: str, l2_block: int, round_: int,
               randomness: bytes | str) -> bytes:
    return _seed(DOMAIN_ASSIGN, chain_id, rollup, l2_block, "L2 block", round_, randomness)


def batch_seed(chain_id: int, rollup: str, batch_index: int, round_: int,
               randomness: bytes | str) -> bytes:
    """`randomness` is that of the batch's last block."""
    return _seed(DOMAIN_AGG, chain_id, rollup, batch_index, "batch index", round_, randomness)


def _draw(seed: bytes, j: int) -> int:
    return int.from_bytes(keccak(encode(["bytes32", "uint256"], [seed, j])), "big")


def _distinct_addresses(addresses: Iterable[str]) -> list[str]:
    parsed = [parse_address(address) for address in addresses]
    seen: set[str] = set()
    for address in parsed:
        if address in seen:
            raise InvalidRoster(f"address {address} appears twice")
        seen.add(address)
    return parsed


def select(seed: bytes, roster: Sequence[tuple[str, int]], m: int,
           exclude: Iterable[str] = ()) -> list[str]:
    """Weighted draw without replacement; candidates are walked in address order (as uint160)
    so that the contract and every auditor walk them identically."""
    seed = parse_bytes32(seed)
    _uint256(m, "m")
    addresses = _distinct_addresses(address for address, _ in roster)
    excluded = {parse_address(address) for address in exclude}
    cands = []
    for address, (_, w) in zip(addresses, roster):
        if not isinstance(w, int) or isinstance(w, bool) or w < 0:
            raise InvalidRoster(f"weight of {address} must be a non-negative integer, got {w!r}")
        if w > 0 and address not in excluded:
            cands.append((address, w))
    cands.sort(key=lambda cand: int(cand[0], 16))

    picked = []
    for j in range(min(m, len(cands))):
        r = _draw(seed, j) % sum(w for _, w in cands)
        running = 0
        for i, (address, w) in enumerate(cands):
            running += w
            if running > r:
                picked.append(address)
                del cands[i]
                break
    return picked


def reward_ticket(seed: bytes, roller: str) -> int:
    return int.from_bytes(
        keccak(encode(["bytes32", "bytes32", "address"],
                      [parse_bytes32(seed), DOMAIN_REWARD, parse_address(roller)])),
        "big",
    )


def lottery_winner(entries: Iterable[tuple[str, bytes]]) -> str | None:
    """The ticket does not depend on arrival time, so being fastest earns nothing and withholding
    a valid proof can only hand the win to someone else."""
    tickets = [(reward_ticket(seed, roller), parse_address(roller)) for roller, seed in entries]
    return min(tickets)[1] if tickets else None


def next_reputation(rep: int, outcome: Outcome, params: MarketParams) -> int:
    """Late and missed never push a positive reputation below REP_MIN, so a roller can recover;
    an invalid proof drops it to 0, from which only on-time proofs climb."""
    outcome = Outcome(outcome)
    if outcome is Outcome.ON_TIME:
        return rep + (params.rep_max - rep) * params.alpha_bps // BPS
    if outcome is Outcome.INVALID or rep == 0:
        return 0
    penalty_bps = params.beta_bps if outcome is Outcome.LATE else params.gamma_bps
    return max(rep - rep * penalty_bps // BPS, params.rep_min)


def block_rewards(on_time: Sequence[tuple[str, bytes]], params: MarketParams) -> dict[str, int]:
    """Rewards of one block among its on-time provers, each with the seed of its round. What the
    reward pool can actually pay is the contract's business, not applied here."""
    provers = _distinct_addresses(roller for roller, _ in on_time)
    if params.reward_mode is RewardMode.SPLIT:
        return {prover: params.r_block // len(provers) for prover in provers}
    winner = lottery_winner(on_time)
    return {} if winner is None else {winner: params.r_block}
