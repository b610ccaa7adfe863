"""Shared state across API workers: Redis when MEDFIX_REDIS_URL is set, otherwise the database.

Three things need it: callback dedupe (first claim wins), the access token / jsapi ticket cache, and a lock
so only one worker refreshes a token at a time (WeChat invalidates the previous token on every refresh).
"""

from __future__ import annotations

import contextlib
import secrets
import time
from collections.abc import Iterator, Sequence
from datetime import timedelta
from typing import Any, Protocol

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from cloud.db import utcnow
from cloud.wechat.models import WechatDedupe, WechatKv

PREFIX = "medfix:wechat:"


class LockTimeout(RuntimeError):
    """Another worker held the lock for longer than we were willing to wait."""


class SharedStore(Protocol):
    """What the WeChat channel needs from shared state."""

    def claim(self, key: str, ttl_s: int) -> bool:
        """Remember key for ttl_s; True only for the first caller."""
        ...

    def claim_many(self, keys: Sequence[str], ttl_s: int) -> list[bool]:
        """claim() for each of keys, as one round trip where the store allows."""
        ...

    def get(self, key: str) -> str | None:
        """The cached value, unless missing or expired."""
        ...

    def set(self, key: str, value: str, ttl_s: int | None = None) -> None:
        """Cache value (for ttl_s seconds when given)."""
        ...

    def delete_if(self, key: str, value: str) -> bool:
        """Delete key only while it still holds value (so a stale worker never drops a fresh token)."""
        ...

    def lock(self, name: str, *, ttl_s: float = 30, wait_s: float = 15) -> contextlib.AbstractContextManager[None]:
        """Hold a cross-worker lock named name."""
        ...


class RedisStore:
    """Shared state in Redis: SET NX for claims, redis-py's Lock for locks, a Lua compare-and-delete."""

    _DELETE_IF = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"

    def __init__(self, url: str) -> None:
        import redis

        self.redis: Any = redis.Redis.from_url(url, decode_responses=True)

    def claim(self, key: str, ttl_s: int) -> bool:
        """Remember key for ttl_s; True only for the first caller."""
        return bool(self.redis.set(PREFIX + key, "1", nx=True, ex=max(1, ttl_s)))

    def claim_many(self, keys: Sequence[str], ttl_s: int) -> list[bool]:
        """claim() for each key, in one round trip."""
        pipe = self.redis.pipeline(transaction=False)
        for key in keys:
            pipe.set(PREFIX + key, "1", nx=True, ex=max(1, ttl_s))
        return [bool(won) for won in pipe.execute()]

    def get(self, key: str) -> str | None:
        """The cached value, unless missing or expired."""
        value = self.redis.get(PREFIX + key)
        return None if value is None else str(value)

    def set(self, key: str, value: str, ttl_s: int | None = None) -> None:
        """Cache value (for ttl_s seconds when given)."""
        self.redis.set(PREFIX + key, value, ex=max(1, ttl_s) if ttl_s else None)

    def delete_if(self, key: str, value: str) -> bool:
        """Delete key only while it still holds value."""
        return bool(self.redis.eval(self._DELETE_IF, 1, PREFIX + key, value))

    @contextlib.contextmanager
    def lock(self, name: str, *, ttl_s: float = 30, wait_s: float = 15) -> Iterator[None]:
        """Hold a cross-worker lock named name (expires after ttl_s if its holder dies)."""
        lock = self.redis.lock(PREFIX + "lock:" + name, timeout=ttl_s, blocking_timeout=wait_s)
        if not lock.acquire():
            raise LockTimeout(name)
        try:
            yield
        finally:
            with contextlib.suppress(Exception):  # expired meanwhile: someone else may hold it now
                lock.release()


class DbStore:
    """Shared state in the database: primary-key inserts decide claims and locks; rows carry their expiry."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def _insert(self, row: WechatDedupe | WechatKv) -> bool:
        try:
            with self.sessions() as session:
                session.add(row)
                session.commit()
        except IntegrityError:
            return False
        return True

    def _drop_expired(self, model: type[WechatDedupe] | type[WechatKv], key: str) -> None:
        with self.sessions() as session:
            session.execute(delete(model).where(model.key == key, model.expires_at < utcnow()))
            session.commit()

    def claim(self, key: str, ttl_s: int) -> bool:
        """Remember key for ttl_s; True only for the first caller (the primary key decides)."""
        for _ in range(2):
            if self._insert(WechatDedupe(key=key, expires_at=utcnow() + timedelta(seconds=ttl_s))):
                return True
            self._drop_expired(WechatDedupe, key)  # a key remembered long ago may be claimed again
        return False

    def claim_many(self, keys: Sequence[str], ttl_s: int) -> list[bool]:
        """claim() for each key (one transaction each: a key claimed elsewhere must not undo the others)."""
        return [self.claim(key, ttl_s) for key in keys]

    def get(self, key: str) -> str | None:
        """The cached value, unless missing or expired."""
        with self.sessions() as session:
            row = session.get(WechatKv, key)
            if row is None or (row.expires_at is not None and row.expires_at <= utcnow()):
                return None
            return row.value

    def set(self, key: str, value: str, ttl_s: int | None = None) -> None:
        """Cache value (for ttl_s seconds when given)."""
        expires_at = utcnow() + timedelta(seconds=ttl_s) if ttl_s else None
        for _ in range(3):
            with self.sessions() as session:
                row = session.get(WechatKv, key)
                if row is None:
                    session.add(WechatKv(key=key, value=value, expires_at=expires_at))
                else:
                    row.value, row.expires_at = value, expires_at
                try:
                    session.commit()
                    return
                except IntegrityError:
                    continue  # another worker inserted it first: update theirs

    def delete_if(self, key: str, value: str) -> bool:
        """Delete key only while it still holds value."""
        with self.sessions() as session:
            result = session.execute(delete(WechatKv).where(WechatKv.key == key, WechatKv.value == value))
            session.commit()
            return bool(getattr(result, "rowcount", 0))

    @contextlib.contextmanager
    def lock(self, name: str, *, ttl_s: float = 30, wait_s: float = 15) -> Iterator[None]:
        """Hold a cross-worker lock: a row only one insert can create; a dead holder's row expires."""
        key, holder = "lock:" + name, secrets.token_hex(8)
        deadline = time.monotonic() + wait_s
        while not self._insert(WechatKv(key=key, value=holder, expires_at=utcnow() + timedelta(seconds=ttl_s))):
            self._drop_expired(WechatKv, key)
            if time.monotonic() > deadline:
                raise LockTimeout(name)
            time.sleep(0.02)
        try:
            yield
        finally:
            self.delete_if(key, holder)

    def forget_expired(self) -> int:
        """Delete expired dedupe keys (housekeeping)."""
        with self.sessions() as session:
            result = session.execute(delete(WechatDedupe).where(WechatDedupe.expires_at < utcnow()))
            session.commit()
            return int(getattr(result, "rowcount", 0))

    def keys(self) -> list[str]:
        """Every live cache key (for tests and diagnostics)."""
        with self.sessions() as session:
            return list(session.execute(select(WechatKv.key)).scalars())


def make_store(redis_url: str, sessions: sessionmaker[Session]) -> SharedStore:
    """Redis when configured, else the database."""
    return RedisStore(redis_url) if redis_url else DbStore(sessions)
