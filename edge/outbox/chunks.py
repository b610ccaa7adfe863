"""How items are stored and sent: chunks of the items' wire JSON (zlib, one item per line) and frozen batches.

A chunk holds one append's run of one kind, retention and device (at most CHUNK_ITEMS items); a frozen batch keeps
the exact bytes the uplink sends (gzip JSON, spliced from the stored lines instead of re-serialising them) and
the (device, metric) streams it holds.
"""

from __future__ import annotations

import gzip
import json
import sqlite3
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from json.decoder import scanstring  # type: ignore[attr-defined]
from typing import Final

from edge.outbox.types import OutboxError
from protocols.telemetry import Batch, Event, Reading, RetentionClass

CHUNK_ITEMS: Final = 128  # items per stored chunk at most (a batch that cuts a chunk rewrites its rest)
_CHUNK_LEVEL: Final = 6  # zlib level of the stored chunks (level 1 saves ~10 us per 50 readings, costs ~2 % size)
_EMPTY_LISTS: Final = b'"readings":[],"events":[]'
_DEVICE_PREFIX: Final = '{"device_key":"'
_METRIC_PREFIX: Final = ',"metric":"'
# The models' own serializers: the same bytes as model_dump_json(), without its per-call Python overhead.
_READING_JSON: Final = Reading.__pydantic_serializer__.to_json
_EVENT_JSON: Final = Event.__pydantic_serializer__.to_json

ChunkRow = tuple[str, str, int, int, bytes, str | None]  # kind, retention, items, size, body, device


@dataclass(slots=True)
class Prepared:
    """One caller's items, encoded into chunk rows outside the lock."""

    rows: list[ChunkRow]
    clinical: int
    telemetry: int


def prepare(items: Iterable[Reading | Event]) -> Prepared:
    """Encode one caller's items into chunk rows: runs of one kind, retention and device, at most CHUNK_ITEMS each."""
    prepared = Prepared([], 0, 0)
    lines: list[bytes] = []
    run: tuple[str, str, str] | None = None  # kind, retention, device: a chunk holds one device's items

    def flush() -> None:
        if run is not None and lines:
            size, body = chunk_body(lines)
            prepared.rows.append((run[0], run[1], len(lines), size, body, run[2]))
            if run[1] == RetentionClass.CLINICAL.value:
                prepared.clinical += len(lines)
            else:
                prepared.telemetry += len(lines)
        lines.clear()

    telemetry = RetentionClass.TELEMETRY.value
    for item in items:
        key: tuple[str, str, str]
        if isinstance(item, Reading):
            key, line = ("reading", telemetry, item.device_key), _READING_JSON(item)
        elif isinstance(item, Event):
            key, line = ("event", item.retention.value, item.device_key), _EVENT_JSON(item)
        else:
            raise TypeError(f"outbox items are Reading or Event, got {type(item).__name__}")
        if key != run or len(lines) >= CHUNK_ITEMS:
            flush()
            run = key
        # pydantic's JSON never holds a raw newline (strings escape it), so one item per line is unambiguous.
        lines.append(line)
    flush()
    return prepared


def chunk_body(lines: list[bytes]) -> tuple[int, bytes]:
    """(bytes of the items' JSON, the stored body) of a chunk holding these lines; _chunk_lines reads it back."""
    raw = b"\n".join(lines)
    return len(raw), zlib.compress(raw, _CHUNK_LEVEL)


def chunk_lines(body: bytes) -> list[bytes]:
    """The items' JSON lines of a stored chunk body."""
    return zlib.decompress(body).split(b"\n")


def stream_of(raw: bytes, kind: str) -> tuple[str, str]:
    """(device_key, metric) of a reading's JSON, (device_key, "") of an event's, without a full parse."""
    line = raw.decode("utf-8")
    if line.startswith(_DEVICE_PREFIX):
        device, end = scanstring(line, len(_DEVICE_PREFIX))
        if kind != "reading":
            return device, ""
        if line.startswith(_METRIC_PREFIX, end):
            metric, _ = scanstring(line, end + len(_METRIC_PREFIX))
            return device, metric
    data = json.loads(line)
    return str(data["device_key"]), str(data["metric"]) if kind == "reading" else ""


def wire_bytes(
    gateway_id: str, stream_id: str, sequence: int, created: datetime, dropped_total: int,
    readings: list[bytes], events: list[bytes],
) -> bytes:
    """encode_batch(Batch(...), compress=True), built from the items' stored JSON instead of re-serialising them."""
    header = Batch(gateway_id=gateway_id, stream_id=stream_id, sequence=sequence, created_at=created,
                   telemetry_dropped_total=dropped_total).model_dump_json().encode("utf-8")
    if header.count(_EMPTY_LISTS) != 1:
        raise OutboxError("unexpected batch JSON layout")  # the splice below would be wrong; never silently
    lists = b'"readings":[' + b",".join(readings) + b'],"events":[' + b",".join(events) + b"]"
    return gzip.compress(header.replace(_EMPTY_LISTS, lists), compresslevel=6, mtime=0)


def insert_frozen(
    conn: sqlite3.Connection, sequence: int, gateway_id: str, created_at: str, readings: int, events: int,
    clinical: int, size: int, oldest_appended_at: float, streams: list[tuple[str, str]], wire: bytes,
) -> None:
    """Store a frozen batch (its streams as the store's _load_batch reads them back)."""
    conn.execute(
        "INSERT INTO outbox_frozen (sequence, gateway_id, created_at, readings, events, clinical, size, "
        "oldest_appended_at, streams, wire) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (sequence, gateway_id, created_at, readings, events, clinical, size, oldest_appended_at,
         zlib.compress(json.dumps(streams).encode("utf-8")), wire),
    )
