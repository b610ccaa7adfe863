"""Photos and voice notes recorded inside WeChat: the media_id is recorded at once, fetched and converted later.

WeChat keeps uploaded media for 3 days only, so the repair page hands us the media_id right after
wx.uploadImage / wx.uploadVoice. The request only records it (an upload row and a wechat_media row, both
pending) and answers: fetching from WeChat (with retries) and converting AMR voice, which no browser plays, to
MP3 with ffmpeg (installed by `make browser`, see the Makefile's MEDIA_DEBS) run in the background worker
(cloud/wechat/media_worker.py), so an anonymous caller never holds a request thread for them (security
finding 9 of issue #13). The original AMR is kept beside the MP3 (wechat_media.original_path).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from fastapi import APIRouter, Request, status
from pydantic import BaseModel, Field

from cloud.db import SessionDep, utcnow
from cloud.deps import OptionalUser
from cloud.errors import NotFound
from cloud.tickets import quota
from cloud.tickets.api import upload_out
from cloud.tickets.models import AttachmentKind
from cloud.tickets.schemas import UploadOut
from cloud.tickets.uploads import check_duration, new_upload
from cloud.wechat.models import WechatMedia
from cloud.wechat.runtime import WeChat

if TYPE_CHECKING:
    from cloud.wechat.media_worker import MediaWorker

router = APIRouter(tags=["wechat"])  # mounted under /wechat by cloud/wechat/api.py


class MediaIn(BaseModel):
    """A media_id from wx.uploadImage or wx.uploadVoice, with what the page knows about it."""

    media_id: str = Field(min_length=1, max_length=128)
    kind: Literal["photo", "voice"]
    duration_s: int | None = Field(None, ge=0)
    transcript: str | None = Field(None, max_length=5000)  # from wx.translateVoice


@router.post("/media", response_model=UploadOut, status_code=status.HTTP_201_CREATED)
def fetch_media(body: MediaIn, request: Request, session: SessionDep, user: OptionalUser) -> UploadOut:
    """Record a WeChat media_id as a pending upload (same answer as /api/v1/uploads, state pending); the
    background worker fetches and converts it."""
    wechat: WeChat | None = getattr(request.app.state, "wechat", None)
    if wechat is None:
        raise NotFound("WeChat is not configured")
    settings = wechat.settings
    kind = AttachmentKind.photo if body.kind == "photo" else AttachmentKind.voice
    if kind == AttachmentKind.voice:
        check_duration(settings, body.duration_s)
    quota.check_rate(request, settings, user)  # the same brakes as /api/v1/uploads (cloud/tickets/quota.py)
    quota.check_conversions(request, settings, user)  # and the background worker's own
    quota.charge(request, settings, user, 0)  # the file now; its bytes once the worker has fetched them
    stored = new_upload(session, kind=kind, uploaded_by=user.id if user else None, duration_s=body.duration_s,
                        transcript=body.transcript, state="pending")
    session.flush()
    session.add(WechatMedia(media_id=body.media_id, kind=kind.value, attachment_id=stored.attachment.id,
                            original_path="", original_type="", state="pending", due_at=utcnow(),
                            reporter=quota.reporter_key(request, user),
                            hospital_id=user.hospital_id if user is not None else None))
    session.commit()
    worker: MediaWorker | None = getattr(request.app.state, "media_worker", None)
    if worker is not None:
        worker.kick()
    return upload_out(stored)
