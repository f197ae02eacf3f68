"""A pure, in-memory model of `RollerStaking` v2: the spec's rules applied to state.

`rules.py` holds the rules as functions of their inputs; this module holds the state they act on
(stakes, unbonding queues, reputations, each Rollup's reward pool and finalized height, the
coordinators and the Rollup each is bound to, pending lotteries, claimable balances, token
wallets) and applies them in exactly the order the contract does, so the two can be compared step
by step (`tests/market_contracts/test_ledger_vs_contract.py`) and the simulation can run the
market without a chain. A rejected operation raises `Rejected` carrying the contract's custom
error name and changes nothing, as a reverted transaction changes nothing.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from eth_abi import encode
from eth_utils import keccak

from market_contracts.rules import (
    BPS,
    MAX_UNBONDING_ENTRIES,
    RANDOMNESS_DELAY,
    MarketParams,
    Outcome,
    RewardMode,
    RosterEntry,
    RulesError,
    TaskKind,
    batch_seed,
    block_seed,
    blocks_of,
    is_open_round,
    last_block_of,
    lottery_winner,
    max_settled_round,
    next_reputation,
    roster_snapshot_for,
    slots_held,
    snapshot_entries,
    snapshot_path,
    snapshot_root,
    split_reward,
    verify_snapshot_path,
    weight,
)

UINT256_MAX = 2**256 - 1
#: `block.chainid` of the devnet, anvil and the embedded chain: what seeds are drawn under unless
#: a ledger is told otherwise.
DEVNET_CHAIN_ID = 31337
#: `abi.encode(LotteryEntry[])`: (block, roller, slots) per on-time block record.
LOTTERY_ENTRIES_ABI = "(uint256,address,uint256)[]"


class Rejected(Exception):
    """The operation would revert on-chain; `reason` is the contract's custom error name."""

    def __init__(self, reason: str, *args: object):
        super().__init__(reason, *args)
        self.reason = reason
        self.error_args = args


@dataclass(frozen=True, order=True)
class OutcomeReport:
    """One (roller, task, round) as a coordinator reports it to `RollerStaking.settle`: the
    slots the roller held in that round and its outcome (never `invalid`: only slashing evidence
    sets that).

    Field order is the contract's struct order; `sort_key` is the order `settle` requires.
    """

    roller: str
    kind: TaskKind
    task: int
    round: int
    slots: int
    outcome: Outcome

    def sort_key(self) -> tuple[int, int, int, int]:
        return (int(self.kind), self.task, self.round, int(self.roller, 16))

    def as_tuple(self) -> tuple:
        return (self.roller, int(self.kind), self.task, self.round, self.slots, int(self.outcome))


@dataclass(frozen=True)
class DrawProof:
    """That a record's roller held its slots: its entry in the task's roster snapshot and the
    Merkle path to the snapshot's root (`RollerStaking.settle`'s `draws`). Field order is the
    contract's struct order. Open-round records carry `NO_DRAW`: they are checked against the
    prover L1 recorded instead."""

    snapshot: int
    index: int
    start: int
    weight: int
    path: tuple[bytes, ...]

    def as_tuple(self) -> tuple:
        return (self.snapshot, self.index, self.start, self.weight, list(self.path))


NO_DRAW = DrawProof(0, 0, 0, 0, ())


def draw_proof(snapshot: int, entries: Sequence[RosterEntry], roller: str) -> DrawProof:
    """The proof that `roller` is in snapshot `snapshot` whose entries are `entries`."""
    for entry in entries:
        if entry.roller == roller:
            return DrawProof(snapshot, entry.index, entry.start, entry.weight,
                             tuple(snapshot_path(entries, entry.index)))
    raise RulesError(f"{roller} is not in roster snapshot {snapshot}")


def sort_outcomes(outcomes: list[OutcomeReport]) -> list[OutcomeReport]:
    return sorted(outcomes, key=OutcomeReport.sort_key)


#: One lottery ticket holder of a settled batch: (L2 block, roller, slots).
LotteryEntry = tuple[int, str, int]


def lottery_entries(outcomes: Sequence[OutcomeReport]) -> list[LotteryEntry]:
    """What lottery-mode `settle` commits to and `drawLottery` is called with: the on-time block
    records, in settlement order."""
    return [(o.task, o.roller, o.slots) for o in outcomes
            if o.kind == TaskKind.BLOCK and o.outcome == Outcome.ON_TIME]


def lottery_entries_hash(entries: Sequence[LotteryEntry]) -> bytes:
    return keccak(encode([LOTTERY_ENTRIES_ABI], [[tuple(entry) for entry in entries]]))


@dataclass(frozen=True)
class PendingLottery:
    """`RollerStaking.pendingLottery(rollup, batch)`: the entries' hash and the L1 block whose
    hash draws it."""

    entries_hash: bytes
    target_block: int


@dataclass(frozen=True)
class SlashSplit:
    """Where a slash's tokens go: `amount` leaves the roller's stake, `reporter_share` goes to
    whoever sent the evidence, `burned` is destroyed."""

    amount: int
    reporter_share: int
    burned: int


def slash_split(stake: int, params: MarketParams) -> SlashSplit:
    """SLASH_BPS of `stake` (active plus unbonding), REPORTER_BPS of that to the reporter, the
    rest burned; floor division, as the contract's mulDiv."""
    amount = stake * params.slash_bps // BPS
    reporter_share = amount * params.reporter_bps // BPS
    return SlashSplit(amount, reporter_share, amount - reporter_share)


def max_slots(kind: TaskKind, round_: int, params: MarketParams) -> int:
    """Most slots one roller can hold in a round: M in a drawn block round; an aggregation round
    draws one slot, and the open round pays one proof."""
    if kind == TaskKind.AGGREGATION or is_open_round(round_, params):
        return 1
    return params.m


@dataclass(frozen=True)
class Snapshot:
    """`RollerStaking.snapshotInfo(id)` with the entries its `RosterSnapshot` event lists."""

    l1_block: int
    timestamp: int
    total: int
    root: bytes
    entries: tuple[RosterEntry, ...]


@dataclass(frozen=True)
class DrawPin:
    """What `Rollup.commitBlock` pins on a block number's first commit (`drawBlocks`)."""

    roster_block: int
    draw_time: int


@dataclass
class RollerState:
    active: int = 0
    unbonding: deque[tuple[int, int]] = field(default_factory=deque)  # (amount, release time)
    rep: int = 0
    paused: bool = False
    registered: bool = False

    @property
    def unbonding_total(self) -> int:
        return sum(amount for amount, _ in self.unbonding)


@dataclass
class RollupState:
    """What the staking contract knows of one enabled Rollup, and the Rollup's finalized height
    (which the model is told, `Ledger.finalize`, as the contract reads it)."""

    k: int
    last_finalized: int = 0
    pool: int = 0
    settled: set[int] = field(default_factory=set)
    lotteries: dict[int, PendingLottery] = field(default_factory=dict)
    #: per block number: its pin, its recorded randomness, the prover `finalizeBatch` named
    pins: dict[int, DrawPin] = field(default_factory=dict)
    randomness: dict[int, bytes] = field(default_factory=dict)
    provers: dict[int, str] = field(default_factory=dict)


@dataclass
class Ledger:
    params: MarketParams
    rollups: dict[str, RollupState] = field(default_factory=dict)
    #: the coordinator registry: each coordinator and the Rollup it is bound to
    coordinators: dict[str, str] = field(default_factory=dict)
    wallets: dict[str, int] = field(default_factory=dict)
    rollers: dict[str, RollerState] = field(default_factory=dict)
    claimable: dict[str, int] = field(default_factory=dict)
    slashed: set[bytes] = field(default_factory=set)
    #: tokens destroyed by slashing: the token's total supply is this much below what was minted
    burned: int = 0
    #: roster snapshots in the order taken; a snapshot's id is its position
    snapshots: list[Snapshot] = field(default_factory=list)
    chain_id: int = DEVNET_CHAIN_ID

    # ------------------------------------------------------------ views

    @property
    def max_stake(self) -> int:
        return UINT256_MAX // self.params.rep_max

    def roller(self, address: str) -> RollerState:
        return self.rollers.get(address, RollerState())

    def weight_of(self, address: str) -> int:
        r = self.roller(address)
        return weight(r.active, r.rep, r.paused, self.params.min_stake)

    @property
    def total_active(self) -> int:
        return sum(r.active for r in self.rollers.values())

    @property
    def total_unbonding(self) -> int:
        return sum(r.unbonding_total for r in self.rollers.values())

    @property
    def total_claimable(self) -> int:
        return sum(self.claimable.values())

    @property
    def total_reward_pool(self) -> int:
        return sum(rollup.pool for rollup in self.rollups.values())

    # As the contract's views, these answer for a Rollup that was never added (nothing there).

    def reward_pool(self, rollup: str) -> int:
        state = self.rollups.get(rollup)
        return 0 if state is None else state.pool

    def batch_settled(self, rollup: str, batch: int) -> bool:
        state = self.rollups.get(rollup)
        return state is not None and batch in state.settled

    def pending_lottery(self, rollup: str, batch: int) -> PendingLottery | None:
        state = self.rollups.get(rollup)
        return None if state is None else state.lotteries.get(batch)

    def roster(self) -> list[tuple[str, int]]:
        """Every registered roller with its weight, in registration order (as `rosterPage`)."""
        return [(address, self.weight_of(address)) for address in self.rollers]

    # ------------------------------------------------------------ rollups and coordinators

    def add_rollup(self, rollup: str, k: int) -> None:
        """`addRollup` by the deployer; `k` is the Rollup's batch size."""
        if rollup in self.rollups:
            raise Rejected("RollupAlreadyAdded", rollup)
        if k < 1:
            raise ValueError(f"a Rollup's batch size is at least 1, got {k}")
        self.rollups[rollup] = RollupState(k)

    def register_coordinator(self, coordinator: str, rollup: str) -> None:
        """`CoordinatorRegistry.register`: the Rollup need not be enabled yet (`settle` checks)."""
        if coordinator in self.coordinators:
            raise Rejected("AlreadyRegistered", coordinator)
        self.coordinators[coordinator] = rollup

    def remove_coordinator(self, coordinator: str) -> None:
        if coordinator not in self.coordinators:
            raise Rejected("NotRegistered", coordinator)
        del self.coordinators[coordinator]

    def _rollup(self, rollup: str) -> RollupState:
        """A Rollup the model is told about (its own events): one never added is a misuse."""
        state = self.rollups.get(rollup)
        if state is None:
            raise ValueError(f"rollup {rollup} was never added: add_rollup it first")
        return state

    def finalize(self, rollup: str, last_finalized: int, provers: Mapping[int, str]) -> None:
        """The Rollup's `lastFinalized` is now `last_finalized` (it only grows), and `provers`
        names the prover `finalizeBatch` recorded for each block it finalized."""
        state = self._rollup(rollup)
        if last_finalized < state.last_finalized:
            raise ValueError(f"a Rollup's finalized height only grows: {state.last_finalized} "
                             f"-> {last_finalized}")
        newly = range(state.last_finalized + 1, last_finalized + 1)
        if any(block not in newly for block in provers):
            raise ValueError(f"provers named for blocks {sorted(provers)}, but only blocks "
                             f"{newly.start}..{newly.stop - 1} are finalized now")
        state.last_finalized = last_finalized
        state.provers.update(provers)

    # ------------------------------------------------------------ draws: pins, randomness, snapshots

    def pin(self, rollup: str, n: int, roster_block: int, draw_time: int) -> None:
        """`Rollup.commitBlock` of block `n` in the L1 block after `roster_block`, at `draw_time`:
        only the first commit of a number pins; a recommit after a revert keeps its draw."""
        self._rollup(rollup).pins.setdefault(n, DrawPin(roster_block, draw_time))

    def record_randomness(self, rollup: str, n: int, randomness: bytes) -> bytes:
        """`Rollup.recordRandomness(n)`, the spec's rule having given `randomness`: a recorded
        randomness never changes, so a second call returns the first."""
        state = self._rollup(rollup)
        if n not in state.pins:
            raise Rejected("BlockNeverCommitted", n)
        return state.randomness.setdefault(n, randomness)

    def take_snapshot(self, l1_block: int, timestamp: int) -> int:
        """`snapshotRoster()` sent in L1 block `l1_block` at `timestamp`: the live roster frozen
        as entries in registration order; returns its id."""
        if self.snapshots and self.snapshots[-1].l1_block >= l1_block:
            if self.snapshots[-1].l1_block == l1_block:
                raise Rejected("SnapshotAlreadyTaken", l1_block)
            raise ValueError(f"L1 block {l1_block} is before the last snapshot's "
                             f"{self.snapshots[-1].l1_block}")
        entries = tuple(snapshot_entries(self.roster()))
        self.snapshots.append(Snapshot(l1_block, timestamp, sum(e.weight for e in entries),
                                       snapshot_root(entries), entries))
        return len(self.snapshots) - 1

    def roster_snapshot_of(self, rollup: str, n: int) -> int | None:
        """`rosterSnapshotOf(rollup, n)`: the id of block `n`'s roster snapshot, None when its
        roster is empty (no snapshot, too old) or it was never committed."""
        pin = self._rollup(rollup).pins.get(n)
        if pin is None:
            return None
        return roster_snapshot_for([(s.l1_block, s.timestamp) for s in self.snapshots],
                                   pin.roster_block, pin.draw_time, self.params.snapshot_max_age)

    def _require_enabled(self, rollup: str) -> RollupState:
        state = self.rollups.get(rollup)
        if state is None:
            raise Rejected("RollupNotEnabled", rollup)
        return state

    # ------------------------------------------------------------ token side

    def mint(self, to: str, amount: int) -> None:
        self.wallets[to] = self.wallets.get(to, 0) + amount

    def _pull(self, owner: str, amount: int) -> None:
        balance = self.wallets.get(owner, 0)
        if balance < amount:
            raise Rejected("ERC20InsufficientBalance", owner, balance, amount)
        self.wallets[owner] = balance - amount

    # ------------------------------------------------------------ staking

    def stake(self, who: str, amount: int) -> None:
        if amount == 0:
            raise Rejected("ZeroAmount")
        r = self.roller(who)
        new_active = r.active + amount
        if new_active < self.params.min_stake:
            raise Rejected("BelowMinStake", new_active, self.params.min_stake)
        if new_active > self.max_stake:
            raise Rejected("StakeTooLarge", new_active, self.max_stake)
        self._pull(who, amount)
        if not r.registered:
            r.registered, r.rep = True, self.params.rep_init
            self.rollers[who] = r
        r.active = new_active

    def request_unstake(self, who: str, amount: int, now: int) -> int:
        """Returns the release time."""
        if amount == 0:
            raise Rejected("ZeroAmount")
        r = self.roller(who)
        if amount > r.active:
            raise Rejected("InsufficientStake", r.active, amount)
        # A bounded queue keeps a slash's walk over it bounded whatever the roller does.
        if len(r.unbonding) >= MAX_UNBONDING_ENTRIES:
            raise Rejected("TooManyUnbondings", MAX_UNBONDING_ENTRIES)
        r.active -= amount
        release = now + self.params.unbonding
        r.unbonding.append((amount, release))
        return release

    def withdraw(self, who: str, now: int) -> int:
        r = self.roller(who)
        released = 0
        while r.unbonding and r.unbonding[0][1] <= now:
            released += r.unbonding.popleft()[0]
        if released == 0:
            if r.unbonding:
                raise Rejected("NotYetReleased", r.unbonding[0][1])
            raise Rejected("NothingToWithdraw")
        self.mint(who, released)
        return released

    def pause(self, who: str) -> None:
        r = self._registered(who)
        if r.paused:
            raise Rejected("AlreadyPaused")
        r.paused = True

    def resume(self, who: str) -> None:
        r = self._registered(who)
        if not r.paused:
            raise Rejected("NotPaused")
        r.paused = False

    def _registered(self, who: str) -> RollerState:
        r = self.rollers.get(who)
        if r is None:
            raise Rejected("UnknownRoller", who)
        return r

    # ------------------------------------------------------------ rewards

    def fund_rewards(self, who: str, rollup: str, amount: int) -> None:
        if amount == 0:
            raise Rejected("ZeroAmount")
        state = self._require_enabled(rollup)
        self._pull(who, amount)
        state.pool += amount

    def claim(self, who: str) -> int:
        amount = self.claimable.get(who, 0)
        if amount == 0:
            raise Rejected("NothingToClaim")
        self.claimable[who] = 0
        self.mint(who, amount)
        return amount

    def _credit(self, rollup: RollupState, roller: str, amount: int) -> None:
        """Pays `min(amount, pool)` from the Rollup's own pool."""
        paid = min(amount, rollup.pool)
        rollup.pool -= paid
        self.claimable[roller] = self.claimable.get(roller, 0) + paid

    # ------------------------------------------------------------ settlement

    def settle(self, coordinator: str, batch: int, outcomes: Sequence[OutcomeReport],
               draws: Sequence[DrawProof], block_number: int = 0) -> None:
        """`RollerStaking.settle` sent by `coordinator` in L1 block `block_number` (which draws a
        lottery); `draws[i]` proves that `outcomes[i]`'s roller held its slots. All or nothing,
        as the transaction: every check runs before any state changes."""
        rollup = self._check_settlement(coordinator, batch, outcomes, draws)
        rollup.settled.add(batch)
        lottery = self.params.reward_mode == RewardMode.LOTTERY
        paid: dict[tuple[TaskKind, int], int] = {}  # per task, against its cap
        for o in outcomes:
            r = self.rollers[o.roller]
            r.rep = next_reputation(r.rep, o.outcome, self.params)
            if o.outcome != Outcome.ON_TIME or (lottery and o.kind == TaskKind.BLOCK):
                continue
            so_far = paid.get((o.kind, o.task), 0)
            amount = min(self._earned(o), self._task_cap(o.kind) - so_far)
            paid[o.kind, o.task] = so_far + amount
            self._credit(rollup, o.roller, amount)
        entries = lottery_entries(outcomes)
        if lottery and entries:
            rollup.lotteries[batch] = PendingLottery(lottery_entries_hash(entries),
                                                     block_number + RANDOMNESS_DELAY)

    def _earned(self, o: OutcomeReport) -> int:
        """What an on-time record earns before its task's cap (split mode for a block)."""
        if o.kind == TaskKind.AGGREGATION:
            return self.params.r_agg
        return split_reward(o.round, o.slots, self.params)

    def _task_cap(self, kind: TaskKind) -> int:
        """Whatever the report says, a block pays at most R_BLOCK and a batch at most R_AGG."""
        return self.params.r_agg if kind == TaskKind.AGGREGATION else self.params.r_block

    def _check_settlement(self, coordinator: str, batch: int, outcomes: Sequence[OutcomeReport],
                          draws: Sequence[DrawProof]) -> RollupState:
        """The spec's refusals, in its order; the records are checked in one pass and the first
        failure the contract meets is the reason."""
        address = self.coordinators.get(coordinator)
        if address is None:
            raise Rejected("NotCoordinator", coordinator)
        rollup = self.rollups.get(address)
        if rollup is None:
            raise Rejected("RollupNotEnabled", address)
        if rollup.last_finalized < last_block_of(batch, rollup.k):
            raise Rejected("BatchNotFinalized", batch, rollup.last_finalized)
        if batch in rollup.settled:
            raise Rejected("BatchAlreadySettled", batch)
        if not outcomes:
            raise Rejected("EmptySettlement")
        if len(draws) != len(outcomes):
            raise Rejected("DrawProofsMismatch", len(outcomes), len(draws))
        blocks = blocks_of(batch, rollup.k)
        for index, o in enumerate(outcomes):
            if index > 0 and o.sort_key() <= outcomes[index - 1].sort_key():
                raise Rejected("OutcomesNotSorted", index)
            in_batch = o.task in blocks if o.kind == TaskKind.BLOCK else o.task == batch
            if not in_batch:
                raise Rejected("TaskNotInBatch", index)
            if o.round > max_settled_round(o.kind, self.params):
                raise Rejected("RoundTooLarge", index)
            if not 1 <= o.slots <= max_slots(o.kind, o.round, self.params):
                raise Rejected("TooManySlots", index)
            if o.outcome == Outcome.INVALID:
                raise Rejected("InvalidNeedsEvidence", index)
            if o.roller not in self.rollers:
                raise Rejected("UnknownRoller", o.roller)
            self._check_draw(address, rollup, batch, o, draws[index])
        return rollup

    def _check_draw(self, address: str, rollup: RollupState, batch: int, o: OutcomeReport,
                    draw: DrawProof) -> None:
        """That the record's roller held its slots (a drawn round) or is the prover L1 recorded
        (a block's open round; an aggregation's is never settled). A batch draws from its last
        block's roster and randomness."""
        if is_open_round(o.round, self.params):
            if rollup.provers.get(o.task) != o.roller:
                raise Rejected("NotTheProver", o.task, o.roller)
            return
        block = o.task if o.kind == TaskKind.BLOCK else last_block_of(batch, rollup.k)
        chosen = self.roster_snapshot_of(address, block)
        if chosen is None or draw.snapshot != chosen:
            raise Rejected("WrongSnapshot", draw.snapshot)
        snapshot = self.snapshots[chosen]
        entry = RosterEntry(draw.index, o.roller, draw.start, draw.weight)
        if not verify_snapshot_path(snapshot.root, entry, draw.path):
            raise Rejected("NotInSnapshot", o.roller)
        randomness = rollup.randomness.get(block)
        if randomness is None:
            raise Rejected("RandomnessNotRecorded", block)
        if o.kind == TaskKind.BLOCK:
            seed = block_seed(self.chain_id, address, o.task, o.round, randomness)
        else:
            seed = batch_seed(self.chain_id, address, batch, o.round, randomness)
        held = slots_held(seed, draw.start, draw.weight, snapshot.total,
                          max_slots(o.kind, o.round, self.params))
        if held != o.slots:
            raise Rejected("NotDrawn", o.roller, o.slots, held)

    def draw_lottery(self, rollup: str, batch: int, entries: Sequence[LotteryEntry],
                     randomness: bytes, block_number: int | None = None) -> None:
        """`drawLottery`: `randomness` is the lottery randomness (the spec's randomness rule at
        the pending lottery's target block); `block_number`, when given, is the L1 block the
        call runs in, refused while the randomness cannot be known. Pays R_BLOCK per block to
        its smallest ticket."""
        pending = self.pending_lottery(rollup, batch)
        if pending is None:
            raise Rejected("NoPendingLottery", rollup, batch)
        state = self.rollups[rollup]
        if lottery_entries_hash(entries) != pending.entries_hash:
            raise Rejected("WrongLotteryEntries", rollup, batch)
        if block_number is not None and block_number <= pending.target_block:
            raise Rejected("RandomnessNotYetAvailable", pending.target_block)
        del state.lotteries[batch]
        by_block: dict[int, list[tuple[str, int]]] = {}
        for block, roller, slots in entries:
            by_block.setdefault(block, []).append((roller, slots))
        for block, tickets in by_block.items():
            self._credit(state, lottery_winner(randomness, block, tickets), self.params.r_block)

    # ------------------------------------------------------------ slashing

    def slash(self, roller: str, reporter: str, offense_key: bytes) -> SlashSplit:
        """`RollerStaking.slashInvalidProof` / `slashInvalidAggregate` once the evidence is
        judged: its signature is the roller's, its statement is L1's current one and its proof
        does not verify (none of which this model can see). `offense_key` is
        `market_contracts.submissions.offense_key`."""
        r = self._registered(roller)
        if offense_key in self.slashed:
            raise Rejected("AlreadySlashed", offense_key)
        self.slashed.add(offense_key)
        split = slash_split(r.active + r.unbonding_total, self.params)
        from_active = min(split.amount, r.active)
        r.active -= from_active
        rest = split.amount - from_active
        # The contract's order: active stake first, then unbonding entries newest first, since
        # stake that started unbonding last is the likeliest to have fled the offense.
        while rest > 0:
            amount, release = r.unbonding.pop()
            if amount > rest:
                r.unbonding.append((amount - rest, release))
                rest = 0
            else:
                rest -= amount
        r.rep = 0
        self.mint(reporter, split.reporter_share)
        self.burned += split.burned
        return split
