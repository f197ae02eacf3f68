"""A roller farm for real: a PostgreSQL server, worker processes (`provernet roller worker`, CPU,
one thread each) started and SIGKILLed by the tests, and the roller's `FarmProver` checking what
they hand back. Refused and accepted cases side by side: honest workers' proofs are returned, a
tampering worker is quarantined and its job proven by another, a worker killed mid-proof loses
nothing, a job no worker takes is declined before its deadline, a corrupted artifact is never
used."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from farm_workers import Farm, running_farm
from p2p.artifacts import ArtifactStore
from provernet.cli import cli
from roller.errors import InvalidTaskInputs, ProvingError, WrongProver
from roller.farm.artifacts import ArtifactMismatch, fetch, load_circuit, publish
from roller.farm.prover import FarmProver, FarmTimeout
from p2p.messages import NO_DEADLINE
from roller.farm.queue import (MAX_EXPIRY_SECONDS, FarmError, FarmQueue, FarmUnavailable,
                                Outcome)
from roller.journal import TaskOffer
from roller.proving import BlockProver
from sequencer.accounts import AccountTree
from sequencer.circuit_inputs import SMALL, block_inputs
from zkp.verify import verify

pytestmark = pytest.mark.postgres

ADDRESS = "0x" + "ab" * 20


@pytest.fixture
def farm(postgres_database, tmp_path):
    with running_farm(postgres_database, tmp_path) as farm:
        yield farm


@pytest.fixture
def inputs() -> dict:
    """An empty block of the small circuit, bound to ADDRESS."""
    return block_inputs(SMALL, AccountTree(SMALL.depth), [], ADDRESS)


def expected_public(inputs: dict) -> list[int]:
    return [int(inputs[name]) for name in ("oldRoot", "newRoot", "dataHash", "prover")]


def task_for(build, inputs: dict, *, deadline_in: float, close_in: float) -> TaskOffer:
    now = time.time()
    return TaskOffer(b"t" * 32, ADDRESS, ADDRESS, "block", 1, 0, bytes(32), bytes(32), 1, False,
                     int(now), int(now + deadline_in), int(now + close_in), build.zkey_hash,
                     json.dumps(inputs).encode())


def in_thread(call):
    """Run `call` in a thread; a function that joins it and returns (or raises) its result."""
    outcome: dict = {}

    def target():
        try:
            outcome["value"] = call()
        except BaseException as exc:  # handed to the test's thread, which raises it
            outcome["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()

    def join(timeout: float = 120):
        thread.join(timeout)
        assert not thread.is_alive(), "still waiting"
        if "error" in outcome:
            raise outcome["error"]
        return outcome["value"]

    return join


def wait_for(condition, timeout: float = 60, interval: float = 0.01):
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(interval)
    return value


def workers_json(farm: Farm) -> list[dict]:
    result = CliRunner().invoke(cli, ["roller", "workers", "--farm", farm.url, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


# ---------------------------------------------------------------------- honest workers

def test_two_workers_prove_the_jobs_and_report_their_backend_and_speed(farm, small_circuit,
                                                                        inputs):
    prover = FarmProver(small_circuit, farm.url)
    farm.start_worker("a")
    farm.start_worker("b")
    assert farm.queue.capacity() == 2
    for _ in range(4):
        result = prover.prove_block(inputs, ADDRESS)
        assert list(result.public) == expected_public(inputs)
        assert verify(small_circuit.setup.vk, result.proof, result.public).valid
        assert result.witness_seconds > 0 and result.seconds > result.witness_seconds
    shown = workers_json(farm)
    assert sorted(w["name"] for w in shown) == ["a", "b"]
    assert all(w["live"] and w["quarantined"] is None for w in shown)
    assert all(w["backend"].startswith("cpu (1 threads") for w in shown)
    assert sum(w["jobs"] for w in shown) == 4
    assert all(w["seconds_per_job"] > 0 for w in shown if w["jobs"])
    # Every job's row was taken and deleted: the queue holds nothing.
    assert farm.queue.execute("SELECT count(*) FROM farm_jobs").fetchone() == (0,)


def test_a_worker_killed_mid_proof_loses_nothing(farm, small_circuit, inputs):
    prover = FarmProver(small_circuit, farm.url)
    farm.start_worker("doomed")
    join = in_thread(lambda: prover.prove_block(inputs, ADDRESS))
    (job,) = wait_for(lambda: farm.queue.execute("SELECT id FROM farm_jobs").fetchall())
    wait_for(lambda: farm.queue.state(job[0]).claimed)
    farm.kill("doomed")  # mid-proof: its transaction dies with its session
    assert wait_for(lambda: farm.queue.capacity() == 0 and not farm.queue.state(job[0]).claimed,
                    timeout=10)
    farm.start_worker("heir")
    result = join()
    assert verify(small_circuit.setup.vk, result.proof, result.public).valid
    assert [(w.name, w.jobs) for w in farm.queue.workers()] == [("heir", 1)]  # the dead: gone


# ---------------------------------------------------------------------- workers not trusted

def test_a_tampering_worker_is_quarantined_and_the_job_proven_by_another(farm, small_circuit,
                                                                         inputs):
    prover = FarmProver(small_circuit, farm.url)
    liar = farm.start_worker("liar", behaviour="invalid")
    join = in_thread(lambda: prover.prove_block(inputs, ADDRESS))
    quarantined = wait_for(lambda: farm.worker("liar").quarantined)
    assert "does not verify" in quarantined
    # It no longer counts, and it stops once it sees why.
    assert farm.queue.capacity() == 0
    assert liar.wait(timeout=30) != 0
    assert "quarantined" in farm.log("liar")
    farm.start_worker("honest")
    result = join()
    assert verify(small_circuit.setup.vk, result.proof, result.public).valid
    assert farm.worker("honest").jobs == 1


def test_a_proof_for_another_roller_or_of_another_system_quarantines_its_worker(
        farm, small_circuit, inputs):
    """Beyond verifying, a result must be the task's: forgers (workers played by the test, on
    the queue itself) hand back a real, valid proof of the same block for another roller, and a
    proof of another system; each is quarantined and the job goes on to the next worker."""
    prover = FarmProver(small_circuit, farm.url)
    local = BlockProver(small_circuit, "cpu")
    other = "0x" + "cd" * 20
    replayed = local.prove_block(block_inputs(SMALL, AccountTree(SMALL.depth), [], other), other)
    sealed = local.system.seal(replayed.proof)
    join = in_thread(lambda: prover.prove_block(inputs, ADDRESS))
    wait_for(lambda: farm.queue.execute("SELECT id FROM farm_jobs").fetchall())
    forgeries = {
        "replayer": Outcome(sealed.system, sealed.data, tuple(replayed.public), 0.1, 0.1),
        "plonker": Outcome("plonk", sealed.data, tuple(expected_public(inputs)), 0.1, 0.1),
    }
    for name, forgery in forgeries.items():
        forger = farm.queue.register(name, "cpu")
        assert wait_for(lambda: farm.queue.claim(forger, lambda _job: forgery))
        wait_for(lambda: farm.worker(name).quarantined)
        # Queued again, for anyone but the forger.
        assert farm.queue.claim(forger, lambda _job: forgery) is None
    assert "other public inputs" in farm.worker("replayer").quarantined
    assert "proof system 'groth16'" in farm.worker("plonker").quarantined

    def honestly(job):
        proven = local.prove_block(job.inputs, job.address)
        return Outcome(local.system.name, local.system.encode(proven.proof),
                       tuple(proven.public), proven.witness_seconds, proven.proving_seconds)

    honest = farm.queue.register("honest", "cpu")
    wait_for(lambda: farm.queue.claim(honest, honestly))
    result = join()
    assert list(result.public) == expected_public(inputs)
    assert verify(small_circuit.setup.vk, result.proof, result.public).valid


def test_a_worker_error_is_the_tasks_only_when_no_other_worker_is_left(farm, small_circuit,
                                                                        inputs):
    prover = FarmProver(small_circuit, farm.url)
    farm.start_worker("only")
    refused = dict(inputs, newRoot="12345")  # the circuit refuses this transition
    with pytest.raises(ProvingError, match="farm worker .*circuit refuses the inputs"):
        prover.prove_block(refused, ADDRESS)
    assert farm.queue.execute("SELECT count(*) FROM farm_jobs").fetchone() == (0,)
    assert farm.worker("only").quarantined is None  # an honest refusal is no offence


def test_a_job_no_worker_takes_waits_through_the_late_window_and_is_given_up_before_the_close(
        farm, small_circuit, inputs):
    """Given up after accepting is missed, and late costs less than missed: the job stays queued
    past the deadline, then is withdrawn before the window closes."""
    prover = FarmProver(small_circuit, farm.url)
    task = task_for(small_circuit, inputs, deadline_in=1, close_in=3)
    with pytest.raises(FarmTimeout, match="no farm worker took it in time; given up before"):
        prover.run(task, ADDRESS, sign=lambda *args: pytest.fail("nothing to sign"))
    assert task.deadline < time.time() < task.close_at + 1
    # Withdrawn: a worker starting now finds nothing to do.
    assert farm.queue.execute("SELECT count(*) FROM farm_jobs").fetchone() == (0,)


def test_inputs_for_another_roller_are_refused_before_anything_is_queued(farm, small_circuit,
                                                                         inputs):
    prover = FarmProver(small_circuit, farm.url)
    with pytest.raises(WrongProver):
        prover.prove_block(inputs, "0x" + "cd" * 20)
    with pytest.raises(InvalidTaskInputs, match="not JSON"):
        prover.prove_block(b"{", ADDRESS)
    assert farm.queue.execute("SELECT count(*) FROM farm_jobs").fetchone() == (0,)


# ---------------------------------------------------------------------- artifacts

def test_circuits_travel_by_hash_and_a_corrupted_one_is_never_used(farm, small_circuit,
                                                                   tmp_path):
    publish(farm.queue, small_circuit)
    publish(farm.queue, small_circuit)  # once is enough: nothing is stored twice
    store = ArtifactStore(tmp_path / "fetched")
    build = load_circuit(farm.queue, small_circuit.zkey_hash, store)
    assert (build.zkey_hash, build.wasm_hash) == (small_circuit.zkey_hash,
                                                  small_circuit.wasm_hash)
    assert Path(build.zkey).read_bytes() == Path(small_circuit.zkey).read_bytes()

    farm.queue.execute("UPDATE farm_artifacts SET data = overlay(data placing '\\x00'::bytea "
                       "from 100) WHERE hash = %s AND part = 0", (small_circuit.zkey_hash,))
    elsewhere = ArtifactStore(tmp_path / "elsewhere")
    with pytest.raises(ArtifactMismatch, match="hashes to"):
        fetch(farm.queue, small_circuit.zkey_hash, elsewhere, "the key")
    assert list(elsewhere.root.iterdir()) == []  # nothing half-written left behind
    with pytest.raises(ArtifactMismatch, match="not published"):
        load_circuit(farm.queue, bytes(32), elsewhere)


# ---------------------------------------------------------------------- the queue

def test_two_claims_never_take_the_same_job_and_the_earliest_deadline_goes_first(farm):
    queue, other = farm.queue, FarmQueue.open(farm.url, "test")
    try:
        late = queue.submit(b"c", ADDRESS, b"{}", priority=200, expires_in=60)
        early = queue.submit(b"c", ADDRESS, b"{}", priority=100, expires_in=60)
        expired = queue.submit(b"c", ADDRESS, b"{}", priority=1, expires_in=0)
        first, second = queue.register("one", "cpu"), other.register("two", "cpu")
        seen = []

        def hold(job):
            # While this transaction holds the earliest job, the other worker gets the next.
            seen.append(other.claim(second, lambda inner: Outcome(error="second")).id)
            return Outcome(error="first")

        assert queue.claim(first, hold).id == early
        assert seen == [late]
        assert queue.claim(first, lambda job: Outcome(error="none")) is None  # expired
        assert queue.state(expired) is not None and not queue.state(expired).claimed
    finally:
        other.close()


def test_an_open_tasks_job_has_no_close_but_expires_within_a_day(farm):
    """An open task's deadline and close are the wire's NO_DEADLINE (in seconds, beyond what a
    PostgreSQL interval holds): its job is queued last, and offered for a day at most."""
    endless = NO_DEADLINE // 1000
    job = farm.queue.submit(b"c", ADDRESS, b"{}", priority=endless, expires_in=endless)
    soon = farm.queue.submit(b"c", ADDRESS, b"{}", priority=time.time() + 30, expires_in=30)
    (left,) = farm.queue.execute("SELECT extract(epoch FROM expires_at - now()) FROM farm_jobs "
                                 "WHERE id = %s", (job,)).fetchone()
    assert 86_000 < left <= MAX_EXPIRY_SECONDS
    worker = farm.queue.register("w", "cpu")
    assert farm.queue.claim(worker, lambda j: Outcome(error="x")).id == soon
    assert farm.queue.claim(worker, lambda j: Outcome(error="x")).id == job


def test_a_prover_that_raises_leaves_its_job_queued(farm):
    job = farm.queue.submit(b"c", ADDRESS, b"{}", priority=1, expires_in=60)
    worker = farm.queue.register("w", "cpu")

    def crash(_job):
        raise RuntimeError("the GPU fell off the bus")

    with pytest.raises(RuntimeError):
        farm.queue.claim(worker, crash)
    assert farm.queue.state(job).outcome is None
    assert farm.queue.claim(worker, lambda j: Outcome(error="again")).id == job


def test_a_lost_connection_fails_one_call_and_the_next_reconnects(farm, small_circuit, inputs):
    """The server ends the roller's sessions (as a restart would): the call that finds out
    fails, the next one connects again, its LISTEN included, and proving goes on. A registered
    worker's session is not made again behind its back: its lock went with it."""
    prover = FarmProver(small_circuit, farm.url)
    control = FarmQueue.open(farm.url, "admission")
    worker = FarmQueue.open(farm.url, "in-test")
    try:
        farm.start_worker("w")
        worker.register("in-test", "cpu")
        assert control.capacity() == 2
        farm.queue.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
                           "application_name IN ('provernet farm roller', "
                           "'provernet farm admission', 'provernet farm in-test') AND pid <> "
                           "pg_backend_pid()")
        with pytest.raises(FarmUnavailable):
            control.capacity()
        assert control.capacity() == 1  # connected again; the in-test worker is gone
        with pytest.raises(FarmUnavailable):
            prover.prove_block(inputs, ADDRESS)
        result = prover.prove_block(inputs, ADDRESS)  # woken by the worker's NOTIFY again
        assert verify(small_circuit.setup.vk, result.proof, result.public).valid
        with pytest.raises(FarmUnavailable):
            worker.quarantined(1)
        with pytest.raises(FarmUnavailable):
            worker.quarantined(1)
        # The worker process whose session ends registers anew (after a back-off) and proves.
        (before,) = [w.id for w in farm.live()]
        farm.queue.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
                           "application_name = 'provernet farm worker'")
        wait_for(lambda: [w.id for w in farm.live()] not in ([], [before]), timeout=30,
                 interval=0.1)
        again = prover.prove_block(inputs, ADDRESS)
        assert verify(small_circuit.setup.vk, again.proof, again.public).valid
    finally:
        control.close()
        worker.close()


def test_a_farm_that_is_not_postgresql_or_cannot_be_reached_is_a_clear_error():
    with pytest.raises(FarmError, match="PostgreSQL database"):
        FarmQueue.open("redis://127.0.0.1:6379", "test")
    with pytest.raises(FarmUnavailable, match="cannot reach the farm postgresql://u:\\*\\*\\*@"):
        FarmQueue.open("postgresql://u:secret@127.0.0.1:9/farm?connect_timeout=2", "test")
    result = CliRunner().invoke(cli, ["roller", "worker", "--farm", "sqlite:///tmp/x"])
    assert result.exit_code != 0 and "PostgreSQL database" in result.output
