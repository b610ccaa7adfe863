"""The WebSocket hub: messages published from any thread reach every matching connection.

In-process by default. With Redis configured every message goes through one Redis channel, so a ticket
submitted to one API worker reaches consoles connected to any other worker.

A message is serialized once when published; each worker parses it once for the connections' filters, and
every connection is handed the same text to send, so a push to 50 consoles costs one encoding, not 50.

Frames, not messages, are what a push costs (a WebSocket send, its compression, the browser's wake-up), so:

* A thread may `collect()` what it publishes and send it as one batch when done (the outbox does, per event:
  the in-app notification and the `ticket.estimated` push of one new ticket leave as one Redis message).
* After a Redis outage each worker sends its browsers `{"type": "resync"}`: they fetch their view again.
* A connection that registered with `batches=True` (the console's LiveSocket asks with `?batch=1`) receives a
  batch as one frame, a JSON array of the messages it wants, and whatever queued up while its previous frame
  was being sent goes out together in the next one. Other connections get one message per frame, as always.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("medfix.console")

REDIS_CHANNEL = "medfix:console"
QUEUE_LIMIT = 1000  # a console that stops reading loses its connection rather than the server's memory
FRAME_LIMIT = 100  # queued texts sent together in one frame at most (to a connection that takes batches)

Message = dict[str, Any]
Filter = Callable[[Message], bool]
# Sent to every browser of a worker whose Redis channel came back after an outage: what other workers published
# meanwhile never reached it, so the page fetches its view again (desk_common.js, groupchat.js, ticket.js).
RESYNC: Message = {"type": "resync"}


def encode(message: Message) -> str:
    """The JSON text of a message, as it goes over Redis and to the browsers."""
    return json.dumps(message, default=str, ensure_ascii=False, separators=(",", ":"))


def encode_batch(texts: list[str]) -> str:
    """One JSON array of already encoded messages (or arrays of them), without parsing any of them again."""
    return "[" + ",".join(text[1:-1] if text.startswith("[") else text for text in texts) + "]"


@dataclass(eq=False)
class Connection:
    """One browser connection: what it wants to hear and its outgoing queue of JSON texts, ready to send.

    batches: the browser accepts a JSON array of messages in one frame (see the module's doc)."""

    wants: Filter
    batches: bool = False
    queue: asyncio.Queue[str] = field(default_factory=lambda: asyncio.Queue(QUEUE_LIMIT))
    overflowed: bool = False

    def next_frame(self, text: str) -> str:
        """text, or with batches one frame of text and whatever else is queued already (at most FRAME_LIMIT)."""
        if not self.batches or self.queue.empty():
            return text
        texts = [text]
        while len(texts) < FRAME_LIMIT and not self.queue.empty():
            texts.append(self.queue.get_nowait())
        return encode_batch(texts)


class Hub:
    """Fan-out of JSON messages to registered connections."""

    def __init__(self, redis_url: str = "") -> None:
        self.redis_url = redis_url
        self.channel = REDIS_CHANNEL
        self._connections: set[Connection] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._listener: asyncio.Task[None] | None = None
        self._redis: Any = None
        self._stopping = False
        self._collecting = threading.local()  # per thread: the messages collect() holds back, or None

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
        self._stopping = True
        if self._listener is not None:
            # redis-py can turn a cancellation inside get_message() into a connection error, which the listener
            # takes for an outage: the flag ends its loop within a second whatever the cancel became.
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(self._listener, 10)
        if self._redis is not None:
            self._redis.close()
        self._connections.clear()

    async def _listen(self, subscriber: Any, pubsub: Any) -> None:
        lost = False
        try:
            while not self._stopping:
                try:
                    item = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                except Exception:  # Redis went away: log once per outage, keep trying
                    if self._stopping:
                        break
                    if not lost:
                        log.exception("lost the Redis channel; retrying every second")
                    lost = True
                    await asyncio.sleep(1)
                    with contextlib.suppress(Exception):
                        await pubsub.subscribe(self.channel)
                    continue
                if lost:
                    # Other workers' messages of the outage never reached this one's browsers: they fetch again.
                    lost = False
                    log.warning("the Redis channel is back; telling this worker's browsers to fetch what they missed")
                    self.resync()
                if item and item.get("type") == "message":
                    text = item["data"].decode() if isinstance(item["data"], bytes) else item["data"]
                    try:
                        message = json.loads(text)
                    except ValueError:
                        log.warning("ignored a message on %s that is not JSON", self.channel)
                        continue
                    if isinstance(message, list):
                        self._fanout_batch(message, text)
                    else:
                        self._fanout(message, text)
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(pubsub.aclose(), 5)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(subscriber.aclose(), 5)

    def register(self, wants: Filter, *, batches: bool = False) -> Connection:
        """A new connection hearing the messages wants() accepts (several in one frame if it takes batches)."""
        connection = Connection(wants=wants, batches=batches)
        self._connections.add(connection)
        return connection

    def unregister(self, connection: Connection) -> None:
        """Forget a closed connection."""
        self._connections.discard(connection)

    def resync(self) -> None:
        """Tell every browser on this worker, whatever it listens for, that it may have missed messages (it fetches
        its view again, as after reconnecting its socket). Runs on the hub's loop."""
        text = encode(RESYNC)
        for connection in list(self._connections):
            self._queue(connection, text)

    @property
    def connection_count(self) -> int:
        """How many browsers listen on this worker."""
        return len(self._connections)

    def publish(self, message: Message) -> None:
        """Send message to every matching connection on every worker; callable from any thread.

        Inside collect() on this thread the message waits for the end of the collection instead."""
        held: list[Message] | None = getattr(self._collecting, "messages", None)
        if held is not None:
            held.append(message)
            return
        self._send([message])

    @contextlib.contextmanager
    def collect(self) -> Iterator[None]:
        """Hold back what this thread publishes until the block ends, then publish it as one batch (also when the
        block raises: what was published stays published, as without the collection)."""
        if getattr(self._collecting, "messages", None) is not None:  # nested: the outer collection sends
            yield
            return
        self._collecting.messages = held = []
        try:
            yield
        finally:
            self._collecting.messages = None
            if held:
                self._send(held)

    def _send(self, messages: list[Message]) -> None:
        """One publication of one message, or of a batch (one Redis message, one fan-out per worker)."""
        texts = [encode(message) for message in messages]
        text = texts[0] if len(texts) == 1 else encode_batch(texts)
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
        if len(messages) == 1:
            fanout: Callable[..., None] = self._fanout
            args: tuple[Any, ...] = (messages[0], text)
        else:
            fanout, args = self._fanout_batch, (messages, text, texts)
        if running is loop:
            fanout(*args)
        else:
            loop.call_soon_threadsafe(fanout, *args)

    def _fanout(self, message: Message, text: str) -> None:
        """Queue text for every connection whose filter accepts message (the same text object for all)."""
        for connection in list(self._connections):
            if self._wants(connection, message):
                self._queue(connection, text)

    def _fanout_batch(self, messages: list[Message], text: str, texts: list[str] | None = None) -> None:
        """Queue a batch: to a connection taking batches the messages it wants as one text (shared by every
        connection that wants the same ones), to any other each message it wants on its own.

        texts: each message's own text when the publisher has them (in-process), else encoded when first needed."""
        singles: dict[int, str] = dict(enumerate(texts or ()))
        frames: dict[tuple[int, ...], str] = {tuple(range(len(messages))): text}

        def single(i: int) -> str:
            if i not in singles:
                singles[i] = encode(messages[i])
            return singles[i]

        for connection in list(self._connections):
            wanted = tuple(i for i, message in enumerate(messages) if self._wants(connection, message))
            if not wanted:
                continue
            if not connection.batches:
                for i in wanted:
                    self._queue(connection, single(i))
            elif len(wanted) == 1:
                self._queue(connection, single(wanted[0]))
            else:
                frame = frames.get(wanted)
                if frame is None:
                    frame = frames[wanted] = encode_batch([single(i) for i in wanted])
                self._queue(connection, frame)

    @staticmethod
    def _wants(connection: Connection, message: Message) -> bool:
        try:
            return bool(connection.wants(message))
        except Exception:
            log.exception("connection filter failed")
            return False

    @staticmethod
    def _queue(connection: Connection, text: str) -> None:
        try:
            connection.queue.put_nowait(text)
        except asyncio.QueueFull:
            connection.overflowed = True
