"""The supervisor: crashing drivers restart with backoff while the others go on; status snapshot; sd_notify."""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from edge.cli import app
from edge.config import DeviceSettings, EdgeConfig, load_config
from edge.devices import HubPool, OutboxGate
from edge.outbox import FrozenBatch, Outbox
from edge.runtime import Agent, SdNotify, read_status
from edge.uplink import Acked, Outcome, Uplink
from protocols.telemetry import BatchAck, Reading
from tests.edge.modbus_support import assert_no_leaks
from tests.edge.test_uplink_http import eventually

CONFIG = """gateway_id: gw-rt
cloud: {url: 'http://cloud.invalid', token: mfgw_x}
outbox: {path: outbox.db}
agent: {restart_initial_s: 0.05, restart_max_s: 0.4, stable_after_s: 0.5, status_interval_s: 0.1}
devices:
  - {key: steady, kind: modbus_tcp, host: 127.0.0.1, port: 1, profile: simulated-analyzer}
  - {key: crashy, kind: modbus_tcp, host: 127.0.0.1, port: 1, profile: simulated-analyzer}
  - {key: spare, kind: modbus_tcp, host: 127.0.0.1, port: 1, profile: simulated-analyzer, enabled: false}
"""


class AckingUplink(Uplink):
    """An uplink whose cloud acks everything at once."""

    transport = "fake"

    @asynccontextmanager
    async def session(self) -> AsyncIterator[None]:
        """Nothing to open."""
        yield

    async def send(self, batch: FrozenBatch) -> Outcome:
        """Ack at once."""
        return Acked(BatchAck(idempotency_key=batch.idempotency_key, accepted_readings=batch.readings,
                              accepted_events=batch.events))


class FakeDriver:
    """Emits a reading every 20 ms, or crashes after a moment while `crash` says so."""

    def __init__(self, key: str, gate: OutboxGate, behaviour: dict[str, Any]) -> None:
        self.key, self.gate, self.behaviour = key, gate, behaviour
        behaviour.setdefault("starts", []).append(asyncio.get_running_loop().time())

    async def run(self) -> None:
        """Produce, or crash."""
        while True:
            if self.behaviour.get("crash"):
                await asyncio.sleep(0.01)
                raise RuntimeError(f"{self.key} fell over")
            try:
                await self.gate.sink([Reading(device_key=self.key, metric="x", value=1,
                                              observed_at=datetime.now(UTC))])
                await asyncio.sleep(0.02)
            except asyncio.CancelledError:
                # Like Python 3.11's wait_for when a library's reply lands with the cancel: the driver goes on.
                if self.behaviour.get("swallow_cancels", 0) <= 0:
                    raise
                self.behaviour["swallow_cancels"] -= 1

    def status(self) -> dict[str, Any]:
        """Minimal status."""
        return {"state": "online"}


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    """The config file on disk (the CLI reads it too)."""
    path = tmp_path / "edge.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


def make_agent(config: EdgeConfig, behaviours: dict[str, dict[str, Any]], **kwargs: Any) -> Agent:
    """An agent whose devices are FakeDrivers and whose uplink acks everything."""

    def factory(device: DeviceSettings, gate: OutboxGate, _hubs: HubPool) -> FakeDriver:
        return FakeDriver(device.key, gate, behaviours.setdefault(device.key, {}))

    def uplink(cfg: EdgeConfig, outbox: Outbox) -> Uplink:
        return AckingUplink(cfg.cloud, outbox, gateway_id=cfg.gateway_id)

    return Agent(config, driver_factory=factory, uplink_factory=uplink, install_signal_handlers=False, **kwargs)


async def test_a_crashing_driver_is_restarted_with_backoff_while_the_others_keep_going(
        config_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    threads = set(threading.enumerate())
    caplog.set_level(logging.DEBUG, logger="edge.runtime")
    behaviours: dict[str, dict[str, Any]] = {"crashy": {"crash": True}}
    agent = make_agent(load_config(config_path), behaviours)
    task = asyncio.create_task(agent.run())
    try:
        await eventually(lambda: len(behaviours["crashy"].get("starts", [])) >= 5, timeout=10)
        steady_before = agent.gate.last_item_at.get("steady") if agent.gate else None
        await asyncio.sleep(0.1)
        assert agent.gate is not None and agent.gate.last_item_at["steady"] > (steady_before or 0)
        starts = behaviours["crashy"]["starts"]
        gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
        assert gaps[-1] > gaps[0] * 1.5  # exponential backoff (with jitter) between restarts
        snapshot = agent.snapshot(None)
        states = {d["key"]: d for d in snapshot["devices"]}
        assert states["steady"]["state"] == "online" and states["steady"]["restarts"] == 0
        assert states["crashy"]["restarts"] >= 4 and "fell over" in states["crashy"]["last_error"]
        assert states["spare"]["state"] == "disabled"
        behaviours["crashy"]["crash"] = False  # the device comes back
        await eventually(lambda: any("recovered" in r.getMessage() for r in caplog.records), timeout=5)
    finally:
        agent.stop()
        await task
    crash_logs = [r for r in caplog.records if r.levelno >= logging.ERROR and "crashy" in r.getMessage()]
    recovered = [r for r in caplog.records if "recovered" in r.getMessage()]
    assert len(crash_logs) == 1 and crash_logs[0].exc_info is not None  # the first crash, with its traceback
    assert len(recovered) == 1 and "crashy" in recovered[0].getMessage()
    assert read_status(agent.status_path)["state"] == "stopped"  # type: ignore[index]
    await assert_no_leaks(threads)


async def test_the_agent_stops_a_driver_that_swallowed_its_cancellation(config_path: Path) -> None:
    behaviours: dict[str, dict[str, Any]] = {"steady": {"swallow_cancels": 1}}
    agent = make_agent(load_config(config_path), behaviours)
    task = asyncio.create_task(agent.run())
    try:
        await eventually(lambda: agent.gate is not None and agent.gate.appended >= 10, timeout=10)
    finally:
        agent.stop()
        done, _ = await asyncio.wait({task}, timeout=5)
        if not done:  # without the fix the agent waits for the driver forever: end it, then fail
            behaviours["steady"]["swallow_cancels"] = 0
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    assert behaviours["steady"]["swallow_cancels"] == 0
    assert done, "the agent did not stop: a driver that lost one cancellation kept it waiting"
    assert read_status(agent.status_path)["state"] == "stopped"  # type: ignore[index]


async def test_status_command_shows_the_running_agents_snapshot(config_path: Path) -> None:
    agent = make_agent(load_config(config_path), {"crashy": {"crash": True}})
    task = asyncio.create_task(agent.run())
    runner = CliRunner()
    try:
        await eventually(lambda: (read_status(agent.status_path) or {}).get("outbox") is not None)
        await asyncio.sleep(0.3)
        result = await asyncio.to_thread(runner.invoke, app, ["status", "--config", str(config_path)])
        assert result.exit_code == 0, result.output
        out = result.output
        assert "gateway gw-rt: agent running" in out and "uplink fake" in out
        lines = {line.split()[0]: line for line in out.splitlines() if line.split()}
        assert "online" in lines["steady"] and " s " in lines["steady"] + " "  # a last-data age in seconds
        assert lines["crashy"].split()[4] != "0"  # restarts
        assert "fell over" in lines["crashy"]
        assert "disabled" in lines["spare"]
        assert "buffer:" in out and "oldest unsent" in out
        stats = await asyncio.to_thread(runner.invoke, app, ["buffer", "stats", "--config", str(config_path)])
        assert stats.exit_code == 0 and "running agent's snapshot" in stats.output
    finally:
        agent.stop()
        await task
    after = await asyncio.to_thread(runner.invoke, app, ["status", "--config", str(config_path)])
    assert "agent NOT running" in after.output
    stats = await asyncio.to_thread(runner.invoke, app, ["buffer", "stats", "--config", str(config_path)])
    assert stats.exit_code == 0 and "(outbox file)" in stats.output


async def test_systemd_gets_ready_watchdog_and_stopping(config_path: Path, tmp_path: Path) -> None:
    address = str(tmp_path / "notify.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(address)
    server.setblocking(False)
    notifier = SdNotify({"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "100000"})
    assert notifier.watchdog_interval == pytest.approx(0.05)
    agent = make_agent(load_config(config_path), {}, notifier=notifier)
    task = asyncio.create_task(agent.run())
    await asyncio.sleep(0.4)
    agent.stop()
    await task
    messages = []
    while True:
        try:
            messages.append(server.recv(4096).decode())
        except BlockingIOError:
            break
    server.close()
    assert messages[0].startswith("READY=1")
    assert messages.count("WATCHDOG=1") >= 4  # every half WATCHDOG_USEC from the event loop
    assert messages[-1] == "STOPPING=1" or "STOPPING=1" in messages


def test_sd_notify_is_a_no_op_outside_systemd() -> None:
    notifier = SdNotify({})
    assert not notifier.enabled and notifier.watchdog_interval is None and notifier.notify("READY=1") is False
    assert SdNotify({"NOTIFY_SOCKET": "@abstract"}).address == "\0abstract"
