"""The WebSocket hub: messages published from any thread reach every matching connection.

In-process by default. With Redis configured every message goes through one Redis channel, so a ticket
submitted to one API worker reaches consoles connected to any other worker.

A message is serialized once when published; each worker parses it once for the connections' filters, and
every connection is handed the same text to send, so a push to 50 consoles costs one encoding, not 50.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("medfix.console")

REDIS_CHANNEL = "medfix:console"
QUEUE_LIMIT = 1000  # a console that stops reading loses its connection rather than the server's memory

Message = dict[str, Any]
Filter = Callable[[Message], bool]


def encode(message: Message) -> str:
    """The JSON text of a message, as it goes over Redis and to the browsers."""
    return json.dumps(message, default=str, ensure_ascii=False, separators=(",", ":"))


@dataclass(eq=False)
class Connection:
    """One browser connection: what it wants to hear and its outgoing queue of JSON texts, ready to send."""

    wants: Filter
    queue: asyncio.Queue[str] = field(default_factory=lambda: asyncio.Queue(QUEUE_LIMIT))
    overflowed: bool = False


class Hub:
    """Fan-out of JSON messages to registered connections."""

    def __init__(self, redis_url: str = "") -> None:
        self.redis_url = redis_url
        self.channel = REDIS_CHANNEL
        self._connections: set[Connection] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._listener: asyncio.Task[None] | None = None
        self._redis: Any = None

    async def start(self) -> None:
        """Bind to the running loop; with Redis, start listening to the shared channel."""
        self._loop = asyncio.get_running_loop()
        if self.redis_url:
            import redis
            import redis.asyncio as aioredis

            # Publishing happens on the committing thread: a Redis that stopped answering must cost a request
            # a second at most, then the message goes to this worker's consoles only.
            self._redis = redis.Redis.from_url(self.redis_url, socket_connect_timeout=1, socket_timeout=1)
            # Pub/sub channels ignore Redis database numbers: the channel carries the number, so deployments (or
            # test runs, benchmarks) on one Redis with different databases never hear each other.
            self.channel = f"{REDIS_CHANNEL}:{self._redis.connection_pool.connection_kwargs.get('db', 0)}"
            subscriber = aioredis.Redis.from_url(self.redis_url)
            pubsub = subscriber.pubsub()
            await pubsub.subscribe(self.channel)
            self._listener = asyncio.create_task(self._listen(subscriber, pubsub))

    async def stop(self) -> None:
        """Stop listening and drop every connection."""
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        if self._redis is not None:
            self._redis.close()
        self._connections.clear()

    async def _listen(self, subscriber: Any, pubsub: Any) -> None:
        try:
            while True:
                try:
                    item = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                except Exception:  # Redis went away: log once per outage, keep trying
                    log.exception("lost the Redis channel; retrying")
                    await asyncio.sleep(1)
                    with contextlib.suppress(Exception):
                        await pubsub.subscribe(self.channel)
                    continue
                if item and item.get("type") == "message":
                    text = item["data"].decode() if isinstance(item["data"], bytes) else item["data"]
                    try:
                        message = json.loads(text)
                    except ValueError:
                        log.warning("ignored a message on %s that is not JSON", self.channel)
                        continue
                    self._fanout(message, text)
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()
                await subscriber.aclose()

    def register(self, wants: Filter) -> Connection:
        """A new connection hearing the messages wants() accepts."""
        connection = Connection(wants=wants)
        self._connections.add(connection)
        return connection

    def unregister(self, connection: Connection) -> None:
        """Forget a closed connection."""
        self._connections.discard(connection)

    @property
    def connection_count(self) -> int:
        """How many browsers listen on this worker."""
        return len(self._connections)

    def publish(self, message: Message) -> None:
        """Send message to every matching connection on every worker; callable from any thread."""
        text = encode(message)
        if self._redis is not None:
            try:
                self._redis.publish(self.channel, text)
                return
            except Exception:  # a Redis outage must not fail the request; this worker's consoles still hear it
                log.exception("could not publish to Redis; delivering on this worker only")
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._fanout(message, text)
        else:
            loop.call_soon_threadsafe(self._fanout, message, text)

    def _fanout(self, message: Message, text: str) -> None:
        """Queue text for every connection whose filter accepts message (the same text object for all)."""
        for connection in list(self._connections):
            try:
                if not connection.wants(message):
                    continue
            except Exception:
                log.exception("connection filter failed")
                continue
            try:
                connection.queue.put_nowait(text)
            except asyncio.QueueFull:
                connection.overflowed = True
