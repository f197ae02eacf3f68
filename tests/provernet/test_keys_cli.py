"""`provernet keys`, driven through click's CliRunner on the group itself."""

from __future__ import annotations

import json
import stat

import click
import pytest
from click.testing import CliRunner

from provernet.commands import keys as keys_cli
from provernet.commands.keys import account_options, command, unlock
from roller import keys
from roller.errors import KeystoreExists, KeystoreMissing, PasswordUnavailable, WrongPassword

PASSWORD = "correct horse battery staple"
KNOWN_KEY = "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
KNOWN_ADDRESS = "0x2c7536E3605D9C16a7a3D7b1898e529396a65c23"
FAST = 2**4  # for keystores the tests build directly; the CLI itself uses the default


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    monkeypatch.delenv(keys.DATADIR_ENV, raising=False)
    monkeypatch.delenv(keys.PASSWORD_ENV, raising=False)
    monkeypatch.setattr(keys, "stdin_is_interactive", lambda: False)


@pytest.fixture
def datadir(tmp_path):
    return tmp_path / "node"


@pytest.fixture
def password_file(tmp_path):
    path = tmp_path / "password"
    path.write_text(PASSWORD + "\n")
    return path


def run(*args, input=None, env=None):
    return CliRunner().invoke(command, list(map(str, args)), input=input, env=env)


def test_new_then_show(datadir, password_file):
    created = run("new", "--datadir", datadir, "--password-file", password_file)
    assert created.exit_code == 0, created.output
    address = keys.keystore_address(datadir)
    assert address in created.stdout
    assert str(datadir / keys.KEYSTORE_NAME) in created.stdout
    assert stat.S_IMODE((datadir / keys.KEYSTORE_NAME).stat().st_mode) == 0o600
    # The CLI never lowers the scrypt work factor.
    keyfile = json.loads((datadir / keys.KEYSTORE_NAME).read_text())
    assert keyfile["crypto"]["kdfparams"]["n"] == 2**18

    shown = run("show", "--datadir", datadir)
    assert shown.exit_code == 0, shown.output
    assert address in shown.stdout
    assert keys.load_account(datadir, PASSWORD).address == address


def test_new_twice_refuses(datadir, password_file):
    keys.create_keystore(datadir, PASSWORD, scrypt_n=FAST)
    before = (datadir / keys.KEYSTORE_NAME).read_bytes()
    result = run("new", "--datadir", datadir, "--password-file", password_file)
    assert isinstance(result.exception, KeystoreExists)
    assert "use another --datadir or remove it" in str(result.exception)
    assert (datadir / keys.KEYSTORE_NAME).read_bytes() == before


def test_new_refuses_before_asking_for_a_password(datadir):
    keys.create_keystore(datadir, PASSWORD, scrypt_n=FAST)
    result = run("new", "--datadir", datadir)  # no password source, no terminal
    assert isinstance(result.exception, KeystoreExists)


def test_new_without_password_non_interactive(datadir):
    result = run("new", "--datadir", datadir)
    assert isinstance(result.exception, PasswordUnavailable)
    assert keys.PASSWORD_ENV in str(result.exception)
    assert not (datadir / keys.KEYSTORE_NAME).exists()


def test_new_with_password_from_env_and_datadir_from_env(datadir):
    result = run("new", env={keys.DATADIR_ENV: str(datadir), keys.PASSWORD_ENV: PASSWORD})
    assert result.exit_code == 0, result.output
    assert keys.keystore_address(datadir) in result.stdout


def test_new_prompts_twice_on_a_terminal(datadir, monkeypatch):
    monkeypatch.setattr(keys, "stdin_is_interactive", lambda: True)
    result = run("new", "--datadir", datadir, input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output  # hidden input is not echoed
    assert keys.load_account(datadir, PASSWORD).address in result.stdout


def test_import_from_key_file(datadir, password_file, tmp_path):
    key_file = tmp_path / "key"
    key_file.write_text(KNOWN_KEY + "\n")
    result = run("import", "--datadir", datadir, "--password-file", password_file,
                 "--key-file", key_file)
    assert result.exit_code == 0, result.output
    assert KNOWN_ADDRESS in result.stdout
    assert KNOWN_KEY[2:] not in result.output
    assert keys.load_account(datadir, PASSWORD).address == KNOWN_ADDRESS


def test_import_from_hidden_prompt(datadir, password_file, monkeypatch):
    monkeypatch.setattr(keys, "stdin_is_interactive", lambda: True)
    result = run("import", "--datadir", datadir, "--password-file", password_file,
                 input=KNOWN_KEY + "\n")
    assert result.exit_code == 0, result.output
    assert KNOWN_ADDRESS in result.stdout
    assert KNOWN_KEY[2:] not in result.output


def test_import_takes_no_key_argument(datadir, password_file):
    result = run("import", "--datadir", datadir, "--password-file", password_file, KNOWN_KEY)
    assert result.exit_code == 2
    assert not (datadir / keys.KEYSTORE_NAME).exists()


def test_import_without_terminal_or_key_file(datadir, password_file):
    result = run("import", "--datadir", datadir, "--password-file", password_file)
    assert result.exit_code == 2
    assert "--key-file" in result.output


def test_import_bad_key_fails_before_password(datadir, tmp_path):
    key_file = tmp_path / "key"
    key_file.write_text("0x1234\n")
    result = run("import", "--datadir", datadir, "--key-file", key_file)  # no password source
    assert type(result.exception).__name__ == "InvalidPrivateKey"


def test_show_json(datadir):
    address = keys.create_keystore(datadir, PASSWORD, scrypt_n=FAST)
    result = run("show", "--datadir", datadir, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "address": address, "keystore": str(datadir / keys.KEYSTORE_NAME)}


def test_show_missing(datadir):
    result = run("show", "--datadir", datadir)
    assert isinstance(result.exception, KeystoreMissing)
    assert "provernet keys new" in str(result.exception)


def test_show_malformed(datadir):
    datadir.mkdir()
    (datadir / keys.KEYSTORE_NAME).write_text("{oops")
    result = run("show", "--datadir", datadir)
    assert "malformed" in str(result.exception)
    assert "\n" not in str(result.exception)


# --- what other commands reuse --------------------------------------------------------------------

@click.command()
@account_options
def whoami(datadir, password_file):
    click.echo(unlock(datadir, password_file).address)


def test_account_options_and_unlock(datadir, password_file):
    address = keys.create_keystore(datadir, PASSWORD, scrypt_n=FAST)
    result = CliRunner().invoke(
        whoami, ["--datadir", str(datadir), "--password-file", str(password_file)])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == address


def test_unlock_wrong_password(datadir, tmp_path):
    keys.create_keystore(datadir, PASSWORD, scrypt_n=FAST)
    wrong = tmp_path / "wrong"
    wrong.write_text("nope\n")
    with pytest.raises(WrongPassword) as caught:
        unlock(datadir, wrong)
    assert "\n" not in str(caught.value)


def test_unlock_missing_keystore_does_not_ask_for_password(datadir):
    with pytest.raises(KeystoreMissing):
        unlock(datadir, None)  # no password source: would be PasswordUnavailable otherwise


def test_module_exports():
    assert keys_cli.command.name == "keys"
    assert set(keys_cli.command.commands) == {"new", "import", "show"}
