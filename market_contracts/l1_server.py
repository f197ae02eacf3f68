"""The embedded L1 chain served over Ethereum JSON-RPC on localhost: for development only.

`provernet devnet` runs its L1 in process (`EmbeddedChain`, py-evm). `EmbeddedL1Server` lets a
process in another terminal join that same chain with `--rpc-url http://127.0.0.1:PORT`
(`RpcChain`), and lets web3.py, ethers or cast use it for the usual methods (`METHODS`).

A request goes through `p2p.http_server.JsonRpcServer` (HTTP/1.1 on trio, bounded, batches,
`GET /health`): its params are bound to the method's signature (-32602 when they do not fit),
its block identifiers normalised (a hex quantity, a tag, or an EIP-1898 object), and it runs in
a worker thread, under the embedded provider's lock (py-evm blocks and is not thread-safe),
through eth-tester's own request formatting. The answer, eth-tester's Python values, goes back
in wire format: quantities as hex, data as 0x hex, camelCase keys, 256-byte blooms.

Errors are a node's, so that clients decode them as they do anvil's or geth's: a revert in
`eth_call`/`eth_estimateGas` is `{"code": 3, "message": "execution reverted: <reason>", "data":
"0x<revert data>"}`; a refused transaction is -32000 in geth's words ("nonce too low: ...",
"insufficient funds for gas * price + value: ...", "invalid chain id for signer: ..."); a block
past the head -32000 "header not found"; a method not served -32601.

The dev methods that `RpcChain` uses against anvil are served too (evm_snapshot, evm_revert,
evm_mine, evm_setNextBlockTimestamp, evm_increaseTime, anvil_mine), and `web3_clientVersion`
starts with `EMBEDDED_SERVER_CLIENT`, so `RpcChain` treats this server as a dev node whose dev
accounts are eth-tester's well-known keys. Nothing here is authenticated: bind it to loopback.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Mapping
from importlib import metadata
from typing import Any

import structlog
import trio
from eth_bloom import BloomFilter
from eth_tester.exceptions import BlockNotFound, SnapshotNotFound
from eth_utils import to_checksum_address
from hexbytes import HexBytes
from web3.middleware import combine_middleware
from web3.types import RPCEndpoint

from market_contracts.chain import EMBEDDED_SERVER_CLIENT, EmbeddedChain, Snapshot, decode_revert
from p2p.http_server import INVALID_PARAMS, JsonRpcServer, RpcError

log = structlog.get_logger(__name__)

#: JSON-RPC code of a revert (geth, anvil): the revert data is in `data`
EXECUTION_REVERTED = 3
#: JSON-RPC code of a node's refusal: an invalid transaction, an unknown block
NODE_ERROR = -32000

#: A contract creation carries its initcode (at most 48 KiB, EIP-3860) hex encoded: room for it.
MAX_BODY = 1024 * 1024
#: An estimate can take seconds on py-evm (it reruns the call at each step of its search).
METHOD_TIMEOUT = 120.0
#: The most blocks one eth_feeHistory reports, as geth
MAX_FEE_HISTORY = 1024

BLOCK_TAGS = frozenset({"latest", "earliest", "pending", "safe", "finalized"})
_QUANTITY = re.compile(r"0x[0-9a-fA-F]{1,64}")
_HEX = re.compile(r"0x([0-9a-fA-F]{2})*")

#: Each method served, with its parameters; "name?" is optional. Every other method is -32601.
METHODS: dict[str, tuple[str, ...]] = {
    "web3_clientVersion": (),
    "web3_sha3": ("data",),
    "net_version": (),
    "net_listening": (),
    "net_peerCount": (),
    "eth_chainId": (),
    "eth_syncing": (),
    "eth_accounts": (),
    "eth_blockNumber": (),
    "eth_gasPrice": (),
    "eth_maxPriorityFeePerGas": (),
    "eth_feeHistory": ("blockCount", "newestBlock", "rewardPercentiles?"),
    "eth_getBalance": ("address", "block?"),
    "eth_getCode": ("address", "block?"),
    "eth_getTransactionCount": ("address", "block?"),
    "eth_getStorageAt": ("address", "slot", "block?"),
    "eth_getBlockByNumber": ("block", "fullTransactions?"),
    "eth_getBlockByHash": ("blockHash", "fullTransactions?"),
    "eth_getBlockTransactionCountByNumber": ("block",),
    "eth_getBlockTransactionCountByHash": ("blockHash",),
    "eth_getTransactionByHash": ("transactionHash",),
    "eth_getTransactionByBlockNumberAndIndex": ("block", "index"),
    "eth_getTransactionByBlockHashAndIndex": ("blockHash", "index"),
    "eth_getTransactionReceipt": ("transactionHash",),
    "eth_call": ("transaction", "block?", "stateOverrides?"),
    "eth_estimateGas": ("transaction", "block?", "stateOverrides?"),
    "eth_sendRawTransaction": ("data",),
    "eth_sendTransaction": ("transaction",),
    "eth_getLogs": ("filter",),
    "eth_newFilter": ("filter",),
    "eth_newBlockFilter": (),
    "eth_newPendingTransactionFilter": (),
    "eth_getFilterChanges": ("filterId",),
    "eth_getFilterLogs": ("filterId",),
    "eth_uninstallFilter": ("filterId",),
    # the dev controls
    "evm_snapshot": (),
    "evm_revert": ("snapshotId",),
    "evm_mine": ("timestamp?",),
    "evm_setNextBlockTimestamp": ("timestamp",),
    "evm_increaseTime": ("seconds",),
    "anvil_mine": ("blocks?", "interval?"),
}

#: The methods whose -32000 from eth-tester is a refusal of the transaction, not of the params
_RUNS_TRANSACTIONS = frozenset({"eth_call", "eth_estimateGas", "eth_sendRawTransaction",
                                "eth_sendTransaction"})

#: The fields of a transaction object that eth-tester takes for a call, an estimate, a send.
_CALL_FIELDS = ("from", "to", "gas", "gasPrice", "maxFeePerGas", "maxPriorityFeePerGas", "value",
                "data", "accessList")
_SEND_FIELDS = (*_CALL_FIELDS, "nonce")

#: What eth-tester leaves in snake case in the transactions of a block, or adds (y_parity).
_TRANSACTION_KEYS = {
    "access_list": "accessList", "authorization_list": "authorizationList",
    "blob_versioned_hashes": "blobVersionedHashes", "block_hash": "blockHash",
    "block_number": "blockNumber", "chain_id": "chainId", "gas_price": "gasPrice",
    "max_fee_per_blob_gas": "maxFeePerBlobGas", "max_fee_per_gas": "maxFeePerGas",
    "max_priority_fee_per_gas": "maxPriorityFeePerGas", "transaction_index": "transactionIndex",
    "y_parity": "yParity", "data": "input", "storage_keys": "storageKeys",
}


class EmbeddedL1Server:
    """`chain` over JSON-RPC 2.0 on HTTP at `url` (`http://HOST:PORT`), once `run` has started.

    Port 0 picks a free port; `run` reports the URL through `task_status.started(url)`."""

    def __init__(self, chain: EmbeddedChain, host: str = "127.0.0.1", port: int = 0, *,
                 max_body: int = MAX_BODY, method_timeout: float = METHOD_TIMEOUT):
        self.chain = chain
        self.host = host
        self.node = EmbeddedNode(chain)
        # One request at a time reaches py-evm anyway (the provider's lock): queue them here
        # rather than in blocked threads taken from trio's shared pool.
        self._limiter = trio.CapacityLimiter(1)
        methods = {name: self._handler(name, params) for name, params in METHODS.items()}
        self.rpc = JsonRpcServer(methods, self._health, host=host, port=port, max_body=max_body,
                                 method_timeout=method_timeout, name="the embedded L1 chain")
        self.url: str | None = None

    async def run(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            host, port = await nursery.start(self.rpc.run)
            self.url = f"http://{f'[{host}]' if ':' in host else host}:{port}"
            log.info("serving the embedded L1 chain over JSON-RPC (development only)",
                     url=self.url, chain_id=self.chain.chain_id)
            task_status.started(self.url)

    def _handler(self, method: str, params: tuple[str, ...]) -> Callable:
        async def handler(*args: Any) -> Any:
            return await trio.to_thread.run_sync(self.node.answer, method, args,
                                                 limiter=self._limiter)

        # JsonRpcServer binds the request's params to this: -32602 when they do not fit.
        handler.__signature__ = inspect.Signature([
            inspect.Parameter(name.rstrip("?"), inspect.Parameter.POSITIONAL_ONLY,
                              default=None if name.endswith("?") else inspect.Parameter.empty)
            for name in params])
        handler.__name__ = method
        return handler

    async def _health(self) -> dict:
        number = await trio.to_thread.run_sync(self.node.answer, "eth_blockNumber", (),
                                               limiter=self._limiter)
        return {"status": "ok", "chainId": self.chain.chain_id, "blockNumber": int(number, 16)}


class EmbeddedNode:
    """The blocking half: answers one JSON-RPC call (wire params in, wire result out) on the
    embedded chain, or raises `RpcError`. Safe from any thread."""

    def __init__(self, chain: EmbeddedChain):
        self.chain = chain
        self._provider = chain._provider
        self._tester = chain._provider.ethereum_tester
        # eth-tester's own request and result formatting, without web3's client middleware
        # (ENS, attribute dicts, validation), which a node does not apply.
        self._request = combine_middleware(tuple(self._provider._middleware), chain.w3,
                                           self._provider.make_request)

    def answer(self, method: str, args: tuple) -> Any:
        serve = getattr(self, method, None)
        with self._provider.lock:  # one request at a time, its steps together
            try:
                result = serve(*args) if serve is not None else self._forward(method, list(args))
            except BlockNotFound:
                raise RpcError(NODE_ERROR, "header not found") from None
        return _wire(_RESULTS.get(method, _same)(result))

    def _forward(self, method: str, params: list) -> Any:
        response = self._request(RPCEndpoint(method), params)
        error = response.get("error")
        if error is None:
            return response.get("result")
        code, message = error.get("code"), str(error.get("message", ""))
        if code == EXECUTION_REVERTED:
            data = error.get("data") or "0x"
            raise RpcError(EXECUTION_REVERTED, _revert_message(data), data)
        if code == NODE_ERROR and method not in _RUNS_TRANSACTIONS:
            # eth-tester's validation of the params: a node says they are invalid
            raise RpcError(INVALID_PARAMS, f"invalid argument: {message}")
        raise RpcError(code if isinstance(code, int) else NODE_ERROR, message)

    # ------------------------------------------------------------ identity

    def web3_clientVersion(self) -> str:
        try:
            version = metadata.version("provernet")
        except metadata.PackageNotFoundError:
            version = "unknown"
        tester = self._forward("web3_clientVersion", [])
        return f"{EMBEDDED_SERVER_CLIENT}/v{version}/{tester} (development only)"

    def net_version(self) -> str:
        return str(self.chain.chain_id)

    def net_listening(self) -> bool:
        return True

    def net_peerCount(self) -> int:
        return 0

    def eth_syncing(self) -> bool:
        return False

    # ------------------------------------------------------------ state

    def eth_getBalance(self, address: Any, block: Any = None) -> Any:
        return self._forward("eth_getBalance", [address, self._block(block)])

    def eth_getCode(self, address: Any, block: Any = None) -> Any:
        return self._forward("eth_getCode", [address, self._block(block)])

    def eth_getTransactionCount(self, address: Any, block: Any = None) -> Any:
        return self._forward("eth_getTransactionCount", [address, self._block(block)])

    def eth_getStorageAt(self, address: Any, slot: Any, block: Any = None) -> Any:
        return self._forward("eth_getStorageAt",
                             [address, hex(_quantity(slot, "slot")), self._block(block)])

    def eth_call(self, transaction: Any, block: Any = None, overrides: Any = None) -> Any:
        _no_overrides(overrides)
        return self._forward("eth_call", [_transaction_request(transaction, _CALL_FIELDS),
                                          self._block(block)])

    def eth_estimateGas(self, transaction: Any, block: Any = None, overrides: Any = None) -> Any:
        # Against "pending" unless told: the transaction lands in the next block, whose
        # timestamp evm_setNextBlockTimestamp may have chosen.
        _no_overrides(overrides)
        return self._forward("eth_estimateGas", [_transaction_request(transaction, _CALL_FIELDS),
                                                 self._block(block, "pending")])

    # ------------------------------------------------------------ blocks and transactions

    def eth_getBlockByNumber(self, block: Any, full: Any = None) -> Any:
        return self._forward("eth_getBlockByNumber", [self._block(block), _flag(full)])

    def eth_getBlockByHash(self, block_hash: Any, full: Any = None) -> Any:
        return self._forward("eth_getBlockByHash", [_hash(block_hash), _flag(full)])

    def eth_getBlockTransactionCountByNumber(self, block: Any) -> Any:
        return self._forward("eth_getBlockTransactionCountByNumber", [self._block(block)])

    def eth_getTransactionByBlockNumberAndIndex(self, block: Any, index: Any) -> Any:
        return self._forward("eth_getTransactionByBlockNumberAndIndex",
                             [self._block(block), _quantity(index, "index")])

    def eth_getTransactionByBlockHashAndIndex(self, block_hash: Any, index: Any) -> Any:
        return self._forward("eth_getTransactionByBlockHashAndIndex",
                             [_hash(block_hash), _quantity(index, "index")])

    def eth_sendRawTransaction(self, data: Any) -> Any:
        raw = _data(data, "transaction")
        try:
            transaction = self._tester.backend.chain.get_vm().get_transaction_builder().decode(raw)
            sender = to_checksum_address(transaction.sender)
        except Exception as exc:  # py-evm has no one error type for undecodable bytes
            raise RpcError(NODE_ERROR, f"transaction could not be decoded: {exc}") from None
        chain_id = transaction.chain_id
        if chain_id is not None and chain_id != self.chain.chain_id:
            raise RpcError(NODE_ERROR, f"invalid chain id for signer: have {chain_id} want "
                                       f"{self.chain.chain_id}")
        try:
            return self._forward("eth_sendRawTransaction", [data])
        except RpcError as error:
            raise RpcError(error.code, _refusal(error.message, sender), error.data) from None

    def eth_sendTransaction(self, transaction: Any) -> Any:
        """Signed here with the key of an eth-tester account (`eth_accounts`), as anvil does."""
        request = _transaction_request(transaction, _SEND_FIELDS)
        if "from" not in request:
            raise RpcError(INVALID_PARAMS, 'invalid argument: the transaction needs "from"')
        if "gas" not in request:
            request["gas"] = self._forward("eth_estimateGas", [request, "pending"])
        try:
            return self._forward("eth_sendTransaction", [request])
        except RpcError as error:
            message = _refusal(error.message, to_checksum_address(request["from"]))
            raise RpcError(error.code, message, error.data) from None

    def eth_feeHistory(self, block_count: Any, newest_block: Any,
                       percentiles: Any = None) -> dict:
        """Computed here (eth-tester answers empty lists): each block's base fee, the next
        block's after them, the share of gas used, and the tips at `percentiles` weighted by
        gas used, as geth."""
        count = min(_quantity(block_count, "blockCount"), MAX_FEE_HISTORY)
        if percentiles is not None and (
                not isinstance(percentiles, list)
                or not all(isinstance(p, int | float) and 0 <= p <= 100 for p in percentiles)
                or sorted(percentiles) != percentiles):
            raise RpcError(INVALID_PARAMS, "invalid argument: rewardPercentiles must be numbers "
                                           "from 0 to 100 in ascending order")
        head = self._tester.get_block_by_number("latest")["number"]
        newest = self._block(newest_block)
        if newest == "earliest":
            newest = 0
        elif isinstance(newest, str):  # pending is empty here: its history is latest's
            newest = head
        if newest > head:
            raise RpcError(NODE_ERROR, "header not found")
        oldest = max(0, newest - count + 1) if count else newest + 1
        history: dict[str, Any] = {"oldestBlock": oldest, "baseFeePerGas": [],
                                   "gasUsedRatio": []}
        rewards = []
        for number in range(oldest, newest + 1):
            block = self._tester.get_block_by_number(number, full_transactions=True)
            history["baseFeePerGas"].append(block["base_fee_per_gas"])
            history["gasUsedRatio"].append(block["gas_used"] / block["gas_limit"])
            if percentiles is not None:
                rewards.append(self._rewards(block, percentiles))
        if count:
            after = "pending" if newest == head else newest + 1
            history["baseFeePerGas"].append(
                self._tester.get_block_by_number(after)["base_fee_per_gas"])
        if percentiles is not None:
            history["reward"] = rewards
        return history

    def _rewards(self, block: dict, percentiles: list) -> list[int]:
        base_fee = block["base_fee_per_gas"]
        tips = sorted(
            (min(tx["max_priority_fee_per_gas"], tx["max_fee_per_gas"] - base_fee)
             if "max_fee_per_gas" in tx else tx["gas_price"] - base_fee,
             self._tester.get_transaction_receipt(tx["hash"])["gas_used"])
            for tx in block["transactions"])
        if not tips:
            return [0] * len(percentiles)
        rewards, used, index = [], 0, 0
        for percentile in percentiles:
            threshold = block["gas_used"] * percentile / 100
            while index < len(tips) - 1 and used + tips[index][1] < threshold:
                used += tips[index][1]
                index += 1
            rewards.append(tips[index][0])
        return rewards

    # ------------------------------------------------------------ logs

    def eth_getLogs(self, log_filter: Any) -> Any:
        return self._forward("eth_getLogs", [self._filter(log_filter)])

    def eth_newFilter(self, log_filter: Any) -> Any:
        return self._forward("eth_newFilter", [self._filter(log_filter)])

    def _filter(self, log_filter: Any) -> dict:
        if not isinstance(log_filter, Mapping):
            raise RpcError(INVALID_PARAMS, "invalid argument: a filter is a JSON object")
        request = {key: log_filter[key] for key in ("address", "topics")
                   if log_filter.get(key) is not None}
        if log_filter.get("blockHash") is not None:
            if log_filter.get("fromBlock") is not None or log_filter.get("toBlock") is not None:
                raise RpcError(INVALID_PARAMS, "invalid argument: cannot specify both blockHash "
                                               "and fromBlock/toBlock, choose one or the other")
            number = self._number_of(log_filter["blockHash"])
            request |= {"fromBlock": number, "toBlock": number}
        else:
            request |= {key: self._block(log_filter.get(key))
                        for key in ("fromBlock", "toBlock")}
        return request

    # ------------------------------------------------------------ dev controls

    def evm_snapshot(self) -> int:
        return self.chain.snapshot().id

    def evm_revert(self, snapshot_id: Any) -> bool:
        """True, or False for a snapshot it does not know; unlike anvil's, a snapshot stays
        valid after a revert to it."""
        try:
            self.chain.revert(Snapshot(_quantity(snapshot_id, "snapshot id")))
        except SnapshotNotFound:
            return False
        return True

    def evm_mine(self, options: Any = None) -> str:
        """Mines a block now; given a timestamp (or anvil's `{"timestamp", "blocks"}`), the first
        block has it."""
        blocks, timestamp = 1, options
        if isinstance(options, Mapping):
            blocks = _quantity(options.get("blocks", 1), "blocks")
            timestamp = options.get("timestamp")
        if timestamp is not None:
            self._set_next_timestamp(_quantity(timestamp, "timestamp"))
        for _ in range(blocks):
            self.chain.mine()
        return "0x0"

    def anvil_mine(self, blocks: Any = None, interval: Any = None) -> None:
        count = 1 if blocks is None else _quantity(blocks, "blocks")
        step = None if interval is None else _quantity(interval, "interval")
        for _ in range(count):
            if step:
                self._set_next_timestamp(self.chain.latest_timestamp() + step)
            self.chain.mine()

    def evm_setNextBlockTimestamp(self, timestamp: Any) -> None:
        self._set_next_timestamp(_quantity(timestamp, "timestamp"))

    def evm_increaseTime(self, seconds: Any) -> int:
        """The next block comes `seconds` later than it would have (blocks after it follow
        the wall clock again, or one second apart until it catches up)."""
        step = _quantity(seconds, "seconds")
        if step:
            pending = self._tester.get_block_by_number("pending")["timestamp"]
            self._set_next_timestamp(max(pending, self.chain.latest_timestamp() + 1) + step)
        return step

    def _set_next_timestamp(self, timestamp: int) -> None:
        latest = self.chain.latest_timestamp()
        if timestamp <= latest:
            raise RpcError(NODE_ERROR, f"timestamp error: {timestamp} is lower than or equal to "
                                       f"the previous block's timestamp {latest}")
        self.chain.set_next_block_timestamp(timestamp)

    # ------------------------------------------------------------ parameters

    def _block(self, value: Any, default: str = "latest") -> int | str:
        """A block identifier (a number, a tag, a hash, or an EIP-1898 object) as eth-tester
        takes it: a number or a tag."""
        if value is None:
            return default
        if isinstance(value, str):
            if value in BLOCK_TAGS:
                return value
            if len(value) == 66:  # a block hash, as geth takes it
                return self._number_of(value)
            return _quantity(value, "block number")
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
        if isinstance(value, Mapping):  # EIP-1898
            if value.get("blockNumber") is not None:
                return self._block(value["blockNumber"])
            if value.get("blockHash") is not None:
                return self._number_of(value["blockHash"])
        raise RpcError(INVALID_PARAMS, f"invalid argument: {value!r} is not a block number, "
                                       "hash or tag (latest, earliest, pending, safe, finalized)")

    def _number_of(self, block_hash: Any) -> int:
        return self._tester.get_block_by_hash(_hash(block_hash))["number"]


# ---------------------------------------------------------------- params, errors, results


def _quantity(value: Any, what: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str) and _QUANTITY.fullmatch(value):
        return int(value, 16)
    raise RpcError(INVALID_PARAMS, f"invalid argument: {what} {value!r} is not a hex quantity")


def _data(value: Any, what: str) -> bytes:
    if isinstance(value, str) and _HEX.fullmatch(value):
        return bytes.fromhex(value[2:])
    raise RpcError(INVALID_PARAMS, f"invalid argument: {what} {str(value)[:80]!r} is not 0x hex "
                                   "data")


def _hash(value: Any) -> str:
    if len(_data(value, "hash")) != 32:
        raise RpcError(INVALID_PARAMS, f"invalid argument: hash {value!r} is not 32 bytes")
    return value


def _flag(value: Any) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        raise RpcError(INVALID_PARAMS, f"invalid argument: {value!r} is not a boolean")
    return value


def _no_overrides(overrides: Any) -> None:
    if overrides:
        raise RpcError(INVALID_PARAMS, "invalid argument: state overrides are not supported "
                                       "by the embedded chain")


def _transaction_request(transaction: Any, fields: tuple[str, ...]) -> dict:
    """The fields eth-tester takes: `input` is `data`, and those it has no use for (type,
    chainId, blob fields) are dropped rather than refused."""
    if not isinstance(transaction, Mapping):
        raise RpcError(INVALID_PARAMS, "invalid argument: a transaction is a JSON object")
    request = dict(transaction)
    if request.get("input") is not None:
        given = request.pop("input")
        if request.get("data") is not None and request["data"] != given:
            raise RpcError(INVALID_PARAMS, 'invalid argument: both "data" and "input" are set '
                                           "and not equal; use input")
        request["data"] = given
    return {key: request[key] for key in fields if request.get(key) is not None}


def _revert_message(data: str) -> str:
    """geth's and anvil's "execution reverted: ..." with the reason decoded against every
    compiled artifact's errors."""
    try:
        reason, args = decode_revert(bytes(HexBytes(data)))
    except ValueError:
        return "execution reverted"
    if not reason:
        return "execution reverted"
    if reason.startswith("0x"):
        return f"execution reverted: custom error {reason}"
    if data[2:10] in ("08c379a0", "4e487b71"):  # Error(string), Panic(uint256)
        return f"execution reverted: {reason}"
    return f"execution reverted: {reason}({', '.join(_shown(arg) for arg in args)})"


def _shown(value: Any) -> str:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, list | tuple):
        return "(" + ", ".join(_shown(item) for item in value) + ")"
    return str(value)


#: py-evm's refusals of a transaction, and geth's words for them
_REFUSALS: list[tuple[re.Pattern, Callable[[re.Match, str], str]]] = [
    (re.compile(r"Invalid transaction nonce: Expected (\d+), but got (\d+)"),
     lambda m, sender: (f"nonce too {'low' if int(m[2]) < int(m[1]) else 'high'}: address "
                        f"{sender}, tx: {m[2]} state: {m[1]}")),
    (re.compile(r"Sender (0x[0-9a-fA-F]{40}) cannot afford txn gas (\d+) with account balance "
                r"(\d+)"),
     lambda m, sender: (f"insufficient funds for gas * price + value: address {sender} have "
                        f"{m[3]} want {m[2]}")),
    (re.compile(r"Sender's max fee per gas \((\d+)\) is lower than block's base fee per gas "
                r"\((\d+)\)"),
     lambda m, sender: (f"max fee per gas less than block base fee: address {sender}, "
                        f"maxFeePerGas: {m[1]}, baseFee: {m[2]}")),
    (re.compile(r"[Ii]nsufficient gas|[Ii]ntrinsic gas"),
     lambda m, sender: "intrinsic gas too low"),
    (re.compile(r"exceeds (the )?(block )?gas limit", re.IGNORECASE),
     lambda m, sender: "exceeds block gas limit"),
]


def _refusal(message: str, sender: str) -> str:
    for pattern, words in _REFUSALS:
        match = pattern.search(message)
        if match:
            return words(match, sender)
    return message


def _same(value: Any) -> Any:
    return value


def _block_result(block: Any) -> Any:
    if not isinstance(block, Mapping):
        return block
    block = dict(block)
    if isinstance(block.get("logsBloom"), int):
        block["logsBloom"] = block["logsBloom"].to_bytes(256, "big")
    block["transactions"] = [_transaction_result(tx) for tx in block.get("transactions", [])]
    return block


def _transaction_result(transaction: Any) -> Any:
    if not isinstance(transaction, Mapping):
        return transaction  # a hash
    result = {}
    for key, value in transaction.items():
        if key in ("access_list", "accessList"):
            value = [{_TRANSACTION_KEYS.get(k, k): v for k, v in entry.items()} for entry in value]
        result[_TRANSACTION_KEYS.get(key, key)] = value
    if result.get("to") == "":
        result["to"] = None
    return result


def _receipt_result(receipt: Any) -> Any:
    if not isinstance(receipt, Mapping):
        return receipt
    # state_root is eth-tester's leftover of pre-Byzantium receipts: `status` says it now
    receipt = {key: value for key, value in receipt.items() if key != "state_root"}
    if receipt.get("to") == "":  # a contract creation
        receipt["to"] = None
    receipt["logs"] = _logs_result(receipt.get("logs", []))
    if "logsBloom" not in receipt:
        bloom = BloomFilter()
        for entry in receipt["logs"]:
            bloom.add(bytes(HexBytes(entry["address"])))
            for topic in entry["topics"]:
                bloom.add(bytes(HexBytes(topic)))
        receipt["logsBloom"] = int(bloom).to_bytes(256, "big")
    return receipt


def _logs_result(logs: Any) -> Any:
    if not isinstance(logs, list):
        return logs
    return [{**{k: v for k, v in entry.items() if k != "type"}, "removed": False}
            if isinstance(entry, Mapping) else entry for entry in logs]


_RESULTS: dict[str, Callable[[Any], Any]] = {
    "eth_getBlockByNumber": _block_result,
    "eth_getBlockByHash": _block_result,
    "eth_getTransactionByHash": _transaction_result,
    "eth_getTransactionByBlockNumberAndIndex": _transaction_result,
    "eth_getTransactionByBlockHashAndIndex": _transaction_result,
    "eth_getTransactionReceipt": _receipt_result,
    "eth_getLogs": _logs_result,
    "eth_getFilterLogs": _logs_result,
    "eth_getFilterChanges": _logs_result,
}


def _wire(value: Any) -> Any:
    """eth-tester's Python values as JSON-RPC writes them: ints as hex quantities, bytes as 0x
    hex data; strings (hex already, or addresses), floats, booleans and null as they are."""
    if isinstance(value, bool) or value is None or isinstance(value, str | float):
        return value
    if isinstance(value, int):
        return hex(value)
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    if isinstance(value, Mapping):
        return {str(key): _wire(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_wire(item) for item in value]
    raise TypeError(f"cannot write {type(value).__name__} {value!r} as JSON-RPC")
