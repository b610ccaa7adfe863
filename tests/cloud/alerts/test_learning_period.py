"""A new stream's learning period (settings alert_learning_hours, a day by default) through the real ingest and
scorer: a fault inside it opens nothing, the same fault after it opens an alert, and a restart neither starts the
period again nor forgets it."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.alerts.models import ANY_METRIC, Alert, AlertPolicy
from cloud.config import Settings
from cloud.main import create_app
from cloud.notify.channels import RecordingChannel
from tests.cloud.alerts.conftest import LEARN, STEP_S, Lab, normal

HOURS = 2.0  # the period here: 720 readings at one every 10 s


@pytest.fixture
def app(settings: Settings, recording: RecordingChannel) -> FastAPI:
    return create_app(settings.model_copy(update={"alert_learning_hours": HOURS}), channels=[recording])


def alerts(db: Session, device_id: int) -> list[Alert]:
    db.expire_all()
    return list(db.execute(select(Alert).where(Alert.device_id == device_id).order_by(Alert.id)).scalars())


def test_a_fault_while_the_stream_learns_opens_nothing_and_the_same_fault_after_it_does(
        client: TestClient, lab: Lab, db: Session) -> None:
    device = lab.devices["c702"]
    lab.send(client, normal(LEARN, seed=1))
    lab.send(client, [45.0] * 20 + normal(280, seed=2))  # 20 sigma, inside the first two hours
    assert alerts(db, device) == []
    assert lab.sent[("c702", "temp_c")] * STEP_S < HOURS * 3600
    lab.send(client, normal(100, seed=3))  # past the two hours now
    assert lab.sent[("c702", "temp_c")] * STEP_S > HOURS * 3600
    # A fault it has not learnt (the first one was taken in as part of normal while it learnt).
    lab.send(client, [50.0] * 20)
    found = alerts(db, device)
    assert len(found) == 1 and found[0].metric == "temp_c"


def test_a_restart_keeps_where_the_learning_period_stands(settings: Settings, lab: Lab, db: Session,
                                                          recording: RecordingChannel) -> None:
    changed = settings.model_copy(update={"alert_learning_hours": HOURS})
    device = lab.devices["c702"]
    with TestClient(create_app(changed, channels=[recording])) as client:
        lab.send(client, normal(LEARN, seed=4))  # 67 minutes in; checkpointed at shutdown
    with TestClient(create_app(changed, channels=[recording])) as client:
        lab.send(client, [45.0] * 20)  # still inside the period that began before the restart
        assert alerts(db, device) == []
        lab.send(client, normal(400, seed=5) + [50.0] * 20)  # 2.3 hours after the first reading
        assert len(alerts(db, device)) == 1


def test_a_policy_gives_its_streams_a_learning_period_of_their_own(settings: Settings, lab: Lab, db: Session,
                                                                   recording: RecordingChannel) -> None:
    """The service's period is two hours; one device's policy says half an hour, so its fault after 67 minutes
    opens an alert, while the same fault on a device without a policy of its own opens nothing."""
    quick, other = lab.devices["c702"], lab.devices["e801"]
    db.add(AlertPolicy(metric=ANY_METRIC, device_id=quick, learning_hours=0.5))
    db.commit()
    with TestClient(create_app(settings.model_copy(update={"alert_learning_hours": HOURS}),
                               channels=[recording])) as client:
        readings = normal(LEARN, seed=6) + [45.0] * 20  # 67 minutes of normal, then 20 sigma
        lab.send(client, readings, key="c702")
        lab.send(client, readings, key="e801")
    assert [a.metric for a in alerts(db, quick)] == ["temp_c"]
    assert alerts(db, other) == []
