"""Forming batches for several in flight (Outbox.lease_wire lanes, busy_devices): disjoint devices, stream order."""

from __future__ import annotations

import random
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from edge.outbox import FrozenBatch, Outbox
from protocols.telemetry import Reading

EPOCH = datetime(2024, 1, 1, tzinfo=UTC)


def fill(outbox: Outbox, devices: int, metrics: int, seconds: int) -> None:
    """A backlog shaped as the agent stores it: one group per device per second, one commit per second."""
    for second in range(seconds):
        at = EPOCH + timedelta(seconds=second)
        outbox.append_many([[Reading(device_key=f"d{d}", metric=f"m{m}", observed_at=at, value=float(second))
                             for m in range(metrics)] for d in range(devices)])


def drain(outbox: Outbox, *, lanes: int, max_items: int, seed: int = 1) -> list[FrozenBatch]:
    """Lease like the uplink (up to `lanes` in flight, busy = their devices), ack in a random order."""
    rng = random.Random(seed)
    window: list[FrozenBatch] = []
    sent: list[FrozenBatch] = []
    while True:
        while len(window) < lanes:
            busy = frozenset().union(*(b.devices for b in window))
            batch = outbox.lease_wire(max_items=max_items, lanes=lanes, busy_devices=busy)
            if batch is None:
                break
            assert batch.devices.isdisjoint(busy)  # never shares a device (so no stream) with one in flight
            window.append(batch)
            sent.append(batch)
        if not window:
            return sent
        done = window.pop(rng.randrange(len(window)))
        assert outbox.ack(done.idempotency_key)


def per_stream_times_by_sequence(batches: list[FrozenBatch]) -> dict[tuple[str, str], list[datetime]]:
    times: dict[tuple[str, str], list[datetime]] = {}
    for batch in sorted(batches, key=lambda b: b.sequence):
        for reading in batch.decode().readings:
            times.setdefault((reading.device_key, reading.metric), []).append(reading.observed_at)
    return times


def test_a_small_fleet_backlog_is_formed_into_device_disjoint_batches(tmp_path: Path) -> None:
    # 10 devices x 50 metrics: a FIFO batch of 500 is one second of the whole fleet, so each shares every
    # stream with the next and only one could be in flight. With 4 lanes, 4 batches in hand hold disjoint devices.
    with Outbox(tmp_path / "o.db", gateway_id="gw") as outbox:
        fill(outbox, devices=10, metrics=50, seconds=20)
        window: list[FrozenBatch] = []
        for _ in range(4):
            busy = frozenset().union(*(b.devices for b in window))
            batch = outbox.lease_wire(max_items=500, lanes=4, busy_devices=busy)
            assert batch is not None and batch.devices.isdisjoint(busy)
            assert len(batch.devices) <= 3 and batch.readings <= 500  # at most 1/4 of the waiting devices, rounded up
            window.append(batch)
        assert frozenset().union(*(b.devices for b in window)) == {f"d{d}" for d in range(10)}
        # Every device is busy now: nothing can be formed without sharing a stream.
        assert outbox.lease_wire(max_items=500, lanes=4, busy_devices=frozenset().union(*(b.devices for b in window))) \
            is None
        for batch in window:  # each batch holds its devices' oldest readings, oldest first
            times = per_stream_times_by_sequence([batch])
            assert all(t == [EPOCH + timedelta(seconds=s) for s in range(len(t))] for t in times.values())


def test_lanes_keep_each_stream_in_time_order_by_sequence_and_lose_nothing(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.db", gateway_id="gw") as outbox:
        fill(outbox, devices=13, metrics=7, seconds=30)
        sent = drain(outbox, lanes=4, max_items=100)
        assert outbox.stats().telemetry_rows == 0 and outbox.stats().pending_batches == 0
    times = per_stream_times_by_sequence(sent)
    assert len(times) == 13 * 7
    expected = [EPOCH + timedelta(seconds=s) for s in range(30)]
    assert all(t == expected for t in times.values())  # a higher sequence always holds newer readings of a stream


def test_without_lanes_a_lease_stays_fifo(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.db", gateway_id="gw") as outbox:
        fill(outbox, devices=10, metrics=50, seconds=3)
        first, second = outbox.lease_wire(max_items=500), outbox.lease_wire(max_items=500)
        assert first is not None and second is not None
        assert first.devices == second.devices == {f"d{d}" for d in range(10)}  # second 0, then second 1
        assert {r.observed_at for r in second.decode().readings} == {EPOCH + timedelta(seconds=1)}


def test_one_device_goes_one_batch_at_a_time(tmp_path: Path) -> None:
    with Outbox(tmp_path / "o.db", gateway_id="gw") as outbox:
        fill(outbox, devices=1, metrics=50, seconds=10)
        first = outbox.lease_wire(max_items=100, lanes=4)
        assert first is not None
        assert outbox.lease_wire(max_items=100, lanes=4, busy_devices=first.devices) is None
        outbox.ack(first.idempotency_key)
        assert outbox.lease_wire(max_items=100, lanes=4) is not None


def test_chunks_stored_before_devices_were_recorded_are_read_from_their_bodies(tmp_path: Path) -> None:
    path = tmp_path / "o.db"
    with Outbox(path, gateway_id="gw") as outbox:
        fill(outbox, devices=4, metrics=5, seconds=6)
    with sqlite3.connect(path) as conn:  # back to the schema-2 layout before chunks had a device column
        conn.executescript("""
            DROP INDEX ix_outbox_chunk_head;
            CREATE TABLE old_chunk (id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, retention TEXT NOT NULL,
                                    items INTEGER NOT NULL, size INTEGER NOT NULL, appended_at REAL NOT NULL,
                                    body BLOB NOT NULL);
            INSERT INTO old_chunk SELECT id, kind, retention, items, size, appended_at, body FROM outbox_chunk;
            DROP TABLE outbox_chunk;
            ALTER TABLE old_chunk RENAME TO outbox_chunk;
            CREATE INDEX ix_outbox_chunk_retention ON outbox_chunk (retention, id);
        """)
    with Outbox(path, gateway_id="gw") as outbox:
        with sqlite3.connect(path) as conn:
            assert {row[0] for row in conn.execute("SELECT device FROM outbox_chunk")} == {None}
        first = outbox.lease_wire(max_items=10, lanes=2)
        assert first is not None and len(first.devices) == 2
        second = outbox.lease_wire(max_items=10, lanes=2, busy_devices=first.devices)
        assert second is not None and second.devices.isdisjoint(first.devices)
        outbox.ack(first.idempotency_key)
        outbox.ack(second.idempotency_key)
        rest = drain(outbox, lanes=2, max_items=10)
    times = per_stream_times_by_sequence([first, second, *rest])
    assert all(t == [EPOCH + timedelta(seconds=s) for s in range(6)] for t in times.values())
