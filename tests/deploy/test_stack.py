"""A production-like stack from deploy/cloud, on this machine: Debian's nginx in front of 2 API workers and 1 scorer.

Everything comes from the deployment files: the database is made by roles.sql and migrate.sh (owner role, then the
application role's grants), the workers get medfix.env.example's settings (only the addresses of this machine's
services and the test's own names changed, as an administrator edits the copy in /etc/medfix) and are started as
the systemd units start them, and nginx runs the site rendered by render.py from the template. Then, through nginx
over https only: a sign-in, a ticket pushed to a live console (the WebSocket upgrade), an edge batch posted as a
gateway posts it, the body limit, static files; and the rows are read back from PostgreSQL, the readings scored by
the separate scoring process.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from sqlalchemy import create_engine, text

from cloud.alerts.partition import Keys
from cloud.audit.service import Actor
from cloud.db import make_engine, make_sessionmaker
from cloud.telemetry.service import create_gateway, map_device
from protocols.telemetry import Batch, Reading, decode_ack, encode_batch
from tests.cloud.world import PASSWORD, World, build_world
from tests.conftest import need, port_open
from tests.deploy.support import DEPLOY, ROOT, Child, Deployed, deployed_database, free_port, render_module, self_signed

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
SERVER_NAME = "localhost"
READINGS = 60


@pytest.fixture(scope="module")
def deployed() -> Iterator[Deployed]:
    need(NGINX is not None, "Debian's nginx (make test installs it)")
    need(port_open("127.0.0.1", 6379), "Redis on 127.0.0.1:6379")
    need(port_open("127.0.0.1", 1883), "Mosquitto on 127.0.0.1:1883")
    with deployed_database() as database:
        yield database


class Stack:
    """The running stack's addresses and what the test needs to talk to it."""

    def __init__(self, tmp: Path, deployed: Deployed) -> None:
        self.tmp = tmp
        self.deployed = deployed
        self.https, self.http = free_port(), free_port()
        self.api_ports = [free_port(), free_port()]
        self.scorer_metrics = free_port()
        self.public_url = f"https://{SERVER_NAME}:{self.https}"
        self.prefix = f"medfix:deploytest:{uuid.uuid4().hex[:8]}"
        self.children: list[Child] = []
        self.world = World()
        self.gateway = ""
        self.gateway_token = ""
        self.device_id = 0
        self.cert = Path()
        self.settings: dict[str, str] = {}

    def environment(self) -> dict[str, str]:
        """medfix.env.example as an administrator fills it in for this machine."""
        render = render_module()
        values = render.read_env_file(DEPLOY / "medfix.env.example")
        cert, key = self_signed(self.tmp, SERVER_NAME)
        self.cert = cert
        values.update({
            "MEDFIX_DATA_DIR": str(self.tmp / "data"),
            "MEDFIX_DATABASE_URL": self.deployed.app_url,  # the application role; trust auth needs no password
            "MEDFIX_PUBLIC_URL": self.public_url,
            "MEDFIX_SECRET_KEY": uuid.uuid4().hex * 2,
            # This machine's broker has no accounts; topics and share group of this test alone.
            "MEDFIX_MQTT_URL": "mqtt://127.0.0.1:1883",
            "MEDFIX_MQTT_TOPIC_ROOT": f"medfix-deploytest-{uuid.uuid4().hex[:8]}/v1",
            "MEDFIX_MQTT_SHARE_GROUP": f"deploytest-{uuid.uuid4().hex[:8]}",
            "MEDFIX_SCORING_KEY_PREFIX": self.prefix,
            "DEPLOY_SERVER_NAME": SERVER_NAME,
            "DEPLOY_TLS_CERT": str(cert),
            "DEPLOY_TLS_KEY": str(key),
            "DEPLOY_HTTP_PORT": str(self.http),
            "DEPLOY_HTTPS_PORT": str(self.https),
            "DEPLOY_API_PORTS": " ".join(str(p) for p in self.api_ports),
            "DEPLOY_APP_DIR": str(ROOT),
        })
        for name in ("MEDFIX_REDIS_URL", "MEDFIX_SCORING_PARTITIONS", "MEDFIX_SCORING_WORKERS", "FORWARDED_ALLOW_IPS"):
            assert name in values, f"medfix.env.example lost {name}"
        (self.tmp / "medfix.env").write_text("".join(f"{k}={v!r}\n" if " " in v else f"{k}={v}\n"
                                                     for k, v in values.items()))
        self.settings = values
        return values

    def seed(self) -> None:
        """The world, a gateway and its device mapping, written through the application role."""
        engine = make_engine(self.deployed.app_url)
        with make_sessionmaker(engine)() as session:
            self.world = build_world(session)
            gateway, self.gateway_token = create_gateway(session, name="lab-gw-01", hospital_id=self.world.hospital_a,
                                                         actor=Actor.system("deploy-test"))
            self.gateway = gateway.name
            self.device_id = self.world.devices_a[0]
            map_device(session, gateway_id=gateway.id, device_key="c702", device_id=self.device_id,
                       actor=Actor.system("deploy-test"))
            session.commit()
        engine.dispose()

    def nginx_config(self) -> Path:
        """The rendered site inside a minimal main configuration of this test's own (paths, pid, logs in tmp)."""
        site = self.tmp / "medfix.conf"
        with site.open("w") as out:
            done = subprocess.run(
                [sys.executable, str(DEPLOY / "render.py"), str(DEPLOY / "nginx" / "medfix.conf.template"),
                 str(self.tmp / "medfix.env")], stdout=out, stderr=subprocess.PIPE, text=True)
        assert done.returncode == 0, done.stderr
        main = self.tmp / "nginx.conf"
        # As root the workers would drop to nobody, who cannot read the test's temporary folder.
        user = "user root;\n" if os.geteuid() == 0 else ""
        main.write_text(
            f"{user}worker_processes 1;\ndaemon off;\npid {self.tmp}/nginx.pid;\n"
            f"error_log {self.tmp}/nginx-error.log;\n"
            "events { worker_connections 256; }\n"
            "http {\n  include /etc/nginx/mime.types;\n  default_type application/octet-stream;\n"
            f"  access_log {self.tmp}/nginx-access.log;\n"
            + "".join(f"  {kind}_temp_path {self.tmp}/{kind};\n"
                      for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
            + f"  include {site};\n}}\n")
        return main

    def start(self) -> None:
        values = self.environment()
        self.seed()
        main = self.nginx_config()
        check = subprocess.run([NGINX, "-t", "-c", str(main), "-p", str(self.tmp)],
                                             capture_output=True, text=True)
        assert check.returncode == 0, f"nginx -t refused the rendered site:\n{check.stderr}"
        # As the units run them: the environment file's settings, `medfix cloud serve --port %i --workers 1`,
        # `medfix cloud score --workers 1 --metrics-port %i`.
        env = {**os.environ, **values, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
        medfix = [sys.executable, "-m", "medfix.cli", "cloud"]
        for port in self.api_ports:
            self.children.append(Child(f"API worker :{port}", [*medfix, "serve", "--port", str(port), "--workers", "1"],
                                       self.tmp / f"api-{port}.log", env))
        self.children.append(Child("scorer", [*medfix, "score", "--workers", "1", "--metrics-port",
                                              str(self.scorer_metrics)], self.tmp / "score.log", env))
        self.children.append(Child("nginx", [NGINX, "-c", str(main), "-p", str(self.tmp)], self.tmp / "nginx.out"))
        for child, port in zip(self.children, self.api_ports, strict=False):
            child.wait_port(port, timeout=60)
        self.children[-1].wait_port(self.https, timeout=20)

    def stop(self) -> dict[str, int | None]:
        return {child.name: child.stop() for child in reversed(self.children)}

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.public_url, verify=self.ssl_context(), timeout=20)

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.cert))


@pytest.fixture(scope="module")
def stack(deployed: Deployed, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    stack = Stack(tmp_path_factory.mktemp("stack"), deployed)
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()
        import redis

        client = redis.Redis.from_url(stack.settings.get("MEDFIX_REDIS_URL", "redis://127.0.0.1:6379/0"))
        for key in client.scan_iter(f"{stack.prefix}:*"):
            client.delete(key)
        client.close()


def test_plain_http_redirects_to_https_and_https_carries_hsts_once(stack: Stack) -> None:
    response = httpx.get(f"http://{SERVER_NAME}:{stack.http}/readyz?x=1", follow_redirects=False)
    assert response.status_code == 301
    assert response.headers["location"] == f"{stack.public_url}/readyz?x=1"
    with stack.client() as client:
        ready = client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["database"] == "ok"
        assert ready.headers.get_list("strict-transport-security") == ["max-age=31536000"]
        assert ready.headers["x-content-type-options"] == "nosniff"  # the app's own headers pass through


def test_nginx_serves_the_static_files_and_the_front_end_packages(stack: Stack) -> None:
    with stack.client() as client:
        favicon = client.get("/static/favicon.svg")
        assert favicon.status_code == 200
        assert favicon.content == (ROOT / "cloud" / "web" / "static" / "favicon.svg").read_bytes()
        assert "expires" in favicon.headers  # nginx's, not the app's StaticFiles
        if (ROOT / "node_modules" / "htmx.org" / "dist").is_dir():
            assert client.get("/vendor/htmx/htmx.min.js").status_code == 200


def test_a_ticket_submitted_through_nginx_reaches_a_console_over_the_websocket(stack: Stack) -> None:
    with stack.client() as client:
        signed_in = client.post("/api/v1/auth/token", data={"username": "agent", "password": PASSWORD})
        assert signed_in.status_code == 200, signed_in.text
        token = signed_in.json()["access_token"]

    async def scenario() -> tuple[dict[str, Any], int]:
        # A browser's handshake: wss through nginx, the page's origin (public_url), the bearer token.
        async with websockets.connect(f"wss://{SERVER_NAME}:{stack.https}/ws/console", ssl=stack.ssl_context(),
                                      origin=stack.public_url,  # type: ignore[arg-type]
                                      additional_headers={"Authorization": f"Bearer {token}"}) as ws:
            hello = json.loads(await asyncio.wait_for(ws.recv(), timeout=10))
            assert hello["type"] == "hello"
            async with httpx.AsyncClient(base_url=stack.public_url, verify=stack.ssl_context(), timeout=20) as http:
                # Two submits: with least_conn over 2 workers at least one lands on the worker without the
                # socket, so the push crosses workers through Redis.
                numbers = []
                for n in range(2):
                    ticket = {"device_id": stack.device_id, "description": f"部署测试 {n}：试剂针报警"}
                    response = await http.post(
                        "/api/v1/tickets", json=ticket,
                        headers={"Idempotency-Key": uuid.uuid4().hex, "Authorization": f"Bearer {token}"})
                    assert response.status_code == 201, response.text
                    numbers.append(response.json()["ticket"]["number"])
            heard: set[str] = set()
            deadline = time.monotonic() + 15
            while heard != set(numbers):
                left = deadline - time.monotonic()
                assert left > 0, f"the console heard {heard} of {numbers}"
                frame = json.loads(await asyncio.wait_for(ws.recv(), timeout=left))
                for message in frame if isinstance(frame, list) else [frame]:
                    if message.get("type") == "ticket" and message.get("event") == "ticket.submitted":
                        heard.add(message.get("number"))
            return hello, len(numbers)

    _hello, submitted = asyncio.run(scenario())
    engine = create_engine(stack.deployed.owner_url)
    with engine.connect() as conn:
        tickets = conn.execute(text("SELECT count(*) FROM ticket WHERE device_id = :d"), {"d": stack.device_id})
        assert tickets.scalar_one() == submitted
        audited = conn.execute(text("SELECT count(*) FROM audit_log WHERE entity = 'ticket'")).scalar_one()
        assert audited >= submitted
    engine.dispose()


def test_an_edge_batch_posted_through_nginx_is_stored_once_and_scored_apart(stack: Stack) -> None:
    start = datetime.now(UTC) - timedelta(minutes=5)
    batch = Batch(gateway_id=stack.gateway, stream_id="s1", sequence=0, created_at=datetime.now(UTC),
                  readings=[Reading(device_key="c702", metric="reaction_disk_temp", value=37.0 + (i % 5) / 100,
                                    observed_at=start + timedelta(seconds=i)) for i in range(READINGS)])
    body = encode_batch(batch, compress=True)
    headers = {"Authorization": f"Bearer {stack.gateway_token}", "Content-Type": "application/json",
               "Content-Encoding": "gzip"}
    with stack.client() as client:
        first = client.post("/api/v1/ingest", content=body, headers=headers)
        assert first.status_code == 200, first.text
        ack = decode_ack(first.content)
        assert (ack.accepted_readings, ack.duplicate) == (READINGS, False)
        again = decode_ack(client.post("/api/v1/ingest", content=body, headers=headers).content)
        assert again.duplicate
        assert client.post("/api/v1/ingest", content=body, headers={**headers, "Authorization": "Bearer nope"}
                           ).status_code == 401
        # Over the ingest's 8 MiB: nginx's 9m stops it at the door.
        assert client.post("/api/v1/ingest", content=b"x" * (10 * 1024 * 1024), headers=headers).status_code == 413
        # Any other route takes 1 MiB: the app's own 413 (nginx lets 2m through to it).
        too_large = client.post("/api/v1/auth/token", content=b"x" * (1536 * 1024),
                                headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert too_large.status_code == 413 and too_large.json()["code"] == "body_too_large"

    engine = create_engine(stack.deployed.owner_url)
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT count(*) FROM reading WHERE device_id = :d"), {"d": stack.device_id})
        assert stored.scalar_one() == READINGS

    # The API workers only handed the readings over (MEDFIX_SCORING_WORKERS=0); the scorer reads them from its
    # partition's stream, and on SIGTERM (systemctl stop) checkpoints the detector and leaves cleanly.
    import redis

    client = redis.Redis.from_url(stack.settings["MEDFIX_REDIS_URL"])
    keys, partitions = Keys(stack.prefix), int(stack.settings["MEDFIX_SCORING_PARTITIONS"])
    stream = keys.stream(stack.device_id % partitions)

    def read_by_scorer() -> bool:
        try:
            return int(client.xlen(stream)) > 0 and int(client.xpending(stream, "scorers")["pending"]) == int(
                client.xlen(stream))
        except redis.ResponseError:  # the group appears once the scorer holds the lease
            return False

    scorer = next(c for c in stack.children if c.name == "scorer")
    scorer.wait_for("read of the handed-over readings", read_by_scorer, timeout=30)
    client.close()
    # What Prometheus sees of the scorer: its own port counts the readings it scored.
    scorer.wait_for("the scored readings on its metrics port",
                    lambda: scraped(f"http://127.0.0.1:{stack.scorer_metrics}/metrics",
                                    "medfix_scored_readings_total") >= READINGS, timeout=30)
    assert scorer.stop() == 0, scorer.tail()
    assert "checkpointed and handed the partitions back" in scorer.log.read_text()
    with engine.connect() as conn:
        points = conn.execute(text("SELECT points FROM detector_state WHERE device_id = :d AND metric = :m"),
                              {"d": stack.device_id, "m": "reaction_disk_temp"}).scalar()
        assert points == READINGS
    engine.dispose()


def scraped(url: str, name: str, **labels: str) -> float:
    """The sum of a metric's samples with these labels at url (0 when none)."""
    from prometheus_client.parser import text_string_to_metric_families

    body = httpx.get(url, timeout=10).text
    return sum(sample.value for family in text_string_to_metric_families(body) for sample in family.samples
               if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()))


def test_metrics_are_scraped_from_each_worker_and_never_served_through_nginx(stack: Stack) -> None:
    with stack.client() as client:
        assert client.get("/healthz").status_code == 200
        assert client.get("/metrics").status_code == 404  # nginx: not on the public site
    # Each worker counts what it answered, by route template; together they saw the request above.
    answered = sum(scraped(f"http://127.0.0.1:{port}/metrics", "medfix_http_requests_total", route="/healthz",
                           status="200") for port in stack.api_ports)
    assert answered >= 1


def test_every_process_stops_cleanly_as_systemd_stops_it(stack: Stack) -> None:
    codes = stack.stop()
    # systemd counts exit 0 and death by its SIGTERM as a clean stop; uvicorn re-raises the SIGTERM it caught once
    # its graceful shutdown (the app's lifespan: checkpoints, outbox, partitions) is complete.
    clean = (0, -signal.SIGTERM)
    assert all(code in clean for code in codes.values()), (codes, {c.name: c.tail(15) for c in stack.children})
    for child in stack.children:
        if child.name.startswith("API worker"):
            assert "Application shutdown complete." in child.log.read_text(), child.tail()
