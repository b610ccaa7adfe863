"""MQTT v5 uplink (paho-mqtt 2): QoS 1 batches with a reply topic, a retained status and a Last Will.

The contract is in protocols/telemetry.py. Per connection: the Last Will "offline" (retained, QoS 1, with
the token user property) is registered at CONNECT; after CONNACK the uplink subscribes to its own reply
topic under the gateway's prefix and publishes "online" retained. Each batch is published with
ResponseTopic, CorrelationData and the token property; only a reply with status "200" and a BatchAck for
that batch's key lets it leave the outbox.

paho runs its network loop in its own thread (loop_start) and reconnects by itself with exponential
backoff (1 s doubling to cloud.retry_max_s). Its callbacks only hand results to the event loop with
call_soon_threadsafe. The client id is fixed per gateway on purpose: after a crash the new connection takes
the old session over at once, so the stale connection's Last Will fires *before* the new "online" instead
of a keepalive later, when it would wrongly mark a running gateway offline.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions

from edge.uplink import Acked, Outcome, Rejected, Retry, Uplink, ssl_context
from protocols.telemetry import (
    MQTT_STATUS_PROPERTY,
    MQTT_TOKEN_PROPERTY,
    GatewayStatus,
    TelemetryError,
    batch_topic,
    decode_ack,
    encode_status,
    gateway_prefix,
    status_topic,
)

if TYPE_CHECKING:
    from edge.config import CloudSettings
    from edge.outbox import FrozenBatch, Outbox

log = logging.getLogger(__name__)


def _token_properties(token: str, packet: int) -> Properties:
    properties = Properties(packet)
    properties.UserProperty = [(MQTT_TOKEN_PROPERTY, token)]
    return properties


class MqttUplink(Uplink):
    """Delivers batches through an MQTT v5 broker and waits for the cloud's reply to each."""

    transport = "mqtt"

    def __init__(self, settings: CloudSettings, outbox: Outbox, *, gateway_id: str) -> None:
        super().__init__(settings, outbox, gateway_id=gateway_id)
        parts = urlparse(settings.url)
        self.tls = parts.scheme == "mqtts"
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or (8883 if self.tls else 1883)
        self._username = unquote(parts.username) if parts.username else None
        self._password = unquote(parts.password) if parts.password else None
        root = settings.topic_root
        self.batch_topic = batch_topic(gateway_id, root=root)
        self.status_topic = status_topic(gateway_id, root=root)
        # A fresh reply topic per process: a late reply to an earlier process's publish is simply not seen.
        self.reply_topic = gateway_prefix(gateway_id, root=root) + f"replies/{uuid.uuid4().hex[:12]}"
        self.client: mqtt.Client | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = asyncio.Event()  # connected and subscribed to the reply topic
        self._pending: dict[bytes, asyncio.Future[tuple[str | None, bytes]]] = {}

    # --- session ---------------------------------------------------------------------------------------

    @asynccontextmanager
    async def session(self) -> AsyncIterator[None]:
        """Connect in the background (paho retries while the broker is away); say offline on the way out."""
        self._loop = asyncio.get_running_loop()
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"medfix-edge-{self.gateway_id}",
                             protocol=MQTTProtocolVersion.MQTTv5)
        client.will_set(self.status_topic, encode_status(GatewayStatus.OFFLINE), qos=1, retain=True,
                        properties=_token_properties(self.token, PacketTypes.WILLMESSAGE))
        if self._username is not None:
            client.username_pw_set(self._username, self._password)
        if self.tls:
            client.tls_set_context(ssl_context(self.settings.tls))
            if self.settings.tls.insecure:
                client.tls_insecure_set(True)
        client.reconnect_delay_set(min_delay=1, max_delay=max(1, int(self.settings.retry_max_s)))
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        client.on_disconnect = self._on_disconnect
        client.on_connect_fail = self._on_connect_fail
        client.on_message = self._on_message
        self.client = client
        self.stats.connected = False
        client.connect_async(self.host, self.port, keepalive=self.settings.keepalive_s)
        client.loop_start()
        try:
            yield
        finally:
            await asyncio.to_thread(self._goodbye, client)
            self.client = None
            self._ready.clear()
            self.stats.connected = False

    def _goodbye(self, client: mqtt.Client) -> None:
        # A clean DISCONNECT does not fire the Last Will, so say "offline" ourselves first.
        if client.is_connected():
            info = client.publish(self.status_topic, encode_status(GatewayStatus.OFFLINE), qos=1, retain=True,
                                  properties=_token_properties(self.token, PacketTypes.PUBLISH))
            with suppress(RuntimeError, ValueError):
                info.wait_for_publish(timeout=2.0)
        client.disconnect()
        client.loop_stop()

    # --- paho callbacks (network thread) -----------------------------------------------------------------

    def _on_connect(self, client: mqtt.Client, _userdata: Any, _flags: Any, reason_code: Any, _props: Any) -> None:
        if reason_code.is_failure:
            self._call(self._connection_lost, f"broker refused the connection: {reason_code}")
            return
        client.subscribe(self.reply_topic, options=SubscribeOptions(qos=1))
        client.publish(self.status_topic, encode_status(GatewayStatus.ONLINE), qos=1, retain=True,
                       properties=_token_properties(self.token, PacketTypes.PUBLISH))

    def _on_subscribe(self, _client: mqtt.Client, _userdata: Any, _mid: int, reason_codes: list[Any],
                      _props: Any) -> None:
        failed = [str(code) for code in reason_codes if code.is_failure]
        if failed:
            self._call(self._connection_lost, f"broker refused the reply subscription: {', '.join(failed)}")
        else:
            self._call(self._connected)

    def _on_disconnect(self, _client: mqtt.Client, _userdata: Any, _flags: Any, reason_code: Any,
                       _props: Any) -> None:
        self._call(self._connection_lost, f"disconnected: {reason_code}")

    def _on_connect_fail(self, _client: mqtt.Client, _userdata: Any) -> None:
        self._call(self._connection_lost, f"cannot reach the broker {self.host}:{self.port}")

    def _on_message(self, _client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        props = message.properties
        correlation = getattr(props, "CorrelationData", None)
        status = next((str(v) for k, v in getattr(props, "UserProperty", None) or [] if k == MQTT_STATUS_PROPERTY),
                      None)
        if correlation:
            self._call(self._reply, bytes(correlation), status, bytes(message.payload))

    def _call(self, callback: Any, *args: Any) -> None:
        if self._loop is not None:
            with suppress(RuntimeError):  # the loop is closing: nobody waits for this any more
                self._loop.call_soon_threadsafe(callback, *args)

    # --- event-loop side ---------------------------------------------------------------------------------

    def _connected(self) -> None:
        self.stats.connected = True
        self._ready.set()
        self._health.recovered(f"connected to {self.host}:{self.port}")

    def _connection_lost(self, reason: str) -> None:
        self.stats.connected = False
        self._ready.clear()
        if not self._stopping:
            self._health.failed(f"{reason}; reconnecting with backoff", level=logging.WARNING)
        for future in self._pending.values():
            if not future.done():
                future.set_exception(ConnectionError(reason))

    def _reply(self, correlation: bytes, status: str | None, payload: bytes) -> None:
        future = self._pending.get(correlation)
        if future is not None and not future.done():
            future.set_result((status, payload))

    async def send(self, batch: FrozenBatch) -> Outcome:
        """Publish one batch (QoS 1) and wait for the cloud's reply to it."""
        if not self._ready.is_set():
            try:
                async with asyncio.timeout(self.settings.timeout_s):
                    await self._ready.wait()
            except TimeoutError:
                return Retry(f"not connected to the broker {self.host}:{self.port}")
        assert self.client is not None and self._loop is not None
        payload = batch.wire  # frozen with the batch: the same bytes on every re-send
        correlation = uuid.uuid4().bytes
        future: asyncio.Future[tuple[str | None, bytes]] = self._loop.create_future()
        self._pending[correlation] = future
        properties = _token_properties(self.token, PacketTypes.PUBLISH)
        properties.ResponseTopic = self.reply_topic
        properties.CorrelationData = correlation
        properties.ContentType = "application/json"
        try:
            info = self.client.publish(self.batch_topic, payload, qos=1, properties=properties)
            if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                return Retry(f"publish failed: {mqtt.error_string(info.rc)}")
            try:
                async with asyncio.timeout(self.settings.ack_timeout_s):
                    status, body = await future
            except TimeoutError:
                return Retry(f"no ack within {self.settings.ack_timeout_s:.0f} s")
            except ConnectionError as exc:
                return Retry(f"connection lost while waiting for the ack ({exc})")
        finally:
            self._pending.pop(correlation, None)
        return _classify(status, body)


def _classify(status: str | None, body: bytes) -> Outcome:
    if status == "200":
        try:
            return Acked(decode_ack(body))
        except TelemetryError as exc:
            return Retry(f"unreadable ack: {exc}")
    try:
        code = int(status or "")
    except ValueError:
        return Retry(f"reply without a status ({status!r})")
    try:
        detail = str(json.loads(body).get("detail", ""))
    except (ValueError, AttributeError):
        detail = body[:200].decode("utf-8", "replace")
    if 400 <= code < 500 and code not in (408, 425, 429):
        return Rejected(code, detail)
    return Retry(f"cloud replied {code}: {detail}")
