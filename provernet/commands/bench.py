"""`provernet bench`: measurements anyone can rerun. Figures in docs/measurements.md come from
these commands and from the scripts in benchmarks/."""

from __future__ import annotations

import json

import click
from rich.console import Console
from rich.table import Table

command = click.Group("bench", help="Measure verification gas, the rollup's commit gas, "
                                    "verification speed and the coordinator's capacity.")


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


@command.command("rollup-gas")
@click.option("--n", "n", type=click.IntRange(min=1), required=True,
              help="Transfers in the committed block (at most the measured rollup's "
                   "maxTransfers, 64).")
@click.option("--json", "as_json", is_flag=True,
              help='Print {"n", "commit_gas", "gas_per_transfer", "calldata_bytes", '
                   '"access_list", "l1"}.')
def rollup_gas_command(n: int, as_json: bool) -> None:
    """Gas of the Rollup's commitBlock for a block of N realistic transfers (posted as
    sequencer.block_data posts them), on anvil (started and stopped here): the receipt's gasUsed,
    the 21,000 base and calldata included."""
    # anvil, the contracts and the circuit's key load only for this command.
    from provernet import rollup_gas

    if n > rollup_gas.MAX_TRANSFERS:
        raise click.BadParameter(f"{n} transfers: the measured rollup takes at most "
                                 f"{rollup_gas.MAX_TRANSFERS} a block", param_hint="--n")
    status = Console(stderr=True).status("starting")
    with status:
        figure = rollup_gas.measure_on_anvil(n, progress=status.update)
    if as_json:
        click.echo(json.dumps(figure))
        return
    table = Table(title=f"commitBlock gas ({figure['l1']}, maxTransfers = "
                        f"{rollup_gas.MAX_TRANSFERS})")
    for column in ("transfers", "calldata bytes", "gas", "gas per transfer"):
        table.add_column(column, justify="right")
    table.add_row(str(n), f"{figure['calldata_bytes']:,}", f"{figure['commit_gas']:,}",
                  f"{figure['gas_per_transfer']:,.0f}")
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


@command.command("farm")
@click.option("--workers", type=click.IntRange(min=1), default=2, show_default=True,
              help="Worker processes (`roller worker --backend cpu`) on this machine.")
@click.option("--seconds", type=click.FloatRange(min=0, min_open=True), default=20.0,
              show_default=True, help="The throughput window, and the in-process anchor's.")
@click.option("--threads", type=click.IntRange(min=1), default=1, show_default=True,
              help="CPU threads per proof, in each worker and in the anchor.")
@click.option("--json", "as_json", is_flag=True,
              help='Print {"workers", "threads_per_worker", "seconds", "proofs", "proofs_per_s", '
                   '"farm_latency_s", "in_process_latency_s", "in_process_proofs_per_s", '
                   '"overhead_ms", "worker_proof_s", "queue_ms", "machine", "load_average"}.')
def farm_command(workers: int, seconds: float, threads: int, as_json: bool) -> None:
    """Block proofs per second of a roller farm: a throwaway PostgreSQL, N worker processes and
    the roller's FarmProver verifying what they return, against proving in process on as many
    threads; and what the farm adds to one task's latency. Small block circuit, empty blocks."""
    # PostgreSQL, the farm and the prover load only for this command.
    from provernet import bench_farm
    from provernet.services import configure_logging

    configure_logging()  # to stderr: stdout is the figures'
    status = Console(stderr=True).status("starting")
    try:
        with status:
            figure = bench_farm.measure(workers, seconds, threads, progress=status.update)
    except bench_farm.FarmBenchError as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        click.echo(json.dumps(figure.as_json()))
        return
    table = Table(title=f"A roller farm of {workers} CPU workers, {threads} threads each "
                        f"({figure.machine}, load {figure.load_average:.1f} before)")
    for column in ("proofs", "seconds", "farm proofs/s", "in process proofs/s", "farm latency",
                   "in process", "overhead", "queue alone"):
        table.add_column(column, justify="right")
    table.add_row(f"{figure.proofs:,}", f"{figure.seconds:g}", f"{figure.proofs_per_s:.2f}",
                  f"{figure.in_process_proofs_per_s:.2f}", f"{figure.farm_latency_s:.3f} s",
                  f"{figure.in_process_latency_s:.3f} s", _ms(round(figure.overhead_ms)),
                  _ms(round(figure.queue_ms)))
    Console().print(table)


def _session_counts(_ctx, _param, value: str) -> list[int]:
    try:
        counts = [int(part) for part in value.split(",")]
    except ValueError:
        counts = []
    if not counts or min(counts) < 1:
        raise click.BadParameter(f"{value!r} is not a comma-separated list of positive session "
                                 "counts, like 10,100,1000")
    return counts


@command.command("coordinator")
@click.option("--sessions", type=str, callback=_session_counts, default="10", show_default=True,
              help="Connected roller sessions; comma-separated for one run each (10,100,1000).")
@click.option("--seconds", type=click.FloatRange(min=0, min_open=True), default=20.0,
              show_default=True, help="The measured window of each run.")
@click.option("--block-rate", type=click.FloatRange(min=0), default=50.0, show_default=True,
              help="L2 blocks committed per second, 2 tasks each (50: the 100 tasks/s target); "
                   "0: as fast as --backlog allows.")
@click.option("--backlog", type=click.IntRange(min=0), default=0, show_default=True,
              help="Commit only while fewer committed blocks wait for a first valid proof; "
                   "0: no bound.")
@click.option("--delay", type=click.FloatRange(min=0), default=0.5, show_default=True,
              help="The fixed-delay rollers' proving time, seconds.")
@click.option("--poll-interval", type=click.FloatRange(min=0, min_open=True), default=0.5,
              show_default=True, help="The coordinator's L1 poll interval (the devnet's).")
@click.option("--json", "as_json", is_flag=True,
              help='Print one object per session count, a line each: {"sessions", '
                   '"assignments_per_s", "proofs_verified_per_s", "assign_p50_ms", '
                   '"assign_p99_ms"}.')
def coordinator_command(sessions: list[int], seconds: float, block_rate: float, backlog: int,
                        delay: float, poll_interval: float, as_json: bool) -> None:
    """Tasks assigned and proofs verified per second by the real coordinator on anvil (started
    and stopped here), with N fixed-delay roller sessions in child processes and the sequencer
    in another, and the time from a block's commit to its first task at a roller. Each roller submits a real proof made
    once (then cached); it waits --delay instead of proving."""
    if block_rate == 0 and backlog == 0:
        raise click.BadParameter("with --block-rate 0 a --backlog is needed, or blocks pile up "
                                 "without bound", param_hint="--backlog")
    # anvil, the coordinator and the prover (for the cached proofs) load only for this command.
    from provernet import bench_coordinator

    status = Console(stderr=True).status("starting")
    with status:
        figures = bench_coordinator.measure_on_anvil(
            sessions, seconds, delay=delay, backlog=backlog, block_rate=block_rate,
            poll_interval=poll_interval, progress=status.update)
    if as_json:
        for figure in figures:
            click.echo(json.dumps(figure))
        return
    table = Table(title=f"The coordinator on anvil: {block_rate:g} blocks/s offered"
                        if block_rate else "The coordinator on anvil: saturated")
    for column in ("sessions", "assignments/s", "proofs verified/s", "commit→task p50", "p99"):
        table.add_column(column, justify="right")
    for f in figures:
        table.add_row(str(f["sessions"]), f"{f['assignments_per_s']:.1f}",
                      f"{f['proofs_verified_per_s']:.1f}", _ms(f["assign_p50_ms"]),
                      _ms(f["assign_p99_ms"]))
    Console().print(table)


def _ms(value: int | None) -> str:
    return "-" if value is None else f"{value:,} ms"
