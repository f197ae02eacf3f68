"""What committing an L2 block costs on L1: `commitBlock`'s gas for a block of N transfers.

`provernet bench rollup-gas` (one N, on an anvil it starts) and `benchmarks/rollup_gas.py` (the
table of docs/rollup-data.md) share this.

The Rollup is deployed as the devnet deploys it (the small block circuit's verifier: commitBlock
never calls it, so its circuit does not matter here), with MAX_TRANSFERS record slots and
ENTRIES entries, so that its body (what SHA-256 hashes) is the length a 64-transfer profile's
would be. The posted data is N TRANSFER records as `sequencer.block_data.calldata` posts them
(account indices below 2^20, postable amounts up to 1,000 tokens of 18 decimals, rounded as a
wallet rounds them), since zero bytes of calldata are cheaper; the root is an arbitrary field
element (the contract does not check transitions, the proofs do). No warm-up block: the
contract writes no fresh slot for any block of transfers, the first included (its ring and
counters are nonzero from deployment). Every figure is a receipt's gasUsed: the 21,000 base, the
calldata and the execution.

The commit is sent as the binding sends it, without an EIP-2930 access list (`access_list` says
whether the mined transaction carried one): listing the four slots a commit touches (the
counters and the ring entry's three, what anvil's eth_createAccessList answers) saves 100 to 200
gas a slot but costs 2,400 for the contract's address entry, warm or not: 51,404 gas against
49,704 at N = 16 when measured (anvil 1.7.1, Bpo1, before the event was cut to the number).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from eth_account.signers.local import LocalAccount

from market_contracts.anvil import run_anvil
from market_contracts.chain import Chain, RpcChain
from market_contracts.rollup import Rollup, deploy_rollup
from market_contracts.units import ONE_TOKEN
from sequencer.block_data import Op, Record, calldata, round_amount
from sequencer.circuit_inputs import SMALL
from zkp.builds import build_block_circuit
from zkp.field import R
from zkp.proof import VerificationKey

#: the measured rollup's record slots: issue 13's largest block (its 1,000 gas a transfer target)
MAX_TRANSFERS = 64
#: the measured rollup's entries (the large profile's): only the body's length depends on it
ENTRIES = 8
#: blocks the measured rollup may run ahead of finalization: the commits measured never lap it
RING_SIZE = 4
#: posted amounts are below this, as a busy rollup's are
MAX_AMOUNT = 1_000 * ONE_TOKEN
#: posted indices are below 2^20: the large profile's tree depth
INDEX_BITS = 20
#: each block's records and root come from a generator seeded with this and the block's size,
#: so that a block of N is the same block whichever other sizes are measured
SEED = 7


@dataclass(frozen=True)
class CommitFigure:
    transfers: int
    calldata_bytes: int
    gas: int
    #: whether the commit transaction carried an EIP-2930 access list
    access_list: bool


def posted_transfers(count: int, rng: random.Random) -> list[Record]:
    """TRANSFER records as a busy rollup posts them."""
    return [Record(Op.TRANSFER, rng.randrange(1 << INDEX_BITS), rng.randrange(1 << INDEX_BITS),
                   round_amount(rng.randrange(1, MAX_AMOUNT)))
            for _ in range(count)]


def deploy_measured_rollup(chain: Chain, deployer: LocalAccount, sequencer: LocalAccount,
                           vk: VerificationKey) -> Rollup:
    """A Rollup (and its Bridge) for blocks of up to MAX_TRANSFERS, `sequencer` its sequencer,
    genesis root 0."""
    return deploy_rollup(chain, deployer, sequencer=sequencer.address, vk=vk, genesis_root=0,
                         batch_size=2, max_transfers=MAX_TRANSFERS, entries=ENTRIES,
                         l2_chain_id=SMALL.chain_id, depth=SMALL.depth, ring_size=RING_SIZE)


def measure_commits(chain: Chain, rollup: Rollup, sequencer: LocalAccount,
                    sizes: Sequence[int]) -> list[CommitFigure]:
    """Commit a block of each of `sizes` transfers in turn (at most RING_SIZE of them, nothing
    is finalized); their figures."""
    figures = []
    for size in sizes:
        rng = random.Random(f"{SEED}-{size}")
        data = calldata(posted_transfers(size, rng))
        receipt = chain.transact(sequencer,
                                 rollup.contract.functions.commitBlock(rng.randrange(R), data))
        sent = chain.w3.eth.get_transaction(receipt["transactionHash"])
        figures.append(CommitFigure(size, len(sent["input"]), receipt["gasUsed"],
                                    bool(sent.get("accessList"))))
    return figures


def l1_description(chain: RpcChain) -> str:
    """The node and its hardfork, which set every gas figure: e.g. 'anvil/v1.7.1, hardfork Bpo1'."""
    hardfork = chain.w3.manager.request_blocking("anvil_nodeInfo", [])["hardFork"]
    return f"{chain.client_version}, hardfork {hardfork}"


def measure_on_anvil(n: int, progress: Callable[[str], None] = lambda _: None) -> dict:
    """commitBlock of a block of `n` transfers on an anvil started and stopped here:
    {"n", "commit_gas", "gas_per_transfer", "calldata_bytes", "access_list", "l1"}."""
    if not 1 <= n <= MAX_TRANSFERS:
        raise ValueError(f"{n} transfers: the measured rollup takes 1 to {MAX_TRANSFERS}")
    progress("building the small block circuit's key")
    vk = build_block_circuit("small").setup.vk
    progress("starting anvil")
    with run_anvil() as node:
        chain = RpcChain(node.url)
        deployer, sequencer = chain.dev_accounts[:2]
        progress("deploying the Rollup")
        rollup = deploy_measured_rollup(chain, deployer, sequencer, vk)
        progress(f"committing a block of {n} transfers")
        (figure,) = measure_commits(chain, rollup, sequencer, [n])
        return {"n": n, "commit_gas": figure.gas, "gas_per_transfer": figure.gas / n,
                "calldata_bytes": figure.calldata_bytes, "access_list": figure.access_list,
                "l1": l1_description(chain)}
