"""Modbus TCP and RTU over pymodbus: a hub per transport endpoint, a poller per device.

The shape follows home-assistant's modbus hub + DataUpdateCoordinator: the hub owns the client and a
lock (one owner per RS-485 port or TCP endpoint, so requests for different unit ids never interleave on
the wire), keeps the inter-frame gap, retries and reconnects with backoff; the poller only plans,
decodes and reports. A device's failure and its recovery are each logged once, not every cycle.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ConnectionException, ModbusException
from pymodbus.framer import FramerType

from edge.drivers import error_code_change
from protocols.modbus import DecodedValue, ReadRequest, RegisterMap, Table
from protocols.telemetry import Event, EventKind, Quality, Reading, Severity

logger = logging.getLogger(__name__)

Sink = Callable[[list[Reading | Event]], Awaitable[None]]
"""Where a poller delivers each cycle's items (the runtime plugs the outbox in here)."""

ClientFactory = Callable[[], AsyncModbusTcpClient | AsyncModbusSerialClient]

_RTU_MIN_GAP_S: Final = 0.00175  # Modbus over serial line spec: fixed 1.75 ms above 19200 baud
_BITS_PER_CHAR: Final = 11  # start + 8 data + parity/stop + stop


class ModbusHubError(Exception):
    """A read through the hub failed."""


class ModbusConnectionError(ModbusHubError):
    """The endpoint is not connected (refused, dropped, or waiting out the reconnect backoff)."""


class ModbusTimeoutError(ModbusHubError):
    """The device did not answer in time (after the hub's retries)."""


class ModbusDeviceError(ModbusHubError):
    """The device answered with a Modbus exception response (illegal address, busy, ...)."""

    def __init__(self, message: str, exception_code: int) -> None:
        super().__init__(message)
        self.exception_code = exception_code


def quiet_pymodbus_logging() -> None:
    """Silence pymodbus' per-request error logs (with packet dumps) unless its level was chosen explicitly."""
    # pymodbus logs every timeout at ERROR, every cycle; the poller logs a failure once and its recovery
    # once, which is what an operator can act on. An explicit level (e.g. DEBUG while diagnosing) wins.
    pymodbus_logger = logging.getLogger("pymodbus")
    if pymodbus_logger.level == logging.NOTSET:
        pymodbus_logger.setLevel(logging.CRITICAL)


def rtu_gap(baudrate: int) -> float:
    """Inter-frame silence for RTU: 3.5 character times, at least 1.75 ms (spec value above 19200 baud)."""
    return max(_RTU_MIN_GAP_S, 3.5 * _BITS_PER_CHAR / baudrate)


@dataclass(slots=True)
class HubStats:
    """Counters of one hub, for `medfix edge status`."""

    requests: int = 0
    failures: int = 0
    retries: int = 0
    connects: int = 0
    connect_failures: int = 0


class ModbusHub:
    """One transport endpoint (a TCP host:port or a serial port): the client, a lock, gap, retries, backoff."""

    def __init__(
        self,
        client_factory: ClientFactory,
        *,
        name: str,
        gap: float = 0.0,
        retries: int = 1,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        jitter: float = 0.1,
    ) -> None:
        if gap < 0 or retries < 0 or backoff_initial <= 0 or backoff_max < backoff_initial:
            raise ValueError("need gap >= 0, retries >= 0 and 0 < backoff_initial <= backoff_max")
        quiet_pymodbus_logging()
        self.name = name
        self.gap = gap
        self.retries = retries
        self.stats = HubStats()
        self._client_factory = client_factory
        self._client: AsyncModbusTcpClient | AsyncModbusSerialClient | None = None
        self._lock = asyncio.Lock()
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._backoff = backoff_initial
        self._jitter = jitter
        self._next_connect_at = 0.0
        self._last_io_at = -math.inf
        self._closed = False

    @classmethod
    def tcp(
        cls,
        host: str,
        port: int = 502,
        *,
        timeout: float = 1.0,
        retries: int = 1,
        gap: float = 0.0,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
    ) -> ModbusHub:
        """A hub for a Modbus TCP endpoint (a device, or a TCP-to-RS-485 gateway with several unit ids)."""

        def factory() -> AsyncModbusTcpClient:
            # pymodbus' own retries and background reconnect are off: the hub does both, so one policy
            # (backoff, logging, counters) holds for TCP and RTU alike.
            return AsyncModbusTcpClient(
                host, port=port, timeout=timeout, retries=0, reconnect_delay=0, name=f"{host}:{port}"
            )

        return cls(
            factory,
            name=f"tcp://{host}:{port}",
            gap=gap,
            retries=retries,
            backoff_initial=backoff_initial,
            backoff_max=backoff_max,
        )

    @classmethod
    def serial(
        cls,
        port: str,
        *,
        baudrate: int = 9600,
        parity: str = "N",
        stopbits: int = 1,
        bytesize: int = 8,
        timeout: float = 1.0,
        retries: int = 1,
        gap: float | None = None,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
    ) -> ModbusHub:
        """A hub owning one serial port (Modbus RTU); gap defaults to the RTU inter-frame silence."""

        def factory() -> AsyncModbusSerialClient:
            return AsyncModbusSerialClient(
                port,
                framer=FramerType.RTU,
                baudrate=baudrate,
                parity=parity,
                stopbits=stopbits,
                bytesize=bytesize,
                timeout=timeout,
                retries=0,
                reconnect_delay=0,
                name=port,
            )

        return cls(
            factory,
            name=f"rtu://{port}",
            gap=rtu_gap(baudrate) if gap is None else gap,
            retries=retries,
            backoff_initial=backoff_initial,
            backoff_max=backoff_max,
        )

    @property
    def connected(self) -> bool:
        """True while the client holds an open connection."""
        return self._client is not None and self._client.connected

    async def read(self, request: ReadRequest) -> list[int] | list[bool]:
        """Perform one planned read under the hub's lock; raise a ModbusHubError subclass on failure."""
        async with self._lock:
            if self._closed:
                raise ModbusConnectionError(f"{self.name}: hub is closed")
            error: ModbusHubError | None = None
            for attempt in range(self.retries + 1):
                if attempt:
                    self.stats.retries += 1
                client = await self._ensure_connected()
                await self._keep_gap()
                self.stats.requests += 1
                try:
                    result = await self._execute(client, request)
                except ModbusDeviceError:
                    self.stats.failures += 1
                    raise  # the device answered: retrying the same request gets the same answer
                except ModbusHubError as exc:
                    error = exc
                    continue
                finally:
                    self._last_io_at = time.monotonic()
                self._backoff = self._backoff_initial  # a good answer proves the link; reset the backoff
                return result
            self.stats.failures += 1
            assert error is not None
            raise error

    async def close(self) -> None:
        """Close the connection; later reads fail with ModbusConnectionError."""
        async with self._lock:
            self._closed = True
            self._drop_client()

    async def __aenter__(self) -> ModbusHub:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def _ensure_connected(self) -> AsyncModbusTcpClient | AsyncModbusSerialClient:
        if self._client is not None and self._client.connected:
            return self._client
        self._drop_client()
        now = time.monotonic()
        if now < self._next_connect_at:
            raise ModbusConnectionError(
                f"{self.name}: not connected, next attempt in {self._next_connect_at - now:.1f} s"
            )
        client = self._client_factory()
        try:
            ok = await client.connect()
        except (OSError, ModbusException) as exc:  # serial ports raise on open (busy, missing device)
            ok, reason = False, str(exc)
        else:
            reason = "connection refused or timed out"
        if not ok:
            client.close()
            self.stats.connect_failures += 1
            delay = self._backoff * (1.0 + random.uniform(-self._jitter, self._jitter))
            self._next_connect_at = time.monotonic() + delay
            self._backoff = min(self._backoff * 2, self._backoff_max)
            raise ModbusConnectionError(f"{self.name}: cannot connect ({reason}); retry in {delay:.1f} s")
        self.stats.connects += 1
        self._client = client
        return client

    def _drop_client(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    async def _keep_gap(self) -> None:
        # RTU needs silence between frames; slow devices behind gateways need a pause between requests.
        wait = self._last_io_at + self.gap - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)

    async def _execute(
        self, client: AsyncModbusTcpClient | AsyncModbusSerialClient, request: ReadRequest
    ) -> list[int] | list[bool]:
        kwargs: dict[str, Any] = {"count": request.count, "device_id": request.unit_id}
        try:
            if request.table is Table.HOLDING:
                response = await client.read_holding_registers(request.address, **kwargs)
            elif request.table is Table.INPUT:
                response = await client.read_input_registers(request.address, **kwargs)
            elif request.table is Table.COIL:
                response = await client.read_coils(request.address, **kwargs)
            else:
                response = await client.read_discrete_inputs(request.address, **kwargs)
        except ConnectionException as exc:
            self._drop_client()
            raise ModbusConnectionError(f"{self.name}: connection lost ({exc})") from exc
        except ModbusException as exc:  # no response within the timeout, or a mismatched reply
            if not client.connected:
                self._drop_client()
            raise ModbusTimeoutError(f"{self.name}: unit {request.unit_id} did not answer: {exc}") from exc
        where = f"unit {request.unit_id} {request.table} {request.address}+{request.count}"
        if response.isError():
            code = int(getattr(response, "exception_code", 0))
            raise ModbusDeviceError(f"{self.name}: {where}: exception code {code}", code)
        if request.table.is_bit_table:
            return list(response.bits[: request.count])
        if len(response.registers) < request.count:
            raise ModbusTimeoutError(f"{self.name}: {where}: short reply ({len(response.registers)} registers)")
        return list(response.registers)


@dataclass(slots=True)
class PollerStatus:
    """Counters and state of one device's poller, for `medfix edge status`."""

    available: bool | None = None  # None until the first cycle has run
    cycles: int = 0
    failures: int = 0
    consecutive_failures: int = 0
    last_success_at: datetime | None = None
    last_error: str | None = None
    readings: int = 0
    bad_readings: int = 0
    events: int = 0
    sink_errors: int = 0
    requests_per_cycle: int = 0


@dataclass(frozen=True, slots=True)
class Limits:
    """Plausible range of a metric; outside it the sensor is broken (open circuit, 0x7FFF), not the process."""

    low: float | None = None
    high: float | None = None

    def contains(self, value: float) -> bool:
        """True when value lies inside the range (bounds included)."""
        return (self.low is None or value >= self.low) and (self.high is None or value <= self.high)


@dataclass
class ModbusPoller:
    """Polls one device through a hub every `interval` seconds and hands Readings/Events to a sink."""

    hub: ModbusHub
    device_key: str
    register_map: RegisterMap
    sink: Sink
    interval: float = 1.0
    error_code_points: Collection[str] = ()
    limits: Mapping[str, Limits] = field(default_factory=dict)
    max_gap: int = 0
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    status: PollerStatus = field(default_factory=PollerStatus, init=False)

    def __post_init__(self) -> None:
        if self.interval <= 0:
            raise ValueError("interval must be > 0")
        names = {point.name for point in self.register_map.points}
        unknown = (set(self.error_code_points) | set(self.limits)) - names
        if unknown:
            raise ValueError(f"{self.device_key}: not in the register map: {sorted(unknown)}")
        self._units = {point.name: point.unit for point in self.register_map.points}
        self._error_codes: dict[str, int] = {}  # last value of each error-code point
        self._bad_points: set[str] = set()  # points whose problem has been logged (log once, recover once)
        self._plan: list[ReadRequest] | None = None

    @property
    def plan(self) -> Sequence[ReadRequest]:
        """The reads of one cycle, planned once from the register map and cached."""
        if self._plan is None:
            self._plan = self.register_map.plan(max_gap=self.max_gap)
            self.status.requests_per_cycle = len(self._plan)
        return self._plan

    async def poll_once(self) -> list[Reading | Event]:
        """Run one cycle: read, decode, update availability, deliver to the sink; return what was delivered."""
        self.status.cycles += 1
        decoded: dict[str, DecodedValue] = {}
        try:
            for request in self.plan:
                decoded.update(request.decode(await self.hub.read(request)))
        except (ModbusHubError, ValueError) as exc:
            items = self._failed(exc)
        else:
            items = self._succeeded(decoded)
        if items:
            try:
                await self.sink(items)
            except Exception:  # a broken sink must not kill the poller; the runtime sees the counter
                self.status.sink_errors += 1
                logger.exception("%s: sink refused %d items", self.device_key, len(items))
        return items

    async def run(self) -> None:
        """Poll at a fixed rate until cancelled; a late cycle skips ticks instead of bunching up."""
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while True:
            await self.poll_once()
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                # pymodbus awaits each reply with wait_for, which on Python 3.11 swallows a cancellation that
                # lands with the reply: the request to stop is still pending, so honour it here.
                raise asyncio.CancelledError
            next_at += self.interval
            now = loop.time()
            if next_at < now:
                next_at += math.ceil((now - next_at) / self.interval) * self.interval
            await asyncio.sleep(next_at - now)

    def _failed(self, exc: Exception) -> list[Reading | Event]:
        status = self.status
        status.failures += 1
        status.consecutive_failures += 1
        status.last_error = str(exc)
        if status.available is False:
            logger.debug("%s: still unavailable: %s", self.device_key, exc)
            return []
        status.available = False
        logger.error("%s: unavailable: %s", self.device_key, exc)
        return [self._availability_event(False, str(exc))]

    def _succeeded(self, decoded: Mapping[str, DecodedValue]) -> list[Reading | Event]:
        status = self.status
        now = self.clock()
        items: list[Reading | Event] = []
        if status.available is False:
            logger.info("%s: available again after %d failed cycles", self.device_key, status.consecutive_failures)
            items.append(self._availability_event(True, "recovered"))
        status.available = True
        status.consecutive_failures = 0
        status.last_success_at = now
        for name, value in decoded.items():
            items.append(self._reading(name, value, now))
            if name in self.error_code_points and value.ok and isinstance(value.value, int):
                event = self._error_code_event(name, value.value, now)
                if event is not None:
                    items.append(event)
        status.readings += len(decoded)
        status.events += sum(1 for item in items if isinstance(item, Event))
        return items

    def _reading(self, name: str, value: DecodedValue, now: datetime) -> Reading:
        problem = value.problem
        shown: bool | int | float | str
        if value.value is None:
            # Reading forbids NaN/inf: report the raw text with quality bad (see protocols/telemetry.py).
            shown = repr(value.raw) if value.raw is not None else "invalid"
        else:
            shown = value.value
            if isinstance(shown, int | float) and not isinstance(shown, bool) and name in self.limits:
                if not self.limits[name].contains(shown):
                    problem = f"{shown!r} outside the plausible range {self.limits[name]}"
        if problem is None:
            if name in self._bad_points:
                self._bad_points.discard(name)
                logger.info("%s: %s is good again", self.device_key, name)
            return Reading(
                device_key=self.device_key, metric=name, observed_at=now, value=shown, unit=self._units[name]
            )
        self.status.bad_readings += 1
        if name not in self._bad_points:
            self._bad_points.add(name)
            logger.warning("%s: %s is bad: %s", self.device_key, name, problem)
        return Reading(
            device_key=self.device_key,
            metric=name,
            observed_at=now,
            value=shown,
            unit=self._units[name],
            quality=Quality.BAD,
        )

    def _error_code_event(self, name: str, code: int, now: datetime) -> Event | None:
        previous = self._error_codes.get(name, 0)
        self._error_codes[name] = code
        return error_code_change(self.device_key, name, code, previous, now)

    def _availability_event(self, available: bool, reason: str) -> Event:
        return Event(
            device_key=self.device_key,
            occurred_at=self.clock(),
            kind=EventKind.AVAILABILITY,
            severity=Severity.INFO if available else Severity.WARNING,
            code="available" if available else "unavailable",
            text=reason[:4096],
            payload={"hub": self.hub.name, "consecutive_failures": self.status.consecutive_failures},
        )
