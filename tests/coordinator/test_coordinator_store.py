"""The coordinator's database: what a restart finds is what was stored, nothing more or less."""

from __future__ import annotations

import pytest

from coordinator.events import BatchFinalized, Tick
from coordinator.store import CoordinatorStore, StoreError


def test_a_reopened_store_replays_every_event_and_knows_what_was_done(tmp_path):
    store = CoordinatorStore(tmp_path)
    for number in range(3):
        store.append_event(number, Tick(1000 + number))
    store.mark_done((1, 0))
    store.append_event(3, BatchFinalized(0, 2000))
    store.drop_event(3)  # refused by the core: as if never stored
    store.close()

    restored = CoordinatorStore(tmp_path).restore()
    assert restored.snapshot is None
    assert restored.events == [(0, Tick(1000)), (1, Tick(1001)), (2, Tick(1002))]
    assert restored.done == {(1, 0)}


def test_a_snapshot_replaces_the_events_it_covers(tmp_path):
    store = CoordinatorStore(tmp_path)
    for number in range(4):
        store.append_event(number, Tick(number))
    store.mark_done((0, 0))
    store.mark_done((3, 1))
    store.save_snapshot(2, {"sequence": 3})
    restored = store.restore()
    assert (restored.snapshot, restored.snapshot_event) == ({"sequence": 3}, 2)
    assert restored.events == [(3, Tick(3))]
    assert restored.done == {(3, 1)}


def test_proofs_and_audit_records_survive_and_a_missing_proof_is_named(tmp_path):
    store = CoordinatorStore(tmp_path)
    store.add_proof("0xab", 0, 7, 1, "0x" + "11" * 20, {"a": [1, 2]})
    store.add_audit(0, 7, {"kind": "block", "index": 7})
    store.close()
    store = CoordinatorStore(tmp_path)
    assert store.proof("0xab") == {"a": [1, 2]}
    assert store.audit_records() == [{"kind": "block", "index": 7}]
    assert store.proofs_of("0x" + "11" * 20, 0) == [("0xab", 7, 1)]
    assert store.proofs_of("0x" + "11" * 20, 1) == []
    with pytest.raises(StoreError, match="no stored proof 0xcd"):
        store.proof("0xcd")


def test_a_second_coordinator_on_the_same_directory_is_refused(tmp_path):
    first = CoordinatorStore(tmp_path)
    with pytest.raises(StoreError, match="in use by another coordinator"):
        CoordinatorStore(tmp_path)
    first.close()
    CoordinatorStore(tmp_path).close()
