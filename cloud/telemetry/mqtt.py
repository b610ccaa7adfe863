"""The MQTT consumer: batches and gateway status from the broker, ingested through the same service as HTTP.

Started by the app's lifespan when MEDFIX_MQTT_URL is set. The topic layout, the token user property, the
reply contract and the status payloads are defined in protocols/telemetry.py, shared with the edge uplink.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import secrets
import socket
import threading
from typing import Any
from urllib.parse import unquote, urlparse

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions
from sqlalchemy.orm import Session, sessionmaker

from cloud.config import Settings
from cloud.errors import DomainError
from cloud.metrics import record_ingest
from cloud.telemetry import service
from cloud.telemetry.codec import decode_upload
from cloud.telemetry.store import timeseries_store
from protocols.telemetry import (
    MQTT_STATUS_PROPERTY,
    MQTT_TOKEN_PROPERTY,
    TelemetryError,
    ack_topic,
    batch_subscription,
    decode_status,
    encode_ack,
    gateway_prefix,
    parse_gateway_topic,
    status_subscription,
)

log = logging.getLogger("medfix.cloud.mqtt")

WORKERS = 2
QUEUE_SIZE = 256  # a full queue blocks the network thread, so the broker holds back further QoS 1 messages


def broker_address(url: str) -> tuple[str, int, bool, str | None, str | None]:
    """(host, port, tls, username, password) from mqtt://[user:pass@]host[:port] or mqtts://..."""
    parts = urlparse(url)
    if parts.scheme not in ("mqtt", "mqtts", "tcp", "ssl"):
        raise ValueError(f"MEDFIX_MQTT_URL must start with mqtt:// or mqtts://, got {url!r}")
    tls = parts.scheme in ("mqtts", "ssl")
    port = parts.port or (8883 if tls else 1883)
    user = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    return parts.hostname or "127.0.0.1", port, tls, user, password


def _user_property(properties: Properties | None, name: str) -> str | None:
    for key, value in getattr(properties, "UserProperty", None) or []:
        if key == name:
            return str(value)
    return None


class MqttConsumer:
    """Subscribes to every gateway's batch and status topics; replies to each batch with its ack."""

    def __init__(self, settings: Settings, sessions: sessionmaker[Session], *, client_id: str | None = None) -> None:
        self.settings = settings
        self.sessions = sessions
        self.root = settings.mqtt_topic_root
        self.host, self.port, tls, user, password = broker_address(settings.mqtt_url)
        self.ready = threading.Event()  # set once both subscriptions are granted (tests and readiness wait on it)
        self._queue: queue.Queue[mqtt.MQTTMessage | None] = queue.Queue(maxsize=QUEUE_SIZE)
        self._workers: list[threading.Thread] = []
        client_id = client_id or f"medfix-cloud-{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                                  protocol=MQTTProtocolVersion.MQTTv5)
        if tls:
            self.client.tls_set()
        if user is not None:
            self.client.username_pw_set(user, password)
        self.client.reconnect_delay_set(min_delay=1, max_delay=30)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message

    # --- lifecycle --------------------------------------------------------------------------------

    def start(self) -> None:
        """Connect in the background (retrying while the broker is away) and start the workers."""
        for n in range(WORKERS):
            worker = threading.Thread(target=self._work, name=f"medfix-mqtt-ingest-{n}", daemon=True)
            worker.start()
            self._workers.append(worker)
        self.client.connect_async(self.host, self.port, keepalive=30)
        self.client.loop_start()
        log.info("MQTT consumer connecting to %s:%s (topics under %s)", self.host, self.port, self.root)

    def stop(self) -> None:
        """Disconnect, let the workers finish what they hold, and join every thread."""
        self.client.disconnect()
        self.client.loop_stop()
        for _ in self._workers:
            self._queue.put(None)
        for worker in self._workers:
            worker.join(timeout=10)
        self._workers.clear()

    # --- paho callbacks (network thread) ----------------------------------------------------------

    def _on_connect(self, client: mqtt.Client, _userdata: Any, _flags: Any, reason_code: Any,
                    _properties: Any) -> None:
        if reason_code.is_failure:
            log.warning("MQTT broker refused the connection: %s", reason_code)
            return
        batches = batch_subscription(root=self.root)
        if self.settings.mqtt_share_group:
            # Several API workers share one group: the broker gives each batch to one of them.
            batches = f"$share/{self.settings.mqtt_share_group}/{batches}"
        # Status is not shared: every worker keeps the retained state, and shared subscriptions get no retained.
        client.subscribe([(batches, SubscribeOptions(qos=1)), (status_subscription(root=self.root),
                                                              SubscribeOptions(qos=1))])
        log.info("MQTT consumer connected; subscribing to %s", batches)

    def _on_subscribe(self, _client: mqtt.Client, _userdata: Any, _mid: int, reason_codes: list[Any],
                      _properties: Any) -> None:
        failed = [str(code) for code in reason_codes if code.is_failure]
        if failed:
            log.error("MQTT broker refused the subscriptions: %s", ", ".join(failed))
            return
        self.ready.set()

    def _on_disconnect(self, _client: mqtt.Client, _userdata: Any, _flags: Any, reason_code: Any,
                       _properties: Any) -> None:
        self.ready.clear()
        if reason_code.is_failure:
            log.warning("MQTT connection lost (%s); reconnecting", reason_code)

    def _on_message(self, _client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        parsed = parse_gateway_topic(message.topic, root=self.root)
        if parsed is None:
            return
        if parsed[1] == "status":
            # Inline, in arrival order: online/offline must not be reordered by parallel workers.
            self._guard(self.handle_status, parsed[0], message)
        elif parsed[1] == "batch":
            self._queue.put(message)

    # --- handling ---------------------------------------------------------------------------------

    def _work(self) -> None:
        while (message := self._queue.get()) is not None:
            parsed = parse_gateway_topic(message.topic, root=self.root)
            if parsed is not None:
                self._guard(self.handle_batch, parsed[0], message)

    def _guard(self, handler: Any, gateway_name: str, message: mqtt.MQTTMessage) -> None:
        try:
            handler(gateway_name, message)
        except Exception:  # a database outage must not kill the consumer; the edge re-sends unacked batches
            log.exception("MQTT message on %s could not be handled", message.topic)

    def handle_batch(self, gateway_name: str, message: mqtt.MQTTMessage) -> None:
        """Authenticate, ingest and reply; a 4xx reply tells the edge that re-sending will not help."""
        token = _user_property(message.properties, MQTT_TOKEN_PROPERTY)
        with self.sessions() as session:
            gateway = service.gateway_for_token(session, token=token) if token else None
            if gateway is None:
                self._reply(gateway_name, message, 401, {"detail": "the gateway token is missing or not valid"})
                return
            if gateway.name != gateway_name:
                self._reply(gateway_name, message, 403,
                            {"detail": f"this token belongs to gateway {gateway.name!r}, not {gateway_name!r}"})
                return
            try:
                batch = decode_upload(message.payload, max_body_bytes=self.settings.ingest_max_body_bytes,
                                      max_decoded_bytes=self.settings.ingest_max_decoded_bytes)
                ack = service.ingest_batch(session, gateway=gateway, batch=batch,
                                           store=timeseries_store(session, self.settings))
                session.commit()
            except DomainError as error:
                session.rollback()
                self._reply(gateway_name, message, error.status_code, {"detail": error.message})
                return
        record_ingest("mqtt", batch.readings, duplicate=ack.duplicate)
        self._reply(gateway_name, message, 200, encode_ack(ack))

    def handle_status(self, gateway_name: str, message: mqtt.MQTTMessage) -> None:
        """Keep a gateway's retained online/offline status when its token vouches for it."""
        if not message.payload:
            return  # an empty retained message only clears the topic
        token = _user_property(message.properties, MQTT_TOKEN_PROPERTY)
        try:
            status = decode_status(message.payload)
        except TelemetryError as exc:
            log.warning("ignoring gateway status on %s: %s", message.topic, exc)
            return
        with self.sessions() as session:
            gateway = service.gateway_for_token(session, token=token) if token else None
            if gateway is None or gateway.name != gateway_name:
                log.warning("ignoring gateway status on %s: no valid token for that gateway", message.topic)
                return
            service.record_status(gateway=gateway, status=status)
            session.commit()

    def _reply(self, gateway_name: str, message: mqtt.MQTTMessage, status: int, body: bytes | dict[str, str]) -> None:
        request = message.properties
        topic = getattr(request, "ResponseTopic", None)
        # Only a reply topic inside the gateway's own subtree is honoured, so nobody can make the cloud
        # publish on arbitrary topics.
        if not topic or not topic.startswith(gateway_prefix(gateway_name, root=self.root)):
            topic = ack_topic(gateway_name, root=self.root)
        properties = Properties(PacketTypes.PUBLISH)
        properties.UserProperty = [(MQTT_STATUS_PROPERTY, str(status))]
        properties.ContentType = "application/json"
        correlation = getattr(request, "CorrelationData", None)
        if correlation:
            properties.CorrelationData = correlation
        payload = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.client.publish(topic, payload, qos=1, properties=properties)
