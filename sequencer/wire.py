"""How transactions, accounts, blocks and L1 messages look in the sequencer's JSON-RPC API, and
the transaction hash.

JSON numbers lose precision past 2^53 in many readers, so every field element
(addresses, keys, signatures, roots, hashes) travels as a 0x-prefixed hex
string of 64 digits and every amount or balance as a decimal string; indices,
nonces and block numbers, all below 2^32, are JSON integers.

A signed transaction is a transfer or a withdrawal: its `kind` field is "withdraw" for a
withdrawal (whose `toAddress` is the L1 recipient and `to` 0) and absent, or "transfer", for
a transfer, so clients that predate withdrawals keep working. Its hash is the message its
sender signs, Poseidon(chainId, kind * 2^224 + packed, toAddress), as 32 bytes of hex: the
wallet knows it before sending, it names one transaction on one rollup (the chain id and
the kind are in it), and resending the same signed transaction gives the same hash, so the
API can answer a retry with the hash it already accepted instead of a nonce error.
"""

from __future__ import annotations

from typing import Any

from eth_utils import to_checksum_address

from sequencer.accounts import Account
from sequencer.eddsa import Signature
from sequencer.errors import InvalidParams
from sequencer.store import StoredBlock, StoredL1Message, StoredTransfer
from sequencer.transactions import Kind, Transfer, signing_message
from zkp.field import R

#: largest index, nonce or block number the API takes (a packed transfer gives them 32 bits)
MAX_UINT32 = (1 << 32) - 1


def hex32(value: int) -> str:
    return f"0x{value:064x}"


def transfer_hash(transfer: Transfer, chain_id: int) -> str:
    return hex32(signing_message(transfer, chain_id))


#: a transaction's `kind` field, by kind; absent means a transfer
KIND_NAMES = {Kind.TRANSFER: "transfer", Kind.WITHDRAW: "withdraw"}
_KINDS = {name: kind for kind, name in KIND_NAMES.items()}


def transfer_to_json(transfer: Transfer) -> dict[str, Any]:
    """A signed transaction; a transfer's carries no `kind`, for sequencers that predate it."""
    kind = {} if transfer.kind is Kind.TRANSFER else {"kind": KIND_NAMES[transfer.kind]}
    return {
        **kind,
        "from": transfer.from_index,
        "to": transfer.to_index,
        "toAddress": hex32(transfer.to_address),
        "amount": str(transfer.amount),
        "nonce": transfer.nonce,
        "publicKey": [hex32(c) for c in transfer.public_key],
        "signature": {"r8": [hex32(c) for c in transfer.signature.r8],
                      "s": hex32(transfer.signature.s)},
    }


def transfer_from_json(value: Any) -> Transfer:
    """A signed transaction from its JSON form; `InvalidParams` names the first bad field."""
    obj = _object(value, "transfer", ("from", "to", "toAddress", "amount", "nonce", "publicKey",
                                      "signature"), optional=("kind",))
    signature = _object(obj["signature"], "signature", ("r8", "s"))
    kind = obj.get("kind", KIND_NAMES[Kind.TRANSFER])
    if kind not in _KINDS:
        raise InvalidParams(f"kind must be one of {', '.join(_KINDS)}, not {kind!r:.40}")
    return Transfer(
        from_index=uint32(obj["from"], "from"),
        to_index=uint32(obj["to"], "to"),
        to_address=field_element(obj["toAddress"], "toAddress"),
        amount=amount(obj["amount"], "amount"),
        nonce=uint32(obj["nonce"], "nonce"),
        public_key=_point(obj["publicKey"], "publicKey"),
        signature=Signature(_point(signature["r8"], "signature.r8"),
                            field_element(signature["s"], "signature.s")),
        kind=_KINDS[kind],
    )


def account_to_json(index: int, account: Account, pending: Account) -> dict[str, Any]:
    """An account in the newest block's state, and its balance and nonce counting pending ones."""
    return {
        "index": index,
        "address": hex32(account.address),
        "balance": str(account.balance),
        "nonce": account.nonce,
        "pendingBalance": str(pending.balance),
        "pendingNonce": pending.nonce,
    }


def block_to_json(block: StoredBlock) -> dict[str, Any]:
    return {
        "number": block.number,
        "status": str(block.status),
        "oldRoot": hex32(block.old_root),
        "newRoot": hex32(block.new_root),
        "dataHash": hex32(block.data_hash),
        "transfers": list(block.transfers),
        "l1Messages": list(block.l1_messages),
        "data": "0x" + block.data.hex(),
        "builtAt": block.built_at,
        "l1Block": block.l1_block,
        "l1Timestamp": block.l1_timestamp,
    }


def stored_transfer_to_json(stored: StoredTransfer) -> dict[str, Any]:
    return {
        "hash": stored.hash,
        "transfer": transfer_to_json(stored.transfer),
        "state": str(stored.state),
        "acceptedAt": stored.accepted_at,
        "block": stored.block,
        "position": stored.position,
        "blockStatus": None if stored.block_status is None else str(stored.block_status),
        "reason": stored.reason,
    }


def exit_to_json(block: int, position: int, recipient: int, amount: int,
                 proof: list[bytes]) -> dict[str, Any]:
    """An exit a block pays on L1: the arguments of `Bridge.claimWithdrawal`."""
    return {
        "block": block,
        "position": position,
        "recipient": to_checksum_address(recipient.to_bytes(20, "big")),
        "amount": str(amount),
        "proof": ["0x" + node.hex() for node in proof],
    }


def l1_message_to_json(stored: StoredL1Message) -> dict[str, Any]:
    message = stored.message
    return {
        "position": message.position,
        "kind": str(message.kind),
        "l2Address": hex32(message.l2_address),
        "amount": str(message.amount),
        "index": message.index,
        "recipient": (None if message.recipient is None
                      else to_checksum_address(message.recipient.to_bytes(20, "big"))),
        "sender": message.sender,
        "l1Block": message.l1_block,
        "state": "queued" if stored.block is None else "included",
        "block": stored.block,
        "op": None if stored.op is None else stored.op.name,
        "blockStatus": None if stored.block_status is None else str(stored.block_status),
    }


# ---------------------------------------------------------------------- parsing parameters


def uint32(value: Any, name: str) -> int:
    if type(value) is not int or not 0 <= value <= MAX_UINT32:
        raise InvalidParams(f"{name} must be an integer from 0 to {MAX_UINT32}, not {value!r:.40}")
    return value


def amount(value: Any, name: str) -> int:
    """A decimal string (or a JSON integer): amounts exceed what JSON numbers carry exactly."""
    if type(value) is int and value >= 0:
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 78:
        return int(value)
    raise InvalidParams(f"{name} must be a non-negative decimal string, not {value!r:.40}")


def field_element(value: Any, name: str) -> int:
    """A 0x-hex string of at most 64 digits whose value is below r."""
    if (isinstance(value, str) and value[:2] in ("0x", "0X") and 2 < len(value) <= 66
            and all(c in "0123456789abcdefABCDEF" for c in value[2:])):
        number = int(value, 16)
        if number < R:
            return number
    raise InvalidParams(f"{name} must be a 0x-hex field element (below r), not {value!r:.70}")


def _point(value: Any, name: str) -> tuple[int, int]:
    if not isinstance(value, list) or len(value) != 2:
        raise InvalidParams(f"{name} must be a list of two 0x-hex coordinates")
    return field_element(value[0], f"{name}[0]"), field_element(value[1], f"{name}[1]")


def _object(value: Any, name: str, keys: tuple[str, ...], optional: tuple[str, ...] = ()
            ) -> dict:
    if not isinstance(value, dict):
        raise InvalidParams(f"{name} must be a JSON object with {', '.join(keys)}")
    missing = [k for k in keys if k not in value]
    if missing:
        raise InvalidParams(f"{name} lacks {', '.join(missing)}")
    unknown = sorted(set(value) - set(keys) - set(optional))
    if unknown:
        raise InvalidParams(f"{name} has unknown fields {', '.join(unknown)}")
    return value
