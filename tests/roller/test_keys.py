"""The operator's keystore: creating, importing, reading and unlocking it."""

from __future__ import annotations

import json
import stat

import pytest

from roller import keys
from roller.errors import (
    InvalidPrivateKey,
    KeystoreError,
    KeystoreExists,
    KeystoreMissing,
    PasswordUnavailable,
    WrongPassword,
)

# Fast scrypt for tests only; the CLI always uses eth-account's default.
FAST = 2**4
PASSWORD = "correct horse battery staple"
# A well-known test vector (eth-account documentation); never fund it.
KNOWN_KEY = "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
KNOWN_ADDRESS = "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    monkeypatch.delenv(keys.DATADIR_ENV, raising=False)
    monkeypatch.delenv(keys.PASSWORD_ENV, raising=False)


@pytest.fixture
def datadir(tmp_path):
    return tmp_path / "node"


def test_datadir_from_prefers_value_then_env_then_default(monkeypatch, tmp_path):
    assert keys.datadir_from(None) == keys.DEFAULT_DATADIR.expanduser()
    monkeypatch.setenv(keys.DATADIR_ENV, str(tmp_path / "env"))
    assert keys.datadir_from(None) == tmp_path / "env"
    assert keys.datadir_from(str(tmp_path / "flag")) == tmp_path / "flag"
    assert keys.datadir_from(tmp_path / "flag") == tmp_path / "flag"


def test_new_then_show(datadir):
    address = keys.create_keystore(datadir, PASSWORD, scrypt_n=FAST)
    assert address.startswith("0x") and len(address) == 42
    assert keys.keystore_address(datadir) == address
    assert keys.load_account(datadir, PASSWORD).address == address


def test_keystore_is_scrypt_v3(datadir):
    keys.create_keystore(datadir, PASSWORD, scrypt_n=FAST)
    keyfile = json.loads((datadir / keys.KEYSTORE_NAME).read_text())
    assert keyfile["version"] == 3
    assert keyfile["crypto"]["kdf"] == "scrypt"
    assert keyfile["crypto"]["kdfparams"]["n"] == FAST


def test_new_twice_refuses_and_keeps_the_first(datadir):
    first = keys.create_keystore(datadir, PASSWORD, scrypt_n=FAST)
    with pytest.raises(KeystoreExists) as caught:
        keys.create_keystore(datadir, PASSWORD, scrypt_n=FAST)
    message = str(caught.value)
    assert str(datadir / keys.KEYSTORE_NAME) in message
    assert "use another --datadir or remove it" in message
    assert keys.keystore_address(datadir) == first


def test_import_known_key_gives_known_address(datadir):
    assert keys.import_keystore(datadir, KNOWN_KEY, PASSWORD, scrypt_n=FAST) == KNOWN_ADDRESS
    assert keys.keystore_address(datadir) == KNOWN_ADDRESS
    account = keys.load_account(datadir, PASSWORD)
    assert account.key.hex().removeprefix("0x") == KNOWN_KEY.removeprefix("0x")


def test_import_accepts_key_without_prefix_and_with_whitespace(datadir):
    key = " " + KNOWN_KEY.removeprefix("0x").upper() + "\n"
    assert keys.import_keystore(datadir, key, PASSWORD, scrypt_n=FAST) == KNOWN_ADDRESS


def test_import_refuses_to_overwrite(datadir):
    keys.create_keystore(datadir, PASSWORD, scrypt_n=FAST)
    with pytest.raises(KeystoreExists):
        keys.import_keystore(datadir, KNOWN_KEY, PASSWORD, scrypt_n=FAST)


@pytest.mark.parametrize("bad", [
    "0x1234",                                    # too short
    KNOWN_KEY + "00",                            # too long
    "0x" + "zz" * 32,                            # not hex
    "0x" + "00" * 32,                            # zero
    "0x" + "ff" * 32,                            # above the curve order
    hex(keys.SECP256K1_N),                       # exactly the curve order
])
def test_import_rejects_invalid_keys_without_echoing_them(datadir, bad):
    with pytest.raises(InvalidPrivateKey) as caught:
        keys.import_keystore(datadir, bad, PASSWORD, scrypt_n=FAST)
    message = str(caught.value)
    assert "\n" not in message
    assert bad.removeprefix("0x") not in message
    assert not (datadir / keys.KEYSTORE_NAME).exists()


def test_wrong_password_is_one_line_naming_the_keystore(datadir):
    keys.create_keystore(datadir, PASSWORD, scrypt_n=FAST)
    with pytest.raises(WrongPassword) as caught:
        keys.load_account(datadir, "not it")
    message = str(caught.value)
    assert "\n" not in message
    assert str(datadir / keys.KEYSTORE_NAME) in message
    assert caught.value.__cause__ is None  # no eth-keyfile traceback chained on


def test_missing_keystore_says_how_to_create_one(datadir):
    with pytest.raises(KeystoreMissing, match=r"run `provernet keys new`"):
        keys.keystore_address(datadir)
    with pytest.raises(KeystoreMissing):
        keys.load_account(datadir, PASSWORD)


@pytest.mark.parametrize("content", [
    "{not json",
    "[]",
    json.dumps({"version": 3}),
    json.dumps({"address": "not-an-address"}),
    json.dumps({"address": 42}),
])
def test_malformed_keystore(datadir, content):
    datadir.mkdir()
    (datadir / keys.KEYSTORE_NAME).write_text(content)
    with pytest.raises(KeystoreError, match="malformed") as caught:
        keys.keystore_address(datadir)
    assert "\n" not in str(caught.value)
    with pytest.raises(KeystoreError, match="malformed"):
        keys.load_account(datadir, PASSWORD)


def test_keystore_without_crypto_section_is_malformed(datadir):
    datadir.mkdir()
    (datadir / keys.KEYSTORE_NAME).write_text(json.dumps({"address": KNOWN_ADDRESS[2:]}))
    assert keys.keystore_address(datadir) == KNOWN_ADDRESS
    with pytest.raises(KeystoreError, match="malformed") as caught:
        keys.load_account(datadir, PASSWORD)
    assert not isinstance(caught.value, WrongPassword)


def test_address_field_that_lies_is_caught_on_unlock(datadir):
    keys.create_keystore(datadir, PASSWORD, scrypt_n=FAST)
    path = datadir / keys.KEYSTORE_NAME
    keyfile = json.loads(path.read_text())
    keyfile["address"] = KNOWN_ADDRESS[2:].lower()
    path.write_text(json.dumps(keyfile))
    with pytest.raises(KeystoreError, match="malformed"):
        keys.load_account(datadir, PASSWORD)


def test_permissions_file_0600_dir_0700_no_leftovers(datadir):
    keys.create_keystore(datadir, PASSWORD, scrypt_n=FAST)
    path = datadir / keys.KEYSTORE_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(datadir.stat().st_mode) == 0o700
    assert [p.name for p in datadir.iterdir()] == [keys.KEYSTORE_NAME]


def test_existing_datadir_permissions_are_left_alone(tmp_path):
    tmp_path.chmod(0o755)
    keys.create_keystore(tmp_path, PASSWORD, scrypt_n=FAST)
    assert stat.S_IMODE(tmp_path.stat().st_mode) == 0o755
    assert stat.S_IMODE((tmp_path / keys.KEYSTORE_NAME).stat().st_mode) == 0o600


def test_datadir_from_env(monkeypatch, datadir):
    monkeypatch.setenv(keys.DATADIR_ENV, str(datadir))
    address = keys.create_keystore(None, PASSWORD, scrypt_n=FAST)
    assert keys.keystore_address(datadir) == address


# --- resolve_password ----------------------------------------------------------------------------

def test_password_from_file_first_line(tmp_path, monkeypatch):
    monkeypatch.setenv(keys.PASSWORD_ENV, "from env")
    pw = tmp_path / "pw"
    pw.write_text("s3cret\nsecond line\n")
    assert keys.resolve_password(pw) == "s3cret"
    pw.write_text("s3cret\r\n")
    assert keys.resolve_password(pw) == "s3cret"
    pw.write_text(" spaced ")
    assert keys.resolve_password(pw) == " spaced "


def test_unreadable_password_file_is_named(tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(PasswordUnavailable) as caught:
        keys.resolve_password(missing)
    assert str(missing) in str(caught.value)
    assert "\n" not in str(caught.value)


def test_password_from_env(monkeypatch):
    monkeypatch.setenv(keys.PASSWORD_ENV, "from env")
    monkeypatch.setattr(keys, "stdin_is_interactive", lambda: pytest.fail("prompted"))
    assert keys.resolve_password(None) == "from env"


def test_no_password_and_no_terminal(monkeypatch):
    monkeypatch.setattr(keys, "stdin_is_interactive", lambda: False)
    with pytest.raises(PasswordUnavailable) as caught:
        keys.resolve_password(None)
    assert keys.PASSWORD_ENV in str(caught.value)
    assert "--password-file" in str(caught.value)


def test_prompt_when_interactive(monkeypatch):
    asked = {}

    def fake_prompt(text, **kwargs):
        asked.update(kwargs)
        return "typed"

    monkeypatch.setattr(keys, "stdin_is_interactive", lambda: True)
    monkeypatch.setattr(keys.click, "prompt", fake_prompt)
    assert keys.resolve_password(None, confirm=True) == "typed"
    assert asked == {"hide_input": True, "confirmation_prompt": True}


def test_empty_password_refused_only_when_creating(tmp_path, monkeypatch):
    empty = tmp_path / "empty"
    empty.write_text("\n")
    assert keys.resolve_password(empty) == ""
    with pytest.raises(PasswordUnavailable, match="empty"):
        keys.resolve_password(empty, confirm=True)
    monkeypatch.setenv(keys.PASSWORD_ENV, "")
    with pytest.raises(PasswordUnavailable, match="empty"):
        keys.resolve_password(None, confirm=True)
