"""The time-series store behind one interface: readings in, raw or downsampled points out.

SqlTimeSeriesStore keeps readings in the SQL `reading` table (SQLite, PostgreSQL); InfluxTimeSeriesStore
(cloud/telemetry/influx.py) keeps them in InfluxDB when MEDFIX_INFLUX_URL is set. `timeseries_store()` is the
one place that chooses; docs/timeseries.md says what is stored where. The interface and its values are in
cloud/telemetry/series.py.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, and_, func, literal_column, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from cloud.config import Settings
from cloud.db import Base
from cloud.telemetry import bulk
from cloud.telemetry.models import Reading, ReadingRollupHour, ReadingRollupMinute
from cloud.telemetry.series import MAX_POINTS, MetricSummary, Point, ReadingRow, TimeSeriesStore

WRITE_CHUNK = 500


def timeseries_store(session: Session, settings: Settings) -> TimeSeriesStore:
    """The store the settings choose: InfluxDB when MEDFIX_INFLUX_URL is set, otherwise the SQL tables."""
    if settings.influx_url:
        from cloud.telemetry.influx import InfluxTimeSeriesStore  # only a deployment with InfluxDB loads its client

        return InfluxTimeSeriesStore.from_settings(session, settings)
    return SqlTimeSeriesStore(session)


def insert_ignore(session: Session, model: type[Base], rows: Iterable[dict[str, Any]], conflict: list[str]) -> None:
    """INSERT rows, skipping any that clash with the unique constraint on conflict (SQLite and PostgreSQL)."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= WRITE_CHUNK:
            session.execute(insert(model).on_conflict_do_nothing(index_elements=conflict), batch)
            batch = []
    if batch:
        session.execute(insert(model).on_conflict_do_nothing(index_elements=conflict), batch)


def _at(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def _merge(cells: dict[int, list[float]], rows: Iterable[tuple[int, int, float, float, float]]) -> None:
    # Partial aggregates of one bucket (rollup part and raw edge) combine exactly: counts and sums add.
    for b, n, total, lo, hi in rows:
        cell = cells.get(b)
        if cell is None:
            cells[b] = [n, total, lo, hi]
        else:
            cell[0] += n
            cell[1] += total
            cell[2] = min(cell[2], lo)
            cell[3] = max(cell[3], hi)


class SqlTimeSeriesStore:
    """TimeSeriesStore on the SQL `reading` table, in the caller's session and transaction."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def write(self, readings: Sequence[ReadingRow]) -> None:
        """Store readings; re-sent ones (same gateway and reading key) are skipped by the UNIQUE constraint."""
        # Bulk statements instead of the ORM: the rollups see exactly the rows that were new (cloud/telemetry/bulk).
        bulk.write_readings(self.session, readings)

    def query(
        self,
        device_id: int,
        metric: str,
        start: datetime,
        end: datetime,
        bucket_seconds: int | None = None,
        *,
        limit: int = MAX_POINTS,
    ) -> list[Point]:
        """Points of one metric in [start, end): raw, or per epoch-aligned bucket (avg/min/max/count)."""
        window = and_(
            Reading.device_id == device_id,
            Reading.metric == metric,
            Reading.observed_at >= start,
            Reading.observed_at < end,
        )
        if bucket_seconds is None:
            stmt = (
                select(Reading.observed_at, Reading.value_num, Reading.value_text, Reading.quality)
                .where(window)
                .order_by(Reading.observed_at, Reading.id)
                .limit(limit)
            )
            return [
                Point(at=at, value=num, min=num, max=num, count=1, text=text, quality=quality)
                for at, num, text, quality in self.session.execute(stmt)
            ]
        if bucket_seconds < 1:
            raise ValueError("bucket_seconds must be at least 1")
        cells: dict[int, list[float]] = {}
        rollup = ReadingRollupHour if bucket_seconds % 3600 == 0 else ReadingRollupMinute
        unit = 3600 if rollup is ReadingRollupHour else 60
        if bucket_seconds % 60:
            raw_parts = [(start, end)]
        else:
            # Whole rollup buckets inside [start, end) come from the rollup table; the partial ones at either
            # edge come from the raw readings, so the answer is the same as a raw query over [start, end).
            lo = math.ceil(start.timestamp() / unit) * unit
            hi = math.floor(end.timestamp() / unit) * unit
            if lo < hi:
                _merge(cells, self._rollup_buckets(rollup, device_id, metric, lo, hi, bucket_seconds, limit))
                raw_parts = [(start, min(end, _at(lo))), (max(start, _at(hi)), end)]
            else:
                raw_parts = [(start, end)]
        for part_start, part_end in raw_parts:
            if part_start < part_end:
                _merge(cells, self._raw_buckets(device_id, metric, part_start, part_end, bucket_seconds, limit))
        return [Point(at=_at(b), value=total / n, min=lo_, max=hi_, count=int(n))
                for b, (n, total, lo_, hi_) in sorted(cells.items())[:limit]]

    def _raw_buckets(self, device_id: int, metric: str, start: datetime, end: datetime, size_s: int,
                     limit: int) -> Iterable[tuple[int, int, float, float, float]]:
        """(bucket, count, sum, min, max) per epoch-aligned bucket from the raw readings."""
        dialect = self.session.get_bind().dialect.name
        # A literal (an int, so safe) rather than a bound parameter: PostgreSQL must see the GROUP BY
        # expression and the selected one as identical, and two placeholders are not.
        size = literal_column(str(int(size_s)), BigInteger)
        # The same epoch expression as the ingest's rollups (bulk.epoch_sql), so raw and rolled-up buckets agree.
        epoch = literal_column(bulk.epoch_sql(dialect), BigInteger)
        bucket = ((epoch // size) * size).label("bucket")
        stmt = (
            select(bucket, func.count(Reading.value_num), func.sum(Reading.value_num), func.min(Reading.value_num),
                   func.max(Reading.value_num))
            # Bad-quality samples and text values would poison an average; raw queries still show them.
            .where(Reading.device_id == device_id, Reading.metric == metric, Reading.observed_at >= start,
                   Reading.observed_at < end, Reading.value_num.is_not(None), Reading.quality != "bad")
            .group_by(bucket)
            .order_by(bucket)
            .limit(limit)
        )
        # value_num IS NOT NULL above: every aggregate is a number.
        return [(int(b), int(n), float(t or 0.0), float(lo or 0.0), float(hi or 0.0))
                for b, n, t, lo, hi in self.session.execute(stmt)]

    def _rollup_buckets(self, rollup: type[ReadingRollupMinute | ReadingRollupHour], device_id: int, metric: str,
                        lo: int, hi: int, size_s: int, limit: int) -> Iterable[tuple[int, int, float, float, float]]:
        """(bucket, count, sum, min, max) per bucket of size_s seconds from rollup buckets in [lo, hi)."""
        size = literal_column(str(int(size_s)), BigInteger)
        bucket = ((rollup.bucket // size) * size).label("bucket")
        stmt = (
            select(bucket, func.sum(rollup.count), func.sum(rollup.sum), func.min(rollup.min), func.max(rollup.max))
            .where(rollup.device_id == device_id, rollup.metric == metric, rollup.bucket >= lo, rollup.bucket < hi)
            .group_by(bucket)
            .order_by(bucket)
            .limit(limit)
        )
        return [(int(b), int(n), float(t), float(lo_), float(hi_))
                for b, n, t, lo_, hi_ in self.session.execute(stmt)]

    def list_metrics(self, device_id: int) -> list[MetricSummary]:
        """Every metric of a device with its newest value, by name."""
        newest = (
            select(Reading.metric, func.max(Reading.observed_at).label("last_at"), func.count().label("n"))
            .where(Reading.device_id == device_id)
            .group_by(Reading.metric)
            .subquery()
        )
        stmt = (
            select(Reading.metric, Reading.unit, Reading.observed_at, Reading.value_num, Reading.value_text,
                   newest.c.n)
            .join(newest, and_(Reading.metric == newest.c.metric, Reading.observed_at == newest.c.last_at))
            .where(Reading.device_id == device_id)
            .order_by(Reading.metric, Reading.id.desc())
        )
        summaries: dict[str, MetricSummary] = {}
        for metric, unit, at, num, text, n in self.session.execute(stmt):
            # Two gateways may report the same instant; the newest row wins.
            summaries.setdefault(metric, MetricSummary(metric=metric, unit=unit, last_at=at, last_value=num,
                                                       last_text=text, count=int(n)))
        return list(summaries.values())

    def recent(self, device_id: int, metric: str, after: datetime | None, before: datetime, *,
               limit: int) -> list[tuple[datetime, float]]:
        """The newest `limit` good, finite numeric readings in (after, before), oldest first (the scorer's replay)."""
        if limit <= 0:
            return []
        stmt = select(Reading.observed_at, Reading.value_num).where(
            Reading.device_id == device_id, Reading.metric == metric, Reading.quality == "good",
            Reading.value_num.is_not(None), Reading.observed_at < before)
        if after is not None:
            stmt = stmt.where(Reading.observed_at > after)
        found = self.session.execute(stmt.order_by(Reading.observed_at.desc()).limit(limit)).all()
        return [(at, float(v)) for at, v in reversed(found) if v is not None and math.isfinite(v)]
