"""Ethereum signatures over messages: what is signed, signing, and recovering the signer.

A signed message's signature covers `signing_digest(msg)`: the Keccak-256 of
the canonical msgpack encoding of the whole message (envelope `v` and `type`
included, so a signature for one type or version never passes for another)
without its `signature` field. The digest is signed EIP-191 style
(`personal_sign`: "\\x19Ethereum Signed Message:\\n32" + digest), so any
Ethereum wallet can produce and check it. A roller's `auth` signs the digest of
the `challenge` it received, which has no signature field of its own.
"""

from __future__ import annotations

from typing import Any

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_utils import keccak

from p2p.errors import BadSignature
from p2p.messages import pack, to_wire


def signing_digest(msg: Any) -> bytes:
    return keccak(pack(to_wire(msg, without=frozenset({"signature"}))))


def sign_digest(private_key: bytes | str, digest: bytes) -> bytes:
    """A 65-byte r || s || v signature of `digest` by the Ethereum key `private_key`."""
    return bytes(Account.sign_message(encode_defunct(primitive=digest), private_key).signature)


def recover_signer(digest: bytes, signature: bytes) -> str:
    """The checksummed address whose key signed `digest`; BadSignature if it cannot be recovered."""
    try:
        return Account.recover_message(encode_defunct(primitive=digest), signature=signature)
    except Exception as e:  # eth_keys raises several unrelated types for malformed r, s or v
        raise BadSignature(str(e) or type(e).__name__) from None
