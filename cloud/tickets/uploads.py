"""Photo and voice uploads: checked by content (never by file name), stored by hash under the data folder."""

from __future__ import annotations

import hashlib
import io
import secrets
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, UnidentifiedImageError
from sqlalchemy.orm import Session

from cloud.config import Settings
from cloud.errors import Invalid
from cloud.files import keep
from cloud.tickets.models import AttachmentKind, TicketAttachment

IMAGE_TYPES = {"JPEG": ("image/jpeg", "jpg"), "PNG": ("image/png", "png"), "WEBP": ("image/webp", "webp"),
               "GIF": ("image/gif", "gif")}
MAX_IMAGE_PIXELS = 50_000_000  # a 12k x 4k panorama; anything larger is a decompression bomb


@dataclass(frozen=True)
class StoredUpload:
    """An upload and the secret key that lets its uploader attach it to a ticket."""

    attachment: TicketAttachment
    key: str


def sniff_audio(content: bytes) -> tuple[str, str] | None:
    """(content type, extension) of a voice recording, judged from its first bytes."""
    if content.startswith(b"#!AMR"):
        return "audio/amr", "amr"
    if content.startswith(b"\x1a\x45\xdf\xa3"):
        return "audio/webm", "webm"
    if content.startswith(b"OggS"):
        return "audio/ogg", "ogg"
    if content[4:8] == b"ftyp":
        return "audio/mp4", "m4a"
    if content.startswith(b"RIFF") and content[8:12] == b"WAVE":
        return "audio/wav", "wav"
    if content.startswith(b"ID3") or (len(content) > 1 and content[0] == 0xFF and content[1] & 0xE0 == 0xE0):
        return "audio/mpeg", "mp3"
    return None


def _check_photo(content: bytes) -> tuple[str, str]:
    try:
        with Image.open(io.BytesIO(content)) as image:
            kind = image.format or ""
            width, height = image.size
            image.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise Invalid("the photo is not an image we can read (JPEG, PNG, WebP or GIF)",
                      [{"field": "file", "message": "not an image"}]) from exc
    if kind not in IMAGE_TYPES:
        raise Invalid(f"{kind or 'this'} images are not accepted; use JPEG, PNG, WebP or GIF",
                      [{"field": "file", "message": "unsupported image type"}])
    if width * height > MAX_IMAGE_PIXELS:
        raise Invalid("the photo has too many pixels", [{"field": "file", "message": "image too large"}])
    return IMAGE_TYPES[kind]


@dataclass(frozen=True)
class KeptFile:
    """A checked upload written under the data folder."""

    path: str  # relative to the data folder
    content_type: str
    size: int
    sha256: str


def check_duration(settings: Settings, duration_s: int | None) -> None:
    """Invalid when a voice note's stated length is over voice_max_seconds (or not positive)."""
    if duration_s is not None and not 0 < duration_s <= settings.voice_max_seconds:
        raise Invalid(f"voice notes may last up to {settings.voice_max_seconds} s",
                      [{"field": "duration_s", "message": "too long"}])


def keep_upload(settings: Settings, *, kind: AttachmentKind, content: bytes) -> KeptFile:
    """Check a photo or voice note by its content and keep it by hash (Invalid when it is not acceptable)."""
    limit_mb = settings.upload_max_photo_mb if kind == AttachmentKind.photo else settings.upload_max_voice_mb
    if len(content) > limit_mb * 1024 * 1024:
        raise Invalid(f"the file is larger than {limit_mb} MB", [{"field": "file", "message": "too large"}])
    if not content:
        raise Invalid("the file is empty", [{"field": "file", "message": "empty"}])
    if kind == AttachmentKind.photo:
        content_type, extension = _check_photo(content)
    else:
        sniffed = sniff_audio(content)
        if sniffed is None:
            raise Invalid("the voice note is not a recording we can play",
                          [{"field": "file", "message": "not audio"}])
        content_type, extension = sniffed
    return keep_file(settings, content, content_type=content_type, extension=extension)


def keep_file(settings: Settings, content: bytes, *, content_type: str, extension: str) -> KeptFile:
    """Keep checked content by its hash under the data folder's uploads/ (the same bytes share one file)."""
    digest = hashlib.sha256(content).hexdigest()
    relative = Path("uploads") / digest[:2] / f"{digest}.{extension}"
    keep(settings.data_dir / relative, content)  # fsynced and renamed into place; a short leftover is written again
    return KeptFile(path=str(relative), content_type=content_type, size=len(content), sha256=digest)


def new_upload(session: Session, *, kind: AttachmentKind, uploaded_by: int | None, duration_s: int | None = None,
               transcript: str | None = None, state: str = "ready") -> StoredUpload:
    """An upload row with its secret key and no file yet (pending WeChat media; store_upload fills one at once)."""
    key = secrets.token_urlsafe(24)
    attachment = TicketAttachment(
        kind=kind, path="", content_type="", size=0, sha256="", duration_s=duration_s,
        transcript=(transcript or None), uploaded_by=uploaded_by, state=state,
        upload_key_hash=hashlib.sha256(key.encode()).hexdigest(),
    )
    session.add(attachment)
    return StoredUpload(attachment=attachment, key=key)


def fill_upload(attachment: TicketAttachment, kept: KeptFile) -> None:
    """Point an upload row at its kept file."""
    attachment.path, attachment.content_type = kept.path, kept.content_type
    attachment.size, attachment.sha256 = kept.size, kept.sha256


def store_upload(
    session: Session,
    *,
    settings: Settings,
    kind: AttachmentKind,
    content: bytes,
    uploaded_by: int | None,
    duration_s: int | None = None,
    transcript: str | None = None,
) -> StoredUpload:
    """Check and keep an uploaded photo or voice note; the caller commits."""
    if kind == AttachmentKind.voice:
        check_duration(settings, duration_s)
    kept = keep_upload(settings, kind=kind, content=content)
    stored = new_upload(session, kind=kind, uploaded_by=uploaded_by, duration_s=duration_s, transcript=transcript)
    fill_upload(stored.attachment, kept)
    session.flush()
    return stored
