"""The roller node's settings: `roller.toml` in the data directory, each key with a default.

Every key is optional; a missing file means every default. A key the roller does not know, or a
value of the wrong type or range, is refused with the file, the key and the reason: a typo in a
config file must not silently leave a default in force (a misspelt `safety_margin` would make a
roller accept tasks it cannot finish). Keys may be written as in the file below or with dashes,
as the command line's flags are (`max-concurrent-tasks`). docs/roller.md lists them all.

Precedence: `overrides` (what the command line and its PROVERNET_* variables set) beats the file,
which beats the defaults. Relative paths in the file are relative to the file's directory, so a
data directory can be moved whole.
"""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_utils import is_hex_address, to_checksum_address
from multiaddr import Multiaddr

from p2p.backoff import Backoff
from roller.errors import ConfigError
from roller.farm.queue import FarmError, farm_url
from roller.keys import DATADIR_ENV, DEFAULT_DATADIR

CONFIG_NAME = "roller.toml"
#: the same default endpoint as every `provernet` command's --rpc-url
DEFAULT_RPC_URL = "http://127.0.0.1:8545"
#: the deployment file's name in the data directory, as for every `provernet` command
DEPLOYMENT_NAME = "deployment.json"
BACKENDS = ("auto", "cpu", "gpu")


@dataclass(frozen=True)
class RollerConfig:
    #: the node's directory: keystore, lock file, journal, libp2p key
    datadir: Path
    #: L1 JSON-RPC endpoint
    rpc_url: str = DEFAULT_RPC_URL
    #: the deployment file naming the contracts; None means DATADIR/deployment.json
    deployment: Path | None = None
    #: multiaddrs (ending in /p2p/<peer id>) dialled at start to join the gossip mesh
    bootstrap: tuple[str, ...] = ()
    #: where libp2p listens; port 0 picks a free one
    listen: str = "/ip4/127.0.0.1/tcp/0"
    #: the proving backend: "auto" takes the GPU when one is usable, else the CPU
    backend: str = "auto"
    #: tasks proven at once; more than 1 only pays with several devices (capacity.py). Not used
    #: with a farm, whose live workers say how many
    max_concurrent_tasks: int = 1
    #: a farm's PostgreSQL URL (postgresql://USER@HOST:PORT/DATABASE): prove on the workers
    #: started against it (`provernet roller worker`) instead of here; None proves here
    farm: str | None = None
    #: with a farm, the most tasks proven at once, however many workers are live (each held
    #: task keeps a database connection open while its job waits)
    farm_slots: int = 32
    #: the fraction of each task's window (assignment to deadline) kept spare for the network and
    #: for estimates that are too low: a task is accepted only if it is modelled to finish in
    #: the first 1 - safety_margin of its window
    safety_margin: float = 0.2
    #: host:port of the Prometheus metrics and health server
    metrics_listen: str = "127.0.0.1:9464"
    #: coordinator addresses to serve; None serves every coordinator registered on-chain
    coordinators: tuple[str, ...] | None = None
    #: Rollup addresses to serve; None serves every rollup the staking contract enables (its
    #: deployer adds them: listing them keeps a rollup added later out until it is listed)
    rollups: tuple[str, ...] | None = None
    #: first delay before reconnecting to a lost coordinator, doubled per failure up to the max
    reconnect_initial: float = 0.5
    #: the most seconds between two attempts: a restarted coordinator is back in a few seconds and
    #: its queued tasks have deadlines, while a dial to one still down costs one refused TCP
    #: connection (the p2p layer keeps no back-off of its own: `p2p.host.Node._dial`)
    reconnect_max: float = 3.0
    #: with no message from a coordinator for this many seconds, ping it; with none for twice as
    #: long, the session is taken for dead
    ping_interval: float = 15.0
    #: seconds between two reads of the staking contract's settlement logs
    settlement_interval: float = 5.0
    #: L1 blocks per eth_getLogs request of the settlement reader (public endpoints cap ranges)
    settlement_log_chunk: int = 5_000
    #: seconds a registry answer is trusted (the announcement validator asks per announcement),
    #: and a rollup found not servable stays so before L1 is asked again (the deployer may add it)
    registry_ttl: float = 60.0
    #: seconds an L1 read on the announcements' path may take before the answer is "not now"
    l1_read_timeout: float = 10.0
    #: accepted announcements waiting for the discovery loop; more are dropped (each coordinator
    #: re-announces within seconds, so a drop only delays it)
    announcement_queue: int = 64
    #: cancels of tasks not received (or not decided) yet that are remembered, the newest kept:
    #: a cancel overtakes its task by moments, so a few per coordinator would do
    cancels_remembered: int = 1024

    def __post_init__(self) -> None:
        if self.deployment is None:
            object.__setattr__(self, "deployment", self.datadir / DEPLOYMENT_NAME)

    @property
    def metrics_address(self) -> tuple[str, int]:
        host, _, port = self.metrics_listen.rpartition(":")
        return host.strip("[]"), int(port)

    def reconnect_delay(self, failures: int) -> float:
        """Seconds to wait after `failures` (1 or more) failed attempts in a row: reconnect_initial,
        doubling per failure up to reconnect_max, so a coordinator that is down is not hammered."""
        return Backoff(self.reconnect_initial, self.reconnect_max).delay(failures)


def load_config(datadir: str | Path | None = None, path: str | Path | None = None,
                overrides: Mapping[str, Any] | None = None) -> RollerConfig:
    """The settings from `path` (default DATADIR/roller.toml) and `overrides`.

    The data directory is `datadir` if given, else $PROVERNET_DATADIR, else the file's `datadir`
    key, else ~/.provernet. An explicit `path` must exist; the default one may be missing (all
    defaults). `overrides` maps keys to values, None meaning "not set" (click's unset options).
    """
    explicit_dir = datadir if datadir not in (None, "") else os.environ.get(DATADIR_ENV) or None
    file = Path(path).expanduser() if path is not None else (
        Path(explicit_dir or DEFAULT_DATADIR).expanduser() / CONFIG_NAME)
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    layers = []
    if path is not None or file.exists():
        layers.append((str(file), _read_toml(file), file.parent))
    layers.append(("override", {k: v for k, v in (overrides or {}).items() if v is not None},
                   Path.cwd()))
    for source, table, base in layers:
        parsed = _parse(table, source, base)
        values.update(parsed)
        sources.update(dict.fromkeys(parsed, source))
    if explicit_dir is not None:
        values["datadir"] = Path(explicit_dir).expanduser()
    values.setdefault("datadir", DEFAULT_DATADIR.expanduser())
    initial = values.get("reconnect_initial", RollerConfig.reconnect_initial)
    most = values.get("reconnect_max", RollerConfig.reconnect_max)
    if most < initial:
        source = sources.get("reconnect_max") or sources["reconnect_initial"]
        raise ConfigError(f"{source}: reconnect_max ({most:g} s) is below reconnect_initial "
                          f"({initial:g} s); the delay grows from the initial value up to the max")
    return RollerConfig(**values)


def _read_toml(file: Path) -> dict[str, Any]:
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{file}: no such config file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{file}: cannot read it: {getattr(exc, 'strerror', None) or exc}"
                          ) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file}: not valid TOML: {exc}") from None


def _parse(table: Mapping[str, Any], source: str, base: Path) -> dict[str, Any]:
    """Each key checked and converted; `base` is what relative paths are relative to."""
    parsed = {}
    for written, value in table.items():
        key = written.replace("-", "_")
        check = _CHECKS.get(key)
        if check is None:
            raise ConfigError(f"{source}: unknown key {written!r}{_suggestion(key)}; "
                              f"the keys are {', '.join(_CHECKS)}")
        try:
            parsed[key] = check(value, base)
        except _Invalid as invalid:
            raise ConfigError(f"{source}: key {written!r}: {invalid}, got {value!r}") from None
    return parsed


def _suggestion(key: str) -> str:
    close = difflib.get_close_matches(key, _CHECKS, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


class _Invalid(Exception):
    """What a value should have been; `_parse` adds the source, key and value."""


# ------------------------------------------------------------------ one check per kind of value

def _string(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _Invalid("expected a non-empty string")
    return value.strip()


def _path(value: Any, base: Path) -> Path:
    path = Path(_string(value)).expanduser()
    return path if path.is_absolute() else base / path


def _url(value: Any, _base: Path) -> str:
    url = _string(value)
    if not url.startswith(("http://", "https://", "ws://", "wss://")):
        raise _Invalid("expected an http(s):// or ws(s):// URL")
    return url


def _multiaddr(value: Any) -> str:
    try:
        return str(Multiaddr(_string(value)))
    except ValueError as exc:
        raise _Invalid(f"expected a multiaddr such as /ip4/127.0.0.1/tcp/4001 ({exc})") from None


def _listen(value: Any, _base: Path) -> str:
    return _multiaddr(value)


def _bootstrap(value: Any, _base: Path) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise _Invalid("expected a list of multiaddrs")
    addrs = tuple(_multiaddr(item) for item in value)
    for addr in addrs:
        if "p2p" not in (p.name for p in Multiaddr(addr).protocols()):
            raise _Invalid(f"{addr} has no /p2p/<peer id>: a peer is dialled by its id")
    return addrs


def _farm(value: Any, _base: Path) -> str:
    url = _string(value)
    try:
        farm_url(url)
    except FarmError:
        raise _Invalid("expected a PostgreSQL URL, postgresql://USER@HOST:PORT/DATABASE") from None
    return url


def _backend(value: Any, _base: Path) -> str:
    if value not in BACKENDS:
        raise _Invalid(f"expected one of {', '.join(BACKENDS)}")
    return value


def _positive_int(value: Any, _base: Path) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _Invalid("expected a whole number of at least 1")
    return value


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Invalid("expected a number")
    return float(value)


def _fraction(value: Any, _base: Path) -> float:
    number = _number(value)
    if not 0 <= number < 1:
        raise _Invalid("expected a fraction from 0 up to (not including) 1")
    return number


def _seconds(value: Any, _base: Path) -> float:
    number = _number(value)
    if not number > 0:
        raise _Invalid("expected a positive number of seconds")
    return number


def _host_port(value: Any, _base: Path) -> str:
    text = _string(value)
    host, colon, port = text.rpartition(":")
    if not colon or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise _Invalid("expected host:port, e.g. 127.0.0.1:9464 ([::1]:9464 for IPv6)")
    return text


def _addresses(every: str) -> Callable[[Any, Path], tuple[str, ...]]:
    """A non-empty list of addresses; leaving the key out means `every`."""

    def check(value: Any, _base: Path) -> tuple[str, ...]:
        if not isinstance(value, list) or not value:
            raise _Invalid(f"expected a non-empty list of addresses (leave the key out to serve "
                           f"{every})")
        for item in value:
            if not isinstance(item, str) or not is_hex_address(item):
                raise _Invalid(f"{item!r} is not an Ethereum address (0x and 40 hex digits)")
        return tuple(to_checksum_address(item) for item in value)

    return check


_CHECKS: dict[str, Callable[[Any, Path], Any]] = {
    "datadir": _path,
    "rpc_url": _url,
    "deployment": _path,
    "bootstrap": _bootstrap,
    "listen": _listen,
    "backend": _backend,
    "max_concurrent_tasks": _positive_int,
    "farm": _farm,
    "farm_slots": _positive_int,
    "safety_margin": _fraction,
    "metrics_listen": _host_port,
    "coordinators": _addresses("every registered coordinator"),
    "rollups": _addresses("every rollup the staking contract enables"),
    "reconnect_initial": _seconds,
    "reconnect_max": _seconds,
    "ping_interval": _seconds,
    "settlement_interval": _seconds,
    "settlement_log_chunk": _positive_int,
    "registry_ttl": _seconds,
    "l1_read_timeout": _seconds,
    "announcement_queue": _positive_int,
    "cancels_remembered": _positive_int,
}
