"""`provernet audit`: recompute seeds, slots, reputation changes and lottery tickets from public
data, so that anyone can check a coordinator without trusting it (`assignments` checks a whole
audit log and every settled record against L1), and slash a roller with a signed proof that does
not verify. Each command prints JSON lines; bad input ends in one error line."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import click

from coordinator.audit import (
    InvalidAuditRecord,
    PublicTask,
    audit_mismatches,
    audit_record_from_json,
    public_task,
    unexplained_settlements,
)
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
    help="Recompute the market's seeds, slots, reputation and lottery tickets from public data; "
         "check a coordinator's audit log and settlements against L1; slash invalid signed "
         "proofs.",
)

_DECIMAL = re.compile(r"[0-9]+")
_OUTCOMES = [outcome.name.lower() for outcome in rules.Outcome]
_PARAM_NAMES = [field.name for field in dataclasses.fields(rules.MarketParams)]


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
    """Print the seed of one round."""
    seed_of = rules.batch_seed if batch else rules.block_seed
    _emit({"seed": "0x" + seed_of(chain_id, rollup, block, round, randomness).hex()})


@command.command("slots")
@click.option("--seed", required=True, help="Seed of the round (see `audit seed`).")
@click.option("--roster", type=click.Path(path_type=Path), required=True,
              help="JSON file: a list of [address, weight as a decimal string].")
@click.option("--m", type=int, required=True,
              help="Slots to draw: M for a block round, 1 for an aggregation.")
def slots_command(seed: str, roster: Path, m: int) -> None:
    """Print the slots' holders in slot order (with replacement: a roller may hold several),
    and the slots per roller in order of first slot."""
    holders = rules.draw_slots(rules.parse_bytes32(seed), _read_roster(roster), m)
    _emit({"holders": holders,
           "slot_counts": [[holder, k] for holder, k in rules.slot_counts(holders).items()]})


def _params(changes: tuple[str, ...]) -> rules.MarketParams:
    """The devnet defaults with NAME=VALUE changes, checked as the deployment checks them."""
    values = {}
    for change in changes:
        name, sep, value = change.partition("=")
        if not sep or name not in _PARAM_NAMES or not _DECIMAL.fullmatch(value):
            raise rules.InvalidParams(f"a parameter is NAME=DECIMAL with NAME one of "
                                      f"{', '.join(_PARAM_NAMES)}; got {change!r}")
        values[name] = int(value)
    return dataclasses.replace(rules.MarketParams.devnet(), **values)


@command.command("reputation")
@click.option("--rep", type=click.IntRange(min=0), required=True,
              help="The roller's reputation before the outcome.")
@click.option("--outcome", type=click.Choice(_OUTCOMES), required=True,
              help="The settled outcome (invalid: a slash).")
@click.option("--param", "changes", multiple=True, metavar="NAME=VALUE",
              help="A market parameter other than its devnet default (e.g. rep_min=0); repeat "
                   "for each.")
def reputation_command(rep: int, outcome: str, changes: tuple[str, ...]) -> None:
    """Print the reputation after one outcome."""
    _emit({"rep": rules.next_reputation(rep, rules.Outcome[outcome.upper()], _params(changes))})


def _entry(value: str) -> tuple[str, int]:
    roller, sep, slots = value.rpartition(":")
    if not sep or not _DECIMAL.fullmatch(slots):
        raise rules.InvalidNumber(f"a lottery entry is ROLLER:SLOTS, got {value!r}")
    return roller, int(slots)


@command.command("ticket")
@click.option("--lottery-randomness", required=True,
              help="The settlement's lottery randomness (`LotteryDrawn`).")
@click.option("--block", type=int, required=True, help="L2 block number.")
@click.option("--entry", "entries", multiple=True, metavar="ROLLER:SLOTS",
              help="An on-time record of the block, in settlement order; repeat for each.")
def ticket_command(lottery_randomness: str, block: int, entries: tuple[str, ...]) -> None:
    """Print every ticket of a block's on-time slots and which roller wins its reward."""
    parsed = [_entry(entry) for entry in entries]
    tickets = [[rules.parse_address(roller), j,
                str(rules.reward_ticket(lottery_randomness, block, roller, j))]
               for roller, slots in parsed for j in range(slots)]
    _emit({"tickets": tickets,
           "winner": rules.lottery_winner(lottery_randomness, block, parsed)})


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
    if not market.rollup_enabled(evidence.rollup):
        raise InvalidEvidence(f"{source} was signed for rollup {evidence.rollup}, which the "
                              "staking contract does not serve")


@command.command("assignments")
@click.argument("log_file", metavar="AUDIT.jsonl", type=click.Path(dir_okay=False, path_type=Path))
@market_options
@datadir_option
@click.option("--from-l1-block", type=click.IntRange(min=0), default=0,
              help="First L1 block to read settlements from [default: 0].")
def assignments_command(log_file: Path, rpc_url: str, deployment: Path | None,
                        datadir: Path | None, from_l1_block: int) -> None:
    """Recompute every round of every task in a coordinator's audit log
    (DATADIR/coordinator/audit.jsonl) from L1 alone, the randomness the Rollup recorded and the
    roster snapshot of its block, and check every record the staking contract settled for the
    rollup against those draws. Prints one JSON line per task, one per settled record that no
    draw explains, and exits 1 if there is either."""
    records = [_record(log_file, number, line) for number, line in _lines(log_file)]
    market = open_market(rpc_url, deployment, datadir)
    if market.deployment.rollup is None:
        raise click.ClickException("the deployment names no rollup: there is nothing to audit")
    rollup = Rollup.from_deployment(market.chain, market.deployment)
    params = market.params()
    chain_id = market.chain.chain_id
    settled = [record.report for record in market.settled_records(rollup.address, from_l1_block)]
    # Every snapshot ever taken: a task's roster may be one taken long before --from-l1-block.
    snapshots = market.snapshots()
    tasks: dict[tuple[rules.TaskKind, int], PublicTask | None] = {}
    for kind, index in [(r.kind, r.index) for r in records] + [(s.kind, s.task) for s in settled]:
        if (kind, index) not in tasks:
            tasks[(kind, index)] = public_task(rollup, snapshots, params, kind, index)
    failed = 0
    for record in records:
        task = tasks[(record.kind, record.index)]
        problems = (["L1 has no recorded randomness for it"] if task is None else
                    audit_mismatches(record, task, params, chain_id, rollup.address))
        failed += bool(problems)
        _emit({"kind": record.kind.name.lower(), "index": record.index,
               "rounds": len(record.rounds), "ok": not problems, "problems": problems})
    unexplained = unexplained_settlements(
        settled, {key: task for key, task in tasks.items() if task is not None}, params,
        chain_id, rollup.address)
    for problem in unexplained:
        _emit({"settled": problem})
    if failed or unexplained:
        raise click.ClickException(f"{failed} task(s) were not drawn by the rules, and "
                                   f"{len(unexplained)} settled record(s) no draw explains")


def _record(path: Path, number: int, line: str):
    try:
        return audit_record_from_json(json.loads(line))
    except (json.JSONDecodeError, InvalidAuditRecord) as exc:
        raise click.ClickException(f"{path}:{number}: not an audit record: {exc}") from None


def _lines(path: Path) -> list[tuple[int, str]]:
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}"
                                   ) from None
    return [(number, line) for number, line in enumerate(text.splitlines(), start=1)
            if line.strip()]
