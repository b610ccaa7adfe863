"""Faults under load (issue #13): PostgreSQL restarting, and the API worker SIGKILLed mid-request, while a gateway
posts batches and reporters submit tickets, each retrying as the real clients do. Afterwards every batch the gateway
sent is stored once (its readings once), every ticket a reporter submitted exists once, and each agent is told of
each ticket once.

The cloud is the real app under uvicorn in its own process (tests/edge/cloud_process.py) on a fresh PostgreSQL
database. PostgreSQL is shared with the rest of the suite, so its restart is played on this test's database only, as
the app sees one: every connection is cut, and new ones are refused for a while (ALLOW_CONNECTIONS false), then let
in again.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, func, select, text

from cloud.audit.service import Actor
from cloud.db import make_engine, make_sessionmaker
from cloud.notify.models import Notification
from cloud.telemetry import service as telemetry
from cloud.telemetry.models import IngestedBatch, Reading
from cloud.tickets.models import Ticket
from protocols.telemetry import Batch, encode_batch
from protocols.telemetry import Reading as WireReading
from tests.cloud.conftest import PG_ADMIN_URL
from tests.cloud.world import World
from tests.edge.cloud_process import CloudProcess
from tests.edge.cloud_server import free_port

BATCHES = 60
READINGS_PER_BATCH = 5
TICKETS = 16
T0 = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


@pytest.fixture
def backend() -> str:
    """PostgreSQL: the server whose restart the app must ride out."""
    return "postgresql"


@dataclass
class Load:
    """A gateway and reporters working against the cloud, retrying until each item is accepted."""

    base_url: str
    gateway_name: str
    gateway_token: str
    label: str
    device_id: int
    acked_batches: list[str] = field(default_factory=list)
    submitted: dict[str, int] = field(default_factory=dict)  # idempotency key -> ticket id
    retries: int = 0
    statuses: dict[str, int] = field(default_factory=dict)  # what the retried answers were (or the transport error)
    errors: list[str] = field(default_factory=list)

    def _until_accepted(self, send: Callable[[httpx.Client], httpx.Response], ok: set[int]) -> httpx.Response:
        deadline = time.monotonic() + 90
        with httpx.Client(base_url=self.base_url, timeout=10) as client:
            while True:
                try:
                    response = send(client)
                    if response.status_code in ok:
                        return response
                    if response.status_code < 500 and response.status_code != 429:
                        raise AssertionError(f"refused: {response.status_code} {response.text[:200]}")
                    seen = str(response.status_code)
                except httpx.TransportError as exc:  # the worker is gone or restarting: as a gateway does, try again
                    seen = type(exc).__name__
                self.statuses[seen] = self.statuses.get(seen, 0) + 1
                self.retries += 1
                assert time.monotonic() < deadline, "not accepted within 90 s"
                time.sleep(0.2)

    def gateway(self) -> None:
        headers = {"Authorization": f"Bearer {self.gateway_token}", "Content-Type": "application/json"}
        for sequence in range(BATCHES):
            readings = [WireReading(device_key="c702", metric="temp_c", value=37.0 + i / 10, unit="°C",
                                    observed_at=T0 + timedelta(seconds=sequence * READINGS_PER_BATCH + i))
                        for i in range(READINGS_PER_BATCH)]
            batch = Batch(gateway_id=self.gateway_name, stream_id="fault-stream", sequence=sequence, created_at=T0,
                          readings=readings, events=[])
            body = encode_batch(batch)
            self._until_accepted(lambda c, b=body: c.post("/api/v1/ingest", content=b, headers=headers), {200})
            self.acked_batches.append(batch.idempotency_key)

    def reporters(self) -> None:
        for n in range(TICKETS):
            key = uuid.uuid4().hex
            body = {"device_id": self.device_id, "qr_code": self.label, "description": f"第{n}号：反应盘温度报警",
                    "urgency": "high", "reporter_name": "陈老师", "reporter_phone": "13800001111"}
            response = self._until_accepted(
                lambda c, b=body, k=key: c.post("/api/v1/tickets", json=b, headers={"Idempotency-Key": k}),
                {200, 201})
            self.submitted[key] = response.json()["ticket"]["id"]
            time.sleep(0.05)

    def run(self) -> list[threading.Thread]:
        threads = [threading.Thread(target=self._guard(work), daemon=True) for work in (self.gateway, self.reporters)]
        for thread in threads:
            thread.start()
        return threads

    def _guard(self, work: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                work()
            except BaseException as exc:  # noqa: BLE001 - reported by the test
                self.errors.append(f"{work.__name__}: {exc!r}")
        return run


@pytest.fixture
def cloud(database: tuple[str, World], tmp_path: Path) -> Iterator[tuple[CloudProcess, Load, str]]:
    url, world = database
    engine = make_engine(url)
    with make_sessionmaker(engine)() as session:
        gateway, token = telemetry.create_gateway(session, name=f"gw-fault-{uuid.uuid4().hex[:6]}",
                                                  hospital_id=world.hospital_a, actor=Actor.system("fault-test"))
        session.commit()
        gateway_name = gateway.name
    engine.dispose()
    process = CloudProcess(url, tmp_path / "data", free_port(), tmp_path / "cloud.log")
    process.start()
    base_url = f"http://127.0.0.1:{process.port}"
    admin = {"Authorization": f"Bearer {world.tokens['admin']}"}
    device_id = world.devices_a[0]
    svg = httpx.get(f"{base_url}/api/v1/devices/{device_id}/qr.svg", headers=admin, timeout=10)
    assert svg.status_code == 200, svg.text
    label = svg.headers["Content-Disposition"].split('filename="')[1].rstrip('"').rsplit(".", 1)[0].rsplit("-", 1)[1]
    load = Load(base_url, gateway_name, token, label, device_id)
    try:
        yield process, load, url
    finally:
        process.stop()


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def check_nothing_lost_or_doubled(url: str, load: Load, world: World) -> None:
    assert load.errors == []
    assert len(load.acked_batches) == BATCHES and len(load.submitted) == TICKETS
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    try:
        with sessions() as session:
            stored = set(session.execute(select(IngestedBatch.idempotency_key)).scalars())
            assert stored == set(load.acked_batches)  # every acked batch, no other
            assert session.execute(select(func.count()).select_from(Reading)).scalar_one() == \
                BATCHES * READINGS_PER_BATCH
            tickets = session.execute(select(Ticket.id)).scalars().all()
            assert sorted(tickets) == sorted(set(load.submitted.values()))  # one ticket per submission
        agents = [world.users["agent"]]

        def everyone_told_once() -> bool:
            with sessions() as session:
                rows = session.execute(select(Notification.event_key, func.count()).where(
                    Notification.user_id.in_(agents), Notification.kind == "ticket.submitted")
                    .group_by(Notification.event_key)).all()
            return len(rows) == TICKETS and all(count == 1 for _, count in rows)

        wait_until(everyone_told_once, 60, "each agent is told of each ticket once (the outbox finishes the rest)")
    finally:
        engine.dispose()


def cut_database(url: str, down_s: float) -> None:
    """What a PostgreSQL restart is to the app: every connection cut, new ones refused for down_s, then back."""
    name = url.rsplit("/", 1)[1]
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
            conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE datname = :name AND pid <> pg_backend_pid()"), {"name": name})
        time.sleep(down_s)
        with admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
    finally:
        admin.dispose()


def test_a_postgresql_restart_under_load_loses_and_doubles_nothing(
        cloud: tuple[CloudProcess, Load, str], world: World) -> None:
    process, load, url = cloud
    threads = load.run()
    wait_until(lambda: len(load.acked_batches) >= BATCHES // 3, 60, "the load got going")
    cut_database(url, down_s=3)
    for thread in threads:
        thread.join(timeout=120)
    assert load.retries > 0  # the outage was felt, and said as what it is: unavailable, try again
    assert set(load.statuses) == {"503"}, load.statuses
    check_nothing_lost_or_doubled(url, load, world)
    assert process.proc is not None and process.proc.poll() is None  # and the worker is still serving


def test_an_api_worker_killed_mid_request_loses_and_doubles_nothing(
        cloud: tuple[CloudProcess, Load, str], world: World) -> None:
    process, load, url = cloud
    threads = load.run()
    for point in (BATCHES // 4, BATCHES // 2):
        wait_until(lambda p=point: len(load.acked_batches) >= p, 60, "the load got going")
        assert process.proc is not None
        process.proc.kill()  # SIGKILL: no shutdown, requests in flight are cut
        process.proc.wait(timeout=10)
        process.proc = None
        process.start()  # systemd's Restart=always
    for thread in threads:
        thread.join(timeout=120)
    assert load.retries > 0
    check_nothing_lost_or_doubled(url, load, world)
