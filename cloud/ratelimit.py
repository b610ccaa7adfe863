"""Fixed windows per key (one minute unless said otherwise): Redis (shared by every worker) when configured, else
this process's count.

One limiter per app and purpose (`limiter_for(app_state, "bot")`); keys are whatever the caller counts by
(an IP address, a user id). A Redis outage falls back to the in-process count rather than refuse everyone.
Daily quotas are the same limiter with a day's window, charged by amount (`take`: files, bytes).
"""

from __future__ import annotations

import math
import threading
import time
from typing import Any

WINDOW_S = 60
MAX_KEYS = 50_000  # in-process memory bound: older windows are dropped beyond it


class RateLimiter:
    """Counts hits per key in fixed one-minute windows; allow() says whether one more is within the limit."""

    def __init__(self, redis_url: str | None = None, *, namespace: str = "bot", window_s: int = WINDOW_S) -> None:
        self.namespace = namespace
        self.window_s = window_s
        self._counts: dict[str, tuple[int, int]] = {}
        self._lock = threading.Lock()
        self._redis: Any = None
        if redis_url:
            import redis

            self._redis = redis.Redis.from_url(redis_url, decode_responses=True, socket_timeout=2)

    def allow(self, key: str, limit: int, *, now: float | None = None) -> bool:
        """Count one hit for key; False once it passed limit in this window."""
        return self._add(key, 1, now) <= limit

    def take(self, key: str, amount: int, limit: int, *, now: float | None = None, offset_s: float = 0) -> bool:
        """Charge amount to key's window if it stays within limit (True); else charge nothing (False).

        offset_s shifts the windows: a day's window with the local UTC offset begins at local midnight."""
        if self._add(key, amount, now, offset_s) <= limit:
            return True
        self.give_back(key, amount, now=now, offset_s=offset_s)  # a refused charge uses up nothing
        return False

    def give_back(self, key: str, amount: int, *, now: float | None = None, offset_s: float = 0) -> None:
        """Undo a charge that went through (the next one was refused)."""
        self._add(key, -amount, now, offset_s)

    def _add(self, key: str, amount: int, now: float | None, offset_s: float = 0) -> int:
        window = int(((time.time() if now is None else now) + offset_s) // self.window_s)
        if self._redis is not None:
            try:
                name = f"medfix:{self.namespace}:rate:{key}:{window}"
                count = int(self._redis.incrby(name, amount))
                if count == amount:
                    self._redis.expire(name, 2 * self.window_s)
                return count
            except Exception:  # Redis down: fall back to this process's own count rather than refuse everyone
                pass
        with self._lock:
            if len(self._counts) > MAX_KEYS:
                self._counts = {k: v for k, v in self._counts.items() if v[0] == window}
            seen_window, count = self._counts.get(key, (window, 0))
            count = count + amount if seen_window == window else amount
            self._counts[key] = (window, count)
            return count


def limiter_for(state: Any, namespace: str, *, window_s: int = WINDOW_S) -> RateLimiter:
    """The app's limiter for namespace (app.state), made on first use with the app's Redis when configured."""
    limiters: dict[str, RateLimiter] | None = getattr(state, "rate_limiters", None)
    if limiters is None:
        limiters = state.rate_limiters = {}
    limiter = limiters.get(namespace)
    if limiter is None:
        limiter = limiters[namespace] = RateLimiter(state.settings.redis_url, namespace=namespace, window_s=window_s)
    return limiter


def client_address(request: Any) -> str:
    """The caller's address as the server sees it (behind the proxy: uvicorn's --proxy-headers sets it)."""
    return request.client.host if request.client else "-"


class Lockout:
    """Failed attempts per key with exponential backoff (sign-in, invite codes): after `free` failures in a row,
    each further one locks the key for base_s, then twice that, and so on up to max_s; a success clears it.

    Redis (shared by the workers) when configured, else this process's memory; a Redis outage falls back too."""

    def __init__(self, redis_url: str | None = None, *, namespace: str, free: int = 5, base_s: int = 30,
                 max_s: int = 900) -> None:
        self.namespace, self.free, self.base_s, self.max_s = namespace, free, base_s, max_s
        self._state: dict[str, tuple[int, float]] = {}  # key -> (failures in a row, locked until)
        self._lock = threading.Lock()
        self._redis: Any = None
        if redis_url:
            import redis

            self._redis = redis.Redis.from_url(redis_url, decode_responses=True, socket_timeout=2)

    def _name(self, key: str) -> str:
        return f"medfix:{self.namespace}:lockout:{key}"

    def _now(self, now: float | None) -> float:
        return time.time() if now is None else now

    def retry_after(self, key: str, *, now: float | None = None) -> int:
        """Seconds until key may try again (0: now)."""
        until = 0.0
        if self._redis is not None:
            try:
                until = float(self._redis.hget(self._name(key), "until") or 0)
                return max(0, math.ceil(until - self._now(now)))
            except Exception:  # Redis down: this process's memory
                pass
        with self._lock:
            until = self._state.get(key, (0, 0.0))[1]
        return max(0, math.ceil(until - self._now(now)))

    def _delay(self, failures: int) -> int:
        over = failures - self.free
        return 0 if over < 0 else min(self.max_s, self.base_s * 2 ** min(over, 20))

    def failed(self, key: str, *, now: float | None = None) -> int:
        """Count a failure; the seconds key is now locked for (0: not yet)."""
        at = self._now(now)
        if self._redis is not None:
            try:
                name = self._name(key)
                failures = int(self._redis.hincrby(name, "n", 1))
                delay = self._delay(failures)
                if delay:
                    self._redis.hset(name, "until", at + delay)
                self._redis.expire(name, self.max_s * 4)  # a quiet day forgets old failures
                return delay
            except Exception:
                pass
        with self._lock:
            if len(self._state) > MAX_KEYS:
                self._state = {k: v for k, v in self._state.items() if v[1] > at}
            failures = self._state.get(key, (0, 0.0))[0] + 1
            delay = self._delay(failures)
            self._state[key] = (failures, at + delay if delay else 0.0)
            return delay

    def succeeded(self, key: str) -> None:
        """Forget key's failures."""
        if self._redis is not None:
            try:
                self._redis.delete(self._name(key))
            except Exception:
                pass
        with self._lock:
            self._state.pop(key, None)


def lockout_for(state: Any, namespace: str, **limits: int) -> Lockout:
    """The app's lockout for namespace (app.state), made on first use with the app's Redis when configured."""
    lockouts: dict[str, Lockout] | None = getattr(state, "lockouts", None)
    if lockouts is None:
        lockouts = state.lockouts = {}
    lockout = lockouts.get(namespace)
    if lockout is None:
        lockout = lockouts[namespace] = Lockout(state.settings.redis_url, namespace=namespace, **limits)
    return lockout
