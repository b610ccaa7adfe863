"""The MQTT path through the local Mosquitto broker: batch in, ack out, duplicates, bad tokens, gateway status."""

from __future__ import annotations

import json
import queue
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import paho.mqtt.client as mqtt
import pytest
from fastapi.testclient import TestClient
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from sqlalchemy.orm import Session

from cloud.main import create_app
from cloud.telemetry.models import Gateway, GatewayState
from protocols.telemetry import (
    MQTT_STATUS_PROPERTY,
    MQTT_TOKEN_PROPERTY,
    BatchAck,
    GatewayStatus,
    ack_topic,
    batch_topic,
    decode_ack,
    encode_batch,
    encode_status,
    gateway_prefix,
    status_topic,
)
from tests.cloud.telemetry.conftest import GatewayInfo, counts, make_batch
from tests.conftest import need, port_open

BROKER = ("127.0.0.1", 1883)


@dataclass
class Reply:
    """A message the cloud published back."""

    topic: str
    status: str | None
    payload: bytes
    correlation: bytes | None


@pytest.fixture
def root() -> str:
    """A topic root of this test alone, so parallel runs never see each other's traffic."""
    return f"medfix-test-{uuid.uuid4().hex[:12]}/v1"


@pytest.fixture
def mqtt_client(settings, root: str) -> Iterator[TestClient]:  # noqa: ANN001
    """The cloud app with its MQTT consumer running against the local broker."""
    need(port_open(*BROKER), "Mosquitto on 127.0.0.1:1883")
    configured = settings.model_copy(update={"mqtt_url": f"mqtt://{BROKER[0]}:{BROKER[1]}", "mqtt_topic_root": root,
                                             "mqtt_share_group": f"g{uuid.uuid4().hex[:8]}"})
    with TestClient(create_app(configured)) as client:
        consumer = client.app.state.mqtt_consumer  # type: ignore[attr-defined]
        assert consumer is not None and consumer.ready.wait(10), "the consumer never subscribed"
        yield client


def _token_properties(token: str, packet: int = PacketTypes.PUBLISH) -> Properties:
    properties = Properties(packet)
    properties.UserProperty = [(MQTT_TOKEN_PROPERTY, token)]
    return properties


class Gw:
    """A stand-in for the edge uplink: publishes batches, collects the cloud's replies."""

    def __init__(self, root: str, name: str, *, will_token: str | None = None) -> None:
        self.root, self.name = root, name
        self.replies: queue.Queue[Reply] = queue.Queue()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"test-{uuid.uuid4().hex[:8]}",
                                  protocol=MQTTProtocolVersion.MQTTv5)
        if will_token:
            self.client.will_set(status_topic(name, root=root), encode_status(GatewayStatus.OFFLINE), qos=1,
                                 retain=True, properties=_token_properties(will_token, PacketTypes.WILLMESSAGE))
        self.client.on_message = self._on_message
        subscribed = queue.Queue[int]()
        self.client.on_subscribe = lambda *_args: subscribed.put(1)
        self.client.connect(*BROKER, keepalive=5)
        self.client.loop_start()
        self.client.subscribe(gateway_prefix(name, root=root) + "#", qos=1)
        subscribed.get(timeout=5)

    def _on_message(self, _client: mqtt.Client, _userdata: object, message: mqtt.MQTTMessage) -> None:
        if message.topic.endswith("/batch") or message.topic.endswith("/status"):
            return
        props = message.properties
        status = next((v for k, v in getattr(props, "UserProperty", []) if k == MQTT_STATUS_PROPERTY), None)
        self.replies.put(Reply(message.topic, status, message.payload, getattr(props, "CorrelationData", None)))

    def publish(self, payload: bytes, token: str | None, *, response_topic: str | None = None,
                correlation: bytes | None = None) -> Reply:
        properties = Properties(PacketTypes.PUBLISH)
        if token:
            properties.UserProperty = [(MQTT_TOKEN_PROPERTY, token)]
        if response_topic:
            properties.ResponseTopic = response_topic
        if correlation:
            properties.CorrelationData = correlation
        self.client.publish(batch_topic(self.name, root=self.root), payload, qos=1, properties=properties)
        return self.replies.get(timeout=15)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _eventually(check: Callable[[], bool], timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return False


def test_mqtt_batch_is_acked_and_a_duplicate_publish_is_acked_as_duplicate(
        mqtt_client: TestClient, db: Session, gateway: GatewayInfo, root: str) -> None:
    gw = Gw(root, gateway.name)
    try:
        body = encode_batch(make_batch(gateway.name, 3), compress=True)
        first = gw.publish(body, gateway.token)
        assert (first.topic, first.status) == (ack_topic(gateway.name, root=root), "200")
        ack = decode_ack(first.payload)
        assert isinstance(ack, BatchAck) and not ack.duplicate and ack.accepted_readings == 3
        reply_to = gateway_prefix(gateway.name, root=root) + "replies/abc"
        second = gw.publish(body, gateway.token, response_topic=reply_to, correlation=b"corr-1")
        assert (second.topic, second.status, second.correlation) == (reply_to, "200", b"corr-1")
        assert decode_ack(second.payload).duplicate
        assert counts(db) == {"batches": 1, "readings": 3, "events": 1}
    finally:
        gw.close()


def test_mqtt_rejections_say_why_and_store_nothing(mqtt_client: TestClient, db: Session, gateway: GatewayInfo,
                                                   root: str) -> None:
    gw = Gw(root, gateway.name)
    try:
        body = encode_batch(make_batch(gateway.name))
        assert gw.publish(body, None).status == "401"
        assert gw.publish(body, "mfgw_wrong").status == "401"
        bad = gw.publish(b"{broken", gateway.token)
        assert bad.status == "422" and "not valid JSON" in json.loads(bad.payload)["detail"]
        # A reply topic outside the gateway's own subtree is not honoured.
        elsewhere = gw.publish(b"{broken", gateway.token, response_topic=f"{root}/elsewhere")
        assert elsewhere.topic == ack_topic(gateway.name, root=root)
        assert counts(db) == {"batches": 0, "readings": 0, "events": 0}
    finally:
        gw.close()


def test_gateway_status_follows_the_retained_topic_and_the_last_will(
        mqtt_client: TestClient, db: Session, gateway: GatewayInfo, root: str) -> None:
    def state() -> GatewayState:
        db.rollback()
        gw = db.get(Gateway, gateway.id)
        assert gw is not None
        db.refresh(gw)
        return gw.status

    box = Gw(root, gateway.name, will_token=gateway.token)
    topic = status_topic(gateway.name, root=root)
    try:
        box.client.publish(topic, encode_status(GatewayStatus.ONLINE), qos=1, retain=True,
                           properties=_token_properties(gateway.token)).wait_for_publish(5)
        assert _eventually(lambda: state() is GatewayState.online)
        box.client.publish(topic, encode_status(GatewayStatus.OFFLINE), qos=1).wait_for_publish(5)  # no token
        box.client.publish(topic, encode_status(GatewayStatus.ONLINE), qos=1,
                           properties=_token_properties(gateway.token)).wait_for_publish(5)
        time.sleep(0.5)  # status is handled in arrival order, so the tokenless one has been seen (and ignored)
        assert state() is GatewayState.online
        box.client.socket().close()  # dies without DISCONNECT: the broker publishes the Last Will
        assert _eventually(lambda: state() is GatewayState.offline, timeout=20)
    finally:
        box.client.loop_stop()
        cleaner = Gw(root, gateway.name)
        cleaner.client.publish(topic, b"", qos=1, retain=True).wait_for_publish(5)  # leave no retained junk
        cleaner.close()
