"""`provernet coordinator run`: assign a rollup's blocks to rollers by the market rules."""

from __future__ import annotations

from pathlib import Path

import click

from coordinator.config import CoordinatorConfig
from coordinator.service import CoordinatorService
from coordinator.store import DATABASE_NAME
from market_contracts.chain import connect
from market_contracts.deploy import Deployment, check_deployment
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
from sequencer.client import DEFAULT_URL
from zkp.builds import BLOCK_PROFILES, build_block_circuit

#: beside the roller's 9464 and the sequencer's 9465, so that the three nodes can share a host
DEFAULT_METRICS_LISTEN = "127.0.0.1:9466"


@click.group("coordinator")
def command() -> None:
    """The coordinator: draws rollers for committed blocks, verifies, finalizes, settles."""


@command.command("run")
@rpc_url_option
@deployment_option
@account_options
@dev_account_option
@click.option("--sequencer", "sequencer_url", default=DEFAULT_URL, show_default=True,
              help="The sequencer's JSON-RPC URL (blocks' circuit inputs come from it).")
@click.option("--listen", default="/ip4/127.0.0.1/tcp/0", show_default=True,
              help="libp2p multiaddr to listen on.")
@click.option("--bootstrap", multiple=True,
              help="Multiaddr (ending in /p2p/PEER_ID) of a peer to join the gossip network by; "
                   "repeatable.")
@click.option("--circuit", type=click.Choice(BLOCK_PROFILES), default="small", show_default=True,
              help="The block circuit profile the rollup was deployed with.")
@click.option("--poll-interval", type=click.FloatRange(0.1), default=CoordinatorConfig.poll_interval,
              show_default=True,
              help="Seconds between reads of L1.")
@click.option("--snapshot-interval", type=click.FloatRange(1), default=CoordinatorConfig.snapshot_interval,
              show_default=True,
              help="Least seconds between roster snapshots taken because the roster changed "
                   "(one is also taken before the newest is half SNAPSHOT_MAX_AGE old).")
@database_option("coordinator", f"DATADIR/coordinator/{DATABASE_NAME}")
@metrics_listen_option(DEFAULT_METRICS_LISTEN)
def run(rpc_url: str, deployment: Path | None, datadir: Path | None, password_file: Path | None,
        dev_account: int | None, sequencer_url: str, listen: str, bootstrap: tuple[str, ...],
        circuit: str, poll_interval: float, snapshot_interval: float, db: str | None,
        metrics_listen: str | None) -> None:
    """Run the coordinator until interrupted; its state lives in DATADIR/coordinator (its
    database too, unless --db names another)."""
    node_dir = datadir_from(datadir) / "coordinator"
    refuse_if_unusable(node_dir, "coordinator")  # before L1, the password and the circuit
    path = deployment_path(deployment, datadir)
    loaded = Deployment.load(path)
    chain = connect(rpc_url)
    check_deployment(chain, loaded, source=str(path))
    account = signing_account(chain, dev_account, datadir, password_file)
    build = build_block_circuit(circuit)
    config = CoordinatorConfig(datadir=node_dir,
                               sequencer_url=sequencer_url, listen=listen, bootstrap=bootstrap,
                               poll_interval=poll_interval, snapshot_interval=snapshot_interval,
                               metrics_listen=metrics_listen, db=db)
    configure_logging()
    run_until_stopped(CoordinatorService(config, chain, loaded, account, build).run, "coordinator")
