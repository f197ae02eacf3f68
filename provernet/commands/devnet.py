"""`provernet devnet`: the whole market on one machine, with a live view and a summary."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import click
import trio
from rich.console import Group
from rich.live import Live
from rich.table import Table

from market_contracts.rules import MarketParams
from market_contracts.units import format_tokens
from provernet.devnet import Devnet, DevnetConfig
from provernet.devnet.behaviours import BEHAVIOURS
from provernet.explorer.server import ExplorerError
from provernet.market_report import MarketReport, market_report, percentile
from provernet.services import configure_logging, run_until_stopped
from provernet.views import console
from provernet.world import ROLLER_TOKENS

#: seconds between refreshes of the live view and checks of the stop condition
REFRESH_SECONDS = 1.0


def _bad_rollers(_ctx, _param, value: str | None) -> tuple[tuple[str, int], ...]:
    if not value:
        return ()
    plan = []
    for part in value.split(","):
        behaviour, sep, count = part.strip().partition(":")
        if behaviour not in BEHAVIOURS[1:] or (sep and not count.isdigit()):
            raise click.BadParameter(
                f"{part!r}: expected BEHAVIOUR[:COUNT] with BEHAVIOUR one of "
                f"{', '.join(BEHAVIOURS[1:])}, e.g. invalid:1,lazy:1")
        plan.append((behaviour, int(count) if sep else 1))
    return tuple(plan)


@click.command("devnet")
@click.option("--rollers", default=3, show_default=True, type=click.IntRange(1, 32),
              help="Honest rollers to run.")
@click.option("--bad-rollers", callback=_bad_rollers, default=None,
              help="Misbehaving rollers to add, e.g. invalid:1,lazy:1 (invalid: signs proofs "
                   "that do not verify; lazy: accepts tasks and never delivers).")
@click.option("--rollups", type=click.IntRange(1, 8), default=1, show_default=True,
              help="Rollups on the one market, each with its own sequencer, coordinator and "
                   "reward pool; the rollers serve them all.")
@click.option("--blocks", type=click.IntRange(1), default=None,
              help="Stop once this many L2 blocks of every rollup are finalized and their "
                   "batches settled (default: run until Ctrl-C).")
@click.option("--l1", type=click.Choice(["embedded", "anvil"]), default="embedded",
              show_default=True, help="The L1: the in-process EVM, or an anvil node it starts.")
@click.option("--rpc-url", default=None, help="Use this L1 JSON-RPC endpoint instead (a dev "
              "node with unlocked accounts, e.g. an anvil you run).")
@click.option("--l1-port", type=click.IntRange(0, 65535), default=8545, show_default=True,
              help="Serve the embedded L1 over JSON-RPC on 127.0.0.1:PORT (0: any free port).")
@click.option("--k", "batch_size", type=click.IntRange(1, 16), default=2, show_default=True,
              help="Blocks per aggregated batch (K).")
@click.option("--deadline", type=click.IntRange(1), default=30, show_default=True,
              help="Proof deadline T in seconds (the late window is 2T, aggregation T too).")
@click.option("--block-interval", type=click.FloatRange(0.1), default=8.0, show_default=True,
              help="Seconds between L2 blocks (CPU rollers prove a small block in seconds).")
@click.option("--load", type=click.FloatRange(0), default=0.2, show_default=True,
              help="L2 transfers per second from the load generator.")
@click.option("--backend", type=click.Choice(["auto", "cpu", "gpu"]), default="auto",
              show_default=True, help="The rollers' proving backend.")
@click.option("--farm-workers", type=click.IntRange(0, 8), default=0, show_default=True,
              help="Have the first roller prove on a farm of this many worker processes, on a "
                   "PostgreSQL server the devnet starts (docs/farm.md).")
@click.option("--datadir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where the nodes keep their state (default: a temporary directory).")
@click.option("--explorer-port", type=click.IntRange(0, 65535), default=None,
              help="Serve the market explorer on 127.0.0.1:PORT beside the devnet (0: any free "
                   "port) and print its URL [default: no explorer].")
@click.option("--json", "as_json", is_flag=True,
              help="No live view; print the summary as JSON at the end.")
def command(rollers: int, bad_rollers: tuple[tuple[str, int], ...], rollups: int,
            blocks: int | None, l1: str,
            rpc_url: str | None, l1_port: int, batch_size: int, deadline: int,
            block_interval: float, load: float, backend: str, farm_workers: int,
            datadir: Path | None, explorer_port: int | None, as_json: bool) -> None:
    """Run the market on one machine: L1, a sequencer, a coordinator and rollers (INSECURE
    development keys and setup)."""
    # `replace` raises the unbonding to the margin the shortened deadlines need.
    params = MarketParams.devnet().replace(k=batch_size, t=deadline, late_window=2 * deadline,
                                           t_agg=deadline)
    with tempfile.TemporaryDirectory(prefix="provernet-devnet-") as scratch:
        config = DevnetConfig(
            datadir=datadir or Path(scratch), params=params, rollers=rollers,
            bad_rollers=bad_rollers, l1=rpc_url or l1, l1_port=l1_port, backend=backend,
            block_interval=block_interval, load=load, explorer_port=explorer_port,
            rollups=rollups, farm_workers=farm_workers)
        devnet = Devnet(config)
        out = console()
        # The nodes' logs go to a file: on the terminal they would tear the live view apart.
        config.datadir.mkdir(parents=True, exist_ok=True)
        configure_logging(log_file=config.datadir / "devnet.log")
        reports: list[MarketReport] = []
        #: each rollup's bridge figures, read with its report
        bridges: list[dict[str, int]] = []
        try:
            run_until_stopped(lambda: _run(devnet, blocks, out, reports, bridges,
                                           live=not as_json),
                              "devnet")
        except ExplorerError as exc:
            raise click.ClickException(str(exc)) from None
        if not reports:
            return
        if as_json:
            # The first rollup's report as with one rollup, and every rollup's blocks and pool.
            click.echo(json.dumps({**reports[0].to_json(), "bridge": bridges[0], "rollups": [
                {**{k: v for k, v in r.to_json().items() if k != "rollers"}, "bridge": bridge}
                for r, bridge in zip(reports, bridges)]}))
        else:
            out.print(_summary(reports))


async def _run(devnet: Devnet, blocks: int | None, out, reports: list[MarketReport],
               bridges: list[dict[str, int]], live: bool) -> None:
    """Run until `blocks` are finalized (or a stop signal), then read the summary off the chain
    while it is still up (an anvil L1 stops with the devnet)."""
    async with trio.open_nursery() as nursery:
        await nursery.start(devnet.run)
        if live:
            out.print(_joining(devnet))
        elif devnet.explorer_url:
            click.echo(f"explorer: {devnet.explorer_url}", err=True)
        try:
            with Live(console=out, auto_refresh=False) if live else _nothing() as view:
                while True:
                    if view is not None:
                        view.update(await trio.to_thread.run_sync(_live_view, devnet),
                                    refresh=True)
                    if blocks is not None and await trio.to_thread.run_sync(
                            _all_settled, devnet, blocks):
                        break
                    await trio.sleep(REFRESH_SECONDS)
        finally:
            with trio.CancelScope(shield=True):
                # One L1 block for every rollup's report: the chain moves on meanwhile.
                at = await trio.to_thread.run_sync(lambda: devnet.chain.w3.eth.block_number)
                for lane in devnet.rollups:
                    reports.append(await trio.to_thread.run_sync(
                        market_report, devnet.market, lane.rollup, devnet.behaviours,
                        devnet.first_block, at))
                    bridges.append(await trio.to_thread.run_sync(lane.bridge_status))
        nursery.cancel_scope.cancel()


def _all_settled(devnet: Devnet, blocks: int) -> bool:
    """Every rollup's blocks 1..`blocks` settled: only then do rewards and reputations show
    their outcomes (settlement waits for every late window to close)."""
    return all(lane.settled(blocks) for lane in devnet.rollups)


class _nothing:
    def __enter__(self):
        return None

    def __exit__(self, *_):
        return False


def _joining(devnet: Devnet) -> str:
    d = devnet.deployment
    lines = [f"[bold]provernet devnet[/bold] on chain {d.chain_id} "
             "[yellow](development keys and setup: INSECURE)[/yellow]",
             f"  RollerStaking {d.staking}"]
    for lane in devnet.rollups:
        lines += [f"  Rollup {lane.rollup.address} (deployment{lane.suffix}.json)",
                  f"    sequencer {lane.sequencer.url}   coordinator "
                  f"{lane.coordinator.node.addrs[0]}"]
    lines.append(f"  state and logs in {devnet.config.datadir}")
    if devnet.explorer_url:
        lines.append(f"  explorer (the first rollup): {devnet.explorer_url}")
    if devnet.farm_url:
        # The devnet's own throwaway server: its password is as public as the dev keys.
        lines.append(f"  the first roller proves on a farm: provernet roller workers --farm "
                     f"{devnet.farm_url}")
    if devnet.l1_url:
        deployment = devnet.config.datadir / "deployment.json"
        guest = devnet.guest_accounts[0]
        lines += [
            f"  L1 JSON-RPC: {devnet.l1_url}",
            "  to join with a roller of your own, from another terminal (dev account "
            f"{guest.address} holds ETH and {format_tokens(ROLLER_TOKENS)}; its key is public):",
            f"    echo {guest.key.to_0x_hex()} > key.txt",
            "    provernet keys import --datadir ~/my-roller --key-file key.txt",
            f"    provernet roller stake 150 --rpc-url {devnet.l1_url} --deployment {deployment} "
            "--datadir ~/my-roller",
            f"    provernet roller run --rpc-url {devnet.l1_url} --deployment {deployment} "
            f"--datadir ~/my-roller --bootstrap {devnet.coordinator.node.addrs[0]}"]
    return "\n".join(lines)


def _live_view(devnet: Devnet) -> Group:
    blocks = Table(title="L2 blocks", show_header=True)
    blocks.add_column("rollup")
    for column in ("precommitted", "committed, proving", "proven, awaiting batch", "finalized",
                   "transfers sent", "reward pool"):
        blocks.add_column(column, justify="right")
    for lane in devnet.rollups:
        rollup, core = lane.rollup, lane.coordinator.core
        committed, finalized = rollup.last_committed(), rollup.last_finalized()
        proven = sum(1 for n in range(finalized + 1, committed + 1)
                     if core.block_status(n).name in ("PROVEN", "AGGREGATING", "AGGREGATED"))
        blocks.add_row(rollup.address[:10] + "…",
                       str(lane.sequencer.mempool.tip_number - committed),
                       str(committed - finalized - proven), str(proven), str(finalized),
                       str(lane.transfers_sent),
                       format_tokens(devnet.market.reward_pool(rollup.address)))
    rollers = Table(title="Rollers")
    for column in ("roller", "behaviour", "stake", "rep", "claimable", "in flight",
                   "on time", "late", "missed", "invalid"):
        rollers.add_column(column, justify="right" if column not in ("roller", "behaviour") else "left")
    for roller in devnet.rollers:
        info = devnet.market.roller_info(roller.account.address)
        # As the coordinators count them, over every rollup.
        counts = [lane.coordinator.core.roller_counts(roller.account.address)
                  for lane in devnet.rollups]
        rollers.add_row(roller.account.address[:10] + "…", roller.behaviour,
                        format_tokens(info.active + info.unbonding), str(info.rep),
                        format_tokens(info.claimable), str(len(roller.service.journal.in_flight())),
                        *(str(sum(getattr(c, outcome) for c in counts))
                          for outcome in ("on_time", "late", "missed", "invalid")))
    bridge = Table(title="Bridge")
    bridge.add_column("rollup")
    for column in ("deposits queued", "deposits included", "withdrawals sent", "claimable",
                   "claimed"):
        bridge.add_column(column, justify="right")
    for lane in devnet.rollups:
        status = lane.bridge_status()
        bridge.add_row(lane.rollup.address[:10] + "…", *(str(status[key]) for key in (
            "deposits_queued", "deposits_included", "withdrawals_sent", "withdrawals_claimable",
            "withdrawals_claimed")))
    return Group(blocks, bridge, rollers)


def _summary(reports: list[MarketReport]) -> Group:
    head = Table(title="devnet summary")
    head.add_column("rollup", min_width=42)
    for column in ("committed", "finalized", "batches", "settled", "lotteries drawn",
                   "finality p50 (s)", "finality p99 (s)", "reward pool left"):
        head.add_column(column, justify="right")
    for report in reports:
        head.add_row(report.rollup, str(report.committed_blocks), str(report.finalized_blocks),
                     str(report.batches_finalized), str(report.batches_settled),
                     str(report.lotteries_drawn), str(percentile(report.finality_seconds, 50)),
                     str(percentile(report.finality_seconds, 99)),
                     format_tokens(report.reward_pool))
    # Market-wide: every report holds the same rollers' standing.
    report = reports[0]
    rollers = Table(title="rollers, from the chain")
    for column in ("roller", "behaviour", "stake", "rep", "rewards", "slashed", "on time",
                   "late", "missed", "invalid"):
        rollers.add_column(column)
    for r in report.rollers:
        rollers.add_row(r.address, r.behaviour, format_tokens(r.stake), str(r.reputation),
                        format_tokens(r.rewards), format_tokens(r.slashed),
                        *(str(r.outcomes[k]) for k in ("on_time", "late", "missed", "invalid")))
    return Group(head, rollers)
