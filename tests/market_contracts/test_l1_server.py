"""The embedded chain served over JSON-RPC on loopback (`market_contracts.l1_server`): a real `RpcChain`
in a worker thread stakes through it, and the embedded chain object sees the same state; the
answers and errors are in a node's wire format, so web3.py's own formatters take them."""

from __future__ import annotations

import json
import re

import pytest
import requests
import trio
from eth_account import Account
from web3 import HTTPProvider, Web3

from market_contracts.bindings import Market
from market_contracts.chain import EMBEDDED_SERVER_CLIENT, EmbeddedChain, RpcChain, decode_revert
from market_contracts.deploy import deploy_market
from market_contracts.errors import BelowMinStake, TransactionFailed
from market_contracts.rules import MarketParams
from market_contracts.units import ONE_TOKEN
from market_contracts.l1_server import EmbeddedL1Server

ETH = 10**18
QUANTITY = re.compile(r"0x(0|[1-9a-f][0-9a-f]*)")


@pytest.fixture
async def served(nursery) -> tuple[EmbeddedChain, str]:
    """(the embedded chain, the URL it is served at)."""
    embedded = EmbeddedChain()
    url = await nursery.start(EmbeddedL1Server(embedded).run)
    return embedded, url


def call(url: str, method: str, *params) -> dict:
    """One raw JSON-RPC request; the whole response object."""
    body = {"jsonrpc": "2.0", "id": 7, "method": method, "params": list(params)}
    return requests.post(url, json=body, timeout=30).json()


def result(url: str, method: str, *params):
    response = call(url, method, *params)
    assert "error" not in response, response
    return response["result"]


def error(url: str, method: str, *params) -> dict:
    response = call(url, method, *params)
    assert "result" not in response, response
    return response["error"]


def with_market(embedded: EmbeddedChain) -> tuple[Market, object]:
    owner = embedded.dev_accounts[0]
    return Market(embedded, deploy_market(embedded, owner, MarketParams.devnet())), owner


# ---------------------------------------------------------------- an RpcChain client


async def test_a_roller_stakes_over_rpc_on_the_same_chain(served):
    embedded, url = served

    def scenario() -> None:
        rpc = RpcChain(url)
        assert rpc.chain_id == embedded.chain_id
        assert rpc.client_version.startswith(EMBEDDED_SERVER_CLIENT)
        assert rpc.is_dev
        assert [a.key for a in rpc.dev_accounts] == [a.key for a in embedded.dev_accounts]

        owner = rpc.dev_accounts[0]
        deployment = deploy_market(rpc, owner, MarketParams.devnet())
        market, direct = Market(rpc, deployment), Market(embedded, deployment)
        roller = Account.create()
        rpc.send_eth(owner, roller.address, ETH)
        market.mint(owner, roller.address, 1_000 * ONE_TOKEN)
        before_stake = rpc.w3.eth.block_number
        market.stake(roller, 200 * ONE_TOKEN)

        # The embedded chain object sees what the RPC client did, and the other way round.
        info = direct.roller_info(roller.address)
        assert (info.active, info.registered) == (200 * ONE_TOKEN, True)
        assert market.roller_info(roller.address) == info
        assert embedded.w3.eth.block_number == rpc.w3.eth.block_number

        # eth_call at an earlier block reads that block's state.
        assert market.roster(before_stake) == direct.roster(before_stake) == []
        assert market.roster() == direct.roster() == [(roller.address, info.weight)]

        # eth_getLogs with an event filter: the same events as the embedded chain's.
        def staked(m: Market, who: str) -> list[dict]:
            events = m.staking.events.Staked().get_logs(
                from_block=deployment.block, argument_filters={"roller": who})
            return [{**e["args"], "block": e["blockNumber"], "tx": e["transactionHash"]}
                    for e in events]

        assert staked(market, roller.address) == staked(direct, roller.address)
        (event,) = staked(market, roller.address)
        assert (event["roller"], event["amount"]) == (roller.address, 200 * ONE_TOKEN)
        assert staked(market, owner.address) == []

        # A revert is explained the same through RPC as on the embedded chain directly.
        small = Account.create()
        rpc.send_eth(owner, small.address, ETH)
        market.mint(owner, small.address, 10 * ONE_TOKEN)
        with pytest.raises(BelowMinStake) as over_rpc:
            market.stake(small, ONE_TOKEN)
        with pytest.raises(BelowMinStake) as directly:
            direct.stake(small, ONE_TOKEN)
        assert str(over_rpc.value) == str(directly.value)
        assert over_rpc.value.error_args == directly.value.error_args == (
            ONE_TOKEN, MarketParams.devnet().min_stake)

        # Mined and failed (a fixed gas limit skips the estimate): replayed at its block.
        with pytest.raises(TransactionFailed) as mined:
            rpc.transact(small, market.staking.functions.stake(ONE_TOKEN), gas=300_000)
        assert mined.value.reason == "BelowMinStake"
        assert "reverted with BelowMinStake" in str(mined.value)

        # The dev controls.
        snapshot = rpc.snapshot()
        market.mint(owner, roller.address, 5 * ONE_TOKEN)
        assert direct.token_balance(roller.address) == 805 * ONE_TOKEN
        rpc.revert(snapshot)
        assert direct.token_balance(roller.address) == 800 * ONE_TOKEN
        latest = embedded.latest_timestamp()
        rpc.increase_time(1_000)
        assert embedded.latest_timestamp() == rpc.latest_timestamp() == latest + 1_000

    await trio.to_thread.run_sync(scenario)


async def test_web3_formats_every_answer(served):
    """web3.py's own result formatters (strict on lengths and types) take the answers."""
    embedded, url = served
    market, owner = with_market(embedded)
    roller = Account.create()
    funded = embedded.send_eth(owner, roller.address, ETH)
    receipt = embedded.transact(owner, market.token.functions.mint(roller.address, ONE_TOKEN))

    def check() -> None:
        w3 = Web3(HTTPProvider(url))
        assert w3.is_connected()
        number = receipt["blockNumber"]
        block = w3.eth.get_block(number, full_transactions=True)
        direct = embedded.w3.eth.get_block(number)
        for key in ("hash", "parentHash", "stateRoot", "timestamp", "baseFeePerGas", "gasUsed",
                    "mixHash", "miner"):
            assert block[key] == direct[key], key
        assert len(block["logsBloom"]) == 256
        (tx,) = block["transactions"]
        assert tx["hash"] == receipt["transactionHash"] and tx["blockNumber"] == number
        assert w3.eth.get_transaction(tx["hash"]) == tx
        got = w3.eth.get_transaction_receipt(receipt["transactionHash"])
        assert got["status"] == 1 and got["logs"][0]["removed"] is False
        assert len(got["logsBloom"]) == 256 and any(got["logsBloom"])
        assert w3.eth.get_balance(roller.address) == ETH
        token = market.token.address
        assert w3.eth.get_code(token) == embedded.w3.eth.get_code(token)
        history = w3.eth.fee_history(3, "latest", [10, 90])
        assert len(history["baseFeePerGas"]) == 4 and len(history["reward"]) == 3
        assert history["oldestBlock"] == w3.eth.block_number - 2
        assert w3.eth.max_priority_fee > 0 and w3.eth.gas_price > 0
        assert w3.eth.get_logs({"fromBlock": number, "toBlock": number}) == got["logs"]
        assert w3.eth.get_logs({"blockHash": block["hash"]}) == got["logs"]
        # A block by hash, and as an EIP-1898 object: the balance before and after funding
        funded_block = w3.eth.get_block(funded["blockNumber"])
        assert w3.eth.get_balance(roller.address, funded_block["parentHash"]) == 0
        assert result(url, "eth_getBalance", roller.address,
                      {"blockHash": funded_block["hash"].to_0x_hex()}) == hex(ETH)
        assert result(url, "eth_getBalance", roller.address, {"blockNumber": "0x0"}) == "0x0"
        assert w3.eth.get_storage_at(token, 0) == embedded.w3.eth.get_storage_at(token, 0)
        # eth_sendTransaction, signed by the node with a dev account's key
        sent = w3.eth.send_transaction({"from": owner.address, "to": roller.address, "value": 5})
        assert w3.eth.wait_for_transaction_receipt(sent)["status"] == 1
        assert embedded.w3.eth.get_balance(roller.address) == ETH + 5

        # Raw: quantities are minimal hex, data fixed-width hex, keys camelCase.
        raw = result(url, "eth_getTransactionReceipt", receipt["transactionHash"].to_0x_hex())
        assert "state_root" not in raw and QUANTITY.fullmatch(raw["blockNumber"])
        assert raw["type"] == "0x2" and len(raw["logsBloom"]) == 2 + 512
        raw_block = result(url, "eth_getBlockByNumber", hex(number), True)
        assert len(raw_block["logsBloom"]) == 2 + 512 and len(raw_block["nonce"]) == 2 + 16
        assert not [key for tx in raw_block["transactions"] for key in tx if "_" in key]
        assert QUANTITY.fullmatch(raw_block["transactions"][0]["yParity"])
        assert result(url, "eth_getTransactionReceipt", "0x" + "11" * 32) is None
        assert result(url, "eth_getBlockByNumber", hex(number + 100), False) is None
        assert result(url, "net_version") == str(embedded.chain_id)
        assert requests.get(url + "/health", timeout=10).json() == {
            "status": "ok", "chainId": embedded.chain_id, "blockNumber": w3.eth.block_number}

    await trio.to_thread.run_sync(check)


# ---------------------------------------------------------------- errors as a node's


async def test_errors_look_like_a_nodes(served):
    embedded, url = served
    market, owner = with_market(embedded)
    stake = market.staking.functions.stake(ONE_TOKEN)._encode_transaction_data()

    def check() -> None:
        # A revert: code 3, the reason in the message, the revert data in data.
        for method in ("eth_call", "eth_estimateGas"):
            reverted = error(url, method, {"from": owner.address, "to": market.staking.address,
                                           "input": stake}, "latest")
            assert reverted["code"] == 3
            reason, args = decode_revert(bytes.fromhex(reverted["data"][2:]))
            min_stake = MarketParams.devnet().min_stake
            assert (reason, args) == ("BelowMinStake", (ONE_TOKEN, min_stake))
            assert reverted["message"] == (
                f"execution reverted: BelowMinStake({ONE_TOKEN}, {min_stake})")

        # Refused transactions: -32000 in geth's words.
        sender = embedded.dev_accounts[1]
        transfer = {"to": owner.address, "value": 1, "gas": 21_000, "maxFeePerGas": 10**10,
                    "maxPriorityFeePerGas": 10**9, "nonce": 0, "chainId": embedded.chain_id}
        embedded.send_eth(sender, owner.address, 1)

        def refused(account, **change) -> dict:
            signed = account.sign_transaction({**transfer, **change}).raw_transaction
            return error(url, "eth_sendRawTransaction", signed.to_0x_hex())

        assert refused(sender) == {"code": -32000, "message": (
            f"nonce too low: address {sender.address}, tx: 0 state: 1")}
        poor = Account.create()
        assert refused(poor)["message"].startswith(
            f"insufficient funds for gas * price + value: address {poor.address} have 0 want ")
        assert refused(sender, nonce=1, chainId=1)["message"] == (
            f"invalid chain id for signer: have 1 want {embedded.chain_id}")
        assert refused(sender, nonce=1, maxFeePerGas=1, maxPriorityFeePerGas=1)[
            "message"].startswith("max fee per gas less than block base fee")
        assert error(url, "eth_sendRawTransaction", "0x1234")["code"] == -32000

        # Reads past the head, as geth.
        assert error(url, "eth_getBalance", owner.address, "0x10000") == {
            "code": -32000, "message": "header not found"}

        # The JSON-RPC protocol errors.
        assert error(url, "eth_getProof", owner.address, [], "latest")["code"] == -32601
        assert error(url, "anvil_setBalance", owner.address, "0x1")["code"] == -32601
        assert error(url, "eth_getBalance")["code"] == -32602
        assert error(url, "eth_getBalance", owner.address, "yesterday")["code"] == -32602
        assert error(url, "eth_getBalance", "0x1234", "latest")["code"] == -32602
        assert error(url, "evm_setNextBlockTimestamp", 1)["code"] == -32000
        assert requests.post(url, data=b"{not json", timeout=10).json()["error"]["code"] == -32700
        assert requests.post(url, json={"id": 1, "method": "eth_chainId"},
                             timeout=10).json()["error"]["code"] == -32600
        batch = requests.post(url, data=json.dumps([
            {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []},
            {"jsonrpc": "2.0", "id": 2, "method": "eth_nope", "params": []},
        ]), timeout=10).json()
        assert batch[0]["result"] == hex(embedded.chain_id)
        assert batch[1]["error"]["code"] == -32601

    await trio.to_thread.run_sync(check)
