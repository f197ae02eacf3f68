"""Wire fuzzing of the sequencer's JSON-RPC (`sequencer.rpc`): random bytes, JSON of the wrong
shape, requests with members wrong, batches empty and too large, nesting deeper than the parser's
stack, truncated bodies, and transfers the sequencer must refuse (replayed, signed by the wrong
key or over other terms, overdrawn, from an empty account). Many bodies through the running
sequencer's own handler; a few over HTTP on loopback with bad HTTP besides, after which an honest
client's transfer is still accepted. None changes the mempool or the blocks."""

from __future__ import annotations

import json
import sys

import trio

from fuzz_strategies import (BAD_HTTP, Case, deep, draw_cases, honest_client_served,
                             http_exchange, http_post, rpc_case, sequencer_cases,
                             sequencer_state, sequencer_wire_case, start_sequencer)
from p2p.http_server import PARSE_ERROR

RECURSION_LIMIT = sys.getrecursionlimit()


def cases_for(sequencer, accepted, count: int, seed: int) -> list[Case]:
    return draw_cases(sequencer_cases(sequencer, accepted), count, seed=seed)


async def test_bad_requests_get_specific_errors_and_change_nothing(tmp_path, nursery):
    sequencer, accepted = await start_sequencer(nursery, tmp_path)
    for case in cases_for(sequencer, accepted, 150, seed=16):
        verdict = await rpc_case(sequencer, case)
        assert verdict.crash is None and not verdict.state_changed, (case, verdict)


async def test_nesting_deeper_than_the_parser_is_a_parse_error(tmp_path, nursery):
    """Found while fuzzing: json.loads raises RecursionError past the interpreter's recursion
    limit, which no handler expected, and the connection closed without an answer. In the
    sequencer's process py_ecc (imported with eth_account) raises the limit to 100,000, past what
    a 64 KiB body can nest; a `JsonRpcServer` in a process without it (Python's limit is 1,000)
    or with a larger `max_body` met it. Here the limit is lowered to show it."""
    sequencer, _ = await start_sequencer(nursery, tmp_path)
    sys.setrecursionlimit(2_000)
    try:
        body = deep(5_000)
        reply = json.loads(await sequencer.rpc.handle(body))
        status, answer = await http_exchange(sequencer.rpc.address, http_post(body))
    finally:
        sys.setrecursionlimit(RECURSION_LIMIT)
    assert reply["error"]["code"] == PARSE_ERROR and "nested too deeply" in reply["error"]["message"]
    assert status == 200 and json.loads(answer) == reply


async def test_bad_http_and_bodies_on_the_wire_are_answered_and_an_honest_client_served(
        tmp_path, nursery):
    sequencer, accepted = await start_sequencer(nursery, tmp_path)
    address = sequencer.rpc.address
    before = sequencer_state(sequencer)
    cases = [Case("bad http", request) for request in BAD_HTTP]
    cases += cases_for(sequencer, accepted, 25, seed=61)
    for case in cases:
        verdict = await sequencer_wire_case(address, case)
        assert verdict.crash is None, (case, verdict)
    # A request cut short: the client goes away mid-body; nothing is answered, nothing changes.
    stream = await trio.open_tcp_stream(*address)
    await stream.send_all(http_post(b'{"jsonrpc": "2.0", "id": 1, "method": "l2_status"}')[:-10])
    await stream.aclose()
    assert sequencer_state(sequencer) == before
    assert await honest_client_served(sequencer)
