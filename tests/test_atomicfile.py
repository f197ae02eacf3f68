"""The one atomic writer (`atomicfile`): a file is replaced whole or not at all.

Here at the root, not in tests/atomicfile/: pytest puts tests/ on sys.path, where a folder named
like the package would shadow it as an empty namespace package."""

from __future__ import annotations

import os
import stat

import pytest

from atomicfile import atomic_file, write_atomically


def test_a_write_replaces_the_file_whole(tmp_path):
    path = tmp_path / "deployment.json"
    path.write_text("old")
    write_atomically(path, "new", durable=True)
    assert path.read_text() == "new"
    write_atomically(path, b"\x00\x01")
    assert path.read_bytes() == b"\x00\x01"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["deployment.json"]


def test_a_failed_write_leaves_the_old_file_and_nothing_else(tmp_path):
    path = tmp_path / "cursor"
    path.write_text("7\n")
    with pytest.raises(RuntimeError):
        with atomic_file(path, "w") as file:
            file.write("8\n")
            raise RuntimeError("the disk is full")
    assert path.read_text() == "7\n"
    assert [p.name for p in tmp_path.iterdir()] == ["cursor"]


def test_a_private_file_is_the_owners_alone_and_another_follows_the_umask(tmp_path):
    write_atomically(tmp_path / "key", "secret", private=True)
    assert stat.S_IMODE((tmp_path / "key").stat().st_mode) == 0o600
    umask = os.umask(0o022)
    try:
        write_atomically(tmp_path / "public", "shared")
    finally:
        os.umask(umask)
    assert stat.S_IMODE((tmp_path / "public").stat().st_mode) == 0o644
