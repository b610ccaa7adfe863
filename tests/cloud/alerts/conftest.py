"""Alert fixtures: the app with a recording channel, a mapped gateway, and streams sent through the ingest."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from cloud.audit.service import Actor
from cloud.config import Settings
from cloud.main import create_app
from cloud.notify.channels import RecordingChannel
from cloud.telemetry import service as telemetry
from protocols.telemetry import encode_batch
from tests.cloud.telemetry.conftest import T0, GatewayInfo, add_gateway, make_batch
from tests.cloud.world import World

STEP_S = 10  # one reading every 10 s
LEARN = 400  # readings of normal behaviour before anything happens
BATCH = 100


def normal(n: int, seed: int, level: float = 37.0, noise: float = 0.05) -> list[float]:
    """Steady readings: a level with Gaussian noise."""
    rng = random.Random(seed)
    return [level + rng.gauss(0.0, noise) for _ in range(n)]


@pytest.fixture
def recording() -> RecordingChannel:
    """A channel that remembers what it was asked to deliver."""
    return RecordingChannel()


@pytest.fixture
def app(settings: Settings, recording: RecordingChannel):  # noqa: ANN201
    """The cloud app with the recording channel."""
    return create_app(settings, channels=[recording])


@dataclass
class Lab:
    """A gateway in hospital A whose keys 'c702' and 'e801' are mapped to the world's first two devices."""

    gateway: GatewayInfo
    devices: dict[str, int]
    sent: dict[tuple[str, str], int] = field(default_factory=dict)  # readings sent per (key, metric)
    sequence: int = 0

    def send(self, client: TestClient, values: Sequence[float], *, metric: str = "temp_c", key: str = "c702",
             unit: str | None = "°C", wait: bool = True) -> None:
        """Upload values as the stream's next readings (10 s apart), in batches through POST /api/v1/ingest.

        wait: return once the scorer has scored them too (the ingest itself only queues them).
        """
        start = self.sent.get((key, metric), 0)
        for offset in range(0, len(values), BATCH):
            chunk = values[offset:offset + BATCH]
            readings = [(key, metric, v, T0 + timedelta(seconds=STEP_S * (start + offset + i)))
                        for i, v in enumerate(chunk)]
            body = encode_batch(make_batch(self.gateway.name, self.sequence, readings=readings, events=[], unit=unit))
            self.sequence += 1
            response = client.post("/api/v1/ingest", content=body,
                                   headers={**self.gateway.headers, "Content-Type": "application/json"})
            assert response.status_code == 200, response.text
        self.sent[(key, metric)] = start + len(values)
        # The ingest only queues the readings; the scorer's own thread scores them.
        if wait:
            assert client.app.state.scorer.wait_idle(30), "the scorer did not catch up"  # type: ignore[attr-defined]


@pytest.fixture
def lab(db: Session, world: World) -> Lab:
    """A mapped gateway in hospital A."""
    gateway = add_gateway(db, world.hospital_a)
    devices = {"c702": world.devices_a[0], "e801": world.devices_a[2]}
    for key, device_id in devices.items():
        telemetry.map_device(db, gateway_id=gateway.id, device_key=key, device_id=device_id,
                             actor=Actor.system("test"))
    db.commit()
    return Lab(gateway=gateway, devices=devices)
