"""A chaos campaign: the market's processes on anvil, a stream of transfers, and faults.

`run_campaign` starts a `ChaosNetwork` (every node its own process, reaching L1 through the
fault relay), sends transfers at `load` a second, and carries out a seeded plan of faults, one
at a time with a random pause before each:

- a **kill**: SIGKILL to a random node (sequencer, coordinator or a roller), down for a random
  moment, then restarted on the same data directory; a restart whose /health does not answer
  within `RESTART_TIMEOUT_S` is a failed restart;
- an **L1 fault**: the endpoint frozen (SIGSTOP on anvil, SIGCONT after) or the relay failing
  (`proxy.Fault`: refusing, answering errors, holding requests, losing replies) for a random
  while; every node's /health is polled during it and for `REPORT_GRACE_S` after.

After the last fault it stops the transfers once the sequencer's blocks fill whole batches (a
batch of K blocks is what finalizes), waits up to `settle_deadlines` × T for every committed
block to finalize, and checks (`checks`): every accepted transfer in exactly one committed
block, no block committed twice or skipped, every block finalized or reverted and committed
again, nothing settled twice, no roller signing two proofs for one assignment, every node
running, no nonce gap and no duplicated transaction of any node's account on L1, and no
traceback in any node's log.
"""

from __future__ import annotations

import json
import os
import random
import signal
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx
import structlog
import trio
from eth_utils import to_checksum_address

from market_contracts.anvil import run_anvil
from market_contracts.bridge import Bridge
from market_contracts.chain import RpcChain
from market_contracts.errors import ChainError
from market_contracts.rules import MarketParams, ends_batch
from market_contracts.units import ONE_TOKEN
from provernet.chaos import checks
from provernet.chaos.network import ChaosNetwork, LoadGenerator, NetworkConfig, NodeProcess
from provernet.chaos.proxy import PROXY_FAULTS, Fault, L1Proxy
from sequencer.client import SequencerClient
from sequencer.errors import SequencerError
from sequencer.genesis import dev_address

log = structlog.get_logger(__name__)

#: short deadlines (T = 15 s) so that a run's blocks finalize within a few minutes on two cores
CHAOS_PARAMS = MarketParams.devnet().replace(k=2, t=15, late_window=30, t_agg=15)
#: the L1 faults a campaign draws from: a frozen node, and the relay's ways of failing
L1_FAULTS = ("freeze", *PROXY_FAULTS)
RESTART_TIMEOUT_S = 120.0
#: after an L1 fault ends, how long nodes have to report it (a request under way when it began
#: may only time out now) and to be healthy again
REPORT_GRACE_S = 40.0
HEALTH_POLL_S = 0.5
#: the nodes' JSON-RPC read timeout (`RpcChain`'s default): a frozen node, which accepts
#: connections and never answers, shows as an error only once a request has waited this long;
#: a shorter freeze is absorbed without one, and not expected in /health
RPC_REQUEST_TIMEOUT_S = 30.0
#: seconds a freeze lasts, drawn uniformly: some shorter than the nodes' request timeout
#: (absorbed), some longer (reported)
FREEZE_S = (15.0, 45.0)
#: the run's whole report, written in its data directory
REPORT_NAME = "chaos-report.json"
#: most seconds to wait for the sequencer's blocks to fill a whole batch once faults are over
PAD_TIMEOUT_S = 120.0
#: seconds between the campaign's deposits: L1 messages the relayer must carry through the
#: kills (each a queue position L1 must see consumed, once, by the end)
DEPOSIT_INTERVAL_S = 4.0


@dataclass(frozen=True)
class CampaignConfig:
    datadir: Path
    kills: int
    l1_faults: int = 0
    seed: int = 0
    rollers: int = 2
    params: MarketParams = CHAOS_PARAMS
    #: transfers a second: the small circuit takes 2 a block, a block every `block_interval`
    #: at most, so 0.2 leaves the sequencer and the rollers (2 cores) room to catch up
    load: float = 0.2
    block_interval: float = 6.0
    #: seconds before each fault, drawn uniformly from this range
    gap_s: tuple[float, float] = (5.0, 15.0)
    #: seconds a killed node stays down
    down_s: tuple[float, float] = (0.0, 3.0)
    #: seconds a fault of the relay lasts (a freeze: `FREEZE_S`)
    l1_fault_s: tuple[float, float] = (10.0, 25.0)
    #: after the last fault, deadlines (T) every committed block has to finalize in
    settle_deadlines: float = 4.0
    #: which L1 faults to draw from
    l1_fault_kinds: tuple[str, ...] = L1_FAULTS


@dataclass
class FaultRecord:
    #: seconds since the faults began
    at: float
    fault: str
    #: the node killed, or "L1"
    target: str
    seconds: float
    #: kill: restarted and answering; L1 fault: every node healthy again afterwards
    recovered: bool = True
    #: L1 fault: the nodes whose /health reported a problem during it
    reported_by: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


@dataclass
class CampaignReport:
    kills: int
    accepted_transfers: int
    lost_transfers: int
    duplicate_commits: int
    skipped_blocks: int
    double_settlements: int
    finalized_blocks: int
    unfinalized_blocks: int
    restarts_failed: int
    #: accepted transfers in more than one committed block
    duplicated_transfers: int
    #: accepted transfers the sequencer still holds (pending, or in a block not committed yet)
    #: when the run ends: late, not lost
    uncommitted_transfers: int
    l1_faults: int
    #: (fault, node) pairs where the node's /health never reported an outage it should have
    #: (`report_expected`)
    outages_unreported: int
    l1_recoveries_failed: int
    nonce_gaps: int
    duplicate_transactions: int
    reverted_transactions: int
    double_signed: int
    reverted_blocks: int
    reverted_not_recommitted: int
    root_mismatches: int
    #: deposits the campaign made on L1, and those no block had taken when it ended (the
    #: contract consumes each queue position once, in order: none can be taken twice)
    deposits: int
    deposits_not_included: int
    nodes_down: int
    tracebacks: int
    committed_blocks: int
    seconds: float
    faults: list[FaultRecord]
    #: per node: starts, tracebacks, L1 transactions mined, reverted, nonce gaps, repeats
    nodes: dict[str, dict]
    #: the hashes of the lost and the uncommitted transfers
    lost: list[str]
    uncommitted: list[str]

    def summary(self) -> dict:
        """The issue's figures first, then the L1 faults' and the other checks'."""
        data = asdict(self)
        for detail in ("faults", "nodes", "lost", "uncommitted"):
            del data[detail]
        return data

    def save(self, path: Path) -> None:
        """Everything, details included, as JSON: what a post-mortem starts from."""
        path.write_text(json.dumps(asdict(self), indent=1))

    @property
    def failures(self) -> list[str]:
        """The checks that failed, in words; empty when the run kept every promise."""
        bad = {name: getattr(self, name) for name in (
            "lost_transfers", "duplicated_transfers", "uncommitted_transfers",
            "duplicate_commits", "skipped_blocks", "double_settlements",
            "unfinalized_blocks", "restarts_failed", "outages_unreported",
            "l1_recoveries_failed", "nonce_gaps", "duplicate_transactions", "double_signed",
            "reverted_not_recommitted", "root_mismatches", "deposits_not_included",
            "nodes_down", "tracebacks")}
        return [f"{name} = {value}" for name, value in bad.items() if value]


def plan(kills: int, l1_faults: int, nodes: list[str], kinds: tuple[str, ...],
         rng: random.Random) -> list[tuple[str, str]]:
    """The faults in the order they happen: ("kill", node) and ("l1", kind), shuffled."""
    faults = [("kill", rng.choice(nodes)) for _ in range(kills)]
    faults += [("l1", rng.choice(kinds)) for _ in range(l1_faults)]
    rng.shuffle(faults)
    return faults


async def run_campaign(config: CampaignConfig) -> CampaignReport:
    rng = random.Random(config.seed)
    config.datadir.mkdir(parents=True, exist_ok=True)
    with run_anvil(block_time=1) as anvil:
        chain = RpcChain(anvil.url)
        network: ChaosNetwork | None = None
        try:
            async with httpx.AsyncClient() as http, trio.open_nursery() as nursery:
                proxy = L1Proxy(anvil.port)
                node_url = await nursery.start(proxy.run)
                network = ChaosNetwork(NetworkConfig(
                    datadir=config.datadir, params=config.params, rollers=config.rollers,
                    block_interval=config.block_interval), chain, node_url)
                await network.start(http)
                report = await _campaign(config, rng, network, proxy, anvil.process, http)
                nursery.cancel_scope.cancel()
                return report
        finally:
            _continue(anvil.process)
            if network is not None:
                network.stop()


async def _campaign(config: CampaignConfig, rng: random.Random, network: ChaosNetwork,
                    proxy: L1Proxy, anvil, http: httpx.AsyncClient) -> CampaignReport:
    load = LoadGenerator(random.Random(config.seed + 1))
    stop = trio.Event()
    records: list[FaultRecord] = []
    started = trio.current_time()
    async with SequencerClient(network.sequencer_url, timeout=10.0) as client, \
            trio.open_nursery() as nursery:
        nursery.start_soon(load.run, client, config.load, stop)
        nursery.start_soon(_deposit, network, stop)
        for kind, target in plan(config.kills, config.l1_faults, list(network.nodes),
                                 config.l1_fault_kinds, rng):
            await trio.sleep(rng.uniform(*config.gap_s))
            at = trio.current_time() - started
            if kind == "kill":
                record = await _kill(network.nodes[target], rng.uniform(*config.down_s), http)
            else:
                seconds = rng.uniform(*(FREEZE_S if target == "freeze" else config.l1_fault_s))
                record = await _l1_fault(target, seconds, network, proxy, anvil, http)
            record.at = at
            records.append(record)
            log.info("chaos fault done", **asdict(record))
        last_fault = trio.current_time()
        stop.set()
    async with SequencerClient(network.sequencer_url, timeout=10.0) as client:
        await _fill_batch(client, load, config)
        await _settle(network, client, last_fault + config.settle_deadlines * config.params.t)
        sequencer_blocks = await _sequencer_blocks(client)
        held = await _transfers_held(client, load.accepted)
    report = await trio.to_thread.run_sync(_check, config, network, load, sequencer_blocks,
                                           held, records, trio.current_time() - started)
    report.save(config.datadir / REPORT_NAME)
    return report


async def _deposit(network: ChaosNetwork, stop: trio.Event) -> None:
    """A deposit every DEPOSIT_INTERVAL_S until `stop`, from the deployer to a genesis account:
    L1 messages that the sequencer's relayer must carry through every kill. One that an L1
    fault refuses is not made (the queue holds only what landed)."""
    bridge = Bridge(network.chain, network.world.rollup.bridge())
    while not stop.is_set():
        with trio.move_on_after(DEPOSIT_INTERVAL_S):
            await stop.wait()
        try:
            await trio.to_thread.run_sync(bridge.deposit, network.world.owner,
                                          dev_address(0), ONE_TOKEN)
        except (ChainError, OSError) as error:
            log.info("chaos deposit refused", error=str(error))


async def _kill(node: NodeProcess, down: float, http: httpx.AsyncClient) -> FaultRecord:
    node.kill()
    await trio.sleep(down)
    node.start()
    recovered = await node.wait_answering(http, RESTART_TIMEOUT_S)
    if not recovered:
        log.error("chaos: node did not come back", node=node.name, log=str(node.log_path))
    return FaultRecord(0.0, "kill", node.name, down, recovered)


async def _l1_fault(kind: str, seconds: float, network: ChaosNetwork, proxy: L1Proxy, anvil,
                    http: httpx.AsyncClient) -> FaultRecord:
    record = FaultRecord(0.0, kind, "L1", seconds)
    problems: dict[str, str] = {}

    async def watch(until: float) -> None:
        while trio.current_time() < until:
            for node in network.nodes.values():
                health = await node.health(http)
                about_l1 = [p for p in health.problems if _about_l1(p)]
                if about_l1:
                    problems.setdefault(node.name, about_l1[0])
            await trio.sleep(HEALTH_POLL_S)

    if kind == "freeze":
        anvil.send_signal(signal.SIGSTOP)
    else:
        proxy.set_fault(Fault(kind))
    try:
        await watch(trio.current_time() + seconds)
    finally:
        if kind == "freeze":
            anvil.send_signal(signal.SIGCONT)
        else:
            proxy.set_fault(Fault.NONE)
    await watch(trio.current_time() + REPORT_GRACE_S)
    record.reported_by = sorted(problems)
    record.problems = [f"{name}: {text}" for name, text in sorted(problems.items())]
    healthy = [await node.health(http) for node in network.nodes.values()]
    # Healthy again: the sequencer and coordinator ok; a roller may still report "no
    # coordinator connected" for reasons of its own, so for it answering is enough.
    record.recovered = all(h.ok if name in ("sequencer", "coordinator") else h.ok is not None
                           for name, h in zip(network.nodes, healthy))
    record.problems += [f"after: {name}: {'; '.join(h.problems) or 'not answering'}"
                        for name, h in zip(network.nodes, healthy) if not h.ok]
    return record


def report_expected(fault: str, seconds: float) -> bool:
    """Whether every node must show an L1 fault in its /health: a node calls L1 every few
    seconds and an error comes back at once, except from a frozen node, which answers late
    rather than wrong until the request timeout."""
    return fault != "freeze" or seconds > RPC_REQUEST_TIMEOUT_S + REPORT_GRACE_S / 4


def _about_l1(problem: str) -> bool:
    """Whether a /health problem is about L1 (each node words it its own way)."""
    return "L1" in problem or "JSON-RPC" in problem


def _continue(process) -> None:
    """SIGCONT anvil, in case a freeze was under way when the run stopped."""
    try:
        os.kill(process.pid, signal.SIGCONT)
    except ProcessLookupError:
        pass


async def _fill_batch(client: SequencerClient, load: LoadGenerator,
                      config: CampaignConfig) -> None:
    """Send single transfers until the sequencer's last block ends a batch and nothing is
    pending: a batch of fewer than K blocks never finalizes, and a block is built only for
    pending transfers."""
    k = config.params.k
    with trio.move_on_after(PAD_TIMEOUT_S):
        while True:
            try:
                status = await client.status()
            except SequencerError:
                await trio.sleep(1.0)
                continue
            if status["pending"] == 0 and ends_batch(status["lastBlock"], k):
                return
            if status["pending"] == 0:
                await load.send_one(client)
            await trio.sleep(1.0)


async def _settle(network: ChaosNetwork, client: SequencerClient, deadline: float) -> None:
    """Until every committed block is finalized, every accepted transfer committed and every
    deposit taken by a block, or `deadline` (trio time)."""
    rollup = network.world.rollup
    while trio.current_time() < deadline:
        try:
            status = await client.status()
            committed, finalized, queued = await trio.to_thread.run_sync(
                lambda: (rollup.last_committed(), rollup.last_finalized(),
                         rollup.queue_length() - rollup.queue_next()))
        except (SequencerError, OSError, ValueError):
            status = None
        if (status is not None and status["pending"] == 0 and committed == finalized
                and committed == status["lastBlock"] and queued == 0):
            return
        await trio.sleep(2.0)


def _history_event(rollup, log) -> tuple:
    """A Rollup log as `checks.commit_history` takes it; a commit's root and data hash are read
    as of its L1 block (the event holds the number alone)."""
    if log["event"] == "BlocksReverted":
        return ("revert", log["args"]["fromBlock"])
    block = rollup.committed_from_log(log)
    return ("commit", block.number, block.new_root, block.data_hash)


def _check(config: CampaignConfig, network: ChaosNetwork, load: LoadGenerator,
           sequencer_blocks: dict[int, dict], held: set[str], records: list[FaultRecord], seconds: float) -> CampaignReport:
    chain, world = network.chain, network.world
    w3, rollup = chain.w3, world.rollup
    market = world.market
    first, head = network.first_block, w3.eth.block_number

    # The Rollup's history: commits and reverts in L1 order.
    events = rollup.contract.events
    logs = [*events.BlockCommitted().get_logs(from_block=first, to_block=head),
            *events.BlocksReverted().get_logs(from_block=first, to_block=head)]
    history = checks.commit_history(
        _history_event(rollup, log)
        for log in sorted(logs, key=lambda log: (log["blockNumber"], log["logIndex"])))

    # The sequencer's blocks, as it serves them, against what L1 holds.
    blocks, mismatches = {}, 0
    for number, (new_root, data_hash) in history.standing.items():
        block = sequencer_blocks.get(number)
        if block is None or (int(block["newRoot"], 16), int(block["dataHash"], 16)) != (
                new_root, data_hash):
            mismatches += 1
        blocks[number] = [] if block is None else block["transfers"]
    placement = checks.transfer_placement(load.accepted, blocks)

    staking = market.staking.events
    settled = [(log["args"]["rollup"], log["args"]["batch"])
               for log in staking.BatchSettled().get_logs(from_block=first, to_block=head)]
    outcomes = [(a["roller"], a["rollup"], a["kind"], a["task"], a["round"])
                for a in (log["args"] for log in
                          staking.ReputationChanged().get_logs(from_block=first, to_block=head))]
    slashes = [(a["roller"], a["rollup"], a["kind"], a["index"], a["round"], a["offense"])
               for a in (log["args"] for log in
                         staking.Slashed().get_logs(from_block=first, to_block=head))]
    double_settled = (checks.repeated(settled) + checks.repeated(outcomes)
                      + checks.repeated(slashes))

    # What the rollers signed, as the coordinator stored it and as their journals have it.
    accounts = network.node_accounts
    submissions = checks.coordinator_submissions(config.datadir)
    for name, address in accounts.items():
        if name.startswith("roller-"):
            submissions += checks.journal_submissions(config.datadir / name, address)
    double_signed = checks.double_signed(submissions)

    # Each node account's transactions on L1, once none is in flight. The nodes keep working
    # while this runs: a transaction sent after `head` was read is in flight, not a gap, so the
    # counts are read again (after another wait) until none is, or a few times at most: one
    # still pending then is stuck.
    for _ in range(checks.NONCE_READS):
        checks.wait_for_pending(w3, accounts.values())
        head = w3.eth.block_number
        counts = {address: (w3.eth.get_transaction_count(address, head),
                            w3.eth.get_transaction_count(address, "pending"))
                  for address in map(to_checksum_address, accounts.values())}
        if all(pending == latest for latest, pending in counts.values()):
            break
    txs = checks.node_transactions(w3, accounts.values(), first, head)
    queued = checks.txpool_queued(w3)
    gaps = duplicates = reverted = 0
    nodes: dict[str, dict] = {}
    for name, address in accounts.items():
        address = to_checksum_address(address)
        mined = txs.by_sender[address]
        nonces = ([nonce for nonce, *_ in mined], *counts[address], queued.get(address, 0))
        node_gaps = checks.nonce_gaps(*nonces)
        repeats = checks.duplicated_calls((address, to, data) for _, to, data, _ in mined)
        node_duplicates = len(repeats)
        node_reverted = sum(1 for *_, status in mined if status != 1)
        gaps, duplicates, reverted = (gaps + node_gaps, duplicates + node_duplicates,
                                      reverted + node_reverted)
        node = network.nodes[name]
        nodes[name] = {"starts": node.starts, "running": node.running,
                       "tracebacks": node.tracebacks(), "transactions": len(mined),
                       "reverted": node_reverted, "nonce_gaps": node_gaps,
                       "duplicate_transactions": node_duplicates,
                       "nonce_gap_detail": checks.nonce_gap_detail(*nonces),
                       "duplicated_calls": [checks.describe_call(d) for d in repeats]}

    committed, finalized = rollup.last_committed(), rollup.last_finalized()
    l1 = [r for r in records if r.target == "L1"]
    return CampaignReport(
        kills=sum(1 for r in records if r.fault == "kill"),
        accepted_transfers=len(set(load.accepted)),
        lost_transfers=sum(1 for h in placement.lost if h not in held),
        uncommitted_transfers=sum(1 for h in placement.lost if h in held),
        duplicated_transfers=len(placement.duplicated),
        duplicate_commits=history.duplicate_commits,
        skipped_blocks=history.skipped_blocks,
        double_settlements=double_settled,
        finalized_blocks=finalized,
        unfinalized_blocks=committed - finalized,
        restarts_failed=sum(1 for r in records if r.fault == "kill" and not r.recovered),
        l1_faults=len(l1),
        outages_unreported=sum(len(network.nodes) - len(r.reported_by) for r in l1
                               if report_expected(r.fault, r.seconds)),
        l1_recoveries_failed=sum(1 for r in l1 if not r.recovered),
        nonce_gaps=gaps, duplicate_transactions=duplicates, reverted_transactions=reverted,
        double_signed=double_signed,
        reverted_blocks=history.reverts,
        reverted_not_recommitted=len(history.reverted_not_recommitted),
        root_mismatches=mismatches,
        deposits=rollup.queue_length(),
        deposits_not_included=rollup.queue_length() - rollup.queue_next(),
        nodes_down=sum(1 for n in network.nodes.values() if not n.running),
        tracebacks=sum(n["tracebacks"] for n in nodes.values()),
        committed_blocks=committed, seconds=round(seconds, 1), faults=records, nodes=nodes,
        lost=sorted(h for h in placement.lost if h not in held),
        uncommitted=sorted(h for h in placement.lost if h in held))


async def _transfers_held(client: SequencerClient, accepted: list[str]) -> set[str]:
    """The accepted transfers the sequencer still knows of (pending, or in any block)."""
    return {h for h in set(accepted) if await client.transfer(h) is not None}


async def _sequencer_blocks(client: SequencerClient) -> dict[int, dict]:
    """Every block the sequencer serves, by number."""
    last = (await client.status())["lastBlock"]
    return {n: await client.block(n) for n in range(1, last + 1)}
