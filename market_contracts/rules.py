"""The market rules of `docs/market-spec.md` (v2) as pure functions.

The contracts enforce the on-chain half of these rules; the coordinator, `provernet audit` and the
simulation all call this module, so that every draw, share, lottery and reputation change can be
recomputed from public data by anyone and comes out the same. Nothing here does I/O or keeps
state; integers are exact, as on the EVM. `market_contracts.vectors` writes the worked cases.
"""

from __future__ import annotations

import bisect
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

from p2p.messages import BATCH_TASK, BLOCK_TASK

BPS = 10_000
DOMAIN_ASSIGN = keccak(text="provernet.assign.v2")
DOMAIN_AGG = keccak(text="provernet.aggregate.v2")
DOMAIN_SLOT = keccak(text="provernet.slot.v2")
DOMAIN_TICKET = keccak(text="provernet.ticket.v2")
#: The randomness of a block is the hash of the L1 block this many blocks after its first commit.
RANDOMNESS_DELAY = 1
#: How many recent block hashes the EVM's BLOCKHASH can read.
BLOCKHASH_WINDOW = 256
#: UNBONDING must be at least this many times `exposure(params)`.
UNBONDING_MARGIN = 2
#: Pending unbonding entries a roller may have at once, so that a slash walks a bounded queue.
MAX_UNBONDING_ENTRIES = 16
#: An aggregation's window closes this many aggregation deadlines after assignment.
AGG_CLOSE_IN_DEADLINES = 2

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
    """What a task proves: one block, or a batch's aggregate; the numbering is the Solidity
    enum's. Its name in messages and metrics labels is `wire` (`p2p.messages.TASK_KINDS`);
    files and reports for people (slash evidence, audit records, the explorer) spell the
    member's name in lower case, "block" or "aggregation", as files already written do."""

    BLOCK = 0
    AGGREGATION = 1

    @property
    def wire(self) -> str:
        return _WIRE_NAMES[self]

    @classmethod
    def from_wire(cls, name: str) -> TaskKind:
        """The kind a wire name names (KeyError for none: messages are checked against
        `TASK_KINDS` before anything reads them)."""
        return _KINDS_ON_WIRE[name]


_WIRE_NAMES = {TaskKind.BLOCK: BLOCK_TASK, TaskKind.AGGREGATION: BATCH_TASK}
_KINDS_ON_WIRE = {name: kind for kind, name in _WIRE_NAMES.items()}


class RewardMode(enum.IntEnum):
    """The numbering is the Solidity enum's; SPLIT is the default (docs/market-spec.md)."""

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
    r_open: int
    slash_window: int
    snapshot_max_age: int

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            if field.name == "reward_mode":
                continue
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
        for name in ("m", "k", "r_open", "rep_max", "min_stake"):
            if getattr(self, name) < 1:
                raise InvalidParams(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.unbonding < min_unbonding(self):
            raise InvalidParams(
                f"unbonding must be at least {min_unbonding(self)} s ({UNBONDING_MARGIN} x the "
                f"exposure of {exposure(self)} s), got {self.unbonding}: stake could leave "
                "before the evidence against it lands")

    @classmethod
    def devnet(cls) -> MarketParams:
        return cls(
            min_stake=100 * 10**18, rep_max=10_000, rep_init=5_000, rep_min=500,
            alpha_bps=1_000, beta_bps=1_000, gamma_bps=2_500, slash_bps=1_000, reporter_bps=1_000,
            unbonding=1_800, m=2, t=30, late_window=60, k=4, t_agg=30,
            r_block=10 * 10**18, r_agg=5 * 10**18, reward_mode=RewardMode.SPLIT,
            r_open=3, slash_window=60, snapshot_max_age=300,
        )

    def replace(self, **changes: object) -> MarketParams:
        """These parameters with some changed; the unbonding is raised to the least the new
        ones allow unless `unbonding` is among the changes (so that a test or a scenario can
        shorten a deadline without working out the margin by hand)."""
        if "unbonding" in changes:
            return dataclasses.replace(self, **changes)
        widened = dataclasses.replace(self, **changes, unbonding=2**255)
        return dataclasses.replace(widened, unbonding=max(self.unbonding,
                                                          min_unbonding(widened)))

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


def exposure(params: MarketParams) -> int:
    """Seconds from a roster snapshot to the last moment evidence for a drawn task can land: the
    snapshot's age, the block's drawn rounds, its batch's aggregation rounds, the slash window."""
    rounds = params.r_open + 1
    return (params.snapshot_max_age + rounds * params.late_window
            + rounds * AGG_CLOSE_IN_DEADLINES * params.t_agg + params.slash_window)


def min_unbonding(params: MarketParams) -> int:
    return UNBONDING_MARGIN * exposure(params)


# ---------------------------------------------------------------- batches

def batch_of(block: int, k: int) -> int:
    """Blocks count from 1; batch b holds blocks b*K+1 .. b*K+K."""
    return (block - 1) // k


def first_block_of(batch: int, k: int) -> int:
    return batch * k + 1


def last_block_of(batch: int, k: int) -> int:
    return (batch + 1) * k


def blocks_of(batch: int, k: int) -> range:
    return range(first_block_of(batch, k), last_block_of(batch, k) + 1)


def ends_batch(block: int, k: int) -> bool:
    """Whether `block` is the last of its batch; block 0 (nothing committed yet) counts, since
    L1 finalizes whole batches and a finalized prefix of 0 blocks is one."""
    return block % k == 0


def batches_through(block: int, k: int) -> int:
    """How many whole batches blocks 1..`block` fill: once L1 has finalized up to `block` (a
    batch's end), the index of the next batch to finalize."""
    return block // k


# ---------------------------------------------------------------- randomness

def roster_block(commit_l1_block: int) -> int:
    """The last L1 block whose roster snapshot can be a block's roster: the one before its first
    commit."""
    return _uint256(commit_l1_block, "commit L1 block") - 1


def randomness_block(commit_l1_block: int) -> int:
    """The L1 block whose hash is a block's randomness: after its first commit."""
    return _uint256(commit_l1_block, "commit L1 block") + RANDOMNESS_DELAY


def randomness_source(target: int, now: int) -> int:
    """The L1 block whose hash `Rollup.recordRandomness` stores when called in L1 block `now`:
    the target while the EVM still holds its hash, otherwise the newest block a whole number of
    256-block periods after it."""
    _uint256(target, "target block")
    if not _uint256(now, "current block") > target:
        raise InvalidNumber(f"the randomness of L1 block {target} is not known in block {now}")
    if now - target <= BLOCKHASH_WINDOW:
        return target
    return now - 1 - (now - 1 - target) % BLOCKHASH_WINDOW


def weight(active_stake: int, rep: int, paused: bool, min_stake: int) -> int:
    """Linear in stake, so the chance of holding a slot is the same per token in one address or
    many."""
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


# ---------------------------------------------------------------- slots

def _distinct_addresses(addresses: Iterable[str]) -> list[str]:
    parsed = [parse_address(address) for address in addresses]
    seen: set[str] = set()
    for address in parsed:
        if address in seen:
            raise InvalidRoster(f"address {address} appears twice")
        seen.add(address)
    return parsed


def slot_draw(seed: bytes, j: int) -> int:
    """The 256-bit number that places slot j."""
    return int.from_bytes(keccak(encode(["bytes32", "bytes32", "uint256"],
                                        [DOMAIN_SLOT, parse_bytes32(seed), j])), "big")


def candidates(roster: Sequence[tuple[str, int]]) -> list[tuple[str, int]]:
    """The rollers of a roster that can hold a slot, in roster (snapshot) order: each one's draw
    interval then starts where the one before it ends, which is what a snapshot's entries record
    and `settle` checks."""
    addresses = _distinct_addresses(address for address, _ in roster)
    cands = []
    for address, (_, w) in zip(addresses, roster):
        if not isinstance(w, int) or isinstance(w, bool) or w < 0:
            raise InvalidRoster(f"weight of {address} must be a non-negative integer, got {w!r}")
        if w > 0:
            cands.append((address, w))
    return cands


def draw_slots(seed: bytes, roster: Sequence[tuple[str, int]], m: int) -> list[str]:
    """M slots drawn with replacement, in slot order; empty when no roller has weight."""
    seed = parse_bytes32(seed)
    _uint256(m, "m")
    cands = candidates(roster)
    total = sum(w for _, w in cands)
    if total == 0:
        return []
    holders = []
    for j in range(m):
        r = slot_draw(seed, j) % total
        running = 0
        for address, w in cands:
            running += w
            if running > r:
                holders.append(address)
                break
    return holders


def slot_counts(holders: Iterable[str]) -> dict[str, int]:
    """Slots per roller, in order of first slot: a roller drawn k times holds k slots."""
    counts: dict[str, int] = {}
    for holder in holders:
        counts[holder] = counts.get(holder, 0) + 1
    return counts


# ---------------------------------------------------------------- roster snapshots

@dataclasses.dataclass(frozen=True)
class RosterEntry:
    """One leaf of a roster snapshot: the roller at position `index` holds the draw interval
    [start, start + weight)."""

    index: int
    roller: str
    start: int
    weight: int

    def leaf(self) -> bytes:
        """OpenZeppelin's standard leaf: the hash of the hash of the abi-encoded entry, so that
        no leaf can pass for an inner node."""
        return keccak(keccak(encode(["uint256", "address", "uint256", "uint256"],
                                    [self.index, self.roller, self.start, self.weight])))


def snapshot_entries(roster: Sequence[tuple[str, int]]) -> list[RosterEntry]:
    """The entries `RollerStaking.snapshotRoster` takes: every roller with weight, in roster
    (registration) order, each with the sum of the weights before it."""
    entries = []
    start = 0
    for address, w in candidates(roster):
        entries.append(RosterEntry(len(entries), address, start, w))
        start += w
    return entries


def _hash_pair(a: bytes, b: bytes) -> bytes:
    """OpenZeppelin's `Hashes.commutativeKeccak256`: the two nodes sorted, then hashed."""
    return keccak(a + b) if a < b else keccak(b + a)


def _levels(leaves: Sequence[bytes]) -> list[list[bytes]]:
    """Every level of the tree, leaves first: nodes 2k and 2k+1 are paired; an odd last node
    goes up unchanged."""
    levels = [list(leaves)]
    while len(levels[-1]) > 1:
        level = levels[-1]
        levels.append([_hash_pair(level[i], level[i + 1]) if i + 1 < len(level) else level[i]
                       for i in range(0, len(level), 2)])
    return levels


def snapshot_root(entries: Sequence[RosterEntry]) -> bytes:
    """The Merkle root a snapshot stores; 32 zero bytes for an empty roster."""
    if not entries:
        return bytes(32)
    return _levels([entry.leaf() for entry in entries])[-1][0]


def snapshot_path(entries: Sequence[RosterEntry], index: int) -> list[bytes]:
    """The sibling hashes from entry `index` up to the root (OpenZeppelin's `MerkleProof`)."""
    if not 0 <= index < len(entries):
        raise InvalidRoster(f"no entry {index} in a snapshot of {len(entries)}")
    path = []
    for level in _levels([entry.leaf() for entry in entries])[:-1]:
        sibling = index ^ 1
        if sibling < len(level):
            path.append(level[sibling])
        index //= 2
    return path


def verify_snapshot_path(root: bytes, entry: RosterEntry, path: Sequence[bytes]) -> bool:
    node = entry.leaf()
    for sibling in path:
        node = _hash_pair(node, parse_bytes32(sibling, "path node"))
    return node == parse_bytes32(root, "root")


def slots_held(seed: bytes, start: int, weight: int, total: int, m: int) -> int:
    """How many of a round's m slots fall in the interval [start, start + weight) of a roster
    whose weights add up to `total`: what `settle` checks a record's `slots` against."""
    if total == 0:
        return 0
    return sum(1 for j in range(m) if start <= slot_draw(seed, j) % total < start + weight)


def roster_snapshot_for(snapshots: Sequence[tuple[int, int]], roster_block: int,
                        draw_time: int, max_age: int) -> int | None:
    """Which snapshot is the roster of a block: among `snapshots` (l1Block, timestamp), in the
    order they were taken (so by L1 block), the last taken at or before its roster block, if it
    is no older than SNAPSHOT_MAX_AGE at the block's first commit (`draw_time`). None: the
    roster is empty."""
    chosen = bisect.bisect_right([l1_block for l1_block, _ in snapshots], roster_block) - 1
    if chosen < 0 or snapshots[chosen][1] + max_age < draw_time:
        return None
    return chosen


# ---------------------------------------------------------------- outcomes and rewards

def next_reputation(rep: int, outcome: Outcome, params: MarketParams) -> int:
    """A reported late or missed outcome never raises a reputation and never takes it below
    REP_MIN; only slashing (on-chain evidence) takes it to 0."""
    outcome = Outcome(outcome)
    if outcome is Outcome.ON_TIME:
        return rep + (params.rep_max - rep) * params.alpha_bps // BPS
    if outcome is Outcome.INVALID:
        return 0
    if rep <= params.rep_min:
        return rep
    penalty_bps = params.beta_bps if outcome is Outcome.LATE else params.gamma_bps
    return max(rep - rep * penalty_bps // BPS, params.rep_min)


def slot_reward(params: MarketParams) -> int:
    """Split mode: what one on-time slot of a drawn round earns."""
    return params.r_block // params.m


def is_open_round(round_: int, params: MarketParams) -> bool:
    return round_ == params.r_open


def max_settled_round(kind: TaskKind, params: MarketParams) -> int:
    """The last round a settlement may name. A block's open round is paid to its rescuer, whom
    L1 names (the prover `finalizeBatch` recorded). An aggregation's open round is not settled
    at all: L1 names no aggregator, so a paid rescue would rest on the coordinator's word alone,
    and aggregating is cheap enough that the coordinator can always do it itself."""
    return params.r_open if TaskKind(kind) is TaskKind.BLOCK else params.r_open - 1


def split_reward(round_: int, slots: int, params: MarketParams) -> int:
    """Split mode: what an on-time record earns before the per-block cap of R_BLOCK."""
    if is_open_round(round_, params):
        return params.r_block
    return slots * slot_reward(params)


def reward_ticket(lottery_randomness: bytes | str, l2_block: int, roller: str, j: int) -> int:
    return int.from_bytes(keccak(encode(
        ["bytes32", "bytes32", "uint256", "address", "uint256"],
        [DOMAIN_TICKET, parse_bytes32(lottery_randomness, "lottery randomness"),
         _uint256(l2_block, "L2 block"), parse_address(roller), _uint256(j, "slot")])), "big")


def lottery_winner(lottery_randomness: bytes | str, l2_block: int,
                   entries: Iterable[tuple[str, int]]) -> str | None:
    """The holder of the smallest ticket among a block's on-time entries (roller, slots): one
    ticket per slot. Ties go to the earlier entry. The randomness is drawn after settlement, when
    every on-time set is fixed, so nothing can be learnt from a ticket in time to act on it."""
    best: tuple[int, str] | None = None
    for roller, slots in entries:
        address = parse_address(roller)
        for j in range(_uint256(slots, "slots")):
            ticket = reward_ticket(lottery_randomness, l2_block, address, j)
            if best is None or ticket < best[0]:
                best = (ticket, address)
    return None if best is None else best[1]
