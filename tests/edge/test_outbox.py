"""The durable outbox: durability, stable batch keys across crashes, ordering, retention, WAL, SIGKILL."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from edge.outbox import AppendResult, BufferFull, Outbox, OutboxError, OutboxLockedError
from protocols.telemetry import (
    Batch,
    Event,
    EventKind,
    Reading,
    RetentionClass,
    decode_batch,
    encode_batch,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
EPOCH = datetime(2024, 1, 1, tzinfo=UTC)


def reading(number: int, device: str = "dev") -> Reading:
    return Reading(device_key=device, metric="counter", observed_at=EPOCH + timedelta(seconds=number), value=number)


def clinical(number: int) -> Event:
    return Event(
        device_key="dev", occurred_at=EPOCH + timedelta(seconds=number), kind=EventKind.ASTM_RESULT, code=str(number)
    )


def status(number: int) -> Event:
    return Event(
        device_key="dev",
        occurred_at=EPOCH + timedelta(seconds=number),
        kind=EventKind.STATUS,
        code=str(number),
        retention=RetentionClass.TELEMETRY,
    )


def numbers(batch: Batch) -> list[int]:
    return [int(r.value) for r in batch.readings] + [int(e.code or "-1") for e in batch.events]


class FakeClock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "outbox.sqlite3"


@pytest.fixture
def outbox(db_path: Path) -> Iterator[Outbox]:
    with Outbox(db_path, gateway_id="gw-1") as box:
        yield box


# --- basics ---------------------------------------------------------------------------------------------


def test_database_runs_in_wal_mode(outbox: Outbox, db_path: Path) -> None:
    assert outbox.journal_mode() == "wal"
    with sqlite3.connect(db_path) as other:
        assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_empty_outbox_leases_nothing(outbox: Outbox) -> None:
    assert outbox.lease() is None
    assert outbox.stats().pending_batches == 0


def test_lease_returns_items_in_append_order(outbox: Outbox) -> None:
    outbox.append([reading(1), clinical(2), reading(3)])
    outbox.append([clinical(4), reading(5)])
    batch = outbox.lease()
    assert batch is not None
    assert [int(r.value) for r in batch.readings] == [1, 3, 5]
    assert [e.code for e in batch.events] == ["2", "4"]
    assert batch.gateway_id == "gw-1" and batch.stream_id == outbox.stream_id


def test_batches_follow_append_order_and_sequences_increase(outbox: Outbox) -> None:
    outbox.append([reading(n) for n in range(10)])
    first = outbox.lease(max_items=4)
    second = outbox.lease(max_items=4)
    third = outbox.lease(max_items=4)
    assert first and second and third
    assert [numbers(b) for b in (first, second, third)] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert [b.sequence for b in (first, second, third)] == [1, 2, 3]
    assert outbox.lease() is None  # everything is in flight


def test_max_bytes_limits_new_batches_but_never_blocks_a_large_item(outbox: Outbox) -> None:
    big = Event(device_key="dev", occurred_at=EPOCH, kind=EventKind.ASTM_RESULT, code="0", text="x" * 2000)
    outbox.append([big, reading(1), reading(2), reading(3)])
    alone = outbox.lease(max_bytes=500)
    assert alone is not None and numbers(alone) == [0]
    size = len(reading(1).model_dump_json())
    pair = outbox.lease(max_bytes=2 * size)
    assert pair is not None and numbers(pair) == [1, 2]


def test_ack_deletes_the_batch_and_is_idempotent(outbox: Outbox) -> None:
    outbox.append([reading(1), clinical(2)])
    batch = outbox.lease()
    assert batch is not None
    assert outbox.ack(batch.idempotency_key) is True
    assert outbox.ack(batch.idempotency_key) is False
    stats = outbox.stats()
    assert (stats.clinical_rows, stats.telemetry_rows, stats.pending_batches) == (0, 0, 0)
    assert (stats.acked_batches_total, stats.acked_items_total) == (1, 2)
    assert outbox.lease() is None


def test_ack_of_another_stream_is_ignored(outbox: Outbox) -> None:
    outbox.append([reading(1)])
    batch = outbox.lease()
    assert batch is not None
    assert outbox.ack(f"gw-1:someotherstream:{batch.sequence}") is False
    assert outbox.stats().pending_batches == 1
    with pytest.raises(ValueError):
        outbox.ack("not a key")


def test_nack_returns_the_same_batch_with_the_same_key(outbox: Outbox) -> None:
    outbox.append([reading(n) for n in range(5)])
    first = outbox.lease(max_items=3)
    assert first is not None
    outbox.append([reading(99)])
    outbox.nack(first.idempotency_key)
    again = outbox.lease(max_items=50)  # different limits do not reshape a stored batch
    assert again == first
    assert encode_batch(again) == encode_batch(first)


def test_release_all_returns_every_in_flight_batch(outbox: Outbox) -> None:
    outbox.append([reading(n) for n in range(4)])
    leased = [outbox.lease(max_items=2), outbox.lease(max_items=2)]
    assert outbox.release_all() == 2
    assert [outbox.lease(), outbox.lease()] == leased


def test_ack_order_may_differ_from_lease_order(outbox: Outbox) -> None:
    outbox.append([reading(n) for n in range(4)])
    first, second = outbox.lease(max_items=2), outbox.lease(max_items=2)
    assert first and second
    assert outbox.ack(second.idempotency_key)
    outbox.nack(first.idempotency_key)
    assert outbox.lease() == first


def test_appending_nothing_is_a_no_op(outbox: Outbox) -> None:
    result = outbox.append([])
    assert result.appended == 0 and outbox.lease() is None


def test_append_rejects_foreign_objects(outbox: Outbox) -> None:
    with pytest.raises(TypeError):
        outbox.append(["not an item"])  # type: ignore[list-item]


def test_leased_batch_survives_the_wire(outbox: Outbox) -> None:
    outbox.append([reading(1), clinical(2)])
    batch = outbox.lease()
    assert batch is not None
    assert decode_batch(encode_batch(batch, compress=True)) == batch


# --- durability and crash recovery ----------------------------------------------------------------------


def test_items_survive_reopen(db_path: Path) -> None:
    with Outbox(db_path, gateway_id="gw-1") as box:
        box.append([reading(1), clinical(2)])
        stream_id = box.stream_id
    with Outbox(db_path, gateway_id="gw-1") as box:
        assert box.stream_id == stream_id
        batch = box.lease()
        assert batch is not None and numbers(batch) == [1, 2]


def test_unacked_batch_is_re_leased_identically_after_restart(db_path: Path) -> None:
    clock = FakeClock()
    with Outbox(db_path, gateway_id="gw-1", clock=clock) as box:
        box.append([reading(n) for n in range(3)] + [clinical(10)])
        sent = box.lease(max_items=2)
        assert sent is not None
        # crash between send and ack: the process goes away without acking
    clock.now += 3600
    with Outbox(db_path, gateway_id="gw-1", clock=clock) as box:
        box.append([reading(50)])
        resent = box.lease(max_items=100)
        assert resent is not None
        assert resent.idempotency_key == sent.idempotency_key
        assert encode_batch(resent) == encode_batch(sent)  # byte-identical, created_at included
        rest = box.lease(max_items=100)
        assert rest is not None and numbers(rest) == [2, 50, 10]
        assert rest.sequence == sent.sequence + 1


def test_sequence_never_repeats_after_acks_and_restarts(db_path: Path) -> None:
    seen: set[str] = set()
    for round_number in range(3):
        with Outbox(db_path, gateway_id="gw-1") as box:
            box.append([reading(round_number)])
            batch = box.lease()
            assert batch is not None and batch.idempotency_key not in seen
            seen.add(batch.idempotency_key)
            box.ack(batch.idempotency_key)


def test_a_recreated_database_gets_a_new_stream_so_keys_cannot_collide(db_path: Path) -> None:
    with Outbox(db_path, gateway_id="gw-1") as box:
        box.append([reading(1)])
        old = box.lease()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    with Outbox(db_path, gateway_id="gw-1") as box:
        box.append([reading(1)])
        new = box.lease()
    assert old and new and old.sequence == new.sequence
    assert old.idempotency_key != new.idempotency_key


def test_batches_keep_the_gateway_id_they_were_formed_under(db_path: Path) -> None:
    with Outbox(db_path, gateway_id="gw-old") as box:
        box.append([reading(1)])
        old = box.lease()
    with Outbox(db_path, gateway_id="gw-new") as box:
        box.append([reading(2)])
        again, fresh = box.lease(), box.lease()
    assert old and again and fresh
    assert again.idempotency_key == old.idempotency_key
    assert fresh.gateway_id == "gw-new"


def test_counters_persist_across_reopen(db_path: Path) -> None:
    with Outbox(db_path, gateway_id="gw-1", max_telemetry_rows=2) as box:
        box.append([reading(n) for n in range(5)])
        batch = box.lease()
        assert batch is not None
        box.ack(batch.idempotency_key)
    with Outbox(db_path, gateway_id="gw-1", max_telemetry_rows=2) as box:
        stats = box.stats()
        assert stats.telemetry_dropped_total == 3
        assert (stats.acked_batches_total, stats.acked_items_total) == (1, 2)
        assert stats.next_sequence == 2


def test_only_one_process_owns_the_file(outbox: Outbox, db_path: Path) -> None:
    with pytest.raises(OutboxLockedError):
        Outbox(db_path, gateway_id="gw-1")


def test_closed_outbox_refuses_work(db_path: Path) -> None:
    box = Outbox(db_path, gateway_id="gw-1")
    box.close()
    box.close()  # idempotent
    with pytest.raises(OutboxError, match="closed"):
        box.append([reading(1)])


def test_invalid_gateway_id_is_rejected_and_releases_the_lock(db_path: Path) -> None:
    with pytest.raises(ValueError):
        Outbox(db_path, gateway_id="gw:1")
    Outbox(db_path, gateway_id="gw-1").close()


# --- retention ------------------------------------------------------------------------------------------


def test_telemetry_drops_oldest_first_and_counts_drops(db_path: Path) -> None:
    with Outbox(db_path, gateway_id="gw-1", max_telemetry_rows=5) as box:
        box.append([reading(n) for n in range(4)])
        result = box.append([reading(n) for n in range(4, 8)] + [status(8)])
        assert result.telemetry_dropped == 4
        batch = box.lease()
        assert batch is not None
        assert numbers(batch) == [4, 5, 6, 7, 8]
        assert batch.telemetry_dropped_total == 4
        assert box.stats().telemetry_dropped_total == 4


def test_clinical_events_are_never_dropped_for_telemetry(db_path: Path) -> None:
    with Outbox(db_path, gateway_id="gw-1", max_telemetry_rows=2) as box:
        box.append([clinical(0), reading(1), clinical(2)])
        box.append([reading(n) for n in range(3, 20)])
        batch = box.lease(max_items=100)
        assert batch is not None
        assert [e.code for e in batch.events] == ["0", "2"]
        assert [int(r.value) for r in batch.readings] == [18, 19]


def test_telemetry_already_in_a_batch_is_not_dropped(db_path: Path) -> None:
    with Outbox(db_path, gateway_id="gw-1", max_telemetry_rows=3) as box:
        box.append([reading(n) for n in range(3)])
        leased = box.lease()
        assert leased is not None
        box.append([reading(n) for n in range(3, 10)])
        box.nack(leased.idempotency_key)
        assert box.lease() == leased
        rest = box.lease()
        assert rest is not None and numbers(rest) == [7, 8, 9]
        assert box.stats().telemetry_dropped_total == 4


def test_clinical_cap_raises_buffer_full_and_writes_nothing(db_path: Path) -> None:
    with Outbox(db_path, gateway_id="gw-1", max_clinical_rows=3) as box:
        box.append([clinical(1), clinical(2)])
        with pytest.raises(BufferFull, match="clinical buffer full"):
            box.append([reading(9), clinical(3), clinical(4)])
        stats = box.stats()
        assert (stats.clinical_rows, stats.telemetry_rows) == (2, 0)
        assert stats.clinical_rejected_total == 2
        assert box.clinical_room() == 1
        box.append([clinical(3)])
        with pytest.raises(BufferFull):
            box.append([clinical(4)])


def test_acking_frees_clinical_room(db_path: Path) -> None:
    with Outbox(db_path, gateway_id="gw-1", max_clinical_rows=2) as box:
        box.append([clinical(1), clinical(2)])
        assert box.clinical_room() == 0
        batch = box.lease()
        assert batch is not None
        assert box.clinical_room() == 0  # leased is not delivered
        box.ack(batch.idempotency_key)
        assert box.clinical_room() == 2
        box.append([clinical(3)])


def test_backpressure_signal_rises_before_the_hard_cap(db_path: Path) -> None:
    with Outbox(db_path, gateway_id="gw-1", max_clinical_rows=10, clinical_high_water=0.5) as box:
        results = [box.append([clinical(n)]) for n in range(6)]
        assert [r.backpressure for r in results] == [False, False, False, False, True, True]
        assert results[-1].clinical_free == 4


def test_clinical_cap_is_enforced_after_reopen(db_path: Path) -> None:
    with Outbox(db_path, gateway_id="gw-1", max_clinical_rows=2) as box:
        box.append([clinical(1), clinical(2)])
    with Outbox(db_path, gateway_id="gw-1", max_clinical_rows=2) as box, pytest.raises(BufferFull):
        box.append([clinical(3)])


# --- stats and threads ----------------------------------------------------------------------------------


def test_stats_report_depth_age_and_bytes(db_path: Path) -> None:
    clock = FakeClock()
    with Outbox(db_path, gateway_id="gw-1", clock=clock) as box:
        assert box.stats().oldest_unsent_age_s is None
        box.append([reading(1), reading(2), clinical(3)])
        clock.now += 42.0
        box.append([reading(4)])
        box.lease(max_items=1)
        stats = box.stats()
        assert (stats.clinical_rows, stats.telemetry_rows) == (1, 3)
        assert (stats.pending_batches, stats.in_flight_batches) == (1, 1)
        assert stats.oldest_unsent_age_s == pytest.approx(42.0)
        assert stats.payload_bytes > 0 and stats.file_bytes > 0


def test_concurrent_appends_from_threads_lose_nothing(outbox: Outbox) -> None:
    def worker(offset: int) -> None:
        for n in range(offset, offset + 50):
            outbox.append([reading(n)])

    threads = [threading.Thread(target=worker, args=(k * 1000,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    delivered: list[int] = []
    while (batch := outbox.lease(max_items=37)) is not None:
        delivered += numbers(batch)
        outbox.ack(batch.idempotency_key)
    assert sorted(delivered) == sorted(n for k in range(4) for n in range(k * 1000, k * 1000 + 50))


async def test_usable_from_asyncio_through_a_thread(outbox: Outbox) -> None:
    import asyncio

    await asyncio.to_thread(outbox.append, [reading(1)])
    batch = await asyncio.to_thread(outbox.lease)
    assert batch is not None and numbers(batch) == [1]


# --- SIGKILL ------------------------------------------------------------------------------------------


def test_sigkill_mid_stream_loses_nothing_appended_and_duplicates_nothing(tmp_path: Path) -> None:
    db, sink = tmp_path / "outbox.sqlite3", tmp_path / "sink.jsonl"
    rng = random.Random(20240501)
    confirmed: set[int] = set()
    maybe_committed: set[int] = set()  # the one append in progress when the kill landed
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    writer = Path(__file__).with_name("outbox_crash_writer.py")
    crash_points = ["never", "after_send", "never", "after_lease", "after_send", "never"]
    for round_number, crash_at in enumerate(crash_points):
        first = round_number * 1_000_000
        seed = str(rng.randrange(2**32))
        child = subprocess.Popen(
            [sys.executable, str(writer), str(db), str(sink), str(first), seed, crash_at],
            stdout=subprocess.PIPE,
            env=env,
        )
        assert child.stdout is not None
        wanted, last = rng.randint(40, 250), None
        for _ in range(wanted):
            line = child.stdout.readline()
            if not line:
                break
            last = int(line)
            confirmed.add(last)
        time.sleep(rng.uniform(0, 0.01))
        child.send_signal(signal.SIGKILL)
        for line in child.stdout.read().splitlines():  # lines written before the kill landed
            confirmed.add(int(line))
            last = int(line)
        child.wait(timeout=30)
        assert child.returncode == -signal.SIGKILL, "the writer must have died by SIGKILL, not on its own"
        assert last is not None
        maybe_committed.add(last + 1)

    leased: dict[str, list[int]] = {}
    deliveries: dict[str, list[int]] = {}
    resent = 0

    def deliver(key: str, delivered: list[int]) -> None:
        # The cloud's view: a key seen again must carry exactly the same data, and is stored once.
        nonlocal resent
        if key in deliveries:
            resent += 1
            assert deliveries[key] == delivered, f"batch {key} changed between sends"
        deliveries[key] = delivered

    for sink_line in sink.read_text().splitlines(keepends=True):
        if not sink_line.endswith("\n"):
            continue  # cut short by the kill: never acked, so it is re-leased and re-sent below
        record = json.loads(sink_line)
        if record.get("delivered"):
            deliver(record["key"], record["numbers"])
        else:
            assert leased.setdefault(record["key"], record["numbers"]) == record["numbers"]
    with Outbox(db, gateway_id="gw-crash") as box:
        while (batch := box.lease()) is not None:
            if batch.idempotency_key in leased:
                assert numbers(batch) == leased[batch.idempotency_key], "a re-leased batch changed"
            deliver(batch.idempotency_key, numbers(batch))
            box.ack(batch.idempotency_key)
        assert box.stats().clinical_rows + box.stats().telemetry_rows == 0

    delivered = [n for batch_numbers in deliveries.values() for n in batch_numbers]
    assert len(delivered) == len(set(delivered)), "an item was delivered under two keys"
    assert confirmed <= set(delivered), f"lost: {sorted(confirmed - set(delivered))[:10]}"
    assert set(delivered) <= confirmed | maybe_committed
    assert len(confirmed) > 100
    assert resent >= 2, "the after_send crashes must have made the cloud see a key twice"


# --- frozen wire bytes, chunked storage, sizing ------------------------------------------------------------


def fleet_tick(second: int, devices: range, metrics: int = 50) -> list[list[Reading]]:
    """One poll tick of a fleet: one group of `metrics` readings per device, float32-like values."""
    at = EPOCH + timedelta(seconds=second)
    return [[Reading(device_key=f"an{d:03d}", metric=f"metric_{m:02d}", observed_at=at, unit="mmol/L",
                     value=round(20.0 + d + m / 7 + second / 13, 4)) for m in range(metrics)] for d in devices]


def test_leased_wire_is_exactly_encode_batch_of_the_batch(outbox: Outbox) -> None:
    text_event = Event(device_key="dev", occurred_at=EPOCH, kind=EventKind.ASTM_RESULT, code="Na",
                       text="Natrium 140 mmol/L — ok\nline two", payload={"flags": ["H"], "µ": 1.5})
    outbox.append([reading(1), text_event, reading(2), status(3)])
    frozen = outbox.lease_wire()
    assert frozen is not None
    batch = decode_batch(frozen.wire)
    assert frozen.wire == encode_batch(batch, compress=True)  # what protocols/telemetry.py would have sent
    assert (frozen.readings, frozen.events, frozen.items) == (2, 2, 4)
    assert frozen.streams == {("dev", "counter"), ("dev", "")}
    assert frozen.idempotency_key == batch.idempotency_key == f"gw-1:{outbox.stream_id}:{frozen.sequence}"
    assert batch.events == [text_event, status(3)] and [int(r.value) for r in batch.readings] == [1, 2]


def test_re_leases_hand_out_the_same_bytes_after_nack_and_restart(db_path: Path) -> None:
    clock = FakeClock()
    with Outbox(db_path, gateway_id="gw-1", clock=clock) as box:
        for group in fleet_tick(0, range(3)):
            box.append(group)
        first = box.lease_wire(max_items=70)  # cuts the second device's chunk
        assert first is not None and first.readings == 70
        box.nack(first.idempotency_key)
        again = box.lease_wire(max_items=5)
        assert again == first
    clock.now += 600
    with Outbox(db_path, gateway_id="gw-1", clock=clock) as box:
        resent = box.lease_wire()
        assert resent is not None and resent.wire == first.wire and resent.idempotency_key == first.idempotency_key
        rest = box.lease()
        assert rest is not None and len(rest.readings) == 80
        assert [r.device_key for r in rest.readings[:30]] == ["an001"] * 30
        assert rest.readings[0].metric == "metric_20"


def test_default_telemetry_cap_holds_an_hour_of_a_100_x_50_fleet(db_path: Path) -> None:
    from edge.config import OutboxSettings
    from edge.outbox import DEFAULT_MAX_TELEMETRY_ROWS

    assert DEFAULT_MAX_TELEMETRY_ROWS >= 100 * 50 * 3600
    assert OutboxSettings().max_telemetry_rows == DEFAULT_MAX_TELEMETRY_ROWS
    with Outbox(db_path, gateway_id="gw-1") as box:
        assert box._max_telemetry_rows == DEFAULT_MAX_TELEMETRY_ROWS


def test_stored_readings_are_compact(db_path: Path) -> None:
    # The sizing behind the default cap (docs/benchmarks-edge.md): well under 1 GB for an hour of the fleet.
    ticks, devices = 20, range(20)
    with Outbox(db_path, gateway_id="gw-1") as box:
        for second in range(ticks):
            box.append_many(fleet_tick(second, devices))
        stats = box.stats()
    total = ticks * len(devices) * 50
    assert stats.telemetry_rows == total
    per_reading = stats.file_bytes / total
    assert per_reading < 40, f"{per_reading:.1f} bytes per reading"
    assert per_reading * 20_000_000 < 1e9


def test_filling_past_the_cap_drops_the_oldest_readings_and_counts_them(db_path: Path) -> None:
    # Agent-shaped appends (one group of 50 per device per tick); the cap cuts through a device's chunk.
    cap = 1010
    with Outbox(db_path, gateway_id="gw-1", max_telemetry_rows=cap) as box:
        results = []
        for second in range(6):
            results += box.append_many(fleet_tick(second, range(5)))  # 250 readings per tick
            box.append([clinical(second)])
        assert sum(r.telemetry_dropped for r in results if isinstance(r, AppendResult)) == 1500 - cap
        stats = box.stats()
        assert (stats.telemetry_rows, stats.clinical_rows, stats.telemetry_dropped_total) == (cap, 6, 490)
    with Outbox(db_path, gateway_id="gw-1", max_telemetry_rows=cap) as box:
        delivered: list[Reading] = []
        events: list[Event] = []
        while (batch := box.lease(max_items=300)) is not None:
            assert batch.telemetry_dropped_total == 490  # every batch reports the gap to the cloud
            delivered += batch.readings
            events += batch.events
            box.ack(batch.idempotency_key)
    expected = [r for tick in range(6) for group in fleet_tick(tick, range(5)) for r in group][-cap:]
    assert delivered == expected  # exactly the newest `cap` readings, in order
    assert [e.code for e in events] == [str(n) for n in range(6)]  # clinical: none dropped


def test_append_many_is_one_commit_with_an_outcome_per_group(db_path: Path) -> None:
    with Outbox(db_path, gateway_id="gw-1", max_clinical_rows=2) as box:
        outcomes = box.append_many([[reading(1)], [clinical(2), clinical(3)], [clinical(4)], [reading(5)]])
        assert isinstance(outcomes[0], AppendResult) and outcomes[0].appended == 1
        assert isinstance(outcomes[1], AppendResult) and outcomes[1].clinical_free == 0
        assert isinstance(outcomes[2], BufferFull)  # that group alone is refused, nothing of it written
        assert isinstance(outcomes[3], AppendResult)
        batch = box.lease()
        assert batch is not None and numbers(batch) == [1, 5, 2, 3]
        assert box.stats().clinical_rejected_total == 1


V1_SCHEMA = """
CREATE TABLE outbox_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE outbox_counter (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE outbox_batch (sequence INTEGER PRIMARY KEY, gateway_id TEXT NOT NULL, created_at TEXT NOT NULL,
    telemetry_dropped_total INTEGER NOT NULL);
CREATE TABLE outbox_item (id INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, retention TEXT NOT NULL,
    body TEXT NOT NULL, size INTEGER NOT NULL, appended_at REAL NOT NULL,
    batch_sequence INTEGER REFERENCES outbox_batch (sequence));
"""


def test_a_schema_1_outbox_is_migrated_keeping_frozen_batches_byte_identical(db_path: Path) -> None:
    created = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    frozen_items: list[Reading | Event] = [reading(1), clinical(2), reading(3)]
    waiting: list[Reading | Event] = [reading(4), clinical(5), status(6), reading(7)]
    with sqlite3.connect(db_path) as conn:
        conn.executescript(V1_SCHEMA)
        conn.executemany("INSERT INTO outbox_meta VALUES (?, ?)",
                         [("schema_version", "1"), ("stream_id", "oldstream"), ("next_sequence", "8")])
        conn.execute("INSERT INTO outbox_counter VALUES ('telemetry_dropped_total', 3)")
        conn.execute("INSERT INTO outbox_batch VALUES (7, 'gw-1', ?, 3)", (created.isoformat(),))
        for item, sequence in [(i, 7) for i in frozen_items] + [(i, None) for i in waiting]:
            body = item.model_dump_json()
            conn.execute("INSERT INTO outbox_item (kind, retention, body, size, appended_at, batch_sequence) "
                         "VALUES (?, ?, ?, ?, ?, ?)",
                         ("reading" if isinstance(item, Reading) else "event", item.retention.value, body,
                          len(body), 1_700_000_000.0, sequence))
    expected = Batch(gateway_id="gw-1", stream_id="oldstream", sequence=7, created_at=created,
                     readings=[reading(1), reading(3)], events=[clinical(2)], telemetry_dropped_total=3)
    with Outbox(db_path, gateway_id="gw-1") as box:
        assert box.stream_id == "oldstream"
        stats = box.stats()
        assert (stats.clinical_rows, stats.telemetry_rows, stats.pending_batches) == (2, 5, 1)
        first = box.lease_wire()
        assert first is not None and first.idempotency_key == "gw-1:oldstream:7"
        assert first.wire == encode_batch(expected, compress=True)  # what schema 1 sent for it
        rest = box.lease()
        assert rest is not None and rest.sequence == 8 and numbers(rest) == [4, 7, 5, 6]
    with sqlite3.connect(db_path) as conn:
        tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert "outbox_item" not in tables and "outbox_batch" not in tables
