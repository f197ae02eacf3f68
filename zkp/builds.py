"""A circuit ready to prove with: compiled, set up, and identified by content, once per machine.

The coordinator, every roller and the tests need the same block circuit and the same key. The
compiled files are cached under the cache directory by a hash of everything the compile reads
(the circuit folder's sources, circomlib's version, the optimisation level), and the key by the
.r1cs (`zkp.setup.cached_setup`), so a second build is a lookup. Artifacts are named on the
network by the SHA-256 of their bytes (`file_hash`), which is what a roller checks a download
against.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from zkp.circom import NODE_MODULES, compile_circuit
from zkp.errors import CircuitCompileError
from zkp.proof import GROTH16
from zkp.setup import SetupFiles, cached_setup, default_cache_dir

CIRCUITS_DIR = Path(__file__).resolve().parent / "circuits"
#: the block circuit profiles, zkp/circuits/block_NAME.circom; sequencer.circuit_inputs holds
#: each one's parameters (transfers per block, tree depth) for building its inputs
BLOCK_PROFILES = ("small", "large")
#: --O2 drops linear constraints: half the key and the proving time of --O1 for the block circuit
OPTIMIZATION = 2
_CHUNK = 1 << 20


@dataclass(frozen=True)
class CircuitBuild:
    name: str
    r1cs: Path
    wasm: Path
    zkey: Path
    verification_key: Path
    setup: SetupFiles
    #: SHA-256 of the .zkey file: the circuit's name on the network and in tasks
    zkey_hash: bytes
    #: SHA-256 of the witness calculator, fetched by hash like the key
    wasm_hash: bytes

    @property
    def system(self) -> str:
        """The proof system (`zkp.system`) the key proves with: a .zkey is snarkjs's Groth16."""
        return GROTH16


def manifest(build: CircuitBuild) -> bytes:
    """The circuit's manifest, the artifact a task names (`Task.circuit` is its SHA-256): the
    hashes of the key and the witness calculator, which a roller then fetches by hash."""
    return json.dumps({"name": build.name, "zkey": build.zkey_hash.hex(),
                       "wasm": build.wasm_hash.hex()}, sort_keys=True).encode()


def read_manifest(data: bytes) -> tuple[str, bytes, bytes]:
    """(name, zkey hash, wasm hash) of a manifest; CircuitCompileError if it is not one."""
    try:
        document = json.loads(data)
        return (str(document["name"]), bytes.fromhex(document["zkey"]),
                bytes.fromhex(document["wasm"]))
    except (ValueError, KeyError, TypeError) as error:
        raise CircuitCompileError(f"not a circuit manifest: {error!r}") from None


def file_hash(path: str | os.PathLike) -> bytes:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(_CHUNK):
            digest.update(chunk)
    return digest.digest()


def block_circuit_source(profile: str) -> Path:
    if profile not in BLOCK_PROFILES:
        raise CircuitCompileError(
            f"no block circuit profile {profile!r}; there are {', '.join(sorted(BLOCK_PROFILES))}")
    return CIRCUITS_DIR / f"block_{profile}.circom"


def build_circuit(source: str | os.PathLike, cache_dir: Path | None = None) -> CircuitBuild:
    """Compile (or find compiled) `source` and its development key, under a lock."""
    source = Path(source).resolve()
    if not source.is_file():
        raise CircuitCompileError(f"{source}: no such circuit file")
    cache = cache_dir or default_cache_dir()
    folder = cache / "circuits" / _sources_hash(source).hex()[:32]
    name = source.stem
    r1cs, wasm = folder / f"{name}.r1cs", folder / f"{name}_js" / f"{name}.wasm"
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / f".{folder.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (r1cs.exists() and wasm.exists()):
            # Compile beside the cache and move into place, so a kill never leaves half a build.
            staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=".build-"))
            try:
                compile_circuit(source, staging, optimization=OPTIMIZATION)
                shutil.rmtree(folder, ignore_errors=True)
                staging.rename(folder)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
    setup = cached_setup(r1cs, cache)
    return CircuitBuild(name, r1cs, wasm, setup.zkey, setup.verification_key, setup,
                        file_hash(setup.zkey), file_hash(wasm))


def build_block_circuit(profile: str, cache_dir: Path | None = None) -> CircuitBuild:
    return build_circuit(block_circuit_source(profile), cache_dir)


#: constraints per Poseidon(2) hash in poseidon_chain.circom as circom compiles it by default
CHAIN_CONSTRAINTS_PER_HASH = 517
#: the constant wire, the chain's public signals and a little slack
CHAIN_SPARE_ROWS = 6


def chain_length(log_size: int) -> int:
    """The longest Poseidon chain that fits a domain of 2^log_size rows (at least one hash)."""
    return max(1, ((1 << log_size) - CHAIN_SPARE_ROWS) // CHAIN_CONSTRAINTS_PER_HASH)


def poseidon_chain(length: int, cache_dir: Path | None = None) -> Path:
    """A chain of `length` Poseidon hashes (zkp/circuits/poseidon_chain.circom, public inputs a,
    b, c): a circuit of any size for benchmarks, compiled under the cache; its folder, holding
    chain_<length>.r1cs and chain_<length>_js/chain_<length>.wasm."""
    main = (f'pragma circom 2.0.0;\ninclude "poseidon_chain.circom";\n'
            f"component main {{public [a, b, c]}} = PoseidonChain({length});\n")
    library = (CIRCUITS_DIR / "poseidon_chain.circom").read_bytes()
    digest = hashlib.sha256(main.encode() + library).hexdigest()[:16]
    folder = (cache_dir or default_cache_dir()) / "circuits" / f"chain_{length}-{digest}"
    source = folder / f"chain_{length}.circom"
    if not (folder / f"chain_{length}.r1cs").exists():
        folder.mkdir(parents=True, exist_ok=True)
        source.write_text(main)
        compile_circuit(source, folder, (NODE_MODULES, CIRCUITS_DIR))
    return folder


def _sources_hash(source: Path) -> bytes:
    """Everything a compile of `source` reads: the .circom files beside it (the block circuit
    includes its siblings), circomlib's version, and the optimisation level."""
    digest = hashlib.sha256()
    for path in sorted(source.parent.glob("*.circom")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    digest.update(source.name.encode())
    circomlib = NODE_MODULES / "circomlib" / "package.json"
    if circomlib.exists():
        digest.update(json.loads(circomlib.read_text()).get("version", "").encode())
    digest.update(b"O%d" % OPTIMIZATION)
    return digest.digest()
