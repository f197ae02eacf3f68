"""Wire fuzzing of the session protocol's framing and messages (`p2p.framing`, `p2p.protocols`,
`p2p.messages`): random bytes, truncated and oversize frames, bad length prefixes, msgpack of the
wrong shape, mutated messages and messages of a type not due. Many cases through the real
`MessageStream.receive` on bytes in memory; a few over real libp2p streams on loopback, after
which an honest peer still completes its exchange."""

from __future__ import annotations

import trio
from hypothesis import given, settings

from fuzz_strategies import draw_cases, receive_case, stream_cases
from p2p import messages as m
from p2p.config import P2PConfig
from p2p.errors import P2PError
from p2p.protocols import SESSION_PROTOCOL, open_stream, serve
from p2p_nodes import running_nodes

#: every rejection the session's reader may answer bad bytes with
SPECIFIC = {"MessageTooLarge", "MalformedMessage", "UnsupportedVersion", "UnknownMessageType",
            "SchemaViolation", "UnexpectedMessage", "StreamClosed", "IncompleteFrame"}


@settings(max_examples=150, deadline=None)
@given(stream_cases((m.Hello,)))
async def test_bad_bytes_get_a_specific_error_and_cost_the_sender(case):
    verdict, msg = await receive_case(case.data, (m.Hello,))
    assert verdict.crash is None, (case, verdict)
    if verdict.outcome == "accepted":  # a mutation that left a valid hello
        assert isinstance(msg, m.Hello)
        return
    assert verdict.outcome in SPECIFIC, (case, verdict)
    # A stream that ends inside a frame is an IncompleteFrame, charged; one that ends between
    # frames (StreamClosed) is a clean end, and costs nothing.
    assert verdict.penalised or (verdict.outcome == "StreamClosed" and not case.data), (
        case, verdict)


async def test_bad_streams_on_the_wire_end_alone_and_an_honest_peer_is_served(tmp_path):
    config = P2PConfig(ban_threshold=-1e12, score_recovery_per_second=0)
    cases = draw_cases(stream_cases((m.Hello,)), 30, seed=16)
    seen: list[object] = []
    changed = trio.Event()

    async def strict(stream):
        try:
            hello = await stream.receive(m.Hello)
        except P2PError as error:
            seen.append(error)
            raise
        finally:
            changed.set()
        seen.append(hello)
        await stream.send(m.Welcome(weight=1, session=bytes(16)))

    async with running_nodes(tmp_path, "server", "attacker", "honest", config=config) as (
            server, attacker, honest):
        serve(server, SESSION_PROTOCOL, strict)
        with trio.fail_after(60):
            await attacker.connect(server.addrs[0])
            for case in cases:
                before, score = len(seen), server.scores.score(str(attacker.peer_id))
                raw = await attacker.host.new_stream(server.peer_id, [SESSION_PROTOCOL])
                await raw.write(case.data)
                await raw.close()
                while len(seen) == before:
                    changed = trio.Event()
                    await changed.wait()
                outcome = seen[-1]
                if isinstance(outcome, P2PError):
                    assert type(outcome).__name__ in SPECIFIC, (case, outcome)
                    penalty = config.penalty_for(outcome)
                    assert server.scores.score(str(attacker.peer_id)) == score - penalty
                    assert penalty > 0 or type(outcome).__name__ == "StreamClosed", (case, outcome)
                else:
                    assert isinstance(outcome, m.Hello)
            await honest.connect(server.addrs[0])
            async with open_stream(honest, server.peer_id) as stream:
                await stream.send(m.Hello(roller=bytes(20), versions=(1,)))
                assert await stream.receive(m.Welcome) == m.Welcome(weight=1, session=bytes(16))
        assert server.scores.score(str(honest.peer_id)) == 0
        assert server.scores.score(str(attacker.peer_id)) < 0
