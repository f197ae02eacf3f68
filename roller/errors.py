"""Errors of the operator's node, and the errors it expects from L1."""

from market_contracts.errors import ChainError
from web3.exceptions import Web3Exception

#: what reading L1 raises when L1 cannot answer now: our bindings' errors, web3's own, and the
#: transport's (every `requests` failure is an OSError). A reader that can try again later
#: catches these, and nothing else.
L1_UNAVAILABLE = (ChainError, Web3Exception, OSError)


class RollerError(Exception):
    """Root of everything `roller` raises."""


class KeystoreError(RollerError):
    """The keystore is missing, unreadable, or already exists."""


class WrongPassword(KeystoreError):
    """The password does not decrypt the keystore."""


class KeystoreExists(KeystoreError):
    """A keystore is already there; overwriting it would lose the staked account."""


class KeystoreMissing(KeystoreError):
    """No keystore in the data directory yet."""


class PasswordUnavailable(KeystoreError):
    """No usable password: unreadable file, empty, or no terminal to ask on."""


class InvalidPrivateKey(KeystoreError):
    """The private key to import is not a valid secp256k1 key."""


class ConfigError(RollerError):
    """roller.toml (or an override) is unreadable, not TOML, or has an unknown key or a bad value;
    the message names the file, the key and what is wrong."""


class JournalError(RollerError):
    """The task journal refuses an operation (an illegal transition, a duplicate offer), or its
    database is unreadable or from another version."""


class UnknownTask(JournalError):
    """No task with that key in the journal."""


class ProvingError(RollerError):
    """A task cannot be proven; the message is the reason recorded for it."""


class CircuitMismatch(ProvingError):
    """The task names a circuit other than the one this prover holds."""


class WrongProver(ProvingError):
    """The circuit inputs bind the proof to another address: proving them would work for nobody
    (the proof would not be ours) and would look like copying another roller's task."""


class InvalidTaskInputs(ProvingError):
    """The task's inputs are malformed, or the circuit refuses them (no witness)."""


class SelfCheckFailed(ProvingError):
    """Our own proof or aggregate does not verify: it is never signed, since a signed invalid proof
    is slashable evidence."""
