"""Fixed one-minute windows per key: Redis (shared by every worker) when configured, else this process's count.

One limiter per app and purpose (`limiter_for(app_state, "bot")`); keys are whatever the caller counts by
(an IP address, a user id). A Redis outage falls back to the in-process count rather than refuse everyone.
"""

from __future__ import annotations

import threading
import time
from typing import Any

WINDOW_S = 60
MAX_KEYS = 50_000  # in-process memory bound: older windows are dropped beyond it


class RateLimiter:
    """Counts hits per key in fixed one-minute windows; allow() says whether one more is within the limit."""

    def __init__(self, redis_url: str | None = None, *, namespace: str = "bot") -> None:
        self.namespace = namespace
        self._counts: dict[str, tuple[int, int]] = {}
        self._lock = threading.Lock()
        self._redis: Any = None
        if redis_url:
            import redis

            self._redis = redis.Redis.from_url(redis_url, decode_responses=True, socket_timeout=2)

    def allow(self, key: str, limit: int, *, now: float | None = None) -> bool:
        """Count one hit for key; False once it passed limit in this window."""
        window = int((time.time() if now is None else now) // WINDOW_S)
        if self._redis is not None:
            try:
                name = f"medfix:{self.namespace}:rate:{key}:{window}"
                count = int(self._redis.incr(name))
                if count == 1:
                    self._redis.expire(name, 2 * WINDOW_S)
                return count <= limit
            except Exception:  # Redis down: fall back to this process's own count rather than refuse everyone
                pass
        with self._lock:
            if len(self._counts) > MAX_KEYS:
                self._counts = {k: v for k, v in self._counts.items() if v[0] == window}
            seen_window, count = self._counts.get(key, (window, 0))
            count = count + 1 if seen_window == window else 1
            self._counts[key] = (window, count)
            return count <= limit


def limiter_for(state: Any, namespace: str) -> RateLimiter:
    """The app's limiter for namespace (app.state), made on first use with the app's Redis when configured."""
    limiters: dict[str, RateLimiter] | None = getattr(state, "rate_limiters", None)
    if limiters is None:
        limiters = state.rate_limiters = {}
    limiter = limiters.get(namespace)
    if limiter is None:
        limiter = limiters[namespace] = RateLimiter(state.settings.redis_url, namespace=namespace)
    return limiter


def client_address(request: Any) -> str:
    """The caller's address as the server sees it (behind the proxy: uvicorn's --proxy-headers sets it)."""
    return request.client.host if request.client else "-"
