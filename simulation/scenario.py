"""Scenario files: TOML in, a checked `Scenario` out.

```toml
name = "baseline"          # default: the file's name
seed = 1                   # the run's one random generator is seeded with it
blocks = 2000              # commit slots: the sequencer commits one L2 block per slot
block_interval = 2.0       # seconds between commit slots
l1_delay = 1.0             # seconds from sending an L1 transaction to its effect
network_delay = 0.05       # seconds a message takes between coordinator and roller
# reward_pool = 50000      # tokens; default: enough for every block and batch of the run

[market]                   # any MarketParams field; omitted ones are the devnet defaults
m = 2                      # token amounts (min_stake, r_block, r_agg) in tokens,
reward_mode = "lottery"    # times (t, late_window, t_agg, unbonding) in seconds

[profiles.gpu-slow]        # a hardware profile (built in: gpu-h100, gpu-4090, cpu)
block = { dist = "lognormal", median = 12.0, sigma = 0.3 }
aggregation = { dist = "gamma", mean = 5.0, shape = 4.0 }
slots = 1

[[rollers]]
behaviour = "honest"       # simulation.behaviours.CATALOGUE
count = 40                 # machines (default 1)
profile = "gpu-4090"       # default gpu-4090
stake = 1000               # tokens per machine (default 1000)
label = "honest-4090"      # the name in metrics.json (default: the behaviour)
# ...plus the behaviour's own knobs, e.g. identities = 4 for a sybil

[coordinator]              # optional: simulation.operators.COORDINATORS
behaviour = "misreport"    # default honest
roller = "colluder"        # the [[rollers]] label it favours, plus the behaviour's knobs

[sequencer]                # optional: simulation.operators.SEQUENCERS
behaviour = "reroll"
roller = "colluder"
```

Every key is checked: an unknown key, a wrong type or a value out of range raises a
`ScenarioError` that names the key by its path (`rollers[2].stake`).
"""

from __future__ import annotations

import copy
import dataclasses
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

from market_contracts.rules import InvalidParams, MarketParams, RewardMode, batch_of
from market_contracts.units import ONE_TOKEN
from simulation.behaviours import CATALOGUE, Behaviour, Knob
from simulation.errors import (
    InvalidValue,
    MissingKey,
    UnknownKey,
    UnreadableScenario,
    WrongType,
)
from simulation.operators import COORDINATORS, SEQUENCERS, Operator
from simulation.profiles import BUILTIN_PROFILES, DISTRIBUTIONS, MS_PER_SECOND, HardwareProfile

#: Top-level settings of a run: (type, default, minimum). `tokens` and `seconds` are numbers.
RUN_KEYS: dict[str, tuple[str, object, float | None]] = {
    "name": ("str", None, None),
    "seed": ("int", 0, 0),
    "blocks": ("int", 1000, 1),
    "block_interval": ("seconds", 2.0, 0.001),
    "l1_delay": ("seconds", 1.0, 0),
    "network_delay": ("seconds", 0.05, 0),
    #: the coordinator's roster snapshot policy: at most this often while the roster changes
    "snapshot_interval": ("seconds", 30.0, 0.001),
    "reward_pool": ("tokens", None, 0),
}
TABLES = ("market", "profiles", "rollers", "coordinator", "sequencer")
#: MarketParams fields given in tokens in a scenario (wei in MarketParams).
TOKEN_PARAMS = ("min_stake", "r_block", "r_agg")
MARKET_KEYS = tuple(field.name for field in dataclasses.fields(MarketParams))
ROLLER_KEYS: dict[str, tuple[str, object, float | None]] = {
    "behaviour": ("str", None, None),
    "count": ("int", 1, 1),
    "profile": ("str", "gpu-4090", None),
    "stake": ("tokens", 1000, 0),
    "label": ("str", None, None),
}
PROFILE_KEYS = ("block", "aggregation", "slots")
_TYPE_NAMES = {"str": "a string", "int": "an integer", "seconds": "a number of seconds",
               "tokens": "a number of tokens", "float": "a number", "table": "a table",
               "tables": "an array of tables"}


@dataclass(frozen=True)
class RollerGroup:
    """One `[[rollers]]` entry: `count` machines alike."""

    behaviour: type[Behaviour]
    count: int
    profile: HardwareProfile
    #: wei per machine, split evenly over its identities
    stake: int
    label: str
    #: the behaviour's knobs, defaults filled in
    settings: Mapping[str, object]

    @property
    def identities(self) -> int:
        return self.behaviour.identities(self.settings)

    @property
    def join_block(self) -> int:
        return self.behaviour.join_block(self.settings)


@dataclass(frozen=True)
class OperatorSpec:
    """The `[coordinator]` or `[sequencer]` table: a behaviour and its knobs."""

    behaviour: type[Operator]
    settings: Mapping[str, object]

    @property
    def favoured_label(self) -> str | None:
        return self.settings.get("roller")


HONEST_OPERATOR = {"coordinator": OperatorSpec(COORDINATORS["honest"], {}),
                   "sequencer": OperatorSpec(SEQUENCERS["honest"], {})}


@dataclass(frozen=True)
class Scenario:
    name: str
    seed: int
    blocks: int
    block_interval_ms: int
    l1_delay_ms: int
    network_delay_ms: int
    snapshot_interval_ms: int
    #: wei; None: enough for every block and batch of the run
    reward_pool: int | None
    params: MarketParams
    rollers: tuple[RollerGroup, ...]
    coordinator: OperatorSpec = HONEST_OPERATOR["coordinator"]
    sequencer: OperatorSpec = HONEST_OPERATOR["sequencer"]

    @property
    def pool_wei(self) -> int:
        if self.reward_pool is not None:
            return self.reward_pool
        batches = batch_of(self.blocks, self.params.k) + 1  # the last one may be partial
        return self.blocks * self.params.r_block + batches * self.params.r_agg


def load_scenario(path: Path, overrides: Mapping[tuple[str, ...], object] = {}) -> Scenario:
    """Read and check a scenario file; `overrides` maps key paths (("seed",), ("market", "m"))
    to values that replace the file's, as `--seed` and sweeps do."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except OSError as exc:
        raise UnreadableScenario(f"cannot read scenario {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise UnreadableScenario(f"{path} is not valid TOML: {exc}") from None
    return parse_scenario(with_overrides(data, overrides), default_name=path.stem)


def with_overrides(data: Mapping[str, object],
                   overrides: Mapping[tuple[str, ...], object]) -> dict:
    data = copy.deepcopy(dict(data))
    for key_path, value in overrides.items():
        table = data
        for key in key_path[:-1]:
            table = table.setdefault(key, {})
        table[key_path[-1]] = value
    return data


def override_path(name: str) -> tuple[str, ...]:
    """The key path a sweep's `--param NAME` sets: a top-level setting or a market parameter
    (case-insensitive, so `M` is `market.m`)."""
    key = name.strip().lower()
    if key.startswith("market."):
        key = key.removeprefix("market.")
        if key in MARKET_KEYS:
            return ("market", key)
    elif key in RUN_KEYS and key != "name":
        return (key,)
    elif key in MARKET_KEYS:
        return ("market", key)
    known = sorted({*RUN_KEYS} - {"name"}) + list(MARKET_KEYS)
    raise UnknownKey(f"{name}: not a scenario setting; one of {', '.join(known)}")


def parse_scenario(data: Mapping[str, object], default_name: str = "scenario") -> Scenario:
    _no_unknown_keys(data, [*RUN_KEYS, *TABLES], "")
    run = {key: _setting(data, key, spec, key) for key, spec in RUN_KEYS.items()}
    params = _market(_table(data, "market", "market"))
    profiles = _profiles(_table(data, "profiles", "profiles"))
    rollers = _rollers(data.get("rollers"), profiles, params, run["blocks"])
    labels = [group.label for group in rollers]
    coordinator = _operator(_table(data, "coordinator", "coordinator"), "coordinator",
                            COORDINATORS, labels)
    sequencer = _operator(_table(data, "sequencer", "sequencer"), "sequencer", SEQUENCERS,
                          labels)
    return Scenario(
        name=run["name"] or default_name,
        seed=run["seed"],
        blocks=run["blocks"],
        block_interval_ms=_ms(run["block_interval"]),
        l1_delay_ms=_ms(run["l1_delay"]),
        network_delay_ms=_ms(run["network_delay"]),
        snapshot_interval_ms=_ms(run["snapshot_interval"]),
        reward_pool=run["reward_pool"],
        params=params,
        rollers=rollers,
        coordinator=coordinator,
        sequencer=sequencer,
    )


# ---------------------------------------------------------------- sections


def _market(table: Mapping[str, object]) -> MarketParams:
    _no_unknown_keys(table, MARKET_KEYS, "market.")
    values = dataclasses.asdict(MarketParams.devnet())
    for key, value in table.items():
        path = f"market.{key}"
        if key == "reward_mode":
            values[key] = _reward_mode(value, path)
        elif key in TOKEN_PARAMS:
            values[key] = _check("tokens", value, 0, path)
        else:
            values[key] = _check("int", value, 0, path)
    try:
        return MarketParams(**values)
    except InvalidParams as exc:
        raise InvalidValue(f"market: {exc}") from None


def _reward_mode(value: object, path: str) -> RewardMode:
    names = {mode.name.lower(): mode for mode in RewardMode}
    if _check("str", value, None, path) not in names:
        raise InvalidValue(f"{path} must be one of {', '.join(names)}, got {value!r}")
    return names[value]


def _profiles(table: Mapping[str, object]) -> dict[str, HardwareProfile]:
    profiles = dict(BUILTIN_PROFILES)
    for name, entry in table.items():
        path = f"profiles.{name}"
        entry = _check("table", entry, None, path)
        _no_unknown_keys(entry, PROFILE_KEYS, f"{path}.")
        base = BUILTIN_PROFILES.get(name)
        fields = {}
        for key in ("block", "aggregation"):
            if key in entry:
                fields[key] = _distribution(entry[key], f"{path}.{key}")
            elif base is None:
                raise MissingKey(f"{path}.{key} is required for a profile that is not built in "
                                 f"({', '.join(BUILTIN_PROFILES)})")
            else:
                fields[key] = getattr(base, key)
        fields["slots"] = (_check("int", entry["slots"], 1, f"{path}.slots") if "slots" in entry
                           else 1 if base is None else base.slots)
        profiles[name] = HardwareProfile(name, **fields)
    return profiles


def _distribution(value: object, path: str):
    entry = _check("table", value, None, path)
    if "dist" not in entry:
        raise MissingKey(f"{path}.dist is required: one of {', '.join(DISTRIBUTIONS)}")
    name = _check("str", entry["dist"], None, f"{path}.dist")
    cls = DISTRIBUTIONS.get(name)
    if cls is None:
        raise InvalidValue(f"{path}.dist must be one of {', '.join(DISTRIBUTIONS)}, got {name!r}")
    fields = [field.name for field in dataclasses.fields(cls)]
    _no_unknown_keys(entry, ["dist", *fields], f"{path}.")
    for field in fields:
        if field not in entry:
            raise MissingKey(f"{path}.{field} is required for a {name} distribution")
    try:
        return cls(**{field: float(_check("float", entry[field], None, f"{path}.{field}"))
                      for field in fields})
    except ValueError as exc:
        raise InvalidValue(f"{path}: {exc}") from None


def _rollers(value: object, profiles: Mapping[str, HardwareProfile], params: MarketParams,
             blocks: int) -> tuple[RollerGroup, ...]:
    if value is None:
        raise MissingKey("rollers is required: at least one [[rollers]] entry")
    if not isinstance(value, list) or not all(isinstance(entry, dict) for entry in value):
        raise WrongType(f"rollers must be an array of tables ([[rollers]]), got {value!r}")
    if not value:
        raise InvalidValue("rollers must have at least one entry")
    return tuple(_roller_group(entry, f"rollers[{i}]", profiles, params, blocks)
                 for i, entry in enumerate(value))


def _roller_group(entry: Mapping[str, object], path: str,
                  profiles: Mapping[str, HardwareProfile], params: MarketParams,
                  blocks: int) -> RollerGroup:
    if "behaviour" not in entry:
        raise MissingKey(f"{path}.behaviour is required: one of {', '.join(CATALOGUE)}")
    name = _check("str", entry["behaviour"], None, f"{path}.behaviour")
    behaviour = CATALOGUE.get(name)
    if behaviour is None:
        raise InvalidValue(f"{path}.behaviour must be one of {', '.join(CATALOGUE)}, "
                           f"got {name!r}")
    knobs = {knob.name: knob for knob in behaviour.knobs}
    _no_unknown_keys(entry, [*ROLLER_KEYS, *knobs], f"{path}.", f" (behaviour {name!r})")
    common = {key: _setting(entry, key, spec, f"{path}.{key}")
              for key, spec in ROLLER_KEYS.items()}
    if common["profile"] not in profiles:
        raise InvalidValue(f"{path}.profile must be one of {', '.join(profiles)}, got "
                           f"{common['profile']!r}")
    settings = {key: _knob(entry, knob, f"{path}.{key}") for key, knob in knobs.items()}
    group = RollerGroup(behaviour, common["count"], profiles[common["profile"]], common["stake"],
                        common["label"] or name, settings)
    per_identity = group.stake // group.identities
    if per_identity < params.min_stake:
        raise InvalidValue(
            f"{path}.stake: {_tokens(group.stake)} tokens over {group.identities} "
            f"address(es) is {_tokens(per_identity)} each, below min_stake "
            f"{_tokens(params.min_stake)}")
    if group.join_block > blocks:
        raise InvalidValue(f"{path}.join_block is {group.join_block}, after the run's last "
                           f"commit slot ({blocks})")
    return group


def _operator(table: Mapping[str, object], path: str, catalogue: Mapping[str, type[Operator]],
              labels: list[str]) -> OperatorSpec:
    name = _check("str", table.get("behaviour", "honest"), None, f"{path}.behaviour")
    behaviour = catalogue.get(name)
    if behaviour is None:
        raise InvalidValue(f"{path}.behaviour must be one of {', '.join(catalogue)}, "
                           f"got {name!r}")
    knobs = {knob.name: knob for knob in behaviour.knobs}
    _no_unknown_keys(table, ["behaviour", *knobs], f"{path}.", f" (behaviour {name!r})")
    settings = {key: _knob(table, knob, f"{path}.{key}") for key, knob in knobs.items()}
    if "roller" in settings and settings["roller"] not in labels:
        raise InvalidValue(f"{path}.roller must be the label of a [[rollers]] entry (one of "
                           f"{', '.join(dict.fromkeys(labels))}), got {settings['roller']!r}")
    return OperatorSpec(behaviour, settings)


def _knob(entry: Mapping[str, object], knob: Knob, path: str) -> object:
    if knob.name not in entry:
        if knob.default is None:
            raise MissingKey(f"{path} is required: {knob.help}")
        return knob.default
    kind = {int: "int", float: "float", str: "str"}[knob.type]
    value = _check(kind, entry[knob.name], knob.minimum, path)
    if knob.maximum is not None and value > knob.maximum:
        raise InvalidValue(f"{path} must be at most {knob.maximum}, got {value!r}")
    if knob.choices and value not in knob.choices:
        raise InvalidValue(f"{path} must be one of {', '.join(knob.choices)}, got {value!r}")
    return float(value) if knob.type is float else value


# ---------------------------------------------------------------- values


def _setting(table: Mapping[str, object], key: str, spec: tuple[str, object, float | None],
             path: str) -> object:
    kind, default, minimum = spec
    if key not in table:
        return default if kind != "tokens" or default is None else _wei(default, path)
    return _check(kind, table[key], minimum, path)


def _table(data: Mapping[str, object], key: str, path: str) -> Mapping[str, object]:
    return _check("table", data.get(key, {}), None, path)


def _check(kind: str, value: object, minimum: float | None, path: str):
    """`value` as `kind`, or the error that names `path`. Tokens come back in wei, seconds as a
    float."""
    if kind == "int":
        ok = type(value) is int
    elif kind in ("float", "seconds", "tokens"):
        ok = type(value) in (int, float)
    elif kind == "str":
        ok = isinstance(value, str)
    else:
        ok = isinstance(value, dict)
    if not ok:
        raise WrongType(f"{path} must be {_TYPE_NAMES[kind]}, got {value!r} "
                        f"({_toml_type(value)})")
    if type(value) is float and not math.isfinite(value):
        raise InvalidValue(f"{path} must be finite, got {value!r}")
    if minimum is not None and value < minimum:
        raise InvalidValue(f"{path} must be at least {minimum}, got {value!r}")
    if kind == "tokens":
        return _wei(value, path)
    return value


def _wei(tokens: int | float, path: str) -> int:
    try:
        wei = Decimal(str(tokens)) * ONE_TOKEN
    except InvalidOperation:
        raise InvalidValue(f"{path} is not a number of tokens: {tokens!r}") from None
    if wei != wei.to_integral_value():
        raise InvalidValue(f"{path}: {tokens} tokens is not a whole number of wei")
    return int(wei)


def _ms(seconds: float) -> int:
    return round(seconds * MS_PER_SECOND)


def _tokens(wei: int) -> str:
    return f"{Decimal(wei) / ONE_TOKEN:f}".rstrip("0").rstrip(".") or "0"


def _toml_type(value: object) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a float", str: "a string",
             dict: "a table", list: "an array"}
    return names.get(type(value), type(value).__name__)


def _no_unknown_keys(table: Mapping[str, object], known, prefix: str, where: str = "") -> None:
    for key in table:
        if key not in known:
            raise UnknownKey(f"{prefix}{key}: unknown key{where}; known keys: "
                             f"{', '.join(known)}")
