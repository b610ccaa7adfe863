"""Identify API: a device from a photo (POST /api/v1/identify/photo) and the device photos admins keep."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Query, Request, UploadFile, status
from fastapi.responses import FileResponse
from pydantic import BaseModel
from sqlalchemy.orm import Session

from cloud.audit.service import Actor
from cloud.config import Settings
from cloud.db import SessionDep
from cloud.deps import AdminUser, NotAuthenticated, OptionalUser, ScopeDep, SettingsDep
from cloud.errors import DomainError, NotFound
from cloud.i18n import pick_language, translate
from cloud.i18n_catalogs import N_
from cloud.identify import photos, service
from cloud.identify.models import DevicePhoto
from cloud.qr import service as qr_service
from cloud.qr.models import TargetKind
from cloud.ratelimit import client_address, limiter_for
from cloud.registry.backup import issue_pass
from cloud.registry.models import Device
from cloud.security import UPLOAD_HEADERS
from cloud.tickets.presence import may_skip_label
from cloud.web.pages import LANGUAGE_COOKIE

router = APIRouter(prefix="/api/v1", tags=["identify"])
ANONYMOUS_PER_MINUTE = 6  # OCR costs about a second of CPU: callers without an account get a few tries


class RateLimited(DomainError):
    """Too many photos from one address."""

    status_code = 429


class MatchOut(BaseModel):
    """A device the photo shows, with its repair page."""

    device_id: int
    system_number: str
    manufacturer: str
    model: str
    department: str | None
    thumbnail_url: str | None
    score: float
    url: str


class IdentifyOut(BaseModel):
    """How the device was found (nameplate | photo | none), the OCR text and the devices to confirm."""

    method: str
    text: str
    matches: list[MatchOut]
    message: str


class PhotoOut(BaseModel):
    """A stored device photo."""

    id: int
    device_id: int
    url: str
    thumbnail_url: str
    width: int
    height: int


def _language(request: Request) -> str:
    return pick_language(request.cookies.get(LANGUAGE_COOKIE), request.headers.get("accept-language"))


def photo_out(row: DevicePhoto) -> PhotoOut:
    """A stored photo with its file and thumbnail URLs."""
    base = f"/api/v1/devices/{row.device_id}/photos/{row.id}"
    return PhotoOut(id=row.id, device_id=row.device_id, url=base, thumbnail_url=f"{base}?thumb=1",
                    width=row.width, height=row.height)


def _read(upload: UploadFile, settings: Settings) -> bytes:
    # One byte over the limit is enough to say "too large" without reading a huge body into memory.
    return upload.file.read(settings.upload_max_photo_mb * 1024 * 1024 + 1)


def _matches(session: Session, result: service.Identification, settings: Settings, *,
             by_pass: bool) -> list[MatchOut]:
    devices: list[Device] = [c.device for c in result.candidates]
    if by_pass:  # an untrusted caller proved serial and number: a by-ID pass, never the label's code
        urls = {d.id: f"/report/device/{issue_pass(settings, device_id=d.id)}" for d in devices}
    else:
        codes = qr_service.codes_for(session, kind=TargetKind.device, targets=devices,
                                     actor=Actor.system("identify"))
        urls = {d.id: f"/r/{codes[d.id].code}" for d in devices}
    return [MatchOut(device_id=c.device.id, system_number=c.device.system_number,
                     manufacturer=c.device.manufacturer, model=c.device.model,
                     department=c.device.department.name if c.device.department else None,
                     thumbnail_url=photos.data_url(c.thumbnail) if c.thumbnail else None, score=c.score,
                     url=urls[c.device.id]) for c in result.candidates]


NONE_MESSAGE = "No readable nameplate and no similar device photo. Photograph the nameplate closer, or type the serial."
NONE_UNTRUSTED = N_("No device found. Photograph the whole nameplate so that the serial and the device number "
                    "(MF-…) both show, or type both on the report-by-ID page.")
MESSAGES = {"nameplate": "Found by the nameplate.", "photo": "Similar devices; tap the right one."}


@router.post("/identify/photo", response_model=IdentifyOut)
def identify_photo(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: OptionalUser,
    photo: Annotated[UploadFile, File(description="a photo of the device or its nameplate (JPEG/PNG/WebP)")],
    hospital_id: Annotated[int | None, Form()] = None,
    latitude: Annotated[float | None, Form(ge=-90, le=90)] = None,
    longitude: Annotated[float | None, Form(ge=-180, le=180)] = None,
) -> IdentifyOut:
    """Read the nameplate and match serial or system number; else offer the 3 most similar device photos.
    Anonymous and unverified callers find a device only when the photo shows its serial and system number
    together, and get a by-ID pass to report it (/report/device/<pass>), never its label's code."""
    language = _language(request)
    untrusted = not may_skip_label(user)  # anonymous or unverified: serial and number together, and a pass
    try:
        if user is None and not limiter_for(request.app.state, "identify").allow(client_address(request),
                                                                                ANONYMOUS_PER_MINUTE):
            raise RateLimited("Too many photos in a minute; please wait a moment.")
        if user is None and hospital_id is not None:
            raise NotAuthenticated("sign in first")  # as POST /hospitals/{id}/nearby-devices answers anonymous callers
        hospital = service.hospital_for(session, user=user, hospital_id=hospital_id, latitude=latitude,
                                        longitude=longitude)
        content = _read(photo, settings)
        if hospital is None:
            result = service.identify_exact(session, settings=settings, content=content, both=untrusted)
        else:
            result = service.identify(session, settings=settings, content=content, hospital_id=hospital)
    except DomainError as exc:
        exc.message = translate(exc.message, language)  # the page shows it as is
        raise
    matches = _matches(session, result, settings, by_pass=untrusted)
    session.commit()  # repair-page codes issued on first use must persist: the user follows them next
    message = MESSAGES.get(result.method, NONE_UNTRUSTED if untrusted else NONE_MESSAGE)
    return IdentifyOut(method=result.method, text=result.text[:2000], matches=matches,
                       message=translate(message, language))


@router.get("/devices/{device_id}/photos", response_model=list[PhotoOut])
def device_photos(device_id: int, session: SessionDep, scope: ScopeDep) -> list[PhotoOut]:
    """A device's stored photos (staff, and verified users of its hospital)."""
    device = session.get(Device, device_id)
    if device is None or not scope.allows(device.hospital_id):
        raise NotFound(f"device {device_id} not found")
    return [photo_out(row) for row in service.list_photos(session, device_id=device_id)]


@router.post("/devices/{device_id}/photos", response_model=PhotoOut, status_code=status.HTTP_201_CREATED)
def upload_device_photo(
    request: Request, device_id: int, session: SessionDep, settings: SettingsDep, user: AdminUser,
    photo: Annotated[UploadFile, File(description="a photo of the device (JPEG/PNG/WebP/GIF)")],
) -> PhotoOut:
    """Keep a photo of the device for matching users' photos (admins)."""
    try:
        row = service.add_photo(session, settings=settings, device_id=device_id, content=_read(photo, settings),
                                actor=Actor(user.id, user.username))
    except DomainError as exc:
        exc.message = translate(exc.message, _language(request))
        raise
    session.commit()
    return photo_out(row)


@router.delete("/devices/{device_id}/photos/{photo_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_device_photo(device_id: int, photo_id: int, session: SessionDep, user: AdminUser) -> None:
    """Remove a device photo (admins)."""
    service.remove_photo(session, device_id=device_id, photo_id=photo_id, actor=Actor(user.id, user.username))
    session.commit()


@router.get("/devices/{device_id}/photos/{photo_id}")
def device_photo_file(
    device_id: int, photo_id: int, session: SessionDep, settings: SettingsDep, scope: ScopeDep,
    thumb: Annotated[bool, Query()] = False,
) -> FileResponse:
    """The stored photo, or its thumbnail with ?thumb=1."""
    path, content_type = service.photo_file(session, settings=settings, device_id=device_id, photo_id=photo_id,
                                            scope=scope, thumb=thumb)
    return FileResponse(path, media_type=content_type,
                        headers={"Cache-Control": "private, max-age=86400", **UPLOAD_HEADERS})

