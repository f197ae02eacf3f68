"""The coordinator's proof verifier: proofs that wait are checked together, up to the batch
size, on its worker threads; each gets the verdict it would get alone. Real verification of
proofs made with a known trapdoor (tests/groth16_trapdoor.py)."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest
import trio
import trio.testing
from groth16_trapdoor import TrapdoorKey

from coordinator.errors import CoordinatorError
from coordinator.verifier import ProofVerifier
from zkp.system import system
from zkp.verify import ACCEPTED, PAIRING_FAILED, Verdict

rng = random.Random(7)


@pytest.fixture(scope="module")
def proofs():
    """(verification key, 17 (proof, inputs), of which the fifth is spoiled)."""
    key = TrapdoorKey.create(4, rng)
    publics = key.random_inputs(17, rng)
    items = list(zip(key.proofs(publics, rng), publics, strict=True))
    proof, inputs = items[4]
    items[4] = (replace(proof, c=items[0][0].c), inputs)
    return key.vk, items


EXPECTED = [ACCEPTED] * 4 + [PAIRING_FAILED] + [ACCEPTED] * 12


async def _verify_all(verifier: ProofVerifier, items, *, start_first: bool) -> list[Verdict]:
    """Submit every proof at once; with start_first False they all wait before the workers run."""
    verdicts: list[Verdict | None] = [None] * len(items)

    async def submit(i):
        verdicts[i] = await verifier.verify(*items[i])

    async with trio.open_nursery() as nursery:
        if start_first:
            await nursery.start(verifier.run)
        async with trio.open_nursery() as submitters:
            for i in range(len(items)):
                submitters.start_soon(submit, i)
            if not start_first:
                await trio.testing.wait_all_tasks_blocked()
                await nursery.start(verifier.run)
        nursery.cancel_scope.cancel()
    return verdicts


@pytest.mark.parametrize("threads", [1, 2])
async def test_waiting_proofs_are_checked_together(proofs, threads):
    key, items = proofs
    sizes = []
    verifier = ProofVerifier(system("groth16"), key, threads=threads, max_batch=8, window=0, on_batch=sizes.append)
    assert await _verify_all(verifier, items, start_first=False) == EXPECTED
    assert sorted(sizes) == [1, 8, 8]


async def test_a_proof_alone_is_checked_at_once(proofs):
    key, items = proofs
    sizes = []
    verifier = ProofVerifier(system("groth16"), key, threads=2, max_batch=32, window=0, on_batch=sizes.append)
    async with trio.open_nursery() as nursery:
        await nursery.start(verifier.run)
        for proof, inputs in items[3:6]:
            with trio.fail_after(10):
                await verifier.verify(proof, inputs)
        nursery.cancel_scope.cancel()
    assert sizes == [1, 1, 1]


async def test_the_window_waits_for_more_up_to_the_batch_size(proofs):
    key, items = proofs
    sizes = []
    verifier = ProofVerifier(system("groth16"), key, threads=1, max_batch=3, window=30, on_batch=sizes.append)
    verdicts = []

    async def submit(item):
        verdicts.append(await verifier.verify(*item))

    with trio.fail_after(10):  # the batch fills long before the window ends
        async with trio.open_nursery() as nursery:
            await nursery.start(verifier.run)
            async with trio.open_nursery() as submitters:
                submitters.start_soon(submit, items[0])
                await trio.sleep(0.05)
                submitters.start_soon(submit, items[4])
                submitters.start_soon(submit, items[5])
            nursery.cancel_scope.cancel()
    assert sizes == [3]
    assert sorted(verdicts, key=lambda v: v.valid) == [PAIRING_FAILED, ACCEPTED, ACCEPTED]


def test_bad_settings_are_refused(proofs):
    key, _ = proofs
    for threads, batch, window in ((0, 8, 0), (1, 0, 0), (1, 8, -1), (1, 8, float("nan"))):
        with pytest.raises(CoordinatorError, match="verification needs"):
            ProofVerifier(system("groth16"), key, threads=threads, max_batch=batch, window=window)
