"""InfluxDB behind the TimeSeriesStore interface: readings go to a bucket instead of the SQL `reading` table.

Chosen by MEDFIX_INFLUX_URL (cloud.telemetry.store.timeseries_store); docs/timeseries.md has the whole story.

What lives where: InfluxDB keeps the readings; SQL keeps everything else, including the ingest ledger (a batch
is stored once), the device-key mappings and the events. Nothing is written to both.

Data model (one point per reading, time in ns):
    reading,gateway_id=<id>,device_key=<key>,metric=<name>,quality=<good|uncertain|bad>[,unit=<unit>]
        value=<float> | value_text="<text>"
(gateway_id, device_key, metric, time) is the reading's identity, the same one the SQL store's unique key is
built from, so a re-sent reading lands on its own point again (InfluxDB overwrites it) and is never counted
twice. The registry device is deliberately not a tag: a key's readings belong to the device the key is mapped
to when they are read (gateway_device in SQL). That is how readings stored before a mapping follow it, without
rewriting points, and why a reading re-sent after a mapping still meets its first copy.

Reads are Flux: raw points over [start, stop), and buckets via aggregateWindow (count/sum/min/max) aligned to
the epoch like the SQL store's. There are no rollup tables here: InfluxDB downsamples at query time, and the
bucket's retention period replaces the raw-reading retention job.
"""

from __future__ import annotations

import base64
import logging
import math
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

import urllib3
from influxdb_client import InfluxDBClient
from influxdb_client.client.exceptions import InfluxDBError
from influxdb_client.client.flux_table import FluxRecord, TableList
from influxdb_client.client.write.point import Point as LinePoint
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client.domain.write_precision import WritePrecision
from influxdb_client.rest import ApiException
from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.config import Settings
from cloud.telemetry.models import GatewayDevice
from cloud.telemetry.series import MAX_POINTS, MetricSummary, Point, ReadingRow, TimeSeriesUnavailable

log = logging.getLogger("medfix.telemetry.influx")

MEASUREMENT = "reading"
WRITE_CHUNK = 5_000  # lines per write request
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Every instant InfluxDB can hold (int64 ns), for "all time" reads: a reading stamped ahead of the cloud's clock
# is still listed, as the SQL store lists it.
ALL_TIME = (EPOCH, datetime(2262, 4, 11, tzinfo=UTC))
ENCODED = "b64:"
_AWKWARD = ("\n", "\r", "\t")
# What an unreachable, timed-out or refusing server raises through the client.
_FAILURES = (ApiException, InfluxDBError, urllib3.exceptions.HTTPError, OSError)


# --- encoding ---------------------------------------------------------------------------------------


def encode_text(value: str) -> str:
    """value as a tag or string field carries it unchanged; line protocol cannot, so those go as base64.

    Control characters, a trailing backslash and the empty string cannot round-trip through line protocol;
    such a value (or one that looks encoded already) is stored as 'b64:' + urlsafe base64 of its UTF-8.
    """
    if value and not value.startswith(ENCODED) and not value.endswith("\\") and not any(c in value for c in _AWKWARD):
        return value
    return ENCODED + base64.urlsafe_b64encode(value.encode()).decode("ascii")


def decode_text(value: str) -> str:
    """The original of an encode_text() result."""
    if value.startswith(ENCODED):
        return base64.urlsafe_b64decode(value[len(ENCODED):].encode("ascii")).decode()
    return value


def epoch_ns(moment: datetime) -> int:
    """Nanoseconds since 1970 of a timestamp (naive = UTC), exactly (no float rounding)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - EPOCH) // timedelta(microseconds=1) * 1000


def to_line(row: ReadingRow) -> str:
    """One reading as a line-protocol line (see the module docstring for the schema)."""
    point = (LinePoint(MEASUREMENT)
             .tag("gateway_id", str(row.gateway_id))
             .tag("device_key", encode_text(row.device_key))
             .tag("metric", encode_text(row.metric))
             .tag("quality", row.quality))
    if row.unit is not None:
        point.tag("unit", encode_text(row.unit))
    if row.value_num is not None:
        point.field("value", float(row.value_num))
    else:
        point.field("value_text", encode_text(row.value_text or ""))
    point.time(epoch_ns(row.observed_at), WritePrecision.NS)
    return str(point.to_line_protocol())


def flux_string(value: str) -> str:
    """A Flux string literal of value (quotes, backslashes and interpolation escaped)."""
    escaped = (value.replace("\\", "\\\\").replace('"', '\\"').replace("${", "\\${")
               .replace("\n", "\\n").replace("\r", "\\r").replace("\t", "\\t"))
    return f'"{escaped}"'


def flux_time(moment: datetime) -> str:
    """A Flux time literal (RFC 3339, UTC, microseconds) of a timestamp (naive = UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _bucket_of(moment: datetime, size_s: int) -> int:
    # The epoch-aligned bucket (in seconds) a window start falls in; aggregateWindow clamps the first window's
    # start to the range start, so it is floored back to the bucket it belongs to.
    return (moment - EPOCH) // timedelta(seconds=1) // size_s * size_s


# --- client -----------------------------------------------------------------------------------------


@lru_cache(maxsize=4)
def client_for(url: str, token: str, org: str, timeout_s: float) -> InfluxDBClient:
    """One client (and HTTP connection pool) per server for the process; no client-side retries."""
    # Retries are the edge's job: a failed write must fail the ingest request quickly so the batch is re-sent.
    return InfluxDBClient(url=url, token=token, org=org, timeout=int(timeout_s * 1000), retries=False)


class InfluxTimeSeriesStore:
    """TimeSeriesStore on an InfluxDB bucket; the SQL session is used only to resolve device mappings."""

    def __init__(self, session: Session, client: InfluxDBClient, *, bucket: str, org: str) -> None:
        self.session = session
        self.client = client
        self.bucket = bucket
        self.org = org

    @classmethod
    def from_settings(cls, session: Session, settings: Settings) -> InfluxTimeSeriesStore:
        """The store MEDFIX_INFLUX_URL, _TOKEN, _ORG and _BUCKET describe (InfluxDB 1.8: org '-')."""
        org = settings.influx_org or "-"
        client = client_for(settings.influx_url, settings.influx_token, org, settings.influx_timeout_s)
        return cls(session, client, bucket=settings.influx_bucket, org=org)

    # --- writes -------------------------------------------------------------------------------------

    def write(self, readings: Sequence[ReadingRow]) -> None:
        """Write every reading; a re-sent one overwrites its own point. Any failure: TimeSeriesUnavailable."""
        if not readings:
            return
        lines = [to_line(r) for r in readings]
        write_api = self.client.write_api(write_options=SYNCHRONOUS)
        try:
            for i in range(0, len(lines), WRITE_CHUNK):
                write_api.write(bucket=self.bucket, org=self.org, record=lines[i:i + WRITE_CHUNK],
                                write_precision=WritePrecision.NS)
        except _FAILURES as exc:
            # Chunks already written are harmless: the re-sent batch overwrites them with the same points.
            raise _unavailable("store the readings", exc, "nothing was stored, send the batch again later") from exc

    # --- reads --------------------------------------------------------------------------------------

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
        if bucket_seconds is not None and bucket_seconds < 1:
            raise ValueError("bucket_seconds must be at least 1")
        source = self._source(device_id, start, end, metric)
        if source is None:
            return []
        if bucket_seconds is None:
            return self._raw(source, limit)
        return self._buckets(source, int(bucket_seconds), limit)

    def _raw(self, source: str, limit: int) -> list[Point]:
        # Numbers and texts are separate fields of different types, so each is sorted and limited on its own
        # and the two are merged here (every reading is exactly one of them).
        # keep() before group(): series with and without a unit tag then share one schema.
        n = int(limit)
        merged = 'keep(columns: ["_start", "_stop", "_time", "_value", "_field", "quality"]) |> group()'
        flux = "\n".join([
            f"data = {source}",
            f'data |> filter(fn: (r) => r._field == "value") |> {merged} |> sort(columns: ["_time"]) '
            f'|> limit(n: {n}) |> yield(name: "num")',
            f'data |> filter(fn: (r) => r._field == "value_text") |> {merged} |> sort(columns: ["_time"]) '
            f'|> limit(n: {n}) |> yield(name: "text")',
        ])
        points: list[Point] = []
        for record in _records(self._query(flux)):
            value = record.get_value()
            quality = record.values.get("quality")
            at = _time(record)
            if record.get_field() == "value":
                num = float(value)
                points.append(Point(at=at, value=num, min=num, max=num, count=1, quality=quality))
            else:
                points.append(Point(at=at, value=None, min=None, max=None, count=1, text=decode_text(str(value)),
                                    quality=quality))
        points.sort(key=lambda p: p.at)  # stable: ties keep the server's order
        return points[:n]

    def _buckets(self, source: str, size_s: int, limit: int) -> list[Point]:
        # Bad-quality samples and text values would poison an average (as in the SQL store); raw reads show them.
        n = int(limit)
        lines = [f'data = {source} |> filter(fn: (r) => r._field == "value" and r.quality != "bad")'
                 ' |> keep(columns: ["_start", "_stop", "_time", "_value"]) |> group()']
        for fn in ("count", "sum", "min", "max"):
            lines.append(f'data |> aggregateWindow(every: {size_s}s, fn: {fn}, createEmpty: false, timeSrc: "_start")'
                         f' |> limit(n: {n + 1}) |> yield(name: "{fn}")')
        cells: dict[int, dict[str, float]] = {}
        for record in _records(self._query("\n".join(lines))):
            cell = cells.setdefault(_bucket_of(_time(record), size_s), {})
            cell[str(record.values.get("result"))] = float(record.get_value())
        points = []
        for b, cell in sorted(cells.items())[:n]:
            count = int(cell.get("count", 0))
            if count:
                points.append(Point(at=datetime.fromtimestamp(b, UTC), value=cell["sum"] / count, min=cell["min"],
                                    max=cell["max"], count=count))
        return points

    def recent(self, device_id: int, metric: str, after: datetime | None, before: datetime, *,
               limit: int) -> list[tuple[datetime, float]]:
        """The newest `limit` good, finite numeric readings in (after, before), oldest first (the scorer's replay)."""
        if limit <= 0:
            return []
        # range() includes its start; readings carry microseconds, so one microsecond on excludes `after` itself.
        start = after + timedelta(microseconds=1) if after is not None else EPOCH
        if start >= before:
            return []
        source = self._source(device_id, start, before, metric)
        if source is None:
            return []
        flux = (f'{source} |> filter(fn: (r) => r._field == "value" and r.quality == "good")'
                ' |> keep(columns: ["_start", "_stop", "_time", "_value"]) |> group()'
                f' |> sort(columns: ["_time"], desc: true) |> limit(n: {int(limit)})')
        found = [(_time(record), float(record.get_value())) for record in _records(self._query(flux))]
        return sorted((at, v) for at, v in found if math.isfinite(v))

    def list_metrics(self, device_id: int) -> list[MetricSummary]:
        """Every metric of a device with its newest value, by name."""
        source = self._source(device_id, *ALL_TIME)
        if source is None:
            return []
        flux = "\n".join([
            f'data = {source} |> filter(fn: (r) => r._field == "value" or r._field == "value_text")',
            'data |> count() |> yield(name: "count")',
            'data |> last() |> yield(name: "last")',
        ])
        counts: dict[str, int] = {}
        newest: dict[str, FluxRecord] = {}
        for record in _records(self._query(flux)):
            metric = decode_text(str(record.values["metric"]))
            if record.values.get("result") == "count":
                counts[metric] = counts.get(metric, 0) + int(record.get_value())
            else:
                seen = newest.get(metric)
                if seen is None or _time(record) > _time(seen):
                    newest[metric] = record
        summaries = []
        for metric in sorted(newest):
            record = newest[metric]
            unit = record.values.get("unit")
            is_num = record.get_field() == "value"
            summaries.append(MetricSummary(
                metric=metric, unit=decode_text(unit) if unit is not None else None, last_at=_time(record),
                last_value=float(record.get_value()) if is_num else None,
                last_text=None if is_num else decode_text(str(record.get_value())), count=counts.get(metric, 0)))
        return summaries

    # --- helpers ------------------------------------------------------------------------------------

    def _keys(self, device_id: int) -> list[tuple[int, str]]:
        """The (gateway, device key) pairs mapped to a device now: whose readings are this device's."""
        rows = self.session.execute(select(GatewayDevice.gateway_id, GatewayDevice.device_key).where(
            GatewayDevice.device_id == device_id).order_by(GatewayDevice.gateway_id, GatewayDevice.device_key))
        return [(int(g), str(k)) for g, k in rows]

    def _source(self, device_id: int, start: datetime, end: datetime, metric: str | None = None) -> str | None:
        """The Flux stream of a device's readings in [start, end) (of one metric), or None: it has no keys."""
        keys = self._keys(device_id)
        if not keys:
            return None
        which = " or ".join(f"(r.gateway_id == {flux_string(str(g))} and r.device_key == {flux_string(encode_text(k))})"
                            for g, k in keys)
        wanted = f"r._measurement == {flux_string(MEASUREMENT)}"
        if metric is not None:
            wanted += f" and r.metric == {flux_string(encode_text(metric))}"
        return (f"from(bucket: {flux_string(self.bucket)})"
                f" |> range(start: {flux_time(start)}, stop: {flux_time(end)})"
                f" |> filter(fn: (r) => {wanted})"
                f" |> filter(fn: (r) => {which})")

    def _query(self, flux: str) -> TableList:
        try:
            return self.client.query_api().query(flux, org=self.org)
        except _FAILURES as exc:
            raise _unavailable("read the readings", exc, "try again later") from exc


def _records(tables: Iterable[Any]) -> Iterable[FluxRecord]:
    for table in tables:
        yield from table.records


def _time(record: FluxRecord) -> datetime:
    moment = record.get_time()
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _unavailable(doing: str, exc: BaseException, advice: str) -> TimeSeriesUnavailable:
    log.warning("InfluxDB could not %s: %s", doing, exc)
    status = getattr(exc, "status", None)
    reason = f"HTTP {status}" if status else type(exc).__name__
    return TimeSeriesUnavailable(f"the time-series store (InfluxDB) could not {doing} ({reason}); {advice}")
