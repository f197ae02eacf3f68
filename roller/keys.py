"""The operator's Ethereum account, kept in an encrypted V3 keystore.

The account holds the roller's stake, so the key only ever touches disk encrypted (scrypt), the
file is private to its owner (0600 in a 0700 directory), and an existing keystore is never
overwritten: losing it would lose the stake.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import click
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import is_hex_address, to_checksum_address

from atomicfile import write_atomically
from roller.errors import (
    InvalidPrivateKey,
    KeystoreError,
    KeystoreExists,
    KeystoreMissing,
    PasswordUnavailable,
    WrongPassword,
)

DEFAULT_DATADIR = Path("~/.provernet")  # expanded when used, so HOME is read late
KEYSTORE_NAME = "keystore.json"
DATADIR_ENV = "PROVERNET_DATADIR"
PASSWORD_ENV = "PROVERNET_PASSWORD"

# Order of the secp256k1 group: a private key must lie in [1, n).
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


# --- where the keystore lives -------------------------------------------------------------------

def datadir_from(value: str | Path | None) -> Path:
    """One rule for every command: an explicit value wins, then the environment, then ~/.provernet."""
    if value is None or str(value) == "":
        value = os.environ.get(DATADIR_ENV) or DEFAULT_DATADIR
    return Path(value).expanduser()


def keystore_path(datadir: str | Path | None) -> Path:
    return datadir_from(datadir) / KEYSTORE_NAME


# --- creating -----------------------------------------------------------------------------------

def create_keystore(datadir: str | Path | None, password: str, *,
                    scrypt_n: int | None = None) -> str:
    """Generate a fresh account and keep it only in encrypted form.

    `scrypt_n` is the scrypt work factor; None means eth-account's default (2**18). Lower it only
    in tests: a small N makes the keystore cheap to brute-force.
    """
    return _write_new_keystore(datadir, Account.create().key, password, scrypt_n)


def import_keystore(datadir: str | Path | None, private_key_hex: str, password: str, *,
                    scrypt_n: int | None = None) -> str:
    """Bring an existing account under provernet; `scrypt_n` as in `create_keystore`."""
    return _write_new_keystore(datadir, parse_private_key(private_key_hex), password, scrypt_n)


def parse_private_key(text: str) -> bytes:
    """Reject bad keys before encrypting them, so a typo never becomes a keystore nobody owns.

    The message never echoes the input: it is a secret.
    """
    digits = text.strip()
    if digits[:2].lower() == "0x":
        digits = digits[2:]
    if len(digits) != 64:
        raise InvalidPrivateKey(
            f"the private key has {len(digits)} hex digits, not 64 (32 bytes, optional 0x prefix); "
            "check the key and try again")
    try:
        key = bytes.fromhex(digits)
    except ValueError:
        raise InvalidPrivateKey(
            "the private key is not hexadecimal (64 hex digits, optional 0x prefix); "
            "check the key and try again") from None
    if not 0 < int.from_bytes(key, "big") < SECP256K1_N:
        raise InvalidPrivateKey(
            "the private key is outside the secp256k1 range (zero or >= the curve order); "
            "it is not an Ethereum key")
    return key


def _write_new_keystore(datadir: str | Path | None, key: bytes, password: str,
                        scrypt_n: int | None) -> str:
    path = keystore_path(datadir)
    refuse_existing_keystore(path)
    _make_private_dir(path.parent)
    keyfile = Account.encrypt(key, password, kdf="scrypt", iterations=scrypt_n)
    # A crash mid-write leaves no keystore or a whole one, never half a key; private: the key
    # file is never readable by others, even briefly.
    write_atomically(path, json.dumps(keyfile), durable=True, private=True)
    return to_checksum_address(keyfile["address"])


def refuse_existing_keystore(path: Path) -> None:
    """Checked before asking for a password too, so nobody types one for nothing."""
    if path.exists():
        raise KeystoreExists(
            f"a keystore already exists at {path}; use another --datadir or remove it")


def _make_private_dir(datadir: Path) -> None:
    """Only a directory we create is tightened; an existing one is the operator's choice."""
    if datadir.is_dir():
        return
    datadir.mkdir(mode=0o700, parents=True)
    datadir.chmod(0o700)  # mkdir's mode is filtered by the umask




# --- reading ------------------------------------------------------------------------------------

def keystore_address(datadir: str | Path | None) -> str:
    """The address is stored in clear, so showing it needs no password."""
    path = keystore_path(datadir)
    return _address_field(_read_keystore(path), path)


def load_account(datadir: str | Path | None, password: str) -> LocalAccount:
    """Decrypt the key for signing; the address field is checked so `show` never lies."""
    path = keystore_path(datadir)
    keyfile = _read_keystore(path)
    address = _address_field(keyfile, path)
    try:
        key = Account.decrypt(keyfile, password)
    except ValueError as exc:
        if "MAC mismatch" in str(exc):
            raise WrongPassword(
                f"wrong password for keystore {path}; check --password-file or "
                f"{PASSWORD_ENV}") from None
        raise _malformed(path, exc) from exc
    except (KeyError, TypeError, NotImplementedError) as exc:
        # eth-keyfile raises NotImplementedError for a KDF or cipher it does not support.
        raise _malformed(path, exc) from exc
    account = Account.from_key(key)
    if account.address != address:
        raise _malformed(path, f"its key belongs to {account.address}, not {address}")
    return account


def _read_keystore(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise KeystoreMissing(
            f"no keystore at {path}; run `provernet keys new` (or `keys import`)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise KeystoreError(f"cannot read keystore {path}: {_cause(exc)}; check its permissions"
                            ) from exc
    try:
        keyfile = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _malformed(path, f"not JSON ({exc})") from exc
    if not isinstance(keyfile, dict):
        raise _malformed(path, "not a JSON object")
    return keyfile


def _address_field(keyfile: dict[str, Any], path: Path) -> str:
    address = keyfile.get("address")
    if not isinstance(address, str):
        raise _malformed(path, "no address field")
    if not address.lower().startswith("0x"):
        address = "0x" + address
    if not is_hex_address(address):
        raise _malformed(path, f"bad address field {address!r}")
    return to_checksum_address(address)


def _malformed(path: Path, cause: object) -> KeystoreError:
    if isinstance(cause, BaseException):
        cause = _cause(cause)
    return KeystoreError(
        f"keystore {path} is malformed: {cause}; restore it from a backup")


def _cause(exc: BaseException) -> str:
    """Exception text squeezed to one line; an OSError's path is already in our message."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# --- the password -------------------------------------------------------------------------------

def resolve_password(password_file: Path | None, *, confirm: bool = False) -> str:
    """Non-interactive sources first, so services and scripts never hang on a prompt.

    `confirm` is for creating a keystore: the prompt asks twice and an empty password is refused,
    since a typo or an empty secret there is locked in for good.
    """
    if password_file is not None:
        password = _password_from_file(Path(password_file))
    elif PASSWORD_ENV in os.environ:
        password = os.environ[PASSWORD_ENV]
    elif stdin_is_interactive():
        password = click.prompt("Keystore password", hide_input=True,
                                confirmation_prompt=confirm)
    else:
        raise PasswordUnavailable(
            f"no password and no terminal to ask on; set {PASSWORD_ENV} or pass --password-file")
    if confirm and password == "":
        raise PasswordUnavailable(
            "refusing an empty password for a new keystore; give a non-empty one")
    return password


def _password_from_file(path: Path) -> str:
    """Only the first line counts, so a file saved with a trailing newline still works."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PasswordUnavailable(
            f"cannot read password file {path}: {_cause(exc)}; check the path") from exc
    return text.partition("\n")[0].removesuffix("\r")


def stdin_is_interactive() -> bool:
    """Separate so tests can stand in for a terminal."""
    return sys.stdin is not None and sys.stdin.isatty()
