"""Errors of the operator's node."""


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
