"""Issue #14 (3): the same readings give the same alerts whatever the batch boundaries, the arrival order (within
the lateness tolerance), the number of scoring workers and a worker dying and restarting in the middle.

Sixteen seeded hours of three devices x two metrics, one reading a minute, with three faults (a step that recovers, a
burst of spikes, a slow ramp), goes through the real ingest (POST /api/v1/ingest) into a fresh database per
delivery; the alert lists must be equal, field by field.
"""

from __future__ import annotations

import random
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from cloud.alerts.models import Alert
from cloud.alerts.partition import ScoringWorker
from cloud.alerts.scoring import Scorer
from cloud.audit.service import Actor
from cloud.config import Settings
from cloud.main import create_app
from cloud.telemetry import service as telemetry
from protocols.telemetry import Batch, encode_batch
from protocols.telemetry import Reading as WireReading
from tests.cloud.telemetry.conftest import T0, GatewayInfo, add_gateway
from tests.cloud.world import World
from tests.conftest import need, port_open

STEPS = 16 * 60  # sixteen hours, one reading a minute
STEP_S = 60
LATENESS_S = 900  # the tolerance these deliveries rely on: a batch at most 15 minutes behind its streams
METRICS = {"temp_c": "°C", "pressure_kpa": "kPa"}
PARTITIONS = 2
LEASE_MS = 1000

Reading = tuple[str, str, float, int]  # device key, metric, value, step
Alerts = list[tuple[Any, ...]]


@pytest.fixture
def backend() -> str:
    """One backend: the rules under test live above the database (the scoring runs on both elsewhere)."""
    return "sqlite"


def streams() -> list[Reading]:
    """Every reading in reading-time order, with the faults injected."""
    rng = random.Random(14)
    out: list[Reading] = []
    for step in range(STEPS):
        for key in ("d0", "d1", "d2"):
            temp = 37.0 + rng.gauss(0.0, 0.05)
            pressure = 120.0 + rng.gauss(0.0, 0.5)
            if key == "d0" and 400 <= step < 480:
                temp += 1.0  # a step of 20 sigmas for two hours, then back
            if key == "d1" and step in (600, 601, 602, 603):
                pressure += 9.0  # a burst of spikes
            if key == "d2" and step >= 700:
                temp += 0.004 * (step - 700)  # a slow ramp away
            out.append((key, "temp_c", round(temp, 3), step))
            out.append((key, "pressure_kpa", round(pressure, 2), step))
    return out


def chunks(readings: list[Reading], minutes: int) -> list[list[Reading]]:
    """The readings in batches of `minutes` minutes of reading time each."""
    out: dict[int, list[Reading]] = {}
    for r in readings:
        out.setdefault(r[3] // minutes, []).append(r)
    return [out[k] for k in sorted(out)]


def late(batches: list[list[Reading]]) -> list[list[Reading]]:
    """Every fifth batch held back and delivered after the next two (of 2-minute batches: 4 to 5 minutes behind
    its streams' newest reading, within the tolerance)."""
    out = list(batches)
    for i in range(5, len(out) - 2, 5):
        out[i], out[i + 1], out[i + 2] = out[i + 1], out[i + 2], out[i]
    return out


class Site:
    """A fresh database with the world, a gateway whose keys d0..d2 are hospital A's first three devices."""

    def __init__(self, template: Path, world: World, folder: Path, **extra: Any) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "medfix.db"
        shutil.copyfile(template, path)
        self.settings = Settings(database_url=f"sqlite:///{path}", data_dir=folder / "data", sweep_interval_s=0,
                                 retention_interval_s=0, notify_inline=True, outbox_interval_s=0,
                                 token_purge_interval_s=0, alert_checkpoint_interval_s=0, alert_learning_hours=0,
                                 scoring_lateness_s=LATENESS_S, _env_file=None, **extra)  # type: ignore[call-arg]
        self.app = create_app(self.settings)
        with self.app.state.sessionmaker() as db:
            self.gateway: GatewayInfo = add_gateway(db, world.hospital_a)
            for i, device_id in enumerate(world.devices_a[:3]):
                telemetry.map_device(db, gateway_id=self.gateway.id, device_key=f"d{i}", device_id=device_id,
                                     actor=Actor.system("test"))
            db.commit()
        self.sequence = 0

    def send(self, client: TestClient, readings: list[Reading]) -> None:
        """One batch through the ingest, as the edge sends it."""
        batch = Batch(gateway_id=self.gateway.name, stream_id="s", sequence=self.sequence, created_at=T0,
                      readings=[WireReading(device_key=k, metric=m, value=v, unit=METRICS[m],
                                            observed_at=T0 + timedelta(seconds=STEP_S * step))
                                for k, m, v, step in readings], events=[])
        self.sequence += 1
        response = client.post("/api/v1/ingest", content=encode_batch(batch),
                               headers={**self.gateway.headers, "Content-Type": "application/json"})
        assert response.status_code == 200, response.text

    def alerts(self) -> Alerts:
        """Every alert as the comparison sees it: stream, reading times, outcome, scores."""
        with self.app.state.sessionmaker() as db:
            rows = db.execute(select(Alert).order_by(Alert.device_id, Alert.metric, Alert.started_at)).scalars()
            return [(a.device_id, a.metric, a.started_at, a.last_abnormal_at, a.status.value, a.resolution,
                     a.severity.value, round(a.peak_score, 9), round(a.last_score, 9)) for a in rows]


Deliver = Callable[[list[list[Reading]]], Alerts]


def delivered(template: tuple[Path, World], folder: Path, batches: list[list[Reading]]) -> Alerts:
    """Send batches, in the order given, to a fresh site scoring in-process; its alerts once all is scored."""
    site = Site(*template, folder)
    with TestClient(site.app) as client:
        for batch in batches:
            site.send(client, batch)
    return site.alerts()  # the lifespan's end scored what was still queued


@pytest.fixture
def deliver(sqlite_template: tuple[Path, World], tmp_path: Path) -> Deliver:
    """delivered() into a fresh site of this test."""
    return lambda batches: delivered(sqlite_template, tmp_path / uuid.uuid4().hex, batches)


@pytest.fixture(scope="module")
def reference(sqlite_template: tuple[Path, World], tmp_path_factory: pytest.TempPathFactory) -> Alerts:
    """All the readings as one batch: the alerts every other delivery must reproduce."""
    alerts = delivered(sqlite_template, tmp_path_factory.mktemp("reference"), [streams()])
    assert len(alerts) >= 3, alerts
    assert {(a[1], a[4]) for a in alerts} >= {("temp_c", "resolved"), ("pressure_kpa", "resolved")}, alerts
    return alerts


def test_one_minute_batches_give_the_alerts_of_one_batch(deliver: Deliver, reference: Alerts) -> None:
    assert deliver(chunks(streams(), 1)) == reference


def test_batches_arriving_late_within_the_tolerance_give_the_same_alerts(deliver: Deliver,
                                                                         reference: Alerts) -> None:
    batches = late(chunks(streams(), 2))
    assert batches != chunks(streams(), 2)
    assert deliver(batches) == reference


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A Redis key prefix of this test alone, deleted afterwards."""
    need(port_open("127.0.0.1", 6379), "Redis on 127.0.0.1:6379")
    import redis

    client = redis.Redis(host="127.0.0.1", port=6379)
    name = f"test:determinism:{uuid.uuid4().hex}"
    yield name
    keys = list(client.scan_iter(match=f"{name}:*"))
    if keys:
        client.delete(*keys)
    client.close()


def test_two_partitioned_workers_with_one_dying_and_restarting_give_the_same_alerts(
        sqlite_template: tuple[Path, World], tmp_path: Path, redis_prefix: str, reference: Alerts) -> None:
    import redis

    site = Site(*sqlite_template, tmp_path / "partitioned", redis_url="redis://127.0.0.1:6379/0",
                scoring_partitions=PARTITIONS, scoring_workers=0, scoring_key_prefix=redis_prefix)

    def worker(name: str) -> ScoringWorker:
        return ScoringWorker(Scorer(site.app.state.sessionmaker, site.settings),
                             redis.Redis(host="127.0.0.1", port=6379), prefix=redis_prefix, partitions=PARTITIONS,
                             lease_ms=LEASE_MS, checkpoint_s=3600, worker_id=name)

    a, b = worker("a"), worker("b")
    batches = late(chunks(streams(), 2))
    with TestClient(site.app) as client:  # the ingest only hands the readings over (XADD); a and b score
        for i, batch in enumerate(batches):
            site.send(client, batch)
            if i == len(batches) // 3:
                a.checkpoint()
                b.checkpoint()
            if i < len(batches) // 2:
                for w in (a, b):
                    w.tick()
            elif i == len(batches) // 2:  # a dies: its scoring since the checkpoint is never written
                time.sleep(LEASE_MS * 1.5 / 1000)
                b.tick()
                assert set(b.held) == set(range(PARTITIONS))
                a = worker("a-restarted")  # back: b hands one partition over (checkpoint, then release)
                for _ in range(3):
                    b.tick()
                    a.tick()
                assert a.held and b.held
            else:
                for w in (a, b):
                    w.tick()
        for _ in range(3):
            for w in (a, b):
                w.tick()
        a.stop()
        b.stop()
    assert site.alerts() == reference
