"""`provernet audit`: recompute seeds, assignments and lottery winners from public data, so that
anyone can check a coordinator without trusting it. Each command prints one line of JSON."""

from __future__ import annotations

import json
import re
from pathlib import Path

import click

from market_contracts import rules

command = click.Group(
    "audit",
    help="Recompute the market's seeds, draws and lottery winners from public data.",
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
