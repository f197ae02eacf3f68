"""`provernet`: one command line for every role.

Options can come from flags, from environment variables (click's auto prefix,
`PROVERNET_<GROUP>_<COMMAND>_<OPTION>`, e.g. `PROVERNET_ROLLER_STAKE_RPC_URL`, and the shared
ones the options name, such as `PROVERNET_RPC_URL` and `PROVERNET_DEPLOYMENT`), or from a TOML
file given with `--config` (or `PROVERNET_CONFIG`) whose tables mirror the commands, keys
written as the flags, e.g. `[roller.stake] rpc-url = "http://127.0.0.1:8545"`. A flag beats a
variable, which beats the file.

Start-up imports click and nothing else of weight: each command's module is imported when that
command runs, so `provernet --help` or `provernet zkp prove` pays for no web3, libp2p or py_ecc
it does not use.
"""

from __future__ import annotations

import importlib
import sys
import tomllib
from pathlib import Path

import click

#: Each command's one-line help, shown by `provernet --help` without importing the command; the
#: command itself is `command` in provernet.commands.<name>. The test of start-up
#: (tests/provernet/test_cli_startup.py) checks each line against the command's own help.
COMMANDS = {
    "audit": "Recompute the market's seeds, slots, reputation and lottery tickets from public "
             "data; check a coordinator's audit log and settlements against L1; slash invalid "
             "signed proofs.",
    "bench": "Measure verification gas, the rollup's commit gas, verification speed and the "
             "coordinator's capacity.",
    "coordinator": "The coordinator: draws rollers for committed blocks, verifies, finalizes, "
                   "settles.",
    "deploy": "Deploy ProverToken, CoordinatorRegistry and RollerStaking, wired together (and "
              "with --rollup the Rollup contract of the block circuit).",
    "devnet": "Run the market on one machine: L1, a sequencer, a coordinator and rollers "
              "(INSECURE development keys and setup).",
    "explorer": "Serve the market explorer: blocks, draws, rollers and slashes, live from L1.",
    "keys": "The operator's Ethereum account, in an encrypted keystore.",
    "l2": "An L2 wallet: keys, balance, transfers, deposits and withdrawals through the Bridge, "
          "the escape hatch, a rebuild from L1.",
    "roller": "Run the roller node; stake, unstake, withdraw, pause, resume, claim; see its "
              "standing.",
    "sequencer": "The L2 sequencer: accepts transfers, builds blocks, commits them to L1.",
    "simulate": "Simulate the market in virtual time: `simulate SCENARIO.toml --out DIR` runs a "
                "scenario (see `simulate run --help`); `simulate sweep` compares settings.",
    "zkp": "Make development keys, prove, check and aggregate Groth16 proofs, export verifiers, "
           "time the proving backends.",
}

#: The errors a user can cause or fix, (module, class): shown as one line, never as a traceback.
#: Named rather than imported, so that start-up imports none of their packages; an exception is
#: matched against those of them already imported, since an error class whose module was never
#: imported cannot have been raised.
USER_ERRORS = (
    ("market_contracts.errors", "ChainError"),
    ("coordinator.errors", "CoordinatorError"),
    ("p2p.errors", "P2PError"),
    ("market_contracts.rules", "RulesError"),
    ("roller.errors", "RollerError"),
    ("sequencer.errors", "SequencerError"),
    ("simulation.errors", "SimulationError"),
    ("zkp.errors", "ZkpError"),
)


def _is_user_error(exc: BaseException) -> bool:
    return any(isinstance(exc, getattr(module, name))
               for module_name, name in USER_ERRORS
               if (module := sys.modules.get(module_name)) is not None)


class ProvernetGroup(click.Group):
    """The root group: commands by name from `COMMANDS`, each imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        return importlib.import_module(f"provernet.commands.{cmd_name}").command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """As click's, from the help lines in `COMMANDS` instead of the imported commands."""
        limit = formatter.width - 6 - max(map(len, COMMANDS))
        rows = [(name, click.Command(name, help=COMMANDS[name]).get_short_help_str(limit))
                for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except Exception as exc:
            if _is_user_error(exc):
                raise click.ClickException(str(exc)) from exc
            raise


def _load_config(ctx: click.Context, _param, value: Path | None):
    if value is None:
        return None
    try:
        ctx.default_map = _option_names(tomllib.loads(value.read_text()))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise click.BadParameter(f"cannot read {value}: {exc}") from exc
    return value


def _option_names(table: dict) -> dict:
    """TOML keys are written as the flags are (`rpc-url` or `rpc_url`); click wants `rpc_url`."""
    return {k.replace("-", "_"): _option_names(v) if isinstance(v, dict) else v for k, v in table.items()}


@click.group(cls=ProvernetGroup, context_settings={"auto_envvar_prefix": "PROVERNET"})
@click.option("--config", type=click.Path(dir_okay=False, path_type=Path), is_eager=True,
              expose_value=False, callback=_load_config, envvar="PROVERNET_CONFIG",
              help="TOML file of option defaults, one table per command.")
@click.version_option(package_name="provernet")
def cli() -> None:
    """provernet: a decentralized prover market for a ZK rollup."""


def main() -> None:
    sys.exit(cli.main(prog_name="provernet"))
