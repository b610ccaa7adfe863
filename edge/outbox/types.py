"""What the outbox hands out and reports, and how it fails (edge/outbox/__init__.py has the guarantees)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

from protocols.telemetry import Batch, batch_idempotency_key, decode_batch

DEFAULT_MAX_TELEMETRY_ROWS: Final = 20_000_000
"""Telemetry items (readings) waiting at most: 66 min of 100 devices x 50 metrics at 1 Hz, ~0.5 GB on disk."""


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
class FrozenBatch:
    """A leased batch as the uplink needs it: its key, what it holds, and the exact bytes to send."""

    gateway_id: str
    stream_id: str
    sequence: int
    created_at: datetime
    readings: int
    events: int
    streams: frozenset[tuple[str, str]]  # (device, metric) of each reading, (device, "") of each event
    wire: bytes  # gzip-compressed wire JSON (protocols.telemetry.encode_batch(..., compress=True) of the batch)

    @property
    def devices(self) -> frozenset[str]:
        """The devices of its streams (what lease_wire's busy_devices takes)."""
        return frozenset(device for device, _ in self.streams)

    @property
    def idempotency_key(self) -> str:
        """The key the cloud dedupes this batch by."""
        return batch_idempotency_key(self.gateway_id, self.stream_id, self.sequence)

    @property
    def items(self) -> int:
        """Readings plus events."""
        return self.readings + self.events

    def decode(self) -> Batch:
        """The batch as a validated model (tests and tools; the uplink sends `wire` as is)."""
        return decode_batch(self.wire)


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
