"""From a device's config to a running driver: one small adapter per kind, all with run() and status().

The runtime supervises what :func:`build_driver` returns and builds it again after a crash (a crashed
driver object may be in any state). Modbus hubs are the exception: they own a TCP connection or a serial
port shared by every unit id behind it, so they outlive the pollers and are built once per endpoint.

OPC UA: the driver lives in edge/drivers/opcua.py (OpcUaDriver with protocols/opcua's OpcUaConfig); the
device config's shape is mapped onto that here.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import threading
import time
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from edge.config import (
    AstmSerialDevice,
    DeviceSettings,
    LineSerialDevice,
    ModbusRtuDevice,
    ModbusTcpDevice,
    OpcUaDevice,
)
from protocols.telemetry import Event, Reading

if TYPE_CHECKING:
    from edge.drivers.modbus import ModbusHub, ModbusPoller
    from edge.outbox import AppendResult

Item = Reading | Event
Sink = Callable[[list[Item]], Awaitable[None]]


class DeviceDriver(Protocol):
    """What the supervisor needs from a driver."""

    async def run(self) -> None:
        """Serve the device until cancelled; raise to be restarted."""
        ...

    def status(self) -> Any:
        """A dataclass or dict describing the device's state and counters."""
        ...


class AppendTarget(Protocol):
    """The outbox as the serial drivers see it (synchronous append, called from a thread)."""

    def append(self, items: Iterable[Item]) -> AppendResult:
        """Store items durably or raise BufferFull."""
        ...


class OutboxGate:
    """Wraps the outbox for every driver: notes each device's last data, wakes the uplink, counts writers.

    The async sink (Modbus pollers, OPC UA) is a group commit: what the devices deliver while a commit is
    running, or within ``linger`` seconds of the first waiting delivery, goes into the outbox in one
    transaction (Outbox.append_many) instead of one per device, and each caller returns only after the
    commit that holds its items, so durability is as with one append per caller.
    """

    def __init__(
        self, outbox: AppendTarget, on_append: Callable[[], object] = lambda: None, *, linger: float = 0.05,
    ) -> None:
        self.outbox = outbox
        self.last_item_at: dict[str, float] = {}
        self.appended = 0  # items stored through this gate (what the tests reconcile against the cloud)
        self.commits = 0  # outbox transactions made for the async sink (group commits)
        self.linger = linger
        self._on_append = on_append
        self._active = 0  # appends running plus sink deliveries waiting for their commit
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._waiting: list[tuple[list[Item], asyncio.Future[AppendResult]]] = []
        self._flusher: asyncio.Task[None] | None = None

    def append(self, items: Iterable[Item]) -> AppendResult:
        """Append synchronously (drivers call this from a worker thread)."""
        batch = list(items)
        self._begin(1)
        stored = 0
        try:
            result = self.outbox.append(batch)
            stored = len(batch)
        finally:
            self._end(1, stored)
        self._stored([batch])
        return result

    async def sink(self, items: list[Item]) -> None:
        """The async sink the Modbus pollers (and OPC UA) deliver to: returns once the items are committed."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[AppendResult] = loop.create_future()
        self._begin(1)
        self._waiting.append((list(items), future))
        if self._flusher is None or self._flusher.done():
            self._flusher = loop.create_task(self._flush(), name="outbox group commit")
        await future

    def wait_idle(self, timeout: float) -> bool:
        """Block until no append is running or waiting (so the outbox can close after a stop); False on timeout."""
        with self._lock:
            return self._idle.wait_for(lambda: self._active == 0, timeout=timeout)

    async def _flush(self) -> None:
        """Commit what is waiting, in rounds, until nothing is."""
        while self._waiting:
            try:
                if self.linger > 0:
                    await asyncio.sleep(self.linger)  # let the other devices of this poll tick join the commit
            except BaseException:
                self._abandon(self._waiting)
                raise
            waiting, self._waiting = self._waiting, []
            groups = [items for items, _ in waiting]
            try:
                outcomes = await asyncio.to_thread(self._append_groups, groups)
            except Exception as exc:  # the outbox failed as a whole (closed, disk error): every caller hears it
                outcomes = [exc] * len(groups)
            except BaseException:  # cancelled (the loop is shutting down); the thread may still finish the commit
                self._abandon(waiting + self._waiting)
                raise
            stored = [items for items, outcome in zip(groups, outcomes, strict=True)
                      if not isinstance(outcome, Exception)]
            self._end(len(waiting), sum(len(items) for items in stored))
            self._stored(stored)
            for (_, future), outcome in zip(waiting, outcomes, strict=True):
                if future.done():  # the caller was cancelled meanwhile; its items are stored all the same
                    continue
                if isinstance(outcome, Exception):
                    future.set_exception(outcome)
                else:
                    future.set_result(outcome)

    def _abandon(self, waiting: list[tuple[list[Item], asyncio.Future[AppendResult]]]) -> None:
        for _, future in waiting:
            future.cancel()
        self._end(len(waiting), 0)
        self._waiting = []

    def _append_groups(self, groups: list[list[Item]]) -> list[AppendResult | Exception]:
        self.commits += 1
        append_many = getattr(self.outbox, "append_many", None)
        if append_many is not None:
            return list(append_many(groups))
        outcomes: list[AppendResult | Exception] = []
        for items in groups:  # a plain append target (`device test`'s collector): one by one
            try:
                outcomes.append(self.outbox.append(items))
            except Exception as exc:  # handed to that caller, as its own append would have raised it
                outcomes.append(exc)
        return outcomes

    def _begin(self, count: int) -> None:
        with self._lock:
            self._active += count

    def _end(self, count: int, stored: int) -> None:
        with self._lock:
            self._active -= count
            self.appended += stored
            self._idle.notify_all()

    def _stored(self, groups: list[list[Item]]) -> None:
        if not any(groups):
            return
        now = time.time()
        last = self.last_item_at
        for items in groups:
            for item in items:
                last[item.device_key] = now
        self._on_append()


class HubPool:
    """One Modbus hub per endpoint, shared by the devices behind it, closed at the end."""

    def __init__(self) -> None:
        self.hubs: dict[str, ModbusHub] = {}

    def get(self, device: ModbusTcpDevice | ModbusRtuDevice) -> ModbusHub:
        """The hub for the device's endpoint, created on first use."""
        from edge.drivers.modbus import ModbusHub

        hub = self.hubs.get(device.endpoint())
        if hub is None:
            if isinstance(device, ModbusTcpDevice):
                hub = ModbusHub.tcp(device.host, device.port, timeout=device.timeout, retries=device.retries,
                                    gap=device.gap or 0.0)
            else:
                hub = ModbusHub.serial(device.url, baudrate=device.baudrate, parity=device.parity,
                                       stopbits=int(device.stopbits), bytesize=device.bytesize,
                                       timeout=device.timeout, retries=device.retries, gap=device.gap)
            self.hubs[device.endpoint()] = hub
        return hub

    async def close(self) -> None:
        """Close every hub."""
        for hub in self.hubs.values():
            await hub.close()
        self.hubs.clear()


class PollerDriver:
    """A ModbusPoller seen as a driver (its status is an attribute, not a method)."""

    def __init__(self, poller: ModbusPoller) -> None:
        self.poller = poller

    async def run(self) -> None:
        """Poll until cancelled."""
        await self.poller.run()

    def status(self) -> dict[str, Any]:
        """The poller's counters plus its hub's."""
        data = plain(self.poller.status)
        available = data.get("available")
        data["state"] = "starting" if available is None else "online" if available else "unavailable"
        data["hub"] = {"name": self.poller.hub.name, "connected": self.poller.hub.connected,
                       **plain(self.poller.hub.stats)}
        return data


def build_driver(device: DeviceSettings, gate: OutboxGate, hubs: HubPool) -> DeviceDriver:
    """A fresh driver for one configured device."""
    if isinstance(device, ModbusTcpDevice | ModbusRtuDevice):
        from edge.drivers.modbus import Limits, ModbusPoller

        poller = ModbusPoller(
            hub=hubs.get(device), device_key=device.key, register_map=device.register_map(), sink=gate.sink,
            interval=device.interval, error_code_points=device.error_codes(),
            limits={name: Limits(low.low, low.high) for name, low in device.limits.items()}, max_gap=device.max_gap,
        )
        return PollerDriver(poller)
    if isinstance(device, AstmSerialDevice):
        from zoneinfo import ZoneInfo

        from edge.drivers.astm_serial import AstmSerialDriver

        return AstmSerialDriver(device_key=device.key, port=serial_settings(device), outbox=gate,
                                max_text=device.max_text, tz=ZoneInfo(device.timezone) if device.timezone else None)
    if isinstance(device, LineSerialDevice):
        from edge.drivers.line_serial import LineRule, LineSerialDriver

        rules = [LineRule(**rule.model_dump()) for rule in device.rules]
        return LineSerialDriver(device_key=device.key, port=serial_settings(device), outbox=gate, rules=rules,
                                encoding=device.encoding, max_pending=device.max_pending)
    if isinstance(device, OpcUaDevice):
        return _opcua(device, gate.sink)
    raise TypeError(f"no driver for {type(device).__name__}")


def serial_settings(device: AstmSerialDevice | LineSerialDevice) -> Any:
    """The drivers' SerialSettings from a serial device's config."""
    from edge.drivers.serial_io import SerialSettings

    return SerialSettings(url=device.url, baudrate=device.baudrate, bytesize=device.bytesize, parity=device.parity,
                          stopbits=device.stopbits, xonxoff=device.xonxoff, rtscts=device.rtscts)


class _Unavailable:
    """Stands in for a driver this build does not have; the supervisor reports its error and retries."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    async def run(self) -> None:
        """Fail at once."""
        raise RuntimeError(self.reason)

    def status(self) -> dict[str, Any]:
        """Only the reason."""
        return {"state": "unavailable", "last_error": self.reason}


def _opcua(device: OpcUaDevice, sink: Sink) -> DeviceDriver:
    try:
        from edge.drivers import opcua
        from protocols.opcua.nodes import NodeSpec, OpcUaConfig, SecurityMode
    except ImportError as exc:
        return _Unavailable(f"OPC UA driver not available: {exc}")
    security = device.security

    def text(path: Any) -> str | None:
        return None if path is None else str(path)

    config = OpcUaConfig(
        endpoint=device.endpoint,
        security=SecurityMode.NONE if security.mode == "none" else SecurityMode.BASIC256SHA256,
        certificate=text(security.cert_file), private_key=text(security.key_file),
        server_certificate=text(security.server_cert_file), username=security.username, password=security.password,
        sampling_interval_ms=device.sampling_interval_ms, poll_interval_s=device.poll_fallback_s,
        nodes=[NodeSpec(node_id=node.node_id, metric=node.metric, unit=node.unit,
                        deadband=device.deadband or None) for node in device.nodes],
    )
    return AttributeStatusDriver(opcua.OpcUaDriver(config, device.key, sink))


class AttributeStatusDriver:
    """A driver whose status is an attribute (the OPC UA driver) seen through run()/status()."""

    def __init__(self, driver: Any) -> None:
        self.driver = driver

    async def run(self) -> None:
        """Run until cancelled."""
        await self.driver.run()

    def status(self) -> dict[str, Any]:
        """The driver's status dataclass as plain values."""
        data = plain(self.driver.status)
        if data.get("available") is False and data.get("state") not in ("disconnected", "connecting"):
            data["state"] = "unavailable"
        return data


def plain(value: Any) -> Any:
    """Dataclasses, enums and datetimes as JSON-friendly values."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    return value


class _Collector:
    """An outbox stand-in for `device test`: keeps what the driver would have stored."""

    def __init__(self) -> None:
        self.items: list[Item] = []
        self.arrived = asyncio.Event()
        self._loop = asyncio.get_running_loop()

    def append(self, items: Iterable[Item]) -> Any:
        from edge.outbox import AppendResult

        batch = list(items)
        self.items.extend(batch)
        self._loop.call_soon_threadsafe(self.arrived.set)
        return AppendResult(appended=len(batch), telemetry_dropped=0, clinical_free=1_000_000, backpressure=False)


async def probe_device(device: DeviceSettings, *, timeout: float = 10.0) -> tuple[list[Item], dict[str, Any]]:
    """Run a device's driver once, without the outbox, until its first data or the timeout; (items, status)."""
    collector = _Collector()
    gate = OutboxGate(collector)
    hubs = HubPool()
    driver = build_driver(device, gate, hubs)
    task = asyncio.create_task(driver.run(), name=f"probe {device.key}")
    arrived = asyncio.create_task(collector.arrived.wait())
    try:
        await asyncio.wait({task, arrived}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        if task.done() and not task.cancelled() and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]
        await asyncio.sleep(0.05)  # a message often arrives as several appends in one go
        return list(collector.items), plain(driver.status())
    finally:
        for pending in (task, arrived):
            pending.cancel()
        await asyncio.gather(task, arrived, return_exceptions=True)
        await hubs.close()
