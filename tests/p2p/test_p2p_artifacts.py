"""Artifacts by content hash over a real stream: multi-chunk transfer, missing and corrupt ones."""

from __future__ import annotations

import hashlib
import os

import pytest
import trio

from p2p import messages as m
from p2p.artifacts import ArtifactStore, fetch_artifact, serve_artifacts
from p2p.config import P2PConfig
from p2p.errors import ArtifactHashMismatch, ArtifactNotFound, ProtocolViolation
from p2p.protocols import ARTIFACTS_PROTOCOL, serve
from p2p_nodes import running_nodes

# Small chunks so a 300 KB artifact takes several, each crossing several Noise frames.
CONFIG = P2PConfig(artifact_chunk_bytes=100_000, score_recovery_per_second=0)


def test_store_names_files_by_hash(tmp_path):
    store = ArtifactStore(tmp_path / "store")
    data = os.urandom(3000)
    assert not store.has(hashlib.sha256(data).digest())
    digest = store.put(data)
    assert digest == hashlib.sha256(data).digest() and store.path(digest).read_bytes() == data
    assert store.has(digest)
    source = tmp_path / "circuit.zkey"
    source.write_bytes(data * 3)
    assert store.import_file(source) == hashlib.sha256(data * 3).digest()
    assert sorted(p.name for p in store.root.iterdir()) == sorted([digest.hex(), hashlib.sha256(data * 3).hexdigest()])


@pytest.mark.parametrize("size", [0, 1, 300_001])
async def test_fetch_by_hash(tmp_path, size):
    data = os.urandom(size)
    async with running_nodes(tmp_path, "server", "client", config=CONFIG) as (server, client):
        store = ArtifactStore(tmp_path / "served")
        digest = store.put(data)
        serve_artifacts(server, store)
        with trio.fail_after(10):
            await client.connect(server.addrs[0])
            dest = tmp_path / "fetched" / digest.hex()
            dest.parent.mkdir()
            assert await fetch_artifact(client, server.peer_id, digest, dest) == dest
        assert dest.read_bytes() == data
        assert list(dest.parent.iterdir()) == [dest]


async def test_missing_artifact(tmp_path):
    async with running_nodes(tmp_path, "server", "client", config=CONFIG) as (server, client):
        serve_artifacts(server, ArtifactStore(tmp_path / "served"))
        with trio.fail_after(10):
            await client.connect(server.addrs[0])
            with pytest.raises(ArtifactNotFound):
                await fetch_artifact(client, server.peer_id, b"\x01" * 32, tmp_path / "out")
        assert list(tmp_path.glob("*out*")) == []
        assert client.scores.score(str(server.peer_id)) == 0  # not having a file is no fault


async def test_corrupt_server_yields_a_hash_mismatch(tmp_path):
    data = os.urandom(250_000)
    async with running_nodes(tmp_path, "server", "client", config=CONFIG) as (server, client):
        store = ArtifactStore(tmp_path / "served")
        digest = store.put(data)
        store.path(digest).write_bytes(data[:-1] + b"\x00")  # bit rot, or a lying server
        serve_artifacts(server, store)
        dest = tmp_path / "fetched"
        dest.mkdir()
        with trio.fail_after(10):
            await client.connect(server.addrs[0])
            with pytest.raises(ArtifactHashMismatch) as caught:
                await fetch_artifact(client, server.peer_id, digest, dest / digest.hex())
        assert caught.value.expected == digest
        assert caught.value.actual == hashlib.sha256(data[:-1] + b"\x00").digest()
        assert list(dest.iterdir()) == []  # nothing written, not even the temporary file
        assert client.scores.score(str(server.peer_id)) == -CONFIG.penalty_artifact_mismatch


async def test_a_server_that_skips_ahead_breaks_the_protocol(tmp_path):
    digest = hashlib.sha256(b"abcdef").digest()

    async def skipping(stream):
        request = await stream.receive(m.ArtifactRequest)
        await stream.send(m.ArtifactChunk(hash=request.hash, offset=0, total=6, data=b"abc"))
        await stream.send(m.ArtifactChunk(hash=request.hash, offset=4, total=6, data=b"ef"))

    async with running_nodes(tmp_path, "server", "client", config=CONFIG) as (server, client):
        serve(server, ARTIFACTS_PROTOCOL, skipping)
        with trio.fail_after(10):
            await client.connect(server.addrs[0])
            with pytest.raises(ProtocolViolation, match="offset 4, expected 3"):
                await fetch_artifact(client, server.peer_id, digest, tmp_path / "out")
        assert not (tmp_path / "out").exists()
        assert client.scores.score(str(server.peer_id)) == -CONFIG.penalty_protocol_violation
