"""The Outbox: appends, leases, acks and stats over one SQLite file (edge/outbox/__init__.py has the guarantees)."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sqlite3
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

from edge.outbox.chunks import ChunkRow, chunk_body, chunk_lines, insert_frozen, prepare, stream_of, wire_bytes
from edge.outbox.schema import meta, open_schema
from edge.outbox.types import (
    DEFAULT_MAX_TELEMETRY_ROWS,
    AppendResult,
    BufferFull,
    FrozenBatch,
    OutboxError,
    OutboxLockedError,
    OutboxStats,
)
from protocols.telemetry import (
    Batch,
    Event,
    Reading,
    RetentionClass,
    batch_idempotency_key,
    parse_batch_idempotency_key,
)


class Outbox:
    """Durable FIFO of readings and events, handed out as idempotent batches."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        gateway_id: str,
        max_telemetry_rows: int = DEFAULT_MAX_TELEMETRY_ROWS,
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
        # Cached counts (kept in step with every commit, re-read after a rollback): clinical items held
        # (waiting or in un-acked batches), telemetry items waiting, JSON bytes waiting.
        self._clinical_rows = self._telemetry_waiting = self._waiting_bytes = 0
        try:
            self._conn = self._connect()
            self.stream_id = self._init_schema()
            batch_idempotency_key(gateway_id, self.stream_id, 0)  # validates gateway_id early
            self._clinical_rows, self._telemetry_waiting, self._waiting_bytes = self._count_rows()
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
        outcome = self.append_many([items])[0]
        if isinstance(outcome, BufferFull):
            raise outcome
        return outcome

    def append_many(self, groups: Sequence[Iterable[Reading | Event]]) -> list[AppendResult | BufferFull]:
        """Store several callers' items in one transaction (group commit); one outcome per group, in order.

        Each group is all or nothing on its own: a group whose clinical items would pass the cap gets a
        BufferFull (nothing of it is written) while the others are stored. Once this returns, every stored
        group is as durable as with append().
        """
        prepared = [prepare(group) for group in groups]  # JSON + zlib outside the lock
        with self._lock:
            self._require_open()
            outcomes: list[AppendResult | BufferFull | None] = []
            rows: list[ChunkRow] = []
            clinical_held = self._clinical_rows
            clinical_new = telemetry_new = rejected = 0
            for group in prepared:
                if clinical_held + group.clinical > self._max_clinical_rows:
                    rejected += group.clinical
                    outcomes.append(BufferFull(
                        f"clinical buffer full: {clinical_held} of {self._max_clinical_rows} rows held, "
                        f"{group.clinical} more refused"
                    ))
                    continue
                clinical_held += group.clinical
                clinical_new += group.clinical
                telemetry_new += group.telemetry
                rows.extend(group.rows)
                outcomes.append(None)
            dropped = dropped_bytes = 0
            if rows or rejected:
                durable = clinical_new > 0 or rejected > 0 or self._durable_telemetry
                now = self._clock()
                with self._transaction(durable=durable):
                    if rows:
                        self._conn.executemany(
                            "INSERT INTO outbox_chunk (kind, retention, items, size, appended_at, body, device) "
                            "VALUES (?, ?, ?, ?, ?, ?, ?)",
                            [(kind, retention, count, size, now, body, device)
                             for kind, retention, count, size, body, device in rows],
                        )
                    if rejected:
                        self._add_counters({"clinical_rejected_total": rejected})
                    excess = self._telemetry_waiting + telemetry_new - self._max_telemetry_rows
                    if excess > 0:
                        dropped, dropped_bytes = self._drop_oldest_telemetry(excess)
                        self._add_counters({"telemetry_dropped_total": dropped})
                self._clinical_rows += clinical_new
                self._telemetry_waiting += telemetry_new - dropped
                self._waiting_bytes += sum(row[3] for row in rows) - dropped_bytes
            results: list[AppendResult | BufferFull] = []
            for group, outcome in zip(prepared, outcomes, strict=True):
                if outcome is None:
                    # A drop is reported once, on the first stored group of the transaction that made it.
                    outcome = self._append_result(group.clinical + group.telemetry, dropped)
                    dropped = 0
                results.append(outcome)
            return results

    def waiting_telemetry(self) -> int:
        """Telemetry items waiting for a batch (not yet in one), from the cached count: the backlog's size."""
        with self._lock:
            return self._telemetry_waiting

    def clinical_room(self) -> int:
        """How many more clinical items append() would accept right now."""
        with self._lock:
            return max(0, self._max_clinical_rows - self._clinical_rows)

    # --- delivering ------------------------------------------------------------------------------------

    def lease_wire(
        self, *, max_items: int = 500, max_bytes: int = 256 * 1024, lanes: int = 1,
        busy_devices: frozenset[str] = frozenset(),
    ) -> FrozenBatch | None:
        """Hand out the oldest un-acked batch not in flight, or form a new one; None when empty.

        With the defaults a new batch takes the oldest waiting items (FIFO). A sender with several batches in
        flight passes ``lanes`` (how many it keeps in flight) and ``busy_devices`` (the devices of the batches it
        has in flight): the new batch then leaves out those devices' items, and when more than one batch is
        waiting it takes at most 1/lanes of the waiting devices, so up to ``lanes`` consecutive batches hold
        disjoint devices (hence disjoint streams) and may be sent at once. Items are still taken oldest first per
        device: once a device's item is left out, none of its later items is taken into this batch, so for every
        stream a higher sequence always holds newer items (the uplink's per-stream ordering relies on it). None
        while every waiting item belongs to a busy device (an ack frees them).
        """
        # The limits only shape *new* batches; a stored batch is re-leased as it was. A single item
        # larger than max_bytes still goes out alone, or it would block the queue forever.
        if max_items < 1 or max_bytes < 1 or lanes < 1:
            raise ValueError("max_items, max_bytes and lanes must be >= 1")
        with self._lock:
            self._require_open()
            for (sequence,) in self._conn.execute("SELECT sequence FROM outbox_frozen ORDER BY sequence"):
                if sequence not in self._in_flight:
                    stored = self._load_batch(sequence)
                    self._in_flight.add(sequence)
                    return stored
            formed = self._form_batch(max_items, max_bytes, lanes, busy_devices)
            if formed is not None:
                self._in_flight.add(formed.sequence)
            return formed

    def lease(self, *, max_items: int = 500, max_bytes: int = 256 * 1024) -> Batch | None:
        """lease_wire(), decoded into a Batch model (tests and tools; the uplink sends the stored bytes)."""
        frozen = self.lease_wire(max_items=max_items, max_bytes=max_bytes)
        return None if frozen is None else frozen.decode()

    def ack(self, key: str) -> bool:
        """Delete a delivered batch; False if the key is unknown here (already acked, other stream)."""
        _, stream_id, sequence = parse_batch_idempotency_key(key)
        with self._lock:
            self._require_open()
            if stream_id != self.stream_id:
                return False
            self._in_flight.discard(sequence)
            # No fsync needed: an ack lost to a power cut only brings the batch back, and its re-send (same key,
            # same bytes) is deduped by the cloud. The next durable commit (a batch being formed) syncs it anyway.
            with self._transaction(durable=self._durable_telemetry):
                found = self._conn.execute(
                    "SELECT clinical, readings + events FROM outbox_frozen WHERE sequence = ?", (sequence,)
                ).fetchone()
                if found is None:
                    return False
                clinical, items = found
                self._conn.execute("DELETE FROM outbox_frozen WHERE sequence = ?", (sequence,))
                self._add_counters({"acked_batches_total": 1, "acked_items_total": items})
            self._clinical_rows -= clinical
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
            pending, frozen_clinical, frozen_items, frozen_bytes, frozen_oldest = conn.execute(
                "SELECT COUNT(*), COALESCE(SUM(clinical), 0), COALESCE(SUM(readings + events), 0), "
                "COALESCE(SUM(size), 0), MIN(oldest_appended_at) FROM outbox_frozen"
            ).fetchone()
            oldest_chunk = conn.execute("SELECT appended_at FROM outbox_chunk ORDER BY id LIMIT 1").fetchone()
            counters = dict(conn.execute("SELECT name, value FROM outbox_counter").fetchall())
            next_sequence = int(self._meta("next_sequence"))
            in_flight = len(self._in_flight)
            clinical_rows, telemetry_waiting = self._clinical_rows, self._telemetry_waiting
            payload_bytes = self._waiting_bytes + frozen_bytes
        oldest_times = [t for t in (frozen_oldest, oldest_chunk[0] if oldest_chunk else None) if t is not None]
        file_bytes = sum(
            candidate.stat().st_size for candidate in (self.path, Path(f"{self.path}-wal")) if candidate.exists()
        )
        return OutboxStats(
            clinical_rows=clinical_rows,
            telemetry_rows=telemetry_waiting + frozen_items - frozen_clinical,
            pending_batches=pending,
            in_flight_batches=in_flight,
            oldest_unsent_age_s=None if not oldest_times else max(0.0, self._clock() - min(oldest_times)),
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

    def _drop_oldest_telemetry(self, excess: int) -> tuple[int, int]:
        """Delete the oldest `excess` waiting telemetry items (whole chunks, the last one cut); (items, bytes)."""
        dropped = dropped_bytes = 0
        while dropped < excess:
            rows = self._conn.execute(
                "SELECT id, items, size FROM outbox_chunk WHERE retention = 'telemetry' ORDER BY id LIMIT 512"
            ).fetchall()
            if not rows:
                break
            whole: list[tuple[int]] = []
            for chunk_id, count, size in rows:
                need = excess - dropped
                if need <= 0:
                    break
                if count <= need:
                    whole.append((chunk_id,))
                    dropped, dropped_bytes = dropped + count, dropped_bytes + size
                    continue
                (body,) = self._conn.execute("SELECT body FROM outbox_chunk WHERE id = ?", (chunk_id,)).fetchone()
                rest = chunk_lines(body)[need:]
                rest_size = self._rewrite_chunk(chunk_id, rest)
                dropped, dropped_bytes = dropped + need, dropped_bytes + size - rest_size
            self._conn.executemany("DELETE FROM outbox_chunk WHERE id = ?", whole)
        return dropped, dropped_bytes

    def _rewrite_chunk(self, chunk_id: int, lines: list[bytes]) -> int:
        size, body = chunk_body(lines)
        self._conn.execute(
            "UPDATE outbox_chunk SET items = ?, size = ?, body = ? WHERE id = ?", (len(lines), size, body, chunk_id),
        )
        return size

    def _plan_batch(self, max_items: int, lanes: int, busy_devices: frozenset[str]) -> list[int] | None:
        """Ids of the chunks a new batch may take, oldest first (see lease_wire); None for plain FIFO."""
        if lanes == 1 and not busy_devices:
            return None
        # The heads of the oldest 2 x lanes x max_items waiting items (each chunk holds at least one): enough for
        # `lanes` batches even when some devices are further behind than others.
        scan = 2 * lanes * max_items
        heads: list[tuple[int, str | None, int]] = []
        seen = 0
        for head in self._conn.execute("SELECT id, device, items FROM outbox_chunk ORDER BY id LIMIT ?", (scan,)):
            heads.append(head)
            seen += head[2]
            if seen >= scan:
                break
        devices = [{device} if device is not None else self._chunk_devices(chunk_id) for chunk_id, device, _ in heads]
        cap: int | None = None
        if lanes > 1 and seen > max_items:  # a backlog: spread its devices over `lanes` disjoint batches
            cap = -(-len(set().union(*devices)) // lanes)
        blocked = set(busy_devices)
        chosen: set[str] = set()
        plan: list[int] = []
        planned = 0
        for (chunk_id, _, items), devs in zip(heads, devices, strict=True):
            if not blocked.isdisjoint(devs) or (cap is not None and len(chosen | devs) > cap):
                blocked |= devs  # left out: none of these devices' later items may go before it
                continue
            plan.append(chunk_id)
            chosen |= devs
            planned += items
            if planned >= max_items:
                break
        return plan

    def _chunk_devices(self, chunk_id: int) -> set[str]:
        (kind, body) = self._conn.execute("SELECT kind, body FROM outbox_chunk WHERE id = ?", (chunk_id,)).fetchone()
        return {stream_of(line, kind)[0] for line in chunk_lines(body)}

    def _form_batch(
        self, max_items: int, max_bytes: int, lanes: int = 1, busy_devices: frozenset[str] = frozenset(),
    ) -> FrozenBatch | None:
        readings: list[bytes] = []
        events: list[bytes] = []
        streams: set[tuple[str, str]] = set()
        taken = total = clinical = telemetry = taken_bytes = 0
        oldest: float | None = None
        with self._transaction(durable=True):
            plan = self._plan_batch(max_items, lanes, busy_devices)
            if plan is None:
                # Each chunk holds at least one item, so max_items chunks always suffice.
                chunks = self._conn.execute(
                    "SELECT id, kind, retention, items, size, appended_at, body FROM outbox_chunk ORDER BY id LIMIT ?",
                    (max_items,),
                ).fetchall()
            else:
                chunks = [self._conn.execute(
                    "SELECT id, kind, retention, items, size, appended_at, body FROM outbox_chunk WHERE id = ?",
                    (chunk_id,),
                ).fetchone() for chunk_id in plan]
            if not chunks:
                return None
            consumed: list[tuple[int]] = []
            for chunk_id, kind, retention, _, size, appended_at, body in chunks:
                lines = chunk_lines(body)
                take, full = 0, False
                for line in lines:
                    length = len(line)
                    if taken and (taken >= max_items or total + length > max_bytes):
                        full = True
                        break
                    taken, total, take = taken + 1, total + length, take + 1
                if take:
                    oldest = appended_at if oldest is None else oldest
                    chosen = lines[:take]
                    (readings if kind == "reading" else events).extend(chosen)
                    streams.update(stream_of(line, kind) for line in chosen)
                    if retention == RetentionClass.CLINICAL.value:
                        clinical += take
                    else:
                        telemetry += take
                if take == len(lines):
                    consumed.append((chunk_id,))
                    taken_bytes += size
                elif take:
                    taken_bytes += size - self._rewrite_chunk(chunk_id, lines[take:])
                if full:
                    break
            assert oldest is not None
            sequence = int(self._meta("next_sequence"))
            created = datetime.fromtimestamp(self._clock(), UTC)
            dropped_total = self._counter("telemetry_dropped_total")
            wire = wire_bytes(self.gateway_id, self.stream_id, sequence, created, dropped_total, readings, events)
            stream_list = sorted(streams)
            insert_frozen(self._conn, sequence, self.gateway_id, created.isoformat(), len(readings), len(events),
                          clinical, total, oldest, stream_list, wire)
            self._conn.executemany("DELETE FROM outbox_chunk WHERE id = ?", consumed)
            self._conn.execute("UPDATE outbox_meta SET value = ? WHERE name = 'next_sequence'", (str(sequence + 1),))
        self._telemetry_waiting -= telemetry
        self._waiting_bytes -= taken_bytes
        return FrozenBatch(gateway_id=self.gateway_id, stream_id=self.stream_id, sequence=sequence, created_at=created,
                           readings=len(readings), events=len(events),
                           streams=frozenset(stream_list), wire=wire)

    def _load_batch(self, sequence: int) -> FrozenBatch:
        # Everything comes from the stored row, so the first lease and every re-lease are identical.
        gateway_id, created_at, readings, events, streams, wire = self._conn.execute(
            "SELECT gateway_id, created_at, readings, events, streams, wire FROM outbox_frozen WHERE sequence = ?",
            (sequence,),
        ).fetchone()
        pairs = json.loads(zlib.decompress(streams))
        return FrozenBatch(gateway_id=gateway_id, stream_id=self.stream_id, sequence=sequence,
                           created_at=datetime.fromisoformat(created_at), readings=readings, events=events,
                           streams=frozenset((device, metric) for device, metric in pairs), wire=bytes(wire))

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
                self._clinical_rows, self._telemetry_waiting, self._waiting_bytes = self._count_rows()
            raise
        self._conn.execute("COMMIT")

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
        return meta(self._conn, name)

    def _count_rows(self) -> tuple[int, int, int]:
        """(clinical items held, telemetry items waiting, JSON bytes waiting), from the tables."""
        waiting = {retention: (int(items), int(size)) for retention, items, size in self._conn.execute(
            "SELECT retention, SUM(items), SUM(size) FROM outbox_chunk GROUP BY retention"
        )}
        frozen_clinical = self._conn.execute("SELECT COALESCE(SUM(clinical), 0) FROM outbox_frozen").fetchone()[0]
        clinical_items, clinical_bytes = waiting.get(RetentionClass.CLINICAL.value, (0, 0))
        telemetry_items, telemetry_bytes = waiting.get(RetentionClass.TELEMETRY.value, (0, 0))
        return clinical_items + int(frozen_clinical), telemetry_items, clinical_bytes + telemetry_bytes

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
            return open_schema(self._conn, self.path, self._clock)

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
