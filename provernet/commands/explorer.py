"""`provernet explorer`: the market explorer, a web page read live from L1."""

from __future__ import annotations

from pathlib import Path

import click
import trio

from market_contracts.rollup import Rollup
from provernet.commands.connection import market_options, open_market
from provernet.commands.keys import datadir_option
from provernet.explorer.data import ExplorerData
from provernet.explorer.server import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    POLL_INTERVAL,
    Explorer,
    ExplorerError,
)
from provernet.services import configure_logging, run_until_stopped


@click.command("explorer")
@market_options
@datadir_option
@click.option("--audit-log", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None,
              help="The coordinator's audit log (audit.jsonl in its data directory): each draw "
                   "is also checked against what the coordinator published [default: against "
                   "L1's settlements only].")
@click.option("--host", default=DEFAULT_HOST, show_default=True,
              help="Address to serve on (the default serves this machine only).")
@click.option("--port", type=click.IntRange(0, 65535), default=DEFAULT_PORT, show_default=True,
              help="Port to serve on (0: any free port).")
@click.option("--poll-interval", type=click.FloatRange(0.1), default=POLL_INTERVAL,
              show_default=True, help="Seconds between reads of L1.")
def command(rpc_url: str, deployment: Path | None, datadir: Path | None, audit_log: Path | None,
            host: str, port: int, poll_interval: float) -> None:
    """Serve the market explorer: blocks, draws, rollers and slashes, live from L1.

    A web page of the L2 blocks with their status and times, each block's rounds, drawn rollers
    and slots, outcomes and rewards, with every draw recomputed from public data and checked;
    the batches and their finalization transactions; the rollers with their stake, reputation
    over time, rewards and slashes; the slashing evidence; the reward pools. It follows the chain
    as it moves, without a reload."""
    market = open_market(rpc_url, deployment, datadir)
    if market.deployment.rollup is None:
        raise click.ClickException("the deployment names no rollup: there is nothing to explore")
    rollup = Rollup.from_deployment(market.chain, market.deployment)
    explorer = Explorer(ExplorerData(market, rollup, audit_log), host=host, port=port,
                        poll_interval=poll_interval)
    configure_logging()

    async def serve() -> None:
        async with trio.open_nursery() as nursery:
            url = await nursery.start(explorer.run)
            click.echo(f"explorer at {url}")

    try:
        run_until_stopped(serve, "explorer")
    except ExplorerError as exc:
        raise click.ClickException(str(exc)) from None
