"""A request body limit in front of every route (security finding 3 of issue #13).

Without it a body of any size is spooled to disk by the form parser before a route can look at its size: the
sign-in form, the report form and the token endpoint included. Every route takes at most `max_body_kb`; the
routes that take files take what their largest file needs (ROUTES), the gateway ingest its own
`ingest_max_body_bytes`. A body that says it is larger is refused before a byte is read; one that grows past the
limit while it streams (chunked, or a lying Content-Length) is cut off and refused the same way: 413, a zh-CN
page for a browser, JSON for the API and scripts.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from cloud.config import Settings
from cloud.i18n import pick_language, translate
from cloud.i18n_catalogs import N_

MB = 1024 * 1024
SLACK = 64 * 1024  # multipart boundaries, part headers and the form's other fields around a file
TOO_LARGE = N_("The request is too large. Choose a smaller file, or send less at once.")
KB_IMPORT_MB = 21  # the knowledge base's JSONL import: 20 MB, and its confirm step sends the file back as a field


def _routes() -> list[tuple[str, Callable[[Settings], int]]]:
    from cloud.kb.manuals import MAX_MANUAL_MB
    from cloud.kb.media import MAX_VIDEO_MB
    from cloud.registry.api import MAX_IMPORT_BYTES

    def photo(s: Settings) -> int:
        return s.upload_max_photo_mb * MB + SLACK

    return [
        (r"/api/v1/ingest", lambda s: s.ingest_max_body_bytes),  # gzip or not, as sent
        (r"/api/v1/uploads", lambda s: max(s.upload_max_photo_mb, s.upload_max_voice_mb) * MB + SLACK),
        (r"/api/v1/identify/photo|/api/v1/devices/\d+/photos", photo),
        (r"/api/v1/kb/entries/\d+/videos|/admin/kb/new|/admin/kb/\d+/edit", lambda _s: MAX_VIDEO_MB * MB + SLACK),
        (r"/api/v1/kb/manuals|/admin/kb/manuals", lambda _s: MAX_MANUAL_MB * MB + SLACK),
        (r"/api/v1/kb/import|/admin/kb/import", lambda _s: KB_IMPORT_MB * MB + SLACK),
        (r"/api/v1/devices/import|/admin/devices/import", lambda _s: MAX_IMPORT_BYTES + SLACK),
    ]


class BodyTooLarge(Exception):
    """The body grew past the route's limit while it was read."""


def limit_for(settings: Settings, method: str, path: str, routes: list[tuple[re.Pattern[str], int]]) -> int:
    """The most bytes a request to path may send."""
    if method in ("POST", "PUT", "PATCH"):
        for pattern, limit in routes:
            if pattern.fullmatch(path):
                return limit
    return settings.max_body_kb * 1024


def refusal(scope: Scope, limit: int) -> Response:
    """The 413 answer: the error page for a browser's page request, JSON for the API and scripts."""
    from cloud.web.fallback import LANGUAGE_COOKIE, error_page, wants_html  # the pages import much: at call time

    request = Request(scope)
    if wants_html(request):
        return error_page(request, 413)
    language = pick_language(request.cookies.get(LANGUAGE_COOKIE), request.headers.get("accept-language"))
    return JSONResponse({"detail": translate(TOO_LARGE, language), "code": "body_too_large", "limit_bytes": limit},
                        status_code=413)


class BodyLimit:
    """Pure ASGI middleware refusing request bodies over the route's limit with 413 (WebSockets pass untouched)."""

    def __init__(self, app: ASGIApp, *, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.routes = [(re.compile(pattern), size(settings)) for pattern, size in _routes()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = limit_for(self.settings, scope["method"], scope["path"], self.routes)
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            await refusal(scope, limit)(scope, receive, send)
            return
        received = 0
        over = started = False

        async def counted() -> Message:
            nonlocal received, over
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    over = True
                    raise BodyTooLarge
            return message

        async def answer(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                if over:  # whatever the route made of a body cut short (400, 422, 500): ours instead
                    raise BodyTooLarge
                started = True
            await send(message)

        try:
            await self.app(scope, counted, answer)
        except BodyTooLarge:
            if started:
                raise
            await refusal(scope, limit)(scope, receive, send)
