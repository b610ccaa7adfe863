"""Durable store-and-forward outbox for readings and events on their way to the cloud (SQLite, WAL).

Parts: `store.py` the Outbox (append, lease, ack, stats), `chunks.py` how items and batches are stored and
sent, `schema.py` the file's tables and their upgrades, `types.py` what it hands out and how it fails.

Guarantees:
- Nothing append() returned for is lost by a process crash; clinical rows (and batch assignments)
  are committed with synchronous=FULL so they also survive power loss. Acks are not fsynced: one lost to a
  power cut only means the batch is sent again under its key, which the cloud dedupes.
- A batch, once leased, is frozen: its sequence, created_at, idempotency key *and its encoded wire bytes*
  (gzip-compressed JSON, exactly what the uplink sends) are stored in the same transaction that forms it.
  Until it is acked, every later lease (in this process after nack(), or in a new process after a
  crash/restart) hands out the very same bytes under the very same key, so the cloud can dedupe by key,
  nothing is ever delivered twice under two keys, and a re-send costs no re-encoding.
- Clinical items are never dropped: past `max_clinical_rows` append() raises BufferFull and writes
  nothing; the caller stops acknowledging the instrument (ASTM NAK/busy) until the cloud catches up.
  AppendResult.backpressure turns on earlier, at `clinical_high_water`, so callers can slow down first.
- Telemetry waiting for a batch is bounded by `max_telemetry_rows` (counted in items, i.e. readings);
  beyond it the oldest waiting telemetry items are dropped and counted in a persisted counter (reported as
  telemetry_dropped_total in every batch, so the cloud shows the gap). Items already in a batch are never
  dropped, so a re-sent batch stays identical.

Storage: items wait in *chunks*, one row per run of same-kind, same-retention items of one append (a
device's poll cycle is one chunk of ~50 readings), holding the items' wire JSON, one per line, zlib-compressed:
~16-30 bytes per reading on disk instead of ~260 for a row per reading, so the default cap (20 million
readings, over an hour of a 100 x 50 fleet at 1 Hz) costs ~0.5 GB (docs/benchmarks-edge.md). When a batch is
formed, the items it takes leave their chunks (a chunk cut by the batch's limits keeps its rest, same id) and
live on only inside the frozen batch's bytes. append_many() stores several callers' items in one transaction
(the agent's group commit of one poll tick).

Threading: the Outbox is synchronous and guards its single connection with a lock, so it may be called
from several threads. From asyncio, call it through a thread (`await asyncio.to_thread(outbox.append,
items)`): commits fsync and must not block the event loop. One process owns a database file at a time
(an advisory lock on "<path>.lock" enforces it; OutboxLockedError otherwise).
"""

from edge.outbox.store import Outbox
from edge.outbox.types import (
    DEFAULT_MAX_TELEMETRY_ROWS,
    AppendResult,
    BufferFull,
    FrozenBatch,
    OutboxError,
    OutboxLockedError,
    OutboxStats,
)

__all__ = [
    "DEFAULT_MAX_TELEMETRY_ROWS",
    "AppendResult",
    "BufferFull",
    "FrozenBatch",
    "Outbox",
    "OutboxError",
    "OutboxLockedError",
    "OutboxStats",
]
