"""The OPC UA driver against the asyncua analyzer simulator on loopback, including a server restart."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import typer
from asyncua import ua
from typer.testing import CliRunner

from edge.drivers.opcua import DriverState, OpcUaDriver, write_self_signed_certificate
from edge.simulate.opcua import (
    ERROR_CODE_METRIC,
    OpcUaSimulator,
    analyzer_nodes,
    run_opcua_simulator,
    simulate_opcua,
)
from protocols.opcua import AcquisitionMode, OpcUaConfig
from protocols.telemetry import Event, EventKind, Quality, Reading, Severity
from tests.edge.modbus_support import assert_no_leaks

DRIVER_LOGGER = "edge.drivers.opcua"
pytestmark = pytest.mark.timeout(60)
FAST = {"publishing_interval_ms": 50, "sampling_interval_ms": 20, "poll_interval_s": 0.1, "keepalive_s": 0.3}


@pytest.fixture(autouse=True)
async def no_leaks() -> AsyncIterator[None]:
    before = set(threading.enumerate())
    yield
    await assert_no_leaks(before)


class Collector:
    """A sink that keeps everything it is given."""

    def __init__(self) -> None:
        self.items: list[Reading | Event] = []

    async def __call__(self, items: list[Reading | Event]) -> None:
        self.items.extend(items)

    def readings(self, metric: str | None = None) -> list[Reading]:
        return [i for i in self.items if isinstance(i, Reading) and metric in (None, i.metric)]

    def events(self, kind: EventKind) -> list[Event]:
        return [i for i in self.items if isinstance(i, Event) and i.kind is kind]


async def eventually(condition: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def make_config(sim: OpcUaSimulator, **overrides: object) -> OpcUaConfig:
    fields: dict[str, object] = {"endpoint": sim.endpoint, "nodes": analyzer_nodes(1), **FAST}
    return OpcUaConfig.model_validate({**fields, **overrides})


def make_driver(config: OpcUaConfig, sink: Collector) -> OpcUaDriver:
    return OpcUaDriver(config, "analyzer-1", sink, backoff_initial=0.05, backoff_max=0.3)


@pytest.fixture
async def sim() -> AsyncIterator[OpcUaSimulator]:
    simulator = await run_opcua_simulator(port=0, analyzers=2, update_interval=0.05)
    yield simulator
    await simulator.stop()


async def test_subscription_delivers_every_node_with_its_metric_and_unit(sim: OpcUaSimulator) -> None:
    sink = Collector()
    sim.analyzer(1).faults.bad["VacuumPressure"] = ua.StatusCodes.BadSensorFailure
    async with make_driver(make_config(sim, error_code_metrics=[ERROR_CODE_METRIC]), sink) as driver:
        expected = {spec.metric: spec.unit for spec in analyzer_nodes(1)}
        await eventually(lambda: {r.metric for r in sink.readings()} >= set(expected), what="every metric")
        assert driver.status.state is DriverState.SUBSCRIBED
        assert driver.status.mode is AcquisitionMode.SUBSCRIBE
        assert driver.status.available is True
        for reading in sink.readings():
            assert reading.unit == expected[reading.metric]
            assert reading.device_key == "analyzer-1"
        assert 36.5 < float(sink.readings("reaction_temp")[0].value) < 37.5
        assert sink.readings("status")[0].value == "Running"
        assert isinstance(sink.readings("test_count")[0].value, int)
        # A bad status code from the server (a broken sensor) arrives as a bad-quality reading.
        await eventually(lambda: sink.readings("vacuum")[-1].quality is Quality.BAD, what="bad vacuum")
        assert driver.status.bad_readings >= 1
        assert all(r.quality is Quality.GOOD for r in sink.readings() if r.metric != "vacuum")
        # Values keep changing (drift + noise) and the server pushes each change.
        count = len(sink.readings("reaction_temp"))
        await eventually(lambda: len(sink.readings("reaction_temp")) > count + 2, what="more notifications")
        # An error code raised on the analyzer becomes an error-code event, its clearing another one.
        sim.analyzer(1).faults.error_code = 3407
        await eventually(lambda: len(sink.events(EventKind.ERROR_CODE)) == 1, what="error code event")
        sim.analyzer(1).faults.error_code = 0
        await eventually(lambda: len(sink.events(EventKind.ERROR_CODE)) == 2, what="error cleared event")
        raised, cleared = sink.events(EventKind.ERROR_CODE)
        assert (raised.code, raised.severity, cleared.code, cleared.severity) == (
            "3407",
            Severity.ERROR,
            "0",
            Severity.INFO,
        )
        assert driver.status.last_value_at is not None
        assert driver.status.failures == 0
    assert driver.status.state is DriverState.STOPPED


async def test_deadband_suppresses_small_changes() -> None:
    # The values stay where the test puts them: no update loop, no noise.
    async with await run_opcua_simulator(port=0, update_interval=3600.0) as sim:
        faults = sim.analyzer(1).faults
        faults.overrides.update(
            ReactionTemperature=37.0, ReagentFridgeTemp=6.0, LampIntensity=90.0, VacuumPressure=-65.0
        )
        await sim.update()
        sink = Collector()
        async with make_driver(make_config(sim, nodes=analyzer_nodes(1, deadband=0.5)), sink):
            await eventually(lambda: len(sink.readings("reaction_temp")) == 1, what="initial value")
            for small in (37.2, 36.7, 37.4):  # each within 0.5 of the last reported 37.0
                faults.overrides["ReactionTemperature"] = small
                await sim.update()
                await asyncio.sleep(0.15)
            assert [r.value for r in sink.readings("reaction_temp")] == [37.0]
            # asyncua's server measures the deadband from the previous sample (37.4), not the last report.
            faults.overrides["ReactionTemperature"] = 38.0
            await sim.update()
            await eventually(lambda: len(sink.readings("reaction_temp")) == 2, what="change beyond the deadband")
            assert [r.value for r in sink.readings("reaction_temp")] == [37.0, 38.0]
            # Nodes without a deadband report every change.
            count = len(sink.readings("test_count"))
            faults.overrides["TestCounter"] = 1
            await sim.update()
            await eventually(lambda: len(sink.readings("test_count")) == count + 1, what="counter change")


async def test_refused_subscriptions_fall_back_to_polling(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, DRIVER_LOGGER)
    async with await run_opcua_simulator(port=0, analyzers=2, refuse_subscriptions=True, update_interval=0.05) as sim:
        sink = Collector()
        async with make_driver(make_config(sim, nodes=analyzer_nodes(1)), sink) as driver:
            await eventually(lambda: len(sink.readings("reaction_temp")) >= 3, what="polled values")
            assert driver.status.state is DriverState.POLLING
            assert driver.status.mode is AcquisitionMode.POLL
            assert driver.status.fallbacks == 1
            assert driver.status.available is True
            assert {r.metric for r in sink.readings()} == {spec.metric for spec in analyzer_nodes(1)}
        refusals = [r for r in caplog.records if "refused subscriptions" in r.getMessage()]
        assert len(refusals) == 1 and "BadTooManySubscriptions" in refusals[0].getMessage()
        # Polling can also be chosen outright; the deadband then applies on the driver's side.
        polled = Collector()
        config = make_config(sim, nodes=analyzer_nodes(2, deadband=0.5), mode="poll")
        async with make_driver(config, polled) as driver:
            await eventually(lambda: len(polled.readings("test_count")) >= 2, what="forced polling")
            assert driver.status.fallbacks == 0 and driver.status.mode is AcquisitionMode.POLL
            # The served value wobbles with noise far below 0.5 °C: one reading, the first.
            assert len(polled.readings("reaction_temp")) == 1


async def test_basic256sha256_sign_and_encrypt_with_certificates(tmp_path: Path) -> None:
    # PEM under .crt/.key names, as certificates usually arrive: the driver reads the content, not the suffix.
    client_cert, client_key = tmp_path / "client.crt", tmp_path / "client.key"
    write_self_signed_certificate(client_cert, client_key, application_uri="urn:medfix:test:edge")
    server_cert, server_key = tmp_path / "server.pem", tmp_path / "server-key.pem"
    write_self_signed_certificate(
        server_cert, server_key, application_uri="urn:medfix:simulator:opcua:server", server=True
    )
    async with await run_opcua_simulator(
        port=0, security="Basic256Sha256", certificate=server_cert, private_key=server_key, update_interval=0.05
    ) as sim:
        sink = Collector()
        secure = make_config(
            sim,
            security="Basic256Sha256",
            certificate=str(client_cert),
            private_key=str(client_key),
            server_certificate=str(server_cert),
            application_uri="urn:medfix:test:edge",
        )
        async with make_driver(secure, sink) as driver:
            await eventually(lambda: len(sink.readings("reaction_temp")) >= 2, what="values over a secure channel")
            assert driver.status.mode is AcquisitionMode.SUBSCRIBE
        # Without a pinned server certificate the driver takes the one the endpoint list offers.
        trusting = Collector()
        async with make_driver(secure.model_copy(update={"server_certificate": None}), trusting) as driver:
            await eventually(lambda: len(trusting.readings("reaction_temp")) >= 1, what="values, certificate unpinned")
        # The server offers no unsecured endpoint: a driver without security is refused.
        plain = Collector()
        async with make_driver(make_config(sim), plain) as driver:
            await eventually(lambda: driver.status.available is False, what="refusal")
            assert not plain.readings()
            assert [e.code for e in plain.events(EventKind.AVAILABILITY)] == ["unavailable"]


async def test_driver_recovers_by_itself_after_the_server_restarts(
    sim: OpcUaSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, DRIVER_LOGGER)
    sink = Collector()
    async with make_driver(make_config(sim), sink) as driver:
        await eventually(lambda: len(sink.readings("reaction_temp")) >= 2, what="values before the restart")
        await sim.stop()
        await eventually(lambda: driver.status.available is False, what="loss detected")
        await asyncio.sleep(0.8)  # several reconnect attempts fail while the server is down
        assert driver.status.state in (DriverState.DISCONNECTED, DriverState.CONNECTING)
        before = len(sink.readings())
        await sim.start()
        assert sim.starts == 2
        await eventually(lambda: driver.status.available is True, timeout=10, what="recovery")
        await eventually(lambda: len(sink.readings("reaction_temp")) > 2 + before // 7, what="values after")
        await eventually(lambda: len(sink.readings()) > before + 10, what="values keep coming")
        status = driver.status
        assert status.state is DriverState.SUBSCRIBED
        assert status.reconnects == 1 and status.connects == 2
        assert status.failures >= 2  # the loss plus refused attempts while down
        assert status.consecutive_failures == 0
    availability = [e.code for e in sink.events(EventKind.AVAILABILITY)]
    assert availability == ["unavailable", "available"]
    records = [r for r in caplog.records if r.name == DRIVER_LOGGER and r.levelno >= logging.INFO]
    failures = [r for r in records if r.levelno >= logging.WARNING]
    recoveries = [r for r in records if r.levelno == logging.INFO]
    assert len(failures) == 1 and "unavailable" in failures[0].getMessage(), failures
    assert len(recoveries) == 1 and "available again" in recoveries[0].getMessage(), recoveries


def test_simulate_command_offers_its_options() -> None:
    app = typer.Typer()
    app.command()(simulate_opcua)
    result = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for option in ("--port", "--analyzers", "--security", "--cert-dir", "--refuse-subscriptions", "--drift"):
        assert option in result.output
    bad = CliRunner().invoke(app, ["--drift", "Nope=1"])
    assert bad.exit_code != 0
    assert "NAME=UNITS_PER_MINUTE" in bad.output
