"""The sequencer's API refusals as JSON-RPC error objects.

The API is served by `p2p.http_server.JsonRpcServer` (HTTP/1.1, bounds, batches, `GET
/health`). Each refusal of the sequencer (a `SequencerError`) answers with its own code
(`ERROR_CODES`), with `data.error` the refusal's name, e.g. `{"code": 1005, "message": "nonce
3, but account 0 is at nonce 4", "data": {"error": "WrongNonce"}}`; `refusing` wraps a method
so that it raises them as `RpcError`.
"""

from __future__ import annotations

import functools
from typing import Any

from p2p.http_server import INVALID_PARAMS, Method, RpcError
from sequencer.errors import (
    AmountOverflow,
    BadSignature,
    IndexOutOfRange,
    InsufficientBalance,
    InvalidAddress,
    InvalidParams,
    KeyMismatch,
    MempoolFull,
    NonceOverflow,
    SenderQueueFull,
    SequencerError,
    UnknownAccount,
    WrongNonce,
    WrongRecipient,
)

#: any other refusal by the sequencer
REFUSED = 1000

#: the code of each refusal; a subclass not listed takes its nearest listed base's
ERROR_CODES: dict[type[Exception], int] = {
    InvalidParams: INVALID_PARAMS,
    IndexOutOfRange: 1001,
    UnknownAccount: 1002,
    KeyMismatch: 1003,
    BadSignature: 1004,
    WrongNonce: 1005,
    NonceOverflow: 1006,
    InsufficientBalance: 1007,
    AmountOverflow: 1008,
    InvalidAddress: 1009,
    WrongRecipient: 1010,
    MempoolFull: 1101,
    SenderQueueFull: 1102,
}


def refusing(method: Method) -> Method:
    """`method` with its `SequencerError`s raised as their JSON-RPC error objects; its signature
    is kept (`functools.wraps`), since the server binds the request's params to it."""

    @functools.wraps(method)
    async def refused(*args: Any, **kwargs: Any) -> Any:
        try:
            return await method(*args, **kwargs)
        except SequencerError as error:
            raise RpcError(_code(error), str(error), {"error": type(error).__name__}) from error

    return refused


def _code(error: SequencerError) -> int:
    for kind in type(error).__mro__:
        if kind in ERROR_CODES:
            return ERROR_CODES[kind]
    return REFUSED
