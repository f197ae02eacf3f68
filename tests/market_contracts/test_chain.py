"""The chain layer behaves the same on the embedded EVM and on anvil: signing, nonces, revert
decoding, snapshots and time control."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from eth_account import Account

from market_contracts.anvil import free_port, run_anvil
from market_contracts.chain import RpcChain, connect, decode_revert
from market_contracts.compile import load_artifact
from market_contracts.errors import (
    ChainError,
    NotADevChain,
    RpcUnreachable,
    TransactionFailed,
    TransactionRejected,
    WrongChainId,
)

ETH = 10**18
PROBE = load_artifact("ChainProbe")


@pytest.fixture
def owner(fresh_chain):
    return fresh_chain.dev_accounts[0]


@pytest.fixture
def probe(fresh_chain, owner):
    return fresh_chain.deploy(owner, PROBE, 0)


def funded_account(chain, owner, eth: int = 1):
    account = Account.create()
    chain.send_eth(owner, account.address, eth * ETH)
    return account


def test_dev_accounts_hold_eth(chain):
    assert len(chain.dev_accounts) == 10
    assert all(chain.w3.eth.get_balance(a.address) >= 1_000 * ETH for a in chain.dev_accounts)


def test_deploy_and_transact(fresh_chain, owner, probe):
    receipt = fresh_chain.transact(owner, probe.functions.bump())

    assert receipt["status"] == 1
    assert fresh_chain.call(probe.functions.counter()) == 1
    (event,) = probe.events.Bumped().process_receipt(receipt)
    assert event["args"]["by"] == owner.address


def test_send_eth_funds_a_fresh_account_that_can_then_transact(fresh_chain, owner, probe):
    account = funded_account(fresh_chain, owner)

    assert fresh_chain.w3.eth.get_balance(account.address) == ETH
    fresh_chain.transact(account, probe.functions.bump())
    assert fresh_chain.call(probe.functions.counter()) == 1


def test_payable_value_arrives(fresh_chain, owner, probe):
    fresh_chain.transact(owner, probe.functions.deposit(), value=12345)

    assert fresh_chain.call(probe.functions.received()) == 12345
    assert fresh_chain.w3.eth.get_balance(probe.address) == 12345


REVERTS = [
    pytest.param("atLeast", (1, 2), "TooSmall", (1, 2), "TooSmall(given=1, minimum=2)",
                 id="custom"),
    pytest.param("bare", (), "Bare", (), "Bare()", id="custom-no-args"),
    pytest.param("needsPositive", (0,), "amount must be positive", (), "amount must be positive",
                 id="string"),
    pytest.param("overflow", (1,), "Panic(0x11)", (0x11,), "Panic(0x11)", id="panic"),
]


@pytest.mark.parametrize("when", ["call", "estimation", "mined"])
@pytest.mark.parametrize(("name", "args", "reason", "error_args", "shown"), REVERTS)
def test_revert_is_decoded(fresh_chain, owner, probe, when, name, args, reason, error_args, shown):
    fn = getattr(probe.functions, name)(*args)
    nonce = fresh_chain.w3.eth.get_transaction_count(owner.address)

    with pytest.raises(TransactionFailed) as excinfo:
        if when == "call":
            fresh_chain.call(fn)
        elif when == "estimation":
            fresh_chain.transact(owner, fn)
        else:  # an explicit gas limit skips estimation: the revert happens on chain
            fresh_chain.transact(owner, fn, gas=200_000)

    assert (excinfo.value.reason, excinfo.value.error_args) == (reason, error_args)
    message = str(excinfo.value)
    assert shown in message and "\n" not in message
    sent = fresh_chain.w3.eth.get_transaction_count(owner.address) - nonce
    assert sent == (1 if when == "mined" else 0)


def test_error_from_a_contract_not_called_directly_is_decoded_through_the_artifacts(
        fresh_chain, owner, probe):
    # A caller whose ABI lacks the error, as the staking contract's ABI lacks the token's errors.
    functions_only = [e for e in PROBE["abi"] if e["type"] != "error"]
    blind = fresh_chain.w3.eth.contract(address=probe.address, abi=functions_only)

    with pytest.raises(TransactionFailed) as excinfo:
        fresh_chain.transact(owner, blind.functions.atLeast(3, 4))

    assert (excinfo.value.reason, excinfo.value.error_args) == ("TooSmall", (3, 4))


def test_unknown_error_and_empty_revert():
    assert decode_revert(bytes.fromhex("deadbeef") + bytes(32)) == ("0xdeadbeef", ())
    assert decode_revert(b"") == ("", ())


def test_out_of_gas_on_chain_is_told_apart_from_a_revert(fresh_chain, owner, probe):
    with pytest.raises(TransactionFailed, match="ran out of gas") as excinfo:
        fresh_chain.transact(owner, probe.functions.bump(), gas=23_000)

    assert excinfo.value.reason == ""


def test_node_refusal_is_a_rejection_not_a_revert(fresh_chain, owner):
    broke = Account.create()

    with pytest.raises(TransactionRejected, match=broke.address):
        fresh_chain.send_eth(broke, owner.address, ETH)


def test_snapshot_can_be_reverted_to_twice(fresh_chain, owner, probe):
    fresh_chain.transact(owner, probe.functions.bump())
    snapshot = fresh_chain.snapshot()

    for _ in range(2):
        fresh_chain.transact(owner, probe.functions.bump())
        fresh_chain.transact(owner, probe.functions.bump())
        assert fresh_chain.call(probe.functions.counter()) == 3
        fresh_chain.revert(snapshot)
        assert fresh_chain.call(probe.functions.counter()) == 1


def test_transaction_succeeds_exactly_at_the_timestamp_boundary(fresh_chain, owner, probe):
    unlock_at = fresh_chain.latest_timestamp() + 1_000
    fresh_chain.transact(owner, probe.functions.setUnlockAt(unlock_at))

    fresh_chain.set_next_block_timestamp(unlock_at - 1)
    with pytest.raises(TransactionFailed) as excinfo:
        fresh_chain.transact(owner, probe.functions.unlock())
    assert excinfo.value.reason == "still locked"

    fresh_chain.set_next_block_timestamp(unlock_at)
    receipt = fresh_chain.transact(owner, probe.functions.unlock())
    assert fresh_chain.w3.eth.get_block(receipt["blockNumber"])["timestamp"] == unlock_at
    assert fresh_chain.latest_timestamp() == unlock_at


def test_calls_see_increased_time_once_mined(fresh_chain, owner, probe):
    unlock_at = fresh_chain.latest_timestamp() + 1_000
    fresh_chain.transact(owner, probe.functions.setUnlockAt(unlock_at))

    fresh_chain.increase_time(unlock_at - 1 - fresh_chain.latest_timestamp())
    assert fresh_chain.latest_timestamp() == unlock_at - 1
    with pytest.raises(TransactionFailed, match="still locked"):
        fresh_chain.call(probe.functions.unlock())

    fresh_chain.increase_time(1)
    assert fresh_chain.call(probe.functions.unlock()) == unlock_at


def test_time_only_moves_forward(fresh_chain):
    with pytest.raises(ChainError, match="time only moves forward"):
        fresh_chain.set_next_block_timestamp(fresh_chain.latest_timestamp())


def test_mine_makes_a_block(fresh_chain):
    before = fresh_chain.w3.eth.block_number
    fresh_chain.mine()
    assert fresh_chain.w3.eth.block_number == before + 1


def test_concurrent_transactions_get_distinct_nonces(fresh_chain, owner, probe):
    senders = [funded_account(fresh_chain, owner) for _ in range(3)]
    per_sender_threads, per_thread = 3, 4

    def send_from(account):
        return [fresh_chain.transact(account, probe.functions.bump()) for _ in range(per_thread)]

    jobs = [s for s in senders for _ in range(per_sender_threads)]
    with ThreadPoolExecutor(len(jobs)) as pool:
        receipts = [r for batch in pool.map(send_from, jobs) for r in batch]

    assert fresh_chain.call(probe.functions.counter()) == len(jobs) * per_thread
    for sender in senders:
        nonces = sorted(fresh_chain.w3.eth.get_transaction(r["transactionHash"])["nonce"]
                        for r in receipts if r["from"] == sender.address)
        assert nonces == list(range(per_sender_threads * per_thread))


# ------------------------------------------------------------------ connecting


def test_closed_port_is_unreachable_fast():
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there any more
    started = time.monotonic()

    with pytest.raises(RpcUnreachable) as excinfo:
        connect(url)

    assert time.monotonic() - started < 2
    message = str(excinfo.value)
    assert message.startswith(f"cannot reach JSON-RPC endpoint {url}: ")
    assert message.endswith("is the node running?") and "\n" not in message


def test_embedded_chain_is_the_default():
    assert connect(None).is_dev
    with pytest.raises(WrongChainId):
        connect("embedded", expected_chain_id=1)


@pytest.mark.anvil
def test_wrong_chain_id_names_both():
    with run_anvil(chain_id=4242) as node:
        assert connect(node.url, expected_chain_id=4242).chain_id == 4242
        with pytest.raises(WrongChainId) as excinfo:
            connect(node.url, expected_chain_id=1)

    assert str(excinfo.value) == f"endpoint {node.url} serves chain id 4242, the deployment is on 1"


class _FakeGeth(BaseHTTPRequestHandler):
    """Just enough of a production node to be connected to."""

    ANSWERS = {"eth_chainId": "0x1", "web3_clientVersion": "Geth/v1.14.0"}

    def do_POST(self):
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        body = json.dumps({"jsonrpc": "2.0", "id": request["id"],
                           "result": self.ANSWERS[request["method"]]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_production_node_has_no_dev_controls():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _FakeGeth)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        chain = RpcChain(f"http://127.0.0.1:{server.server_port}")
        assert (chain.chain_id, chain.is_dev, chain.dev_accounts) == (1, False, [])
        for control in (chain.snapshot, chain.mine, lambda: chain.set_next_block_timestamp(2**40)):
            with pytest.raises(NotADevChain, match="Geth/v1.14.0"):
                control()
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
