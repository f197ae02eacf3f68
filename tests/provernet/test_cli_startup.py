"""Start-up of the command line: the root imports no command, and what it says about each
command without importing it is what the command says. (Wall times: benchmarks/cli.py.)"""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

import provernet.commands
from provernet.cli import COMMANDS, USER_ERRORS, cli

#: packages `provernet --help` must not import: the heavy third-party ones, and every package of
#: ours below the command line (each pulls some of the others in)
HEAVY = ("web3", "libp2p", "eth_account", "eth_abi", "eth_utils", "numpy", "py_ecc", "rich",
         "wasmtime", "trio", "matplotlib", "market_contracts", "coordinator", "p2p", "roller",
         "sequencer", "simulation", "zkp", "provernet.commands")
#: packages the prover does not need: `provernet zkp` must not import them
NOT_FOR_PROVING = ("web3", "libp2p", "eth_account", "eth_abi", "py_ecc", "eth_hash", "trio",
                   "matplotlib", "market_contracts", "coordinator", "p2p", "roller", "sequencer",
                   "simulation")


def _imported_by(code: str, *argv: str) -> set[str]:
    """The modules a fresh interpreter has imported after running `code`, from -X importtime."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", code, *argv],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return {line.rpartition("|")[2].strip() for line in done.stderr.splitlines()
            if line.startswith("import time:")}


def _under(modules: set[str], packages: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if any(m == p or m.startswith(p + ".") for p in packages))


def _command(name: str) -> click.Command:
    return importlib.import_module(f"provernet.commands.{name}").command


def test_help_imports_no_command_and_no_heavy_package():
    modules = _imported_by("from provernet.cli import main; main()", "--help")
    assert "provernet.cli" in modules and "click" in modules  # the probe sees imports at all
    assert _under(modules, HEAVY) == []


def test_zkp_command_imports_only_what_proving_needs():
    modules = _imported_by("import provernet.commands.zkp")
    assert "wasmtime" in modules and "zkp.groth16" in modules
    assert _under(modules, NOT_FOR_PROVING) == []


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_help_line_is_the_commands_own(name):
    command = _command(name)
    assert command.name == name
    # The whole first sentence, untruncated: the root shortens it to the terminal as click does.
    assert COMMANDS[name] == command.get_short_help_str(limit=10**6)


def test_every_command_module_is_in_the_table():
    modules = {info.name for info in pkgutil.iter_modules(provernet.commands.__path__)}
    with_command = {name for name in modules
                    if hasattr(importlib.import_module(f"provernet.commands.{name}"), "command")}
    assert with_command == set(COMMANDS)


def test_root_help_is_what_click_shows_with_every_command_imported():
    eager = click.Group("provernet", commands=[_command(name) for name in COMMANDS],
                        params=cli.params, help=cli.help)
    for width in (80, 120):
        lazy_help = cli.get_help(click.Context(cli, info_name="provernet", terminal_width=width))
        eager_help = eager.get_help(click.Context(eager, info_name="provernet",
                                                  terminal_width=width))
        assert lazy_help == eager_help


def _every_command_path(command: click.Command, path: tuple[str, ...] = ()):
    yield path
    if isinstance(command, click.Group):
        ctx = click.Context(command)
        for name in command.list_commands(ctx):
            yield from _every_command_path(command.get_command(ctx, name), (*path, name))


def test_every_command_and_subcommand_resolves():
    paths = list(_every_command_path(cli))
    assert {path[0] for path in paths if path} == set(COMMANDS)
    runner = CliRunner()
    for path in paths:
        result = runner.invoke(cli, [*path, "--help"], prog_name="provernet")
        assert result.exit_code == 0, (path, result.output, result.exception)
        assert result.output.startswith(f"Usage: provernet {' '.join(path)}".rstrip())


def test_unknown_command_is_a_usage_error():
    result = CliRunner().invoke(cli, ["prove"])
    assert result.exit_code == 2 and "No such command 'prove'" in result.stderr


def test_user_errors_name_the_roots_of_each_package():
    for module, name in USER_ERRORS:
        error = getattr(importlib.import_module(module), name)
        assert issubclass(error, Exception) and error.__module__ == module


def test_user_error_of_a_lazily_imported_package_is_one_line(tmp_path):
    missing = tmp_path / "missing.zkey"
    result = CliRunner().invoke(cli, [
        "zkp", "prove", "--zkey", str(missing), "--witness", str(tmp_path / "w.wtns"),
        "--proof", str(tmp_path / "proof.json"), "--public", str(tmp_path / "public.json")])
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines()[-1].startswith(f"Error: {missing}")
    assert "Traceback" not in result.output


def test_other_errors_are_not_hidden(monkeypatch):
    def broken(*_args, **_kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(_command("zkp").commands["verify"], "callback", broken)
    result = CliRunner().invoke(cli, ["zkp", "verify", "--vkey", "v", "--proof", "p",
                                      "--public", "q"])
    assert isinstance(result.exception, RuntimeError)
