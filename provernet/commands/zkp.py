"""`provernet zkp`: make development keys, prove, check Groth16 proofs, aggregate them, export
Solidity verifiers.

Files are snarkjs's (verification_key.json, proof.json, public.json) or our aggregate in
their style. A verdict prints `valid` (exit 0) or `invalid: <reason>` (exit 1); a file that
cannot be read prints one `Error:` line (exit 1).
"""

from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path

import click
from rich.console import Console

from zkp.aggregate import aggregate, verify_aggregate
from zkp.backends import NAMES
from zkp.circom import NODE_MODULES, compile_circuit
from zkp.errors import FileAccessError, MalformedFile
from zkp.groth16 import Prover
from zkp.setup import setup_into
from zkp.witness import WitnessCalculator
from zkp.wtns import read_wtns
from zkp.zkey import read_zkey
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
from zkp.verify import Verdict, verify

command = click.Group(
    "zkp",
    help="Make development keys, prove, check and aggregate Groth16 proofs, export verifiers.",
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
