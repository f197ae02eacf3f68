"""One synchronous interface to an Ethereum chain: embedded (py-evm), or any JSON-RPC node.

Transactions are always signed here with a `LocalAccount`, never by the node, so the embedded
chain, anvil and a public endpoint behave the same. Reverts come back as `TransactionFailed`
with the custom error decoded against every compiled artifact, so an error raised by a contract
the caller did not talk to directly (the token, inside a staking call) still has a name.

Everything blocks; trio services call it through `trio.to_thread.run_sync`, so transactions
from several threads at once must be safe (one nonce lock per sender address).
"""

from __future__ import annotations

import ast
import functools
import json
import os
import re
import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eth_abi import decode as abi_decode
from eth_abi.exceptions import DecodingError
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import (
    abi_to_signature,
    function_signature_to_4byte_selector,
    get_abi_input_names,
    get_abi_input_types,
    to_checksum_address,
)
from hexbytes import HexBytes
from web3 import EthereumTesterProvider, HTTPProvider, Web3
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.exceptions import ContractLogicError, TimeExhausted, Web3RPCError
from web3.types import RPCEndpoint, TxReceipt

from market_contracts.compile import ARTIFACTS_DIR
from market_contracts.errors import (
    ChainError,
    NotADevChain,
    ReceiptTimeout,
    RpcUnreachable,
    TransactionFailed,
    TransactionRejected,
    WrongChainId,
)

ANVIL_MNEMONIC = "test test test test test test test test test test test junk"
ANVIL_DEV_ACCOUNT_COUNT = 10
#: How `market_contracts.l1_server` (the embedded chain served over JSON-RPC by `provernet devnet`)
#: starts its `web3_clientVersion`: RpcChain treats it as a dev node, like anvil, whose dev
#: accounts are eth-tester's well-known keys.
EMBEDDED_SERVER_CLIENT = "provernet-embedded"
EMBEDDED = "embedded"

ERROR_STRING_SELECTOR = bytes.fromhex("08c379a0")  # Error(string), from require(cond, "msg")
PANIC_SELECTOR = bytes.fromhex("4e487b71")  # Panic(uint256), from overflow, assert, ...

# A node that accepts TCP but never answers must not hang start-up for the read timeout.
CONNECT_TIMEOUT_S = 5.0


# ------------------------------------------------------------------------------ revert decoding


@functools.cache
def _artifact_errors() -> dict[bytes, dict]:
    """Selector -> error ABI over every compiled artifact: errors bubble up through calls."""
    errors: dict[bytes, dict] = {}
    for path in sorted(ARTIFACTS_DIR.glob("*.json")):
        errors.update(_errors_of(json.loads(path.read_text())["abi"]))
    return errors


def _errors_of(abi: Sequence[dict]) -> dict[bytes, dict]:
    return {
        function_signature_to_4byte_selector(abi_to_signature(entry)): entry
        for entry in abi
        if entry.get("type") == "error"
    }


def decode_revert(data: bytes, abi: Sequence[dict] = ()) -> tuple[str, tuple]:
    """`(reason, args)` of revert data: the custom error's name and arguments, the message of
    `Error(string)`, "Panic(0x11)" style for panics, "" when there is no data, the selector in
    hex for an error that no known ABI declares."""
    reason, args, _ = _decode(bytes(data), abi)
    return reason, args


def _decode(data: bytes, abi: Sequence[dict]) -> tuple[str, tuple, str]:
    """`decode_revert`, plus how the revert reads in a message."""
    if len(data) < 4:
        return "", (), "reverted without a reason"
    selector, payload = data[:4], data[4:]
    try:
        if selector == ERROR_STRING_SELECTOR:
            message = abi_decode(["string"], payload)[0]
            return message, (), f"reverted: {message}"
        if selector == PANIC_SELECTOR:
            code = abi_decode(["uint256"], payload)[0]
            return f"Panic(0x{code:02x})", (code,), f"reverted with Panic(0x{code:02x})"
        entry = _errors_of(abi).get(selector) or _artifact_errors().get(selector)
        if entry is not None:
            args = tuple(abi_decode(get_abi_input_types(entry), payload))
            shown = ", ".join(f"{name}={arg!r}" if name else repr(arg)
                              for name, arg in zip(get_abi_input_names(entry), args, strict=True))
            return entry["name"], args, f"reverted with {entry['name']}({shown})"
    except DecodingError:
        pass
    return ("0x" + selector.hex(), (),
            f"reverted with an error that no known ABI declares: 0x{data.hex()}")


def _revert_bytes(data: Any) -> bytes:
    """Revert data as nodes return it: hex, a geth-style `{"data": hex}`, or web3's "no data"."""
    if isinstance(data, dict):
        data = data.get("data")
    if isinstance(data, str) and data.startswith("0x"):
        return bytes(HexBytes(data))
    return b""


def _failure(what: str, data: bytes, abi: Sequence[dict]) -> TransactionFailed:
    reason, args, text = _decode(data, abi)
    return TransactionFailed(f"{what} {text}", reason, args)


def _describe_call(fn: ContractFunction) -> str:
    shown = ", ".join(repr(a) for a in fn.args or ())
    return f"{fn.fn_name}({shown}) on {fn.address}"


def _rpc_message(exc: Web3RPCError) -> str:
    """The node's own words: web3 puts the whole error object, as a dict repr, in the message."""
    error = (exc.rpc_response or {}).get("error")
    message = error.get("message") if isinstance(error, dict) else None
    return " ".join(str(message or exc.message).split())


# ------------------------------------------------------------------------------------ the interface


@dataclass
class Snapshot:
    """A chain state to return to, re-usable: reverting to it keeps it valid on both backends.

    Reverting to a snapshot drops the snapshots taken after it on anvil (not on the embedded chain);
    code that nests snapshots must revert innermost first."""

    id: Any


class Chain(ABC):
    """A chain reachable from this process; `EmbeddedChain` and `RpcChain` are the two kinds."""

    w3: Web3
    chain_id: int
    dev_accounts: list[LocalAccount]
    is_dev: bool  # offers time travel, snapshots and on-demand mining
    name: str  # how messages refer to it
    receipt_timeout: float

    def __init__(self, w3: Web3, chain_id: int, dev_accounts: list[LocalAccount], *, is_dev: bool,
                 name: str, receipt_timeout: float):
        self.w3 = w3
        self.name = name
        self.chain_id = chain_id
        self.dev_accounts = dev_accounts
        self.is_dev = is_dev
        self.receipt_timeout = receipt_timeout
        self._nonce_locks: dict[str, threading.Lock] = {}
        self._nonce_locks_guard = threading.Lock()

    # -------------------------------------------------------------------- transactions

    def transact(self, account: LocalAccount, fn: ContractFunction | None = None, *,
                 to: str | None = None, value: int = 0, data: bytes = b"",
                 gas: int | None = None) -> TxReceipt:
        """Sign, send and wait; a revert (at estimation or once mined) raises `TransactionFailed`.

        Without `fn`, sends `data` to `to` (a contract creation when `to` is None)."""
        if fn is not None and (to is not None or data):
            raise TypeError("give either a contract function or `to`/`data`, not both")
        if fn is not None:
            return self._transact(account, {"to": fn.address, "value": value,
                                            "data": HexBytes(fn._encode_transaction_data())},
                                  gas, fn.contract_abi, _describe_call(fn))
        fields = {"value": value, "data": HexBytes(data)}
        if to is not None:
            fields["to"] = to_checksum_address(to)
        what = f"transaction to {fields['to']}" if to is not None else "contract creation"
        return self._transact(account, fields, gas, (), what)

    def call(self, fn: ContractFunction, block_identifier: Any = "latest", *,
             sender: str | None = None) -> Any:
        """eth_call (as `sender`, if given: what its transaction would do, sending nothing) with
        the same revert decoding as `transact`."""
        try:
            return fn.call({} if sender is None else {"from": to_checksum_address(sender)},
                           block_identifier=block_identifier)
        except ContractLogicError as exc:
            raise _failure(_describe_call(fn), _revert_bytes(exc.data), fn.contract_abi) from None

    def deploy(self, account: LocalAccount, artifact: dict, *args: Any) -> Contract:
        factory = self.w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
        data = HexBytes(factory.constructor(*args).data_in_transaction)
        name = artifact.get("contractName", "contract")
        receipt = self._transact(account, {"value": 0, "data": data}, None, artifact["abi"],
                                 f"deploying {name}")
        return self.w3.eth.contract(address=receipt["contractAddress"], abi=artifact["abi"])

    def send_eth(self, from_account: LocalAccount, to: str, amount_wei: int) -> TxReceipt:
        return self.transact(from_account, to=to, value=amount_wei)

    def _transact(self, account: LocalAccount, fields: dict, gas: int | None,
                  abi: Sequence[dict], what: str) -> TxReceipt:
        sender = account.address
        tx = {**fields, "chainId": self.chain_id}
        if gas is None:
            gas = self._estimate_gas({**tx, "from": sender}, abi, what)
        tx["gas"] = gas
        tx.update(self._fees())
        with self._nonce_lock(sender):
            # The node's pending count, read under the lock, is the only nonce source: a local
            # counter would go stale on `revert()` and after a rejected send.
            tx["nonce"] = self.w3.eth.get_transaction_count(sender, "pending")
            raw = account.sign_transaction(tx).raw_transaction
            try:
                tx_hash = self.w3.eth.send_raw_transaction(raw)
            except Web3RPCError as exc:
                raise TransactionRejected(
                    f"the node refused {what} from {sender}: {_rpc_message(exc)}") from None
        try:
            receipt = self.w3.eth.wait_for_transaction_receipt(
                tx_hash, timeout=self.receipt_timeout, poll_latency=0.05)
        except TimeExhausted:
            raise ReceiptTimeout(
                f"{what} ({tx_hash.to_0x_hex()}) was not mined within {self.receipt_timeout:g} s; "
                "check that the node is mining and the fee is high enough") from None
        if receipt["status"] != 1:
            raise self._mined_failure({**tx, "from": sender}, receipt, abi, what)
        return receipt

    def _estimate_gas(self, tx: dict, abi: Sequence[dict], what: str) -> int:
        # Against "pending": the transaction lands in the next block, whose timestamp is the one
        # `set_next_block_timestamp` chose; "latest" would still see the previous block's.
        try:
            estimate = self.w3.eth.estimate_gas(tx, "pending")
        except ContractLogicError as exc:
            raise _failure(what, _revert_bytes(exc.data), abi) from None
        except Web3RPCError as exc:
            raise TransactionRejected(
                f"the node cannot run {what} from {tx['from']}: {_rpc_message(exc)}") from None
        # Headroom for state that changes between estimation and inclusion.
        return estimate + estimate // 5

    def _fees(self) -> dict:
        base_fee = self.w3.eth.get_block("latest").get("baseFeePerGas")
        if base_fee is None:
            return {"gasPrice": self.w3.eth.gas_price}
        tip = self.w3.eth.max_priority_fee
        # Twice the base fee survives six full blocks of base-fee increases.
        return {"type": 2, "maxPriorityFeePerGas": tip, "maxFeePerGas": 2 * base_fee + tip}

    def _mined_failure(self, tx: dict, receipt: TxReceipt, abi: Sequence[dict],
                       what: str) -> TransactionFailed:
        """Receipts carry no revert data: replay the call on the state of its block to get it."""
        # Without its gas limit, so that a revert shows its reason rather than running out of gas.
        call = {k: tx[k] for k in ("from", "to", "value", "data") if k in tx}
        where = f"{what} ({receipt['transactionHash'].to_0x_hex()}, block {receipt['blockNumber']})"
        try:
            self.w3.eth.call(call, receipt["blockNumber"])
        except ContractLogicError as exc:
            return _failure(where, _revert_bytes(exc.data), abi)
        except Web3RPCError as exc:
            return TransactionFailed(f"{where} failed on chain; replaying it: {_rpc_message(exc)}")
        return TransactionFailed(
            f"{where} failed on chain using {receipt['gasUsed']} of {tx['gas']} gas, but replaying "
            "it succeeds: it probably ran out of gas; leave `gas` unset to estimate it")

    def _nonce_lock(self, address: str) -> threading.Lock:
        with self._nonce_locks_guard:
            return self._nonce_locks.setdefault(address, threading.Lock())

    # -------------------------------------------------------------------- time and state

    def latest_timestamp(self) -> int:
        return self.w3.eth.get_block("latest")["timestamp"]

    def set_next_block_timestamp(self, timestamp: int) -> None:
        """The next block (mined by a transaction or `mine()`) gets exactly this timestamp.

        It must be later than the latest block's, on both backends: py-evm refuses a block as
        old as its parent (anvil would take it). The embedded chain mines each transaction in its
        own block one second after the previous one, so a step of several transactions moves
        `latest_timestamp()` by several seconds."""
        self._require_dev("setting the next block's timestamp")
        latest = self.latest_timestamp()
        if timestamp <= latest:
            raise ChainError(f"cannot set the next block's timestamp to {timestamp}: the latest "
                             f"block already has {latest}; time only moves forward")
        self._set_next_block_timestamp(timestamp)

    def mine(self) -> None:
        """Mine one block, empty unless transactions are waiting."""
        self._require_dev("mining on demand")
        self._mine()

    def increase_time(self, seconds: int) -> None:
        """Mine one block `seconds` after the latest, so that calls on "latest" see the new time."""
        if seconds < 1:
            raise ChainError(f"cannot increase time by {seconds} s; give at least 1 s")
        self.set_next_block_timestamp(self.latest_timestamp() + seconds)
        self._mine()

    def snapshot(self) -> Snapshot:
        self._require_dev("taking a snapshot")
        return self._snapshot()

    def revert(self, snapshot: Snapshot) -> None:
        self._require_dev("reverting to a snapshot")
        self._revert(snapshot)

    def _require_dev(self, what: str) -> None:
        if not self.is_dev:
            raise NotADevChain(f"{what} needs a dev node (anvil or the embedded chain), but "
                               f"{self.name} is not one; time and state cannot be controlled there")

    # Each backend's way of doing the dev controls; only called once `is_dev` is checked.
    @abstractmethod
    def _set_next_block_timestamp(self, timestamp: int) -> None: ...

    @abstractmethod
    def _mine(self) -> None: ...

    @abstractmethod
    def _snapshot(self) -> Snapshot: ...

    @abstractmethod
    def _revert(self, snapshot: Snapshot) -> None: ...


# ------------------------------------------------------------------------------------ embedded


class _Reverted(Exception):
    """Carries raw revert data from the eth-tester backend out to the provider, intact."""

    def __init__(self, data: bytes):
        super().__init__(data)
        self.data = data


def _raw_revert_backend():
    """A py-evm backend whose reverts keep their raw data, and that estimates against "pending".

    eth-tester flattens revert data into a message (`repr` of the bytes, or the decoded string of
    `Error(string)`), and refuses to estimate against the pending block. Both overrides follow
    eth-tester 0.14's own `call` and `estimate_gas`, minus the flattening.

    It also fixes prevrandao: eth-tester runs the pending block's transactions with a zero
    mixHash and draws a random one only when mining, so contracts saw prevrandao 0 (the
    Rollup's randomness was predictable), headers disagreed with what contracts saw, and
    re-importing such a block on a snapshot revert failed. Here the pending header gets its
    random mixHash up front and the block is mined with that same value."""
    from eth.exceptions import Revert, VMError
    from eth.vm.forks import PragueVM
    from eth.vm.spoof import SpoofTransaction
    from eth_tester.backends.pyevm.main import (
        ZERO_ADDRESS,
        PyEVMBackend,
        _execute_and_revert_transaction,
        _get_block_by_number,
        get_total_blob_gas,
    )
    from eth_utils import to_tuple

    class RawRevertBackend(PyEVMBackend):
        def __init__(self):
            super().__init__()
            self.draw_prevrandao()

        def draw_prevrandao(self):
            self.chain.header = self.chain.header.copy(mix_hash=os.urandom(32))

        @to_tuple
        def mine_blocks(self, num_blocks=1, coinbase=ZERO_ADDRESS):
            for _ in range(num_blocks):
                mined = {"coinbase": coinbase, "mix_hash": self.chain.header.mix_hash}
                if isinstance(self.chain.get_vm(), PragueVM):
                    mined["blob_gas_used"] = sum(
                        get_total_blob_gas(tx) for tx in self.chain.get_block().transactions)
                block = self.chain.mine_block(**mined)
                self.draw_prevrandao()
                yield block.hash

        def revert_to_snapshot(self, snapshot):
            super().revert_to_snapshot(snapshot)
            self.draw_prevrandao()

        def call(self, transaction, block_number="latest"):
            transaction = {"gas": self._max_available_gas(), **transaction}
            unsigned = self._get_normalized_and_unsigned_evm_transaction(transaction, block_number)
            computation = _execute_and_revert_transaction(
                self.chain, SpoofTransaction(unsigned, from_=transaction["from"]), block_number)
            if computation.is_error:
                reverted = isinstance(computation.error, Revert)
                raise _Reverted(computation.output if reverted else b"")
            return computation.output

        def estimate_gas(self, transaction, block_number="latest"):
            unsigned = self._get_normalized_and_unsigned_evm_transaction(
                {**transaction, "gas": 21000}, block_number)
            header = (self.chain.header if block_number == "pending"
                      else _get_block_by_number(self.chain, block_number).header)
            try:
                return self.chain.estimate_gas(
                    SpoofTransaction(unsigned, from_=transaction["from"]), header)
            except Revert as exc:
                raise _Reverted(exc.args[0] if exc.args else b"") from exc
            except VMError as exc:
                raise _Reverted(b"") from exc

    return RawRevertBackend()


def _readable_addresses(message: str) -> str:
    """py-evm names accounts by the repr of their 20 raw bytes; show them as addresses."""

    def checksum(match: re.Match) -> str:
        try:
            raw = ast.literal_eval(match.group(0))
        except (ValueError, SyntaxError):
            return match.group(0)
        return to_checksum_address(raw) if len(raw) == 20 else match.group(0)

    return re.sub(r"b'(?:[^'\\]|\\.)*'|b\"(?:[^\"\\]|\\.)*\"", checksum, message)


class _EmbeddedProvider(EthereumTesterProvider):
    """Answers like a JSON-RPC node (revert data in `error.data`, refusals as errors) and
    serialises requests: py-evm is not thread-safe."""

    def __init__(self):
        from eth_tester import EthereumTester

        super().__init__(EthereumTester(_raw_revert_backend()))
        self.lock = threading.RLock()

    def make_request(self, method: RPCEndpoint, params: Any):
        from eth_tester.exceptions import ValidationError as TesterValidationError
        from eth_utils import ValidationError as EvmValidationError

        with self.lock:
            try:
                return super().make_request(method, params)
            except _Reverted as exc:
                error = {"code": 3, "message": "execution reverted", "data": "0x" + exc.data.hex()}
            except (TesterValidationError, EvmValidationError) as exc:
                error = {"code": -32000, "message": _readable_addresses(str(exc))}
            self._current_request_id += 1
            return {"jsonrpc": "2.0", "id": repr(self._current_request_id), "error": error}


class EmbeddedChain(Chain):
    """An in-process py-evm chain: no node to run, state lost with the process."""

    def __init__(self, *, receipt_timeout: float = 30.0):
        self._provider = _EmbeddedProvider()
        tester = self._provider.ethereum_tester
        keys = tester.backend.account_keys
        w3 = Web3(self._provider)
        super().__init__(w3, w3.eth.chain_id, [Account.from_key(k.to_bytes()) for k in keys],
                         is_dev=True, name="the embedded chain", receipt_timeout=receipt_timeout)
        self._tester = tester

    def _snapshot(self) -> Snapshot:
        with self._provider.lock:
            return Snapshot(self._tester.take_snapshot())

    def _revert(self, snapshot: Snapshot) -> None:
        with self._provider.lock:
            self._tester.revert_to_snapshot(snapshot.id)

    def _mine(self) -> None:
        with self._provider.lock:
            self._tester.mine_blocks(1)

    def _set_next_block_timestamp(self, timestamp: int) -> None:
        # eth-tester's `time_travel(t)` mines an extra block at t - 1 so that the *pending* block
        # has t; setting the pending header directly gives anvil's semantics with no extra block.
        backend = self._tester.backend
        with self._provider.lock:
            backend.chain.header = backend.chain.header.copy(timestamp=timestamp)


# ------------------------------------------------------------------------------------ JSON-RPC


def _short_cause(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    errno = re.search(r"\[Errno [^\]]+\][^'\")]*", text)
    if errno:
        return errno.group(0).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class _HttpProvider(HTTPProvider):
    """Turns transport failures into `RpcUnreachable`, and does not retry: the trio services
    own the retry policy, and a dead node should surface at once, not after seconds of backoff.

    It caches `eth_chainId`: web3's validation asks for it before every `eth_call` and
    `eth_estimateGas`, which doubled the round trips of a coordinator's reads; `RpcChain` checks
    the id once at connection, and every transaction is signed for it, so a node that changed
    chains would refuse them rather than be misled."""

    def __init__(self, url: str, request_timeout: float):
        super().__init__(url, request_kwargs={"timeout": (CONNECT_TIMEOUT_S, request_timeout)},
                         exception_retry_configuration=None, cache_allowed_requests=True,
                         cacheable_requests={RPCEndpoint("eth_chainId")})

    def _make_request(self, method: RPCEndpoint, request_data: bytes) -> bytes:
        try:
            return super()._make_request(method, request_data)
        except OSError as exc:  # every `requests` failure is one
            raise RpcUnreachable(f"cannot reach JSON-RPC endpoint {self.endpoint_uri}: "
                                 f"{_short_cause(exc)}; is the node running?") from None


@functools.cache
def _anvil_accounts() -> tuple[LocalAccount, ...]:
    Account.enable_unaudited_hdwallet_features()
    return tuple(Account.from_mnemonic(ANVIL_MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}")
                 for i in range(ANVIL_DEV_ACCOUNT_COUNT))


@functools.cache
def _eth_tester_accounts() -> tuple[LocalAccount, ...]:
    """The keys eth-tester funds by default (private keys 1 to 10): the embedded chain's."""
    from eth_tester.backends.pyevm.main import get_default_account_keys

    return tuple(Account.from_key(key.to_bytes()) for key in get_default_account_keys())


class RpcChain(Chain):
    """A node behind an HTTP JSON-RPC URL; anvil, and the embedded chain served by another
    process (`provernet devnet`), are recognised and get the dev controls."""

    def __init__(self, url: str, *, expected_chain_id: int | None = None,
                 request_timeout: float = 30.0, receipt_timeout: float = 120.0):
        self.url = url
        w3 = Web3(_HttpProvider(url, request_timeout))
        try:
            chain_id = w3.eth.chain_id
        except (ValueError, Web3RPCError) as exc:  # it answers, but not JSON-RPC
            raise RpcUnreachable(f"{url} does not answer eth_chainId: {_short_cause(exc)}; "
                                 "is it a JSON-RPC endpoint?") from None
        if expected_chain_id is not None and chain_id != expected_chain_id:
            raise WrongChainId(f"endpoint {url} serves chain id {chain_id}, "
                               f"the deployment is on {expected_chain_id}")
        try:
            self.client_version = w3.client_version
        except Web3RPCError:
            self.client_version = "unknown client"
        version = self.client_version.lower()
        is_anvil = version.startswith("anvil")
        is_dev = is_anvil or version.startswith(EMBEDDED_SERVER_CLIENT)
        dev_accounts = []
        if is_dev:  # only the keys this node actually funded (anvil may run another mnemonic)
            unlocked = set(w3.eth.accounts)
            known = _anvil_accounts() if is_anvil else _eth_tester_accounts()
            dev_accounts = [a for a in known if a.address in unlocked]
        super().__init__(w3, chain_id, dev_accounts, is_dev=is_dev,
                         name=f"{url} ({self.client_version})", receipt_timeout=receipt_timeout)

    def _dev_request(self, method: str, params: list) -> Any:
        return self.w3.manager.request_blocking(RPCEndpoint(method), params)

    def _snapshot(self) -> Snapshot:
        return Snapshot(self._dev_request("evm_snapshot", []))

    def _revert(self, snapshot: Snapshot) -> None:
        if not self._dev_request("evm_revert", [snapshot.id]):
            raise ChainError(f"anvil no longer knows snapshot {snapshot.id}: a revert to an "
                             "earlier snapshot dropped it; revert nested snapshots innermost first")
        # anvil's snapshots are single use: take it again so that the same object stays valid.
        snapshot.id = self._dev_request("evm_snapshot", [])

    def _mine(self) -> None:
        self._dev_request("evm_mine", [])

    def _set_next_block_timestamp(self, timestamp: int) -> None:
        self._dev_request("evm_setNextBlockTimestamp", [timestamp])


def connect(rpc_url: str | None, expected_chain_id: int | None = None) -> Chain:
    """`None` or "embedded" gives a fresh in-process chain; anything else is a JSON-RPC URL."""
    if rpc_url is None or rpc_url == EMBEDDED:
        chain = EmbeddedChain()
        if expected_chain_id is not None and chain.chain_id != expected_chain_id:
            raise WrongChainId(
                f"the embedded chain has chain id {chain.chain_id}, the deployment is on "
                f"{expected_chain_id}; an embedded chain lives only inside its process, so pass "
                "the RPC URL of the node the deployment was made on")
        return chain
    return RpcChain(rpc_url, expected_chain_id=expected_chain_id)
