"""Who may hold a live socket, and for how long (security finding 7 of issue #13).

- Credentials never travel in the URL (URLs end up in access logs, browser history and Referer headers): a
  browser sends its session cookie, other clients `Authorization: Bearer <token>` on the handshake, and a
  reporter's link key comes as the socket's first message (`{"type": "auth", "k": "..."}`).
- A browser's page may open a socket only from an allowed origin: the server's own, public_url's, or one of
  `allowed_origins`; a page elsewhere riding on the user's cookie is refused (4403).
- A socket re-checks its sign-in every `ws_recheck_s`: after a logout, an expiry or a disabled account the
  socket closes with 4401.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from fastapi import WebSocket

from cloud.auth import service as auth_service
from cloud.auth.models import User
from cloud.config import Settings
from cloud.deps import SESSION_COOKIE

SIGNED_OUT = (4401, "signed out")
FOREIGN_ORIGIN = (4403, "origin not allowed")
FIRST_MESSAGE_S = 10.0  # how long a socket that must identify itself may stay silent

Recheck = Callable[[], Awaitable[bool]]


def _origin(url: str) -> str:
    parts = urlsplit(url.strip().lower())
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


def allowed_origins(settings: Settings) -> set[str]:
    """The configured origins: public_url's and allowed_origins."""
    return {o for o in (_origin(settings.public_url), *(_origin(o) for o in settings.allowed_origins)) if o}


def origin_allowed(websocket: WebSocket, settings: Settings) -> bool:
    """Whether the handshake's Origin (sent by every browser; other clients send none) may open a socket."""
    origin = websocket.headers.get("origin")
    if origin is None:
        return True  # not a browser: no cookie rides along unasked, the caller proves itself with a token
    host = websocket.headers.get("host", "")
    own = f"{'https' if websocket.url.scheme == 'wss' else 'http'}://{host.lower()}"
    return _origin(origin) in allowed_origins(settings) | {own}


def socket_token(websocket: WebSocket) -> str | None:
    """The sign-in token of a handshake: `Authorization: Bearer`, else the session cookie (never the URL)."""
    scheme, _, token = websocket.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return websocket.cookies.get(SESSION_COOKIE) or None


def user_of(websocket: WebSocket, token: str | None) -> User | None:
    """The active user of token, or None."""
    if not token:
        return None
    with websocket.app.state.sessionmaker() as session:
        return auth_service.user_for_token(session, token=token)


def still_signed_in(websocket: WebSocket, token: str) -> Recheck:
    """A recheck: whether token still belongs to an active user (not logged out, expired or disabled)."""

    async def check() -> bool:
        return await asyncio.to_thread(user_of, websocket, token) is not None

    return check


async def first_message_key(websocket: WebSocket) -> str | None:
    """The reporter key a client sends first (`{"type": "auth", "k": "..."}`), or None after FIRST_MESSAGE_S."""
    try:
        text = await asyncio.wait_for(websocket.receive_text(), FIRST_MESSAGE_S)
        data = json.loads(text)
    except (TimeoutError, ValueError):
        return None
    key = data.get("k") if isinstance(data, dict) and data.get("type") == "auth" else None
    return key if isinstance(key, str) and key else None
