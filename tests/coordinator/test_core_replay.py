"""The decision core is event-sourced: replaying the events, from the start or from a snapshot,
gives the same commands with the same keys and the same state."""

from __future__ import annotations

import json

import msgpack
import pytest
from coordinator_harness import mixed_market, new_core

from coordinator.core import CoordinatorCore
from coordinator.errors import InvalidSnapshot
from coordinator.events import event_from_record, event_to_record


@pytest.fixture(scope="module")
def market():
    return mixed_market(seed=1)


def test_replaying_every_event_gives_the_same_commands_keys_and_state(market):
    replayed = new_core()
    commands = [c for e in market.events for c in replayed.handle(e)]
    assert commands == market.commands
    assert [c.key for c in commands] == [c.key for c in market.commands]
    assert replayed.snapshot() == market.core.snapshot()


def test_command_keys_are_the_event_number_and_the_position_in_its_output(market):
    keys = [c.key for c in market.commands]
    assert len(set(keys)) == len(keys)
    by_event: dict[int, list[int]] = {}
    for event, position in keys:
        by_event.setdefault(event, []).append(position)
    assert all(positions == list(range(len(positions))) for positions in by_event.values())
    assert max(by_event) < len(market.events) == market.core.sequence


def test_a_shell_that_crashed_midway_carries_out_each_command_once(market):
    done = {c.key for c in market.commands[: len(market.commands) // 2]}
    restarted = new_core()
    again = [c for e in market.events for c in restarted.handle(e) if c.key not in done]
    assert done | {c.key for c in again} == {c.key for c in market.commands}
    assert not done & {c.key for c in again}


def test_events_survive_their_json_and_msgpack_records(market):
    for event in market.events:
        record = event_to_record(event)
        assert event_from_record(json.loads(json.dumps(record))) == event
        assert event_from_record(msgpack.unpackb(msgpack.packb(record))) == event


def test_a_snapshot_at_any_point_then_the_remaining_events_equals_the_full_replay(market):
    live = new_core()
    for cut, event in enumerate([*market.events, None]):
        # Through JSON, as a shell stores it; big integers are strings, so msgpack holds it too.
        data = json.loads(json.dumps(live.snapshot()))
        assert msgpack.unpackb(msgpack.packb(data)) == data
        restored = CoordinatorCore.from_snapshot(data)
        rest = [c for e in market.events[cut:] for c in restored.handle(e)]
        expected = [c for c in market.commands if c.key[0] >= cut]
        assert rest == expected and [c.key for c in rest] == [c.key for c in expected]
        assert restored.snapshot() == market.core.snapshot()
        if event is not None:
            live.handle(event)


def test_queries_answer_the_same_after_a_restore(market):
    cut = len(market.events) // 2
    live = new_core()
    for event in market.events[:cut]:
        live.handle(event)
    restored = CoordinatorCore.from_snapshot(live.snapshot())
    assert restored.in_flight() == live.in_flight()
    assert restored.all_roller_counts() == live.all_roller_counts()
    assert restored.next_wakeup() == live.next_wakeup()
    assert ([restored.block_status(n) for n in range(10)]
            == [live.block_status(n) for n in range(10)])


def test_snapshots_of_another_version_or_malformed_are_refused(market):
    good = market.core.snapshot()
    with pytest.raises(InvalidSnapshot, match="version"):
        CoordinatorCore.from_snapshot({**good, "version": 1})  # rules v1: no statements
    with pytest.raises(InvalidSnapshot, match="malformed"):
        CoordinatorCore.from_snapshot({k: v for k, v in good.items() if k != "timers"})
    live = new_core()
    for event in market.events[:20]:
        live.handle(event)
    data = live.snapshot()
    name, entries = next(iter(data["rosters"].items()))
    tampered = {**data, "rosters": {name: [[entries[0][0], "1"], *entries[1:]]}}
    with pytest.raises(InvalidSnapshot, match="hashes to"):
        CoordinatorCore.from_snapshot(tampered)
