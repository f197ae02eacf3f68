"""Running a long-lived node (sequencer, coordinator, roller) as an operator's process.

Ctrl-C and SIGTERM (what systemd and `docker stop` send) both mean "stop cleanly": they are
received as ordinary events and cancel the service, so every task unwinds through its own
cleanup (the store closes, a transfer being written finishes) instead of waiting for trio to
deliver a KeyboardInterrupt into whichever task happens to run. A second signal while that
cleanup runs stops the process at once, as operators expect from a second Ctrl-C.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import click
import structlog
import trio

from p2p.database import DatabaseError, parse_url
from p2p.metrics_http import listen_address

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
#: exit status of a process stopped by a second signal: 128 + SIGINT, as shells report it
FORCED_EXIT_STATUS = 128 + signal.SIGINT

log = structlog.get_logger(__name__)


def provernet_binary() -> Path:
    """This installation's `provernet` command, for the nodes the devnet, the chaos harness and
    the benchmarks start as processes of their own."""
    return Path(sys.executable).parent / "provernet"


def farm_worker_command(farm: str, name: str, artifacts: Path, *, backend: str = "cpu",
                        threads: int = 1, behaviour: str = "honest") -> list:
    """`provernet roller worker` as the devnet, `bench farm` and the tests start one."""
    return [provernet_binary(), "roller", "worker", "--farm", farm, "--backend", backend,
            "--threads", str(threads), "--name", name, "--artifacts", artifacts,
            "--behaviour", behaviour]


def run_until_stopped(service: Callable[[], Awaitable[object]], name: str) -> None:
    """Run `service` until it returns, fails, or the process is asked to stop.

    A failure propagates (the command turns it into a one-line error); a requested stop prints
    "NAME stopped" on stderr and returns normally.
    """
    try:
        stopped = trio.run(_supervise, service, name)
    except BaseExceptionGroup as group:
        raise _first_cause(group) from None
    if stopped:
        click.echo(f"{name} stopped", err=True)


async def _supervise(service: Callable[[], Awaitable[object]], name: str) -> bool:
    """True if a signal stopped the service, False if it returned by itself."""
    service_scope = trio.CancelScope()
    with trio.open_signal_receiver(*STOP_SIGNALS) as signals:
        async with trio.open_nursery() as nursery:

            async def run_service() -> None:
                with service_scope:
                    await service()
                nursery.cancel_scope.cancel()  # done: stop listening for signals

            nursery.start_soon(run_service)
            async for signum in signals:
                if service_scope.cancel_called:
                    click.echo(f"{name}: second stop signal, exiting without cleanup", err=True)
                    os._exit(FORCED_EXIT_STATUS)
                log.info("stopping", signal=signal.Signals(signum).name)
                service_scope.cancel()
    return service_scope.cancel_called


def _first_cause(group: BaseExceptionGroup) -> BaseException:
    """The error that stopped the service: the operator reads it, not the nursery's group."""
    error: BaseException = group
    while isinstance(error, BaseExceptionGroup):
        error = error.exceptions[0]
    return error


def metrics_listen_option(default: str):
    """`--metrics-listen HOST:PORT` of a node's Prometheus metrics and health server
    (`p2p.metrics_http`), checked here; "" serves none (the option's value is then None)."""

    def check(_ctx, _param, value: str) -> str | None:
        if not value:
            return None
        try:
            listen_address(value)
        except ValueError as error:
            raise click.BadParameter(str(error)) from None
        return value

    return click.option(
        "--metrics-listen", default=default, show_default=True, callback=check,
        help='HOST:PORT of the Prometheus /metrics and /health server (port 0 picks a free '
             'one; "" serves none).')


def database_option(node: str, default: str):
    """`--db URL`: where a node keeps its state (p2p/database.py), its form checked here; the
    value stays the text given (None: `default`, an SQLite file in the data directory)."""

    def check(_ctx, _param, value: str | None) -> str | None:
        if value is not None:
            try:
                parse_url(value, Path(default))
            except DatabaseError as error:
                raise click.BadParameter(str(error)) from None
        return value

    return click.option(
        "--db", callback=check,
        help=f"The {node}'s database: a path or sqlite:///ABSOLUTE/PATH (SQLite), or "
             f"postgresql://USER@HOST:PORT/DATABASE, one database per node (the password from "
             f"the URL, ~/.pgpass or PGPASSWORD)  [default: {default}]")


def configure_logging(log_file: Path | None = None) -> None:
    """structlog to stderr: readable lines on a terminal, JSON lines otherwise (for collectors);
    or JSON lines appended to `log_file`."""
    if log_file is not None:
        stream = open(log_file, "a", buffering=1)  # line-buffered: a crash keeps what was said
        # Libraries that log through the standard library (py-libp2p, web3) go there too.
        logging.basicConfig(stream=stream, level=logging.WARNING, force=True)
    else:
        stream = sys.stderr
    renderer = (structlog.dev.ConsoleRenderer() if stream.isatty()
                else structlog.processors.JSONRenderer())
    structlog.configure(
        processors=[structlog.processors.add_log_level,
                    structlog.processors.TimeStamper(fmt="iso", utc=True),
                    structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        logger_factory=structlog.PrintLoggerFactory(stream),
    )
