"""A generic line/regex serial driver for simple status devices (incubators, fridges, water systems, UPSes).

Each line the device prints is matched against configured regular expressions with named groups:

* a ``readings`` rule turns every named group into one Reading (metric = prefix + group name; numbers are
  converted to int/float, anything else stays a string; the unit comes from the rule's ``units`` map);
* an ``event`` rule turns the match into one Event (code from the ``code`` group, text from the ``text``
  group or the whole line, the other groups into the payload): error and status codes.

The first matching rule wins. Readings are telemetry (bounded, droppable in the outbox); error-code events
are clinical by default and status events telemetry. A simple device cannot be told to wait, so when the
outbox refuses clinical rows they are held in memory (bounded by ``max_pending``, overflow counted and
logged) and retried; readings are still stored meanwhile. The port is reopened with backoff if it fails,
like the ASTM driver.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

import serial

from edge.drivers.astm_serial import OutboxLike
from edge.drivers.serial_io import Backoff, HealthLog, PortClosed, SerialChannel, SerialSettings
from edge.outbox import BufferFull
from protocols.telemetry import Event, EventKind, Quality, Reading, RetentionClass, Severity

__all__ = ["LineDriverStatus", "LineRule", "LineSerialDriver", "parse_line"]

log = logging.getLogger(__name__)

_MAX_LINE = 4096  # a device that never sends a newline must not grow the buffer without bound
_CODE_LIMIT = 128  # Event.code max_length
_INT = re.compile(r"[+-]?\d+")


@dataclass(frozen=True)
class LineRule:
    """One regex with named groups and what to make of a match."""

    pattern: str
    produce: Literal["readings", "event"] = "readings"
    units: Mapping[str, str] = field(default_factory=dict)  # group name -> unit (readings)
    metric_prefix: str = ""
    event_kind: EventKind = EventKind.ERROR_CODE
    severity: Severity = Severity.WARNING
    code_group: str = "code"
    text_group: str = "text"
    retention: RetentionClass | None = None  # None: clinical for error codes, telemetry otherwise

    def compile(self) -> re.Pattern[str]:
        """Compile the pattern; ValueError if it is invalid or has no named group a readings rule can use."""
        try:
            compiled = re.compile(self.pattern)
        except re.error as exc:
            raise ValueError(f"invalid regex {self.pattern!r}: {exc}") from exc
        if self.produce == "readings" and not compiled.groupindex:
            raise ValueError(f"readings rule {self.pattern!r} needs named groups, e.g. (?P<temp>[\\d.]+)")
        return compiled


def _convert(text: str) -> bool | int | float | str:
    stripped = text.strip()
    if _INT.fullmatch(stripped):
        try:
            return int(stripped)
        except ValueError:  # over Python's 4300-digit limit: float() makes it inf, then it is kept as text
            pass
    try:
        return float(stripped)
    except ValueError:
        return stripped


def parse_line(
    line: str, rules: list[tuple[LineRule, re.Pattern[str]]], *, device_key: str, now: datetime
) -> list[Reading | Event] | None:
    """Apply the first matching rule to one line; None if no rule matches."""
    for rule, compiled in rules:
        match = compiled.search(line)
        if match is None:
            continue
        groups = {name: value for name, value in match.groupdict().items() if value is not None}
        if rule.produce == "readings":
            out: list[Reading | Event] = []
            for name, raw in groups.items():
                value = _convert(raw)
                quality = Quality.GOOD
                if isinstance(value, float) and not math.isfinite(value):
                    value, quality = raw.strip(), Quality.BAD  # the wire contract has no NaN: keep it as text
                out.append(
                    Reading(
                        device_key=device_key,
                        metric=rule.metric_prefix + name,
                        observed_at=now,
                        value=value,
                        unit=rule.units.get(name),
                        quality=quality,
                    )
                )
            return out
        code = groups.pop(rule.code_group, None)
        code = code[:_CODE_LIMIT] if code is not None else None  # Event.code max_length: a device may print more
        text = groups.pop(rule.text_group, None) or line
        retention = rule.retention or (
            RetentionClass.CLINICAL if rule.event_kind is EventKind.ERROR_CODE else RetentionClass.TELEMETRY
        )
        payload: dict[str, bool | int | float | str] = {name: _convert(raw) for name, raw in groups.items()}
        payload = {k: v for k, v in payload.items() if not (isinstance(v, float) and not math.isfinite(v))}
        return [
            Event(
                device_key=device_key,
                occurred_at=now,
                kind=rule.event_kind,
                severity=rule.severity,
                code=code,
                text=text[:4096],
                payload={**payload, "line": line},
                retention=retention,
            )
        ]
    return None


@dataclass(frozen=True)
class LineDriverStatus:
    """A snapshot of one line device for `medfix edge status`."""

    device_key: str
    url: str
    state: str  # starting | connecting | connected | disconnected | stopped
    last_line_at: datetime | None
    lines: int
    matched: int
    unmatched: int
    readings: int
    events: int
    pending_store: int  # clinical events held in memory while the outbox is full
    dropped: int  # clinical events lost because the in-memory hold overflowed
    reconnects: int
    last_error: str | None


class LineSerialDriver:
    """Reads lines from a serial device and turns regex matches into readings and events."""

    def __init__(
        self,
        *,
        device_key: str,
        port: SerialSettings,
        outbox: OutboxLike,
        rules: list[LineRule],
        encoding: str = "ascii",
        store_retry_s: float = 1.0,
        max_pending: int = 10_000,
        backoff: Backoff | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.device_key = device_key
        self.port = port
        self.rules = [(rule, rule.compile()) for rule in rules]
        self.encoding = encoding
        self._outbox = outbox
        self._store_retry_s = store_retry_s
        self._max_pending = max_pending
        self._backoff = backoff or Backoff()
        self._clock = clock
        self._state = "starting"
        self._buf = bytearray()
        self._pending: deque[Event] = deque()
        self._retry_at = 0.0
        self._counts = {"lines": 0, "matched": 0, "unmatched": 0, "readings": 0, "events": 0, "dropped": 0}
        self._reconnects = 0
        self._last_line_at: datetime | None = None
        self._last_error: str | None = None
        self._port_health = HealthLog(log, f"line device {device_key} port {port.url}")
        self._store_health = HealthLog(log, f"line device {device_key} outbox (clinical buffer full)")

    def status(self) -> LineDriverStatus:
        """Return a snapshot of the device's state and counters."""
        c = self._counts
        return LineDriverStatus(
            device_key=self.device_key,
            url=self.port.url,
            state=self._state,
            last_line_at=self._last_line_at,
            lines=c["lines"],
            matched=c["matched"],
            unmatched=c["unmatched"],
            readings=c["readings"],
            events=c["events"],
            pending_store=len(self._pending),
            dropped=c["dropped"],
            reconnects=self._reconnects,
            last_error=self._last_error,
        )

    async def run(self) -> None:
        """Read the device until cancelled, reopening the port with backoff when it fails."""
        try:
            while True:
                self._state = "connecting"
                try:
                    channel = await SerialChannel.open(self.port)
                except (serial.SerialException, OSError, ValueError) as exc:
                    self._port_down(exc)
                    await asyncio.sleep(self._backoff.next_delay())
                    continue
                self._state = "connected"
                self._port_health.recovered()
                self._backoff.reset()
                self._buf.clear()  # a partial line from the old connection cannot be trusted
                try:
                    await self._serve(channel)
                except PortClosed as exc:
                    self._port_down(exc)
                finally:
                    await channel.close()
                self._reconnects += 1
                await asyncio.sleep(self._backoff.next_delay())
        finally:
            self._state = "stopped"

    async def _serve(self, channel: SerialChannel) -> None:
        while True:
            wait = max(0.0, self._retry_at - self._clock()) if self._pending else None
            data = await channel.read(wait)
            items = self._take_lines(data) if data else []
            if self._pending and self._clock() >= self._retry_at:
                await self._retry_pending()
            if items:
                await self._store(items)

    def _take_lines(self, data: bytes) -> list[Reading | Event]:
        self._buf += data
        items: list[Reading | Event] = []
        *lines, rest = self._buf.split(b"\n")
        self._buf = bytearray(rest[-_MAX_LINE:])
        now = datetime.now(UTC)
        for raw in lines:
            line = raw.decode(self.encoding, errors="replace").strip("\r\x00 ")
            if not line:
                continue
            self._counts["lines"] += 1
            self._last_line_at = now
            parsed = parse_line(line, self.rules, device_key=self.device_key, now=now)
            if parsed is None:
                self._counts["unmatched"] += 1
                log.debug("line device %s: no rule matches %r", self.device_key, line[:80])
                continue
            self._counts["matched"] += 1
            items += parsed
        return items

    async def _store(self, items: list[Reading | Event]) -> None:
        clinical, telemetry = _split(items)
        if self._pending:  # keep clinical events in order: queue them behind what is already waiting
            self._hold(clinical)
            items, clinical = telemetry, []
        if not items:
            return
        try:
            await asyncio.to_thread(self._outbox.append, items)
        except BufferFull as exc:
            self._store_health.failed(str(exc))
            self._hold(clinical)
            self._retry_at = self._clock() + self._store_retry_s
            if telemetry:  # telemetry never raises BufferFull: store it now rather than hold it
                await asyncio.to_thread(self._outbox.append, telemetry)
                self._count(telemetry)
            return
        self._count(items)

    async def _retry_pending(self) -> None:
        # One at a time: the outbox is all-or-nothing per append, and a little room should be used at once.
        while self._pending:
            try:
                await asyncio.to_thread(self._outbox.append, [self._pending[0]])
            except BufferFull:
                self._retry_at = self._clock() + self._store_retry_s
                return
            self._count([self._pending.popleft()])
        self._store_health.recovered()

    def _hold(self, events: list[Event]) -> None:
        self._pending.extend(events)
        overflow = len(self._pending) - self._max_pending
        if overflow > 0:
            for _ in range(overflow):
                self._pending.popleft()
            self._counts["dropped"] += overflow
            log.error("line device %s: %d clinical events lost (outbox full too long)", self.device_key, overflow)

    def _count(self, items: list[Reading | Event] | list[Event]) -> None:
        for item in items:
            self._counts["readings" if isinstance(item, Reading) else "events"] += 1

    def _port_down(self, exc: BaseException) -> None:
        self._state = "disconnected"
        self._last_error = f"{type(exc).__name__}: {exc}"
        self._port_health.failed(self._last_error)


def _split(items: list[Reading | Event]) -> tuple[list[Event], list[Reading | Event]]:
    clinical: list[Event] = []
    other: list[Reading | Event] = []
    for item in items:
        if isinstance(item, Event) and item.retention is RetentionClass.CLINICAL:
            clinical.append(item)
        else:
            other.append(item)
    return clinical, other
