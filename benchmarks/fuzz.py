"""Wire fuzzing: N cases of bad input per wire surface, and what each node made of them.

    .venv/bin/python benchmarks/fuzz.py --cases 10000 [--seed S] [--surface NAME] [--json]

Surfaces (the cases and the checks are tests/fuzz_strategies.py's, which the property tests
tests/*/test_fuzz_*.py run a few of):

- coordinator: the session protocol as the coordinator serves it (`coordinator.service`): bytes
  where `hello`, `auth` or a session message is due, auths signed by the wrong key or replayed,
  accepts, declines, proofs and aggregates of tasks it never sent;
- roller: what a coordinator sends a roller (`roller.session`, `roller.service`): bytes where a
  task, cancel, receipt, ping or pong is due, tasks signed by the wrong key or wrong in their id,
  times or slots, bad challenges;
- gossip: the coordinators topic's validator (`p2p.gossip`): random, oversize, mis-shaped and
  mutated messages, announcements signed by the wrong key or by no coordinator, stale, replayed;
- sequencer: the sequencer's JSON-RPC (`sequencer.rpc`): bytes, JSON of the wrong shape, bad
  requests and batches, deep nesting, truncated bodies, transfers replayed or signed by the
  wrong key, bad HTTP.

(The relayer, whose JSON-RPC issue 16 also names, does not exist yet.)

Hypothesis draws each surface's cases from the seed. All but 1 in 100 (at most 100) go through
the node's real decoding and validation code with no network: `MessageStream.receive` on bytes in
memory, the running coordinator's `_authenticate` and `_handle`, the roller's `handshake` and
`check_task`, the `AnnouncementValidator`, the running sequencer's JSON-RPC handler. The rest go
over the wire to real nodes on loopback: the coordinator service (embedded chain, two staked
rollers) from attacker hosts, the roller service from a coordinator host that sends one case per
session, three gossip hosts, the sequencer over HTTP. Then an honest peer's whole exchange.

Per surface: the rejections by error, crashes (an exception no handler expected, an error logged
by the node, an answer the protocol does not give), state changes (the coordinator's core and
tasks, the roller's journal, the gossip directory, the sequencer's mempool and blocks),
rejections that cost a peer nothing where the protocol scores peers, and whether the honest peer
was served. With --json, one line per surface: {"surface", "cases", "crashes", "state_changes",
"honest_ok", "unpenalised", "wire_cases", "rejected"}. It exits with status 1 if any surface
had a crash or a state change, or did not serve its honest peer.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from collections import Counter
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path

# Run as a script, this file's folder comes first on the path; drop it, so that imports resolve
# to the packages (`sequencer`, ...). The cases and checks are the tests' own.
ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "sequencer"), str(ROOT / "tests" / "roller")]

import structlog  # (imported after the path fix, as everything below)
import trio
from rich.console import Console
from rich.table import Table
from structlog.testing import capture_logs

import fuzz_strategies as fz
from p2p.config import P2PConfig
from provernet.views import machine

SURFACES = ("coordinator", "roller", "gossip", "sequencer")
#: one case in this many goes over the real wire, at most WIRE_MAX per surface
WIRE_EVERY = 100
WIRE_MAX = 100
#: a lenient ban threshold for the wire runs, so that every case reaches the node under test
#: (the penalties are still charged and checked); without it an attacker is banned after a few
LENIENT = P2PConfig(ban_threshold=-1e15, score_recovery_per_second=0)
#: log levels that mean a node met something no handler expected
LOUD = {"error", "critical", "exception"}


@dataclass
class Result:
    surface: str
    cases: int = 0
    wire_cases: int = 0
    outcomes: Counter = field(default_factory=Counter)
    crashes: int = 0
    crash_examples: list[str] = field(default_factory=list)
    state_changes: int = 0
    unpenalised: int = 0
    honest_ok: bool = False
    seconds: float = 0.0

    def record(self, case: fz.Case, verdict: fz.Verdict, *, wire: bool = False) -> None:
        self.cases += 1
        self.wire_cases += wire
        self.outcomes[verdict.outcome] += 1
        if verdict.crash is not None:
            self.crash(f"{case.kind}: {verdict.crash}")
        self.state_changes += verdict.state_changed
        self.unpenalised += not verdict.penalised

    def crash(self, what: str) -> None:
        self.crashes += 1
        if len(self.crash_examples) < 5:
            self.crash_examples.append(what)

    def json(self) -> dict:
        return {"surface": self.surface, "cases": self.cases, "crashes": self.crashes,
                "state_changes": self.state_changes, "honest_ok": self.honest_ok,
                "unpenalised": self.unpenalised, "wire_cases": self.wire_cases,
                "rejected": dict(self.outcomes.most_common())}


def split(count: int) -> tuple[int, int]:
    """(cases in memory, cases over the wire)."""
    wire = min(WIRE_MAX, max(1, count // WIRE_EVERY))
    return count - wire, wire


# ====================================================================== the surfaces


async def coordinator(result: Result, count: int, seed: int, tmp: Path, build) -> None:
    from p2p.host import open_node

    local, wire = split(count)
    bulk = fz.draw_cases(fz.coordinator_cases(), local, seed)
    remote = fz.draw_cases(fz.coordinator_cases(), wire, seed + 1)
    async with fz.running_coordinator(build, tmp) as (service, (attacker, honest)), \
            AsyncExitStack() as stack:
        for case in bulk:
            result.record(case, await fz.coordinator_case(service, attacker, case))
        before = fz.coordinator_state(service)
        expected = {"reset", "challenge", "welcome", "refused bad_signature",
                    "receipt rejected: unknown task"}
        node = None
        for number, case in enumerate(remote):
            # A banned attacker comes back as a new host (a new peer id), as a real one would.
            if node is None or service.node.is_banned(node.peer_id):
                node = await stack.enter_async_context(open_node(tmp / f"attacker-{number}"))
                await node.connect(service.node.addrs[0])
            score = service.node.scores.score(str(node.peer_id))
            with trio.fail_after(30):
                answer = await fz.coordinator_wire_case(service, node, attacker, case)
            charged = service.node.scores.score(str(node.peer_id)) < score
            # A rejection is charged, but for a stream that ends before its first byte (a
            # clean end, no fault).
            clean_end = case.data[-1] == b""
            result.record(case, fz.Verdict(
                f"wire: {answer}", crash=None if answer in expected else f"answered {answer}",
                penalised=charged or clean_end or answer not in ("reset", "refused bad_signature")),
                wire=True)
        result.state_changes += fz.coordinator_state(service) != before
        async with open_node(tmp / "honest") as honest_node:
            await honest_node.connect(service.node.addrs[0])
            result.honest_ok = await fz.honest_roller_served(service, honest_node, honest)


async def roller(result: Result, count: int, seed: int, tmp: Path, build) -> None:
    local, wire = split(count)
    for case in fz.draw_cases(fz.roller_cases(), local, seed):
        result.record(case, await fz.roller_case(case))
    world = await trio.to_thread.run_sync(fz.roller_world, build, tmp)
    remote = fz.draw_cases(fz.roller_cases(coordinator=world.coordinator,
                                           roller=world.roller.address,
                                           chain_id=world.chain.chain_id,
                                           rollup=world.rollup.address), wire, seed + 1)
    answers, honest, (before, after), score = await fz.roller_under_attack(world, tmp, remote,
                                                                           LENIENT)
    expected_score = 0.0
    for case, answer in answers:
        ok = answer in ("reset", "pong", "error wrong_coordinator", "error wrong_chain") or \
            answer.startswith("declined")
        if case.kind in fz.BAD_TASKS:
            ok = answer.startswith("declined")
        expected_score -= (await fz.roller_case(case)).charged
        result.record(case, fz.Verdict(f"wire: {answer}",
                                       crash=None if ok else f"answered {answer}"), wire=True)
    # Each case cost the coordinator's peer what the same bytes cost it in memory.
    result.unpenalised += score != expected_score
    result.state_changes += before != after
    result.honest_ok = honest


async def gossip(result: Result, count: int, seed: int, tmp: Path, build) -> None:
    local, wire = split(count)
    validator = fz.gossip_validator()
    for case in fz.draw_cases(fz.gossip_cases(), local, seed):
        result.record(case, await fz.gossip_case(validator, case))
    remote = fz.draw_cases(fz.gossip_cases(), wire, seed + 1)
    seen, honest, attacker_score, coordinator_score = await fz.gossip_under_attack(tmp, remote,
                                                                                   LENIENT)
    expected = 0.0
    for case, outcome in seen:
        error = outcome.error
        expected -= LENIENT.penalty_for(error) if error is not None else 0
        accepted = outcome.verdict is fz.GossipVerdict.ACCEPT
        result.record(case, fz.Verdict(f"wire: {type(error).__name__ if error else 'accepted'}",
                                       state_changed=accepted), wire=True)
    result.unpenalised += attacker_score != expected
    result.honest_ok = honest and coordinator_score == 0


async def sequencer(result: Result, count: int, seed: int, tmp: Path, build) -> None:
    local, wire = split(count)
    async with trio.open_nursery() as nursery:
        seq, accepted = await fz.start_sequencer(nursery, tmp)
        strategy = fz.sequencer_cases(seq, accepted)
        for case in fz.draw_cases(strategy, local, seed):
            result.record(case, await fz.rpc_case(seq, case))
        before = fz.sequencer_state(seq)
        remote = [fz.Case("bad http", request) for request in fz.BAD_HTTP][:wire]
        remote += fz.draw_cases(strategy, wire - len(remote), seed + 1)
        for case in remote:
            result.record(case, await fz.sequencer_wire_case(seq.rpc.address, case), wire=True)
        result.state_changes += fz.sequencer_state(seq) != before
        result.honest_ok = await fz.honest_client_served(seq)
        nursery.cancel_scope.cancel()


RUNNERS = {"coordinator": coordinator, "roller": roller, "gossip": gossip, "sequencer": sequencer}


async def run(surface: str, count: int, seed: int, build) -> Result:
    """One surface in a fresh directory; what the nodes logged as errors counts as crashes."""
    started = time.perf_counter()
    result = Result(surface)
    with tempfile.TemporaryDirectory(prefix=f"provernet-fuzz-{surface}-") as tmp, \
            capture_logs() as logs:
        try:
            await RUNNERS[surface](result, count, seed, Path(tmp), build)
        except Exception as exc:  # a node that died under a case: the surface's run stops here
            result.crash(f"the run stopped: {exc!r}")
            result.honest_ok = False
    for entry in logs:
        if entry.get("log_level") in LOUD:
            result.crash(f"logged: {entry.get('event')} {entry.get('error', '')}".strip())
    result.seconds = time.perf_counter() - started
    return result


# ====================================================================== output


def table(results: list[Result]) -> Table:
    t = Table(title="Wire fuzzing")
    for column in ("surface", "cases", "over the wire", "crashes", "state changes",
                   "unpenalised", "honest peer served", "seconds"):
        t.add_column(column, justify="left" if column == "surface" else "right")
    for r in results:
        t.add_row(r.surface, str(r.cases), str(r.wire_cases), str(r.crashes),
                  str(r.state_changes), str(r.unpenalised), "yes" if r.honest_ok else "NO",
                  f"{r.seconds:.0f}")
    return t


def rejections(results: list[Result], top: int = 12) -> Table:
    """The commonest answers per surface: an error's name, a refusal or decline, a receipt, a
    JSON-RPC code (a batch's codes together); "wire:" marks answers over the wire."""
    t = Table(title=f"Rejected by error type (the {top} commonest per surface)")
    for column in ("surface", "answer", "cases"):
        t.add_column(column, justify="right" if column == "cases" else "left")
    for r in results:
        for n, (outcome, count) in enumerate(r.outcomes.most_common(top)):
            t.add_row(r.surface if n == 0 else "", outcome, str(count))
    return t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=1000, help="cases per surface")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--surface", choices=SURFACES, action="append",
                        help="only this surface (repeatable); default: all")
    parser.add_argument("--json", action="store_true", help="one JSON line per surface")
    args = parser.parse_args()
    if args.cases < 2:
        parser.error("--cases must be at least 2 (one in memory, one over the wire)")
    # The nodes log every rejection at info: captured per surface, not printed.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.INFO))
    logging.getLogger("libp2p").setLevel(logging.ERROR)
    surfaces = args.surface or list(SURFACES)

    async def all_surfaces() -> list[Result]:
        build = None
        if {"coordinator", "roller"} & set(surfaces):
            from zkp.builds import build_block_circuit

            build = await trio.to_thread.run_sync(build_block_circuit, "small")
        return [await run(surface, args.cases, args.seed, build) for surface in surfaces]

    results = trio.run(all_surfaces)
    if args.json:
        for r in results:
            print(json.dumps(r.json()))
    else:
        console = Console(width=120)
        console.print(table(results))
        console.print(rejections(results))
        for r in results:
            for example in r.crash_examples:
                console.print(f"[red]{r.surface} crash[/red]: {example}")
        console.print(f"machine: {machine()}; command: benchmarks/fuzz.py {' '.join(sys.argv[1:])}")
    if any(r.crashes or r.state_changes or not r.honest_ok for r in results):
        sys.exit(1)


if __name__ == "__main__":
    main()
