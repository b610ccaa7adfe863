"""Security headers on every HTTP response, the stricter ones for files users uploaded, and secrets kept out of the
access log.

The pages carry inline scripts (`<script type="module">` blocks) and inline styles, so the policy does not
restrict script or style sources; it says what the pages never need: to be framed by another site (the consoles
must not be clickjacked), plugins, or a <base> elsewhere. A response that sets its own policy keeps it (uploads).
"""

from __future__ import annotations

import logging
import re

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PAGE_POLICY = "frame-ancestors 'self'; object-src 'none'; base-uri 'self'"
HSTS = "max-age=31536000"
# A photo or voice note someone uploaded is served as what we sniffed it to be, and never runs as a page.
UPLOAD_HEADERS = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "sandbox"}


class SecurityHeaders:
    """Pure ASGI middleware (streams and WebSockets pass untouched) adding the headers a response lacks."""

    def __init__(self, app: ASGIApp, *, https: bool) -> None:
        self.app = app
        self.defaults = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": PAGE_POLICY,
                         "X-Frame-Options": "SAMEORIGIN", "Referrer-Policy": "strict-origin-when-cross-origin"}
        if https:
            self.defaults["Strict-Transport-Security"] = HSTS

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in self.defaults.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)


# Query parameters that carry a secret: sign-in tokens, a reporter link's key, OAuth codes and state.
SECRET_PARAMS = frozenset({"token", "access_token", "k", "key", "code", "state", "invite_code", "password"})
_SECRET_VALUE = re.compile(r"(?<=[?&])([^=&#]+)=([^&#]*)")


def redact_url(target: str) -> str:
    """target (a path with its query) with the values of SECRET_PARAMS replaced by ***."""
    if "?" not in target:
        return target

    def hide(match: re.Match[str]) -> str:
        name = match.group(1)
        return f"{name}=***" if name.lower() in SECRET_PARAMS and match.group(2) else match.group(0)

    return _SECRET_VALUE.sub(hide, target)


class RedactedAccessLog(logging.Filter):
    """Keeps secrets in URLs (a reporter link's ?k=, an OAuth ?code=) out of uvicorn's logs: the access log's
    request lines and the error log's "WebSocket /path?query" lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and any(isinstance(a, str) and a.startswith("/") and "?" in a for a in args):
            record.args = tuple(redact_url(a) if isinstance(a, str) and a.startswith("/") else a for a in args)
        return True
