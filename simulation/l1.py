"""L1 as the simulation sees it: the staking contract (the in-memory `Ledger`, the same rules the
contract applies), the Rollup's committed height and randomness, and the roster read at each
commit.

Every ledger operation is also written to `journal`, in order, so that a run can be replayed
against the real contracts (`tests/simulation/test_replay_on_chain.py`): the same stakes,
settlements and slashes must leave the same balances and reputations on chain.

Identities come from fixed private keys (`roller_key`), so a replay can sign as the simulated
rollers: addresses decide the lottery and the order of settlements, so they must be the same.
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_abi import encode
from eth_account import Account
from eth_utils import keccak

from coordinator.commands import Settle
from market_contracts.ledger import Ledger
from market_contracts.rules import MarketParams, TaskKind


def roller_key(index: int) -> bytes:
    return keccak(text=f"provernet.simulation.roller.{index}")


COORDINATOR_KEY = keccak(text="provernet.simulation.coordinator")
#: funds the reward pool
FUNDER_KEY = keccak(text="provernet.simulation.funder")


def address_of(key: bytes) -> str:
    return Account.from_key(key).address


COORDINATOR = address_of(COORDINATOR_KEY)
FUNDER = address_of(FUNDER_KEY)


@dataclass(frozen=True)
class Fund:
    amount: int


@dataclass(frozen=True)
class Stake:
    roller: str
    amount: int


@dataclass(frozen=True)
class SettleBatch:
    batch: int
    outcomes: tuple


@dataclass(frozen=True)
class SlashProof:
    """The coordinator sent a signed invalid proof of `block` (round `round`) as evidence."""

    roller: str
    block: int
    round: int


JournalEntry = Fund | Stake | SettleBatch | SlashProof


def offense_key(roller: str, block: int, randomness: bytes) -> bytes:
    """What makes an offense unique (cf. `RollerStaking.offenseKey`: roller, task, statement).
    The simulation has no state roots, so the block's commit randomness names its statement: a
    block reverted and committed again is a new statement."""
    return keccak(encode(["address", "uint8", "uint256", "bytes32"],
                         [roller, int(TaskKind.BLOCK), block, randomness]))


class L1:
    def __init__(self, params: MarketParams):
        self.ledger = Ledger(params, coordinators={COORDINATOR})
        self.journal: list[JournalEntry] = []
        #: wei slashed from each roller
        self.slashed: dict[str, int] = {}
        #: the Rollup: last committed L2 block and each live block's randomness
        self.height = 0
        self.randomness: dict[int, bytes] = {}
        self.l1_block = 0
        #: the roster in registration order (as `rosterPage`), and who changed since it was built
        self._entries: list[tuple[str, int]] = []
        self._position: dict[str, int] = {}
        self._roster: tuple[tuple[str, int], ...] = ()
        self._changed: set[str] = set()

    def fund(self, amount: int) -> None:
        self.ledger.mint(FUNDER, amount)
        self.ledger.fund_rewards(FUNDER, amount)
        self.journal.append(Fund(amount))

    def stake(self, roller: str, amount: int) -> None:
        self.ledger.mint(roller, amount)
        self.ledger.stake(roller, amount)
        self.journal.append(Stake(roller, amount))
        if roller not in self._position:
            self._position[roller] = len(self._entries)
            self._entries.append((roller, 0))
        self._changed.add(roller)

    def settle(self, command: Settle) -> None:
        self.ledger.settle(COORDINATOR, command.batch, list(command.outcomes))
        self.journal.append(SettleBatch(command.batch, command.outcomes))
        self._changed.update(o.roller for o in command.outcomes)

    def slash(self, roller: str, block: int, round_: int, randomness: bytes) -> None:
        split = self.ledger.slash(roller, COORDINATOR, offense_key(roller, block, randomness))
        self.journal.append(SlashProof(roller, block, round_))
        self.slashed[roller] = self.slashed.get(roller, 0) + split.amount
        self._changed.add(roller)

    def commit(self, randomness: bytes) -> int:
        """`Rollup.commitBlock` of the next block; returns its number."""
        self.height += 1
        self.l1_block += 1
        self.randomness[self.height] = randomness
        return self.height

    def revert(self, from_block: int) -> None:
        for n in range(from_block, self.height + 1):
            del self.randomness[n]
        self.height = from_block - 1
        self.l1_block += 1

    def roster(self) -> tuple[tuple[str, int], ...]:
        """Every registered roller's weight now. The same tuple object while nothing changed,
        so the coordinator's roster cache finds it at once; otherwise only the rollers touched
        since are re-read, not all of them."""
        if self._changed:
            for roller in self._changed:  # each writes its own slot: order does not matter
                self._entries[self._position[roller]] = (roller, self.ledger.weight_of(roller))
            self._changed.clear()
            self._roster = tuple(self._entries)
        return self._roster
