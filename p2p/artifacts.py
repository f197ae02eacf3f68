"""Circuit artifacts (.zkey, .wasm, ...) by content hash, and their transfer.

An `ArtifactStore` is a directory of files each named by the sha256 of its
contents (lower-case hex). Over `/provernet/artifacts/1.0.0` a peer asks for one
hash from an offset (`artifact_request`) and the server answers with
`artifact_chunk`s of at most `P2PConfig.artifact_chunk_bytes` each, in order,
until `total`, or with `artifact_missing`. One request per stream.

`fetch_artifact` writes the chunks to a temporary file beside the destination,
hashing as it goes, and renames it into place only if the sha256 matches: a
wrong or truncated artifact leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import trio
from libp2p.peer.id import ID

from atomicfile import atomic_file, write_atomically
from p2p.errors import ArtifactHashMismatch, ArtifactNotFound, MessageTooLarge, ProtocolViolation
from p2p.host import Node
from p2p.messages import ArtifactChunk, ArtifactMissing, ArtifactRequest
from p2p.protocols import ARTIFACTS_PROTOCOL, MessageStream, open_stream, serve

COPY_BYTES = 1 << 20


class ArtifactStore:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, digest: bytes) -> Path:
        """Where the artifact with sha256 `digest` is (or would be) kept."""
        if len(digest) != 32:
            raise ValueError(f"an artifact hash is 32 bytes, got {len(digest)}")
        return self.root / digest.hex()

    def has(self, digest: bytes) -> bool:
        return self.path(digest).is_file()

    def put(self, data: bytes) -> bytes:
        """Store `data`; its sha256."""
        digest = hashlib.sha256(data).digest()
        write_atomically(self.path(digest), data)
        return digest

    def import_file(self, source: Path) -> bytes:
        """Copy the file at `source` into the store, unless it is there already (a node
        importing its circuit at every start); its sha256. Read in pieces: hashed first, since
        the stored file is named by its hash, then copied if need be."""
        hasher = hashlib.sha256()
        with open(source, "rb") as src:
            while piece := src.read(COPY_BYTES):
                hasher.update(piece)
        digest = hasher.digest()
        if not self.has(digest):
            with open(source, "rb") as src, atomic_file(self.path(digest)) as dst:
                shutil.copyfileobj(src, dst, COPY_BYTES)
        return digest


def serve_artifacts(node: Node, store: ArtifactStore) -> None:
    """Answer artifact requests on `node` from `store`."""

    async def handle(stream: MessageStream) -> None:
        request = await stream.receive(ArtifactRequest)
        try:
            f = await trio.open_file(store.path(request.hash), "rb")
        except FileNotFoundError:
            await stream.send(ArtifactMissing(hash=request.hash))
            return
        async with f:
            total = os.fstat(f.fileno()).st_size
            if request.offset > total:
                await stream.fail(ProtocolViolation(f"offset {request.offset} is past the end ({total})"))
                return
            await f.seek(request.offset)
            offset = request.offset
            while True:  # at least one chunk, so an empty artifact is answered too
                data = await f.read(node.config.artifact_chunk_bytes)
                await stream.send(ArtifactChunk(hash=request.hash, offset=offset, total=total, data=data))
                offset += len(data)
                if offset >= total or not data:
                    return

    serve(node, ARTIFACTS_PROTOCOL, handle)


async def fetch_artifact(node: Node, peer_id: ID, digest: bytes, dest: Path) -> Path:
    """Fetch the artifact with sha256 `digest` from `peer_id` into `dest`; `dest`.

    Raises ArtifactNotFound if the peer has none, ArtifactHashMismatch (and
    penalises the peer) if what arrives hashes differently; in both cases, and on
    any other failure, `dest` is left as it was.
    """
    dest = Path(dest)
    hasher = hashlib.sha256()
    # Durable: a fetched artifact is trusted by name from then on (`ArtifactStore.has`).
    with atomic_file(dest, durable=True) as file:
        out = trio.wrap_file(file)
        async with open_stream(node, peer_id, ARTIFACTS_PROTOCOL) as stream:
            await stream.send(ArtifactRequest(hash=digest, offset=0))
            offset, total = 0, None
            while total is None or offset < total:
                msg = await stream.receive(ArtifactChunk, ArtifactMissing)
                problem = _check_reply(msg, digest, offset, total, node.config.artifact_max_bytes)
                if problem is not None:
                    await stream.fail(problem)
                    raise problem
                if isinstance(msg, ArtifactMissing):
                    raise ArtifactNotFound(digest)
                total = msg.total
                hasher.update(msg.data)
                await out.write(msg.data)
                offset += len(msg.data)
        actual = hasher.digest()
        if actual != digest:
            error = ArtifactHashMismatch(digest, actual)
            node.penalise(peer_id, error)
            raise error
        # Synced here, in a thread, so that the closing fsync (which then has nothing left to
        # write) does not hold up the event loop with gigabytes of a zkey.
        await out.flush()
        await trio.to_thread.run_sync(os.fsync, file.fileno())
    return dest


def _check_reply(msg: ArtifactChunk | ArtifactMissing, digest: bytes, offset: int, total: int | None,
                 max_bytes: int) -> ProtocolViolation | MessageTooLarge | None:
    """What is wrong with `msg` as the next reply, or None."""
    if msg.hash != digest:
        return ProtocolViolation(f"reply for {msg.hash.hex()}, asked for {digest.hex()}")
    if isinstance(msg, ArtifactMissing):
        return None if total is None else ProtocolViolation("artifact_missing after chunks")
    if msg.total > max_bytes:
        return MessageTooLarge(msg.total, max_bytes)
    if total is not None and msg.total != total:
        return ProtocolViolation(f"total changed from {total} to {msg.total}")
    if msg.offset != offset:
        return ProtocolViolation(f"chunk at offset {msg.offset}, expected {offset}")
    if msg.offset + len(msg.data) > msg.total:
        return ProtocolViolation("chunk runs past the total")
    if not msg.data and msg.total > offset:
        return ProtocolViolation("empty chunk before the end")
    return None
