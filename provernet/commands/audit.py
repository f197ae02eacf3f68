"""`provernet audit`: recompute seeds, assignments and lottery winners from public data, so that
anyone can check a coordinator without trusting it, and slash a roller with a signed proof that
does not verify. Each command prints one line of JSON."""

from __future__ import annotations

import json
import re
from pathlib import Path

import click

from coordinator.audit import audit_mismatches, audit_record_from_json
from market_contracts import rules
from market_contracts.bindings import Market
from market_contracts.errors import InvalidEvidence
from market_contracts.rollup import Rollup
from market_contracts.submissions import SlashEvidence
from provernet.commands.connection import market_options, open_market
from provernet.commands.keys import account_options, datadir_option, unlock
from roller.keys import keystore_address

command = click.Group(
    "audit",
    help="Recompute the market's seeds, draws and lottery winners from public data; slash "
         "invalid signed proofs.",
)

_DECIMAL = re.compile(r"[0-9]+")


def _emit(result: dict) -> None:
    click.echo(json.dumps(result))


def _read_roster(path: Path) -> list[tuple[str, int]]:
    """Weights are decimal strings because they exceed what many JSON readers hold exactly."""
    try:
        entries = json.loads(path.read_text())
    except OSError as exc:
        raise rules.InvalidRoster(
            f"cannot read roster file {path}: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise rules.InvalidRoster(f"roster file {path} is not JSON: {exc}") from None
    if not isinstance(entries, list):
        raise rules.InvalidRoster(f"roster file {path} must hold a JSON list, "
                                  f"got a {type(entries).__name__}")
    roster = []
    for entry in entries:
        if not (isinstance(entry, list) and len(entry) == 2 and isinstance(entry[1], str)
                and _DECIMAL.fullmatch(entry[1])):
            raise rules.InvalidRoster(
                f"roster entry must be [address, weight as a decimal string], got {entry!r}")
        roster.append((entry[0], int(entry[1])))
    return roster


@command.command("seed")
@click.option("--chain-id", type=int, required=True, help="L1 chain id.")
@click.option("--rollup", required=True, help="Rollup contract address.")
@click.option("--block", type=int, required=True,
              help="L2 block number (with --batch: the batch index).")
@click.option("--round", type=int, required=True, help="Draw round, 0 for the first.")
@click.option("--randomness", required=True,
              help="Randomness the Rollup recorded for the block (for a batch: its last block).")
@click.option("--batch", is_flag=True, help="Compute an aggregation seed instead of a block seed.")
# The parameter is named as the flag so that its TOML key and variable read `round` too.
def seed_command(chain_id: int, rollup: str, block: int, round: int, randomness: str,
                 batch: bool) -> None:
    """Print the seed of one draw."""
    seed_of = rules.batch_seed if batch else rules.block_seed
    _emit({"seed": "0x" + seed_of(chain_id, rollup, block, round, randomness).hex()})


@command.command("assign")
@click.option("--seed", required=True, help="Seed of the draw (see `audit seed`).")
@click.option("--roster", type=click.Path(path_type=Path), required=True,
              help='JSON file: a list of [address, weight as a decimal string].')
@click.option("--m", type=int, required=True, help="How many rollers to draw.")
@click.option("--exclude", multiple=True,
              help="A roller assigned in an earlier round; repeat for each.")
def assign_command(seed: str, roster: Path, m: int, exclude: tuple[str, ...]) -> None:
    """Print the rollers drawn, in draw order."""
    _emit({"selected": rules.select(rules.parse_bytes32(seed), _read_roster(roster), m, exclude)})


@command.command("lottery")
@click.option("--seed", required=True, help="Seed of the round the provers were assigned in.")
@click.option("--provers", required=True, help="On-time provers, comma-separated.")
def lottery_command(seed: str, provers: str) -> None:
    """Print which on-time prover wins the block reward."""
    seed_bytes = rules.parse_bytes32(seed)
    _emit({"winner": rules.lottery_winner((prover.strip(), seed_bytes)
                                          for prover in provers.split(","))})


@command.command("slash")
@click.argument("evidence_file", metavar="EVIDENCE.json",
                type=click.Path(dir_okay=False, path_type=Path))
@market_options
@account_options
@click.option("--dry-run", is_flag=True,
              help="Only check what the slash would do (eth_call) as the keystore's account; "
                   "nothing is signed or sent, no password is asked.")
@click.option("--gas", type=click.IntRange(min=1), default=None,
              help="Gas limit of the transaction [default: estimated].")
def slash_command(evidence_file: Path, rpc_url: str, deployment: Path | None, datadir: Path | None,
                  password_file: Path | None, dry_run: bool, gas: int | None) -> None:
    """Slash the roller whose signed proof in EVIDENCE.json does not verify; the reporter's share
    goes to the keystore's account. Prints the slashed amount, the share and what was burned, in
    base units."""
    evidence = SlashEvidence.load(evidence_file)
    market = open_market(rpc_url, deployment, datadir)
    _require_evidence_for(market, evidence, evidence_file)
    if dry_run:
        result = market.check_slash(keystore_address(datadir), evidence)
    else:
        result = market.slash_invalid_proof(unlock(datadir, password_file), evidence, gas=gas)
    _emit({
        "roller": result.roller,
        "reporter": result.reporter,
        "slashed": str(result.amount),
        "reporter_share": str(result.reporter_share),
        "burned": str(result.burned),
        "offense": "0x" + result.offense.hex(),
        "transaction": result.transaction,
        "dry_run": dry_run,
    })


def _require_evidence_for(market: Market, evidence: SlashEvidence, source: Path) -> None:
    """The signature covers the chain id and the rollup, not the staking contract: say plainly
    when the evidence belongs elsewhere, rather than letting the contract call it a bad
    signature."""
    if evidence.chain_id != market.chain.chain_id:
        raise InvalidEvidence(f"{source} was signed for chain id {evidence.chain_id}, but the "
                              f"endpoint serves chain id {market.chain.chain_id}")
    if evidence.staking != market.deployment.staking:
        raise InvalidEvidence(f"{source} names staking contract {evidence.staking}, but the "
                              f"deployment's is {market.deployment.staking}: pass the deployment "
                              "the evidence belongs to")
    wired = market.slashing_contracts()
    if wired is not None and wired[0] != evidence.rollup:
        raise InvalidEvidence(f"{source} was signed for rollup {evidence.rollup}, but the staking "
                              f"contract slashes for rollup {wired[0]}")


@command.command("assignments")
@click.argument("log_file", metavar="AUDIT.jsonl", type=click.Path(dir_okay=False, path_type=Path))
@market_options
@datadir_option
def assignments_command(log_file: Path, rpc_url: str, deployment: Path | None,
                        datadir: Path | None) -> None:
    """Recompute every draw in a coordinator's audit log (DATADIR/coordinator/audit.jsonl) from
    L1 alone: the randomness the Rollup stored and the roster at the commit's L1 block. Prints
    one JSON line per task and exits 1 if any draw differs."""
    market = open_market(rpc_url, deployment, datadir)
    if market.deployment.rollup is None:
        raise click.ClickException("the deployment names no rollup: there is nothing to audit")
    rollup = Rollup.from_deployment(market.chain, market.deployment)
    params = market.params()
    failed = 0
    for number, line in enumerate(_lines(log_file), start=1):
        try:
            record = audit_record_from_json(json.loads(line))
        except (ValueError, KeyError, TypeError) as exc:
            raise click.ClickException(f"{log_file}:{number}: not an audit record ({exc!r})")
        # A batch draws with its last block's randomness and roster.
        block = (record.index if record.kind is rules.TaskKind.BLOCK
                 else (record.index + 1) * params.k)
        on_l1 = rollup.block(block)
        problems = audit_mismatches(record, on_l1.randomness, market.roster(block=on_l1.l1_block),
                                    params, market.chain.chain_id, rollup.address)
        failed += bool(problems)
        _emit({"kind": record.kind.name.lower(), "index": record.index,
               "rounds": len(record.rounds), "ok": not problems, "problems": problems})
    if failed:
        raise click.ClickException(f"{failed} task(s) were not drawn by the rules")


def _lines(path: Path) -> list[str]:
    try:
        return [line for line in path.read_text().splitlines() if line.strip()]
    except OSError as exc:
        raise click.ClickException(f"cannot read {path}: {exc.strerror or exc}") from None
