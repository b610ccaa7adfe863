"""Identify pages: the admin's device photo page."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import Response

from cloud.auth.models import Role, User
from cloud.db import SessionDep
from cloud.errors import NotFound
from cloud.i18n import pick_language, translate
from cloud.identify import service
from cloud.identify.api import photo_out
from cloud.registry.models import Device
from cloud.web.pages import LANGUAGE_COOKIE, STAFF, page_user, render

router = APIRouter(include_in_schema=False)
JS_TEXTS = ("Uploading…", "Upload failed", "Remove", "Remove this photo?", "No photos yet.", "Could not remove")


@router.get("/admin/devices/{device_id}/photos")
def device_photos_page(
    device_id: int, request: Request, session: SessionDep, user: Annotated[User, page_user(*STAFF)]
) -> Response:
    """A device's photos: thumbnails, upload several, remove (admins); the others look."""
    device = session.get(Device, device_id)
    if device is None:
        raise NotFound(f"device {device_id} not found")
    language = pick_language(request.cookies.get(LANGUAGE_COOKIE), request.headers.get("accept-language"))
    texts = {key: translate(key, language) for key in JS_TEXTS}
    photos = [photo_out(row).model_dump() for row in service.list_photos(session, device_id=device_id)]
    return render(request, "identify/device_photos.html", user, device=device, photos=photos, texts=texts,
                  can_edit=user.role == Role.admin)
