"""A restored stream first replays the stored readings after its checkpoint: a crash between checkpoints loses no
learning, and readings stored but never scored still reach the detector and the alert rules."""

from __future__ import annotations

import pickle
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.alerts import checkpoint
from cloud.alerts.models import AlertStatus, DetectorState
from cloud.config import Settings
from cloud.main import create_app
from models.anomaly import production_detector
from tests.cloud.alerts.conftest import LEARN, STEP_S, Lab, normal
from tests.cloud.alerts.test_predictive import alerts, drift, predictive_tickets
from tests.cloud.telemetry.conftest import T0


def reference(values: list[float]) -> Any:
    """The detector that scored values as one uninterrupted stream (in °C, so never a counter; resting after a hit
    at the service's alert threshold, as the scorer sets it)."""
    detector = production_detector()
    detector.counters = False
    detector.threshold = Settings.model_fields["alert_threshold"].default
    for i, v in enumerate(values):
        detector.score_learn_one(v, (T0 + timedelta(seconds=STEP_S * i)).timestamp())
    return detector


def crash(app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The process dies: whatever it scored since its last checkpoint is never written."""
    monkeypatch.setattr(app.state.scorer, "checkpoint", lambda *_a, **_k: 0)


def checkpointed_points(db: Session) -> int:
    db.rollback()
    return db.execute(select(DetectorState.points)).scalar_one()


def test_a_scorer_killed_between_checkpoints_is_continued_as_if_it_had_never_stopped(
        settings: Settings, db: Session, lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    before, lost, after = normal(200, 1), normal(150, 2), normal(50, 3)
    first = create_app(settings)
    with TestClient(first) as client:
        lab.send(client, before)
        first.state.scorer.checkpoint()
        lab.send(client, lost)  # scored in memory only
        crash(first, monkeypatch)
    assert checkpointed_points(db) == 200

    second = create_app(settings)
    with TestClient(second) as client:
        lab.send(client, after)
        stream = second.state.scorer.streams[(lab.devices["c702"], "temp_c")]
        assert second.state.scorer.replayed == 150
    uninterrupted = reference(before + lost + after)
    assert stream.points == 400
    assert stream.last_t == (T0 + timedelta(seconds=STEP_S * 399)).timestamp()
    assert pickle.dumps(stream.detector) == pickle.dumps(uninterrupted)
    db.expire_all()
    # The checkpoint holds the detector with the stream's alert tracker (cloud/alerts/scoring.py Saved).
    saved = pickle.loads(checkpoint.payload_of(db.execute(select(DetectorState.state)).scalar_one()))  # noqa: S301
    assert pickle.dumps(saved.detector) == pickle.dumps(uninterrupted)


def test_the_replay_is_bounded_to_the_newest_readings(settings: Settings, db: Session, lab: Lab,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    first = create_app(settings)
    with TestClient(first) as client:
        lab.send(client, normal(200, 1))
        first.state.scorer.checkpoint()
        lab.send(client, normal(300, 2))
        crash(first, monkeypatch)
    second = create_app(settings.model_copy(update={"scoring_replay_max_points": 120}))
    with TestClient(second) as client:
        lab.send(client, normal(10, 3))
        stream = second.state.scorer.streams[(lab.devices["c702"], "temp_c")]
    assert second.state.scorer.replayed == 120
    assert stream.points == 200 + 120 + 10


def test_readings_stored_but_never_scored_still_open_their_alert(settings: Settings, db: Session,
                                                                 lab: Lab) -> None:
    with TestClient(create_app(settings)) as client:
        lab.send(client, normal(LEARN, 1))  # learned and checkpointed on shutdown
    # The drift is stored while nothing scores it (the scorer died before it, or the hand-over to it failed).
    with TestClient(create_app(settings.model_copy(update={"alert_scoring": False}))) as client:
        lab.send(client, drift(), wait=False)
    assert alerts(db) == []
    with TestClient(create_app(settings)) as client:
        lab.send(client, drift(seed=5, n=1))
    [alert] = alerts(db)
    assert alert.status == AlertStatus.open
    assert alert.started_at == T0 + timedelta(seconds=STEP_S * LEARN)  # the first drifted reading
    assert len(predictive_tickets(db)) == 1
