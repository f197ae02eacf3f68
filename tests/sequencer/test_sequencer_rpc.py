"""The sequencer's JSON-RPC API over real HTTP on loopback: every method, the error objects,
the HTTP bounds, and blocks built every interval in virtual time."""

from __future__ import annotations

import json

import pytest
import trio
import trio.testing
from eth_account import Account

from fuzz_strategies import http_exchange

from sequencer.block_data import Op, Record
from sequencer.circuit_inputs import SMALL, block_inputs
from sequencer.client import SequencerClient, SequencerClientPool
from p2p.errors import ListenError
from p2p.http_server import JsonRpcServer
from sequencer.errors import RequestRefused, SequencerUnreachable
from sequencer.genesis import dev_address, genesis_state
from sequencer.service import Sequencer
from sequencer.wire import hex32, transfer_to_json
from sequencer_fakes import GENESIS, FakeRollup, Wallet, config

GENESIS_ROOT = genesis_state(SMALL.depth, GENESIS).root
PROVER = "0x00000000000000000000000000000000000000aB"


async def start(nursery, datadir, **overrides) -> tuple[Sequencer, FakeRollup]:
    account = Account.create()
    rollup = FakeRollup(GENESIS_ROOT, account.address)
    sequencer = Sequencer(config(datadir, **overrides), rollup, account, rollup.bridge)
    await nursery.start(sequencer.run)
    return sequencer, rollup


@pytest.fixture
async def sequencer(tmp_path, nursery) -> Sequencer:
    """A sequencer that builds blocks only when a test asks (`builder.build_block`)."""
    return (await start(nursery, tmp_path, block_interval=3600))[0]


@pytest.fixture
async def client(sequencer):
    async with SequencerClient(sequencer.url, timeout=10) as client:
        yield client


def post(body: bytes, extra: bytes = b"") -> bytes:
    return (b"POST / HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-type: application/json\r\n"
            + extra + b"content-length: " + str(len(body)).encode() + b"\r\n\r\n" + body)


# ---------------------------------------------------------------------- the methods


async def test_a_transfer_from_acceptance_to_l1(sequencer, client):
    wallet = Wallet(0)
    transfers = [wallet.pay(1, 10), wallet.pay(2, 20), wallet.pay(3, 30)]
    hashes = [await client.send_transfer(t) for t in transfers]
    assert len(set(hashes)) == 3 and all(len(h) == 66 for h in hashes)

    account = await client.account(0)
    assert account == {"index": 0, "address": hex32(dev_address(0)), "balance": "1000",
                       "nonce": 0, "pendingBalance": "940", "pendingNonce": 3}
    pending = await client.transfer(hashes[0])
    assert (pending["state"], pending["block"], pending["blockStatus"]) == ("pending", None, None)
    assert pending["transfer"] == transfer_to_json(transfers[0])

    assert await sequencer.builder.build_block() == 1
    block = await client.block(1)
    assert block["transfers"] == hashes[:2]  # the circuit's two slots, in acceptance order
    with trio.fail_after(5):
        while (await client.block(1))["status"] != "committed":
            await trio.sleep(0.01)
    included = await client.transfer(hashes[1])
    assert (included["state"], included["block"], included["position"],
            included["blockStatus"]) == ("included", 1, 1, "committed")
    assert (await client.account(0))["balance"] == "970"

    status = await client.status()
    assert (status["lastBlock"], status["pending"], status["blockSize"]) == (1, 1, 2)
    assert status["l1"]["lastCommitted"] == 1 and status["l1"]["error"] is None


async def test_block_inputs_for_coordinators(sequencer, client):
    wallet = Wallet(1)
    transfers = [wallet.pay(0, 5), wallet.pay(2, 6)]
    for t in transfers:
        await client.send_transfer(t)
    await sequencer.builder.build_block()
    ops = [(Record(Op.TRANSFER, 1, 0, 5), transfers[0]), (Record(Op.TRANSFER, 1, 2, 6), transfers[1])]
    expected = block_inputs(SMALL, genesis_state(SMALL.depth, GENESIS), ops, PROVER)
    with_prover = await client.block_inputs(1, PROVER)
    assert with_prover == expected
    without = await client.block_inputs(1)
    assert "prover" not in without and without == {k: v for k, v in expected.items()
                                                   if k != "prover"}
    assert without["dataHash"] == str(int((await client.block(1))["dataHash"], 16))
    assert await client.block_inputs(2) is None


async def test_account_lookups(sequencer, client):
    assert await client.account_index(dev_address(3)) == 3
    assert await client.account_index(0xABC) is None
    assert await client.free_index() == 4
    assert await client.account(7) is None
    await client.send_transfer(Wallet(0).pay(7, 5, to_address=0xABC))
    assert await client.account_index(0xABC) == 7
    assert (await client.account(7))["pendingBalance"] == "5"
    assert await client.block(1) is None and await client.transfer(hex32(1)) is None


# ---------------------------------------------------------------------- errors


@pytest.mark.parametrize(("method", "params", "code", "name", "message"), [
    ("l2_sendTransfer", "wrong nonce", 1005, "WrongNonce", "nonce 4, but account 0 is at nonce 0"),
    ("l2_sendTransfer", "too much", 1007, "InsufficientBalance", "account 0 holds 1000, less than 5000"),
    ("l2_sendTransfer", [{"from": 0}], -32602, "InvalidParams", "transfer lacks to, toAddress"),
    ("l2_getAccount", [-1], -32602, "InvalidParams", "index must be an integer from 0"),
    ("l2_getAccount", [256], -32602, "InvalidParams", "index 256 is outside the tree"),
    ("l2_getAccountIndex", ["0x12g"], -32602, "InvalidParams", "address must be a 0x-hex field"),
    ("l2_getBlockInputs", [1, "0x12"], -32602, "InvalidParams", "prover must be an Ethereum address"),
    ("l2_getBlock", [], -32602, None, "l2_getBlock: missing a required argument: 'number'"),
    ("l2_getBlock", [1, 2], -32602, None, "l2_getBlock: too many positional arguments"),
    ("l2_nothing", [], -32601, None, "no method 'l2_nothing'; methods: l2_getAccount"),
])
async def test_error_objects(client, method, params, code, name, message):
    if params == "wrong nonce":
        params = [transfer_to_json(Wallet(0).pay(1, 1, nonce=4))]
    elif params == "too much":
        params = [transfer_to_json(Wallet(0).pay(1, 5000))]
    with pytest.raises(RequestRefused) as excinfo:
        await client.call(method, *params)
    error = excinfo.value
    assert (error.code, error.name) == (code, name)
    assert str(error).startswith(message)


async def test_named_params_and_malformed_requests(sequencer, client):
    assert await client.post(json.dumps({"jsonrpc": "2.0", "id": "a", "method": "l2_getAccount",
                                         "params": {"index": 1}}).encode()) == {
        "jsonrpc": "2.0", "id": "a", "result": await client.account(1)}
    for body, code in [(b"{not json", -32700), (b'{"id": 1, "method": "l2_status"}', -32600),
                       (b'{"jsonrpc": "2.0", "id": 1, "method": "l2_status", "params": 3}', -32600),
                       (b"[]", -32600), (b'"text"', -32600)]:
        reply = await client.post(body)
        assert reply["error"]["code"] == code, body


async def test_batches_and_notifications(sequencer, client):
    batch = [{"jsonrpc": "2.0", "id": 1, "method": "l2_getFreeIndex"},
             {"jsonrpc": "2.0", "method": "l2_getFreeIndex"},  # a notification: no reply
             {"jsonrpc": "2.0", "id": 2, "method": "l2_nothing"}]
    replies = await client.post(json.dumps(batch).encode())
    assert [r["id"] for r in replies] == [1, 2]
    assert replies[0]["result"] == 4 and replies[1]["error"]["code"] == -32601
    status, body = await http_exchange(sequencer.address, post(b'{"jsonrpc": "2.0", "method": "l2_status"}'))
    assert (status, body) == (204, b"")


# ---------------------------------------------------------------------- HTTP


async def test_http_bounds_and_paths(sequencer):
    address = sequencer.address
    status, body = await http_exchange(address, post(b"[" + b" " * 70_000 + b"]"))
    assert status == 413 and b"at most 65536" in body
    status, body = await http_exchange(address, b"GET /health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
    assert status == 200 and json.loads(body)["circuit"] == "block_small"
    status, _ = await http_exchange(address, b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
    assert status == 405
    status, _ = await http_exchange(address, b"POST /rpc HTTP/1.1\r\nhost: x\r\nconnection: close\r\n"
                                      b"content-length: 0\r\n\r\n")
    assert status == 404
    status, _ = await http_exchange(address, b"NOT HTTP AT ALL\r\n\r\n")
    assert status == 400


async def test_connections_and_slow_clients_are_bounded(nursery):
    async def echo(value):
        return value

    async def health():
        return {}

    server = JsonRpcServer({"echo": echo}, health, port=0, max_connections=1, io_timeout=0.5)
    await nursery.start(server.run)
    async with SequencerClient(f"http://127.0.0.1:{server.address[1]}") as first:
        assert await first.call("echo", 7) == 7  # holds the one connection, kept alive
        status, _ = await http_exchange(server.address, post(b"{}"))
        assert status == 503
        await trio.sleep(0.6)  # idle past io_timeout: the server closes it; the client reopens
        assert await first.call("echo", 8) == 8
    stream = await trio.open_tcp_stream(*server.address)
    await stream.send_all(b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 10\r\n\r\n{")
    with trio.fail_after(5):
        assert await stream.receive_some(1000) == b""  # half a request: cut at io_timeout
    await stream.aclose()


async def test_a_pool_makes_its_calls_over_several_connections_at_once(nursery):
    """Four calls that each wait for the others: over one connection they would deadlock (each
    waits for the next to start); a pool of four has them all under way at once."""
    arrived = 0
    all_in = trio.Event()

    async def meet(value):
        nonlocal arrived
        arrived += 1
        if arrived == 4:
            all_in.set()
        await all_in.wait()
        return value

    async def health():
        return {}

    server = JsonRpcServer({"meet": meet}, health, port=0)
    await nursery.start(server.run)
    answers = []
    async with SequencerClientPool(f"http://127.0.0.1:{server.address[1]}", size=4) as pool:
        with trio.fail_after(10):
            async with trio.open_nursery() as calls:
                for value in range(4):
                    calls.start_soon(lambda v=value: _append(answers, pool.call("meet", v)))
    assert sorted(answers) == [0, 1, 2, 3]


async def _append(answers: list, call) -> None:
    answers.append(await call)


async def test_no_sequencer_is_one_line():
    async with SequencerClient("http://127.0.0.1:9", timeout=2) as client:
        with pytest.raises(SequencerUnreachable, match="cannot talk to the sequencer at "
                                                       "http://127.0.0.1:9: .*is it running"):
            await client.status()
    with pytest.raises(SequencerUnreachable, match="not an http:// URL"):
        SequencerClient("ftp://x")


# ---------------------------------------------------------------------- the block interval


@pytest.fixture
def clock():
    # Jump only after 500 ms of real idleness: SQLite and L1 calls run in threads, which the
    # plain autojump clock would count as idle, firing timeouts they are well within (at 100 ms,
    # a worker thread slowed by a loaded machine let the clock skip past a block's tick).
    return trio.testing.MockClock(autojump_threshold=0.5)


async def test_a_block_every_interval_and_none_when_idle(tmp_path, nursery, clock):
    start_time = trio.current_time()
    sequencer, rollup = await start(nursery, tmp_path, block_interval=2.0, l1_poll_interval=10)
    async with SequencerClient(sequencer.url) as client:
        wallet = Wallet(2)
        for _ in range(3):
            await client.send_transfer(wallet.pay(0, 1))
        # Checked between the ticks at 2 s and 4 s: a tick's work may take virtual time when
        # the clock jumps while a worker thread runs.
        await trio.sleep_until(start_time + 1)
        assert (await client.status())["lastBlock"] == 0
        await trio.sleep_until(start_time + 3)
        assert len((await client.block(1))["transfers"]) == 2
        await trio.sleep_until(start_time + 5)
        assert len((await client.block(2))["transfers"]) == 1
        await trio.sleep_until(start_time + 25)
        status = await client.status()
        assert (status["lastBlock"], status["pending"]) == (2, 0)  # no empty blocks
        assert status["l1"]["lastCommitted"] == 2 and len(rollup.blocks) == 3


async def test_a_taken_port_is_a_clear_error(nursery):
    async def health():
        return {}

    first = JsonRpcServer({}, health, port=0)
    await nursery.start(first.run)
    with pytest.raises(ListenError, match=r"cannot listen on 127.0.0.1:\d+: Address already in use"):
        await JsonRpcServer({}, health, port=first.address[1]).run()
