"""`provernet bench`: measurements anyone can rerun. Figures in docs/measurements.md come from
these commands and from the scripts in benchmarks/."""

from __future__ import annotations

import json

import click
from rich.console import Console
from rich.table import Table

from provernet import verifier_gas

command = click.Group("bench", help="Measure verification gas and proving speed.")


@command.command("gas")
@click.option("--k", "ks", type=click.IntRange(min=1), multiple=True, default=[16],
              show_default=True, help="Proofs per batch; repeat for several batch sizes.")
@click.option("--json", "as_json", is_flag=True,
              help='Print {"k", "single_verify_gas", "aggregate_verify_gas", "gas_per_proof"} '
                   "(one object per line for several --k).")
def gas_command(ks: tuple[int, ...], as_json: bool) -> None:
    """Gas of one Groth16 verification against a batch of K, on the embedded chain."""
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
