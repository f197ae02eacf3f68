"""Token amounts: users type and read whole tokens, the chain counts 10**-18 of one."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation

from market_contracts.errors import ChainError

TOKEN_SYMBOL = "PNT"
TOKEN_DECIMALS = 18
ONE_TOKEN = 10**TOKEN_DECIMALS


class InvalidAmount(ChainError):
    """An amount the user typed is not a non-negative number of tokens."""


def parse_tokens(text: str | int) -> int:
    """'150', '0.25' or 150 tokens -> base units; at most 18 decimal places."""
    try:
        value = Decimal(str(text).strip())
    except InvalidOperation as exc:
        raise InvalidAmount(f"not an amount of tokens: {text!r}") from exc
    if not value.is_finite() or value < 0:
        raise InvalidAmount(f"an amount must be a non-negative number of tokens, got {text!r}")
    units = value * ONE_TOKEN
    if units != units.to_integral_value():
        raise InvalidAmount(f"{text!r} has more than {TOKEN_DECIMALS} decimal places")
    return int(units)


def format_tokens(units: int) -> str:
    whole, frac = divmod(units, ONE_TOKEN)
    text = f"{whole:,}"
    if frac:
        text += "." + f"{frac:0{TOKEN_DECIMALS}d}".rstrip("0")
    return f"{text} {TOKEN_SYMBOL}"


def format_utc(timestamp: int) -> str:
    """Block timestamps as people read them; release times are shown this way everywhere."""
    return datetime.fromtimestamp(timestamp, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
