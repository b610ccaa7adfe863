"""The Modbus hub and poller against the pymodbus server simulator on loopback (and RTU over a pty pair)."""

from __future__ import annotations

import asyncio
import logging
import math
import struct
import threading
from collections.abc import AsyncIterator

import pytest

from edge.drivers.modbus import Limits, ModbusHub, ModbusPoller
from edge.simulate.modbus import ERROR_CODE_POINTS, ModbusSimulator, analyzer_register_map, run_modbus_simulator
from protocols.modbus import DataType, RegisterPoint
from protocols.telemetry import Event, EventKind, Quality, Reading, Severity
from tests.edge.modbus_support import assert_no_leaks, null_modem

FROZEN_T = 1_800_000_000.0
DRIVER_LOGGER = "edge.drivers.modbus"


@pytest.fixture(autouse=True)
async def no_leaks() -> AsyncIterator[None]:
    before = set(threading.enumerate())
    yield
    await assert_no_leaks(before)


@pytest.fixture
async def sim() -> AsyncIterator[ModbusSimulator]:
    # A frozen clock keeps the values still, so what the poller read can be compared with what was served.
    simulator = await run_modbus_simulator(port=0, units=(1, 2), clock=lambda: FROZEN_T)
    yield simulator
    await simulator.stop()


@pytest.fixture
async def hub(sim: ModbusSimulator) -> AsyncIterator[ModbusHub]:
    assert sim.port is not None
    the_hub = ModbusHub.tcp("127.0.0.1", sim.port, timeout=0.2, retries=0, backoff_initial=0.05, backoff_max=0.2)
    yield the_hub
    await the_hub.close()


class Collector:
    """A sink that keeps everything it is given."""

    def __init__(self) -> None:
        self.items: list[Reading | Event] = []

    async def __call__(self, items: list[Reading | Event]) -> None:
        self.items.extend(items)

    def readings(self) -> dict[str, Reading]:
        return {item.metric: item for item in self.items if isinstance(item, Reading)}

    def events(self, kind: EventKind) -> list[Event]:
        return [item for item in self.items if isinstance(item, Event) and item.kind is kind]


def make_poller(hub: ModbusHub, unit: int, sink: Collector, **kwargs: object) -> ModbusPoller:
    return ModbusPoller(
        hub, f"analyzer-{unit}", analyzer_register_map(unit), sink, error_code_points=ERROR_CODE_POINTS, **kwargs
    )


def as_float32(value: float) -> float:
    return struct.unpack(">f", struct.pack(">f", value))[0]


def expected_value(point: RegisterPoint, served: float | int | bool | str) -> float | int | bool | str:
    if point.data_type is DataType.FLOAT32:
        return as_float32(float(served))
    if point.scale != 1.0:
        return round((float(served) - point.offset) / point.scale) * point.scale + point.offset
    return served


async def poll_until_available(poller: ModbusPoller, *, seconds: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while asyncio.get_running_loop().time() < deadline:
        await poller.poll_once()
        if poller.status.available:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never became available: {poller.status.last_error}")


async def test_poll_decodes_every_type_word_order_and_scale_in_the_map(sim: ModbusSimulator, hub: ModbusHub) -> None:
    sink = Collector()
    sim.analyzer(1).faults.overrides["incubator_temp"] = 36.75  # word-swapped float32, exact in binary
    poller = make_poller(hub, 1, sink)
    await poller.poll_once()

    register_map = analyzer_register_map(1)
    assert {p.data_type for p in register_map.points} == set(DataType)  # the map exercises every type
    served = sim.analyzer(1).last_values
    readings = sink.readings()
    assert set(readings) == {p.name for p in register_map.points}
    for point in register_map.points:
        reading = readings[point.name]
        assert reading.quality is Quality.GOOD, point.name
        assert reading.unit == point.unit
        want = expected_value(point, served[point.name])
        if isinstance(want, float):
            assert reading.value == pytest.approx(want, rel=1e-6, abs=1e-9), point.name
        else:
            assert reading.value == want, point.name
    assert readings["incubator_temp"].value == 36.75
    assert readings["serial_number"].value == "MFX-A001-0001"
    assert readings["firmware"].value == "4.2a"  # byte-swapped string
    assert readings["reaction_disk_setpoint"].value == pytest.approx(37.0)  # int16 x 0.1
    assert readings["running"].value is True and readings["alarm"].value is False
    assert poller.status.available is True and poller.status.readings == len(register_map.points)


async def test_merged_reads_are_the_requests_the_server_sees(sim: ModbusSimulator, hub: ModbusHub) -> None:
    poller = make_poller(hub, 1, Collector())
    assert [(r.function_code, r.address, r.count) for r in poller.plan] == [
        (1, 0, 1),
        (2, 0, 1),
        (3, 100, 35),
        (4, 0, 13),
    ]
    for _ in range(3):
        await poller.poll_once()
    assert sim.requests(1) == 3 * len(poller.plan)
    assert dict(sim.analyzer(1).requests) == {1: 3, 2: 3, 3: 3, 4: 3}
    assert sim.requests(2) == 0
    assert poller.plan is poller.plan  # planned once, cached


async def test_error_code_point_emits_an_event_when_it_changes(sim: ModbusSimulator, hub: ModbusHub) -> None:
    sink = Collector()
    poller = make_poller(hub, 1, sink)
    faults = sim.analyzer(1).faults
    await poller.poll_once()
    assert sink.events(EventKind.ERROR_CODE) == []

    faults.error_code = 3407
    sim.analyzer(1).refresh()  # the frozen clock would keep the old values
    await poller.poll_once()
    await poller.poll_once()  # unchanged: no second event
    events = sink.events(EventKind.ERROR_CODE)
    assert len(events) == 1
    assert (events[0].code, events[0].severity, events[0].device_key) == ("3407", Severity.ERROR, "analyzer-1")
    assert events[0].payload == {"metric": "error_code", "previous": 0}

    faults.error_code = 0
    sim.analyzer(1).refresh()
    await poller.poll_once()
    cleared = sink.events(EventKind.ERROR_CODE)[-1]
    assert (cleared.code, cleared.severity) == ("0", Severity.INFO)
    assert len(sink.events(EventKind.ERROR_CODE)) == 2


async def test_nan_and_out_of_range_values_are_bad_quality_and_logged_once(
    sim: ModbusSimulator, hub: ModbusHub, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=DRIVER_LOGGER)
    sink = Collector()
    sim.analyzer(1).faults.overrides.update({"reaction_disk_temp": math.nan, "wash_pressure": 999.0})
    poller = make_poller(hub, 1, sink, limits={"wash_pressure": Limits(0.0, 500.0)})
    for _ in range(3):
        await poller.poll_once()
    readings = sink.readings()
    assert (readings["reaction_disk_temp"].quality, readings["reaction_disk_temp"].value) == (Quality.BAD, "nan")
    assert (readings["wash_pressure"].quality, readings["wash_pressure"].value) == (Quality.BAD, 999.0)
    assert readings["incubator_temp"].quality is Quality.GOOD
    warnings = [r for r in caplog.records if r.name == DRIVER_LOGGER and r.levelno == logging.WARNING]
    assert len(warnings) == 2  # one per bad point, not one per cycle
    assert poller.status.bad_readings == 6 and poller.status.available is True


async def test_failure_is_logged_once_over_five_cycles_and_recovery_once(
    sim: ModbusSimulator, hub: ModbusHub, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger=DRIVER_LOGGER)
    sink = Collector()
    poller = make_poller(hub, 1, sink)
    await poller.poll_once()
    sim.analyzer(1).faults.silent = True
    for _ in range(5):
        await poller.poll_once()
    assert poller.status.available is False
    assert (poller.status.failures, poller.status.consecutive_failures) == (5, 5)
    assert poller.status.last_error is not None
    errors = [r for r in caplog.records if r.name == DRIVER_LOGGER and r.levelno >= logging.WARNING]
    assert len(errors) == 1 and errors[0].levelno == logging.ERROR

    sim.analyzer(1).faults.silent = False
    await poll_until_available(poller)
    await poller.poll_once()
    infos = [r for r in caplog.records if r.name == DRIVER_LOGGER and r.levelno == logging.INFO]
    assert len(infos) == 1 and "available again" in infos[0].getMessage()
    availability = [(e.code, e.severity) for e in sink.events(EventKind.AVAILABILITY)]
    assert availability == [("unavailable", Severity.WARNING), ("available", Severity.INFO)]
    assert poller.status.consecutive_failures == 0 and poller.status.last_success_at is not None


async def test_hub_reconnects_after_the_server_restarts(sim: ModbusSimulator, hub: ModbusHub) -> None:
    poller = make_poller(hub, 1, Collector())
    await poller.poll_once()
    assert poller.status.available and hub.connected
    port = sim.port
    await sim.stop()
    await poller.poll_once()
    assert poller.status.available is False
    await poller.poll_once()  # refused or backing off: still one failure streak
    restarted = await run_modbus_simulator(port=port or 0, units=(1,), clock=lambda: FROZEN_T)
    try:
        await poll_until_available(poller)
        assert hub.stats.connects >= 2
        assert hub.stats.connect_failures >= 1
    finally:
        await restarted.stop()


async def test_two_units_share_one_hub_and_never_overlap_on_the_wire(sim: ModbusSimulator) -> None:
    assert sim.port is not None
    gap = 0.02
    hub = ModbusHub.tcp("127.0.0.1", sim.port, timeout=0.5, gap=gap)
    in_flight = 0
    overlaps = 0
    real_execute = hub._execute

    async def watched_execute(*args: object, **kwargs: object) -> list[int] | list[bool]:
        nonlocal in_flight, overlaps
        in_flight += 1
        overlaps += in_flight > 1
        try:
            return await real_execute(*args, **kwargs)  # type: ignore[arg-type]
        finally:
            in_flight -= 1

    hub._execute = watched_execute  # type: ignore[method-assign]
    sinks = {unit: Collector() for unit in (1, 2)}
    pollers = [make_poller(hub, unit, sinks[unit]) for unit in (1, 2)]
    started = asyncio.get_running_loop().time()
    try:
        for _ in range(3):
            await asyncio.gather(*(p.poll_once() for p in pollers))
    finally:
        await hub.close()
    elapsed = asyncio.get_running_loop().time() - started
    assert overlaps == 0
    assert sim.requests(1) == sim.requests(2) == 12
    assert hub.stats.requests == 24
    assert elapsed >= 23 * gap  # the gap separates every request on the shared endpoint
    assert sinks[1].readings()["serial_number"].value == "MFX-A001-0001"
    assert sinks[2].readings()["serial_number"].value == "MFX-A002-0001"


async def test_run_polls_at_the_interval_and_stops_on_cancel(sim: ModbusSimulator, hub: ModbusHub) -> None:
    poller = make_poller(hub, 2, Collector(), interval=0.05)
    task = asyncio.create_task(poller.run())
    await asyncio.sleep(0.32)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert 3 <= poller.status.cycles <= 8  # 7 on an idle box; a loaded CI box may skip ticks
    assert poller.status.failures == 0


class DeliveryThatOutlivesACancel:
    """A sink whose first delivery returns normally even when cancelled mid-way.

    That is what Python 3.11's asyncio.wait_for does when the awaited reply lands in the same loop step as the
    cancellation: pymodbus awaits every reply that way, so a poller told to stop may never see the
    CancelledError.
    """

    def __init__(self) -> None:
        self.waiting = asyncio.Event()
        self.swallowed = 0

    async def __call__(self, items: list[Reading | Event]) -> None:
        if self.swallowed:
            return
        self.waiting.set()
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            self.swallowed += 1


async def test_a_stop_request_swallowed_by_a_library_await_still_stops_the_poller(
        sim: ModbusSimulator, hub: ModbusHub) -> None:
    sink = DeliveryThatOutlivesACancel()
    poller = make_poller(hub, 1, sink, interval=0.05)  # type: ignore[arg-type]
    task = asyncio.create_task(poller.run())
    await asyncio.wait_for(sink.waiting.wait(), 5)
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=2)
    if not done:  # without the fix it polls on: end it so the suite goes on, then fail
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert sink.swallowed == 1
    assert done and task.cancelled(), "the poller kept polling after it was told to stop"
    assert poller.status.cycles == 1


async def test_rtu_over_a_pseudo_terminal_pair() -> None:
    async with null_modem() as (server_port, client_port):
        rtu_sim = await run_modbus_simulator(units=(7,), serial_port=server_port, baudrate=115200)
        hub = ModbusHub.serial(client_port, baudrate=115200, timeout=0.5)
        try:
            sink = Collector()
            poller = make_poller(hub, 7, sink)
            await poll_until_available(poller)
            readings = sink.readings()
            assert readings["serial_number"].value == "MFX-A007-0001"
            assert readings["reaction_disk_temp"].value == pytest.approx(37.0, abs=0.2)
            assert rtu_sim.requests(7) >= len(poller.plan)
            assert hub.gap == pytest.approx(0.00175)
        finally:
            await hub.close()
            await rtu_sim.stop()
