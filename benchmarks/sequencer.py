"""Throughput of the sequencer's API: signed transfers accepted per second over HTTP on loopback.

    .venv/bin/python benchmarks/sequencer.py [--transfers 400] [--json]

The sequencer runs as it does in production (SQLite with synchronous=FULL, every check before
acceptance, blocks of the small circuit built every 2 s and committed to a Rollup contract),
with L1 on anvil, a separate process, as a real node would be. The load comes from another
process, so client and server do not share a GIL: each client holds one kept-alive connection
and sends pre-signed transfers one request at a time (or in JSON-RPC batches), its senders'
transfers in nonce order. A level's figure is the transfers accepted over the wall time from
the first request to the last reply.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

# Run as a script, this file's folder comes first on the path, and its name would hide the
# `sequencer` package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import structlog  # (imported after the path fix, as everything below)
import trio
from rich.console import Console
from rich.table import Table

from market_contracts.anvil import run_anvil
from market_contracts.bridge import Bridge
from market_contracts.chain import RpcChain
from market_contracts.rollup import Rollup
from provernet.market_report import percentile
from provernet.world import World
from sequencer import eddsa
from sequencer.accounts import Account
from sequencer.circuit_inputs import SMALL
from sequencer.client import SequencerClient
from sequencer.config import SequencerConfig
from sequencer.genesis import dev_address, dev_private_key, genesis_state
from sequencer.relayer import BridgeMessages
from sequencer.service import Sequencer
from sequencer.transactions import Transfer, sign_transfer, signing_message
from sequencer.wire import transfer_to_json

SENDERS = 64
#: (clients, transfers per HTTP request)
LEVELS = ((1, 1), (4, 1), (16, 1), (4, 20))
GENESIS = {i: Account(dev_address(i), 10**24) for i in range(SENDERS)}


def load(url: str, first_nonce: int, per_sender: int, clients: int, batch: int) -> dict:
    """In the load process: sign, then send, and time the sending."""
    lanes: list[list[dict]] = [[] for _ in range(clients)]
    for nonce in range(first_nonce, first_nonce + per_sender):
        for sender in range(SENDERS):
            transfer = Transfer(sender, (sender + 1) % SENDERS, dev_address((sender + 1) % SENDERS),
                                1, nonce)
            signed = sign_transfer(transfer, dev_private_key(sender), SMALL.chain_id)
            lanes[sender % clients].append(transfer_to_json(signed))
    latencies: list[float] = []

    async def lane(transfers: list[dict]) -> None:
        async with SequencerClient(url, timeout=120) as client:
            for start in range(0, len(transfers), batch):
                chunk = transfers[start:start + batch]
                body = [{"jsonrpc": "2.0", "id": i, "method": "l2_sendTransfer", "params": [t]}
                        for i, t in enumerate(chunk)]
                began = time.perf_counter()
                replies = await client.post(json.dumps(body if batch > 1 else body[0]).encode())
                latencies.append(time.perf_counter() - began)
                for reply in replies if batch > 1 else [replies]:
                    if "result" not in reply:
                        raise RuntimeError(f"refused: {reply['error']}")

    async def drive() -> float:
        began = time.perf_counter()
        async with trio.open_nursery() as nursery:
            for transfers in lanes:
                nursery.start_soon(lane, transfers)
        return time.perf_counter() - began

    elapsed = trio.run(drive)
    return {"clients": clients, "batch": batch, "transfers": SENDERS * per_sender,
            "seconds": elapsed, "per_second": SENDERS * per_sender / elapsed,
            "p50_ms": 1000 * percentile(latencies, 50),
            "p99_ms": 1000 * percentile(latencies, 99)}


def verification_rate() -> float:
    """Signature checks per second in this process: the bound on acceptances per core."""
    key = dev_private_key(0)
    message = signing_message(Transfer(0, 1, dev_address(1), 1, 0), SMALL.chain_id)
    signature = eddsa.sign(key, message)
    public = eddsa.public_key(key)
    began, count = time.perf_counter(), 100
    for _ in range(count):
        eddsa.verify(public, message, signature)
    return count / (time.perf_counter() - began)


async def measure(transfers: int, datadir: Path, rpc_url: str, rollup_address: str,
                  key) -> list[dict]:
    per_sender = max(1, transfers // SENDERS)
    config = SequencerConfig(datadir=datadir, genesis=GENESIS, circuit=SMALL, port=0,
                             max_pending=10**6, max_per_sender=10**6)
    rollup = Rollup(RpcChain(rpc_url), rollup_address)
    sequencer = Sequencer(config, rollup, key,
                          BridgeMessages(Bridge(rollup.chain, rollup.bridge())))
    results = []
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        async with trio.open_nursery() as nursery:
            await nursery.start(sequencer.run)
            for level, (clients, batch) in enumerate(LEVELS):
                future = pool.submit(load, sequencer.url, level * per_sender, per_sender,
                                     clients, batch)
                results.append(await trio.to_thread.run_sync(future.result))
            nursery.cancel_scope.cancel()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transfers", type=int, default=640, help="transfers per level")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(40))  # warnings off
    with run_anvil() as node, tempfile.TemporaryDirectory() as datadir:
        chain = RpcChain(node.url)
        key = chain.dev_accounts[1]
        world = World.deploy(chain)
        world.attach_rollup(key.address, genesis_root=genesis_state(SMALL.depth, GENESIS).root,
                            batch_size=4)
        results = trio.run(measure, args.transfers, Path(datadir), node.url,
                           world.rollup.address, key)
    bound = verification_rate()
    if args.json:
        print(json.dumps({"levels": results, "verifications_per_second": bound}))
        return
    table = Table(title="Sequencer API: signed transfers accepted per second (HTTP, loopback)")
    for column in ("clients", "transfers per request", "transfers", "seconds", "transfers/s",
                   "p50 latency", "p99 latency"):
        table.add_column(column, justify="right")
    for r in results:
        table.add_row(str(r["clients"]), str(r["batch"]), str(r["transfers"]),
                      f"{r['seconds']:.2f}", f"{r['per_second']:.0f}", f"{r['p50_ms']:.1f} ms",
                      f"{r['p99_ms']:.1f} ms")
    console = Console(width=max(Console().width, 110))  # the table's columns, unwrapped
    console.print(table)
    console.print(f"EdDSA verification alone in one process: {bound:.0f}/s")


if __name__ == "__main__":
    main()
