"""Bulk writes of readings and their 1-minute / 1-hour rollups, in the caller's transaction.

Why not the ORM: a batch is thousands of rows; per-row objects, per-row parameter sets and per-row round trips
were most of the ingest's time. PostgreSQL gets one statement per chunk (the rows as one JSON document, the new
ones RETURNING'd into the rollup upserts in the same statement); SQLite gets the driver's executemany, which is C.

Only rows that were really new reach the rollups: a re-sent reading (same gateway, instant, device key and
metric: its natural key, UNIQUE since migration 0011) is skipped and must not be counted twice. On PostgreSQL the
INSERT's RETURNING says which rows went in; on SQLite the transaction already holds the single write lock (the
ledger row went in first), so the readings already stored in the batch's time span can be looked up first
without a race (one range scan of the unique index, which leads with the gateway and the instant).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

import orjson
from sqlalchemy import text
from sqlalchemy.orm import Session

from cloud.telemetry.models import Reading

if TYPE_CHECKING:
    from cloud.telemetry.series import ReadingRow

CHUNK = 5_000  # rows per statement: bounded memory and statement size, few round trips
ROLLUPS = (("reading_rollup_1m", 60), ("reading_rollup_1h", 3600))
COLUMNS = ("gateway_id", "device_id", "device_key", "metric", "observed_at", "value_num", "value_text", "unit",
           "quality")
NATURAL_KEY = "gateway_id, observed_at, device_key, metric"  # the UNIQUE constraint a re-sent reading hits


def epoch_sql(dialect: str) -> str:
    """observed_at as whole seconds since 1970 (an integer): every bucketing, raw or rolled up, uses this."""
    if dialect == "postgresql":
        return "CAST(floor(extract(epoch FROM observed_at)) AS bigint)"
    # SQLite keeps timestamps as UTC text; strftime('%s') reads them as UTC.
    return "CAST(strftime('%s', observed_at) AS INTEGER)"


_PG_ROLLUP = """{name} AS (
  INSERT INTO {table} AS r (device_id, metric, bucket, count, sum, min, max)
  SELECT device_id, metric, s / {size} * {size}, count(*), sum(value_num), min(value_num), max(value_num)
  FROM good GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
  ON CONFLICT (device_id, metric, bucket) DO UPDATE SET count = r.count + excluded.count,
    sum = r.sum + excluded.sum, min = least(r.min, excluded.min), max = greatest(r.max, excluded.max)
  RETURNING 1
)"""

# The rows travel as one JSON document (orjson-encoded here, parsed by the server) rather than as arrays, whose
# element-by-element adaptation in the driver cost more than the insert itself. Floats keep their shortest
# round-trip form; timestamps go as RFC 3339 with their offset.
_PG_INSERT = """WITH ins AS (
  INSERT INTO reading (gateway_id, device_id, device_key, metric, observed_at, value_num, value_text, unit, quality)
  SELECT :gateway_id, x.d, x.k, x.m, x.t, x.v, x.x, x.u, x.q
  FROM json_to_recordset(CAST(:rows AS json))
    AS x(d integer, k varchar, m varchar, t timestamptz, v float8, x text, u varchar, q varchar)
  ON CONFLICT (""" + NATURAL_KEY + """) DO NOTHING
  RETURNING device_id, metric, observed_at, value_num, quality
), good AS (
  SELECT device_id, metric, """ + epoch_sql("postgresql") + """ AS s, value_num FROM ins
  WHERE device_id IS NOT NULL AND value_num IS NOT NULL AND quality <> 'bad'
), """ + ",\n".join(_PG_ROLLUP.format(name=f"r{i}", table=t, size=n) for i, (t, n) in enumerate(ROLLUPS)) + """
SELECT (SELECT count(*) FROM ins)"""

_SQLITE_INSERT = (f"INSERT INTO reading ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))}) "
                  f"ON CONFLICT ({NATURAL_KEY}) DO NOTHING")
_SQLITE_STORED = ("SELECT observed_at, device_key, metric FROM reading "
                  "WHERE gateway_id = ? AND observed_at >= ? AND observed_at <= ?")
_SQLITE_ROLLUP = ("INSERT INTO {table} (device_id, metric, bucket, count, sum, min, max) VALUES (?, ?, ?, ?, ?, ?, ?) "
                  "ON CONFLICT (device_id, metric, bucket) DO UPDATE SET count = count + excluded.count, "
                  "sum = sum + excluded.sum, min = min(min, excluded.min), max = max(max, excluded.max)")


def _unique(rows: Sequence[ReadingRow]) -> list[ReadingRow]:
    # A batch may carry one sample twice (same device, metric and instant); the first one wins, as the row-by-row
    # insert always did. (PostgreSQL would refuse to touch one row twice in one INSERT ... ON CONFLICT.)
    seen: set[tuple[int, datetime, str, str]] = set()
    out = []
    for row in rows:
        key = (row.gateway_id, row.observed_at, row.device_key, row.metric)
        if key not in seen:
            seen.add(key)
            out.append(row)
    return out


def write_readings(session: Session, rows: Sequence[ReadingRow]) -> int:
    """Insert rows (skipping keys already stored) and add the new ones to the rollups; returns how many were new."""
    if not rows:
        return 0
    if session.get_bind().dialect.name == "postgresql":
        # No pass over the rows here: a sample repeated within the statement conflicts with the copy inserted
        # just before it (DO NOTHING, in document order: the first one wins) and so is not RETURNING'd twice.
        return sum(_write_pg(session, rows[i:i + CHUNK]) for i in range(0, len(rows), CHUNK))
    unique = _unique(rows)
    return sum(_write_sqlite(session, unique[i:i + CHUNK]) for i in range(0, len(unique), CHUNK))


def _write_pg(session: Session, rows: Sequence[ReadingRow]) -> int:
    gateways = {r.gateway_id for r in rows}
    if len(gateways) != 1:  # the ingest writes one gateway's batch; anything else goes gateway by gateway
        return sum(_write_pg(session, [r for r in rows if r.gateway_id == g]) for g in sorted(gateways))
    items = [{"d": r.device_id, "k": r.device_key, "m": r.metric, "t": r.observed_at, "v": r.value_num,
              "x": r.value_text, "u": r.unit, "q": r.quality} for r in rows]
    try:
        document = orjson.dumps(items).decode()
    except orjson.JSONEncodeError:  # text orjson refuses (a lone surrogate): let the stdlib say what it thinks
        document = json.dumps(items, ensure_ascii=False, default=datetime.isoformat)
    params = {"gateway_id": rows[0].gateway_id, "rows": document}
    return int(session.execute(text(_PG_INSERT), params).scalar_one())


def _write_sqlite(session: Session, rows: Sequence[ReadingRow]) -> int:
    cursor = session.connection().connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        # Timestamps are stored as fixed-width UTC text, so text order is time order and equal instants are
        # equal strings: the batch's span is one range of the unique index, compared as the stored text.
        when = _sqlite_times(session, {r.observed_at for r in rows})
        spans: dict[int, tuple[str, str]] = {}
        for r in rows:
            t = when[r.observed_at]
            span = spans.get(r.gateway_id)
            if span is None:
                spans[r.gateway_id] = (t, t)
            elif t < span[0] or t > span[1]:
                spans[r.gateway_id] = (min(span[0], t), max(span[1], t))
        stored: set[tuple[int, str, str, str]] = set()
        for gateway_id, (lo, hi) in spans.items():
            cursor.execute(_SQLITE_STORED, (gateway_id, lo, hi))
            stored.update((gateway_id, t, k, m) for t, k, m in cursor.fetchall())
        new = [r for r in rows if (r.gateway_id, when[r.observed_at], r.device_key, r.metric) not in stored]
        if not new:
            return 0
        cursor.executemany(_SQLITE_INSERT, [
            (r.gateway_id, r.device_id, r.device_key, r.metric, when[r.observed_at], r.value_num, r.value_text,
             r.unit, r.quality) for r in new])
        buckets = aggregate((r.device_id, r.metric, r.observed_at, r.value_num, r.quality) for r in new)
        for table, size in ROLLUPS:
            cursor.executemany(_SQLITE_ROLLUP.format(table=table), buckets.get(size, []))
        return len(new)
    finally:
        cursor.close()


def _sqlite_times(session: Session, moments: set[datetime]) -> dict[datetime, str]:
    # The column type's own bind processing, so the stored text is byte-for-byte what the ORM would write
    # (queries compare these strings).
    process = Reading.__table__.c.observed_at.type._cached_bind_processor(session.get_bind().dialect)
    return {m: process(m) if process else str(m) for m in moments}


def aggregate(samples: Iterable[tuple[int | None, str, datetime, float | None, str]],
              ) -> dict[int, list[tuple[int, str, int, int, float, float, float]]]:
    """Rollup rows per bucket size from (device_id, metric, observed_at, value_num, quality) samples."""
    epochs: dict[datetime, int] = {}
    sums: dict[tuple[int, str, int], list[float]] = {}
    for device_id, metric, at, value, quality in samples:
        if device_id is None or value is None or quality == "bad" or not math.isfinite(value):
            continue
        t = epochs.get(at)
        if t is None:
            t = epochs[at] = math.floor(at.timestamp())
        cell = sums.get((device_id, metric, t - t % 60))
        if cell is None:
            sums[(device_id, metric, t - t % 60)] = [1, value, value, value]
        else:
            cell[0] += 1
            cell[1] += value
            cell[2] = min(cell[2], value)
            cell[3] = max(cell[3], value)
    out: dict[int, list[tuple[int, str, int, int, float, float, float]]] = {}
    for _table, size in ROLLUPS:
        merged: dict[tuple[int, str, int], list[float]] = {}
        for (device_id, metric, minute), (n, total, lo, hi) in sums.items():
            key = (device_id, metric, minute - minute % size)
            cell = merged.get(key)
            if cell is None:
                merged[key] = [n, total, lo, hi]
            else:
                cell[0] += n
                cell[1] += total
                cell[2] = min(cell[2], lo)
                cell[3] = max(cell[3], hi)
        out[size] = [(d, m, b, int(c[0]), c[1], c[2], c[3]) for (d, m, b), c in sorted(merged.items())]
    return out


def fold_mapped(session: Session, *, gateway_id: int, device_key: str, device_id: int) -> None:
    """Add a key's unmapped readings to device_id's rollups; call just before they get that device_id."""
    dialect = session.get_bind().dialect.name
    epoch = epoch_sql(dialect)
    least, greatest = ("least", "greatest") if dialect == "postgresql" else ("min", "max")
    for table, size in ROLLUPS:
        session.execute(text(
            f"INSERT INTO {table} AS r (device_id, metric, bucket, count, sum, min, max) "
            f"SELECT :device_id, metric, ({epoch} / {size}) * {size}, count(*), sum(value_num), min(value_num), "
            f"max(value_num) FROM reading WHERE gateway_id = :gateway_id AND device_key = :device_key "
            f"AND device_id IS NULL AND value_num IS NOT NULL AND quality <> 'bad' GROUP BY 2, 3 ORDER BY 2, 3 "
            f"ON CONFLICT (device_id, metric, bucket) DO UPDATE SET count = r.count + excluded.count, "
            f"sum = r.sum + excluded.sum, min = {least}(r.min, excluded.min), max = {greatest}(r.max, excluded.max)"
        ), {"device_id": device_id, "gateway_id": gateway_id, "device_key": device_key})
