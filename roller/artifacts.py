"""A coordinator's circuits, fetched by content hash into the data directory and made provable.

An announcement lists each circuit by the SHA-256 of its manifest (`zkp.builds.manifest`: JSON
naming the SHA-256 of the `.zkey` and of the witness calculator `.wasm`). `fetch_circuit` gets
the manifest, then the key and the wasm, from the announcing coordinator's peer over
`/provernet/artifacts/1.0.0` into an `ArtifactStore` (DATADIR/artifacts, files named by their
hash; `p2p.artifacts.fetch_artifact` renames a download into place only once its hash matches,
so a file in the store is what its name says). What is there already is not fetched again.

`local_build` makes the `CircuitBuild` that `roller.proving.BlockProver` takes from those local
files: it needs the key, the wasm, their hashes and the verification key (read from the .zkey);
the `.r1cs` is not needed to prove and is left out.
"""

from __future__ import annotations

from pathlib import Path

import structlog
import trio
from libp2p.peer.id import ID

from p2p.artifacts import ArtifactStore, fetch_artifact
from p2p.errors import P2PError
from p2p.host import Node
from roller.errors import RollerError
from zkp.builds import CircuitBuild, file_hash, read_manifest
from zkp.errors import ZkpError
from zkp.setup import SetupFiles
from zkp.zkey import read_zkey_verification_key

log = structlog.get_logger(__name__)

#: a manifest is a few hundred bytes of JSON; anything much larger is not one
MANIFEST_MAX_BYTES = 64 << 10


class CircuitUnavailable(RollerError):
    """A circuit's manifest, key or wasm cannot be fetched, or is not what it claims to be."""


def local_build(name: str, zkey: Path, wasm: Path, *, zkey_hash: bytes | None = None,
                wasm_hash: bytes | None = None) -> CircuitBuild:
    """A `CircuitBuild` of a local key and witness calculator, as `BlockProver` uses it.

    The hashes are computed when not given (files from an `ArtifactStore` are named by theirs).
    The verification key is read from the .zkey's header; `r1cs` and `verification_key` (the
    JSON file) do not exist here and are None."""
    try:
        vk = read_zkey_verification_key(zkey)
    except (ZkpError, OSError) as exc:
        raise CircuitUnavailable(f"circuit {name}: cannot read the key {zkey}: {exc}") from None
    setup = SetupFiles(zkey=Path(zkey), verification_key=None, vk=vk, made=False)  # type: ignore[arg-type]
    return CircuitBuild(name=name, r1cs=None, wasm=Path(wasm), zkey=Path(zkey),  # type: ignore[arg-type]
                        verification_key=None, setup=setup,  # type: ignore[arg-type]
                        zkey_hash=zkey_hash if zkey_hash is not None else file_hash(zkey),
                        wasm_hash=wasm_hash if wasm_hash is not None else file_hash(wasm))


async def fetch_circuit(node: Node, peer_id: ID, manifest_hash: bytes,
                        store: ArtifactStore) -> CircuitBuild:
    """The circuit whose manifest hashes to `manifest_hash`, fetched from `peer_id` where the
    store lacks a piece; CircuitUnavailable (with the cause) if any piece cannot be had."""
    label = manifest_hash.hex()[:16]
    manifest_path = await _ensure(node, peer_id, manifest_hash, store, f"manifest {label}")
    data = await trio.Path(manifest_path).read_bytes()
    if len(data) > MANIFEST_MAX_BYTES:
        raise CircuitUnavailable(f"circuit manifest {label} is {len(data)} bytes: not a manifest")
    try:
        name, zkey_hash, wasm_hash = read_manifest(data)
    except ZkpError as exc:
        raise CircuitUnavailable(f"circuit manifest {label}: {exc}") from None
    if len(zkey_hash) != 32 or len(wasm_hash) != 32:
        raise CircuitUnavailable(f"circuit manifest {label}: the key and wasm hashes are not "
                                 "32 bytes")
    zkey = await _ensure(node, peer_id, zkey_hash, store, f"{name}'s key")
    wasm = await _ensure(node, peer_id, wasm_hash, store, f"{name}'s wasm")
    return await trio.to_thread.run_sync(lambda: local_build(
        name, zkey, wasm, zkey_hash=zkey_hash, wasm_hash=wasm_hash))


async def _ensure(node: Node, peer_id: ID, digest: bytes, store: ArtifactStore,
                  what: str) -> Path:
    path = store.path(digest)
    if store.has(digest):
        return path
    log.info("fetching circuit artifact", what=what, hash=digest.hex(), peer=str(peer_id))
    try:
        return await fetch_artifact(node, peer_id, digest, path)
    except P2PError as exc:
        raise CircuitUnavailable(f"cannot fetch {what} ({digest.hex()[:16]}) from {peer_id}: "
                                 f"{exc}") from None
