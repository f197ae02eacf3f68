"""Start anvil (the npm build in node_modules) as a child process, and always stop it again.

Used by the devnet (`--l1 anvil`), the chaos harness, the benchmarks and the integration
tests. anvil runs in its own process group so that stopping it reaches anything it spawned, and
so that a Ctrl-C meant for us is not delivered to it twice.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from market_contracts.compile import NODE_MODULES
from market_contracts.errors import ChainError

ANVIL_PATH = NODE_MODULES / "@foundry-rs" / "anvil-linux-amd64" / "bin" / "anvil"
HOST = "127.0.0.1"
STARTUP_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 5.0
# Between picking a free port and anvil binding it another process may take it; retry then.
PORT_ATTEMPTS = 3


@dataclass(frozen=True)
class AnvilNode:
    url: str
    port: int
    chain_id: int
    process: subprocess.Popen


def anvil_binary() -> Path:
    if not ANVIL_PATH.is_file():
        raise ChainError(f"anvil is not installed at {ANVIL_PATH}; "
                         "run `npm ci` in the repository root")
    return ANVIL_PATH


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


@contextmanager
def run_anvil(*, chain_id: int = 31337, block_time: float | None = None, port: int | None = None,
              extra_args: Sequence[str] = (),
              startup_timeout: float = STARTUP_TIMEOUT_S) -> Iterator[AnvilNode]:
    """An anvil answering JSON-RPC on loopback for the duration of the block.

    Without `block_time` anvil mines one block per transaction, at once."""
    binary = anvil_binary()
    options = ["--chain-id", str(chain_id), "--silent"]
    if block_time is not None:
        options += ["--block-time", str(block_time)]
    options += list(extra_args)
    attempts = 1 if port is not None else PORT_ATTEMPTS
    for attempt in range(attempts):
        node_port = port if port is not None else free_port()
        with tempfile.TemporaryFile() as stderr:
            process = subprocess.Popen(
                [str(binary), "--host", HOST, "--port", str(node_port), *options],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr,
                start_new_session=True)
            try:
                node = AnvilNode(f"http://{HOST}:{node_port}", node_port, chain_id, process)
                try:
                    _wait_until_answering(node, stderr, startup_timeout)
                except _PortTaken:
                    if attempt + 1 < attempts:
                        continue
                    raise ChainError(f"anvil could not bind {node.url}: the port is in use; "
                                     "pass another port or leave it unset") from None
                yield node
                return
            finally:
                _stop(process)


class _PortTaken(Exception):
    pass


def _wait_until_answering(node: AnvilNode, stderr, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    body = {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}
    request = urllib.request.Request(node.url, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: no proxy
    while True:
        returncode = node.process.poll()
        if returncode is not None:
            tail = _tail(stderr)
            if "Address already in use" in tail:
                raise _PortTaken
            raise ChainError(f"anvil exited with status {returncode} before answering on "
                             f"{node.url}: {tail or 'no output'}")
        try:
            with opener.open(request, timeout=0.5) as response:
                served = int(json.load(response)["result"], 16)
        except (OSError, ValueError, KeyError):
            served = None  # not listening yet
        # Alive after answering: the answer came from our anvil, not a squatter on the port.
        if served is not None and node.process.poll() is None:
            if served != node.chain_id:
                raise ChainError(f"{node.url} serves chain id {served}, not the {node.chain_id} "
                                 "anvil was started with; is another node on that port?")
            return
        if time.monotonic() > deadline:
            raise ChainError(f"anvil did not answer on {node.url} within {timeout:g} s: "
                             f"{_tail(stderr) or 'no output'}")
        time.sleep(0.05)


def _tail(stderr, limit: int = 2000) -> str:
    stderr.seek(0)
    text = stderr.read().decode(errors="replace")[-limit:]
    return " | ".join(line.strip() for line in text.splitlines() if line.strip())


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM to the whole group, SIGKILL if it lingers; the child is reaped either way."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            pass  # the group is gone already
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
            return
        except subprocess.TimeoutExpired:
            continue
    raise ChainError(f"anvil (pid {process.pid}) survived SIGKILL for {STOP_TIMEOUT_S:g} s; "
                     "kill it by hand")
