"""Admission control: at most so many HTTP requests of a process inside the app at once, the rest wait at the door.

Why: a request's database session keeps its pooled connection from its first query (the sign-in check) to its
end, across the hops between the threads that run its synchronous dependencies, endpoint and response
validation. When more requests are in flight than the pool has connections, the requests that hold connections
wait for a worker thread while every worker thread waits for a connection: the process stands still until the
pool's 30 s timeout answers 500 (bench/ticket_flow.py at 50 submits/s: 1,213 of 1,500 failed, docs/benchmarks.md).
With no more requests inside than connections to spare, every request inside can get one; the others wait on
the event loop, holding neither a thread nor a connection, and go in first come, first served.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.pool import QueuePool
from starlette.types import ASGIApp, Receive, Scope, Send

# Connections kept for work outside requests: the outbox, scoring and report threads, the periodic jobs, the
# MQTT consumer, the WebSocket handshakes.
RESERVED_CONNECTIONS = 6
# Files need no connection: they never wait behind database work.
FREE_PATHS = ("/static/", "/vendor/", "/healthz")
# Without a bounded pool (SQLite in memory, NullPool) the worker threads are the limit: anyio's default 40.
THREADS = 40


def request_slots(engine: Engine) -> int:
    """How many requests may be inside the app at once with engine's pool (at least 2)."""
    pool = engine.pool
    if not isinstance(pool, QueuePool):
        return THREADS
    capacity = pool.size() + max(0, getattr(pool, "_max_overflow", 0))
    return max(2, min(THREADS, capacity - RESERVED_CONNECTIONS))


class InflightLimit:
    """ASGI middleware letting at most `limit` HTTP requests in at once (WebSockets and lifespan pass freely)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit
        self._gates: dict[Any, asyncio.Semaphore] = {}  # one per event loop (tests run several in turn)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(FREE_PATHS):
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        gate = self._gates.get(loop)
        if gate is None:
            gate = asyncio.Semaphore(self.limit)
            self._gates = {loop: gate}  # a finished loop's gate is dropped
        async with gate:
            await self.app(scope, receive, send)
