"""Errors of the L2 model.

Every failure `sequencer` reports is a `SequencerError` whose message is one
line saying what is wrong. A transfer the rules refuse raises an
`InvalidTransfer` subclass; `apply_block` sets its `position` in the block.
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


class MalformedBlockData(SequencerError):
    """Posted block data that is not a whole number of transfers of field elements."""


class BlockTooLarge(SequencerError):
    """More transfers than the block circuit has slots."""


class WrongDepth(SequencerError):
    """A state whose tree depth is not the block circuit's."""


class InvalidGenesis(SequencerError):
    """A genesis account that breaks the state's invariants (index, address, balance, nonce)."""
