"""ASTM E1381/E1394 analyzer on a serial line or a terminal server (``socket://``): thin asyncio I/O around Link.

What this adds to the sans-I/O :class:`protocols.astm.link.Link`:

* bytes: the port is opened with pyserial and read through the event loop (see edge/drivers/serial_io.py);
* time: the link's timers are driven from ``time.monotonic`` via ``Link.deadline`` / ``Link.poll``;
* durability: each received message becomes clinical Events (edge/drivers/astm_events.py) appended to the
  outbox in a thread, and only after append() returned is ``Link.ack_message`` called, so the ACK of the
  last frame reaches the instrument only once the message is on disk;
* backpressure: when the outbox refuses clinical rows (BufferFull) the message stays in memory, its ACK
  stays withheld and the link NAKs every new ENQ (busy); the store is retried every ``store_retry_s``
  and busy is cleared once everything pending is stored;
* dedupe: the instrument re-sends a message whose last ACK came too late (it gives up after 15 s). A
  bounded set of content digests of stored messages makes the resend a no-op that is simply ACKed.
  Across a gateway restart that memory is gone; then the resend is appended again, but its events carry
  the same idempotency keys (content-derived, times from the message itself when its results carry them)
  and the cloud keeps one.

Failures: if the port disappears (adapter unplugged, terminal server drops the TCP connection) the driver
reconnects by itself with exponential backoff and jitter, keeping its counters, its dedupe memory and any
message still waiting for outbox room. It logs the failure once and the recovery once. Anything else
(a bug, the outbox closed or broken) propagates out of :meth:`AstmSerialDriver.run` for the supervisor,
which restarts the driver; the instrument never got the ACK of what was not stored, so it sends it again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any, Protocol

import serial

from edge.drivers.astm_events import content_digest, message_to_events
from edge.drivers.serial_io import Backoff, HealthLog, PortClosed, SerialChannel, SerialSettings
from edge.outbox import AppendResult, BufferFull
from protocols.astm.events import (
    Contention,
    Event,
    FrameRejected,
    LinkTimeout,
    MessageReceived,
    MessageSent,
    RemoteBusy,
    SendFailed,
    SessionEnded,
)
from protocols.astm.framing import DEFAULT_MAX_TEXT, NAK
from protocols.astm.link import Link, Timers
from protocols.telemetry import Event as TelemetryEvent
from protocols.telemetry import Reading

__all__ = ["AstmDriverStatus", "AstmSerialDriver", "OutboxLike"]

log = logging.getLogger(__name__)

_STABLE_SESSION_S = 10.0  # a connection that lasted this long resets the reconnect backoff


class OutboxLike(Protocol):
    """What the driver needs from edge.outbox.Outbox (a test may wrap it to slow or block append)."""

    def append(self, items: Iterable[Reading | TelemetryEvent]) -> AppendResult:
        """Store items durably or raise BufferFull."""
        ...


@dataclass(frozen=True)
class AstmDriverStatus:
    """A snapshot of one ASTM device for `medfix edge status`."""

    device_key: str
    url: str
    state: str  # starting | connecting | connected | disconnected | stopped
    link_state: str  # the E1381 table state (idle, recv_wait_frame, recv_hold_ack, ...)
    busy: bool  # True while the outbox is full and new sessions are NAKed
    last_message_at: datetime | None
    messages_received: int
    messages_stored: int
    duplicates: int  # resent messages recognised and ACKed without storing them again
    incomplete_messages: int  # session ended or timed out before the L record (stored, flagged)
    checksum_errors: int
    frame_errors: int  # every NAKed frame: checksum, frame number, cut short, too long
    naks_sent: int  # NAK bytes written: rejected frames and busy refusals
    timeouts: int
    contentions: int
    sender_gave_up: int  # the instrument sent EOT while our last ACK was withheld (store too slow)
    pending_store: int  # messages in memory waiting to be stored (for room, or for a slow disk)
    orders_sent: int
    orders_failed: int
    reconnects: int
    last_error: str | None

    def as_dict(self) -> dict[str, Any]:
        """Return the status as plain JSON-friendly values."""
        data = asdict(self)
        data["last_message_at"] = self.last_message_at.isoformat() if self.last_message_at else None
        return data


@dataclass
class _Counters:
    messages_received: int = 0
    messages_stored: int = 0
    duplicates: int = 0
    incomplete_messages: int = 0
    checksum_errors: int = 0
    frame_errors: int = 0
    naks_sent: int = 0
    timeouts: int = 0
    contentions: int = 0
    sender_gave_up: int = 0
    orders_sent: int = 0
    orders_failed: int = 0
    reconnects: int = 0


@dataclass
class _Pending:
    """A message waiting to be stored; its last ACK may still be withheld on ``link``."""

    message_id: int
    digest: str
    items: list[TelemetryEvent]
    link: Link
    ack_withheld: bool


class AstmSerialDriver:
    """One analyzer: reads E1381 frames, stores E1394 results durably, ACKs after the store."""

    def __init__(
        self,
        *,
        device_key: str,
        port: SerialSettings,
        outbox: OutboxLike,
        timers: Timers | None = None,
        max_text: int = DEFAULT_MAX_TEXT,
        tz: tzinfo | None = None,
        store_retry_s: float = 1.0,
        backoff: Backoff | None = None,
        dedupe_size: int = 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.device_key = device_key
        self.port = port
        self.timers = timers or Timers()
        self.max_text = max_text
        self.tz = tz  # the instrument's clock zone; None: the gateway's local zone
        self._outbox = outbox
        self._store_retry_s = store_retry_s
        self._backoff = backoff or Backoff()
        self._dedupe_size = dedupe_size
        self._clock = clock
        self._counters = _Counters()
        self._state = "starting"
        self._last_message_at: datetime | None = None
        self._last_error: str | None = None
        self._link: Link | None = None
        self._channel: SerialChannel | None = None
        self._busy = False
        self._queue: deque[_Pending] = deque()  # messages to store, in arrival order
        self._queued = asyncio.Event()
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._orders: list[str] = []  # host -> instrument messages not yet confirmed sent
        self._order_ids: dict[int, str] = {}
        self._port_health = HealthLog(log, f"ASTM device {device_key} port {port.url}")
        self._store_health = HealthLog(log, f"ASTM device {device_key} outbox (clinical buffer full, NAKing)")

    # --- public API --------------------------------------------------------------------------------------

    def status(self) -> AstmDriverStatus:
        """Return a snapshot of the device's state and counters."""
        c = self._counters
        return AstmDriverStatus(
            device_key=self.device_key,
            url=self.port.url,
            state=self._state,
            link_state=self._link.state.value if self._link is not None else "closed",
            busy=self._busy,
            last_message_at=self._last_message_at,
            messages_received=c.messages_received,
            messages_stored=c.messages_stored,
            duplicates=c.duplicates,
            incomplete_messages=c.incomplete_messages,
            checksum_errors=c.checksum_errors,
            frame_errors=c.frame_errors,
            naks_sent=c.naks_sent,
            timeouts=c.timeouts,
            contentions=c.contentions,
            sender_gave_up=c.sender_gave_up,
            pending_store=len(self._queue),
            orders_sent=c.orders_sent,
            orders_failed=c.orders_failed,
            reconnects=c.reconnects,
            last_error=self._last_error,
        )

    def send_message(self, text: str) -> None:
        """Queue a message (records joined by CR) for the instrument, e.g. an order; sent when the line is free."""
        self._orders.append(text)
        if self._link is not None and self._channel is not None:
            self._queue_order(self._link, text)
            self._flush(self._channel, self._link)
            self._channel.wake()  # the link has a new timer: recompute the wait

    async def run(self) -> None:
        """Serve the analyzer until cancelled, reconnecting with backoff when the port fails.

        Two tasks: the connection loop (bytes, timers, the link table) and the store worker (outbox
        appends in order, then the withheld ACK). The link keeps reading while a store is slow, so an
        instrument that gives up (EOT) is seen at once and no stale ACK is sent into its next session.
        """
        worker = asyncio.create_task(self._store_worker(), name=f"astm-store {self.device_key}")
        connection = asyncio.create_task(self._connection_loop(), name=f"astm-port {self.device_key}")
        try:
            done, _ = await asyncio.wait({worker, connection}, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()  # re-raise a failure (outbox broken, bug) for the supervisor
        finally:
            for task in (worker, connection):
                task.cancel()
            await asyncio.gather(worker, connection, return_exceptions=True)
            self._state = "stopped"

    # --- the connection ----------------------------------------------------------------------------------

    async def _connection_loop(self) -> None:
        while True:
            self._state = "connecting"
            try:
                channel = await SerialChannel.open(self.port)
            except (serial.SerialException, OSError, ValueError) as exc:
                self._port_down(exc)
                await asyncio.sleep(self._backoff.next_delay())
                continue
            opened_at = self._clock()
            self._state = "connected"
            self._port_health.recovered()
            try:
                await self._serve(channel)
            except PortClosed as exc:
                self._port_down(exc)
            finally:
                self._channel = self._link = None
                await channel.close()
            if self._clock() - opened_at >= _STABLE_SESSION_S:
                self._backoff.reset()
            self._counters.reconnects += 1
            await asyncio.sleep(self._backoff.next_delay())

    async def _serve(self, channel: SerialChannel) -> None:
        # A fresh table per connection: whatever session was open died with the old connection.
        link = Link(timers=self.timers, max_text=self.max_text)
        link.set_busy(self._busy)
        self._link, self._channel = link, channel
        self._order_ids.clear()
        for text in self._orders:
            self._queue_order(link, text)
        while True:
            self._handle(link.poll(self._clock()), link, channel)
            deadline = link.deadline
            data = await channel.read(None if deadline is None else max(0.0, deadline - self._clock()))
            if data:
                self._handle(link.receive_data(data, self._clock()), link, channel)

    def _handle(self, events: list[Event], link: Link, channel: SerialChannel) -> None:
        self._flush(channel, link)  # intermediate ACKs and NAKs go out at once
        c = self._counters
        for event in events:
            if isinstance(event, MessageReceived):
                self._on_message(event, link, channel)
            elif isinstance(event, FrameRejected):
                c.frame_errors += 1
                c.checksum_errors += int("checksum" in event.reason)
                log.debug("ASTM device %s: frame rejected: %s", self.device_key, event.reason)
            elif isinstance(event, LinkTimeout):
                c.timeouts += 1
                log.info("ASTM device %s: link timeout in %s", self.device_key, event.state.value)
            elif isinstance(event, Contention):
                c.contentions += 1
            elif isinstance(event, MessageSent):
                c.orders_sent += 1
                self._forget_order(event.message_id)
            elif isinstance(event, SendFailed):
                c.orders_failed += 1
                self._forget_order(event.message_id)
                log.warning("ASTM device %s: message to the instrument failed: %s", self.device_key, event.reason)
            elif isinstance(event, SessionEnded) and event.reason.startswith("eot while"):
                c.sender_gave_up += 1
                log.warning("ASTM device %s: instrument gave up waiting for our ACK; expect a resend", self.device_key)
            elif isinstance(event, RemoteBusy):
                log.debug("ASTM device %s: instrument busy, retry at %.1f", self.device_key, event.retry_at)

    def _on_message(self, event: MessageReceived, link: Link, channel: SerialChannel) -> None:
        c = self._counters
        c.messages_received += 1
        c.incomplete_messages += int(not event.complete)
        received_at = datetime.now(UTC)
        self._last_message_at = received_at
        digest = content_digest(event.text) + ("" if event.complete else ":partial")
        if digest in self._seen:
            c.duplicates += 1
            log.info("ASTM device %s: resent message %s already stored; ACKing it", self.device_key, digest[:12])
            if event.ack_withheld and link.ack_message(event.message_id, self._clock()):
                self._flush(channel, link)
            return
        for waiting in self._queue:
            if waiting.digest == digest:  # a resend of what is being stored: ACK this newest copy once stored
                c.duplicates += 1
                waiting.message_id, waiting.link, waiting.ack_withheld = event.message_id, link, event.ack_withheld
                return
        items = message_to_events(
            event.text, device_key=self.device_key, complete=event.complete, received_at=received_at, tz=self.tz
        )
        self._queue.append(_Pending(event.message_id, digest, items, link, event.ack_withheld))
        self._queued.set()

    # --- the store worker --------------------------------------------------------------------------------

    async def _store_worker(self) -> None:
        while True:
            if not self._queue:
                self._queued.clear()
                await self._queued.wait()
                continue
            head = self._queue[0]  # in arrival order: nothing is stored past a message waiting for room
            try:
                await asyncio.to_thread(self._outbox.append, head.items)
            except BufferFull as exc:
                self._set_busy(True)  # NAK new sessions: the instrument keeps its results until we have room
                self._store_health.failed(str(exc))
                await asyncio.sleep(self._store_retry_s)
                continue
            self._queue.popleft()
            self._stored(head.digest)
            # Fields are read after the await: a resend that arrived meanwhile moved the ACK to its copy.
            link, channel = self._link, self._channel
            if head.ack_withheld and link is head.link and link is not None and channel is not None:
                if link.ack_message(head.message_id, self._clock()):
                    try:
                        self._flush(channel, link)
                    except PortClosed:
                        pass  # the connection loop sees the same failure and reconnects
                    channel.wake()  # the link's frame timer restarted: recompute the wait
            if self._busy and not self._queue:
                self._set_busy(False)
                self._store_health.recovered()

    def _set_busy(self, busy: bool) -> None:
        self._busy = busy
        if self._link is not None:
            self._link.set_busy(busy)

    def _stored(self, digest: str) -> None:
        self._counters.messages_stored += 1
        self._seen[digest] = None
        while len(self._seen) > self._dedupe_size:
            self._seen.popitem(last=False)

    # --- helpers -----------------------------------------------------------------------------------------

    def _flush(self, channel: SerialChannel, link: Link) -> None:
        out = link.data_to_send()
        if out:
            self._counters.naks_sent += out.count(NAK)
            channel.write(out)

    def _queue_order(self, link: Link, text: str) -> None:
        self._order_ids[link.send_message(text, self._clock())] = text

    def _forget_order(self, message_id: int) -> None:
        text = self._order_ids.pop(message_id, None)
        if text is not None and text in self._orders:
            self._orders.remove(text)

    def _port_down(self, exc: BaseException) -> None:
        self._state = "disconnected"
        self._last_error = f"{type(exc).__name__}: {exc}"
        self._port_health.failed(self._last_error)
