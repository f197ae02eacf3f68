"""Errors of the chain layer. Every one says what went wrong and, where there is one, the fix."""


class ChainError(Exception):
    """Root of everything `market_contracts` raises."""


class CompileError(ChainError):
    """solc rejected the sources or could not be run."""


class RpcUnreachable(ChainError):
    """The JSON-RPC endpoint did not answer."""


class WrongChainId(ChainError):
    """The endpoint serves another chain than the deployment was made on."""


class UnknownDeployment(ChainError):
    """The deployment file is missing, malformed, or names contracts that are not on the chain."""


class TransactionFailed(ChainError):
    """A transaction or call reverted; `reason` is the decoded revert (custom error or string)."""

    def __init__(self, message: str, reason: str = "", args_: tuple = ()):  # noqa: D107
        super().__init__(message)
        self.reason = reason
        self.error_args = args_


class ContractRejected(TransactionFailed):
    """A market contract refused the operation for a reason the user can act on."""


class InsufficientBalance(ContractRejected):
    """The account holds fewer tokens than the operation moves."""


class BelowMinStake(ContractRejected):
    """The stake after this operation would be below MIN_STAKE."""


class WithdrawBeforeRelease(ContractRejected):
    """Nothing has finished unbonding yet; carries the next release time."""


class ProofIsValid(ContractRejected):
    """Slash evidence whose proof verifies: there is nothing to slash."""


class AlreadySlashed(ContractRejected):
    """The offense this evidence shows (roller, block, statement) was slashed already."""


class SnapshotMismatch(ChainError):
    """A `RosterSnapshot` event's entries do not hash to the root the staking contract stored."""


class InvalidEvidence(ChainError):
    """Slash evidence that is malformed, or that cannot be what the contract takes (a signature it
    would refuse, another chain or staking contract)."""


class RollupRejected(ContractRejected):
    """The Rollup contract refused a commit, a finalization or a revert; `reason` is its error's
    name (`WrongOldRoot`, `InvalidBatchProof`, ...)."""


class TransactionRejected(ChainError):
    """The node refused the transaction before running it (funds, nonce, fee, malformed)."""


class ReceiptTimeout(ChainError):
    """A sent transaction was not mined in time."""


class NotADevChain(ChainError):
    """A dev-only control (time travel, snapshots) was asked of a node that does not offer it."""


class BridgeRejected(ContractRejected):
    """The Bridge refused a deposit, a forced withdrawal, a claim, an exit or a refund; `reason` is
    its error's name (`UnpostableAmount`, `InvalidSignature`, `AlreadyClaimed`, ...)."""
