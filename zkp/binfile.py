"""The iden3 sectioned binary container behind .r1cs, .zkey and .wtns files.

Layout (all integers little-endian): 4-byte magic, u32 version, u32 number of
sections, then each section as u32 id, u64 payload length, payload. Ids may
come in any order; circom and snarkjs look sections up by id and ignore ones
they do not know, and so do we.
"""

import os
import struct
from collections.abc import Iterable
from dataclasses import dataclass

from atomicfile import atomic_file
from zkp.errors import FileAccessError, MalformedFile
from zkp.field import N8, Q, R

_HEADER = struct.Struct("<4sII")
_SECTION_HEADER = struct.Struct("<IQ")


@dataclass(frozen=True)
class _Section:
    offset: int
    size: int


class BinFile:
    """A container's section table; payloads are read on demand.

    Reading on demand lets a caller take the header of a gigabyte .zkey (the
    verification key, say) without loading its point sections.
    """

    def __init__(self, path: str | os.PathLike, magic: str, max_version: int):
        self.path = path
        try:
            with open(path, "rb") as f:
                file_size = f.seek(0, os.SEEK_END)
                f.seek(0)
                self._sections = self._scan(f, file_size, magic, max_version)
        except OSError as e:
            raise FileAccessError(path, e.strerror or str(e)) from e

    def _scan(self, f, file_size: int, magic: str, max_version: int):
        head = f.read(_HEADER.size)
        if len(head) < _HEADER.size:
            raise self.malformed(f"file is {file_size} bytes, too short for a {magic} header")
        found_magic, version, n_sections = _HEADER.unpack(head)
        if found_magic != magic.encode():
            raise self.malformed(f"not a {magic} file (starts with {found_magic!r})")
        if version > max_version:
            raise self.malformed(
                f"{magic} version {version} is not supported (at most {max_version})"
            )
        sections: dict[int, list[_Section]] = {}
        position = _HEADER.size
        for index in range(n_sections):
            raw = f.read(_SECTION_HEADER.size)
            if len(raw) < _SECTION_HEADER.size:
                raise self.malformed(
                    f"section table truncated: header of section {index + 1} of {n_sections} "
                    f"missing at byte {position}"
                )
            section_id, size = _SECTION_HEADER.unpack(raw)
            position += _SECTION_HEADER.size
            if position + size > file_size:
                raise self.malformed(
                    f"section {section_id} truncated: expected {size} bytes, "
                    f"found {file_size - position}"
                )
            sections.setdefault(section_id, []).append(_Section(position, size))
            position = f.seek(position + size)
        return sections

    def malformed(self, problem: str) -> MalformedFile:
        return MalformedFile(self.path, problem)

    def expect_size(self, section_id: int, expected: int, holds: str) -> None:
        """Check a section's length against what the header implies it `holds`."""
        size = self._unique(section_id).size
        if size != expected:
            raise self.malformed(
                f"section {section_id} is {size} bytes, expected {expected} for {holds}"
            )

    def has(self, section_id: int) -> bool:
        return section_id in self._sections

    def read(self, section_id: int) -> bytes:
        section = self._unique(section_id)
        try:
            with open(self.path, "rb") as f:
                f.seek(section.offset)
                data = f.read(section.size)
        except OSError as e:
            raise FileAccessError(self.path, e.strerror or str(e)) from e
        if len(data) != section.size:
            raise self.malformed(
                f"section {section_id} truncated: expected {section.size} bytes, found {len(data)}"
            )
        return data

    def reader(self, section_id: int) -> "SectionReader":
        return SectionReader(self, section_id, self.read(section_id))

    def _unique(self, section_id: int) -> _Section:
        found = self._sections.get(section_id)
        if not found:
            raise self.malformed(f"section {section_id} is missing")
        if len(found) > 1:
            raise self.malformed(f"section {section_id} appears {len(found)} times")
        return found[0]


class SectionReader:
    """Reads one section's fields in order, each read bounds-checked."""

    def __init__(self, file: BinFile, section_id: int, data: bytes):
        self._file = file
        self._id = section_id
        self.data = data
        self.position = 0

    def raw(self, n: int) -> bytes:
        end = self.position + n
        if end > len(self.data):
            raise self._file.malformed(
                f"section {self._id} too short: "
                f"expected at least {end} bytes, found {len(self.data)}"
            )
        chunk = self.data[self.position : end]
        self.position = end
        return chunk

    def u32(self) -> int:
        return int.from_bytes(self.raw(4), "little")

    def u64(self) -> int:
        return int.from_bytes(self.raw(8), "little")

    def integer(self, n8: int) -> int:
        return int.from_bytes(self.raw(n8), "little")

    def field_prime(self, modulus: int) -> None:
        """Read an (n8, prime) pair and check it names a BN254 field: the only curve we prove on."""
        n8 = self.u32()
        if n8 != N8:
            raise self._file.malformed(f"field elements of {n8} bytes; BN254 uses {N8}")
        prime = self.integer(n8)
        if prime != modulus:
            field = {Q: "base", R: "scalar"}[modulus]
            raise self._file.malformed(
                f"made for the prime {prime}, not BN254's {field} field "
                "(compile with circom's default --prime bn128)"
            )

    def done(self) -> None:
        """Check that nothing is left over: extra bytes mean a misread header."""
        left = len(self.data) - self.position
        if left:
            raise self._file.malformed(f"section {self._id} has {left} unexpected trailing bytes")


def write_binfile(
    path: str | os.PathLike, magic: str, version: int, sections: Iterable[tuple[int, bytes]]
) -> None:
    """Write a container atomically, so a reader never sees half a file."""
    sections = list(sections)
    try:
        with atomic_file(path) as f:
            f.write(_HEADER.pack(magic.encode(), version, len(sections)))
            for section_id, payload in sections:
                f.write(_SECTION_HEADER.pack(section_id, len(payload)))
                f.write(payload)
    except OSError as e:
        raise FileAccessError(path, f"cannot write: {e.strerror or e}") from e
