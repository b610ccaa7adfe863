"""Telemetry fixtures: a registered gateway with its token, and batches built from the wire contract."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cloud.audit.service import Actor
from cloud.telemetry import service
from cloud.telemetry.models import DeviceEvent, IngestedBatch, Reading
from protocols.telemetry import Batch, Event, EventKind, Quality, Severity
from protocols.telemetry import Reading as WireReading
from tests.cloud.world import World

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class GatewayInfo:
    """A gateway registered for a test: its id, wire name and token."""

    id: int
    name: str
    token: str
    hospital_id: int

    @property
    def headers(self) -> dict[str, str]:
        """The ingest's Authorization header."""
        return {"Authorization": f"Bearer {self.token}"}


def add_gateway(db: Session, hospital_id: int, name: str | None = None) -> GatewayInfo:
    """Register a gateway with a unique name straight through the service."""
    name = name or f"gw-{uuid.uuid4().hex[:10]}"
    gateway, token = service.create_gateway(db, name=name, hospital_id=hospital_id, actor=Actor.system("test"))
    db.commit()
    return GatewayInfo(id=gateway.id, name=gateway.name, token=token, hospital_id=hospital_id)


@pytest.fixture
def gateway(db: Session, world: World) -> GatewayInfo:
    """A gateway in hospital A."""
    return add_gateway(db, world.hospital_a)


def make_batch(
    gateway_name: str,
    sequence: int = 0,
    *,
    readings: Iterable[tuple[str, str, float | int | str | bool, datetime]] | None = None,
    events: Iterable[tuple[str, str, datetime]] | None = None,
    stream_id: str = "stream-1",
    quality: Quality = Quality.GOOD,
    unit: str | None = "°C",
) -> Batch:
    """A batch of (device_key, metric, value, at) readings and (device_key, code, at) error events."""
    if readings is None:
        readings = [("c702", "temp_c", 37.0 + i / 10, T0 + timedelta(seconds=i)) for i in range(3)]
    if events is None:
        events = [("c702", "E-101", T0 + timedelta(seconds=5))]
    return Batch(
        gateway_id=gateway_name, stream_id=stream_id, sequence=sequence, created_at=T0,
        readings=[WireReading(device_key=k, metric=m, value=v, observed_at=at, unit=unit, quality=quality)
                  for k, m, v, at in readings],
        events=[Event(device_key=k, occurred_at=at, kind=EventKind.ERROR_CODE, severity=Severity.ERROR, code=code,
                      text=f"error {code}", payload={"module": 2}) for k, code, at in events],
    )


def counts(db: Session) -> dict[str, int]:
    """How many batches, readings and events are stored (a fresh look, outside any earlier snapshot)."""
    db.rollback()
    out: dict[str, Any] = {}
    for name, model in (("batches", IngestedBatch), ("readings", Reading), ("events", DeviceEvent)):
        out[name] = db.execute(select(func.count()).select_from(model)).scalar_one()
    return out
