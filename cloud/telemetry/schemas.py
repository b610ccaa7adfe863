"""API shapes of the telemetry domain (the wire shapes of batches and acks live in protocols/telemetry.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from cloud.telemetry.models import GatewayState
from protocols.telemetry import KeyPart


class GatewayIn(BaseModel):
    """A gateway to register; name is the gateway_id the box puts on the wire."""

    name: KeyPart
    hospital_id: int


class GatewayOut(BaseModel):
    """A gateway as admins see it (never its token)."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    hospital_id: int
    created_at: datetime
    token_rotated_at: datetime
    last_seen_at: datetime | None
    last_batch_at: datetime | None
    status: GatewayState
    status_at: datetime | None


class GatewayCreated(GatewayOut):
    """A new gateway with its token: shown this once, store it on the box."""

    token: str


class TokenOut(BaseModel):
    """A freshly issued gateway token: shown this once."""

    gateway_id: int
    token: str


class MappingIn(BaseModel):
    """Which registry device a device key stands for."""

    device_id: int


class MappingOut(BaseModel):
    """A device key of a gateway and the device it is mapped to (None: unmapped)."""

    model_config = ConfigDict(from_attributes=True)

    gateway_id: int
    device_key: str
    device_id: int | None
    first_seen_at: datetime | None
    last_seen_at: datetime | None
    mapped_at: datetime | None


class MetricOut(BaseModel):
    """A metric a device reports, with its newest value."""

    metric: str
    unit: str | None
    last_at: datetime
    last_value: float | None
    last_text: str | None
    count: int


class PointOut(BaseModel):
    """A raw sample (min = max = value) or a bucket (value = average over count samples)."""

    at: datetime
    value: float | None
    min: float | None
    max: float | None
    count: int
    text: str | None = None
    quality: str | None = None


class ReadingsOut(BaseModel):
    """One metric of one device over [start, end), raw or downsampled."""

    device_id: int
    metric: str
    start: datetime
    end: datetime
    bucket_seconds: int | None
    points: list[PointOut]


class EventOut(BaseModel):
    """A device event: error code, status change, ASTM result, QC run, availability."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    device_id: int | None
    device_key: str
    occurred_at: datetime
    kind: str
    severity: str
    code: str | None
    text: str
    payload: dict[str, Any] = Field(default_factory=dict)
    received_at: datetime
