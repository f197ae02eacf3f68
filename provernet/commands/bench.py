"""`provernet bench`: measurements anyone can rerun. Figures in docs/measurements.md come from
these commands and from the scripts in benchmarks/."""

from __future__ import annotations

import json

import click
from rich.console import Console
from rich.table import Table

command = click.Group("bench", help="Measure verification gas, verification speed and proving "
                                    "speed.")


@command.command("gas")
@click.option("--k", "ks", type=click.IntRange(min=1), multiple=True, default=[16],
              show_default=True, help="Proofs per batch; repeat for several batch sizes.")
@click.option("--json", "as_json", is_flag=True,
              help='Print {"k", "single_verify_gas", "aggregate_verify_gas", "gas_per_proof"} '
                   "(one object per line for several --k).")
def gas_command(ks: tuple[int, ...], as_json: bool) -> None:
    """Gas of one Groth16 verification against a batch of K, on the embedded chain."""
    # The chain and the circuit tooling load only for this command.
    from provernet import verifier_gas

    status = Console(stderr=True).status("starting")
    with status:
        figures = verifier_gas.measure(list(ks), progress=status.update)
    if as_json:
        for figure in figures:
            click.echo(json.dumps(figure.as_json()))
        return
    table = Table(title="Verification gas (4 public inputs, calldata included, 21,000 base not)")
    for column in ("K", "single proof", "batch of K", "per proof in batch", "saving"):
        table.add_column(column, justify="right")
    for f in figures:
        table.add_row(str(f.k), f"{f.single_verify_gas:,}", f"{f.aggregate_verify_gas:,}",
                      f"{f.gas_per_proof:,}", f"{1 - f.gas_per_proof / f.single_verify_gas:.0%}")
    Console().print(table)


@command.command("verify")
@click.option("--seconds", type=click.FloatRange(min=0, min_open=True), default=10.0,
              show_default=True, help="How long to verify.")
@click.option("--batch", type=click.IntRange(min=1), default=32, show_default=True,
              help="The most proofs a thread checks together (the coordinator's verify_batch).")
@click.option("--threads", type=click.IntRange(min=1), default=None,
              help="Verifying threads; the default is one per CPU this process may run on "
                   "($PROVERNET_THREADS).")
@click.option("--json", "as_json", is_flag=True,
              help='Print {"proofs", "seconds", "proofs_per_s"}.')
def verify_command(seconds: float, batch: int, threads: int | None, as_json: bool) -> None:
    """Block proofs verified per second by the coordinator's verifier: real proofs of the small
    block circuit (made once, then cached), checked over and over."""
    # The verifier, the prover (for the sample proofs) and numpy load only for this command.
    from provernet import verify_speed
    from zkp import native

    threads = threads or native.default_threads()
    status = Console(stderr=True).status("starting")
    with status:
        figure = verify_speed.measure(seconds, batch, threads, progress=status.update)
    if as_json:
        click.echo(json.dumps(figure.as_json()))
        return
    table = Table(title=f"Small block circuit proofs verified ({native.kernels()} kernels)")
    for column in ("threads", "batch", "proofs", "seconds", "proofs/s"):
        table.add_column(column, justify="right")
    table.add_row(str(threads), str(batch), f"{figure.proofs:,}", f"{figure.seconds:.1f}",
                  f"{figure.proofs_per_s:,.0f}")
    Console().print(table)
