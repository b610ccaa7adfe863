"""Telemetry REST API under /api/v1: the gateway ingest, gateway admin, and per-device readings and events."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request, Response, status

from cloud.db import SessionDep
from cloud.deps import ActorDep, AdminUser, CurrentUser, NotAuthenticated, PaginationDep, ScopeDep, SettingsDep
from cloud.errors import Invalid
from cloud.metrics import record_ingest
from cloud.registry import service as registry
from cloud.schemas import Page
from cloud.telemetry import service
from cloud.telemetry.codec import decode_upload
from cloud.telemetry.exceptions import PayloadTooLarge, UnsupportedEncoding
from cloud.telemetry.models import Gateway
from cloud.telemetry.schemas import (
    EventOut,
    GatewayCreated,
    GatewayIn,
    GatewayOut,
    MappingIn,
    MappingOut,
    MetricOut,
    PointOut,
    ReadingsOut,
    TokenOut,
)
from cloud.telemetry.series import MAX_POINTS
from cloud.telemetry.store import timeseries_store
from protocols.telemetry import encode_ack, is_gzip

router = APIRouter(prefix="/api/v1", tags=["telemetry"])

DEFAULT_WINDOW = timedelta(hours=24)


# --- ingest -----------------------------------------------------------------------------------------


def ingest_gateway(session: SessionDep, authorization: Annotated[str | None, Header()] = None) -> Gateway:
    """The gateway whose bearer token came with the request; 401 for none, a user token or a wrong one."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotAuthenticated("the ingest needs a gateway token: Authorization: Bearer <token>")
    gateway = service.gateway_for_token(session, token=token.strip())
    if gateway is None:
        raise NotAuthenticated("the gateway token is not valid")
    return gateway


async def upload_body(request: Request, settings: SettingsDep) -> bytes:
    """The raw body, read no further than the size limit (413 beyond it)."""
    limit = settings.ingest_max_body_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"the upload is {declared} bytes, over the {limit} byte limit")
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("identity", "gzip", ""):
        raise UnsupportedEncoding(f"Content-Encoding {encoding!r} is not supported; send gzip or nothing")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"the upload is over the {limit} byte limit")
        chunks.append(chunk)
    body = b"".join(chunks)
    if encoding == "gzip" and not is_gzip(body):
        raise Invalid("Content-Encoding says gzip but the body is not gzip")
    return body


@router.post("/ingest", responses={200: {"description": "BatchAck (protocols/telemetry.py)"}})
def ingest(
    gateway: Annotated[Gateway, Depends(ingest_gateway)],
    body: Annotated[bytes, Depends(upload_body)],
    session: SessionDep,
    settings: SettingsDep,
) -> Response:
    """Store one edge batch (JSON, gzip optional) once; answers its BatchAck (duplicate=true when seen)."""
    batch = decode_upload(body, max_body_bytes=settings.ingest_max_body_bytes,
                          max_decoded_bytes=settings.ingest_max_decoded_bytes)
    ack = service.ingest_batch(session, gateway=gateway, batch=batch, store=timeseries_store(session, settings))
    session.commit()
    record_ingest("http", batch.readings, duplicate=ack.duplicate)
    return Response(content=encode_ack(ack), media_type="application/json")


# --- gateway admin ----------------------------------------------------------------------------------


@router.post("/gateways", response_model=GatewayCreated, status_code=status.HTTP_201_CREATED)
def create_gateway(data: GatewayIn, session: SessionDep, _admin: AdminUser, actor: ActorDep) -> GatewayCreated:
    """Register a gateway; the answer holds its token, shown this once."""
    gateway, token = service.create_gateway(session, name=data.name, hospital_id=data.hospital_id, actor=actor)
    session.commit()
    return GatewayCreated.model_validate({**GatewayOut.model_validate(gateway).model_dump(), "token": token})


@router.get("/gateways", response_model=list[GatewayOut])
def list_gateways(session: SessionDep, _admin: AdminUser, hospital_id: int | None = None) -> list[Gateway]:
    """Every gateway (optionally of one hospital) with its last contact and reported status."""
    return service.list_gateways(session, hospital_id=hospital_id)


@router.get("/gateways/{gateway_id}", response_model=GatewayOut)
def get_gateway(gateway_id: int, session: SessionDep, _admin: AdminUser) -> Gateway:
    """One gateway."""
    return service.get_gateway(session, gateway_id=gateway_id)


@router.post("/gateways/{gateway_id}/token", response_model=TokenOut)
def rotate_token(gateway_id: int, session: SessionDep, _admin: AdminUser, actor: ActorDep) -> TokenOut:
    """Issue a new token; the old one stops working at once."""
    token = service.rotate_token(session, gateway_id=gateway_id, actor=actor)
    session.commit()
    return TokenOut(gateway_id=gateway_id, token=token)


@router.get("/gateways/{gateway_id}/devices", response_model=list[MappingOut])
def list_mappings(gateway_id: int, session: SessionDep, _admin: AdminUser) -> list[MappingOut]:
    """Every device key the gateway reported or an admin mapped."""
    return [MappingOut.model_validate(m) for m in service.list_mappings(session, gateway_id=gateway_id)]


@router.get("/gateways/{gateway_id}/unmapped", response_model=list[MappingOut])
def list_unmapped(gateway_id: int, session: SessionDep, _admin: AdminUser) -> list[MappingOut]:
    """Device keys the gateway reports that no registry device is mapped to yet (their data is kept)."""
    rows = service.list_mappings(session, gateway_id=gateway_id, unmapped_only=True)
    return [MappingOut.model_validate(m) for m in rows]


@router.put("/gateways/{gateway_id}/devices/{device_key}", response_model=MappingOut)
def map_device(gateway_id: int, device_key: str, data: MappingIn, session: SessionDep, _admin: AdminUser,
               actor: ActorDep) -> MappingOut:
    """Map a device key to a registry device of the gateway's hospital; its unmapped data follows."""
    row = service.map_device(session, gateway_id=gateway_id, device_key=device_key, device_id=data.device_id,
                             actor=actor)
    session.commit()
    return MappingOut.model_validate(row)


@router.delete("/gateways/{gateway_id}/devices/{device_key}", status_code=status.HTTP_204_NO_CONTENT)
def unmap_device(gateway_id: int, device_key: str, session: SessionDep, _admin: AdminUser,
                 actor: ActorDep) -> None:
    """Unmap a device key; what it sends from now on is kept unmapped."""
    service.unmap_device(session, gateway_id=gateway_id, device_key=device_key, actor=actor)
    session.commit()


# --- per-device reads (tenant-scoped) ---------------------------------------------------------------


def _utc(moment: datetime | None) -> datetime | None:
    # A query string without an offset is read as UTC rather than refused.
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


@router.get("/devices/{device_id}/metrics", response_model=list[MetricOut])
def device_metrics(device_id: int, session: SessionDep, _user: CurrentUser, scope: ScopeDep,
                   settings: SettingsDep) -> list[MetricOut]:
    """The metrics a device reports, each with its newest value and time."""
    registry.get_device(session, device_id=device_id, scope=scope)
    return [MetricOut.model_validate(m, from_attributes=True)
            for m in timeseries_store(session, settings).list_metrics(device_id)]


@router.get("/devices/{device_id}/readings", response_model=ReadingsOut)
def device_readings(
    device_id: int,
    session: SessionDep,
    _user: CurrentUser,
    scope: ScopeDep,
    settings: SettingsDep,
    metric: Annotated[str, Query(min_length=1, max_length=128)],
    start: datetime | None = None,
    end: datetime | None = None,
    bucket: Annotated[int | None, Query(ge=1, le=31 * 86400, description="Seconds per bucket; none = raw")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_POINTS)] = MAX_POINTS,
) -> ReadingsOut:
    """One metric over [start, end) (default: the last 24 h), raw or averaged per bucket with min/max/count."""
    registry.get_device(session, device_id=device_id, scope=scope)
    end_at = _utc(end) or datetime.now(UTC)
    start_at = _utc(start) or end_at - DEFAULT_WINDOW
    if start_at >= end_at:
        raise Invalid("start must be before end", [{"field": "start", "message": "not before end"}])
    points = timeseries_store(session, settings).query(device_id, metric, start_at, end_at, bucket, limit=limit)
    return ReadingsOut(device_id=device_id, metric=metric, start=start_at, end=end_at, bucket_seconds=bucket,
                       points=[PointOut.model_validate(p, from_attributes=True) for p in points])


@router.get("/devices/{device_id}/events", response_model=Page[EventOut])
def device_events(
    device_id: int,
    session: SessionDep,
    _user: CurrentUser,
    scope: ScopeDep,
    page: PaginationDep,
    start: datetime | None = None,
    end: datetime | None = None,
    kind: str | None = None,
) -> Page[EventOut]:
    """A device's events (error codes, status, ASTM results, QC, availability), newest first."""
    registry.get_device(session, device_id=device_id, scope=scope)
    rows, total = service.list_events(session, device_id=device_id, start=_utc(start), end=_utc(end), kind=kind,
                                      limit=page.limit, offset=page.offset)
    return Page[EventOut](items=[EventOut.model_validate(r) for r in rows], total=total, limit=page.limit,
                          offset=page.offset)
