"""Options and set-up shared by every command that talks to the market contracts."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, TypeVar

import click

from market_contracts.bindings import Market
from market_contracts.chain import connect
from market_contracts.deploy import Deployment, check_deployment
from roller.keys import datadir_from

F = TypeVar("F", bound=Callable[..., object])

DEFAULT_RPC_URL = "http://127.0.0.1:8545"
DEPLOYMENT_NAME = "deployment.json"

rpc_url_option = click.option(
    "--rpc-url", default=DEFAULT_RPC_URL, show_default=True, envvar="PROVERNET_RPC_URL",
    help="JSON-RPC endpoint of the L1 chain [env PROVERNET_RPC_URL].")

deployment_option = click.option(
    "--deployment", type=click.Path(dir_okay=False, path_type=Path), envvar="PROVERNET_DEPLOYMENT",
    help="Deployment file naming the contracts [env PROVERNET_DEPLOYMENT; default "
         f"DATADIR/{DEPLOYMENT_NAME}].")


def market_options(func: F) -> F:
    return rpc_url_option(deployment_option(func))


def deployment_path(deployment: Path | None, datadir: Path | None) -> Path:
    return deployment if deployment is not None else datadir_from(datadir) / DEPLOYMENT_NAME


def open_market(rpc_url: str, deployment: Path | None, datadir: Path | None) -> Market:
    """Connects and checks that the deployment lives on that chain before anything is signed."""
    path = deployment_path(deployment, datadir)
    loaded = Deployment.load(path)
    chain = connect(rpc_url)
    check_deployment(chain, loaded, source=str(path))
    return Market(chain, loaded)
