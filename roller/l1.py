"""What a roller reads of a rollup on L1 to check a task: before accepting it (`check_inputs`)
and again just before signing its proof (`require_statement`, `require_on_l1`).

Each check raises `TaskRefused` with the decline's code: `stale_statement` (the block or batch
was reverted, maybe committed again), `not_on_l1` (not committed), `wrong_inputs`, `wrong_prover`,
`bad_inputs`, or `l1_unavailable` when L1 cannot be read now. All of it blocks (web3 reads): the
node runs it in worker threads.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from eth_utils import to_checksum_address

from market_contracts.errors import TransactionFailed
from market_contracts.rollup import Rollup
from p2p.messages import BLOCK_TASK
from roller.discovery import ServedRollup
from roller.errors import L1_UNAVAILABLE, InvalidTaskInputs
from roller.journal import TaskOffer, decode_batch_inputs
from roller.proving import PROVER_INPUT, PUBLIC_INPUTS, public_inputs
from roller.session import TaskRefused

T = TypeVar("T")


def l1_statement(rollup: Rollup, kind: str, index: int) -> bytes:
    """L1's current statement of block or batch `index`."""
    return rollup.statement(index) if kind == BLOCK_TASK else rollup.batch_statement(index)


def check_inputs(served: ServedRollup, offer: TaskOffer, address: str) -> None:
    """TaskRefused unless the task's inputs are for `address` and are what its rollup holds."""
    require_statement(served.rollup, offer.kind, offer.index, offer.statement)
    if offer.kind == BLOCK_TASK:
        try:
            given = public_inputs(json.loads(offer.inputs))
        except (ValueError, UnicodeDecodeError, AttributeError, InvalidTaskInputs) as exc:
            raise TaskRefused("bad_inputs", f"the circuit inputs are malformed: {exc!r}") from None
        if given[PROVER_INPUT] != int(address, 16):
            raise TaskRefused("wrong_prover", f"the inputs bind the proof to "
                                              f"{given[PROVER_INPUT]:#042x}, not to this roller "
                                              f"({address})")
        require_on_l1(served.rollup, offer.index, given)
        return
    try:
        items = decode_batch_inputs(offer.inputs)
    except InvalidTaskInputs as exc:
        raise TaskRefused("bad_inputs", str(exc)) from None
    size = served.batch_size
    first = offer.index * size + 1
    indices = [index for index, _, _ in items]
    if indices != list(range(first, first + size)):
        raise TaskRefused("bad_inputs", f"batch {offer.index} is blocks {first}.."
                                        f"{first + size - 1}; the task holds "
                                        f"{indices[0]}..{indices[-1]}")
    for index, _, public in items:
        require_on_l1(served.rollup, index, list(public))


def require_statement(rollup: Rollup, kind: str, index: int, statement: bytes) -> None:
    """TaskRefused unless `statement` is L1's current statement of the block or batch: one
    that was reverted (and maybe committed again) is no longer what a proof would be about."""
    current = _read_l1(f"{kind} {index}", l1_statement, rollup, kind, index)
    if current != statement:
        raise TaskRefused("stale_statement", f"{kind} {index}'s statement on L1 is "
                                             f"{current.hex()[:16]}, not the task's "
                                             f"{statement.hex()[:16]}")


def require_on_l1(rollup: Rollup, index: int, public: Sequence[int]) -> None:
    """TaskRefused unless `public` is [oldRoot, newRoot, dataHash, prover] of block `index`
    as the Rollup holds it for that prover."""
    if len(public) != len(PUBLIC_INPUTS) or not 0 <= public[PROVER_INPUT] < 2**160:
        raise TaskRefused("bad_inputs", f"block {index}'s public inputs are not "
                                        f"[{', '.join(PUBLIC_INPUTS)}]")
    prover = to_checksum_address(public[PROVER_INPUT].to_bytes(20, "big"))
    expected = _read_l1(f"block {index}", rollup.public_inputs, index, prover)
    if list(public) != list(expected):
        raise TaskRefused("wrong_inputs", f"block {index}'s inputs are not what L1 holds "
                                          f"for it (L1: {_short(expected)}, task: "
                                          f"{_short(public)})")


def _read_l1(what: str, read: Callable[..., T], *args: Any) -> T:
    """`read(*args)` from L1, its failures as the TaskRefused a task is declined with: the block
    or batch `what` names is not committed, or L1 cannot be read now."""
    try:
        return read(*args)
    except TransactionFailed as exc:
        if exc.reason == "BlockNotCommitted":
            raise TaskRefused("not_on_l1", f"{what} is not committed on L1") from None
        raise TaskRefused("l1_unavailable", f"cannot read {what} from L1: {exc}") from None
    except L1_UNAVAILABLE as exc:
        raise TaskRefused("l1_unavailable", f"cannot read {what} from L1: {exc}") from None


def _short(values: Sequence[int]) -> str:
    return "[" + ", ".join(f"{v:#x}"[:12] for v in values) + "]"
