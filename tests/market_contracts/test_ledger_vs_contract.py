"""Random operation sequences through RollerStaking v2 and through the pure ledger, side by side.

After every step the chain and the model must agree on every roller's stake, unbonding,
reputation, pause state, weight and claimable rewards, on token balances, on each Rollup's reward
pool, and on the totals; after a snapshot, on every roster snapshot (block, time, total, root,
entries); after a commit, on which snapshot is each new block's roster; after a settlement or a
draw, on that batch's settled flag and pending lottery. A step one refuses the other must refuse
for the same reason. The same run checks the contract's invariants (docs/reliability.md, "Contract
invariants"):

- tokens held equal every balance owed: the contract's token balance is each roller's active,
  unbonding and claimable plus each Rollup's pool, read one by one, and each total is the sum of
  its parts;
- no stake leaves before a slash window closes: stake a roster snapshot counted stays in the
  contract (active or unbonding) until `exposure(params)` after the snapshot, the last moment
  evidence against a task drawn from it can land; nothing is withdrawn before its release time;
- each unit of work settles once: no (Rollup, task kind, task, round, roller) record is applied
  twice over the run (read back from L1's `ReputationChanged` events), no batch settles twice or
  before it is finalized, no lottery is drawn twice, and only a Rollup's own coordinators settle
  its batches;
- the token's supply falls by exactly what slashing burned.

The bridge's invariant (locked tokens equal deposits minus claimed withdrawals) waits for the
bridge: there is none yet.

`benchmarks/invariants.py` runs this machine at depth (1,000 sequences of 100 steps); the tests
here run a few short sequences.

Two Rollups run over the stub batch verifier (it accepts the inputs it is told to expect, so a
batch finalizes without a proof): `finalize` commits and finalizes a Rollup's next batch on chain
and the ledger is told what L1 then holds, as a node reads it: each new block's pinned draw
(`drawBlocks`), each recorded randomness, and the provers `finalizeBatch` named. A settlement
report is built from the real draw (each round's holders under the task's roster snapshot and
recorded randomness, with their draw proofs; the open round's rescuer is L1's prover) and then,
most of the time, spoiled in one named way, so that every refusal of the spec is met beside
accepted reports; where the spoil applies, both must refuse for the reason it names.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import pytest
from eth_abi import decode
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import to_checksum_address
from eth_utils.abi import get_abi_output_types
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from market_contracts.bindings import ROSTER_PAGE_SIZE, RollerInfo
from market_contracts.chain import RpcChain
from market_contracts.compile import load_artifact
from market_contracts.errors import TransactionFailed
from market_contracts.ledger import (
    NO_DRAW,
    DrawProof,
    Ledger,
    OutcomeReport,
    Rejected,
    draw_proof,
    lottery_entries,
    max_slots,
)
from market_contracts.rollup import Rollup
from market_contracts.rules import (
    MAX_UNBONDING_ENTRIES,
    Outcome,
    RosterEntry,
    TaskKind,
    batch_seed,
    block_seed,
    blocks_of,
    draw_slots,
    exposure,
    first_block_of,
    is_open_round,
    max_settled_round,
    last_block_of,
    randomness_source,
    slot_counts,
)
from market_contracts.units import ONE_TOKEN

#: Accounts the stage adds beside the world's rollers (who stake before the world's snapshot).
NEW_ROLLERS = 4
WALLET_TOKENS = 1_000
POOL_TOKENS = 35  # small, so that a pool runs dry during a run
#: Batches a Rollup finalizes at most in a run.
BATCHES = 5
# Amounts around the boundaries that matter (MIN_STAKE is 100 tokens).
AMOUNTS = st.sampled_from([0, 1, 50, 99, 100, 101, 150, 400, 1_200]).map(lambda t: t * ONE_TOKEN)
#: The world's three rollers, then the stage's accounts.
WHO = st.integers(0, 3 + NEW_ROLLERS - 1)
WHICH_ROLLUP = st.integers(0, 1)
#: Around SNAPSHOT_MAX_AGE (300 s) and UNBONDING (1 800 s) at the devnet defaults.
WAITS = st.sampled_from([1, 300, 301, 1_799, 1_800, 1_801])

#: How a valid report is spoiled before it is sent, and the refusal that names it. A spoil that
#: cannot apply to the report at hand (nothing drawn to forge, no block without randomness)
#: leaves it valid; "other rollup's coordinator" settles that Rollup's batch of the same index,
#: which may well be accepted.
SPOILS = {
    "none": None,
    "unfinalized": "BatchNotFinalized",
    "empty": "EmptySettlement",
    "unsorted": "OutcomesNotSorted",
    "duplicate": "OutcomesNotSorted",
    "outside the batch": "TaskNotInBatch",
    "other batch's aggregation": "TaskNotInBatch",
    "round too large": "RoundTooLarge",
    "no slots": "TooManySlots",
    "too many slots": "TooManySlots",
    "invalid outcome": "InvalidNeedsEvidence",
    "unknown roller": "UnknownRoller",
    "one draw short": "DrawProofsMismatch",
    "not drawn": "NotDrawn",
    "wrong slot count": "NotDrawn",
    "wrong snapshot": "WrongSnapshot",
    "forged path": "NotInSnapshot",
    "another roller's entry": "NotInSnapshot",
    "randomness not recorded": "RandomnessNotRecorded",
    "open-round roller not the L1 prover": "NotTheProver",
    "other rollup's coordinator": None,
    "rollup not enabled": "RollupNotEnabled",
    "not a coordinator": "NotCoordinator",
}
#: Valid reports about as often as each way of spoiling one.
SPOIL_CHOICES = st.sampled_from(["none", "none", *SPOILS])

#: A row of a report before the draw fills it in: (kind, block offset in the batch (modulo its
#: size), round, outcome, who). A drawn round's row reports every holder of that round with the
#: slots it holds; a block's open round's row reports the prover L1 recorded for the block (the
#: registered roller `who` picks where L1 has none yet); an aggregation's open round is never
#: settled, so its row is left out.
ROWS = st.lists(
    st.tuples(st.sampled_from(TaskKind), st.integers(0, 7), st.integers(0, 3),
              st.sampled_from([Outcome.ON_TIME, Outcome.LATE, Outcome.MISSED]), WHO),
    min_size=1, max_size=4,
)

#: One settlement step's arguments (`MarketMachine.settle`).
REPORTS = st.fixed_dictionaries({"which": WHICH_ROLLUP, "pick": st.integers(0, BATCHES - 1),
                                 "rows": ROWS, "spoil": SPOIL_CHOICES})


@dataclass
class Stage:
    """What each run starts from: the world's market serving its Rollup (batches 0..2 finalized,
    drawn from the world's snapshot of its three rollers) and a second one (nothing committed),
    a coordinator bound to each, one bound to an address that is no enabled Rollup, more
    accounts with wallets, small reward pools, and a contract that snapshots twice in one call."""

    world: object
    rollups: list[Rollup]
    coordinators: list[LocalAccount]
    stranger: LocalAccount
    accounts: list[LocalAccount]
    twice: object


def stage(world) -> Stage:
    second = world.add_rollup()
    rollups = [world.rollup, second]
    coordinators = [world.coordinator, world.new_coordinator(second)]
    stranger = world.new_account(tokens=0)
    world.market.register_coordinator(world.owner, stranger.address, b"peer", "test", world.stub.address)
    accounts = [*world.rollers, *(world.new_account(tokens=WALLET_TOKENS) for _ in range(NEW_ROLLERS))]
    for account in accounts:
        # Approved once, so that each step is one transaction, whose block time is the model's.
        world.chain.transact(account, world.market.token.functions.approve(world.market.staking.address, 2**256 - 1))
    for rollup in rollups:
        world.fund_pool(POOL_TOKENS, rollup)
    twice = world.chain.deploy(world.owner, load_artifact("SnapshotTwice"))
    return Stage(world, rollups, coordinators, stranger, accounts, twice)


def staged(world):
    snapshot = world.chain.snapshot()
    yield stage(world)
    world.chain.revert(snapshot)


@pytest.fixture(scope="module")
def split_stage(deployed_world):
    yield from staged(deployed_world)


@pytest.fixture(scope="module")
def lottery_stage(deployed_lottery_world):
    yield from staged(deployed_lottery_world)


class FixedReads:
    """The same eth_calls, each encoded once and sent together (one JSON-RPC batch on a node).

    The invariant check reads the same 25 values after every step; through web3 one call at a
    time, encoding and validating each against the ABI, that was about three quarters of a step's
    time, which kept the run at depth (benchmarks/invariants.py) from fitting in the hour. The
    embedded chain's provider takes no batch: there the calls go one by one, still encoded once."""

    def __init__(self, chain, functions):
        self.chain = chain
        self.calls = [({"to": fn.address, "data": fn._encode_transaction_data()},
                       get_abi_output_types(fn.abi)) for fn in functions]

    def read(self) -> list:
        """Each call's outputs at the latest block (a lone output unwrapped)."""
        if isinstance(self.chain, RpcChain):
            responses = self.chain.w3.provider.make_batch_request(
                [("eth_call", [call, "latest"]) for call, _ in self.calls])
            raw = [bytes.fromhex(response["result"][2:]) for response in responses]
        else:
            raw = [bytes(self.chain.w3.eth.call(call)) for call, _ in self.calls]
        values = [decode(types, data) for (_, types), data in zip(self.calls, raw)]
        return [value[0] if len(value) == 1 else value for value in values]


@dataclass(frozen=True)
class TaskDraw:
    """What L1 holds for drawing a task: its roster snapshot (None: the roster is empty) with
    the snapshot's entries, and its recorded randomness (None: not recorded)."""

    snapshot: int | None
    entries: tuple[RosterEntry, ...]
    randomness: bytes | None


class MarketMachine(RuleBasedStateMachine):
    def __init__(self, stage: Stage):
        super().__init__()
        self.world, self.market, self.chain = stage.world, stage.world.market, stage.world.chain
        self.accounts, self.rollups, self.coordinators = stage.accounts, stage.rollups, stage.coordinators
        self.stranger, self.twice = stage.stranger, stage.twice
        self.snapshot = self.chain.snapshot()
        self.now = self.chain.latest_timestamp()
        #: the L1 block the current step's transaction lands in
        self.block = self.next_block()
        self.ledger = Ledger(params=self.world.params, chain_id=self.chain.chain_id)
        for account in self.accounts:
            # The world's rollers have staked already, in this order: the roster's order.
            active = self.market.roller_info(account.address).active
            self.ledger.mint(account.address, self.market.token_balance(account.address) + active)
            if active:
                self.ledger.stake(account.address, active)
        # Read from the world's first snapshot's block on: the embedded chain's log filter
        # reads every block in its range.
        first_block = self.chain.call(self.market.staking.functions.snapshotInfo(0))[0]
        #: the roster snapshots as L1 holds them (their events, checked against the roots)
        self.chain_snapshots = self.market.snapshots(from_block=first_block)
        for taken in self.chain_snapshots:
            self.ledger.take_snapshot(taken.l1_block, taken.timestamp)
        self.snapshots_match_model()
        owner = self.world.owner.address
        self.ledger.mint(owner, len(self.rollups) * POOL_TOKENS * ONE_TOKEN)
        for rollup, coordinator in zip(self.rollups, self.coordinators):
            self.ledger.add_rollup(rollup.address, rollup.batch_size())
            self.ledger.register_coordinator(coordinator.address, rollup.address)
            self.read_rollup(rollup)
            self.ledger.fund_rewards(owner, rollup.address, POOL_TOKENS * ONE_TOKEN)
        self.ledger.register_coordinator(self.stranger.address, self.world.stub.address)
        #: a roller that never stakes
        self.outsider = Account.create().address
        #: what each accepted lottery settlement committed to, by (rollup, batch)
        self.entries: dict[tuple[str, int], list] = {}
        #: every record L1 applied in this run: (rollup, kind, task, round, roller)
        self.settled_units: set[tuple] = set()
        #: the lotteries drawn in this run, by (rollup, batch)
        self.drawn_lotteries: set[tuple[str, int]] = set()
        #: each snapshot's exposure: until when (`exposure` after it) the stake it counted,
        #: by roller, must stay slashable
        self.exposed: list[tuple[int, dict[str, int]]] = []
        for taken in self.chain_snapshots:
            # Nothing staked or unstaked between the world's snapshot and this run.
            self.expose(taken)
        self.supply = self.market.token_supply()
        staking, token = self.market.staking.functions, self.market.token.functions
        self.reads = FixedReads(self.chain, [
            *(staking.rollerInfo(a.address) for a in self.accounts),
            *(token.balanceOf(a.address) for a in self.accounts),
            staking.rollerCount(), staking.rosterPage(0, ROSTER_PAGE_SIZE),
            *(staking.rewardPool(r.address) for r in self.rollups),
            staking.totalActive(), staking.totalUnbonding(), staking.totalRewardPool(),
            staking.totalClaimable(), token.balanceOf(self.market.staking.address), token.totalSupply(),
        ])
        #: states checked (after the initialization and after each step), for the benchmark
        self.checks = 0
        #: why the last step was refused, None if it was not
        self.last_reason: str | None = None

    def teardown(self):
        self.chain.revert(self.snapshot)

    def expose(self, taken) -> None:
        """Records what roster snapshot `taken` counted (each entry's roller's active stake, as
        the model holds it when the snapshot is taken) and when its slash window closes."""
        stakes = {entry.roller: self.ledger.roller(entry.roller).active for entry in taken.entries}
        self.exposed.append((taken.timestamp + exposure(self.ledger.params), stakes))

    def next_block(self) -> int:
        """The L1 block the next step's transaction lands in: each step mines exactly one."""
        return self.chain.w3.eth.block_number + 1

    def both(self, on_chain, in_model):
        """Runs one step on both sides in the same L1 block (`self.block`) at the same time
        (`self.now`); they must agree on refusal."""
        self.now += 1
        self.chain.set_next_block_timestamp(self.now)
        chain_reason = model_reason = None
        self.block = self.next_block()
        try:
            on_chain()
        except TransactionFailed as exc:
            chain_reason = exc.reason
            if self.next_block() == self.block:
                # Refused before it was mined: mine its block, so the clock stays the model's.
                self.chain.mine()
        try:
            in_model()
        except Rejected as exc:
            model_reason = exc.reason
        assert chain_reason == model_reason
        self.last_reason = model_reason
        return model_reason is None

    # ------------------------------------------------------------ what L1 holds, read into the model

    def read_rollup(self, rollup: Rollup) -> None:
        """Tells the ledger what the Rollup holds now, as a node reads it: the draw each new
        block's first commit pinned, each newly recorded randomness, and the provers
        `finalizeBatch` named for the newly finalized blocks."""
        state = self.ledger.rollups[rollup.address]
        for n in range(1, rollup.last_committed() + 1):
            if n not in state.pins:
                roster_block, _, draw_time = rollup.draw_blocks(n)
                self.ledger.pin(rollup.address, n, roster_block, draw_time)
                assert (self.market.roster_snapshot_of(rollup.address, n)
                        == self.ledger.roster_snapshot_of(rollup.address, n))
            if n not in state.randomness and (randomness := rollup.randomness(n)) is not None:
                self.ledger.record_randomness(rollup.address, n, randomness)
        last = rollup.last_finalized()
        self.ledger.finalize(rollup.address, last, {
            n: rollup.block(n).prover for n in range(state.last_finalized + 1, last + 1)})

    def task_draw(self, rollup: Rollup, kind: TaskKind, task: int) -> TaskDraw:
        """The roster snapshot and randomness a task draws from, read from L1: a batch draws
        from its last block's."""
        block = task if kind is TaskKind.BLOCK else last_block_of(task, rollup.batch_size())
        snapshot = self.market.roster_snapshot_of(rollup.address, block)
        entries = () if snapshot is None else tuple(self.chain_snapshots[snapshot].entries)
        return TaskDraw(snapshot, entries, rollup.randomness(block))

    def holders(self, rollup: Rollup, kind: TaskKind, task: int, round_: int, draw: TaskDraw) -> dict[str, int]:
        """Who holds how many of the drawn round's slots (none while the roster is empty or the
        randomness unrecorded)."""
        if draw.snapshot is None or draw.randomness is None:
            return {}
        seed_of = block_seed if kind is TaskKind.BLOCK else batch_seed
        seed = seed_of(self.chain.chain_id, rollup.address, task, round_, draw.randomness)
        return slot_counts(draw_slots(seed, [(e.roller, e.weight) for e in draw.entries],
                                      max_slots(kind, round_, self.ledger.params)))

    # ------------------------------------------------------------ steps

    @initialize()
    def rollers_staked_snapshot_taken_and_batches_finalized(self):
        """Random runs start where settlements can be accepted: three more rollers staked, a
        snapshot of the six, and batch 0 of the second Rollup committed after it and finalized."""
        for who in range(3, 6):
            self.stake(who, 150 * ONE_TOKEN)
        self.snapshot_roster(0, twice=False)
        self.finalize(1, record=True)  # the first Rollup's batches 0..2 are finalized already

    @rule(who=WHO, amount=AMOUNTS)
    def stake(self, who, amount):
        a = self.accounts[who]
        self.both(lambda: self.market.stake(a, amount), lambda: self.ledger.stake(a.address, amount))

    @rule(who=WHO, amount=AMOUNTS)
    def unstake(self, who, amount):
        a = self.accounts[who]
        self.both(lambda: self.market.request_unstake(a, amount),
                  lambda: self.ledger.request_unstake(a.address, amount, self.now))

    @rule(who=WHO)
    def withdraw(self, who):
        a = self.accounts[who]
        self.both(lambda: self.market.withdraw(a), lambda: self.ledger.withdraw(a.address, self.now))

    @rule(who=WHO)
    def pause(self, who):
        a = self.accounts[who]
        self.both(lambda: self.market.pause(a), lambda: self.ledger.pause(a.address))

    @rule(who=WHO)
    def resume(self, who):
        a = self.accounts[who]
        self.both(lambda: self.market.resume(a), lambda: self.ledger.resume(a.address))

    @rule(who=WHO, which=WHICH_ROLLUP, amount=AMOUNTS)
    def fund_rewards(self, who, which, amount):
        a, rollup = self.accounts[who], self.rollups[which].address
        self.both(lambda: self.market.fund_rewards(a, amount, rollup),
                  lambda: self.ledger.fund_rewards(a.address, rollup, amount))

    @rule(who=WHO)
    def claim(self, who):
        a = self.accounts[who]
        self.both(lambda: self.market.claim(a), lambda: self.ledger.claim(a.address))

    @rule(seconds=WAITS)
    def wait(self, seconds):
        self.now += seconds
        self.last_reason = None

    @rule(who=WHO, twice=st.booleans())
    def snapshot_roster(self, who, twice):
        """Anyone snapshots the roster; `twice`: twice in one transaction, so one L1 block,
        which both refuse whole."""
        a = self.accounts[who]
        if twice:
            taken = self.both(lambda: self.chain.transact(
                                  a, self.twice.functions.snapshotTwice(self.market.staking.address)),
                              self.snapshot_twice_in_model)
        else:
            taken = self.both(lambda: self.market.snapshot_roster(a),
                              lambda: self.ledger.take_snapshot(self.block, self.now))
        if taken:
            new = self.market.snapshots(from_block=self.block, to_block=self.block)
            self.chain_snapshots += new
            for snapshot in new:
                self.expose(snapshot)
        self.snapshots_match_model()

    def snapshot_twice_in_model(self):
        """`SnapshotTwice.snapshotTwice`: all or nothing, as its transaction."""
        taken = len(self.ledger.snapshots)
        try:
            for _ in range(2):
                self.ledger.take_snapshot(self.block, self.now)
        except Rejected:
            del self.ledger.snapshots[taken:]
            raise

    @rule(which=WHICH_ROLLUP, record=st.booleans())
    def finalize(self, which, record):
        """The Rollup commits and finalizes its next batch (up to batch BATCHES - 1), its blocks'
        randomness recorded or (`record` false) not yet."""
        rollup = self.rollups[which]
        self.last_reason = None
        batch = rollup.last_finalized() // self.world.batch_size
        if batch == BATCHES:
            return
        # Its first commit lands at the model's time (which `wait` may have moved on).
        self.now += 1
        self.chain.set_next_block_timestamp(self.now)
        self.world.finalize_through(batch, rollup, record=record)
        self.now = self.chain.latest_timestamp()  # several transactions, a second each
        self.read_rollup(rollup)

    @rule(who=WHO, which=WHICH_ROLLUP, pick=st.integers(0, 2 * BATCHES))
    def record_randomness(self, who, which, pick):
        """Anyone records a block's randomness: mostly one not yet recorded, or one recorded
        already (the same value again), or the block after the last committed (never
        committed)."""
        rollup, a = self.rollups[which], self.accounts[who]
        state = self.ledger.rollups[rollup.address]
        unrecorded = [n for n in state.pins if n not in state.randomness]
        n = unrecorded[pick % len(unrecorded)] if unrecorded and pick % 4 else 1 + pick % (len(state.pins) + 1)
        self.both(lambda: rollup.record_randomness(a, n),
                  # The model is told what the chain drew, once it drew it (refused: unused).
                  lambda: self.ledger.record_randomness(rollup.address, n, rollup.randomness(n) or bytes(32)))
        assert state.randomness.get(n) == rollup.randomness(n)

    # ------------------------------------------------------------ settlement

    def honest(self, rollup: Rollup, batch: int, rows, draws: dict) -> list[tuple[OutcomeReport, DrawProof]]:
        """The report `rows` describe, from the real draw, each record with its draw proof, in
        settlement order; `draws` caches each task's `TaskDraw`."""
        k = rollup.batch_size()
        registered = [a.address for a in self.accounts if self.ledger.roller(a.address).registered]
        pairs = {}
        for kind, offset, round_, outcome, who in rows:
            if round_ > max_settled_round(kind, self.ledger.params):
                continue  # an aggregation's open round: never settled ("round too large" spoils)
            task = first_block_of(batch, k) + offset % k if kind is TaskKind.BLOCK else batch
            if is_open_round(round_, self.ledger.params):
                # L1's prover; a block of an unfinalized batch has none: `who` stands in
                prover = rollup.block(task).prover or registered[who % len(registered)]
                record = OutcomeReport(prover, kind, task, round_, 1, outcome)
                pairs[record.sort_key()] = record, NO_DRAW
                continue
            draw = draws.setdefault((kind, task), self.task_draw(rollup, kind, task))
            for roller, slots in self.holders(rollup, kind, task, round_, draw).items():
                record = OutcomeReport(roller, kind, task, round_, slots, outcome)
                pairs[record.sort_key()] = record, draw_proof(draw.snapshot, draw.entries, roller)
        return [pairs[key] for key in sorted(pairs)]

    def spoiled(self, rollup: Rollup, batch: int, pairs, draws: dict, spoil: str):
        """`pairs` spoiled as `spoil` says; None if it cannot apply to them."""
        params, k = self.ledger.params, rollup.batch_size()
        first = pairs[0][0] if pairs else None
        drawn = [i for i, (o, _) in enumerate(pairs) if not is_open_round(o.round, params)]
        tasks = [(TaskKind.BLOCK, n) for n in blocks_of(batch, k)] + [(TaskKind.AGGREGATION, batch)]
        for kind, task in tasks:
            draws.setdefault((kind, task), self.task_draw(rollup, kind, task))

        def claim(kind, task, roller, slots, snapshot, entries):
            """A round-0 record of `roller` proven with its entry in `snapshot`."""
            return OutcomeReport(roller, kind, task, 0, slots, Outcome.ON_TIME), draw_proof(snapshot, entries, roller)

        match spoil:
            case "none" | "unfinalized" | "other rollup's coordinator" | "rollup not enabled" | "not a coordinator":
                return pairs
            case "empty":
                return []
            case "unsorted":
                return pairs[::-1] if len(pairs) > 1 else None
            case "duplicate":
                return pairs + [(replace(pairs[-1][0], outcome=Outcome.MISSED), pairs[-1][1])]
            case "outside the batch":
                return [(replace(first, task=last_block_of(batch, k) + 1), pairs[0][1]), *pairs[1:]]
            case "other batch's aggregation":
                return pairs + [(replace(first, kind=TaskKind.AGGREGATION, task=batch + 1, slots=1), pairs[0][1])]
            case "round too large":
                return [(replace(first, round=params.r_open + 1, slots=1), pairs[0][1]), *pairs[1:]]
            case "no slots":
                return [(replace(first, slots=0), pairs[0][1]), *pairs[1:]]
            case "too many slots":
                most = max_slots(first.kind, first.round, params)
                return [(replace(first, slots=most + 1), pairs[0][1]), *pairs[1:]]
            case "invalid outcome":
                return [(replace(first, outcome=Outcome.INVALID), pairs[0][1]), *pairs[1:]]
            case "unknown roller":
                return [(replace(first, roller=self.outsider), pairs[0][1]), *pairs[1:]]
            case "one draw short":
                return pairs  # `report` drops the last draw
            case "not drawn":
                # A roller of the round's snapshot that none of its slots fell to, proven with
                # its own entry, claiming one.
                for kind, task in tasks:
                    draw = draws[kind, task]
                    held = self.holders(rollup, kind, task, 0, draw)
                    idle = [e.roller for e in draw.entries if e.roller not in held]
                    if held and idle:
                        return pairs + [claim(kind, task, idle[0], 1, draw.snapshot, draw.entries)]
                return None
            case "wrong slot count":
                blocks = [i for i in drawn if pairs[i][0].kind is TaskKind.BLOCK]
                if not blocks:
                    return None
                o, proof = pairs[blocks[0]]
                return [*pairs[:blocks[0]], (replace(o, slots=params.m + 1 - o.slots), proof),
                        *pairs[blocks[0] + 1:]]
            case "wrong snapshot":
                # A task whose roster is empty claimed from the newest snapshot, or a drawn
                # record proven in another snapshot.
                snapshots = self.chain_snapshots
                newest = snapshots[-1]
                for kind, task in tasks:
                    if draws[kind, task].snapshot is None and newest.entries:
                        return pairs + [claim(kind, task, newest.entries[0].roller, 1, newest.id,
                                              newest.entries)]
                if not drawn:
                    return None
                o, proof = pairs[drawn[0]]
                other = (proof.snapshot + 1) % len(snapshots) if len(snapshots) > 1 else proof.snapshot + 1
                return [*pairs[:drawn[0]], (o, replace(proof, snapshot=other)), *pairs[drawn[0] + 1:]]
            case "forged path":
                if not drawn:
                    return None
                o, proof = pairs[drawn[0]]
                # One byte of a sibling changed, or a sibling made up where the entry is the root.
                path = ((bytes([proof.path[0][0] ^ 1]) + proof.path[0][1:], *proof.path[1:])
                        if proof.path else (bytes(32),))
                return [*pairs[:drawn[0]], (o, replace(proof, path=path)), *pairs[drawn[0] + 1:]]
            case "another roller's entry":
                for i in drawn:
                    o, proof = pairs[i]
                    draw = draws[o.kind, o.task]
                    others = [e.roller for e in draw.entries if e.roller != o.roller]
                    if others:
                        return [*pairs[:i], (o, draw_proof(proof.snapshot, draw.entries, others[0])),
                                *pairs[i + 1:]]
                return None
            case "randomness not recorded":
                for kind, task in tasks:
                    draw = draws[kind, task]
                    if draw.randomness is None and draw.snapshot is not None and draw.entries:
                        return pairs + [claim(kind, task, draw.entries[0].roller, 1, draw.snapshot,
                                              draw.entries)]
                return None
            case "open-round roller not the L1 prover":
                n = first_block_of(batch, k)
                prover = rollup.block(n).prover
                registered = [a.address for a in self.accounts
                              if self.ledger.roller(a.address).registered and a.address != prover]
                return pairs + [(OutcomeReport(registered[0], TaskKind.BLOCK, n, params.r_open, 1,
                                               Outcome.ON_TIME), NO_DRAW)]
        raise AssertionError(f"unknown spoil {spoil!r}")

    def report(self, rollup: Rollup, batch: int, rows, spoil: str):
        """The report of `batch` that `rows` describe (records and their draws), spoiled as
        `spoil` says, and whether the spoil applied."""
        draws: dict = {}
        pairs = self.honest(rollup, batch, rows, draws)
        if not pairs:
            # Nothing drawn that the rows name (an empty roster, randomness not recorded): the
            # first block's rescue by its prover is still a report.
            pairs = self.honest(rollup, batch, [(TaskKind.BLOCK, 0, self.ledger.params.r_open,
                                                 Outcome.ON_TIME, 0)], draws)
        spoiled = self.spoiled(rollup, batch, pairs, draws, spoil)
        applied = spoiled is not None
        pairs = pairs if spoiled is None else spoiled
        if spoil not in ("unsorted", "duplicate"):
            # One fault at a time: a spoiled record goes where it sorts.
            pairs = sorted(pairs, key=lambda pair: pair[0].sort_key())
        outcomes = [o for o, _ in pairs]
        proofs = [proof for _, proof in pairs]
        if spoil == "one draw short":
            proofs = proofs[:-1]
        return outcomes, proofs, applied

    @rule(reports=st.lists(REPORTS, min_size=1, max_size=3))
    def settle_reports(self, reports):
        """A few settlements in a row (one step each): the step the run is about, so drawn
        more often than one rule in a dozen would be."""
        for report in reports:
            self.settle(**report)

    def settle(self, which, pick, rows, spoil):
        """Settles one of the Rollup's finalized batches (`pick` chooses it; settled already or
        not; one with a block whose randomness is not recorded where the spoil needs it), or
        its first unfinalized one."""
        rollup = self.rollups[which]
        state = self.ledger.rollups[rollup.address]
        finalized = state.last_finalized // self.world.batch_size
        batches = list(range(finalized))
        if spoil == "randomness not recorded":
            unrecorded = [b for b in batches
                          if any(n not in state.randomness for n in blocks_of(b, state.k))]
            batches = unrecorded or batches
        # With nothing finalized yet, every batch is unfinalized.
        batch = finalized if spoil == "unfinalized" or not batches else batches[pick % len(batches)]
        outcomes, proofs, applied = self.report(rollup, batch, rows, spoil)
        caller = {"other rollup's coordinator": self.coordinators[1 - which],
                  "rollup not enabled": self.stranger,
                  "not a coordinator": self.accounts[0]}.get(spoil, self.coordinators[which])
        settled = self.ledger.batch_settled(rollup.address, batch)
        accepted = self.both(lambda: self.market.settle(caller, batch, outcomes, proofs),
                             lambda: self.ledger.settle(caller.address, batch, outcomes, proofs,
                                                        block_number=self.block))
        if spoil != "other rollup's coordinator":
            # The fault named is the one met: a caller's before the batch's, the batch's before
            # any record's.
            expected = SPOILS[spoil] if applied else None
            if settled and spoil not in ("unfinalized", "rollup not enabled", "not a coordinator"):
                expected = "BatchAlreadySettled"
            assert self.last_reason == expected, (spoil, applied)
        if accepted:
            settled_rollup = self.ledger.coordinators[caller.address]
            self.entries[settled_rollup, batch] = lottery_entries(outcomes)
            self.batch_matches_model(settled_rollup, batch)
            self.each_unit_of_work_settles_once(settled_rollup, batch, len(outcomes))

    def each_unit_of_work_settles_once(self, rollup: str, batch: int, records: int) -> None:
        """What L1 applied in this step's block: every record of the report, each a unit of work
        no earlier settlement of the run applied."""
        applied = self.market.settled_records(rollup, from_block=self.block, to_block=self.block)
        assert len(applied) == records
        blocks = blocks_of(batch, self.ledger.rollups[rollup].k)
        for record in applied:
            o = record.report
            assert o.task in blocks if o.kind is TaskKind.BLOCK else o.task == batch
            unit = (rollup, o.kind, o.task, o.round, o.roller)
            assert unit not in self.settled_units, unit
            self.settled_units.add(unit)

    @rule(who=WHO, which=WHICH_ROLLUP, batch=st.integers(0, BATCHES), tamper=st.booleans(),
          settled=st.integers(0, 3))
    def draw_lottery(self, who, which, batch, tamper, settled):
        """Anyone draws a lottery, with the entries settled or tampered ones: mostly of a batch
        settled in this run (`settled` picks it), otherwise of `batch`."""
        rollup = self.rollups[which].address
        if settled and self.entries:
            keys = sorted(self.entries)
            rollup, batch = keys[settled % len(keys)]
        entries = list(self.entries.get((rollup, batch), []))
        if tamper and entries:
            block, roller, slots = entries.pop()
            entries.append((block, roller, slots + 1))
        block = self.next_block()
        pending = self.ledger.pending_lottery(rollup, batch)
        randomness = bytes(32)  # refused before it is used
        if pending is not None and block > pending.target_block:
            source = randomness_source(pending.target_block, block)
            randomness = bytes(self.chain.w3.eth.get_block(source)["hash"])
        drawn = self.both(lambda: self.market.draw_lottery(self.accounts[who], rollup, batch, entries),
                          lambda: self.ledger.draw_lottery(rollup, batch, entries, randomness,
                                                           block_number=block))
        self.batch_matches_model(rollup, batch)
        if drawn:
            assert (rollup, batch) not in self.drawn_lotteries
            self.drawn_lotteries.add((rollup, batch))

    # ------------------------------------------------------------ agreement

    def batch_matches_model(self, rollup, batch):
        assert self.market.batch_settled(rollup, batch) == self.ledger.batch_settled(rollup, batch)
        on_chain, in_model = self.market.pending_lottery(rollup, batch), self.ledger.pending_lottery(rollup, batch)
        assert (on_chain is None) == (in_model is None)
        if in_model is not None:
            assert (on_chain.entries_hash, on_chain.target_block) == (in_model.entries_hash, in_model.target_block)

    def snapshots_match_model(self):
        on_chain = [(s.id, s.l1_block, s.timestamp, s.total, s.root, tuple(s.entries))
                    for s in self.chain_snapshots]
        assert self.market.snapshot_count() == len(on_chain)
        assert on_chain == [(i, s.l1_block, s.timestamp, s.total, s.root, s.entries)
                            for i, s in enumerate(self.ledger.snapshots)]

    @invariant()
    def chain_matches_model(self):
        self.checks += 1
        values = iter(self.reads.read())
        infos = {a.address: RollerInfo(a.address, *next(values)) for a in self.accounts}
        for address, info in infos.items():
            model = self.ledger.roller(address)
            assert (info.active, info.unbonding, info.rep, info.paused, info.registered) == (
                model.active, model.unbonding_total, model.rep, model.paused, model.registered)
            assert info.weight == self.ledger.weight_of(address)
            assert info.claimable == self.ledger.claimable.get(address, 0)
        assert [next(values) for _ in self.accounts] == [self.ledger.wallets[a.address] for a in self.accounts]
        count, (rollers, weights) = next(values), next(values)
        assert count == len(rollers)  # fewer than a page
        assert [(to_checksum_address(r), w) for r, w in zip(rollers, weights)] == self.ledger.roster()
        pools = [next(values) for _ in self.rollups]
        assert pools == [self.ledger.reward_pool(r.address) for r in self.rollups]
        totals = dict(zip(("active", "unbonding", "reward_pool", "claimable"), (next(values) for _ in range(4))))
        assert totals == {"active": self.ledger.total_active, "unbonding": self.ledger.total_unbonding,
                          "reward_pool": self.ledger.total_reward_pool,
                          "claimable": self.ledger.total_claimable}
        held, supply = next(values), next(values)
        self.tokens_held_equal_every_balance_owed(held, totals, infos, pools)
        self.no_stake_leaves_before_its_slash_window_closes(infos)
        assert supply == self.supply - self.ledger.burned

    def tokens_held_equal_every_balance_owed(self, held, totals, infos, pools):
        """Each balance read on its own (every roller that can hold one is one of the stage's
        accounts; pools are the two Rollups'), its totals their sum, and their sum the contract's
        token balance."""
        assert totals == {"active": sum(i.active for i in infos.values()),
                          "unbonding": sum(i.unbonding for i in infos.values()),
                          "reward_pool": sum(pools),
                          "claimable": sum(i.claimable for i in infos.values())}
        assert held == sum(i.active + i.unbonding + i.claimable for i in infos.values()) + sum(pools)

    def no_stake_leaves_before_its_slash_window_closes(self, infos):
        """Stake a snapshot counted is still in the contract while evidence about the snapshot's
        draws can land (no slashing here, so only a withdrawal could take it)."""
        for closes, stakes in self.exposed:
            if self.now < closes:
                for roller, stake in stakes.items():
                    assert infos[roller].active + infos[roller].unbonding >= stake, (roller, closes)


SETTINGS = settings(max_examples=3, stateful_step_count=15, deadline=None)


def test_contract_and_ledger_agree_on_random_operation_sequences_in_split_mode(split_stage):
    run_state_machine_as_test(lambda: MarketMachine(split_stage), settings=SETTINGS)


def test_contract_and_ledger_agree_on_random_operation_sequences_in_lottery_mode(lottery_stage):
    run_state_machine_as_test(lambda: MarketMachine(lottery_stage), settings=SETTINGS)


def walk(machine, steps):
    """Runs scripted steps (rule, arguments, the reason both must refuse it for or None) through
    the machine, comparing chain and model after each."""
    try:
        for step, arguments, reason in steps:
            step(**arguments)
            assert machine.last_reason == reason, (step.__name__, arguments)
            machine.chain_matches_model()
    finally:
        machine.teardown()


ON, LATE, MISSED = Outcome.ON_TIME, Outcome.LATE, Outcome.MISSED
BLOCK, AGG = TaskKind.BLOCK, TaskKind.AGGREGATION
#: The stage's accounts (after the world's three rollers): staked by `newcomers`, except the last.
NEWCOMERS = range(3, 6)
NEVER_STAKED = 3 + NEW_ROLLERS - 1


def newcomers(s) -> list:
    """Steps that stake the newcomers and snapshot the six rollers: the roster of the blocks
    committed next, however long ago the world's own snapshot was taken."""
    return [*[(s.stake, {"who": who, "amount": 150 * ONE_TOKEN}, None) for who in NEWCOMERS],
            (s.snapshot_roster, {"who": 3, "twice": False}, None)]


def test_contract_and_ledger_agree_on_settling_split_rewards(split_stage):
    """Random runs seldom settle a batch twice or drain a pool mid-settlement; this one does,
    step by step on the second Rollup: refused before finalization, the caps per block and per
    batch, a dry pool, once per Rollup, and each Rollup's pool its own."""
    machine = MarketMachine(split_stage)
    s = machine
    # Batch b: block 2b+1 pays 10 to round 0's holders (M slots) then 0 (capped) to round 1's,
    # block 2b+2 10 to its rescuer (the open round) then 0 to round 0's, the aggregation 5 then
    # 0 (capped): 25 of the pool of 35.
    rows = [(BLOCK, 0, 0, ON, 0), (BLOCK, 0, 1, ON, 0), (BLOCK, 1, 3, ON, 0),
            (BLOCK, 1, 0, LATE, 0), (AGG, 0, 0, ON, 0), (AGG, 0, 1, ON, 0)]
    second = {"which": 1, "pick": 0, "rows": rows}
    walk(machine, [
        *newcomers(s),
        (s.settle, {**second, "spoil": "unfinalized"}, "BatchNotFinalized"),
        (s.finalize, {"which": 1, "record": True}, None),
        (s.settle, {**second, "spoil": "too many slots"}, "TooManySlots"),
        (s.settle, {**second, "spoil": "unknown roller"}, "UnknownRoller"),
        (s.settle, {**second, "spoil": "rollup not enabled"}, "RollupNotEnabled"),
        (s.settle, {**second, "spoil": "none"}, None),
        (s.settle, {**second, "spoil": "none"}, "BatchAlreadySettled"),
        # The second Rollup's coordinator, sent to settle the first's batch 0, settles its own.
        (s.settle, {**second, "which": 0, "spoil": "other rollup's coordinator"}, "BatchAlreadySettled"),
        (s.finalize, {"which": 1, "record": True}, None),
        (s.settle, {**second, "pick": 1, "spoil": "none"}, None),  # 10 left: the first records'
        (s.claim, {"who": NEVER_STAKED}, "NothingToClaim"),
        # World roller 1 proved block 2 (`MarketWorld.prover_of`): its rescue was paid.
        (s.claim, {"who": 1}, None),
        (s.fund_rewards, {"who": 1, "which": 0, "amount": 100 * ONE_TOKEN}, None),
    ])
    rescuer = machine.accounts[1].address
    assert machine.ledger.rollups[machine.rollups[1].address].provers[2] == rescuer
    claimed = machine.ledger.wallets[rescuer] + 100 * ONE_TOKEN - (WALLET_TOKENS - 300) * ONE_TOKEN
    assert claimed >= machine.ledger.params.r_block
    assert claimed + machine.ledger.total_claimable == POOL_TOKENS * ONE_TOKEN
    pools = [machine.ledger.reward_pool(rollup.address) for rollup in machine.rollups]
    assert pools == [(POOL_TOKENS + 100) * ONE_TOKEN, 0]


def test_contract_and_ledger_agree_on_the_draw_settle_checks(split_stage):
    """Each way of claiming a draw that did not happen, refused by both for the reason the spec
    names, beside the real draw accepted: the snapshot steps (one per L1 block), a batch drawn
    before its randomness is recorded, a stale snapshot (an empty roster), and every forgery of
    a draw proof."""
    machine = MarketMachine(split_stage)
    s = machine
    rows = [(BLOCK, 0, 0, ON, 0), (BLOCK, 1, 0, LATE, 0), (AGG, 0, 0, ON, 0), (BLOCK, 1, 3, ON, 0)]
    batch = {"which": 1, "pick": 0, "rows": rows}
    walk(machine, [
        *newcomers(s),
        (s.snapshot_roster, {"who": 4, "twice": True}, "SnapshotAlreadyTaken"),
        (s.finalize, {"which": 1, "record": False}, None),
        (s.settle, {**batch, "spoil": "randomness not recorded"}, "RandomnessNotRecorded"),
        (s.record_randomness, {"who": 4, "which": 1, "pick": 1}, None),
        (s.record_randomness, {"who": 4, "which": 1, "pick": 1}, None),
        (s.record_randomness, {"who": 4, "which": 1, "pick": 0}, None),  # again: the same value
        (s.record_randomness, {"who": 4, "which": 1, "pick": 2}, "BlockNeverCommitted"),
        (s.settle, {**batch, "spoil": "one draw short"}, "DrawProofsMismatch"),
        (s.settle, {**batch, "spoil": "not drawn"}, "NotDrawn"),
        (s.settle, {**batch, "spoil": "wrong slot count"}, "NotDrawn"),
        (s.settle, {**batch, "spoil": "wrong snapshot"}, "WrongSnapshot"),
        (s.settle, {**batch, "spoil": "forged path"}, "NotInSnapshot"),
        (s.settle, {**batch, "spoil": "another roller's entry"}, "NotInSnapshot"),
        (s.settle, {**batch, "spoil": "open-round roller not the L1 prover"}, "NotTheProver"),
        (s.settle, {**batch, "spoil": "none"}, None),
        # Past SNAPSHOT_MAX_AGE the next batch's roster is empty: no drawn round has holders,
        # only its rescuers are paid, and a draw claimed from the stale snapshot is refused.
        (s.wait, {"seconds": machine.ledger.params.snapshot_max_age + 1}, None),
        (s.finalize, {"which": 1, "record": True}, None),
        (s.settle, {**batch, "pick": 1, "spoil": "wrong snapshot"}, "WrongSnapshot"),
        (s.settle, {**batch, "pick": 1, "spoil": "none"}, None),
    ])
    second = machine.rollups[1].address
    assert machine.ledger.roster_snapshot_of(second, 1) == len(machine.ledger.snapshots) - 1
    assert machine.ledger.roster_snapshot_of(second, 3) is None
    assert len(machine.ledger.snapshots[-1].entries) == 6


def test_contract_and_ledger_agree_on_drawing_lotteries(lottery_stage):
    """Settle, then draw: nothing pending, too early, with wrong entries, rightly, and again."""
    machine = MarketMachine(lottery_stage)
    s = machine
    rows = [(BLOCK, 0, 0, ON, 0), (BLOCK, 1, 1, ON, 0), (BLOCK, 1, 0, MISSED, 0), (AGG, 0, 0, ON, 0)]
    draw = {"who": 3, "which": 1, "batch": 0, "tamper": False, "settled": 0}
    walk(machine, [
        *newcomers(s),
        (s.finalize, {"which": 1, "record": True}, None),
        (s.draw_lottery, draw, "NoPendingLottery"),
        (s.settle, {"which": 1, "pick": 0, "rows": rows, "spoil": "none"}, None),
        (s.draw_lottery, draw, "RandomnessNotYetAvailable"),
        (s.draw_lottery, {**draw, "tamper": True}, "WrongLotteryEntries"),
        (s.draw_lottery, draw, None),
        (s.draw_lottery, draw, "NoPendingLottery"),
    ])
    params = machine.ledger.params
    assert machine.ledger.total_claimable == 2 * params.r_block + params.r_agg  # blocks 1 and 2, batch 0


def test_contract_and_ledger_agree_on_the_unbonding_entry_cap(split_stage):
    """MAX_UNBONDING_ENTRIES pending entries, the next refused, and withdrawing frees room."""
    machine = MarketMachine(split_stage)
    s = machine
    who = NEVER_STAKED
    walk(machine, [
        (s.stake, {"who": who, "amount": 400 * ONE_TOKEN}, None),
        *[(s.unstake, {"who": who, "amount": ONE_TOKEN}, None)] * MAX_UNBONDING_ENTRIES,
        (s.unstake, {"who": who, "amount": ONE_TOKEN}, "TooManyUnbondings"),
        (s.withdraw, {"who": who}, "NotYetReleased"),
        (s.wait, {"seconds": machine.ledger.params.unbonding}, None),
        (s.withdraw, {"who": who}, None),
        (s.unstake, {"who": who, "amount": ONE_TOKEN}, None),
    ])
