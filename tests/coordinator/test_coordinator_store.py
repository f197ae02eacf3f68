"""The coordinator's database: what a restart finds is what was stored, nothing more or less. Each
test runs on SQLite (the default) and on a real PostgreSQL server (`db`, tests/postgres.py)."""

from __future__ import annotations

import dataclasses
import os
import sqlite3

import psycopg
import pytest
from coordinator_harness import mixed_market, new_core

from coordinator.core import CoordinatorCore
from coordinator.events import BatchFinalized, Tick
from coordinator.store import (
    DATABASE_NAME,
    SCHEMA_VERSION,
    CoordinatorStore,
    StoredProof,
    StoreError,
)
from p2p.datadir import DataDirLocked
from zkp.system import SealedProof


def test_a_reopened_store_replays_every_event_and_knows_what_was_done(tmp_path, db):
    store = CoordinatorStore.open(tmp_path, db)
    store.write([(0, Tick(1000)), (1, Tick(1001))])
    store.write([(2, Tick(1002))], done=[(1, 0)])
    store.write(done=[(1, 0)])  # carried out twice (a crash between the two): recorded once
    with pytest.raises(psycopg.errors.UniqueViolation if db else sqlite3.IntegrityError):
        store.write([(3, BatchFinalized(0, 2000)), (2, Tick(7))], done=[(2, 0)])
    store.close()  # a write that fails stores none of its parts

    restored = CoordinatorStore.open(tmp_path, db).restore()
    assert restored.snapshot is None
    assert restored.events == [(0, Tick(1000)), (1, Tick(1001)), (2, Tick(1002))]
    assert restored.done == {(1, 0)}


def test_a_snapshot_replaces_the_events_it_covers(tmp_path, db):
    store = CoordinatorStore.open(tmp_path, db)
    store.write([(number, Tick(number)) for number in range(4)], done=[(0, 0), (3, 1)])
    store.save_snapshot(1, {"sequence": 2})
    store.save_snapshot(2, {"sequence": 3})
    restored = store.restore()
    assert (restored.snapshot, restored.snapshot_event) == ({"sequence": 3}, 2)
    assert restored.events == [(3, Tick(3))]
    assert restored.done == {(3, 1)}


def test_proofs_audit_records_and_meta_survive_and_a_missing_proof_is_named(tmp_path, db):
    store = CoordinatorStore.open(tmp_path, db)
    first = StoredProof("0xab", 0, 7, 1, "0x" + "11" * 20, SealedProof("groth16", bytes(256)),
                        bytes(range(32)), bytes(65), public=(1, 2**256 - 1))
    again = dataclasses.replace(first, proof=SealedProof("groth16", b"again"))
    store.write(proofs=[first])
    store.write(proofs=[again])  # kept
    store.write(audits=[(0, 7, {"kind": "block", "index": 7})])
    store.write(audits=[(0, 7, {"kind": "block", "index": 7, "rounds": 2})])  # the newest stays
    store.set_meta("l1_cursor", "5")
    store.set_meta("l1_cursor", "9")
    store.close()
    store = CoordinatorStore.open(tmp_path, db)
    assert store.proof("0xab") == first
    assert store.audit_records() == [{"kind": "block", "index": 7, "rounds": 2}]
    assert store.proofs_of("0x" + "11" * 20, 0) == [("0xab", 7, 1)]
    assert store.proofs_of("0x" + "11" * 20, 1) == []
    assert (store.meta("l1_cursor"), store.meta("base_finalized")) == ("9", None)
    with pytest.raises(StoreError, match="no stored proof 0xcd"):
        store.proof("0xcd")
    store.close()


def test_a_restart_resumes_the_core_where_it_stopped(tmp_path, db):
    """As the service runs: events stored in groups before their commands are carried out, a
    command's key recorded once carried out, a snapshot taken on the way. The core rebuilt from what a reopened
    store returns is the live one, and the commands left to carry out are those not done: on
    both databases, so a restart from PostgreSQL resumes exactly as one from SQLite."""
    market = mixed_market(seed=2)
    store = CoordinatorStore.open(tmp_path, db)
    live, commands = new_core(), []
    for number, event in enumerate(market.events):
        commands += live.handle(event)
        store.write([(number, event)])
        if number == len(market.events) // 3:
            store.save_snapshot(number, live.snapshot())
    done = {c.key for c in commands[::2]}  # a crash with every other command carried out
    store.write(done=sorted(done))
    store.close()

    restored = CoordinatorStore.open(tmp_path, db).restore()
    core = CoordinatorCore.from_snapshot(restored.snapshot)
    assert [number for number, _ in restored.events] == list(
        range(restored.snapshot_event + 1, len(market.events)))
    replayed = [c for _, event in restored.events for c in core.handle(event)]
    assert core.snapshot() == live.snapshot()
    assert [c for c in replayed if c.key not in restored.done] == [
        c for c in commands if c.key not in done and c.key[0] > restored.snapshot_event]


def test_a_second_coordinator_on_the_same_directory_is_refused(tmp_path, db):
    first = CoordinatorStore.open(tmp_path, db)
    with pytest.raises(DataDirLocked, match=rf"another coordinator \(pid {os.getpid()}\) is using "
                                            rf"{tmp_path} .*another --datadir"):
        CoordinatorStore.open(tmp_path, db)
    first.close()
    CoordinatorStore.open(tmp_path, db).close()


def test_a_second_coordinator_on_the_same_database_is_refused(tmp_path, db):
    """Whatever its data directory: the database's own lock, the file's or PostgreSQL's."""
    shared = db or str(tmp_path / DATABASE_NAME)
    first = CoordinatorStore.open(tmp_path / "one", shared)
    with pytest.raises(StoreError, match=r"is in use by another .*: stop it, or give this "
                                         r"coordinator its own"):
        CoordinatorStore.open(tmp_path / "two", shared)
    first.close()
    CoordinatorStore.open(tmp_path / "two", shared).close()  # the refusal left both unlocked
    CoordinatorStore.open(tmp_path / "one", shared).close()


def test_a_database_of_another_schema_is_refused(tmp_path, db):
    store = CoordinatorStore.open(tmp_path, db)
    store.set_meta("schema", str(SCHEMA_VERSION - 1))
    store.close()
    with pytest.raises(StoreError, match=f"has schema {SCHEMA_VERSION - 1}, this coordinator "
                                         f"reads {SCHEMA_VERSION}"):
        CoordinatorStore.open(tmp_path, db)
    with pytest.raises(StoreError, match="has schema"):  # not "in use": the refusal unlocked
        CoordinatorStore.open(tmp_path, db)


@pytest.mark.postgres
def test_a_role_that_may_not_create_the_tables_is_told_at_start(tmp_path, postgres_server,
                                                                postgres_database):
    """PostgreSQL 15 lets only a database's owner create tables in `public`."""
    with psycopg.connect(postgres_server.url("postgres"), autocommit=True) as admin:
        admin.execute("CREATE ROLE operator LOGIN PASSWORD 'operator'")
    url = postgres_database.replace(f"provernet:{postgres_server.password}@",
                                    "operator:operator@")
    with pytest.raises(StoreError, match=r"^cannot set up postgresql://operator:\*\*\*@.*: "
                                         r"permission denied for schema public$"):
        CoordinatorStore.open(tmp_path, url)
    CoordinatorStore.open(tmp_path, postgres_database).close()  # nothing was left locked
