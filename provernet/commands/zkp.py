"""`provernet zkp`: make development keys, prove, check Groth16 proofs, aggregate them, export
Solidity verifiers, and time the proving backends (`bench`).

Files are snarkjs's (verification_key.json, proof.json, public.json) or our aggregate in
their style. A verdict prints `valid` (exit 0) or `invalid: <reason>` (exit 1); a file that
cannot be read prints one `Error:` line (exit 1).
"""

from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click
import numpy as np
from rich.console import Console
from rich.table import Table

from zkp import native
from zkp.backends import NAMES, select_backend
from zkp.builds import BLOCK_PROFILES, build_block_circuit, chain_length, poseidon_chain
from zkp.circom import NODE_MODULES, compile_circuit
from zkp.errors import BackendUnavailable, FileAccessError, MalformedFile, ZkpError
from zkp.groth16 import ProofRandomness, Prover
from zkp.points import g1_from_montgomery, g1_to_montgomery, g2_from_montgomery, g2_to_montgomery
from zkp.proof import VerificationKey
from zkp.r1cs import read_r1cs
from zkp.setup import G1_GENERATOR, G2_GENERATOR, cached_setup, setup_into
from zkp.witness import WitnessCalculator
from zkp.wtns import read_wtns
from zkp.zkey import COEFFICIENT, ZKey, read_zkey
from zkp.snarkjs_json import (
    read_aggregate,
    read_proof,
    read_public_signals,
    read_verification_key,
    write_aggregate,
    write_proof,
    write_public_signals,
)
from zkp.solidity import render_batch_verifier, render_verifier

# zkp.verify and zkp.aggregate import py_ecc and eth_hash, about 50 ms: the commands that check
# proofs import them when they run, so that `prove` does not pay for them.
if TYPE_CHECKING:
    from zkp.verify import Verdict

command = click.Group(
    "zkp",
    help="Make development keys, prove, check and aggregate Groth16 proofs, export verifiers, "
         "time the proving backends.",
)

_FILE = click.Path(dir_okay=False, path_type=Path)


def _echo_verdict(verdict: Verdict) -> None:
    if verdict.valid:
        click.echo("valid")
        return
    click.echo(f"invalid: {verdict.reason}")
    click.get_current_context().exit(1)


def _proof_and_public(value: str) -> tuple[Path, Path]:
    """PROOF.json:PUBLIC.json; split at the last colon, so the proof's path may hold one."""
    proof, colon, public = value.rpartition(":")
    if not colon or not proof or not public:
        raise click.BadParameter(f"{value!r} is not PROOF.json:PUBLIC.json")
    return Path(proof), Path(public)


def _stderr() -> Console:
    return Console(stderr=True)


def _warn_if_insecure(label: str | None) -> None:
    if label:
        _stderr().print(f"[bold yellow]warning:[/] {label}", highlight=False)


def _read_input(path: Path) -> dict:
    try:
        doc = json.loads(path.read_text())
    except OSError as exc:
        raise FileAccessError(path, exc.strerror or str(exc)) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedFile(path, f"not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise MalformedFile(path, "circuit inputs must be a JSON object of signal names")
    return doc


@contextlib.contextmanager
def _step(description: str):
    """A spinner on stderr while a long step runs, then the step's time."""
    console = _stderr()
    started = time.perf_counter()
    with console.status(description):
        yield
    console.print(f"{description}: {time.perf_counter() - started:.2f} s", highlight=False)


@command.command("prove")
@click.option("--zkey", type=_FILE, required=True,
              help="Groth16 proving key (.zkey).")
@click.option("--wasm", type=_FILE,
              help="The circuit's witness calculator (circom --wasm); with --input.")
@click.option("--input", "input_path", type=_FILE,
              help="Circuit inputs as snarkjs takes them (input.json); with --wasm.")
@click.option("--witness", type=_FILE,
              help="A witness file (.wtns) instead of --wasm and --input.")
@click.option("--proof", "proof_path", type=_FILE,
              required=True, help="Where to write proof.json.")
@click.option("--public", "public_path", type=_FILE,
              required=True, help="Where to write public.json.")
@click.option("--backend", type=click.Choice(NAMES), default="auto", show_default=True,
              help="Where to prove; auto takes the GPU when CuPy sees one.")
def prove_command(zkey: Path, wasm: Path | None, input_path: Path | None, witness: Path | None,
                  proof_path: Path, public_path: Path, backend: str) -> None:
    """Prove with a .zkey, as `snarkjs groth16 prove` does; snarkjs verifies the result."""
    if (witness is None) == (wasm is None or input_path is None):
        raise click.UsageError("give either --witness, or both --wasm and --input")
    with _step("loading the proving key"):
        key = read_zkey(zkey)
    _warn_if_insecure(key.setup_label)
    with _step("computing the witness"):
        values = (read_wtns(witness) if witness is not None
                  else WitnessCalculator(wasm).calculate(_read_input(input_path)))
    prover = Prover(key, backend)
    with _step(f"proving on {prover.backend.describe()}"):
        proof, public = prover.prove(values)
    write_proof(proof_path, proof)
    write_public_signals(public_path, public)


@command.command("setup")
@click.argument("circuit", type=_FILE)
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder for circuit.zkey and verification_key.json (and, from .circom, "
                   "the .r1cs and the wasm witness calculator).")
@click.option("--include", "-l", "include", multiple=True,
              type=click.Path(file_okay=False, path_type=Path),
              help="Extra folder for circom's `include`s (node_modules, for circomlib, is "
                   "always searched).")
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Where keys are kept by circuit hash [default: ~/.cache/provernet].")
def setup_command(circuit: Path, out_dir: Path, include: tuple[Path, ...],
                  cache_dir: Path | None) -> None:
    """Make an INSECURE development Groth16 key for CIRCUIT (.circom or .r1cs), once per circuit."""
    if circuit.suffix == ".circom":
        with _step(f"compiling {circuit.name}"):
            r1cs = compile_circuit(circuit, out_dir, (NODE_MODULES, *include)).r1cs
    else:
        r1cs = circuit
    with _step("development setup"):
        files = setup_into(r1cs, out_dir, cache_dir)
    click.echo(f"{'made' if files.made else 'reused the cached key'}: {files.zkey}, "
               f"{files.verification_key}")
    _warn_if_insecure(files.vk.setup_label)


@command.command("verify")
@click.option("--vkey", type=_FILE, required=True, help="verification_key.json (snarkjs).")
@click.option("--proof", type=_FILE, required=True, help="proof.json (snarkjs).")
@click.option("--public", type=_FILE, required=True, help="public.json (snarkjs).")
def verify_command(vkey: Path, proof: Path, public: Path) -> None:
    """Check one proof, as `snarkjs groth16 verify` does."""
    from zkp.verify import verify

    _echo_verdict(verify(read_verification_key(vkey), read_proof(proof),
                         read_public_signals(public)))


@command.command("aggregate")
@click.option("--vkey", type=_FILE, required=True, help="verification_key.json (snarkjs).")
@click.option("--out", type=_FILE, required=True, help="Aggregate file to write.")
@click.option("--no-check", is_flag=True,
              help="Aggregate without checking each proof first (an invalid one makes the "
                   "aggregate invalid).")
@click.argument("proofs", nargs=-1, required=True, metavar="PROOF.json:PUBLIC.json...")
def aggregate_command(vkey: Path, out: Path, no_check: bool, proofs: tuple[str, ...]) -> None:
    """Aggregate proofs of one circuit for one on-chain check, in the order given."""
    from zkp.aggregate import aggregate
    from zkp.verify import verify

    vk = read_verification_key(vkey)
    files = [_proof_and_public(value) for value in proofs]
    read = [(read_proof(proof), read_public_signals(public)) for proof, public in files]
    if not no_check:
        for (proof_path, public_path), (proof, public) in zip(files, read, strict=True):
            verdict = verify(vk, proof, public)
            if not verdict.valid:
                raise click.ClickException(
                    f"{proof_path} with {public_path} is invalid: {verdict.reason}")
    publics = [public for _, public in read]
    write_aggregate(out, aggregate([proof for proof, _ in read], publics), publics)
    click.echo(f"aggregated {len(read)} proofs into {out}")


@command.command("verify-aggregate")
@click.option("--vkey", type=_FILE, required=True, help="verification_key.json (snarkjs).")
@click.option("--aggregate", "aggregate_file", type=_FILE, required=True,
              help="Aggregate file (from `provernet zkp aggregate`).")
def verify_aggregate_command(vkey: Path, aggregate_file: Path) -> None:
    """Check an aggregate of proofs."""
    from zkp.aggregate import verify_aggregate

    agg, publics = read_aggregate(aggregate_file)
    _echo_verdict(verify_aggregate(read_verification_key(vkey), agg, publics))


@command.command("export-verifier")
@click.option("--vkey", type=_FILE, required=True, help="verification_key.json (snarkjs).")
@click.option("--out", type=_FILE, required=True, help="Solidity file to write.")
@click.option("--batch", is_flag=True,
              help="A verifier of aggregates (verifyBatch) instead of single proofs "
                   "(verifyProof, snarkjs's ABI).")
@click.option("--name", "contract_name", help="Contract name.  [default: Groth16Verifier, "
                                               "or Groth16BatchVerifier with --batch]")
def export_verifier_command(vkey: Path, out: Path, batch: bool, contract_name: str | None) -> None:
    """Write a Solidity verifier for the key."""
    vk = read_verification_key(vkey)
    render = render_batch_verifier if batch else render_verifier
    source = render(vk) if contract_name is None else render(vk, contract_name)
    try:
        out.write_text(source)
    except OSError as exc:
        raise FileAccessError(out, f"cannot write: {exc.strerror or exc}") from exc
    click.echo(f"wrote {out}")


# ------------------------------------------------------------------ bench

#: (label, kernel, largest log2 size): the sizes the GPU targets are set at
_BENCH_KERNELS = (("G1 MSM", "msm_g1", 24), ("G2 MSM", "msm_g2", 22), ("NTT", "ntt", 24))
#: distinct points in the bases of a kernel benchmark: larger sets repeat them, which costs an MSM
#: the same, and making 2^24 distinct points would take longer than measuring them
_DISTINCT_POINTS = 1 << 16


@command.command("bench")
@click.option("--backend", "backend_name", type=click.Choice(("gpu", "cpu")), default="gpu",
              show_default=True, help="The backend to measure; gpu is measured against cpu.")
@click.option("--min-log", type=click.IntRange(0, 27), default=16, show_default=True,
              help="Smallest kernel size, log2.")
@click.option("--max-log", type=click.IntRange(0, 27), default=24, show_default=True,
              help="Largest kernel size, log2 (G2 MSMs stop at 22 anyway).")
@click.option("--circuits", default="block_large,chain20", show_default=True,
              help="Whole proofs, comma-separated: block_small, block_large, chainK (Poseidon chain "
                   "on a 2^K domain), randomK (random key and witness, 2^K domain; needs no "
                   "circom); empty for none.")
@click.option("--runs", type=click.IntRange(1), default=3, show_default=True,
              help="Timed runs of each measurement; the best counts.")
@click.option("--json", "json_path", type=_FILE, help="Also write the results here as JSON.")
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Where circuits and keys are kept [default: ~/.cache/provernet].")
def bench_command(backend_name: str, min_log: int, max_log: int, circuits: str, runs: int,
                  json_path: Path | None, cache_dir: Path | None) -> None:
    """Time MSMs, NTTs and whole proofs on a backend, against the cpu backend on this machine.

    Each GPU result is compared with the CPU's (`same` column). Kernel inputs are random;
    arrays are on the device before the clock starts, as a proof's are.
    """
    names = [name for name in (part.strip() for part in circuits.split(",")) if name]
    for name in names:
        _bench_circuit_size(name)  # refuse a bad name before any work
    try:
        gpu = select_backend("gpu") if backend_name == "gpu" else None
    except BackendUnavailable as exc:
        # As provernet's group words it, also when benchmarks/gpu.py runs this command alone.
        raise click.ClickException(str(exc)) from exc
    cpu = select_backend("cpu")
    console = Console()
    console.print(f"measuring {gpu.describe() if gpu else cpu.describe()}"
                  + (f" against {cpu.describe()}" if gpu else ""), highlight=False)
    rows: list[dict] = []

    def record(row: dict) -> None:
        rows.append(row)
        if json_path is None:
            return
        # Rewritten after every row, so that a run cut short keeps what it measured.
        report = {"gpu": gpu and gpu.describe(), "cpu": cpu.describe(), "rows": rows}
        try:
            json_path.write_text(json.dumps(report, indent=1) + "\n")
        except OSError as exc:
            raise FileAccessError(json_path, f"cannot write: {exc.strerror or exc}") from exc

    for label, kernel, top in _BENCH_KERNELS:
        for log_n in range(min_log, min(max_log, top) + 1):
            with console.status(f"{label} 2^{log_n}"):
                record(_bench_kernel(gpu, label, kernel, log_n, runs))
    for name in names:
        with console.status(f"proof of {name}"):
            record(_bench_proof(gpu, name, runs, cache_dir))
    _show_bench(console, gpu, rows)
    if json_path is not None:
        console.print(f"wrote {json_path}", highlight=False)


def _best(run, runs: int, warm_up: bool) -> tuple[float, object]:
    """Best time of `runs` calls in milliseconds, and the last call's result."""
    result = run() if warm_up else None  # loads kernels and fills CuPy's memory pool
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - started)
    return best * 1000, result


def _random_scalars(rng, n: int):
    """n random values below 2^253 < r: valid scalars, and valid Montgomery-form elements of Fr."""
    values = rng.integers(0, 2**64, size=(n, 4), dtype=np.uint64, endpoint=False)
    values[:, 3] &= np.uint64((1 << 61) - 1)
    return values


def _random_points(rng, group: str, n: int):
    """n points, of which at most _DISTINCT_POINTS distinct ones, repeated."""
    logs = _random_scalars(rng, min(n, _DISTINCT_POINTS))
    if group == "g1":
        distinct = native.g1_mul_many(g1_to_montgomery([G1_GENERATOR])[0], logs)
    else:
        distinct = native.g2_mul_many(g2_to_montgomery([G2_GENERATOR])[0], logs)
    return np.resize(distinct, (n, *distinct.shape[1:]))


def _bench_kernel(gpu, label: str, kernel: str, log_n: int, runs: int) -> dict:
    rng = np.random.default_rng(log_n)
    n = 1 << log_n
    scalars = _random_scalars(rng, n)
    if kernel == "ntt":
        cpu_ms, expected = _best(lambda: native.ntt(scalars), runs, warm_up=False)
    else:
        group = kernel[-2:]
        bases = _random_points(rng, group, n)
        cpu_msm = native.msm_g1 if group == "g1" else native.msm_g2
        cpu_ms, expected = _best(lambda: cpu_msm(bases, scalars), runs, warm_up=False)
    row = {"what": label, "log_n": log_n, "cpu_ms": cpu_ms, "gpu_ms": None, "same": None}
    if gpu is None:
        return row
    if kernel == "ntt":
        domain = gpu.domain(log_n)
        values = gpu.upload(scalars)

        def forward():
            domain.forward(values)
            gpu.synchronize()

        row["gpu_ms"], _ = _best(forward, runs, warm_up=True)
        values = gpu.upload(scalars)
        domain.forward(values)
        row["same"] = bool(np.array_equal(gpu.download(values), expected))
    else:
        on_device = gpu.upload_bases(bases, group)
        device_scalars = gpu.upload(scalars)
        row["gpu_ms"], result = _best(lambda: gpu.msm(on_device, device_scalars), runs, warm_up=True)
        row["same"] = bool(np.array_equal(result, expected))
    return row


def _bench_circuit_size(name: str) -> int | None:
    """The log2 domain a chainK or randomK circuit asks for; None for a block profile."""
    for prefix in ("chain", "random"):
        if name.startswith(prefix) and name[len(prefix):].isdigit():
            log_n = int(name[len(prefix):])
            if not 4 <= log_n <= 26:
                raise click.BadParameter(f"{name}: the domain must be 2^4 to 2^26",
                                         param_hint="--circuits")
            return log_n
    if name.startswith("block_") and name[len("block_"):] in BLOCK_PROFILES:
        return None
    raise click.BadParameter(
        f"no circuit {name!r}: block_small, block_large, chainK or randomK", param_hint="--circuits")


def _bench_proof(gpu, name: str, runs: int, cache_dir: Path | None) -> dict:
    row = {"what": f"proof {name}", "log_n": None, "cpu_ms": None, "gpu_ms": None, "same": None}
    try:
        key, witness, constraints = _bench_circuit(name, cache_dir)
    except ZkpError as exc:
        # No circom, say, on a GPU machine: the other rows still count.
        row["error"] = str(exc)
        return row
    row["log_n"] = key.domain_size.bit_length() - 1
    row["constraints"] = constraints
    randomness = ProofRandomness(r=1, s=2)
    cpu_prover = Prover(key, "cpu")
    row["cpu_ms"], expected = _best(lambda: cpu_prover.prove(witness, randomness), runs, warm_up=False)
    if gpu is not None:
        started = time.perf_counter()
        prover = Prover(key, gpu)
        row["gpu_load_ms"] = (time.perf_counter() - started) * 1000
        row["gpu_ms"], result = _best(lambda: prover.prove(witness, randomness), runs, warm_up=True)
        row["same"] = result == expected
    return row


def _bench_circuit(name: str, cache_dir: Path | None):
    """(proving key, witness, constraints or None) for a --circuits name."""
    log_n = _bench_circuit_size(name)
    if name.startswith("random"):
        key, witness = _random_key(log_n)
        return key, witness, None
    if name.startswith("block_"):
        build = build_block_circuit(name[len("block_"):], cache_dir)
        witness = WitnessCalculator(build.wasm).calculate(_full_block_inputs(name))
        return read_zkey(build.zkey), witness, len(read_r1cs(build.r1cs).constraints)
    length = chain_length(log_n)
    folder = poseidon_chain(length, cache_dir)
    r1cs = folder / f"chain_{length}.r1cs"
    key = read_zkey(cached_setup(r1cs, cache_dir).zkey)
    witness = WitnessCalculator(folder / f"chain_{length}_js" / f"chain_{length}.wasm").calculate(
        {"a": 1, "b": 2, "c": 3})
    return key, witness, len(read_r1cs(r1cs).constraints)


def _full_block_inputs(name: str) -> dict:
    """A block of the profile's full size: account i pays account size + i, every slot a
    TRANSFER (both accounts exist: a block can open only as many accounts as it has entries)."""
    # The L2 model, for these inputs only.
    from sequencer.accounts import Account
    from sequencer.circuit_inputs import LARGE, SMALL, block_inputs
    from sequencer.genesis import dev_address, dev_private_key, genesis_state
    from sequencer.transactions import Transfer, sign_transfer
    from sequencer.transition import apply_record, record_for

    circuit = {"block_small": SMALL, "block_large": LARGE}[name]
    size = circuit.block_size
    before = genesis_state(circuit.depth,
                           {i: Account(dev_address(i), 1000) for i in range(2 * size)})
    state, ops = before, []
    for i in range(size):
        tx = sign_transfer(Transfer(i, size + i, dev_address(size + i), 1 + i, 0),
                           dev_private_key(i), circuit.chain_id)
        record = record_for(state, tx)
        state = apply_record(state, record, tx, circuit.chain_id)
        ops.append((record, tx))
    return block_inputs(circuit, before, ops, 1)


def _random_key(log_n: int):
    """A proving key of random points, two random coefficients per row of A and B, and a random
    witness: what a 2^log_n-constraint circuit costs to prove, without circom."""
    rng = np.random.default_rng(log_n)
    n = 1 << log_n
    n_vars, n_public = n - 8, 4
    g1, g2 = _random_points(rng, "g1", n_vars), _random_points(rng, "g2", n_vars)
    # A circuit's wires are absent from B more often than not: infinity there.
    b_absent = rng.random(n_vars) < 0.5
    b1, b2 = g1.copy(), g2.copy()
    b1[b_absent] = 0
    b2[b_absent] = 0
    records = np.zeros(4 * n, dtype=COEFFICIENT)
    records["matrix"] = np.repeat([0, 1], 2 * n)
    records["constraint"] = np.tile(np.repeat(np.arange(n, dtype=np.uint32), 2), 2)
    records["signal"] = rng.integers(0, n_vars, size=4 * n, dtype=np.uint32)
    records["value"] = _random_scalars(rng, 4 * n)
    witness = _random_scalars(rng, n_vars)
    witness[0] = (1, 0, 0, 0)
    points1, points2 = g1_from_montgomery(g1[:8]), g2_from_montgomery(g2[:4])
    vk = VerificationKey(alpha1=points1[0], beta2=points2[0], gamma2=points2[1], delta2=points2[2],
                         ic=tuple(points1[3:3 + n_public + 1]))
    key = ZKey(n_vars=n_vars, n_public=n_public, domain_size=n, vk=vk, beta1=points1[1],
               delta1=points1[2], coefficients=records, a=g1, b1=b1, b2=b2,
               c=g1[n_public + 1:], h=_random_points(rng, "g1", n), setup_label="random benchmark key")
    return key, witness


def _show_bench(console: Console, gpu, rows: list[dict]) -> None:
    table = Table(title="milliseconds, best of the runs")
    for heading in ("what", "size", "cpu", *(("gpu", "cpu / gpu", "same") if gpu else ())):
        table.add_column(heading, justify="left" if heading == "what" else "right")
    for row in rows:
        if "error" in row:
            table.add_row(row["what"], f"[red]{row['error']}[/]")
            continue
        size = f"2^{row['log_n']}"
        if row.get("constraints"):
            size += f" ({row['constraints']:,} constraints)"
        cells = [row["what"], size, _ms(row["cpu_ms"])]
        if gpu:
            cells += [_ms(row["gpu_ms"]), f"{row['cpu_ms'] / row['gpu_ms']:.1f}",
                      "yes" if row["same"] else "[red]NO[/]"]
        table.add_row(*cells)
    console.print(table)


def _ms(value: float) -> str:
    return f"{value:.3g}" if value < 100 else f"{value:,.0f}"
