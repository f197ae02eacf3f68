"""Wire fuzzing of the coordinator's side of the session protocol (`coordinator.service` serving
`/provernet/session/1.0.0`): bytes where `hello`, `auth` or a session message is due (random,
truncated, oversize, of the wrong shape, mutated, of a type not due), auths signed by the wrong
key or answering another challenge (a replay), and well-formed accepts, declines, proofs and
aggregates of tasks never sent. The real service runs on the embedded chain with two staked
rollers; many cases go through its own session code on bytes in memory, a few over real libp2p
streams from attacker hosts on loopback, after which an honest roller completes its exchange.
None changes the core's state or the tasks."""

from __future__ import annotations

from contextlib import AsyncExitStack

import trio

from fuzz_strategies import (coordinator_case, coordinator_cases, coordinator_state,
                             coordinator_wire_case, draw_cases, honest_roller_served,
                             running_coordinator)
from p2p.host import open_node

#: what the session answers bad input with: a stream error, a refusal, a receipt
SPECIFIC = {"MessageTooLarge", "MalformedMessage", "UnsupportedVersion", "UnknownMessageType",
            "SchemaViolation", "UnexpectedMessage", "IncompleteFrame", "StreamClosed",
            "BadSignature",
            "refused bad_signature", "receipt rejected: unknown task", "accepted"}


async def test_bad_session_input_is_refused_changes_nothing_and_an_honest_roller_is_served(
        tmp_path, small_circuit):
    async with running_coordinator(small_circuit, tmp_path) as (service, (attacker, honest)), \
            AsyncExitStack() as stack:
        before = coordinator_state(service)
        # Many cases through the service's own session code, on bytes in memory.
        for case in draw_cases(coordinator_cases(), 150, seed=16):
            verdict = await coordinator_case(service, attacker, case)
            assert verdict.crash is None and not verdict.state_changed, (case, verdict)
            assert verdict.outcome in SPECIFIC, (case, verdict)
            # Charged, all but a stream that ends before its first byte (a clean end).
            assert verdict.penalised, (case, verdict)
        # A few over real streams, from attacker hosts.
        node = None
        for number, case in enumerate(draw_cases(coordinator_cases(), 20, seed=61)):
            # A banned attacker comes back as a new host (a new peer id), as a real one would.
            if node is None or service.node.is_banned(node.peer_id):
                node = await stack.enter_async_context(open_node(tmp_path / f"attacker-{number}"))
                with trio.fail_after(20):
                    await node.connect(service.node.addrs[0])
            score = service.node.scores.score(str(node.peer_id))
            with trio.fail_after(30):
                answer = await coordinator_wire_case(service, node, attacker, case)
            assert answer in {"reset", "challenge", "welcome", "refused bad_signature",
                              "receipt rejected: unknown task"}, (case, answer)
            if answer in ("reset", "refused bad_signature") and case.data[-1] != b"":
                charged = service.node.scores.score(str(node.peer_id)) < score
                assert charged or service.node.is_banned(node.peer_id), (case, answer)
        assert coordinator_state(service) == before
        async with open_node(tmp_path / "honest") as honest_node:
            with trio.fail_after(20):
                await honest_node.connect(service.node.addrs[0])
                assert await honest_roller_served(service, honest_node, honest)
        assert service.node.scores.score(str(honest_node.peer_id)) == 0
