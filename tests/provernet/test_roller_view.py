"""The roller's live view: rendered from snapshots (it is a pure function of one), and the
standing reader that feeds it from L1 without ever failing the node."""

from __future__ import annotations

import io
import time
from pathlib import Path

import trio
from rich.console import Console

from market_contracts.errors import RpcUnreachable
from p2p.messages import NO_DEADLINE
from provernet.roller_view import (OUTCOMES_SHOWN, Standing, StandingReader, ViewSnapshot,
                                   render)
from roller.farm.queue import Worker
from roller.journal import JournalTask, TaskKey, TaskState
from roller.status import CoordinatorSession, RecentOutcome, RollerStatus

NOW = 1_800_000_000.0
ROLLER = "0x" + "12" * 20
COORDINATOR = "0xC0ffee254729296a45a3885639AC7E10F9d54979"
ROLLUP = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
OTHER = "0x" + "ab" * 20
COORDINATOR_PEER = "12D3KooWEjkYoqREb9QM6NfPnZximGFVesb3hjz5WzVwAeWi6CPo"
STATEMENT = bytes(range(32))
LOG_FILE = Path("/var/lib/roller/roller.log")


def in_flight(index: int, state: TaskState, deadline: float, *, open_: bool = False) -> JournalTask:
    return JournalTask(task_id=bytes([index]) * 32, coordinator=COORDINATOR, rollup=ROLLUP,
                       kind="block",
                       index=index, round=0, seed=bytes(32), statement=STATEMENT, slots=1,
                       open=open_, assigned_at=int(NOW) - 10,
                       deadline=NO_DEADLINE if open_ else int(deadline),
                       close_at=NO_DEADLINE if open_ else int(deadline) + 30,
                       circuit=bytes(32), inputs=b"{}", state=state)


def key(index: int, kind: str = "block") -> TaskKey:
    return TaskKey(COORDINATOR, ROLLUP, kind, index, 0, STATEMENT)


def status(**changes) -> RollerStatus:
    values = dict(
        address=ROLLER, peer_id="12D3KooWRoller", addrs=("/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWRoller",),
        metrics_url="http://127.0.0.1:9464", backend="cpu (2 threads of 2 cores)",
        backend_reason="auto: no usable GPU (pip install 'provernet[gpu]')",
        connected=(CoordinatorSession(COORDINATOR, ROLLUP, COORDINATOR_PEER, 750),),
        reconnecting=(), ignored=((OTHER, "it serves another deployment: chain 1, not 31337"),),
        speeds=(("block_small (0123456789abcdef)", "block", 2.5),
                ("block_small (0123456789abcdef)", "batch", 0.75)),
        in_flight=(), recent=(), last_proof_at=None)
    return RollerStatus(**{**values, **changes})


REPORT = {"state": "selectable", "active": str(150 * 10**18), "unbonding_total": "0",
          "reputation": 5_100, "rep_max": 10_000, "weight": "765000", "weight_share": 0.25,
          "claimable": str(3 * 10**18 // 2), "wallet": str(350 * 10**18), "snapshot": None,
          "block": 1234}


def text(snapshot: ViewSnapshot, width: int = 160) -> str:
    console = Console(record=True, width=width, file=io.StringIO())
    console.print(render(snapshot))
    return console.export_text()


def test_tasks_in_flight_show_their_deadlines_counting_down():
    tasks = (in_flight(7, TaskState.PROVING, NOW + 12), in_flight(8, TaskState.SUBMITTED, NOW - 3),
             in_flight(9, TaskState.ACCEPTED, 0, open_=True))
    shown = text(ViewSnapshot(status(in_flight=tasks, last_proof_at=NOW - 40),
                              Standing(REPORT, NOW - 2), LOG_FILE, NOW))
    assert "Tasks in flight (3)" in shown
    lines = {line.split()[2]: line for line in shown.splitlines() if "│ block " in line}
    assert "proving" in lines["7"] and "in 12 s" in lines["7"] and "in 42 s" in lines["7"]
    assert "submitted" in lines["8"] and "passed 3 s ago" in lines["8"] and "in 27 s" in lines["8"]
    assert "none (open task)" in lines["9"]
    assert "last proof" in shown and "40 s ago" in shown


def test_outcomes_rewards_and_reasons_are_shown_newest_first():
    recent = (
        RecentOutcome(NOW - 90, key(1), "declined", "unmeasured: [gpu] no speed measured yet"),
        RecentOutcome(NOW - 30, key(2), "receipt accepted", "on time"),
        RecentOutcome(NOW - 5, key(2), "on_time", reward=3 * 10**18 // 2, reputation=(5_000, 5_100)),
    )
    shown = text(ViewSnapshot(status(recent=recent), Standing(REPORT, NOW), LOG_FILE, NOW))
    rows = [line for line in shown.splitlines() if " ago " in line and "block " in line]
    assert [r.split("│")[3].strip() for r in rows] == ["on_time", "receipt accepted", "declined"]
    assert "reward 1.5 PNT; reputation +100 (5000 -> 5100)" in rows[0]
    # Reasons are text, not markup: the brackets stay.
    assert "unmeasured: [gpu] no speed measured yet" in rows[2] and "1 min ago" not in rows[2]
    assert "90 s ago" in rows[2]


def test_only_the_latest_outcomes_are_shown():
    recent = tuple(RecentOutcome(NOW - 100 + i, key(i), "failed", f"reason {i}")
                   for i in range(OUTCOMES_SHOWN + 3))
    shown = text(ViewSnapshot(status(recent=recent), Standing(REPORT, NOW), LOG_FILE, NOW))
    assert f"Recent outcomes ({OUTCOMES_SHOWN} latest)" in shown
    assert f"reason {OUTCOMES_SHOWN + 2}" in shown and "reason 2 " not in shown


def test_the_node_standing_coordinators_backend_and_log_file():
    shown = text(ViewSnapshot(status(), Standing(REPORT, NOW - 4), LOG_FILE, NOW))
    for fragment in (f"provernet roller {ROLLER}", "peer 12D3KooWRoller",
                     "listening on /ip4/127.0.0.1/tcp/4001", "metrics and health at http://127.0.0.1:9464",
                     f"logs in {LOG_FILE}",
                     "active stake", "150 PNT", "5100 / 10000", "765000 (25.00% of total weight)",
                     "claimable rewards", "1.5 PNT", "1234 (read 4 s ago)", "none taken yet",
                     "Coordinators (1 connected)", COORDINATOR, "12D3KooWEjkY…Wi6CPo",
                     "open; its weight for this roller: 750",
                     "not served: it serves another deployment",
                     "cpu (2 threads of 2 cores) (auto: no usable GPU (pip install 'provernet[gpu]'))",
                     "2.50 s per block proof (block_small", "0.75 s per proof aggregated",
                     "last proof", "none yet"):
        assert fragment in shown, fragment


def test_before_anything_is_known():
    bare = status(peer_id=None, addrs=(), metrics_url=None, backend=None, backend_reason=None,
                  connected=(), ignored=(), speeds=())
    shown = text(ViewSnapshot(bare, Standing(), LOG_FILE, NOW))
    for fragment in ("peer starting", "reading L1 ...", "none yet: waiting for a coordinator's",
                     "starting ...", "not measured yet", "Tasks in flight (0)"):
        assert fragment in shown, fragment


def test_an_l1_failure_is_a_problem_line_above_the_last_values():
    standing = Standing(REPORT, NOW - 20, "cannot reach JSON-RPC endpoint http://l1:8545")
    shown = text(ViewSnapshot(status(), standing, LOG_FILE, NOW))
    assert ("cannot read L1: cannot reach JSON-RPC endpoint http://l1:8545 (the values below "
            "are from 20 s ago)") in " ".join(shown.split())
    assert "150 PNT" in shown
    never = text(ViewSnapshot(status(), Standing(problem="no answer within 15 s"), LOG_FILE, NOW))
    assert "no answer within 15 s (never read yet)" in " ".join(never.split())


async def test_the_standing_reader_keeps_the_last_values_when_l1_fails():
    answers = [REPORT, RpcUnreachable("cannot reach JSON-RPC endpoint http://l1:8545")]

    def read() -> dict:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    clock = iter([NOW, NOW + 5]).__next__
    reader = StandingReader(read, clock=clock)
    await reader.read_once()
    assert reader.latest == Standing(REPORT, NOW)
    await reader.read_once()
    assert reader.latest == Standing(REPORT, NOW, "cannot reach JSON-RPC endpoint http://l1:8545")


async def test_a_read_that_hangs_is_given_up_and_shown():
    reader = StandingReader(lambda: time.sleep(3) or REPORT, timeout=0.2)
    with trio.fail_after(2):
        await reader.read_once()
    assert reader.latest == Standing(problem="no answer within 0.2 s")


async def test_an_unexpected_error_is_not_swallowed():
    """Only the chain's failures become a problem line; a bug in the reader stops the node."""
    def read() -> dict:
        raise KeyError("state")

    reader = StandingReader(read)
    try:
        await reader.read_once()
    except KeyError:
        pass
    else:
        raise AssertionError("a KeyError from the reader was swallowed")


def test_a_farm_roller_shows_its_workers_and_what_is_wrong_with_them():
    farm = dict(backend="farm postgresql://farm:***@db.lan:5432/farm",
                backend_reason="proving on the farm's workers")
    workers = (Worker(1, "gpu-a", "gpu (NVIDIA H100)", True, None, 12, 0.9),
               Worker(2, "gpu-b", "gpu (NVIDIA H100)", False, "returned a proof that does not "
                      "verify (job 7)", 3, 1.1))
    shown = text(ViewSnapshot(status(**farm, farm_workers=workers), Standing(REPORT, NOW),
                              LOG_FILE, NOW))
    assert "gpu-a: gpu (NVIDIA H100), 12 jobs, 0.90 s each" in shown
    assert "gpu-b: quarantined (returned a proof that does not verify (job 7))" in shown
    alone = text(ViewSnapshot(status(**farm, farm_workers=workers[1:]), Standing(REPORT, NOW),
                              LOG_FILE, NOW))
    assert "none live: every task is declined" in alone
    unreachable = text(ViewSnapshot(status(**farm), Standing(REPORT, NOW), LOG_FILE, NOW))
    assert "the farm's database cannot be reached" in unreachable
    assert "farm workers" not in text(ViewSnapshot(status(), Standing(REPORT, NOW), LOG_FILE, NOW))
