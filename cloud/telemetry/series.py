"""The time-series store's interface and the values it takes and gives (cloud/telemetry/store.py chooses a backend).

A leaf module: the SQL store, its bulk writer and the InfluxDB store all build on it, so none imports another for
its types.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple, Protocol

from cloud.errors import DomainError

MAX_POINTS = 10_000


class ReadingRow(NamedTuple):
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

    def recent(self, device_id: int, metric: str, after: datetime | None, before: datetime, *,
               limit: int) -> list[tuple[datetime, float]]:
        """The newest `limit` good, finite numeric readings in (after, before), oldest first (the scorer's replay)."""
        ...


class TimeSeriesUnavailable(DomainError):
    """The time-series backend cannot be reached or refused the request: 503, try again later.

    During an ingest this rolls the whole transaction back (ledger row included), so the edge keeps the batch
    and re-sends it: nothing is lost, and nothing is stored twice.
    """

    status_code = 503
