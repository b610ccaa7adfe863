"""Telemetry on the database: gateways and their tokens, device-key mapping, batch ingest, events.

Keyword-only, no HTTP, no MQTT; callers commit. The HTTP endpoint and the MQTT consumer both ingest here.
"""

from __future__ import annotations

import hashlib
import math
import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cloud.audit.service import Actor, record
from cloud.db import utcnow
from cloud.errors import Conflict, Forbidden, Invalid, NotFound
from cloud.events import emit
from cloud.registry.models import Device, Hospital
from cloud.telemetry.bulk import fold_mapped
from cloud.telemetry.codec import RawReading, Upload, as_upload
from cloud.telemetry.models import DeviceEvent, Gateway, GatewayDevice, GatewayState, IngestedBatch, Reading
from cloud.telemetry.series import ReadingRow, TimeSeriesStore
from cloud.telemetry.store import SqlTimeSeriesStore, insert_ignore
from protocols.telemetry import Batch, BatchAck, EventKind, GatewayStatus, batch_idempotency_key

TOKEN_PREFIX = "mfgw_"  # tells a gateway token from a user token at a glance (logs, support tickets)
# A device key's last_seen_at is refreshed at most this often. Refreshing it on every batch locked the key's row
# until commit, which made concurrent batches of one gateway wait for each other for their whole write.
SEEN_RESOLUTION = timedelta(seconds=5)
_MAX_EXACT_INT = 2**53  # beyond this a float loses integer precision; such values are kept as text


def hash_token(token: str) -> str:
    """SHA-256 hex digest of a token; only this is stored."""
    return hashlib.sha256(token.encode()).hexdigest()


def _new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


# --- gateways ---------------------------------------------------------------------------------------


def create_gateway(session: Session, *, name: str, hospital_id: int, actor: Actor) -> tuple[Gateway, str]:
    """Register a gateway; returns it with its token, which is shown this once and never stored."""
    try:
        batch_idempotency_key(name, "s", 0)  # the name is the wire gateway_id: same rule, checked in one place
    except ValueError as exc:
        raise Invalid("a gateway name is 1 to 64 letters, digits, '.', '_' or '-'",
                      [{"field": "name", "message": str(exc)}]) from exc
    if session.get(Hospital, hospital_id) is None:
        raise Invalid(f"hospital {hospital_id} does not exist",
                      [{"field": "hospital_id", "message": "no such hospital"}])
    token = _new_token()
    gateway = Gateway(name=name, hospital_id=hospital_id, token_hash=hash_token(token))
    session.add(gateway)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:
        raise Conflict(f"a gateway named {name!r} already exists") from exc
    record(session, actor=actor, action="create", entity="gateway", entity_id=gateway.id,
           hospital_id=hospital_id, after=gateway.audit_view())
    return gateway, token


def rotate_token(session: Session, *, gateway_id: int, actor: Actor) -> str:
    """Give a gateway a new token; the old one stops working at commit."""
    gateway = get_gateway(session, gateway_id=gateway_id)
    token = _new_token()
    gateway.token_hash = hash_token(token)
    gateway.token_rotated_at = utcnow()
    record(session, actor=actor, action="rotate_token", entity="gateway", entity_id=gateway.id,
           hospital_id=gateway.hospital_id)
    return token


def get_gateway(session: Session, *, gateway_id: int) -> Gateway:
    """One gateway by id, or NotFound."""
    gateway = session.get(Gateway, gateway_id)
    if gateway is None:
        raise NotFound(f"gateway {gateway_id} not found")
    return gateway


def find_gateway(session: Session, *, ref: str) -> Gateway:
    """A gateway by name or numeric id (the CLI's way of naming one), or NotFound."""
    gateway = session.execute(select(Gateway).where(Gateway.name == ref)).scalar()
    if gateway is None and ref.isdigit():
        gateway = session.get(Gateway, int(ref))
    if gateway is None:
        raise NotFound(f"gateway {ref!r} not found")
    return gateway


def list_gateways(session: Session, *, hospital_id: int | None = None) -> list[Gateway]:
    """Gateways by name, optionally of one hospital."""
    stmt = select(Gateway).order_by(Gateway.name)
    if hospital_id is not None:
        stmt = stmt.where(Gateway.hospital_id == hospital_id)
    return list(session.execute(stmt).scalars())


def gateway_for_token(session: Session, *, token: str) -> Gateway | None:
    """The gateway a token belongs to, or None (user tokens never match: they live in another table)."""
    if not token.startswith(TOKEN_PREFIX):
        return None
    return session.execute(select(Gateway).where(Gateway.token_hash == hash_token(token))).scalar()


def record_status(*, gateway: Gateway, status: GatewayStatus) -> None:
    """Keep what the gateway last said about itself (retained MQTT status or its Last Will)."""
    now = utcnow()
    gateway.status = GatewayState(status.value)
    gateway.status_at = now
    if status is GatewayStatus.ONLINE:
        gateway.last_seen_at = now


# --- device-key mapping -----------------------------------------------------------------------------


def list_mappings(session: Session, *, gateway_id: int, unmapped_only: bool = False) -> list[GatewayDevice]:
    """The device keys a gateway has reported or an admin mapped, by key."""
    get_gateway(session, gateway_id=gateway_id)
    stmt = select(GatewayDevice).where(GatewayDevice.gateway_id == gateway_id).order_by(GatewayDevice.device_key)
    if unmapped_only:
        stmt = stmt.where(GatewayDevice.device_id.is_(None))
    return list(session.execute(stmt).scalars())


def unmapped_backlog(session: Session, *, gateway_id: int) -> dict[str, tuple[int, int]]:
    """Per device key, the (readings, events) stored unmapped so far: what follows the key when it is mapped."""
    backlog: dict[str, list[int]] = {}
    for index, model in enumerate((Reading, DeviceEvent)):
        rows = session.execute(select(model.device_key, func.count()).where(
            model.gateway_id == gateway_id, model.device_id.is_(None)).group_by(model.device_key)).all()
        for key, count in rows:
            backlog.setdefault(key, [0, 0])[index] = int(count)
    return {key: (counts[0], counts[1]) for key, counts in backlog.items()}


def _mapping(session: Session, gateway_id: int, device_key: str) -> GatewayDevice | None:
    return session.execute(select(GatewayDevice).where(
        GatewayDevice.gateway_id == gateway_id, GatewayDevice.device_key == device_key)).scalar()


def map_device(session: Session, *, gateway_id: int, device_key: str, device_id: int, actor: Actor) -> GatewayDevice:
    """Say which registry device a gateway's device key is; readings stored unmapped so far follow it."""
    gateway = get_gateway(session, gateway_id=gateway_id)
    if not device_key or len(device_key) > 128:
        raise Invalid("the device key must be 1 to 128 characters", [{"field": "device_key", "message": "length"}])
    device = session.get(Device, device_id)
    if device is None:
        raise Invalid(f"device {device_id} does not exist", [{"field": "device_id", "message": "no such device"}])
    if device.hospital_id != gateway.hospital_id:
        # A gateway sits in one lab: feeding another hospital's device would leak data across tenants.
        raise Invalid(f"device {device.system_number} belongs to another hospital than gateway {gateway.name}",
                      [{"field": "device_id", "message": "device of another hospital"}])
    now = utcnow()
    insert_ignore(session, GatewayDevice, [{"gateway_id": gateway.id, "device_key": device_key}],
                  ["gateway_id", "device_key"])
    row = _mapping(session, gateway.id, device_key)
    assert row is not None  # inserted or already there, in this transaction
    before = {"device_key": device_key, "device_id": row.device_id}
    row.device_id = device.id
    row.mapped_at = now
    # Before the UPDATE below, while these readings are still the unmapped ones: the rollups gain them once.
    fold_mapped(session, gateway_id=gateway.id, device_key=device_key, device_id=device.id)
    for model in (Reading, DeviceEvent):
        session.execute(update(model).where(model.gateway_id == gateway.id, model.device_key == device_key,
                                            model.device_id.is_(None)).values(device_id=device.id))
    record(session, actor=actor, action="map_device", entity="gateway", entity_id=gateway.id,
           hospital_id=gateway.hospital_id, before=before, after={"device_key": device_key, "device_id": device.id})
    return row


def unmap_device(session: Session, *, gateway_id: int, device_key: str, actor: Actor) -> None:
    """Forget which device a key is; new data from it is stored unmapped again (stored data stays put)."""
    gateway = get_gateway(session, gateway_id=gateway_id)
    row = _mapping(session, gateway.id, device_key)
    if row is None or row.device_id is None:
        raise NotFound(f"device key {device_key!r} of gateway {gateway.name} is not mapped")
    before = {"device_key": device_key, "device_id": row.device_id}
    row.device_id = None
    row.mapped_at = None
    record(session, actor=actor, action="unmap_device", entity="gateway", entity_id=gateway.id,
           hospital_id=gateway.hospital_id, before=before, after={"device_key": device_key, "device_id": None})


def _resolve_keys(session: Session, gateway: Gateway, keys: set[str], now: datetime) -> dict[str, int | None]:
    # New keys get an unmapped row (ON CONFLICT DO NOTHING: safe when two batches race on a new key).
    if not keys:
        return {}
    known: dict[str, int | None] = dict(session.execute(
        select(GatewayDevice.device_key, GatewayDevice.device_id).where(
            GatewayDevice.gateway_id == gateway.id, GatewayDevice.device_key.in_(keys))).all())
    fresh = keys - known.keys()
    if fresh:
        insert_ignore(session, GatewayDevice,
                      ({"gateway_id": gateway.id, "device_key": k, "first_seen_at": now} for k in sorted(fresh)),
                      ["gateway_id", "device_key"])
        known.update(dict.fromkeys(fresh))
    return known


def _touch_keys(session: Session, gateway: Gateway, keys: set[str], now: datetime) -> None:
    # Only rows not refreshed for SEEN_RESOLUTION: a row another open batch is refreshing is one this batch's
    # snapshot already sees as recent (or it will be after SEEN_RESOLUTION), so it does not wait for that lock.
    if keys:
        session.execute(update(GatewayDevice).where(
            GatewayDevice.gateway_id == gateway.id, GatewayDevice.device_key.in_(keys),
            or_(GatewayDevice.last_seen_at.is_(None), GatewayDevice.last_seen_at < now - SEEN_RESOLUTION),
        ).values(last_seen_at=now))


# --- ingest -----------------------------------------------------------------------------------------


def _split_value(value: bool | int | float | str) -> tuple[float | None, str | None]:
    if isinstance(value, bool):  # before int: bool is an int subclass
        return (1.0 if value else 0.0), None
    if isinstance(value, int):
        return (float(value), None) if abs(value) <= _MAX_EXACT_INT else (None, str(value))
    if isinstance(value, float):
        return value, None
    return None, value


def _claim(session: Session, gateway: Gateway, batch: Batch, readings: int, now: datetime) -> bool:
    # The ledger row goes in first, under the UNIQUE key: a concurrent delivery of the same batch blocks on
    # it (PostgreSQL: the index; SQLite: the write lock) and then inserts nothing, so it can never store twice.
    # ON CONFLICT DO NOTHING on that key only: any other failure (the gateway vanished) still raises.
    values = {
        "idempotency_key": batch.idempotency_key, "gateway_id": gateway.id, "stream_id": batch.stream_id,
        "sequence": batch.sequence, "created_at": batch.created_at, "received_at": now,
        "reading_count": readings, "event_count": len(batch.events),
        "telemetry_dropped_total": batch.telemetry_dropped_total,
    }
    dialect = session.get_bind().dialect.name
    upsert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = upsert(IngestedBatch).values(values).on_conflict_do_nothing(index_elements=["idempotency_key"])
    return session.execute(stmt.returning(IngestedBatch.id)).first() is not None


def ingest_batch(session: Session, *, gateway: Gateway, batch: Batch | Upload,
                 store: TimeSeriesStore | None = None) -> BatchAck:
    """Store a batch once: a key already ingested (even by a concurrent delivery) answers duplicate=True.

    batch is a wire Batch or what codec.decode_upload made of an upload (the same batch without a pydantic
    object per reading). A reading already stored (same gateway, device key, metric and instant: what its
    idempotency key in protocols/telemetry.py hashes) is not stored again, whichever batch carried it.
    """
    upload = batch if isinstance(batch, Upload) else as_upload(batch)
    envelope, readings = upload
    if envelope.gateway_id != gateway.name:
        raise Forbidden(f"this token belongs to gateway {gateway.name!r}, the batch names {envelope.gateway_id!r}")
    now = utcnow()
    key = envelope.idempotency_key
    if not _claim(session, gateway, envelope, len(readings), now):
        seen = session.execute(select(IngestedBatch).where(IngestedBatch.idempotency_key == key)).scalar_one()
        gateway.last_seen_at = now
        return BatchAck(idempotency_key=key, accepted_readings=seen.reading_count,
                        accepted_events=seen.event_count, duplicate=True)

    keys = {r[0] for r in readings} | {e.device_key for e in envelope.events}
    devices = _resolve_keys(session, gateway, keys, now)
    rows, samples, units = _rows(gateway.id, devices, readings)
    (store or SqlTimeSeriesStore(session)).write(rows)
    if envelope.events:
        insert_ignore(session, DeviceEvent, _event_rows(gateway, envelope, devices, now),
                      ["gateway_id", "idempotency_key"])
    # The scorer (cloud/alerts) learns from mapped, numeric, good readings once this batch commits.
    # units: [device_id, metric, unit] once per stream, so the scorer knows what a stream measures.
    if samples:
        emit(session, "telemetry.ingested", gateway_id=gateway.id, samples=samples, units=units)
    signals = _signals(envelope, devices)
    if signals:  # QC and calibration runs, error codes: signals of their own (cloud/alerts/signals.py)
        emit(session, "telemetry.signals", gateway_id=gateway.id, events=signals)
    _touch_keys(session, gateway, keys, now)
    gateway.last_seen_at = now
    gateway.last_batch_at = now
    return BatchAck(idempotency_key=key, accepted_readings=len(readings), accepted_events=len(envelope.events))


def _rows(gateway_id: int, devices: dict[str, int | None], readings: list[RawReading],
          ) -> tuple[list[ReadingRow], list[tuple[int, str, float, float]], list[tuple[int, str, str]]]:
    # One pass: the rows to store and the scorer's samples (mapped, numeric, good, finite), each instant's epoch
    # computed once. Readings are deduplicated by their natural key (no per-reading hash).
    rows: list[ReadingRow] = []
    samples: list[tuple[int, str, float, float]] = []
    units: dict[tuple[int, str], str] = {}
    epochs: dict[datetime, float] = {}
    split = _split_value
    isfinite = math.isfinite
    for device_key, metric, at, value, unit, quality in readings:
        device_id = devices.get(device_key)
        if type(value) is float:
            num: float | None = value
            txt: str | None = None
        else:
            num, txt = split(value)
        rows.append(ReadingRow(gateway_id, device_id, device_key, metric, at, num, txt, unit, quality))
        if device_id is not None and num is not None and quality == "good" and isfinite(num):
            t = epochs.get(at)
            if t is None:
                t = epochs[at] = at.timestamp()
            samples.append((device_id, metric, t, num))
            if unit:
                units[(device_id, metric)] = unit
    return rows, samples, [(d, m, u) for (d, m), u in units.items()]


SIGNAL_KINDS = frozenset({EventKind.QC, EventKind.CALIBRATION, EventKind.ERROR_CODE})


def _signals(batch: Batch, devices: dict[str, int | None]) -> list[dict[str, Any]]:
    """The batch's QC, calibration and error-code events of mapped devices, as the signal flow reads them."""
    return [{"device_id": device_id, "kind": e.kind.value, "at": e.occurred_at.isoformat(), "code": e.code,
             "passed": e.payload.get("passed"), "failed_tests": e.payload.get("failed_tests") or []}
            for e in batch.events if e.kind in SIGNAL_KINDS and (device_id := devices.get(e.device_key)) is not None]


def _event_rows(gateway: Gateway, batch: Batch, devices: dict[str, int | None], now: datetime,
                ) -> Iterable[dict[str, Any]]:
    for event in batch.events:
        yield {
            "gateway_id": gateway.id, "device_id": devices.get(event.device_key), "device_key": event.device_key,
            "occurred_at": event.occurred_at, "kind": event.kind.value, "severity": event.severity.value,
            "code": event.code, "text": event.text, "payload": dict(event.payload),
            "idempotency_key": event.idempotency_key, "received_at": now,
        }


# --- reads ------------------------------------------------------------------------------------------


def list_events(
    session: Session,
    *,
    device_id: int,
    start: datetime | None = None,
    end: datetime | None = None,
    kind: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[DeviceEvent], int]:
    """A device's events newest first, with the total count."""
    stmt = select(DeviceEvent).where(DeviceEvent.device_id == device_id)
    if start is not None:
        stmt = stmt.where(DeviceEvent.occurred_at >= start)
    if end is not None:
        stmt = stmt.where(DeviceEvent.occurred_at < end)
    if kind is not None:
        stmt = stmt.where(DeviceEvent.kind == kind)
    total = session.execute(select(func.count()).select_from(stmt.subquery())).scalar_one()
    rows = session.execute(stmt.order_by(DeviceEvent.occurred_at.desc(), DeviceEvent.id.desc())
                           .limit(limit).offset(offset)).scalars().all()
    return list(rows), int(total)
