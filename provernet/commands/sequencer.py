"""`provernet sequencer run`: the L2 sequencer, committing blocks to the deployment's Rollup."""

from __future__ import annotations

import re
from pathlib import Path

import click

from market_contracts.bridge import Bridge
from market_contracts.chain import connect
from market_contracts.deploy import Deployment, check_deployment
from market_contracts.rollup import Rollup
from p2p.datadir import refuse_if_unusable
from provernet.commands.connection import deployment_option, deployment_path, rpc_url_option
from provernet.commands.keys import account_options, dev_account_option, signing_account
from provernet.services import (
    configure_logging,
    database_option,
    metrics_listen_option,
    run_until_stopped,
)
from roller.keys import datadir_from
from sequencer.accounts import Account
from sequencer.circuit_inputs import LARGE, SMALL
from sequencer.genesis import dev_address, load_genesis
from sequencer.config import SequencerConfig
from sequencer.relayer import BridgeMessages
from sequencer.service import Sequencer
from sequencer.store import DATABASE_NAME

CIRCUITS = {"small": SMALL, "large": LARGE}
#: the devnet genesis: accounts 0..N-1 owned by the well-known dev keys, each with this balance
DEVNET_ACCOUNTS = 16
DEVNET_BALANCE = 10**24
#: the port after the roller's 9464, so that the three nodes can share a host
DEFAULT_METRICS_LISTEN = "127.0.0.1:9465"
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0}


class Duration(click.ParamType):
    """`2s`, `500ms`, `1m`, or plain seconds."""

    name = "duration"

    def convert(self, value, param, ctx) -> float:
        if isinstance(value, (int, float)):
            return float(value)
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m)?\s*", str(value))
        if match is None or float(match[1]) == 0:
            self.fail(f"{value!r} is not a positive duration such as 2s, 500ms or 1m", param, ctx)
        return float(match[1]) * _UNITS[match[2] or "s"]


def _listen(_ctx, _param, value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise click.BadParameter(f"{value!r} is not HOST:PORT, e.g. 127.0.0.1:8600")
    return host.strip("[]"), int(port)


def genesis_accounts_from(genesis_file: Path | None, count: int, balance: int) -> dict[int, Account]:
    """`--genesis FILE`, else the devnet's: dev-key accounts 0..count-1 with `balance` each."""
    if genesis_file is not None:
        return load_genesis(genesis_file)
    return {i: Account(dev_address(i), balance) for i in range(count)}


@click.group("sequencer")
def command() -> None:
    """The L2 sequencer: accepts transfers, builds blocks, commits them to L1."""


@command.command("run")
@rpc_url_option
@deployment_option
@account_options
@dev_account_option
@click.option("--listen", default=f"{SequencerConfig.host}:{SequencerConfig.port}",
              show_default=True, callback=_listen,
              help="HOST:PORT of the JSON-RPC API.")
@click.option("--block-interval", type=Duration(), default="2s", show_default=True,
              help="Time between blocks (a block is built only if transfers are pending).")
@click.option("--circuit", type=click.Choice(sorted(CIRCUITS)), default="small",
              show_default=True, help="Block circuit profile: transfers per block, tree depth.")
@click.option("--genesis", "genesis_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Genesis allocation (JSON, see docs/rollup.md); without it, the devnet's: "
                   "--genesis-accounts dev-key accounts with --genesis-balance each.")
@click.option("--genesis-accounts", type=click.IntRange(1), default=DEVNET_ACCOUNTS,
              show_default=True, help="Devnet genesis: accounts owned by the dev keys 0..N-1.")
@click.option("--genesis-balance", type=click.IntRange(0), default=DEVNET_BALANCE,
              show_default=True, help="Devnet genesis: each account's balance in base units.")
@click.option("--max-pending", type=click.IntRange(1), default=SequencerConfig.max_pending,
              show_default=True,
              help="Most pending transfers held at once.")
@click.option("--confirmations", type=click.IntRange(0),
              default=SequencerConfig.relayer_confirmations, show_default=True,
              help="L1 blocks a deposit or forced withdrawal must be below the head before it "
                   "is relayed to L2 (a public chain's finality depth; 0 on a devnet).")
@database_option("sequencer", f"DATADIR/sequencer/{DATABASE_NAME}")
@metrics_listen_option(DEFAULT_METRICS_LISTEN)
def run(rpc_url: str, deployment: Path | None, datadir: Path | None, password_file: Path | None,
        dev_account: int | None, listen: tuple[str, int], block_interval: float, circuit: str,
        genesis_file: Path | None, genesis_accounts: int, genesis_balance: int, max_pending: int,
        confirmations: int, db: str | None, metrics_listen: str | None) -> None:
    """Run the sequencer until interrupted; its state lives in DATADIR/sequencer (its database
    too, unless --db names another)."""
    node_dir = datadir_from(datadir) / "sequencer"
    refuse_if_unusable(node_dir, "sequencer")  # before L1, the password and the genesis
    path = deployment_path(deployment, datadir)
    loaded = Deployment.load(path)
    chain = connect(rpc_url)
    check_deployment(chain, loaded, source=str(path))
    rollup = Rollup.from_deployment(chain, loaded)
    bridge = BridgeMessages(Bridge(chain, loaded.rollup.bridge))
    account = signing_account(chain, dev_account, datadir, password_file)
    config = SequencerConfig(
        datadir=node_dir,
        genesis=genesis_accounts_from(genesis_file, genesis_accounts, genesis_balance),
        circuit=CIRCUITS[circuit], block_interval=block_interval, host=listen[0], port=listen[1],
        max_pending=max_pending, metrics_listen=metrics_listen, db=db,
        relayer_confirmations=confirmations, relayer_start_block=loaded.rollup.block)
    configure_logging()
    run_until_stopped(Sequencer(config, rollup, account, bridge).run, "sequencer")
