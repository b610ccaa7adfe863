"""Bulk ingest, rollups and retention (issue 6): rollups agree with the raw readings on SQLite and PostgreSQL."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cloud.audit.service import Actor
from cloud.telemetry import service
from cloud.telemetry.models import Gateway, Reading, ReadingRollupHour, ReadingRollupMinute
from cloud.telemetry.retention import Retention, apply_retention
from cloud.telemetry.store import SqlTimeSeriesStore
from protocols.telemetry import Quality, reading_idempotency_key
from tests.cloud.telemetry.conftest import T0, GatewayInfo, make_batch
from tests.cloud.world import World


def test_a_sample_is_deduplicated_by_its_natural_key_whatever_the_offset_or_batch(db: Session,
                                                                                gateway: GatewayInfo) -> None:
    # What protocols.telemetry.reading_idempotency_key hashes (device, metric, instant) is what the cloud's
    # UNIQUE constraint holds since migration 0011: one instant in another offset is the same sample.
    at = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
    shifted = at.astimezone(timezone(timedelta(hours=8)))
    assert reading_idempotency_key("c702", "temp_c", at) == reading_idempotency_key("c702", "temp_c", shifted)
    _ingest(db, gateway, 0, [("c702", "temp_c", 1.0, at), ("c702", "temp_c", 9.0, at),  # first one wins
                             ("c702", "temp_c", 2.0, at + timedelta(microseconds=1)), ("c702", "p", 3.0, at)])
    _ingest(db, gateway, 1, [("c702", "temp_c", 5.0, shifted), ("c703", "temp_c", 4.0, at)])
    db.rollback()
    stored = sorted((r.device_key, r.metric, r.observed_at, r.value_num) for r in db.execute(select(Reading)).scalars())
    assert stored == [("c702", "p", at, 3.0), ("c702", "temp_c", at, 1.0),
                      ("c702", "temp_c", at + timedelta(microseconds=1), 2.0), ("c703", "temp_c", at, 4.0)]


Sample = tuple[str, str, float, datetime]


def _ingest(db: Session, gw: GatewayInfo, seq: int, readings: list[Sample], quality: Quality = Quality.GOOD) -> None:
    gateway = db.get(Gateway, gw.id)
    assert gateway is not None
    service.ingest_batch(db, gateway=gateway, batch=make_batch(gw.name, seq, readings=readings, events=[],
                                                               quality=quality))
    db.commit()


def _raw_buckets(db: Session, device_id: int, metric: str, size: int, start: datetime | None = None,
                 end: datetime | None = None) -> dict[int, tuple[int, float, float, float]]:
    """(count, sum, min, max) per epoch-aligned bucket, folded in Python from the raw readings (in [start, end))."""
    query = select(Reading.observed_at, Reading.value_num).where(
        Reading.device_id == device_id, Reading.metric == metric, Reading.value_num.is_not(None),
        Reading.quality != "bad")
    if start is not None and end is not None:
        query = query.where(Reading.observed_at >= start, Reading.observed_at < end)
    out: dict[int, list[float]] = {}
    for at, v in db.execute(query):
        assert v is not None
        b = int(at.timestamp()) // size * size
        cell = out.setdefault(b, [0, 0.0, v, v])
        cell[0] += 1
        cell[1] += v
        cell[2], cell[3] = min(cell[2], v), max(cell[3], v)
    return {b: (int(c[0]), c[1], c[2], c[3]) for b, c in out.items()}


def test_rollups_match_the_raw_readings(db: Session, world: World, gateway: GatewayInfo) -> None:
    device = world.devices_a[0]
    # Half the data arrives unmapped and is folded in when the key is mapped; then more, with re-sends.
    rng = random.Random(7)
    samples = [("c702", m, round(rng.uniform(-5, 50), 3), T0 + timedelta(seconds=rng.randrange(0, 3 * 3600)))
               for m in ("temp_c", "pressure") for _ in range(300)]
    _ingest(db, gateway, 0, samples[:200])
    service.map_device(db, gateway_id=gateway.id, device_key="c702", device_id=device, actor=Actor.system("t"))
    db.commit()
    _ingest(db, gateway, 1, samples[100:450])  # overlaps the first batch: re-sent readings count once
    _ingest(db, gateway, 1, samples[450:])  # same batch key again: a duplicate, stores nothing
    _ingest(db, gateway, 2, samples[450:])
    _ingest(db, gateway, 3, [("c702", "temp_c", 1e6, T0 + timedelta(seconds=7))], Quality.BAD)
    db.rollback()
    for model, size in ((ReadingRollupMinute, 60), (ReadingRollupHour, 3600)):
        for metric in ("temp_c", "pressure"):
            raw = _raw_buckets(db, device, metric, size)
            rolled = {b: (n, s, lo, hi) for b, n, s, lo, hi in db.execute(
                select(model.bucket, model.count, model.sum, model.min, model.max).where(
                    model.device_id == device, model.metric == metric))}
            assert rolled.keys() == raw.keys()
            for b, (n, s, lo, hi) in raw.items():
                assert rolled[b][0] == n and rolled[b][2:] == (lo, hi)
                assert rolled[b][1] == pytest.approx(s)
    store = SqlTimeSeriesStore(db)
    start, end = T0 + timedelta(seconds=95, microseconds=5), T0 + timedelta(hours=2, seconds=17)
    for bucket in (60, 300, 3600):
        fast = store.query(device, "temp_c", start, end, bucket)
        # A bucket that is not a whole number of minutes is always answered from the raw readings.
        slow = store.query(device, "temp_c", start, end, bucket + 1) if bucket == 60 else None
        expected = _raw_window(db, device, "temp_c", start, end, bucket)
        assert [(p.at, p.count, p.min, p.max) for p in fast] == [(a, n, lo, hi) for a, n, _, lo, hi in expected]
        assert [p.value for p in fast] == pytest.approx([s / n for _, n, s, _, _ in expected])
        assert slow is None or sum(p.count for p in slow) == sum(n for _, n, _, _, _ in expected)


def _raw_window(db: Session, device: int, metric: str, start: datetime, end: datetime,
                size: int) -> list[tuple[datetime, int, float, float, float]]:
    cells = _raw_buckets(db, device, metric, size, start, end)
    return [(datetime.fromtimestamp(b, UTC), *c) for b, c in sorted(cells.items())]


def test_retention_deletes_old_raw_readings_and_keeps_their_rollups(app, db: Session, world: World,  # noqa: ANN001
                                                                    gateway: GatewayInfo) -> None:
    device = world.devices_a[0]
    service.map_device(db, gateway_id=gateway.id, device_key="c702", device_id=device, actor=Actor.system("t"))
    db.commit()
    now = T0 + timedelta(days=40)
    old = [("c702", "temp_c", float(i), T0 + timedelta(minutes=i)) for i in range(5)]
    new = [("c702", "temp_c", float(i), now - timedelta(days=1, minutes=i)) for i in range(5)]
    _ingest(db, gateway, 0, old + new)
    deleted = apply_retention(app.state.sessionmaker, Retention(raw_days=30, minute_days=35, hour_days=0), now=now)
    assert deleted == {"reading": 5, "reading_rollup_1m": 5, "reading_rollup_1h": 0}
    db.rollback()
    assert db.execute(select(func.count()).select_from(Reading)).scalar_one() == 5
    assert db.execute(select(func.count()).select_from(ReadingRollupMinute)).scalar_one() == 5
    # The old data is still charted hourly from its rollup though its raw readings are gone.
    hourly = SqlTimeSeriesStore(db).query(device, "temp_c", T0, T0 + timedelta(hours=1), 3600)
    assert [(p.count, p.min, p.max) for p in hourly] == [(5, 0.0, 4.0)]
