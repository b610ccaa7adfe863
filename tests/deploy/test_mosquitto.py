"""deploy/cloud/mosquitto on Debian's Mosquitto: TLS and a password per gateway, each confined to its own topics.

The broker runs the deployment's medfix.conf and medfix.acl with only the paths and ports of this test changed (a
private broker on free ports; the machine's own broker is not touched); accounts are made by add-gateway.sh.
"""

from __future__ import annotations

import os
import queue
import shutil
import ssl
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from tests.conftest import need
from tests.deploy.support import DEPLOY, Child, free_port, run, self_signed

MOSQUITTO = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None)
CLOUD_PASSWORD = uuid.uuid4().hex


@dataclass
class Broker:
    tmp: Path
    local_port: int
    tls_port: int
    cert: Path
    env: dict[str, str]
    passwords: dict[str, str]

    def add_gateway(self, gateway: str) -> str:
        out = run([str(DEPLOY / "mosquitto" / "add-gateway.sh"), gateway], env=self.env)
        password = out.strip().rsplit(" ", 1)[-1]
        self.passwords[gateway] = password
        return password


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    need(MOSQUITTO is not None and shutil.which("mosquitto_passwd") is not None, "Debian's mosquitto")
    cert, key = self_signed(tmp_path, "localhost")
    local_port, tls_port = free_port(), free_port()
    passwd, acl, pid = tmp_path / "medfix.passwd", tmp_path / "medfix.acl", tmp_path / "mosquitto.pid"
    shutil.copyfile(DEPLOY / "mosquitto" / "medfix.acl", acl)
    # The cloud's account, as docs/deploy.md makes it.
    subprocess.run(["mosquitto_passwd", "-c", "-b", str(passwd), "medfix-cloud", CLOUD_PASSWORD], check=True,
                   capture_output=True)
    config = (DEPLOY / "mosquitto" / "medfix.conf").read_text()
    for old, new in [("/etc/mosquitto/medfix.passwd", str(passwd)), ("/etc/mosquitto/medfix.acl", str(acl)),
                     ("/etc/mosquitto/certs/fullchain.pem", str(cert)), ("/etc/mosquitto/certs/privkey.pem", str(key)),
                     ("listener 1883 127.0.0.1", f"listener {local_port} 127.0.0.1"),
                     ("listener 8883", f"listener {tls_port}")]:
        assert old in config, f"medfix.conf no longer has {old!r}"
        config = config.replace(old, new)
    # What Debian's mosquitto.conf adds around conf.d; as root the broker would switch to the mosquitto user, who
    # cannot read the test's temporary folder.
    config += f"pid_file {pid}\npersistence_location {tmp_path}/\nlog_dest stdout\n"
    if os.geteuid() == 0:
        config += "user root\n"
    (tmp_path / "mosquitto.conf").write_text(config)
    env = {**os.environ, "MOSQUITTO_PASSWD": str(passwd), "MOSQUITTO_PID_FILE": str(pid)}
    child = Child("mosquitto", [MOSQUITTO, "-c", str(tmp_path / "mosquitto.conf")], tmp_path / "mosquitto.log")
    try:
        child.wait_port(tls_port, timeout=15)
        child.wait_for("pid file", lambda: pid.exists() and pid.read_text().strip() != "", timeout=5)
        yield Broker(tmp_path, local_port, tls_port, cert, env, {})
    finally:
        child.stop()


class Client:
    """A paho MQTT v5 client that records what it hears and what the broker answers."""

    def __init__(self, broker: Broker, username: str | None, password: str | None, *, tls: bool = True) -> None:
        self.messages: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self.connected: queue.Queue[bool] = queue.Queue()
        self.granted: queue.Queue[list[int]] = queue.Queue()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"t-{uuid.uuid4().hex[:8]}",
                                  protocol=MQTTProtocolVersion.MQTTv5)
        if username is not None:
            self.client.username_pw_set(username, password)
        if tls:
            self.client.tls_set_context(ssl.create_default_context(cafile=str(broker.cert)))
        self.client.on_connect = lambda _c, _u, _f, rc, _p: self.connected.put(not rc.is_failure)
        self.client.on_message = lambda _c, _u, m: self.messages.put((m.topic, m.payload))
        self.client.on_subscribe = lambda _c, _u, _m, codes, _p: self.granted.put([int(c.value) for c in codes])
        self.client.connect_async("localhost", broker.tls_port if tls else broker.local_port, keepalive=10)
        self.client.loop_start()

    def accepted(self) -> bool:
        try:
            return self.connected.get(timeout=10)
        except queue.Empty:
            return False  # a refused TLS handshake or password can also end in a plain disconnect

    def subscribe(self, topic: str) -> int:
        self.client.subscribe(topic, qos=1)
        return self.granted.get(timeout=10)[0]

    def publish(self, topic: str, payload: bytes, **kwargs: object) -> None:
        self.client.publish(topic, payload, qos=1, **kwargs).wait_for_publish(10)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def heard(client: Client, fence: bytes) -> list[tuple[str, bytes]]:
    """Everything client received until the fence message arrives (sent last, after what must not arrive)."""
    got = []
    while True:
        topic, payload = client.messages.get(timeout=10)
        if payload == fence:
            return got
        got.append((topic, payload))


def test_gateways_reach_only_their_own_topics_and_nobody_connects_without_a_password(broker: Broker) -> None:
    password_a = broker.add_gateway("lab-gw-a")
    broker.add_gateway("lab-gw-b")
    anonymous = Client(broker, None, None)
    assert not anonymous.accepted(), "the broker let an anonymous client in"
    anonymous.close()
    wrong = Client(broker, "lab-gw-a", "not-the-password")
    assert not wrong.accepted()
    wrong.close()

    cloud = Client(broker, "medfix-cloud", CLOUD_PASSWORD, tls=False)  # the API workers, on loopback
    gw_a = Client(broker, "lab-gw-a", password_a)
    clients = [cloud, gw_a]
    try:
        assert cloud.accepted() and gw_a.accepted()
        # The cloud's subscriptions (cloud/telemetry/mqtt.py): batches shared between workers, status for every one.
        assert cloud.subscribe("$share/medfix-cloud/medfix/v1/gw/+/batch") == 1
        assert cloud.subscribe("medfix/v1/gw/+/status") == 1
        # A gateway may subscribe where it likes (mosquitto 2 grants or refuses with 0x87), but hears only its own.
        for foreign in ("medfix/v1/gw/lab-gw-b/ack", "medfix/v1/gw/+/batch", "medfix/v1/gw/#"):
            assert gw_a.subscribe(foreign) in (1, 0x87)
        reply = "medfix/v1/gw/lab-gw-a/replies/abc123"
        assert gw_a.subscribe(reply) == 1

        gw_a.publish("medfix/v1/gw/lab-gw-b/batch", b"posing as b")  # dropped by the ACL
        gw_a.publish("medfix/v1/gw/lab-gw-b/status", b"offline")  # dropped
        gw_a.publish("medfix/v1/gw/lab-gw-a/status", b"online", retain=True)
        gw_a.publish("medfix/v1/gw/lab-gw-a/batch", b"fence to the cloud")
        assert heard(cloud, b"fence to the cloud") == [("medfix/v1/gw/lab-gw-a/status", b"online")]

        properties = Properties(PacketTypes.PUBLISH)
        properties.CorrelationData = b"1"
        gw_b = Client(broker, "lab-gw-b", broker.passwords["lab-gw-b"])
        clients.append(gw_b)
        assert gw_b.accepted()
        gw_b.publish("medfix/v1/gw/lab-gw-b/batch", b"b's readings")  # reaches the cloud, never gateway a
        cloud.publish("medfix/v1/gw/lab-gw-b/ack", b"b's ack")  # gateway a listens there, and hears nothing
        cloud.publish(reply, b"fence to a", properties=properties)  # the cloud answers on a's reply topic
        assert heard(gw_a, b"fence to a") == []
        assert cloud.messages.get(timeout=10) == ("medfix/v1/gw/lab-gw-b/batch", b"b's readings")

        # A gateway added while the broker runs is in after the reload add-gateway.sh asks for.
        gw_c = Client(broker, "lab-gw-c", broker.add_gateway("lab-gw-c"))
        clients.append(gw_c)
        assert gw_c.accepted(), "add-gateway.sh's new account was not taken in by the running broker"
    finally:
        for client in clients:
            client.close()
