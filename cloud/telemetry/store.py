"""The time-series store behind one interface: readings in, raw or downsampled points out.

SqlTimeSeriesStore keeps readings in the SQL `reading` table (SQLite, PostgreSQL). An InfluxDB store can
take its place later (MEDFIX_INFLUX_URL) without its callers changing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import BigInteger, ColumnElement, and_, cast, extract, func, literal_column, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from cloud.db import Base
from cloud.telemetry.models import Reading

WRITE_CHUNK = 500
MAX_POINTS = 10_000


@dataclass(frozen=True)
class ReadingRow:
    """One sample as the store writes it: wire reading plus the cloud's gateway and device ids."""

    gateway_id: int
    device_id: int | None
    device_key: str
    metric: str
    observed_at: datetime
    value_num: float | None
    value_text: str | None
    unit: str | None
    quality: str
    idempotency_key: str


@dataclass(frozen=True)
class Point:
    """A raw sample (min = max = value, count 1) or one bucket of a downsampled series (value = average)."""

    at: datetime
    value: float | None
    min: float | None
    max: float | None
    count: int
    text: str | None = None
    quality: str | None = None


@dataclass(frozen=True)
class MetricSummary:
    """A metric a device reports, with its newest value."""

    metric: str
    unit: str | None
    last_at: datetime
    last_value: float | None
    last_text: str | None
    count: int


class TimeSeriesStore(Protocol):
    """Where readings live; every backend answers the same queries the same way."""

    def write(self, readings: Sequence[ReadingRow]) -> None:
        """Store readings; one already stored (same gateway and reading key) is ignored, never duplicated."""
        ...

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
        ...

    def list_metrics(self, device_id: int) -> list[MetricSummary]:
        """Every metric of a device with its newest value, by name."""
        ...


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


def _epoch_seconds(column: Any, dialect: str) -> ColumnElement[int]:
    # Whole seconds since 1970 as an integer, so bucketing is the same integer arithmetic on both backends.
    if dialect == "postgresql":
        return cast(func.floor(extract("epoch", column)), BigInteger)
    # SQLite keeps timestamps as UTC text; strftime('%s') reads them as UTC.
    return cast(func.strftime("%s", column), BigInteger)


class SqlTimeSeriesStore:
    """TimeSeriesStore on the SQL `reading` table, in the caller's session and transaction."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def write(self, readings: Sequence[ReadingRow]) -> None:
        """Store readings; re-sent ones (same gateway and reading key) are skipped by the UNIQUE constraint."""
        insert_ignore(self.session, Reading, (asdict(r) for r in readings), ["gateway_id", "idempotency_key"])

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
        dialect = self.session.get_bind().dialect.name
        # A literal (an int, so safe) rather than a bound parameter: PostgreSQL must see the GROUP BY
        # expression and the selected one as identical, and two placeholders are not.
        size = literal_column(str(int(bucket_seconds)), BigInteger)
        bucket = ((_epoch_seconds(Reading.observed_at, dialect) // size) * size).label("bucket")
        stmt = (
            select(bucket, func.avg(Reading.value_num), func.min(Reading.value_num), func.max(Reading.value_num),
                   func.count(Reading.value_num))
            # Bad-quality samples and text values would poison an average; raw queries still show them.
            .where(window, Reading.value_num.is_not(None), Reading.quality != "bad")
            .group_by(bucket)
            .order_by(bucket)
            .limit(limit)
        )
        return [
            Point(at=datetime.fromtimestamp(int(start_s), UTC), value=float(avg), min=float(lo), max=float(hi),
                  count=int(n))
            for start_s, avg, lo, hi, n in self.session.execute(stmt)
        ]

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
