"""Field types of the wire messages, and the one generic check that applies them.

A message is a frozen dataclass whose fields carry a `Spec` in their metadata
(`messages.py` declares them with `uint()`, `fixed()`, ...). `to_wire` and
`from_wire` walk those specs; no message has validation code of its own.

Wire forms are chosen so that msgpack can carry them and every value has one
encoding: integers up to 64 bits are msgpack integers; wider ones (field
elements, weights) are 32-byte big-endian byte strings, since msgpack integers
stop at 64 bits; sequences decode to tuples so messages stay hashable.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any

from p2p.errors import SchemaViolation


class Spec(ABC):
    """How one field is checked and carried. `path` names the field in errors."""

    @abstractmethod
    def to_wire(self, value: Any, path: str) -> Any: ...

    @abstractmethod
    def from_wire(self, wire: Any, path: str) -> Any: ...


@dataclasses.dataclass(frozen=True)
class Uint(Spec):
    bits: int = 64
    #: the least value allowed (a slot count is at least 1)
    min: int = 0

    def _check(self, value: Any, path: str) -> int:
        # bool is an int in Python but never a valid count or amount on the wire.
        if not isinstance(value, int) or isinstance(value, bool):
            raise SchemaViolation(path, f"expected an unsigned integer, got {type(value).__name__}")
        if not self.min <= value < 1 << self.bits:
            raise SchemaViolation(path, f"{value} is outside {self.min}..2**{self.bits}-1")
        return value

    def to_wire(self, value: Any, path: str) -> Any:
        value = self._check(value, path)
        return value if self.bits <= 64 else value.to_bytes(self.bits // 8, "big")

    def from_wire(self, wire: Any, path: str) -> int:
        if self.bits <= 64:
            return self._check(wire, path)
        width = self.bits // 8
        if not isinstance(wire, bytes) or len(wire) != width:
            raise SchemaViolation(path, f"expected a {width}-byte big-endian integer")
        return int.from_bytes(wire, "big")


@dataclasses.dataclass(frozen=True)
class Bool(Spec):
    """True or false, and nothing else (msgpack keeps booleans apart from integers)."""

    def to_wire(self, value: Any, path: str) -> bool:
        if not isinstance(value, bool):
            raise SchemaViolation(path, f"expected true or false, got {type(value).__name__}")
        return value

    from_wire = to_wire


@dataclasses.dataclass(frozen=True)
class Bytes(Spec):
    """A byte string of exactly `exact` bytes, or of at most `max` bytes."""

    exact: int | None = None
    max: int | None = None

    def to_wire(self, value: Any, path: str) -> bytes:
        if not isinstance(value, (bytes, bytearray)):
            raise SchemaViolation(path, f"expected bytes, got {type(value).__name__}")
        if self.exact is not None and len(value) != self.exact:
            raise SchemaViolation(path, f"expected {self.exact} bytes, got {len(value)}")
        if self.max is not None and len(value) > self.max:
            raise SchemaViolation(path, f"{len(value)} bytes exceeds the limit of {self.max}")
        return bytes(value)

    from_wire = to_wire


@dataclasses.dataclass(frozen=True)
class Str(Spec):
    """A UTF-8 string of at most `max` characters, optionally one of `choices`."""

    max: int
    choices: frozenset[str] | None = None

    def to_wire(self, value: Any, path: str) -> str:
        if not isinstance(value, str):
            raise SchemaViolation(path, f"expected a string, got {type(value).__name__}")
        if len(value) > self.max:
            raise SchemaViolation(path, f"{len(value)} characters exceeds the limit of {self.max}")
        if self.choices is not None and value not in self.choices:
            raise SchemaViolation(path, f"{value!r} is not one of {', '.join(sorted(self.choices))}")
        return value

    from_wire = to_wire


@dataclasses.dataclass(frozen=True)
class List(Spec):
    """A sequence of `item`s: between `min` and `max` of them."""

    item: Spec
    max: int
    min: int = 0

    def _items(self, value: Any, path: str) -> Sequence[Any]:
        if not isinstance(value, (list, tuple)):
            raise SchemaViolation(path, f"expected a list, got {type(value).__name__}")
        if not self.min <= len(value) <= self.max:
            bound = str(self.max) if self.min == self.max else f"{self.min}..{self.max}"
            raise SchemaViolation(path, f"{len(value)} items, expected {bound}")
        return value

    def to_wire(self, value: Any, path: str) -> list[Any]:
        return [self.item.to_wire(v, f"{path}[{i}]") for i, v in enumerate(self._items(value, path))]

    def from_wire(self, wire: Any, path: str) -> tuple[Any, ...]:
        return tuple(self.item.from_wire(v, f"{path}[{i}]") for i, v in enumerate(self._items(wire, path)))


@dataclasses.dataclass(frozen=True)
class Record(Spec):
    """A nested map whose fields are those of the dataclass `cls`."""

    cls: type

    def to_wire(self, value: Any, path: str) -> dict[str, Any]:
        if not isinstance(value, self.cls):
            raise SchemaViolation(path, f"expected {self.cls.__name__}, got {type(value).__name__}")
        return record_to_wire(value, prefix=f"{path}.")

    def from_wire(self, wire: Any, path: str) -> Any:
        if not isinstance(wire, Mapping):
            raise SchemaViolation(path, f"expected a map, got {type(wire).__name__}")
        return record_from_wire(self.cls, wire, prefix=f"{path}.")


@dataclasses.dataclass(frozen=True)
class Switch:
    """A field whose spec depends on an earlier field's value (a task's `inputs` on its `kind`):
    not a spec itself, but the choice of one, made when the record is checked."""

    on: str
    cases: Mapping[str, Spec]


def spec_of(field: dataclasses.Field) -> Spec | Switch:
    return field.metadata["spec"]


def record_to_wire(record: Any, prefix: str = "") -> dict[str, Any]:
    """The fields of `record` in wire form, in declaration order, each checked."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(record):
        spec = _resolve(spec_of(f), out)
        out[f.name] = spec.to_wire(getattr(record, f.name), prefix + f.name)
    return out


def record_from_wire(cls: type, wire: Mapping[str, Any], prefix: str = "",
                     ignore: frozenset[str] = frozenset()) -> Any:
    """An instance of `cls` from a decoded map; `ignore` names envelope keys (`v`, `type`)."""
    fields = dataclasses.fields(cls)
    names = {f.name for f in fields}
    for key in wire:
        if key not in names and key not in ignore:
            raise SchemaViolation(prefix + str(key), "unknown field")
    values: dict[str, Any] = {}
    for f in fields:
        if f.name not in wire:
            raise SchemaViolation(prefix + f.name, "missing")
        spec = _resolve(spec_of(f), values)
        values[f.name] = spec.from_wire(wire[f.name], prefix + f.name)
    return cls(**values)


def _resolve(spec: Spec | Switch, earlier: Mapping[str, Any]) -> Spec:
    if not isinstance(spec, Switch):
        return spec
    # Fields are checked in declaration order, so `on` (declared earlier) is already valid.
    return spec.cases[earlier[spec.on]]
