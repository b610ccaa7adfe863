"""Uplinks: deliver the outbox's batches to the cloud and let a batch go only after the cloud's ack.

Both transports share one delivery loop (:class:`Uplink`): lease the oldest batches (up to ``max_in_flight`` at
once), send them, and then for each

* ack (the cloud's BatchAck names this batch's key) -> ``outbox.ack``: the batch leaves the outbox;
* a refusal that re-sending cannot fix (401/403/413/422 and other 4xx) -> the batch *stays* (clinical data
  is never dropped silently), the refusal is logged loudly once, and the same batch is tried again only
  after ``rejected_retry_s`` (a rotated token or a fixed config may heal it; an operator must look);
* anything transient (network, 5xx, 429, no ack in time) -> ``outbox.nack`` and retry with exponential
  backoff and jitter. The re-sent batch has the same idempotency key, so the cloud stores it once.

Several batches in flight: the cloud dedupes by key, so batches need not arrive in order, but its alert scorer
skips a reading not newer than the last one scored for its stream (cloud/alerts/scoring.py). So a batch that
shares a stream (device and metric; events: the device) with an earlier un-acked batch in the window is sent
only after that batch is acked, and not at all in this round if it failed: per stream, batches reach the cloud
in outbox order, as with one batch at a time. After any failure the window drains (sends in hand finish) and
the loop backs off once, then leases again from the oldest un-acked batch.

Batches are formed so that they rarely have to wait: the lease passes the window's size and the devices of the
batches in it (Outbox.lease_wire lanes/busy_devices), so a new batch leaves those devices out and, while a backlog
waits, takes at most 1/max_in_flight of the waiting devices. Without that, a batch spanning every stream of the
fleet (large batches, or a small fleet: 10 devices x 50 metrics is one 500-item batch) shares streams with the
next one, and a replay runs one batch at a time. While a backlog waits (more than ``backlog_batch_max_items``
items), batches are also formed larger (``backlog_batch_max_items`` / ``backlog_batch_max_bytes``): fewer round
trips and acks per reading, which the cloud's ingest needs most; each then takes 1/``backlog_max_in_flight`` of
the waiting devices, so about that many large batches are in flight (more only contend in the cloud's database).
The size is fixed when the batch is formed (its wire bytes are frozen then) and kept on every re-send.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time
from contextlib import AbstractAsyncContextManager
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlparse, urlunparse

from edge.backoff import Backoff, OnceLog
from protocols.telemetry import BatchAck

if TYPE_CHECKING:
    from edge.config import CloudSettings, EdgeConfig, TlsSettings
    from edge.outbox import FrozenBatch, Outbox

__all__ = ["Acked", "Rejected", "Retry", "Uplink", "UplinkStatus", "build_uplink", "public_url", "ssl_context"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Acked:
    """The cloud kept the batch (or had already kept it)."""

    ack: BatchAck


@dataclass(frozen=True)
class Rejected:
    """The cloud refused the batch and will refuse it again if it is re-sent unchanged."""

    status: int
    detail: str


@dataclass(frozen=True)
class Retry:
    """A transient failure: try the same batch again after a backoff."""

    reason: str
    retry_after: float | None = None


Outcome = Acked | Rejected | Retry


@dataclass
class _Flight:
    """One batch in the delivery window: the streams it touches and the task sending it."""

    sequence: int
    streams: frozenset[tuple[str, str]]
    devices: frozenset[str]
    task: asyncio.Task[Outcome | None] = field(repr=False)


@dataclass
class UplinkStatus:
    """Counters and state of the uplink, for `medfix edge status`."""

    transport: str
    url: str
    state: str = "starting"  # starting | idle | sending | backoff | rejected | stopped
    connected: bool | None = None
    batches_acked: int = 0
    items_acked: int = 0
    duplicates: int = 0  # acks saying the cloud already had the batch (a re-send after a lost ack)
    retries: int = 0
    rejections: int = 0
    consecutive_failures: int = 0
    last_ack_at: float | None = None
    last_error: str | None = None
    rejected_status: int | None = None  # set while the head of the queue is being refused
    in_flight: int = 0  # batches leased and being sent (or waiting for an earlier batch of a shared stream)
    peak_in_flight: int = 0
    ordered_waits: int = 0  # batches that had to wait for an earlier un-acked batch sharing a stream

    def as_dict(self) -> dict[str, Any]:
        """Plain values for the status snapshot."""
        return asdict(self)


def public_url(url: str) -> str:
    """The URL without credentials, fit for logs and status files."""
    parts = urlparse(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunparse(parts._replace(netloc=netloc))


def ssl_context(tls: TlsSettings) -> ssl.SSLContext:
    """A client TLS context from the config: system CAs or a private CA, an optional client certificate."""
    context = ssl.create_default_context(cafile=str(tls.ca_file) if tls.ca_file else None)
    if tls.cert_file is not None:
        context.load_cert_chain(str(tls.cert_file), str(tls.key_file) if tls.key_file else None)
    if tls.insecure:
        log.warning("TLS certificate checks are OFF (cloud.tls.insecure): use this for commissioning only")
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class Uplink:
    """The transport-independent delivery loop; subclasses provide the session and one send."""

    transport: ClassVar[str] = "?"
    default_max_in_flight: ClassVar[int] = 1

    def __init__(
        self, settings: CloudSettings, outbox: Outbox, *, gateway_id: str, max_in_flight: int | None = None
    ) -> None:
        self.settings = settings
        self.outbox = outbox
        self.gateway_id = gateway_id
        self.token = settings.read_token()
        self.stats = UplinkStatus(transport=self.transport, url=public_url(settings.url))
        self.stopped = asyncio.Event()
        self._stopping = False
        self._wake = asyncio.Event()
        self._interrupt = asyncio.Event()
        self._backoff = Backoff(settings.retry_initial_s, settings.retry_max_s)
        self._health = OnceLog(log, f"uplink to {self.stats.url}")
        self._refused: set[tuple[str, int]] = set()  # (batch key, status) already logged loudly
        # An explicit argument wins, then the config's cloud.max_in_flight, then the transport's default.
        configured = max_in_flight or settings.max_in_flight or self.default_max_in_flight
        self.max_in_flight = max(1, int(configured))

    # --- the loop ------------------------------------------------------------------------------------

    def session(self) -> AbstractAsyncContextManager[None]:
        """Open the connection(s) the sends use; closed when run() ends."""
        raise NotImplementedError

    async def send(self, batch: FrozenBatch) -> Outcome:
        """Deliver one batch's stored wire bytes as they are and wait for the cloud's answer (may run for several
        batches at once)."""
        raise NotImplementedError

    def wake(self) -> None:
        """New data is in the outbox: stop idling (does not cut a backoff short)."""
        self._wake.set()

    def request_stop(self) -> None:
        """Finish the batches in hand (if any), then return from run()."""
        self._stopping = True
        self._wake.set()
        self._interrupt.set()

    def status(self) -> dict[str, Any]:
        """A snapshot for the status file."""
        return self.stats.as_dict()

    async def run(self) -> None:
        """Deliver batches until request_stop() or cancellation."""
        self.stopped.clear()
        window: dict[int, _Flight] = {}  # sequence -> flight, in lease (= outbox) order
        try:
            async with self.session():
                while not self._stopping:
                    await self._fill(window)
                    if not window:
                        await self._idle()
                        continue
                    self.stats.state = "sending"
                    await asyncio.wait([f.task for f in window.values()], return_when=asyncio.FIRST_COMPLETED)
                    failures = self._collect(window)
                    if failures:
                        # Let the sends in hand finish (dependents of the failed batch give up unsent), then
                        # back off once for the round.
                        while window:
                            await asyncio.wait([f.task for f in window.values()])
                            failures += self._collect(window)
                        await self._after_failure(failures[0])
                while window:  # stopping: finish the batches in hand
                    await asyncio.wait([f.task for f in window.values()])
                    self._collect(window)
        finally:
            for flight in window.values():
                flight.task.cancel()
            if window:
                await asyncio.gather(*(f.task for f in window.values()), return_exceptions=True)
            self.stats.state = "stopped"
            self.stats.in_flight = 0
            self.stopped.set()

    async def _fill(self, window: dict[int, _Flight]) -> None:
        while len(window) < self.max_in_flight and not self._stopping:
            if any(f.task.done() for f in window.values()):
                return  # collect it first: a failed batch is given back and must not be leased twice in the window
            busy = frozenset().union(*(f.devices for f in window.values()))
            batch = await asyncio.to_thread(self._lease, busy)
            if batch is None:
                return
            if batch.sequence in window:  # it failed while we leased: the run loop handles it
                self.outbox.nack(batch.idempotency_key)
                return
            streams = batch.streams
            # Only earlier batches in the window can share a stream with it: all older ones are acked.
            before = [f.task for f in window.values() if not streams.isdisjoint(f.streams)]
            self.stats.ordered_waits += bool(before)
            task = asyncio.create_task(self._deliver(batch, before))
            window[batch.sequence] = _Flight(batch.sequence, streams, batch.devices, task)
            self.stats.in_flight = len(window)
            self.stats.peak_in_flight = max(self.stats.peak_in_flight, len(window))

    def _lease(self, busy: frozenset[str]) -> FrozenBatch | None:
        """The next batch (in a thread): larger limits while a backlog waits; disjoint from `busy` devices."""
        settings = self.settings
        max_items, max_bytes, lanes = settings.batch_max_items, settings.batch_max_bytes, self.max_in_flight
        backlog_items = settings.backlog_batch_max_items
        if backlog_items > max_items and self.outbox.waiting_telemetry() > backlog_items:
            max_items, max_bytes = backlog_items, max(max_bytes, settings.backlog_batch_max_bytes)
            lanes = min(lanes, settings.backlog_max_in_flight)
        return self.outbox.lease_wire(max_items=max_items, max_bytes=max_bytes, lanes=lanes, busy_devices=busy)

    def _collect(self, window: dict[int, _Flight]) -> list[Retry | Rejected]:
        """Remove finished flights from the window; their failures, oldest batch first."""
        failures: list[Retry | Rejected] = []
        for sequence in [s for s, f in window.items() if f.task.done()]:
            outcome = window.pop(sequence).task.result()  # an unexpected error propagates, as before
            if isinstance(outcome, Retry | Rejected):
                failures.append(outcome)
        self.stats.in_flight = len(window)
        return failures

    async def _idle(self) -> None:
        self.stats.state = "idle"
        # The wake-up comes from the runtime's sink; the timeout also catches data appended by anyone else.
        try:
            async with asyncio.timeout(1.0):
                await self._wake.wait()
        except TimeoutError:
            return
        self._wake.clear()
        if self.settings.linger_s and not self._stopping:
            await asyncio.sleep(self.settings.linger_s)  # let a poll cycle finish so batches are fuller

    async def _deliver(self, batch: FrozenBatch, before: list[asyncio.Task[Outcome | None]]) -> Outcome | None:
        """Send one batch once the earlier batches sharing its streams are acked; None if it was not sent."""
        key = batch.idempotency_key
        try:
            if before:
                await asyncio.wait(before)  # wait() does not cancel them if this task is cancelled
                if not all(not t.cancelled() and t.exception() is None and isinstance(t.result(), Acked)
                           for t in before):
                    self.outbox.nack(key)  # an earlier batch of the same stream failed: keep per-stream order
                    return None
            outcome = await self.send(batch)
        except BaseException:
            self.outbox.nack(key)  # no I/O: safe on the loop, and it must happen even when cancelled
            raise
        if isinstance(outcome, Acked) and outcome.ack.idempotency_key != key:
            outcome = Retry(f"the cloud acked {outcome.ack.idempotency_key!r}, not {key!r}")
        if isinstance(outcome, Acked):
            await asyncio.to_thread(self.outbox.ack, key)
            self._acked(batch, outcome.ack)
        elif isinstance(outcome, Rejected):
            self.outbox.nack(key)
            self._rejected(key, outcome)
        else:
            self.outbox.nack(key)
            self.stats.retries += 1
            self.stats.consecutive_failures += 1
            self.stats.last_error = outcome.reason
        return outcome

    async def _after_failure(self, outcome: Retry | Rejected) -> None:
        if isinstance(outcome, Rejected):
            self.stats.state = "rejected"
            await self._pause(self.settings.rejected_retry_s)
            return
        delay = self._backoff.next_delay()
        if outcome.retry_after is not None:
            delay = max(delay, min(outcome.retry_after, self.settings.retry_max_s))
        self._health.failed(f"{outcome.reason}; batches wait in the outbox, retrying with backoff",
                            level=logging.WARNING)
        self.stats.state = "backoff"
        await self._pause(delay)

    def _acked(self, batch: FrozenBatch, ack: BatchAck) -> None:
        stats = self.stats
        stats.batches_acked += 1
        stats.items_acked += batch.items
        stats.duplicates += int(ack.duplicate)
        stats.last_ack_at = time.time()
        stats.consecutive_failures = 0
        stats.rejected_status = None
        self._backoff.reset()
        if self._refused:
            log.warning("uplink: the cloud accepts batches again (%s)", batch.idempotency_key)
            self._refused.clear()
        self._health.recovered(f"batch {batch.idempotency_key} delivered")

    def _rejected(self, key: str, outcome: Rejected) -> None:
        stats = self.stats
        stats.rejections += 1
        stats.consecutive_failures += 1
        stats.rejected_status = outcome.status
        stats.last_error = f"{outcome.status}: {outcome.detail}"
        stats.state = "rejected"
        if (key, outcome.status) not in self._refused:
            self._refused.add((key, outcome.status))
            log.critical(
                "uplink: the cloud REFUSED batch %s with %s (%s). It stays in the outbox (nothing is dropped) and "
                "is retried every %.0f s; fix the gateway token or config (cloud.url, batch_max_bytes) and restart.",
                key, outcome.status, outcome.detail, self.settings.rejected_retry_s,
            )

    async def _pause(self, seconds: float) -> None:
        if self._stopping:
            return
        self._interrupt.clear()
        try:
            async with asyncio.timeout(seconds):
                await self._interrupt.wait()
        except TimeoutError:
            pass


def build_uplink(config: EdgeConfig, outbox: Outbox) -> Uplink:
    """The uplink the config's cloud.url asks for."""
    if config.cloud.transport == "mqtt":
        from edge.uplink.mqtt import MqttUplink

        return MqttUplink(config.cloud, outbox, gateway_id=config.gateway_id)
    from edge.uplink.http import HttpUplink

    return HttpUplink(config.cloud, outbox, gateway_id=config.gateway_id)
