"""The outbox file's tables, and the upgrade of a schema-1 file (a row per item) to chunks and frozen batches."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable
from datetime import datetime
from os import PathLike
from typing import Final

from edge.outbox.chunks import CHUNK_ITEMS, chunk_body, insert_frozen, stream_of, wire_bytes
from edge.outbox.types import OutboxError
from protocols.telemetry import RetentionClass

SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS outbox_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS outbox_counter (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS outbox_chunk (
    -- AUTOINCREMENT: ids are never reused after deletes, so id order is append order forever.
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL CHECK (kind IN ('reading', 'event')),
    retention TEXT NOT NULL CHECK (retention IN ('clinical', 'telemetry')),
    items INTEGER NOT NULL CHECK (items > 0),
    size INTEGER NOT NULL,  -- bytes of the items' JSON, uncompressed
    appended_at REAL NOT NULL,
    body BLOB NOT NULL,  -- zlib of the items' wire JSON, one item per line
    device TEXT  -- the device_key of every item, or NULL when they are of several devices (or unknown)
);
CREATE INDEX IF NOT EXISTS ix_outbox_chunk_retention ON outbox_chunk (retention, id);
CREATE TABLE IF NOT EXISTS outbox_frozen (
    sequence INTEGER PRIMARY KEY,
    gateway_id TEXT NOT NULL,
    created_at TEXT NOT NULL,
    readings INTEGER NOT NULL,
    events INTEGER NOT NULL,
    clinical INTEGER NOT NULL,
    size INTEGER NOT NULL,  -- bytes of the items' JSON, uncompressed
    oldest_appended_at REAL NOT NULL,
    streams BLOB NOT NULL,  -- zlib of a JSON list of [device_key, metric] ("" for events)
    wire BLOB NOT NULL  -- the batch as sent: gzip-compressed JSON, byte for byte on every send
);
"""
SCHEMA_VERSION: Final = "2"
FIRST_SEQUENCE: Final = 1
# Chunk heads a batch is planned from (id, device, items), read through a covering index (no bodies).
HEADS_INDEX: Final = "CREATE INDEX IF NOT EXISTS ix_outbox_chunk_head ON outbox_chunk (id, device, items)"


def meta(conn: sqlite3.Connection, name: str) -> str:
    """A value of the outbox_meta table (schema_version, stream_id, next_sequence)."""
    return str(conn.execute("SELECT value FROM outbox_meta WHERE name = ?", (name,)).fetchone()[0])


def open_schema(conn: sqlite3.Connection, path: str | PathLike[str], clock: Callable[[], float]) -> str:
    """Create the tables, or bring an older file's up to date, in the caller's transaction; the file's stream id."""
    for statement in SCHEMA.split(";"):
        if statement.strip():
            conn.execute(statement)
    conn.executemany(
        "INSERT OR IGNORE INTO outbox_meta (name, value) VALUES (?, ?)",
        [
            ("schema_version", SCHEMA_VERSION),
            # A fresh random stream id per database file: see batch_idempotency_key for why.
            ("stream_id", uuid.uuid4().hex),
            ("next_sequence", str(FIRST_SEQUENCE)),
        ],
    )
    if "device" not in {row[1] for row in conn.execute("PRAGMA table_info(outbox_chunk)")}:
        # A schema-2 file from before chunks recorded their device: NULL = read it from the body.
        conn.execute("ALTER TABLE outbox_chunk ADD COLUMN device TEXT")
    conn.execute(HEADS_INDEX)
    version = meta(conn, "schema_version")
    if version == "1":
        migrate_v1(conn, meta(conn, "stream_id"), clock)
        version = SCHEMA_VERSION
    if version != SCHEMA_VERSION:
        raise OutboxError(f"{path} holds outbox schema {version}, not {SCHEMA_VERSION}")
    return meta(conn, "stream_id")


def migrate_v1(conn: sqlite3.Connection, stream_id: str, clock: Callable[[], float]) -> None:
    """Schema 1 (a row per item) -> 2, in the opening transaction: frozen batches keep key and bytes."""
    batches = conn.execute(
        "SELECT sequence, gateway_id, created_at, telemetry_dropped_total FROM outbox_batch ORDER BY sequence"
    ).fetchall()
    for sequence, gateway_id, created_at, dropped_total in batches:
        items = conn.execute(
            "SELECT kind, retention, body, size, appended_at FROM outbox_item WHERE batch_sequence = ? ORDER BY id",
            (sequence,),
        ).fetchall()
        readings = [body.encode("utf-8") for kind, _, body, _, _ in items if kind == "reading"]
        events = [body.encode("utf-8") for kind, _, body, _, _ in items if kind == "event"]
        streams = sorted({stream_of(body.encode("utf-8"), kind) for kind, _, body, _, _ in items})
        created = datetime.fromisoformat(created_at)
        # Schema 1 sent encode_batch(batch rebuilt from these bodies): the same bytes as wire_bytes() makes.
        wire = wire_bytes(gateway_id, stream_id, sequence, created, dropped_total, readings, events)
        insert_frozen(
            conn, sequence, gateway_id, created_at, len(readings), len(events),
            sum(1 for item in items if item[1] == RetentionClass.CLINICAL.value), sum(item[3] for item in items),
            min((item[4] for item in items), default=clock()), streams, wire,
        )
    run: list[bytes] = []
    run_key: tuple[str, str, float] | None = None

    def flush() -> None:
        if run_key is not None and run:
            size, chunk = chunk_body(run)
            conn.execute(  # device NULL: a lease reads the devices from the body when it needs them
                "INSERT INTO outbox_chunk (kind, retention, items, size, appended_at, body) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (run_key[0], run_key[1], len(run), size, run_key[2], chunk),
            )
        run.clear()

    for kind, retention, body, appended_at in conn.execute(
        "SELECT kind, retention, body, appended_at FROM outbox_item WHERE batch_sequence IS NULL ORDER BY id"
    ).fetchall():
        key = (kind, retention, appended_at)
        if key != run_key or len(run) >= CHUNK_ITEMS:
            flush()
            run_key = key
        run.append(body.encode("utf-8"))
    flush()
    conn.execute("DROP TABLE outbox_item")
    conn.execute("DROP TABLE outbox_batch")
    conn.execute("UPDATE outbox_meta SET value = ? WHERE name = 'schema_version'", (SCHEMA_VERSION,))
