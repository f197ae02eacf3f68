"""`provernet roller`: the roller node (`run`), and an operator's stake and standing on the
market contracts."""

from __future__ import annotations

import dataclasses
import json
from functools import partial
from pathlib import Path

import click
from rich.table import Table

from market_contracts.bindings import Market
from market_contracts.chain import connect
from market_contracts.deploy import Deployment, check_deployment
from market_contracts.rules import parse_address
from market_contracts.units import format_tokens, format_utc, parse_tokens
from p2p.errors import P2PError
from provernet.calibration import empty_block_inputs
from provernet.commands.connection import market_options, open_market
from provernet.commands.keys import (account_options, datadir_option, dev_account_option,
                                     password_file_option, signing_account, unlock)
from provernet.devnet.behaviours import (BEHAVIOURS, WORKER_BEHAVIOURS, roller_options,
                                         worker_options)
from provernet.doctor import diagnose, doctor_table, failed
from provernet.roller_view import LOG_NAME, watch
from provernet.services import configure_logging, run_until_stopped
from provernet.views import console, roller_state, share, snapshot_line, unbonding_lines
from roller.config import BACKENDS, RollerConfig, load_config
from roller.datadir import DataDirLock
from roller.farm.queue import FarmError, FarmQueue, Worker, farm_url
from roller.farm.worker import FarmWorker
from roller.journal import JOURNAL_NAME, Journal
from roller.keys import DEFAULT_DATADIR, datadir_from, keystore_address
from roller.report import render_tasks_report, tasks_report
from roller.service import RollerService
from zkp import native
from zkp.errors import BackendUnavailable


@click.group("roller")
def command() -> None:
    """Run the roller node; stake, unstake, withdraw, pause, resume, claim; see its standing."""


def farm_option(**kwargs):
    return click.option("--farm", envvar="PROVERNET_FARM", metavar="URL", **kwargs)


def node_options(func):
    """The node's settings, as `run` takes them; `doctor` takes the same, to check them."""
    options = [
        click.option("--config", "config_file", type=click.Path(dir_okay=False, path_type=Path),
                     help="The node's settings (TOML, docs/roller.md) [default "
                          "DATADIR/roller.toml]."),
        datadir_option,
        click.option("--rpc-url", envvar="PROVERNET_RPC_URL",
                     help="JSON-RPC endpoint of the L1 chain [env PROVERNET_RPC_URL; default "
                          "http://127.0.0.1:8545]."),
        click.option("--deployment", type=click.Path(dir_okay=False, path_type=Path),
                     envvar="PROVERNET_DEPLOYMENT",
                     help="Deployment file naming the contracts [env PROVERNET_DEPLOYMENT; "
                          "default DATADIR/deployment.json]."),
        click.option("--bootstrap", multiple=True,
                     help="Multiaddr (ending in /p2p/<peer id>) of a peer to join the network "
                          "through; repeatable."),
        click.option("--listen", help="Multiaddr libp2p listens on [default "
                                      "/ip4/127.0.0.1/tcp/0]."),
        click.option("--backend", type=click.Choice(BACKENDS),
                     help="Proving backend: auto (the GPU if usable, else the CPU), cpu or gpu "
                          "[default auto]."),
        farm_option(help="Prove on a farm: the PostgreSQL URL its workers (`roller worker`) "
                         "take jobs from [env PROVERNET_FARM; default: prove here]."),
        click.option("--metrics-listen",
                     help="HOST:PORT of the Prometheus metrics and /health server "
                          "[default 127.0.0.1:9464]."),
        password_file_option,
        dev_account_option,
    ]
    for option in reversed(options):
        func = option(func)
    return func


def node_config(config_file: Path | None, datadir: Path | None, rpc_url: str | None,
                deployment: Path | None, bootstrap: tuple[str, ...], listen: str | None,
                backend: str | None, farm: str | None, metrics_listen: str | None
                ) -> RollerConfig:
    """The settings from roller.toml, overridden by what the command line set."""
    overrides = {"rpc_url": rpc_url, "deployment": None if deployment is None else str(deployment),
                 "bootstrap": list(bootstrap) or None, "listen": listen, "backend": backend,
                 "farm": farm, "metrics_listen": metrics_listen}
    return load_config(datadir, config_file, overrides)


@command.command("run")
@node_options
@click.option("--no-view", is_flag=True,
              help="On a terminal too, print the logs instead of the live view (off a terminal "
                   "there is no view: JSON logs on stderr).")
@click.option("--behaviour", type=click.Choice(BEHAVIOURS), default="honest", hidden=True,
              help="Devnet and testing only: misbehave on purpose (invalid: submit tampered "
                   "proofs; lazy: accept tasks and never deliver).")
def run(config_file: Path | None, datadir: Path | None, rpc_url: str | None,
        deployment: Path | None, bootstrap: tuple[str, ...], listen: str | None,
        backend: str | None, farm: str | None, metrics_listen: str | None,
        password_file: Path | None, dev_account: int | None, no_view: bool,
        behaviour: str) -> None:
    """Run the roller node until interrupted: find coordinators, take the tasks it can finish in
    time, prove them, submit signed proofs. On a terminal it shows a live view and logs to
    DATADIR/roller.log."""
    config = node_config(config_file, datadir, rpc_url, deployment, bootstrap, listen, backend,
                         farm, metrics_listen)
    assert config.deployment is not None
    # Locked before L1 is reached and the password asked for: a second node on this directory,
    # or a directory this one cannot write, fails at once.
    with DataDirLock(config.datadir):
        loaded = Deployment.load(config.deployment)
        chain = connect(config.rpc_url)
        check_deployment(chain, loaded, source=str(config.deployment))
        account = signing_account(chain, dev_account, config.datadir, password_file)
        service = RollerService(config, chain, loaded, account,
                                sample_inputs=empty_block_inputs(account.address),
                                lock=False, **roller_options(behaviour))
        out = console()
        view = out.is_terminal and not no_view
        if view:
            # The logs go to a file: on the terminal they would tear the live view apart.
            log_file = config.datadir / LOG_NAME
            configure_logging(log_file=log_file)
            node = partial(watch, service, partial(status_report, service.market, account.address),
                           out, log_file)
        else:
            configure_logging()
            node = service.run
        try:
            run_until_stopped(node, "roller")
        except (P2PError, FarmError) as exc:
            raise click.ClickException(str(exc)) from exc


@command.command("doctor")
@node_options
@click.option("--json", "as_json", is_flag=True,
              help="Print the checks as JSON: [{name, status, detail, fix}].")
def doctor(config_file: Path | None, datadir: Path | None, rpc_url: str | None,
           deployment: Path | None, bootstrap: tuple[str, ...], listen: str | None,
           backend: str | None, farm: str | None, metrics_listen: str | None,
           password_file: Path | None, dev_account: int | None, as_json: bool) -> None:
    """Check the set-up `roller run` would start with (same options): the L1 endpoint and its
    chain, the deployment, the keystore and its password, the stake, the GPU, the ports, the
    clock (or the farm and its workers). Prints what is wrong and the fix; exits 1 if anything
    is."""
    checks = diagnose(partial(node_config, config_file, datadir, rpc_url, deployment, bootstrap,
                              listen, backend, farm, metrics_listen), password_file, dev_account)
    if as_json:
        click.echo(json.dumps([c.to_json() for c in checks]))
    else:
        console().print(doctor_table(checks))
    if failed(checks):
        raise click.exceptions.Exit(1)


@command.command("worker")
@farm_option(required=True, help="The farm's PostgreSQL URL (the roller's --farm) [env "
                                 "PROVERNET_FARM].")
@click.option("--backend", type=click.Choice(BACKENDS), default="auto", show_default=True,
              help="Proving backend: auto (the GPU if usable, else the CPU), cpu or gpu.")
@click.option("--threads", type=click.IntRange(min=1),
              help="CPU threads a proof uses [env PROVERNET_THREADS; default every core].")
@click.option("--name", help="How the roller's status names this worker [default: the host "
                             "name].")
@click.option("--artifacts", type=click.Path(file_okay=False, path_type=Path),
              default=DEFAULT_DATADIR / "farm-artifacts", show_default=True,
              help="Where the farm's circuits are kept once fetched (by content hash).")
@click.option("--behaviour", type=click.Choice(WORKER_BEHAVIOURS), default="honest", hidden=True,
              help="Devnet and testing only: invalid hands back tampered proofs.")
def worker(farm: str, backend: str, threads: int | None, name: str | None, artifacts: Path,
           behaviour: str) -> None:
    """Prove a farm's jobs until interrupted: one at a time, on this machine's backend. It holds
    no key: the roller that owns the farm checks every proof and signs it."""
    configure_logging()
    if threads is not None:
        native.threads = threads
    try:
        farm_worker = FarmWorker(farm_url(farm).url, artifacts.expanduser(), backend=backend,
                                 name=name, **worker_options(behaviour))
        run_until_stopped(farm_worker.run, "worker")
    except (FarmError, BackendUnavailable) as exc:
        raise click.ClickException(str(exc)) from exc


@command.command("workers")
@farm_option(required=True, help="The farm's PostgreSQL URL [env PROVERNET_FARM].")
@click.option("--json", "as_json", is_flag=True,
              help="Print the workers as JSON: [{id, name, backend, live, quarantined, jobs, "
                   "seconds_per_job}].")
def workers(farm: str, as_json: bool) -> None:
    """A farm's live workers, and those quarantined: backend, jobs proven, seconds per job."""
    try:
        queue = FarmQueue.open(farm, "status")
    except FarmError as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        found = queue.workers()
    finally:
        queue.close()
    if as_json:
        click.echo(json.dumps([dataclasses.asdict(w) for w in found]))
        return
    console().print(workers_table(str(queue.where), found))


def workers_table(farm: str, workers: list[Worker]) -> Table:
    """A farm's workers, for `roller workers`."""
    table = Table(title=f"farm {farm}", title_justify="left",
                  caption=f"{sum(w.live and w.quarantined is None for w in workers)} live, "
                          f"{sum(w.quarantined is not None for w in workers)} quarantined",
                  caption_justify="left")
    for column in ("id", "name", "backend", "state", "jobs", "s/job"):
        table.add_column(column, justify="right" if column in ("id", "jobs", "s/job") else "left")
    for w in workers:
        state = f"quarantined: {w.quarantined}" if w.quarantined else "live"
        if w.quarantined and not w.live:
            state += " (gone)"
        table.add_row(str(w.id), w.name, w.backend, state, str(w.jobs),
                      "" if w.seconds_per_job is None else f"{w.seconds_per_job:.2f}")
    return table


def _signed(action):
    """Shared shape of the signing commands: connect, unlock, act, report."""

    @market_options
    @account_options
    def run(rpc_url, deployment, datadir, password_file, **kwargs):
        market = open_market(rpc_url, deployment, datadir)
        account = unlock(datadir, password_file)
        click.echo(action(market, account, **kwargs))

    run.__name__ = action.__name__
    run.__doc__ = action.__doc__
    return run


@command.command("stake")
@click.argument("amount")
@_signed
def stake(market: Market, account, amount: str) -> str:
    """Stake AMOUNT tokens (adds to an existing stake)."""
    units = parse_tokens(amount)
    market.stake(account, units)
    info = market.roller_info(account.address)
    return f"staked {format_tokens(units)}; active stake is now {format_tokens(info.active)}"


@command.command("unstake")
@click.argument("amount")
@_signed
def unstake(market: Market, account, amount: str) -> str:
    """Move AMOUNT tokens of active stake to unbonding; withdraw them after the delay."""
    units = parse_tokens(amount)
    release = market.request_unstake(account, units)
    return f"unbonding {format_tokens(units)}; withdraw it from {format_utc(release)} with `provernet roller withdraw`"


@command.command("withdraw")
@_signed
def withdraw(market: Market, account) -> str:
    """Withdraw every unbonding entry whose release time has come."""
    return f"withdrew {format_tokens(market.withdraw(account))}"


@command.command("pause")
@_signed
def pause(market: Market, account) -> str:
    """Stop being selected for tasks, without penalty."""
    market.pause(account)
    return "paused: no new tasks will be assigned until `provernet roller resume`"


@command.command("resume")
@_signed
def resume(market: Market, account) -> str:
    """Become selectable again after a pause."""
    market.resume(account)
    return "resumed: selectable again"


@command.command("claim")
@_signed
def claim(market: Market, account) -> str:
    """Transfer every claimable reward to the roller's account."""
    return f"claimed {format_tokens(market.claim(account))}"


@command.command("status")
@market_options
@datadir_option
@click.option("--address", help="Any roller's address; default: the keystore's account.")
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON (amounts in base units).")
@click.option("--tasks", "with_tasks", is_flag=True,
              help="Also show the node's tasks from its journal (DATADIR/journal.sqlite): in "
                   "flight, the latest ones and why each ended as it did, and totals.")
def status(rpc_url: str, deployment: Path | None, datadir: Path | None, address: str | None, as_json: bool,
           with_tasks: bool) -> None:
    """Stake, unbonding with release times, reputation, weight and its share, claimable rewards;
    with --tasks, the node's own tasks."""
    market = open_market(rpc_url, deployment, datadir)
    roller = parse_address(address) if address else keystore_address(datadir)
    report = status_report(market, roller)
    tasks = journal_report(datadir) if with_tasks else None
    if as_json:
        if with_tasks:
            report["tasks"] = tasks
        click.echo(json.dumps(report))
        return
    out = console()
    out.print(f"[bold]Roller {roller}[/bold]  ({report['state']})")
    rows = [
        ("active stake", format_tokens(int(report["active"]))),
        ("unbonding", format_tokens(int(report["unbonding_total"]))),
        ("reputation", f"{report['reputation']} / {report['rep_max']}"),
        ("weight", f"{report['weight']} ({report['weight_share']:.2%} of total weight)"),
        ("claimable rewards", format_tokens(int(report["claimable"]))),
        ("wallet balance", format_tokens(int(report["wallet"]))),
    ]
    rows.append(("roster snapshot", snapshot_line(report["snapshot"])))
    for label, value in rows:
        out.print(f"  {label:<18} {value}")
    for line in unbonding_lines(market.unbondings(roller), market.chain.latest_timestamp()):
        out.print(f"    {line}")
    if with_tasks:
        if tasks is None:
            out.print(f"No task journal in {datadir_from(datadir)}: this node has not run there.")
        else:
            render_tasks_report(tasks, out)


def journal_report(datadir: Path | None) -> dict | None:
    """The tasks report of the journal in the data directory; None when there is none. Reading
    it while the node runs is safe (SQLite in WAL mode)."""
    path = datadir_from(datadir) / JOURNAL_NAME
    if not path.is_file():
        return None
    journal = Journal.open(path)
    try:
        return tasks_report(journal)
    finally:
        journal.close()


def status_report(market: Market, roller: str) -> dict:
    """A roller's standing as JSON-ready values; token amounts are decimal strings of base units."""
    block = market.chain.w3.eth.block_number
    info = market.roller_info(roller, block)
    total_weight = sum(w for _, w in market.roster(block))
    return {
        "address": info.address,
        "state": roller_state(info),
        "active": str(info.active),
        "unbonding_total": str(info.unbonding),
        "unbonding": [{"amount": str(e.amount), "release_time": e.release_time}
                      for e in market.unbondings(roller, block)],
        "reputation": info.rep,
        "rep_max": market.deployment.params.rep_max,
        "weight": str(info.weight),
        "weight_share": share(info.weight, total_weight),
        "claimable": str(info.claimable),
        "wallet": str(market.token_balance(roller, block)),
        "paused": info.paused,
        "snapshot": snapshot_standing(market, info.address, block),
        "block": block,
    }


def snapshot_standing(market: Market, roller: str, block: int) -> dict | None:
    """The newest roster snapshot at `block` and the roller's weight in it (0: not in it; its
    stake counts for draws from the next snapshot); None before the first."""
    count = market.snapshot_count(block)
    if count == 0:
        return None
    l1_block = market.chain.call(market.staking.functions.snapshotInfo(count - 1), block)[0]
    (newest,) = market.snapshots(from_block=l1_block, to_block=l1_block)
    weight = next((e.weight for e in newest.entries if e.roller == roller), 0)
    return {"id": newest.id, "timestamp": newest.timestamp, "weight": str(weight)}
