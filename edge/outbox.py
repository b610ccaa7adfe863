"""Durable store-and-forward outbox for readings and events on their way to the cloud (SQLite, WAL).

Guarantees:
- Nothing append() returned for is lost by a process crash; clinical rows (and batch assignments)
  are committed with synchronous=FULL so they also survive power loss.
- A batch, once leased, is frozen: its rows, sequence, created_at and idempotency key are stored in
  the same transaction that forms it. Until it is acked, every later lease (in this process after
  nack(), or in a new process after a crash/restart) hands out the very same batch under the very
  same key, so the cloud can dedupe by key and nothing is ever delivered twice under two keys.
- Clinical items are never dropped: past `max_clinical_rows` append() raises BufferFull and writes
  nothing; the caller stops acknowledging the instrument (ASTM NAK/busy) until the cloud catches up.
  AppendResult.backpressure turns on earlier, at `clinical_high_water`, so callers can slow down first.
- Telemetry waiting for a batch is bounded by `max_telemetry_rows`; beyond it the oldest waiting
  telemetry rows are dropped and counted in a persisted counter (reported as telemetry_dropped_total
  in every batch, so the cloud shows the gap). Rows already in a batch are never dropped, so a
  re-sent batch stays identical.

Threading: the Outbox is synchronous and guards its single connection with a lock, so it may be called
from several threads. From asyncio, call it through a thread (`await asyncio.to_thread(outbox.append,
items)`): commits fsync and must not block the event loop. One process owns a database file at a time
(an advisory lock on "<path>.lock" enforces it; OutboxLockedError otherwise).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Final, Literal

from protocols.telemetry import (
    Batch,
    Event,
    Reading,
    RetentionClass,
    batch_idempotency_key,
    parse_batch_idempotency_key,
)

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS outbox_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS outbox_counter (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS outbox_batch (
    sequence INTEGER PRIMARY KEY,
    gateway_id TEXT NOT NULL,
    created_at TEXT NOT NULL,
    telemetry_dropped_total INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox_item (
    -- AUTOINCREMENT: ids are never reused after deletes, so id order is append order forever.
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL CHECK (kind IN ('reading', 'event')),
    retention TEXT NOT NULL CHECK (retention IN ('clinical', 'telemetry')),
    body TEXT NOT NULL,
    size INTEGER NOT NULL,
    appended_at REAL NOT NULL,
    batch_sequence INTEGER REFERENCES outbox_batch (sequence)
);
CREATE INDEX IF NOT EXISTS ix_outbox_item_unbatched ON outbox_item (id) WHERE batch_sequence IS NULL;
CREATE INDEX IF NOT EXISTS ix_outbox_item_unbatched_retention
    ON outbox_item (retention, id) WHERE batch_sequence IS NULL;
CREATE INDEX IF NOT EXISTS ix_outbox_item_batch_sequence ON outbox_item (batch_sequence);
CREATE INDEX IF NOT EXISTS ix_outbox_item_retention ON outbox_item (retention);
"""
_SCHEMA_VERSION: Final = "1"
_FIRST_SEQUENCE: Final = 1

ItemKind = Literal["reading", "event"]


class OutboxError(RuntimeError):
    """Base class of outbox failures."""


class BufferFull(OutboxError):
    """The clinical cap is reached: nothing was written; stop accepting data at the source."""


class OutboxLockedError(OutboxError):
    """Another process already owns this outbox file."""


@dataclass(frozen=True, slots=True)
class AppendResult:
    """What one append() did, and how much clinical room is left."""

    appended: int
    telemetry_dropped: int
    clinical_free: int
    backpressure: bool


@dataclass(frozen=True, slots=True)
class OutboxStats:
    """A snapshot of the outbox for `medfix edge buffer stats` and health reports."""

    clinical_rows: int
    telemetry_rows: int
    pending_batches: int
    in_flight_batches: int
    oldest_unsent_age_s: float | None
    telemetry_dropped_total: int
    clinical_rejected_total: int
    acked_batches_total: int
    acked_items_total: int
    payload_bytes: int
    file_bytes: int
    stream_id: str
    next_sequence: int


class Outbox:
    """Durable FIFO of readings and events, handed out as idempotent batches."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        gateway_id: str,
        max_telemetry_rows: int = 200_000,
        max_clinical_rows: int = 100_000,
        clinical_high_water: float = 0.8,
        durable_telemetry: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_telemetry_rows < 0 or max_clinical_rows < 1:
            raise ValueError("max_telemetry_rows must be >= 0 and max_clinical_rows >= 1")
        if not 0.0 < clinical_high_water <= 1.0:
            raise ValueError("clinical_high_water must be in (0, 1]")
        self.path = Path(path)
        self.gateway_id = gateway_id
        self._max_telemetry_rows = max_telemetry_rows
        self._max_clinical_rows = max_clinical_rows
        self._clinical_high_water_rows = max(1, int(max_clinical_rows * clinical_high_water))
        # Telemetry-only commits may use synchronous=NORMAL: in WAL mode that survives a process crash
        # and only risks the last moments of samples on power loss, at a fraction of the fsyncs.
        self._durable_telemetry = durable_telemetry
        self._clock = clock
        self._lock = threading.RLock()
        self._in_flight: set[int] = set()
        self._synchronous: str | None = None
        self._lock_file = self._acquire_file_lock()
        try:
            self._conn = self._connect()
            self.stream_id = self._init_schema()
            batch_idempotency_key(gateway_id, self.stream_id, 0)  # validates gateway_id early
            self._clinical_rows, self._telemetry_waiting = self._count_rows()
        except BaseException:
            self._release_file_lock()
            raise
        self._closed = False

    # --- lifecycle -------------------------------------------------------------------------------------

    def close(self) -> None:
        """Close the database and release the file lock; un-acked batches stay for the next open."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._in_flight.clear()
            self._conn.close()
            self._release_file_lock()

    def __enter__(self) -> Outbox:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # --- writing ---------------------------------------------------------------------------------------

    def append(self, items: Iterable[Reading | Event]) -> AppendResult:
        """Store items durably (all or nothing); BufferFull if the clinical ones would pass the cap."""
        rows: list[tuple[ItemKind, str, str, int]] = []
        for item in items:
            kind: ItemKind
            if isinstance(item, Reading):
                kind = "reading"
            elif isinstance(item, Event):
                kind = "event"
            else:
                raise TypeError(f"outbox items are Reading or Event, got {type(item).__name__}")
            body = item.model_dump_json()
            rows.append((kind, item.retention.value, body, len(body.encode("utf-8"))))
        clinical_new = sum(1 for row in rows if row[1] == RetentionClass.CLINICAL.value)
        telemetry_new = len(rows) - clinical_new
        with self._lock:
            self._require_open()
            if self._clinical_rows + clinical_new > self._max_clinical_rows:
                self._bump_counters({"clinical_rejected_total": clinical_new}, durable=True)
                raise BufferFull(
                    f"clinical buffer full: {self._clinical_rows} of {self._max_clinical_rows} rows held, "
                    f"{clinical_new} more refused"
                )
            if not rows:
                return self._append_result(0, 0)
            now = self._clock()
            dropped = 0
            with self._transaction(durable=clinical_new > 0 or self._durable_telemetry):
                self._conn.executemany(
                    "INSERT INTO outbox_item (kind, retention, body, size, appended_at) VALUES (?, ?, ?, ?, ?)",
                    [(kind, retention, body, size, now) for kind, retention, body, size in rows],
                )
                excess = self._telemetry_waiting + telemetry_new - self._max_telemetry_rows
                if excess > 0:
                    dropped = self._conn.execute(
                        "DELETE FROM outbox_item WHERE id IN (SELECT id FROM outbox_item "
                        "WHERE retention = 'telemetry' AND batch_sequence IS NULL ORDER BY id LIMIT ?)",
                        (excess,),
                    ).rowcount
                    self._add_counters({"telemetry_dropped_total": dropped})
            self._clinical_rows += clinical_new
            self._telemetry_waiting += telemetry_new - dropped
            return self._append_result(len(rows), dropped)

    def clinical_room(self) -> int:
        """How many more clinical items append() would accept right now."""
        with self._lock:
            return max(0, self._max_clinical_rows - self._clinical_rows)

    # --- delivering ------------------------------------------------------------------------------------

    def lease(self, *, max_items: int = 500, max_bytes: int = 256 * 1024) -> Batch | None:
        """Hand out the oldest un-acked batch not in flight, or form a new one; None when empty."""
        # The limits only shape *new* batches; a stored batch is re-leased as it was. A single item
        # larger than max_bytes still goes out alone, or it would block the queue forever.
        if max_items < 1 or max_bytes < 1:
            raise ValueError("max_items and max_bytes must be >= 1")
        with self._lock:
            self._require_open()
            for (sequence,) in self._conn.execute("SELECT sequence FROM outbox_batch ORDER BY sequence"):
                if sequence not in self._in_flight:
                    stored = self._load_batch(sequence)
                    self._in_flight.add(sequence)
                    return stored
            formed = self._form_batch(max_items, max_bytes)
            if formed is not None:
                self._in_flight.add(formed.sequence)
            return formed

    def ack(self, key: str) -> bool:
        """Delete a delivered batch; False if the key is unknown here (already acked, other stream)."""
        _, stream_id, sequence = parse_batch_idempotency_key(key)
        with self._lock:
            self._require_open()
            if stream_id != self.stream_id:
                return False
            self._in_flight.discard(sequence)
            with self._transaction(durable=True):
                found = self._conn.execute("SELECT 1 FROM outbox_batch WHERE sequence = ?", (sequence,))
                if found.fetchone() is None:
                    return False
                counts: dict[str, int] = dict(
                    self._conn.execute(
                        "SELECT retention, COUNT(*) FROM outbox_item WHERE batch_sequence = ? GROUP BY retention",
                        (sequence,),
                    ).fetchall()
                )
                self._conn.execute("DELETE FROM outbox_item WHERE batch_sequence = ?", (sequence,))
                self._conn.execute("DELETE FROM outbox_batch WHERE sequence = ?", (sequence,))
                self._add_counters({"acked_batches_total": 1, "acked_items_total": sum(counts.values())})
            self._clinical_rows -= counts.get(RetentionClass.CLINICAL.value, 0)
            return True

    def nack(self, key: str) -> None:
        """Give a leased batch back (send failed); the next lease returns it unchanged, same key."""
        _, stream_id, sequence = parse_batch_idempotency_key(key)
        with self._lock:
            if stream_id == self.stream_id:
                self._in_flight.discard(sequence)

    def release_all(self) -> int:
        """Give back every batch leased in this process (e.g. the uplink reconnected); returns how many."""
        with self._lock:
            released = len(self._in_flight)
            self._in_flight.clear()
            return released

    # --- inspecting ------------------------------------------------------------------------------------

    def stats(self) -> OutboxStats:
        """Depth per retention class, oldest un-acked age, drop and ack counters, sizes."""
        with self._lock:
            self._require_open()
            conn = self._conn
            depth = dict(conn.execute("SELECT retention, COUNT(*) FROM outbox_item GROUP BY retention"))
            payload_bytes = conn.execute("SELECT COALESCE(SUM(size), 0) FROM outbox_item").fetchone()[0]
            oldest = conn.execute("SELECT appended_at FROM outbox_item ORDER BY id LIMIT 1").fetchone()
            pending = conn.execute("SELECT COUNT(*) FROM outbox_batch").fetchone()[0]
            counters = dict(conn.execute("SELECT name, value FROM outbox_counter").fetchall())
            next_sequence = int(self._meta("next_sequence"))
            in_flight = len(self._in_flight)
        file_bytes = sum(
            candidate.stat().st_size for candidate in (self.path, Path(f"{self.path}-wal")) if candidate.exists()
        )
        return OutboxStats(
            clinical_rows=depth.get(RetentionClass.CLINICAL.value, 0),
            telemetry_rows=depth.get(RetentionClass.TELEMETRY.value, 0),
            pending_batches=pending,
            in_flight_batches=in_flight,
            oldest_unsent_age_s=None if oldest is None else max(0.0, self._clock() - oldest[0]),
            telemetry_dropped_total=counters.get("telemetry_dropped_total", 0),
            clinical_rejected_total=counters.get("clinical_rejected_total", 0),
            acked_batches_total=counters.get("acked_batches_total", 0),
            acked_items_total=counters.get("acked_items_total", 0),
            payload_bytes=payload_bytes,
            file_bytes=file_bytes,
            stream_id=self.stream_id,
            next_sequence=next_sequence,
        )

    def journal_mode(self) -> str:
        """The SQLite journal mode in force ('wal' once opened)."""
        with self._lock:
            self._require_open()
            return str(self._conn.execute("PRAGMA journal_mode").fetchone()[0])

    # --- internals -------------------------------------------------------------------------------------

    def _form_batch(self, max_items: int, max_bytes: int) -> Batch | None:
        with self._transaction(durable=True):
            candidates = self._conn.execute(
                "SELECT id, retention, size FROM outbox_item WHERE batch_sequence IS NULL ORDER BY id LIMIT ?",
                (max_items,),
            ).fetchall()
            if not candidates:
                return None
            chosen, total = 0, 0
            for _, _, size in candidates:
                if chosen and total + size > max_bytes:
                    break
                chosen, total = chosen + 1, total + size
            last_id = candidates[chosen - 1][0]
            telemetry_taken = sum(1 for row in candidates[:chosen] if row[1] == "telemetry")
            sequence = int(self._meta("next_sequence"))
            created_at = datetime.fromtimestamp(self._clock(), UTC).isoformat()
            dropped_total = self._counter("telemetry_dropped_total")
            self._conn.execute(
                "INSERT INTO outbox_batch (sequence, gateway_id, created_at, telemetry_dropped_total) "
                "VALUES (?, ?, ?, ?)",
                (sequence, self.gateway_id, created_at, dropped_total),
            )
            # Unbatched ids are always above every batched id (batches take the oldest first), so the
            # chosen prefix is exactly "unbatched with id <= last_id".
            self._conn.execute(
                "UPDATE outbox_item SET batch_sequence = ? WHERE batch_sequence IS NULL AND id <= ?",
                (sequence, last_id),
            )
            self._conn.execute("UPDATE outbox_meta SET value = ? WHERE name = 'next_sequence'", (str(sequence + 1),))
        self._telemetry_waiting -= telemetry_taken
        return self._load_batch(sequence)

    def _load_batch(self, sequence: int) -> Batch:
        # Built only from stored columns, so the first lease and every re-lease are identical.
        gateway_id, created_at, dropped_total = self._conn.execute(
            "SELECT gateway_id, created_at, telemetry_dropped_total FROM outbox_batch WHERE sequence = ?",
            (sequence,),
        ).fetchone()
        readings: list[Reading] = []
        events: list[Event] = []
        for kind, body in self._conn.execute(
            "SELECT kind, body FROM outbox_item WHERE batch_sequence = ? ORDER BY id", (sequence,)
        ):
            if kind == "reading":
                readings.append(Reading.model_validate_json(body))
            else:
                events.append(Event.model_validate_json(body))
        return Batch(
            gateway_id=gateway_id,
            stream_id=self.stream_id,
            sequence=sequence,
            created_at=datetime.fromisoformat(created_at),
            readings=readings,
            events=events,
            telemetry_dropped_total=dropped_total,
        )

    def _append_result(self, appended: int, dropped: int) -> AppendResult:
        return AppendResult(
            appended=appended,
            telemetry_dropped=dropped,
            clinical_free=max(0, self._max_clinical_rows - self._clinical_rows),
            backpressure=self._clinical_rows >= self._clinical_high_water_rows,
        )

    @contextlib.contextmanager
    def _transaction(self, *, durable: bool) -> Iterator[None]:
        wanted = "FULL" if durable else "NORMAL"
        if self._synchronous != wanted:
            self._conn.execute(f"PRAGMA synchronous = {wanted}")
            self._synchronous = wanted
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._conn.execute("ROLLBACK")
            # The cached counts may have been adjusted for work that just rolled back; re-read them
            # (suppressed during first-time schema creation, when the tables may not exist yet).
            with contextlib.suppress(sqlite3.Error):
                self._clinical_rows, self._telemetry_waiting = self._count_rows()
            raise
        self._conn.execute("COMMIT")

    def _bump_counters(self, increments: dict[str, int], *, durable: bool) -> None:
        with self._transaction(durable=durable):
            self._add_counters(increments)

    def _add_counters(self, increments: dict[str, int]) -> None:
        self._conn.executemany(
            "INSERT INTO outbox_counter (name, value) VALUES (?, ?) "
            "ON CONFLICT (name) DO UPDATE SET value = value + excluded.value",
            list(increments.items()),
        )

    def _counter(self, name: str) -> int:
        row = self._conn.execute("SELECT value FROM outbox_counter WHERE name = ?", (name,)).fetchone()
        return 0 if row is None else int(row[0])

    def _meta(self, name: str) -> str:
        return str(self._conn.execute("SELECT value FROM outbox_meta WHERE name = ?", (name,)).fetchone()[0])

    def _count_rows(self) -> tuple[int, int]:
        clinical = self._conn.execute("SELECT COUNT(*) FROM outbox_item WHERE retention = 'clinical'").fetchone()[0]
        telemetry_waiting = self._conn.execute(
            "SELECT COUNT(*) FROM outbox_item WHERE retention = 'telemetry' AND batch_sequence IS NULL"
        ).fetchone()[0]
        return int(clinical), int(telemetry_waiting)

    def _connect(self) -> sqlite3.Connection:
        # isolation_level=None: we issue BEGIN IMMEDIATE/COMMIT ourselves, so each public call is
        # exactly one transaction; check_same_thread=False because our own lock serializes access.
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=10.0)
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            conn.close()
            raise OutboxError(f"could not switch {self.path} to WAL mode (got {mode!r})")
        conn.execute("PRAGMA foreign_keys = ON")
        return conn

    def _init_schema(self) -> str:
        with self._transaction(durable=True):
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    self._conn.execute(statement)
            self._conn.executemany(
                "INSERT OR IGNORE INTO outbox_meta (name, value) VALUES (?, ?)",
                [
                    ("schema_version", _SCHEMA_VERSION),
                    # A fresh random stream id per database file: see batch_idempotency_key for why.
                    ("stream_id", uuid.uuid4().hex),
                    ("next_sequence", str(_FIRST_SEQUENCE)),
                ],
            )
            version = self._meta("schema_version")
            if version != _SCHEMA_VERSION:
                raise OutboxError(f"{self.path} holds outbox schema {version}, not {_SCHEMA_VERSION}")
            return self._meta("stream_id")

    def _acquire_file_lock(self) -> int:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(f"{self.path}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            os.close(fd)
            raise OutboxLockedError(f"{self.path} is in use by another process") from exc
        return fd

    def _release_file_lock(self) -> None:
        with contextlib.suppress(OSError):
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)
        with contextlib.suppress(OSError):
            os.close(self._lock_file)

    def _require_open(self) -> None:
        if getattr(self, "_closed", True):
            raise OutboxError("outbox is closed")
