"""Circuits on the farm, by content hash: the roller publishes the circuits it proves, workers
fetch them and check every byte against its hash before they prove with it.

An artifact (a .zkey, a witness calculator's .wasm) is stored in parts of `PART_BYTES`, so that
neither side holds a large key in one message; a circuit's row (`farm_circuits`: its name and the
hashes of its key and wasm) is written in the same transaction as its parts, so a published
circuit is whole. A worker streams the parts into its `ArtifactStore` (files named by their
SHA-256) through `atomicfile`, hashing as it goes: a part missing, or bytes that do not hash to
the name, leave nothing behind and raise `ArtifactMismatch`, as a coordinator's wrong artifact
does for a roller (`roller.artifacts`).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from atomicfile import atomic_file
from p2p.artifacts import ArtifactStore
from roller.artifacts import local_build
from roller.farm.queue import FarmError, FarmQueue
from zkp.builds import CircuitBuild

#: bytes per stored part: small enough for one message and one row, few enough rows for a key
#: of hundreds of MB
PART_BYTES = 8 << 20


class ArtifactMismatch(FarmError):
    """A circuit on the farm is missing, incomplete, or not what its hash says."""


def publish(queue: FarmQueue, build: CircuitBuild) -> None:
    """Put `build`'s key and wasm on the farm, unless it is there already (blocking)."""
    if queue.execute("SELECT 1 FROM farm_circuits WHERE zkey_hash = %s",
                     (build.zkey_hash,)).fetchone():
        return
    with queue.transaction():
        for path, digest in ((build.zkey, build.zkey_hash), (build.wasm, build.wasm_hash)):
            _store(queue, Path(path), digest)
        queue.execute("INSERT INTO farm_circuits (zkey_hash, wasm_hash, name) VALUES "
                      "(%s, %s, %s) ON CONFLICT DO NOTHING",
                      (build.zkey_hash, build.wasm_hash, build.name))


def published(queue: FarmQueue) -> list[bytes]:
    """The zkey hashes of the circuits on the farm, oldest first."""
    rows = queue.execute("SELECT zkey_hash FROM farm_circuits ORDER BY published_at").fetchall()
    return [bytes(zkey_hash) for (zkey_hash,) in rows]


def load_circuit(queue: FarmQueue, zkey_hash: bytes, store: ArtifactStore) -> CircuitBuild:
    """The published circuit whose key hashes to `zkey_hash`, its artifacts fetched into `store`
    where it lacks them and checked (blocking)."""
    row = queue.execute("SELECT name, wasm_hash FROM farm_circuits WHERE zkey_hash = %s",
                        (zkey_hash,)).fetchone()
    if row is None:
        raise ArtifactMismatch(f"circuit {zkey_hash.hex()[:16]} is not published on the farm")
    name, wasm_hash = row[0], bytes(row[1])
    zkey = fetch(queue, zkey_hash, store, f"{name}'s key")
    wasm = fetch(queue, wasm_hash, store, f"{name}'s wasm")
    return local_build(name, zkey, wasm, zkey_hash=zkey_hash, wasm_hash=wasm_hash)


def fetch(queue: FarmQueue, digest: bytes, store: ArtifactStore, what: str) -> Path:
    """The artifact with SHA-256 `digest` in `store`, streamed from the farm if need be."""
    path = store.path(digest)
    if store.has(digest):
        return path
    hasher = hashlib.sha256()
    with atomic_file(path, durable=True) as out:
        part = 0
        while (row := queue.execute("SELECT data FROM farm_artifacts WHERE hash = %s AND "
                                    "part = %s", (digest, part)).fetchone()) is not None:
            hasher.update(row[0])
            out.write(row[0])
            part += 1
        if hasher.digest() != digest:
            raise ArtifactMismatch(
                f"{what} on the farm ({part} parts) hashes to {hasher.hexdigest()[:16]}, not "
                f"{digest.hex()[:16]}: not used")
    return path


def _store(queue: FarmQueue, path: Path, digest: bytes) -> None:
    """Store the file at `path` in parts, checking it is `digest` as it is read."""
    if queue.execute("SELECT 1 FROM farm_artifacts WHERE hash = %s LIMIT 1",
                     (digest,)).fetchone():
        return
    hasher = hashlib.sha256()
    with open(path, "rb") as source:
        part = 0
        while data := source.read(PART_BYTES):
            hasher.update(data)
            # Another roller publishing the same circuit at once writes the same parts.
            queue.execute("INSERT INTO farm_artifacts (hash, part, data) VALUES (%s, %s, %s) "
                          "ON CONFLICT DO NOTHING", (digest, part, data))
            part += 1
    if hasher.digest() != digest:
        raise ArtifactMismatch(f"{path} hashes to {hasher.hexdigest()[:16]}, not "
                               f"{digest.hex()[:16]} as its build says: not published")
