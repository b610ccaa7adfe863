"""The agent's Prometheus port: a cloud outage shows as a growing outbox and failing uplink, and recovery drains it.

A real agent (fake drivers, a fake cloud that can be down) serves its metrics on a loopback port; the test
scrapes it over HTTP as Prometheus would, and parses the text with prometheus_client's own parser.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import sys
import urllib.request
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from edge.config import load_config
from edge.outbox import FrozenBatch, Outbox
from edge.uplink import Acked, Outcome, Retry, Uplink
from protocols.logs import JsonLines, log_handler
from protocols.telemetry import BatchAck
from tests.edge.test_runtime import CONFIG, make_agent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class SwitchableCloud(Uplink):
    """A cloud that refuses connections while `down` is set, and acknowledges everything otherwise."""

    transport = "fake"
    down = True

    @asynccontextmanager
    async def session(self) -> AsyncIterator[None]:
        """Nothing to open."""
        yield

    async def send(self, batch: FrozenBatch) -> Outcome:
        """Retry while down, ack once up."""
        if SwitchableCloud.down:
            return Retry("connection refused", retry_after=0.05)
        return Acked(BatchAck(idempotency_key=batch.idempotency_key, accepted_readings=batch.readings,
                              accepted_events=batch.events))


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:  # noqa: S310
        text = response.read().decode()
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


def value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


async def test_an_outage_and_its_recovery_show_on_the_agents_metrics_port(tmp_path: Path) -> None:
    port = free_port()
    path = tmp_path / "edge.yaml"
    path.write_text(CONFIG.replace("status_interval_s: 0.1}", f"status_interval_s: 0.1, metrics_port: {port}}}"),
                    encoding="utf-8")
    SwitchableCloud.down = True

    def uplink(cfg, outbox: Outbox) -> Uplink:  # noqa: ANN001
        return SwitchableCloud(cfg.cloud, outbox, gateway_id=cfg.gateway_id)

    agent = make_agent(load_config(path), {"crashy": {"crash": True}})
    agent._uplink_factory = uplink  # the fake cloud that can be down
    task = asyncio.create_task(agent.run())
    try:
        async def outbox_backs_up() -> bool:
            try:
                samples = await asyncio.to_thread(scrape, port)
            except OSError:  # not listening yet
                return False
            oldest = value(samples, "medfix_edge_outbox_oldest_unsent_seconds", gateway="gw-rt") or 0
            failures = value(samples, "medfix_edge_uplink_consecutive_failures", gateway="gw-rt") or 0
            return oldest > 0.3 and failures >= 2

        await eventually_async(outbox_backs_up, timeout=15)
        samples = await asyncio.to_thread(scrape, port)
        assert (value(samples, "medfix_edge_outbox_rows", gateway="gw-rt", **{"class": "telemetry"}) or 0) > 0
        assert value(samples, "medfix_edge_device_state", gateway="gw-rt", device="steady", kind="modbus_tcp",
                     state="online") == 1
        assert value(samples, "medfix_edge_device_state", gateway="gw-rt", device="steady", kind="modbus_tcp",
                     state="unavailable") == 0
        assert value(samples, "medfix_edge_device_state", gateway="gw-rt", device="spare", kind="modbus_tcp",
                     state="disabled") == 1
        assert (value(samples, "medfix_edge_device_restarts_total", gateway="gw-rt", device="crashy") or 0) >= 1
        assert (value(samples, "process_resident_memory_bytes") or 0) > 0

        SwitchableCloud.down = False  # the cloud is back: the outbox drains and the uplink reports acks

        async def drained() -> bool:
            samples = await asyncio.to_thread(scrape, port)
            return (value(samples, "medfix_edge_uplink_consecutive_failures", gateway="gw-rt") == 0
                    and (value(samples, "medfix_edge_outbox_acked_batches_total", gateway="gw-rt") or 0) > 0
                    and value(samples, "medfix_edge_uplink_last_ack_timestamp_seconds", gateway="gw-rt") is not None)

        await eventually_async(drained, timeout=15)
    finally:
        agent.stop()
        await task
    with pytest.raises(OSError):  # the port is closed with the agent
        await asyncio.to_thread(scrape, port)


async def eventually_async(check, timeout: float) -> None:  # noqa: ANN001
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.1)


async def test_a_port_already_taken_stops_the_agent_with_its_outbox_closed(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        path = tmp_path / "edge.yaml"
        path.write_text(CONFIG.replace("status_interval_s: 0.1}", f"status_interval_s: 0.1, metrics_port: {port}}}"),
                        encoding="utf-8")
        agent = make_agent(load_config(path), {})
        with pytest.raises(OSError):
            await asyncio.wait_for(agent.run(), timeout=10)
    reopened = Outbox(tmp_path / "outbox.db", gateway_id="gw-rt")  # the lock on the outbox was let go
    reopened.close()


def test_json_log_lines_carry_time_level_logger_message_and_extra_fields() -> None:
    record = logging.LogRecord("edge.runtime", logging.WARNING, __file__, 1, "device %s unavailable: %s",
                               ("c702", "超时"), None)
    record.device = "c702"
    line = JsonLines().format(record)
    assert "\n" not in line
    document = json.loads(line)
    assert document["level"] == "WARNING" and document["logger"] == "edge.runtime"
    assert document["message"] == "device c702 unavailable: 超时"  # Chinese kept readable, not \\u-escaped
    assert "超时" in line
    assert document["device"] == "c702"
    assert document["time"].endswith("+00:00")
    try:
        raise ValueError("bad frame")
    except ValueError:
        failed = logging.LogRecord("edge.uplink", logging.ERROR, __file__, 1, "send failed", None,
                                   exc_info=sys.exc_info())
    assert "ValueError: bad frame" in json.loads(JsonLines().format(failed))["exception"]
    assert isinstance(log_handler("json").formatter, JsonLines)
    assert not isinstance(log_handler("text").formatter, JsonLines)
