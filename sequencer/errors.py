"""Errors of the L2 model.

Every failure `sequencer` reports is a `SequencerError` whose message is one
line saying what is wrong. A transfer the rules refuse raises an
`InvalidTransfer` subclass; `apply_block` sets its `position` in the block.
The data directory's lock refuses with every node's `DataDirLocked` (p2p/datadir.py), a taken
address with every server's `ListenError` (p2p/errors.py).
"""


class SequencerError(Exception):
    """Root of every error raised by `sequencer`."""


class InvalidTransfer(SequencerError):
    """A transfer that the state transition refuses; no state changes.

    `problem` says what is wrong; `position` is the transfer's index in its
    block when it was applied as part of one (else None).
    """

    def __init__(self, problem: str):
        super().__init__(problem)
        self.problem = problem
        self.position: int | None = None

    def __str__(self) -> str:
        if self.position is None:
            return self.problem
        return f"transfer {self.position}: {self.problem}"


class IndexOutOfRange(InvalidTransfer):
    """An account index outside the tree (or beyond the 32 bits a packed transfer has)."""


class UnknownAccount(InvalidTransfer):
    """The sender's leaf is empty: there is no account to send from."""


class KeyMismatch(InvalidTransfer):
    """The public key the transfer carries is not the one the sender's address commits to."""


class BadSignature(InvalidTransfer):
    """The signature does not verify for the sender's key and the transfer's message."""


class WrongNonce(InvalidTransfer):
    """The transfer's nonce is not the sender's current nonce (a replay, or out of order)."""


class NonceOverflow(InvalidTransfer):
    """The sender's nonce would leave its 32 bits: the account cannot send any more."""


class InsufficientBalance(InvalidTransfer):
    """The sender's balance is below the amount."""


class AmountOverflow(InvalidTransfer):
    """The amount, or the recipient's balance after it, does not fit in 128 bits."""


class InvalidAddress(InvalidTransfer):
    """The recipient address is 0 (the mark of an empty leaf) or not a field element."""


class WrongRecipient(InvalidTransfer):
    """The recipient leaf holds an account with another address than the transfer names."""


class EmptyRecipient(InvalidTransfer):
    """A TRANSFER record pays an empty leaf: a transfer that opens an account is an OPEN."""


class OccupiedLeaf(InvalidTransfer):
    """An OPEN record names a leaf that already holds an account: that is a TRANSFER."""


class ForcedNotApplicable(InvalidTransfer):
    """A FORCED record for a forced withdrawal that does not apply (the leaf does not hold the
    request's address, or less than its amount): it must be posted as FORCED_SKIP."""


class ForcedApplies(InvalidTransfer):
    """A FORCED_SKIP record for a forced withdrawal that applies: the sequencer must pay it."""


class MalformedBlockData(SequencerError):
    """Block data the Rollup contract refuses, or records that cannot be posted as they are
    (sequencer.block_data)."""


class BlockTooLarge(SequencerError):
    """More records than the block circuit has slots, or more entries than it has entries."""


class WrongDepth(SequencerError):
    """A state whose tree depth is not the block circuit's."""


class InvalidGenesis(SequencerError):
    """A genesis account that breaks the state's invariants (index, address, balance, nonce)."""


# --- the sequencer service (store, mempool, L1 commits, JSON-RPC) -------------------------------


class MempoolFull(SequencerError):
    """The sequencer holds as many pending transfers as it allows; try again after a block."""


class SenderQueueFull(SequencerError):
    """This sender has as many pending transfers as one sender may; wait for a block."""


class StoreError(SequencerError):
    """The sequencer's database cannot be opened, or holds something it should not."""


class GenesisMismatch(StoreError):
    """The data directory, or the Rollup contract, was made for another genesis state or circuit."""


class L1Error(SequencerError):
    """Committing blocks to L1 cannot go on without the operator."""


class L1Diverged(L1Error):
    """The Rollup contract holds a block that differs from the sequencer's block of that number."""


class NotTheSequencer(L1Error):
    """The Rollup contract does not accept blocks from this key."""


class RpcError(SequencerError):
    """Talking to a sequencer's JSON-RPC API failed."""


class SequencerUnreachable(RpcError):
    """No sequencer answered at the URL, or it answered something that is not JSON-RPC."""


class RequestRefused(RpcError):
    """The sequencer answered with a JSON-RPC error; `code` and `name` say which."""

    def __init__(self, message: str, code: int, name: str | None):
        super().__init__(message)
        self.code = code
        self.name = name


class InvalidParams(RpcError):
    """A JSON-RPC request's parameters are missing or not of the documented form."""


class WalletError(SequencerError):
    """The L2 wallet cannot do what was asked."""


class WalletKeyMissing(WalletError):
    """No L2 key in the data directory."""


class WalletKeyExists(WalletError):
    """An L2 key already exists where a new one would be written."""


class NoL2Account(WalletError):
    """The wallet's address holds no account on the L2 (nothing was ever sent to it)."""


class UnknownRecipient(WalletError):
    """The recipient index is empty, or the tree has no empty leaf to open an account on."""
