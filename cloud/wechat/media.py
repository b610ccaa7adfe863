"""Photos and voice notes recorded inside WeChat: fetch the media_id at once, keep it like any upload.

WeChat keeps uploaded media for 3 days only, so the repair page hands us the media_id right after
wx.uploadImage / wx.uploadVoice and we download it now (with retries). Voice arrives as AMR, which no
browser plays: ffmpeg (installed by `make browser`, see the Makefile's MEDIA_DEBS) converts it to MP3 for the
attachment, and the original AMR is kept beside it (wechat_media.original_path).
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import shutil
import subprocess
import time
from pathlib import Path
from typing import Literal

from fastapi import APIRouter, Request, status
from pydantic import BaseModel, Field
from wechatpy.exceptions import WeChatClientException

from cloud.db import SessionDep
from cloud.deps import OptionalUser
from cloud.errors import DomainError, Invalid, NotFound
from cloud.tickets import quota
from cloud.tickets.models import AttachmentKind
from cloud.tickets.schemas import UploadOut
from cloud.tickets.uploads import sniff_audio, store_upload
from cloud.wechat.client import MedfixWeChatClient
from cloud.wechat.models import WechatMedia
from cloud.wechat.runtime import WeChat

log = logging.getLogger("medfix.wechat.media")

router = APIRouter(tags=["wechat"])  # mounted under /wechat by cloud/wechat/api.py

GONE_ERRCODES = frozenset({40007})  # invalid media_id: expired (3 days) or never uploaded; retrying cannot help
CONVERT_TIMEOUT_S = 30


class MediaUnavailable(DomainError):
    """WeChat could not hand the media over (after retries)."""

    status_code = 502


class MediaIn(BaseModel):
    """A media_id from wx.uploadImage or wx.uploadVoice, with what the page knows about it."""

    media_id: str = Field(min_length=1, max_length=128)
    kind: Literal["photo", "voice"]
    duration_s: int | None = Field(None, ge=0)
    transcript: str | None = Field(None, max_length=5000)  # from wx.translateVoice


def download(client: MedfixWeChatClient, media_id: str, *, backoff_s: list[float]) -> bytes:
    """The media's bytes; transient failures are retried after each wait in backoff_s."""
    waits = [*backoff_s, None]
    for wait in waits:
        try:
            return client.download_media(media_id)
        except WeChatClientException as exc:
            if exc.errcode in GONE_ERRCODES:
                raise NotFound("WeChat no longer has this recording or photo (kept 3 days); please record it "
                               "again") from exc
            problem: Exception = exc
        except OSError as exc:  # requests' errors are OSErrors: network trouble is worth another try
            problem = exc
        log.warning("fetching WeChat media %s failed: %s", media_id, problem)
        if wait is None:
            break
        time.sleep(wait)
    raise MediaUnavailable("could not fetch the media from WeChat; please try again")


def amr_to_mp3(content: bytes) -> bytes | None:
    """The AMR recording as MP3 (which every browser plays), or None when ffmpeg is missing or fails."""
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        log.warning("ffmpeg is not installed (make browser installs it); voice notes stay AMR, which browsers "
                    "cannot play")
        return None
    try:
        done = subprocess.run(  # noqa: S603 - fixed arguments, the recording goes through a pipe
            [ffmpeg, "-hide_banner", "-loglevel", "error", "-f", "amr", "-i", "pipe:0", "-ac", "1", "-b:a", "32k",
             "-f", "mp3", "pipe:1"], input=content, capture_output=True, timeout=CONVERT_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.warning("converting a voice note failed: %s", exc)
        return None
    if done.returncode != 0 or not done.stdout:
        log.warning("ffmpeg could not convert a voice note: %s", done.stderr.decode(errors="replace")[-300:])
        return None
    return done.stdout


def keep_original(data_dir: Path, content: bytes, extension: str) -> str:
    """Write the original file by content hash under the data folder; its relative path."""
    digest = hashlib.sha256(content).hexdigest()
    relative = Path("uploads") / digest[:2] / f"{digest}.{extension}"
    target = data_dir / relative
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(target.suffix + f".{secrets.token_hex(4)}.part")
        partial.write_bytes(content)
        partial.replace(target)  # atomic, as for uploads
    return str(relative)


@router.post("/media", response_model=UploadOut, status_code=status.HTTP_201_CREATED)
def fetch_media(body: MediaIn, request: Request, session: SessionDep, user: OptionalUser) -> UploadOut:
    """Fetch a WeChat media_id now and keep it as an upload (same answer as /api/v1/uploads)."""
    wechat: WeChat | None = getattr(request.app.state, "wechat", None)
    if wechat is None:
        raise NotFound("WeChat is not configured")
    settings = wechat.settings
    # Network and conversion first, database writes after: nothing holds a transaction while WeChat answers.
    quota.check_rate(request, settings, user)  # the same brakes as /api/v1/uploads (cloud/tickets/quota.py)
    content = download(wechat.client, body.media_id, backoff_s=settings.wechat_retry_backoff_s)
    quota.charge(request, settings, user, len(content))
    kind = AttachmentKind.photo if body.kind == "photo" else AttachmentKind.voice
    original_type, playable = "", content
    if kind == AttachmentKind.voice:
        sniffed = sniff_audio(content)
        if sniffed is None:
            raise Invalid("WeChat's voice note is not a recording we can play",
                          [{"field": "media_id", "message": "not audio"}])
        original_type = sniffed[0]
        if sniffed[1] == "amr":
            playable = amr_to_mp3(content) or content
    stored = store_upload(session, settings=settings, kind=kind, content=playable,
                          uploaded_by=user.id if user else None, duration_s=body.duration_s,
                          transcript=body.transcript)
    attachment = stored.attachment
    if playable is content:
        original_path, original_type = attachment.path, attachment.content_type
    else:
        original_path = keep_original(settings.data_dir, content, "amr")
    session.add(WechatMedia(media_id=body.media_id, kind=kind.value, attachment_id=attachment.id,
                            original_path=original_path, original_type=original_type))
    session.commit()
    return UploadOut(id=attachment.id, kind=attachment.kind, content_type=attachment.content_type,
                     size=attachment.size, duration_s=attachment.duration_s, transcript=attachment.transcript,
                     url="", key=stored.key)
