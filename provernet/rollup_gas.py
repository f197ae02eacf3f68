"""What committing an L2 block costs on L1: `commitBlock`'s gas for a block of N transfers.

`provernet bench rollup-gas` (one N, on an anvil it starts) and `benchmarks/rollup_gas.py` (the
table of docs/rollup.md, "Measured: L1 gas") share this.

The Rollup is deployed as the devnet deploys it (the small block circuit's verifier: commitBlock
never calls it, so its circuit does not matter here) but with room for MAX_TRANSFERS transfers a
block. The posted data is what real transfers post (account indices below 2^20, amounts up to
1,000 tokens of 18 decimals, small nonces, recipients' Poseidon addresses), since zero bytes of
calldata are cheaper; the roots are arbitrary field elements (the contract does not check
transitions, the proofs do). Before the measured blocks one empty block is committed, so that no
measured block pays for the first write of `lastCommitted`. Every figure is a receipt's gasUsed:
the 21,000 base, the calldata and the execution.
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
from sequencer.accounts import address_of
from sequencer.eddsa import public_key
from sequencer.transactions import Transfer, block_data
from zkp.builds import build_block_circuit
from zkp.field import R
from zkp.proof import VerificationKey

#: the measured rollup's maxTransfers: issue 13's largest block (its 1,000 gas a transfer target)
MAX_TRANSFERS = 64
#: posted amounts are below this, as a busy rollup's are
MAX_AMOUNT = 1_000 * ONE_TOKEN
#: posted indices are below 2^20: the large profile's tree depth
INDEX_BITS = 20
#: each block's transfers and roots come from a generator seeded with this and the block's size,
#: so that a block of N is the same block whichever other sizes are measured
SEED = 7


@dataclass(frozen=True)
class CommitFigure:
    transfers: int
    calldata_bytes: int
    gas: int


def posted_transfers(count: int, rng: random.Random) -> list[Transfer]:
    """Transfers as a busy rollup posts them; unsigned, since signatures are not posted."""
    recipients = [address_of(public_key(rng.randbytes(32))) for _ in range(count)]
    return [Transfer(rng.randrange(1 << INDEX_BITS), rng.randrange(1 << INDEX_BITS), to_address,
                     rng.randrange(1, MAX_AMOUNT), rng.randrange(1_000))
            for to_address in recipients]


def deploy_measured_rollup(chain: Chain, deployer: LocalAccount, sequencer: LocalAccount,
                           vk: VerificationKey) -> Rollup:
    """A Rollup for blocks of up to MAX_TRANSFERS, `sequencer` its sequencer, genesis root 0."""
    return deploy_rollup(chain, deployer, sequencer=sequencer.address, vk=vk, genesis_root=0,
                         batch_size=2, max_transfers=MAX_TRANSFERS)


def measure_commits(chain: Chain, rollup: Rollup, sequencer: LocalAccount,
                    sizes: Sequence[int]) -> list[CommitFigure]:
    """Commit an empty warm-up block, then a block of each of `sizes` transfers in turn; the
    measured blocks' figures."""
    root = rollup.block(0).new_root
    figures = []
    for index, size in enumerate((0, *sizes)):
        rng = random.Random(f"{SEED}-{size}")
        data = block_data(posted_transfers(size, rng))
        new_root = rng.randrange(R)
        receipt = chain.transact(sequencer,
                                 rollup.contract.functions.commitBlock(root, new_root, data))
        root = new_root
        if index == 0:  # the warm-up block
            continue
        calldata = chain.w3.eth.get_transaction(receipt["transactionHash"])["input"]
        figures.append(CommitFigure(size, len(calldata), receipt["gasUsed"]))
    return figures


def l1_description(chain: RpcChain) -> str:
    """The node and its hardfork, which set every gas figure: e.g. 'anvil/v1.7.1, hardfork Bpo1'."""
    hardfork = chain.w3.manager.request_blocking("anvil_nodeInfo", [])["hardFork"]
    return f"{chain.client_version}, hardfork {hardfork}"


def measure_on_anvil(n: int, progress: Callable[[str], None] = lambda _: None) -> dict:
    """commitBlock of a block of `n` transfers on an anvil started and stopped here:
    {"n", "commit_gas", "gas_per_transfer", "calldata_bytes", "l1"}."""
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
                "calldata_bytes": figure.calldata_bytes, "l1": l1_description(chain)}
