"""HTTP uplink against the real cloud app: Modbus simulator -> poller -> outbox -> HTTP -> stored exactly once."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from edge.config import EdgeConfig, parse_config
from edge.outbox import Outbox
from edge.runtime import Agent
from edge.simulate.modbus import run_modbus_simulator
from edge.uplink.http import HttpUplink
from protocols.telemetry import BatchAck, Reading, decode_batch, encode_ack
from tests.edge.cloud_server import CloudServer
from tests.edge.modbus_support import assert_no_leaks


def agent_config(tmp_path: Path, cloud: CloudServer, *, modbus_port: int | None,
                 token: str | None = None) -> EdgeConfig:
    """A config as an admin would write it (relative outbox path, fast retries for the test)."""
    devices = "devices: []\n" if modbus_port is None else f"""devices:
  - {{key: a1, kind: modbus_tcp, host: 127.0.0.1, port: {modbus_port}, unit: 1, profile: simulated-analyzer,
      interval: 0.2}}
  - {{key: a2, kind: modbus_tcp, host: 127.0.0.1, port: {modbus_port}, unit: 2, profile: simulated-analyzer,
      interval: 0.2}}
"""
    text = f"""gateway_id: {cloud.gateway_name}
cloud:
  url: {cloud.url}
  token: {token or cloud.token}
  linger_s: 0.05
  batch_max_items: 50
  retry_initial_s: 0.1
  retry_max_s: 0.5
  rejected_retry_s: 0.2
  timeout_s: 5
outbox:
  path: var/outbox.db
agent:
  status_interval_s: 0.2
  restart_initial_s: 0.1
  drain_timeout_s: 2
{devices}"""
    return parse_config(text, source="test.yaml", base_dir=tmp_path)


async def eventually(check: Callable[[], bool], timeout: float = 15.0) -> None:
    """Wait until check() (run in a thread: it may hit the database) is true."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await asyncio.to_thread(check):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.1)


async def stopped(awaitable: Awaitable[object], what: str, timeout: float = 30.0) -> None:
    """Wait for a part told to stop; fail naming it instead of hanging the suite (seen once in CI: 300 s)."""
    try:
        await asyncio.wait_for(awaitable, timeout)
    except TimeoutError as exc:
        raise AssertionError(f"{what} did not stop within {timeout:.0f} s of being told to") from exc


def leftover(config: EdgeConfig) -> tuple[int, int, int]:
    """(items still in the outbox, acked batches, acked items) once the agent has stopped."""
    with Outbox(config.outbox.path, gateway_id=config.gateway_id) as outbox:
        stats = outbox.stats()
    return stats.clinical_rows + stats.telemetry_rows, stats.acked_batches_total, stats.acked_items_total


async def test_modbus_readings_reach_the_cloud_through_outbox_and_http_exactly_once(
        cloud: CloudServer, tmp_path: Path) -> None:
    threads = set(threading.enumerate())
    await asyncio.to_thread(cloud.start)
    sim = await run_modbus_simulator("127.0.0.1", 0, units=(1, 2))
    config = agent_config(tmp_path, cloud, modbus_port=sim.port)
    assert config.outbox.path == tmp_path / "var" / "outbox.db"
    agent = Agent(config, install_signal_handlers=False)
    task = asyncio.create_task(agent.run())
    try:
        await eventually(lambda: cloud.stored().readings >= 100)
        snapshot = agent.snapshot(None)
        assert {d["key"]: d["state"] for d in snapshot["devices"]} == {"a1": "online", "a2": "online"}
    finally:
        agent.stop()
        await task
        await sim.stop()
    await asyncio.to_thread(cloud.stop)
    remaining, acked_batches, acked_items = leftover(config)
    stored = cloud.stored()
    assert agent.gate is not None
    assert stored.batches == acked_batches and stored.batch_items == acked_items
    assert stored.readings + stored.events == acked_items  # every acked item stored once, nothing twice
    assert acked_items + remaining == agent.gate.appended  # and nothing lost on the way
    await assert_no_leaks(threads)


async def test_backlog_built_while_the_cloud_is_down_is_delivered_once_it_is_back(
        cloud: CloudServer, tmp_path: Path) -> None:
    sim = await run_modbus_simulator("127.0.0.1", 0, units=(1, 2))
    config = agent_config(tmp_path, cloud, modbus_port=sim.port)
    agent = Agent(config, install_signal_handlers=False)
    task = asyncio.create_task(agent.run())
    try:
        assert agent.gate is None or agent.gate.appended == 0
        await eventually(lambda: agent.uplink is not None and agent.uplink.stats.retries >= 3)
        await eventually(lambda: agent.gate is not None and agent.gate.appended >= 150)
        before = agent.gate.appended if agent.gate else 0
        assert cloud.stored().batches == 0
        await asyncio.to_thread(cloud.start)  # the cloud comes back
        await eventually(lambda: cloud.stored().batch_items >= before)
        assert agent.uplink is not None and agent.uplink.stats.consecutive_failures == 0
    finally:
        agent.stop()
        await stopped(task, f"the agent ({agent.snapshot(None)})")
        await stopped(sim.stop(), "the Modbus simulator")
    produced = agent.gate.appended if agent.gate else 0
    # A second start with no devices drains whatever the first one left: nothing lost across a restart.
    drain = Agent(agent_config(tmp_path, cloud, modbus_port=None), install_signal_handlers=False)
    drain_task = asyncio.create_task(drain.run())
    try:
        await eventually(lambda: cloud.stored().batch_items == produced)
        await eventually(lambda: drain.snapshot(None)["uplink"].get("state") == "idle")
    finally:
        drain.stop()
        await stopped(drain_task, f"the draining agent ({drain.snapshot(None)})")
    await asyncio.to_thread(cloud.stop)
    stored = cloud.stored()
    remaining, acked_batches, acked_items = leftover(config)
    assert remaining == 0 and acked_items == produced
    assert stored.batches == acked_batches
    assert stored.readings + stored.events == produced


async def test_a_refused_token_keeps_the_batch_and_is_logged_once(
        cloud: CloudServer, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    await asyncio.to_thread(cloud.start)
    config = agent_config(tmp_path, cloud, modbus_port=None, token="mfgw_not-the-token")
    outbox = Outbox(config.outbox.path, gateway_id=config.gateway_id)
    outbox.append([Reading(device_key="d", metric="m", value=1.0, observed_at=datetime.now(UTC))])
    uplink = HttpUplink(config.cloud, outbox, gateway_id=config.gateway_id)
    caplog.set_level(logging.WARNING, logger="edge.uplink")
    task = asyncio.create_task(uplink.run())
    try:
        await eventually(lambda: uplink.stats.rejections >= 3, timeout=10)
        assert uplink.stats.rejected_status == 401 and uplink.stats.state == "rejected"
    finally:
        uplink.request_stop()
        await task
    stats = outbox.stats()
    outbox.close()
    assert stats.telemetry_rows == 1 and stats.acked_batches_total == 0  # kept, not dropped
    refusals = [r for r in caplog.records if r.levelno == logging.CRITICAL]
    assert len(refusals) == 1 and "401" in refusals[0].getMessage()
    assert cloud.stored().batches == 0


async def test_server_errors_are_retried_with_backoff_and_the_same_key(tmp_path: Path) -> None:
    keys: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        batch = decode_batch(request.read())
        keys.append(batch.idempotency_key)
        assert request.headers["content-encoding"] == "gzip"
        assert request.headers["authorization"] == "Bearer mfgw_t"
        if len(keys) < 3:
            return httpx.Response(503, json={"detail": "database down"})
        ack = BatchAck(idempotency_key=batch.idempotency_key, accepted_readings=len(batch.readings),
                       accepted_events=0)
        return httpx.Response(200, content=encode_ack(ack))

    config = parse_config("gateway_id: gw\ncloud: {url: 'http://cloud.test', token: mfgw_t, retry_initial_s: 0.05,"
                          " retry_max_s: 0.1}\noutbox: {path: o.db}\n", base_dir=tmp_path)
    with Outbox(config.outbox.path, gateway_id="gw") as outbox:
        outbox.append([Reading(device_key="d", metric="m", value=i, observed_at=datetime.now(UTC))
                       for i in range(5)])
        uplink = HttpUplink(config.cloud, outbox, gateway_id="gw", http_transport=httpx.MockTransport(handler))
        task = asyncio.create_task(uplink.run())
        await eventually(lambda: uplink.stats.batches_acked == 1, timeout=5)
        uplink.request_stop()
        await task
        assert len(keys) == 3 and len(set(keys)) == 1  # the same batch, the same key, every time
        assert uplink.stats.retries == 2 and outbox.stats().telemetry_rows == 0
