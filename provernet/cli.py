"""`provernet`: one command line for every role.

Options can come from flags, from `PROVERNET_<COMMAND>_<OPTION>` environment variables (click's
auto envvar prefix), or from a TOML file given with `--config` whose tables mirror the commands,
e.g. `[roller.stake] rpc_url = "http://127.0.0.1:8545"`.
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

import click

from coordinator.errors import CoordinatorError
from market_contracts.errors import ChainError
from market_contracts.rules import RulesError
from p2p.errors import P2PError
from roller.errors import RollerError
from sequencer.errors import SequencerError
from simulation.errors import SimulationError
from zkp.errors import ZkpError

# The errors a user can cause or fix; shown as one line, never as a traceback.
USER_ERRORS = (ChainError, CoordinatorError, P2PError, RulesError, RollerError, SequencerError,
               SimulationError, ZkpError)


class ProvernetGroup(click.Group):
    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except USER_ERRORS as exc:
            raise click.ClickException(str(exc)) from exc


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


def _register_commands() -> None:
    from provernet.commands import (audit, bench, coordinator, deploy, devnet, keys, l2, roller,
                                    sequencer, simulate, zkp)

    for module in (audit, bench, coordinator, deploy, devnet, keys, l2, roller, sequencer,
                   simulate, zkp):
        cli.add_command(module.command)


_register_commands()


def main() -> None:
    sys.exit(cli.main(prog_name="provernet"))
