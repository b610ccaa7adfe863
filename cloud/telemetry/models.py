"""Telemetry tables: gateway, gateway_device, ingested_batch, reading, device_event."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from cloud.db import Base, UTCDateTime, utcnow
from cloud.registry.models import Hospital

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets 64 bits for the big tables.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class GatewayState(enum.StrEnum):
    """A gateway's connection state as it last reported it (MQTT retained status / Last Will)."""

    unknown = "unknown"
    online = "online"
    offline = "offline"


class Gateway(Base):
    """A lab gateway box; its name is the gateway_id it puts on the wire."""

    __tablename__ = "gateway"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    hospital_id: Mapped[int] = mapped_column(ForeignKey("hospital.id", ondelete="RESTRICT"), index=True)
    # Only the SHA-256 of the token is kept (like auth_token), so a database leak grants no uploads.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    token_rotated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_batch_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[GatewayState] = mapped_column(
        Enum(GatewayState, name="gateway_state", native_enum=False, length=20), default=GatewayState.unknown
    )
    status_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    hospital: Mapped[Hospital] = relationship()

    def audit_view(self) -> dict[str, Any]:
        """The fields an audit row keeps (never the token hash)."""
        return {"name": self.name, "hospital_id": self.hospital_id}


class GatewayDevice(Base):
    """A device key a gateway reports, and the registry device it stands for (NULL until an admin maps it)."""

    __tablename__ = "gateway_device"
    __table_args__ = (UniqueConstraint("gateway_id", "device_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    gateway_id: Mapped[int] = mapped_column(ForeignKey("gateway.id", ondelete="CASCADE"))
    device_key: Mapped[str] = mapped_column(String(128))
    device_id: Mapped[int | None] = mapped_column(ForeignKey("device.id", ondelete="SET NULL"), index=True)
    first_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    mapped_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class IngestedBatch(Base):
    """One batch the cloud accepted; the UNIQUE idempotency key is what makes delivery exactly-once."""

    __tablename__ = "ingested_batch"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    gateway_id: Mapped[int] = mapped_column(ForeignKey("gateway.id", ondelete="CASCADE"), index=True)
    stream_id: Mapped[str] = mapped_column(String(64))
    sequence: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    reading_count: Mapped[int] = mapped_column(Integer)
    event_count: Mapped[int] = mapped_column(Integer)
    telemetry_dropped_total: Mapped[int] = mapped_column(BigInteger, default=0)


class Reading(Base):
    """One sample of one metric (the SQL time-series store; InfluxDB can take its place later)."""

    __tablename__ = "reading"
    __table_args__ = (
        # A re-packed re-send of a sample is ignored rather than stored twice. The key is the sample's natural
        # key, (device, metric, instant) per gateway: what protocols.telemetry.reading_idempotency_key hashes,
        # without hashing it (migration 0011). Time second: a gateway's new samples land at the index's right
        # edge instead of at random places, and a batch's already-stored samples are one range away.
        UniqueConstraint("gateway_id", "observed_at", "device_key", "metric"),
        Index("ix_reading_device_id_metric_observed_at", "device_id", "metric", "observed_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    device_id: Mapped[int | None] = mapped_column(ForeignKey("device.id", ondelete="SET NULL"))
    # Not a foreign key (migration 0011): the per-row check was a fifth of the insert's cost, as every batch also
    # updates its gateway's row. Gateways are never deleted (nothing offers it, and gateway.hospital_id is
    # RESTRICT), and the ingest only ever writes the id of the gateway whose token it checked.
    gateway_id: Mapped[int] = mapped_column(Integer)
    device_key: Mapped[str] = mapped_column(String(128))
    metric: Mapped[str] = mapped_column(String(128))
    observed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    value_num: Mapped[float | None] = mapped_column(Float)
    value_text: Mapped[str | None] = mapped_column(Text)
    unit: Mapped[str | None] = mapped_column(String(32))
    quality: Mapped[str] = mapped_column(String(16))


class DeviceEvent(Base):
    """Something that happened on a device: error code, status change, ASTM result, QC run, availability."""

    __tablename__ = "device_event"
    __table_args__ = (
        UniqueConstraint("gateway_id", "idempotency_key"),
        Index("ix_device_event_device_id_occurred_at", "device_id", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    device_id: Mapped[int | None] = mapped_column(ForeignKey("device.id", ondelete="SET NULL"))
    gateway_id: Mapped[int] = mapped_column(ForeignKey("gateway.id", ondelete="CASCADE"))
    device_key: Mapped[str] = mapped_column(String(128))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    kind: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(16))
    code: Mapped[str | None] = mapped_column(String(128))
    text: Mapped[str] = mapped_column(Text, default="")
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    idempotency_key: Mapped[str] = mapped_column(String(64))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class _Rollup:
    """Columns shared by the rollup tables: per device, metric and epoch-aligned bucket start (epoch seconds)."""

    device_id: Mapped[int] = mapped_column(ForeignKey("device.id", ondelete="CASCADE"), primary_key=True)
    metric: Mapped[str] = mapped_column(String(128), primary_key=True)
    bucket: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    count: Mapped[int] = mapped_column(BigInteger)
    # The sum, not the average, so that merging a new batch into a bucket stays exact.
    sum: Mapped[float] = mapped_column(Float)
    min: Mapped[float] = mapped_column(Float)
    max: Mapped[float] = mapped_column(Float)


class ReadingRollupMinute(_Rollup, Base):
    """1-minute aggregates of mapped, numeric, not-bad readings, kept up to date by every ingest."""

    __tablename__ = "reading_rollup_1m"


class ReadingRollupHour(_Rollup, Base):
    """1-hour aggregates of the same readings (kept longer than raw readings and minute rollups)."""

    __tablename__ = "reading_rollup_1h"
