"""What a chaos run must not have broken, read from L1 and the nodes' stores.

The rules are small pure functions over plain facts (`commit_history`, `transfer_placement`,
`repeated`, `double_signed`, `nonce_gaps`, `duplicate_transactions`, `duplicated_calls`); the
readers below them gather the facts that are not events: every transaction the nodes' accounts
mined (`node_transactions`, from anvil's blocks and receipts), the coordinator's stored
submissions and the rollers' journals (`coordinator_submissions`, `journal_submissions`,
read-only SQLite). `campaign._check` reads the Rollup's events and the sequencer's blocks (its
JSON-RPC) itself and applies the rules.
"""

from __future__ import annotations

import functools
import json
import sqlite3
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from eth_utils import abi_to_signature, function_signature_to_4byte_selector, to_checksum_address

from coordinator.store import DATABASE_NAME as COORDINATOR_DATABASE
from market_contracts.compile import ARTIFACTS_DIR
from market_contracts.rules import TaskKind
from roller.journal import JOURNAL_NAME
from zkp.system import SealedProof

#: calls whose calldata is the same each time by design: sent again, they are new work, not a
#: retry that went through twice (`snapshotRoster()` takes no argument)
REPEATABLE_CALLS = frozenset({function_signature_to_4byte_selector("snapshotRoster()")})
#: how long the checks wait for the nodes' transactions in flight to be mined (anvil mines a
#: block a second)
PENDING_WAIT_S = 10.0
#: reads of the nodes' nonce counts before a transaction still pending is taken for stuck: the
#: nodes keep sending while the checks run (a settlement, a finalization), each within a block
NONCE_READS = 3


# ------------------------------------------------------------------------------ the rules


@dataclass(frozen=True)
class CommitHistory:
    #: commits of a number that was already committed and not reverted since
    duplicate_commits: int
    #: commits whose number is not the one after the last standing one
    skipped_blocks: int
    #: numbers a revert dropped and no later commit brought back
    reverted_not_recommitted: tuple[int, ...]
    #: the standing blocks at the end: number -> (new root, data hash)
    standing: dict[int, tuple[int, int]]
    reverts: int


def commit_history(events: Iterable[tuple]) -> CommitHistory:
    """`events` in L1 order: ("commit", number, new_root, data_hash) or ("revert", from)."""
    standing: dict[int, tuple[int, int]] = {}
    duplicates = skipped = reverts = 0
    dropped: set[int] = set()
    for event in events:
        if event[0] == "commit":
            _, number, new_root, data_hash = event
            if number in standing:
                duplicates += 1
            elif number != max(standing, default=0) + 1:
                skipped += 1
            standing[number] = (new_root, data_hash)
            dropped.discard(number)
        else:
            reverts += 1
            gone = {n for n in standing if n >= event[1]}
            dropped |= gone
            for number in gone:
                del standing[number]
    return CommitHistory(duplicates, skipped, tuple(sorted(dropped)), standing, reverts)


@dataclass(frozen=True)
class Placement:
    #: accepted transfers in no standing block
    lost: tuple[str, ...]
    #: accepted transfers in more than one standing block (or twice in one)
    duplicated: tuple[str, ...]


def transfer_placement(accepted: Iterable[str], blocks: Mapping[int, Sequence[str]]) -> Placement:
    """Where each accepted transfer landed among the standing blocks' transfers."""
    seen = Counter(h for hashes in blocks.values() for h in hashes)
    accepted = list(dict.fromkeys(accepted))
    return Placement(tuple(h for h in accepted if seen[h] == 0),
                     tuple(h for h in accepted if seen[h] > 1))


def repeated(keys: Iterable) -> int:
    """How many entries repeat an earlier one."""
    counts = Counter(keys)
    return sum(n - 1 for n in counts.values())


def double_signed(submissions: Iterable[tuple[tuple, SealedProof]]) -> int:
    """Assignments (key) with more than one different proof among `submissions`."""
    proofs: dict[tuple, set[SealedProof]] = defaultdict(set)
    for key, proof in submissions:
        proofs[key].add(proof)
    return sum(1 for bodies in proofs.values() if len(bodies) > 1)


def nonce_gap_detail(nonces: Sequence[int], latest: int, pending: int, queued: int) -> str:
    """`nonce_gaps` in words: which nonces are missing, held or in flight."""
    mined = sorted(nonces)
    missing = [a + 1 for a, b in zip(mined, mined[1:]) if b != a + 1]
    parts = [f"missing after nonces {missing}"] if missing else []
    if mined and mined[-1] + 1 != latest:
        parts.append(f"last mined nonce {mined[-1]}, account nonce {latest}")
    if queued:
        parts.append(f"{queued} queued past a gap")
    if pending > latest:
        parts.append(f"{pending - latest} sent and not mined")
    return "; ".join(parts)


def nonce_gaps(nonces: Sequence[int], latest: int, pending: int, queued: int) -> int:
    """Gaps in one account's nonces: mined nonces not contiguous from the first, transactions
    the node holds past a gap (`queued`), or sent and never mined (`pending` above `latest`)."""
    mined = sorted(nonces)
    gaps = sum(1 for a, b in zip(mined, mined[1:]) if b != a + 1)
    if mined and mined[-1] + 1 != latest:
        gaps += 1
    return gaps + queued + max(0, pending - latest)


def duplicate_transactions(transactions: Iterable[tuple[str, str, bytes]]) -> int:
    """Mined transactions (sender, to, calldata) that repeat an earlier one of the same sender:
    a send retried after it had gone through (calls repeatable by design left out)."""
    return len(duplicated_calls(transactions))


def duplicated_calls(transactions: Iterable[tuple[str, str, bytes]]) -> list[bytes]:
    """The calldata of each repeat `duplicate_transactions` counts."""
    seen, repeats = set(), []
    for sender, to, data in transactions:
        key = (sender, to, bytes(data))
        if bytes(data[:4]) in REPEATABLE_CALLS:
            continue
        if key in seen:
            repeats.append(bytes(data))
        seen.add(key)
    return repeats


@functools.cache
def _function_names() -> dict[bytes, str]:
    names = {}
    for path in sorted(ARTIFACTS_DIR.glob("*.json")):
        for entry in json.loads(path.read_text())["abi"]:
            if entry.get("type") == "function":
                names[function_signature_to_4byte_selector(abi_to_signature(entry))] = (
                    entry["name"])
    return names


def describe_call(data: bytes) -> str:
    """`name(0x...args)` of calldata, the function named from the compiled contracts' ABIs."""
    name = _function_names().get(bytes(data[:4]), "0x" + bytes(data[:4]).hex())
    return f"{name}(0x{bytes(data[4:36]).hex()}...)" if len(data) > 4 else f"{name}()"


# ------------------------------------------------------------------------------ the facts


@dataclass
class L1Transactions:
    #: mined transactions of each watched sender: (nonce, to, calldata, status)
    by_sender: dict[str, list[tuple[int, str, bytes, int]]] = field(default_factory=dict)


def node_transactions(w3, senders: Iterable[str], first_block: int,
                      last_block: int) -> L1Transactions:
    """Every transaction the `senders` mined in L1 blocks first_block..last_block, with its
    status, from the blocks and their receipts."""
    watched = {to_checksum_address(s) for s in senders}
    found = L1Transactions({s: [] for s in watched})
    for number in range(first_block, last_block + 1):
        block = w3.eth.get_block(number, full_transactions=True)
        mine = [tx for tx in block["transactions"] if tx["from"] in watched]
        if not mine:
            continue
        receipts = {r["transactionHash"]: r for r in w3.eth.get_block_receipts(number)}
        for tx in mine:
            found.by_sender[tx["from"]].append(
                (tx["nonce"], tx["to"] or "", bytes(tx["input"]),
                 receipts[tx["hash"]]["status"]))
    return found


def wait_for_pending(w3, senders: Iterable[str], timeout: float = PENDING_WAIT_S) -> None:
    """Until no sender has a transaction sent and not yet mined (the nodes keep working while
    the checks run), or `timeout`: what is still pending then counts as a gap."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(
            w3.eth.get_transaction_count(s, "pending") != w3.eth.get_transaction_count(s, "latest")
            for s in senders):
        time.sleep(0.5)


def txpool_queued(w3) -> dict[str, int]:
    """Transactions anvil holds per sender past a nonce gap (`txpool_content`'s queued)."""
    content = w3.provider.make_request("txpool_content", [])["result"]
    return {to_checksum_address(sender): len(by_nonce)
            for sender, by_nonce in content.get("queued", {}).items()}


def coordinator_submissions(datadir: Path) -> list[tuple[tuple, SealedProof]]:
    """((roller, kind, task, round, statement), sealed proof) of every
    submission the coordinator stored, its own data directory's SQLite read read-only."""
    rows = _read_only(datadir / "coordinator" / COORDINATOR_DATABASE,
                      "SELECT roller, kind, task, round, body FROM proofs")
    result = []
    for roller, kind, task, round_, body in rows:
        body = json.loads(body)
        result.append(((to_checksum_address(roller), kind, task, round_, body["statement"]),
                       SealedProof.from_json(body)))
    return result


def journal_submissions(journal_dir: Path, roller: str) -> list[tuple[tuple, SealedProof]]:
    """The same keys and proofs from a roller's journal: what it signed, as it recorded it."""
    path = journal_dir / JOURNAL_NAME
    if not path.exists():
        return []
    rows = _read_only(path, "SELECT kind, idx, round, statement, proof FROM tasks "
                            "WHERE proof IS NOT NULL AND signature IS NOT NULL")
    result = []
    for kind, index, round_, statement, proof in rows:
        result.append(((to_checksum_address(roller), int(TaskKind.from_wire(kind)), index, round_,
                        bytes(statement).hex()), SealedProof.from_json(json.loads(proof))))
    return result


def _read_only(path: Path, query: str) -> list[tuple]:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10.0)
    try:
        return db.execute(query).fetchall()
    finally:
        db.close()
