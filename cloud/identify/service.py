"""Finding a device from a photo: read the nameplate (OCR), else compare with the hospital's stored photos.

Db-only and keyword-only like every service. Whose devices are searched is decided once, in `hospital_for`,
with the backup-report-by-hospital rules (cloud/registry/backup.py); nothing here ever looks outside that
hospital, except `identify_exact`, which does exactly what typing the serial on /report does.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.audit.service import Actor, record
from cloud.auth.models import User, Verification
from cloud.config import Settings
from cloud.errors import Forbidden, Invalid, NotFound
from cloud.identify import ocr, photos
from cloud.identify.matching import Identifier
from cloud.identify.models import DevicePhoto
from cloud.registry import backup
from cloud.registry.models import Device, Hospital
from cloud.tenancy import Scope, engineer_scope

PHOTO_THRESHOLD = 0.66  # below this two photos show different things (synthetic set: same ≥ 0.61, p50 0.88;
# different: p50 0.60, max 0.67); above it the user still confirms, so a near miss costs one tap
PHOTO_MARGIN = 0.15  # candidates far behind the best are noise next to it
TOP = 3
MAX_PHOTOS_PER_DEVICE = 12


@dataclass(frozen=True)
class Candidate:
    """A device the photo may show."""

    device: Device
    score: float
    thumbnail: bytes | None


@dataclass
class Identification:
    """The outcome: method nameplate | photo | none, the OCR text and the candidates (best first)."""

    method: str
    text: str
    candidates: list[Candidate] = field(default_factory=list)
    ocr_passes: int = 0
    elapsed_ms: int = 0


def hospital_for(
    session: Session, *, user: User | None, hospital_id: int | None, latitude: float | None,
    longitude: float | None,
) -> int | None:
    """Whose devices the caller may search: staff any named hospital, a verified lab user their own; anyone
    else only after the by-hospital checks (signed in, verified, inside the geofence). None: no hospital."""
    if user is not None and user.is_staff:
        if hospital_id is None:
            return None  # staff serve every hospital: without one named, only an exact nameplate read counts
        served = engineer_scope(user)  # an engineer who serves listed hospitals: only theirs (finding 6)
        if session.get(Hospital, hospital_id) is None or (served is not None and not served.allows(hospital_id)):
            raise NotFound(f"hospital {hospital_id} not found")
        return hospital_id
    if user is not None and user.verification == Verification.verified and user.hospital_id is not None \
            and hospital_id in (None, user.hospital_id):
        return user.hospital_id
    if hospital_id is None:
        return None
    if latitude is None or longitude is None:
        raise Invalid("Location is needed to search a hospital's devices.",
                      [{"field": "latitude", "message": "required"}])
    if user is None:  # the API answers 401 before this; a service caller without a user gets no devices
        raise Forbidden("sign in first")
    # A verified lab user: their hospital, as tenant_scope gives; anyone else past the checks below is bound by the
    # geofence of the hospital they name, not by a hospital of their own.
    scope = Scope.of_hospital(user.hospital_id) if user.hospital_id is not None else Scope.everything()
    # The very checks of reporting by hospital: verified, in scope, inside the geofence (refusals audited).
    backup.devices_near(session, hospital_id=hospital_id, latitude=latitude, longitude=longitude, user=user,
                        scope=scope)
    return hospital_id


def _identifiers(devices: list[Device]) -> list[Identifier]:
    out = []
    for device in devices:
        out.append(Identifier(device.id, "serial", device.serial))
        out.append(Identifier(device.id, "system_number", device.system_number))
    return out


def _thumbnail(settings: Settings, row: DevicePhoto | None) -> bytes | None:
    if row is None:
        return None
    path = settings.data_dir / row.thumb_path
    return path.read_bytes() if path.is_file() else None


def _first_photos(session: Session, device_ids: list[int]) -> dict[int, DevicePhoto]:
    rows = session.execute(select(DevicePhoto).where(DevicePhoto.device_id.in_(device_ids))
                           .order_by(DevicePhoto.id)).scalars()
    first: dict[int, DevicePhoto] = {}
    for row in rows:
        first.setdefault(row.device_id, row)
    return first


def identify(session: Session, *, settings: Settings, content: bytes, hospital_id: int) -> Identification:
    """The hospital's device on the photo: by nameplate when OCR names one, else the top 3 similar photos."""
    started = time.perf_counter()
    image, _type, _ext = photos.open_photo(content, max_mb=settings.upload_max_photo_mb)
    devices = list(session.execute(select(Device).where(Device.hospital_id == hospital_id)).scalars())
    by_id = {d.id: d for d in devices}
    try:
        reading = ocr.read_nameplate(image, _identifiers(devices)) if devices else \
            ocr.NameplateReading(text="", matches=[], passes=0)
    except ocr.OcrUnavailable:
        reading = ocr.NameplateReading(text="", matches=[], passes=0)
    result = Identification(method="none", text=reading.text.strip(), ocr_passes=reading.passes)
    if reading.matches:
        match = reading.matches[0]
        first = _first_photos(session, [match.device_id]).get(match.device_id)
        result.method = "nameplate"
        result.candidates = [Candidate(by_id[match.device_id], match.score, _thumbnail(settings, first))]
    else:
        query = photos.features(image, query=True)
        best: dict[int, tuple[float, DevicePhoto]] = {}
        for row in session.execute(select(DevicePhoto).where(DevicePhoto.hospital_id == hospital_id)).scalars():
            if row.device_id not in by_id:  # the device moved to another hospital since the photo was taken
                continue
            score = photos.similarity(query, row.variants, row.colors)
            if score >= PHOTO_THRESHOLD and score > best.get(row.device_id, (0.0, row))[0]:
                best[row.device_id] = (score, row)
        ranked = sorted(best.items(), key=lambda item: (-item[1][0], item[0]))[:TOP]
        ranked = [item for item in ranked if item[1][0] >= ranked[0][1][0] - PHOTO_MARGIN]
        if ranked:
            result.method = "photo"
            result.candidates = [Candidate(by_id[device_id], score, _thumbnail(settings, row))
                                 for device_id, (score, row) in ranked]
    result.elapsed_ms = round((time.perf_counter() - started) * 1000)
    return result


_TOKEN = re.compile(r"[0-9A-Za-z][0-9A-Za-z\-_/.]{2,}")


def identify_exact(session: Session, *, settings: Settings, content: bytes, both: bool = False) -> Identification:
    """Without a hospital: only a serial or system number read exactly, as if typed on /report (no fuzzing,
    no photo comparison, no thumbnails: that would show devices the caller has no right to browse).

    both: the caller has no trusted account, so the photo must show the serial and the system number of one
    device together (the rule of reporting by ID anonymously); one of them alone names nothing."""
    image, _type, _ext = photos.open_photo(content, max_mb=settings.upload_max_photo_mb)
    texts: list[str] = []
    seen: set[str] = set()
    try:
        for _name, text in ocr.read_passes(image):
            texts.append(text)
            tokens = _TOKEN.findall(text)
            pairs = [f"{a}{b}" for a, b in zip(tokens, tokens[1:], strict=False)]
            read = [token for token in dict.fromkeys([*tokens, *pairs])
                    if len(backup.normalize_identifier(token)) >= 5]  # shorter ones name no device for sure
            seen.update(backup.normalize_identifier(token) for token in read)
            for token in read:
                device = backup.find_by_identifier(session, text=token)
                if device is None or (both and not _shows_both(device, seen)):
                    continue
                return Identification(method="nameplate", text=text.strip(),
                                      candidates=[Candidate(device, 1.0, None)], ocr_passes=len(texts))
    except ocr.OcrUnavailable:
        pass
    return Identification(method="none", text=max(texts, key=len, default="").strip(), ocr_passes=len(texts))


def _shows_both(device: Device, seen: set[str]) -> bool:
    return backup.normalize_identifier(device.serial) in seen and \
        backup.normalize_identifier(device.system_number) in seen


def list_photos(session: Session, *, device_id: int) -> list[DevicePhoto]:
    """A device's stored photos, oldest first."""
    return list(session.execute(select(DevicePhoto).where(DevicePhoto.device_id == device_id)
                                .order_by(DevicePhoto.id)).scalars())


def add_photo(session: Session, *, settings: Settings, device_id: int, content: bytes, actor: Actor) -> DevicePhoto:
    """Keep a device photo with its hashes and thumbnail; the caller commits."""
    device = session.get(Device, device_id)
    if device is None:
        raise NotFound(f"device {device_id} not found")
    if len(list_photos(session, device_id=device_id)) >= MAX_PHOTOS_PER_DEVICE:
        raise Invalid("This device already has the most photos allowed; remove one first.",
                      [{"field": "photo", "message": f"at most {MAX_PHOTOS_PER_DEVICE}"}])
    image, content_type, extension = photos.open_photo(content, max_mb=settings.upload_max_photo_mb)
    found = photos.features(image)
    path, digest = photos.write_file(settings.data_dir, content, extension)
    thumb_path, _ = photos.write_file(settings.data_dir, photos.thumbnail_bytes(image), "jpg")
    row = DevicePhoto(device_id=device.id, hospital_id=device.hospital_id, path=path, thumb_path=thumb_path,
                      content_type=content_type, size=len(content), sha256=digest, width=image.width,
                      height=image.height, phash=found.phash, dhash=found.dhash, variants=found.variants,
                      colors=found.colors, uploaded_by_id=actor.user_id)
    session.add(row)
    before = list(device.photos or [])
    device.photos = [*before, path]  # the registry's own list stays the one every device API shows
    session.flush()
    record(session, actor=actor, action="photo_added", entity="device", entity_id=device.id,
           hospital_id=device.hospital_id, before={"photos": before}, after={"photos": device.photos})
    return row


def remove_photo(session: Session, *, device_id: int, photo_id: int, actor: Actor) -> None:
    """Forget a device photo (the file stays: the same bytes may back another upload); the caller commits."""
    row = session.get(DevicePhoto, photo_id)
    if row is None or row.device_id != device_id:
        raise NotFound(f"photo {photo_id} not found")
    device = session.get(Device, device_id)
    assert device is not None  # the foreign key cascades deletes
    before = list(device.photos or [])
    after = list(before)
    if row.path in after:
        after.remove(row.path)
    device.photos = after
    session.delete(row)
    session.flush()
    record(session, actor=actor, action="photo_removed", entity="device", entity_id=device.id,
           hospital_id=device.hospital_id, before={"photos": before}, after={"photos": device.photos})


def photo_file(session: Session, *, settings: Settings, device_id: int, photo_id: int, scope: Scope,
               thumb: bool) -> tuple[Path, str]:
    """(path, content type) of a stored photo or its thumbnail, within the caller's scope."""
    row = session.get(DevicePhoto, photo_id)
    if row is None or row.device_id != device_id or not scope.allows(row.hospital_id):
        raise NotFound(f"photo {photo_id} not found")
    path = (settings.data_dir / (row.thumb_path if thumb else row.path)).resolve()
    if not path.is_file():
        raise NotFound(f"photo {photo_id} not found")
    return path, "image/jpeg" if thumb else row.content_type
