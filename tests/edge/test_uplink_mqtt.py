"""MQTT uplink through the local Mosquitto against the cloud's MqttConsumer: acked once, Last Will, rejections."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from cloud.telemetry.models import GatewayState
from edge.config import EdgeConfig, parse_config
from edge.outbox import Outbox
from edge.uplink.mqtt import MqttUplink
from protocols.telemetry import Event, EventKind, Reading, Severity, status_topic
from tests.conftest import need, port_open
from tests.edge.cloud_server import CloudServer
from tests.edge.modbus_support import assert_no_leaks
from tests.edge.test_uplink_http import eventually

BROKER = ("127.0.0.1", 1883)


@pytest.fixture
def root() -> str:
    """A topic root of this test alone."""
    return f"medfix-edge-test-{uuid.uuid4().hex[:10]}/v1"


@pytest.fixture
def cloud(tmp_path: Path, root: str) -> Iterator[CloudServer]:
    """The cloud app with its MQTT consumer subscribed on the local broker."""
    need(port_open(*BROKER), "Mosquitto on 127.0.0.1:1883")
    server = CloudServer(tmp_path, mqtt_url=f"mqtt://{BROKER[0]}:{BROKER[1]}", topic_root=root)
    server.start()
    try:
        consumer = server.app.state.mqtt_consumer  # type: ignore[attr-defined]
        assert consumer is not None and consumer.ready.wait(10), "the cloud's consumer never subscribed"
        yield server
    finally:
        server.close()
        _clear_retained(status_topic(server.gateway_name, root=root))


def _clear_retained(topic: str) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=MQTTProtocolVersion.MQTTv5)
    client.connect(*BROKER)
    client.loop_start()
    client.publish(topic, b"", qos=1, retain=True).wait_for_publish(5)
    client.disconnect()
    client.loop_stop()


def mqtt_config(tmp_path: Path, cloud: CloudServer, root: str, token: str | None = None) -> EdgeConfig:
    """An agent config pointing at the broker."""
    return parse_config(
        f"gateway_id: {cloud.gateway_name}\n"
        f"cloud: {{url: 'mqtt://{BROKER[0]}:{BROKER[1]}', token: '{token or cloud.token}', topic_root: '{root}',"
        " linger_s: 0.02, retry_initial_s: 0.1, retry_max_s: 1, rejected_retry_s: 0.2, ack_timeout_s: 5,"
        " batch_max_items: 10}\n"
        "outbox: {path: outbox.db}\n",
        base_dir=tmp_path,
    )


def fill(outbox: Outbox, readings: int) -> None:
    """Some telemetry and one clinical error event."""
    t0 = datetime(2026, 3, 1, tzinfo=UTC)
    outbox.append([Reading(device_key="c702", metric="temp", value=37 + i / 100, observed_at=t0 + timedelta(seconds=i))
                   for i in range(readings)])
    outbox.append([Event(device_key="c702", occurred_at=t0, kind=EventKind.ERROR_CODE, severity=Severity.ERROR,
                         code="1103", text="lamp low")])


async def test_batches_are_acked_over_mqtt_and_stored_once(cloud: CloudServer, tmp_path: Path, root: str) -> None:
    threads = set(threading.enumerate())
    config = mqtt_config(tmp_path, cloud, root)
    with Outbox(config.outbox.path, gateway_id=config.gateway_id) as outbox:
        fill(outbox, 25)
        uplink = MqttUplink(config.cloud, outbox, gateway_id=config.gateway_id)
        task = asyncio.create_task(uplink.run())
        try:
            await eventually(lambda: outbox.stats().pending_batches == 0 and uplink.stats.batches_acked == 3)
            await eventually(lambda: cloud.gateway_status() is GatewayState.online)
            assert uplink.stats.connected is True
        finally:
            uplink.request_stop()
            await task
        stats = outbox.stats()
    assert stats.clinical_rows == stats.telemetry_rows == 0 and stats.acked_items_total == 26
    stored = cloud.stored()
    assert (stored.batches, stored.readings, stored.events) == (3, 25, 1)
    # A clean stop says "offline" itself (a DISCONNECT does not fire the Last Will).
    await eventually(lambda: cloud.gateway_status() is GatewayState.offline)
    await assert_no_leaks(threads)


async def test_last_will_marks_the_gateway_offline_when_the_connection_dies(
        cloud: CloudServer, tmp_path: Path, root: str) -> None:
    config = mqtt_config(tmp_path, cloud, root)
    with Outbox(config.outbox.path, gateway_id=config.gateway_id) as outbox:
        uplink = MqttUplink(config.cloud, outbox, gateway_id=config.gateway_id)
        task = asyncio.create_task(uplink.run())
        try:
            await eventually(lambda: cloud.gateway_status() is GatewayState.online)
            client = uplink.client
            assert client is not None
            # The agent "dies": its network loop stops and the socket closes without a DISCONNECT.
            await asyncio.to_thread(client.loop_stop)
            sock = client.socket()
            assert sock is not None
            sock.close()
            await eventually(lambda: cloud.gateway_status() is GatewayState.offline, timeout=20)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def test_a_wrong_token_is_refused_and_the_batch_stays(cloud: CloudServer, tmp_path: Path, root: str) -> None:
    config = mqtt_config(tmp_path, cloud, root, token="mfgw_wrong")
    with Outbox(config.outbox.path, gateway_id=config.gateway_id) as outbox:
        fill(outbox, 3)
        uplink = MqttUplink(config.cloud, outbox, gateway_id=config.gateway_id)
        task = asyncio.create_task(uplink.run())
        try:
            await eventually(lambda: uplink.stats.rejections >= 2)
        finally:
            uplink.request_stop()
            await task
        assert uplink.stats.rejected_status == 401
        assert outbox.stats().telemetry_rows == 3 and outbox.stats().clinical_rows == 1
    assert cloud.stored().batches == 0
