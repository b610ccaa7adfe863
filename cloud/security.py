"""Security headers on every HTTP response, and the stricter ones for files users uploaded.

The pages carry inline scripts (`<script type="module">` blocks) and inline styles, so the policy does not
restrict script or style sources; it says what the pages never need: to be framed by another site (the consoles
must not be clickjacked), plugins, or a <base> elsewhere. A response that sets its own policy keeps it (uploads).
"""

from __future__ import annotations

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
