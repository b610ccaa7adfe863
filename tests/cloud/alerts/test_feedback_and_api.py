"""Checkpoints across a restart, false-alarm feedback, tenant isolation and the admin endpoints."""

from __future__ import annotations

import pickle
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.alerts import checkpoint
from cloud.alerts.models import Alert, AlertStatus, DetectorState
from cloud.auth.models import User
from cloud.config import Settings
from cloud.main import create_app
from models.anomaly import production_detector
from tests.cloud.alerts.conftest import LEARN, STEP_S, Lab, normal
from tests.cloud.alerts.test_predictive import alerts, drift
from tests.cloud.telemetry.conftest import T0
from tests.cloud.world import World


def test_restart_restores_detector_state_and_scores_continue_identically(
        settings: Settings, db: Session, lab: Lab) -> None:
    first, second = normal(300, 1), normal(200, 4)
    with TestClient(create_app(settings)) as client:
        lab.send(client, first)
    db.rollback()
    row = db.execute(select(DetectorState)).scalar_one()  # written on shutdown
    assert (row.device_id, row.metric, row.points) == (lab.devices["c702"], "temp_c", 300)
    restarted = create_app(settings)
    with TestClient(restarted) as client:
        lab.send(client, second)
        continued = restarted.state.scorer.streams[(lab.devices["c702"], "temp_c")]
    reference = production_detector()
    reference.counters = False  # as the scorer sets up a stream in °C (cloud/alerts/scoring.py MEASURED_UNITS)
    reference.threshold = settings.alert_threshold  # and rests it after a hit at the policy's threshold
    scores = [reference.score_learn_one(v, (T0 + timedelta(seconds=STEP_S * i)).timestamp())
              for i, v in enumerate(first + second)]
    assert continued.last_score == scores[-1]
    assert continued.points == 500
    db.rollback()
    db.expire_all()
    row = db.execute(select(DetectorState)).scalar_one()
    # The checkpoint holds the detector with the stream's alert tracker (cloud/alerts/scoring.py Saved).
    saved = pickle.loads(checkpoint.payload_of(row.state))  # noqa: S301
    assert pickle.dumps(saved.detector) == pickle.dumps(reference)


def test_resent_readings_are_not_learned_twice(client: TestClient, db: Session, lab: Lab) -> None:
    values = normal(200, 1)
    lab.send(client, values)
    lab.sent.clear()  # the edge re-sends the same samples in new batches
    lab.send(client, values)
    stream = client.app.state.scorer.streams[(lab.devices["c702"], "temp_c")]  # type: ignore[attr-defined]
    assert stream.points == 200


def _open_alert(client: TestClient, db: Session, lab: Lab) -> Alert:
    lab.send(client, normal(LEARN, 1))
    lab.send(client, drift())
    [alert] = alerts(db)
    return alert


def test_false_alarm_resolves_the_alert_and_raises_the_streams_threshold(
        client: TestClient, db: Session, lab: Lab, world: World) -> None:
    alert = _open_alert(client, db, lab)
    response = client.post(f"/api/v1/alerts/{alert.id}/false-alarm", json={"note": "reagent change, expected"},
                           headers=world.headers("engineer"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["alert"]["status"] == "resolved" and body["alert"]["false_alarm"] is True
    assert body["alert"]["resolution"] == "false_alarm"
    policy = body["policy"]
    assert (policy["device_id"], policy["metric"], policy["sensitivity"], policy["false_alarms"]) == (
        lab.devices["c702"], "temp_c", 0.8, 1)  # a notch (0.05) above the service's 0.75
    # the next readings are scored against the raised threshold
    lab.send(client, normal(20, 9, level=38.0))
    stream = client.app.state.scorer.streams[(lab.devices["c702"], "temp_c")]  # type: ignore[attr-defined]
    assert stream.detector.threshold == 0.8
    again = client.post(f"/api/v1/alerts/{alert.id}/false-alarm", json={}, headers=world.headers("engineer"))
    assert again.status_code == 409
    timeline = client.get(f"/api/v1/tickets/{alert.ticket_id}", headers=world.headers("engineer")).json()["timeline"]
    assert any("误报" in (entry["text"] or "") for entry in timeline)


def test_alert_endpoints_are_tenant_scoped(client: TestClient, db: Session, lab: Lab, world: World) -> None:
    alert = _open_alert(client, db, lab)
    mine = client.get("/api/v1/alerts", headers=world.headers("lab_a")).json()
    assert [a["id"] for a in mine["items"]] == [alert.id]
    assert mine["items"][0]["chart_url"].startswith(f"/devices/{alert.device_id}/chart?metric=temp_c")
    assert client.get("/api/v1/alerts", headers=world.headers("lab_b")).json()["items"] == []
    for method, path in (("get", f"/api/v1/alerts/{alert.id}"), ("post", f"/api/v1/alerts/{alert.id}/acknowledge"),
                         ("post", f"/api/v1/alerts/{alert.id}/false-alarm")):
        response = client.request(method, path, headers=world.headers("lab_b"), json={})
        assert response.status_code == 404, (path, response.text)
    assert client.post(f"/api/v1/alerts/{alert.id}/acknowledge", headers=world.headers("lab_a")).status_code == 403
    ack = client.post(f"/api/v1/alerts/{alert.id}/acknowledge", headers=world.headers("engineer"))
    assert ack.status_code == 200 and ack.json()["status"] == "acknowledged"
    assert ack.json()["acknowledged_by"] == world.users["engineer"]
    assert client.post(f"/api/v1/alerts/{alert.id}/acknowledge",
                       headers=world.headers("engineer")).status_code == 409
    listed = client.get("/api/v1/alerts", params={"status": "acknowledged"}, headers=world.headers("agent")).json()
    assert listed["total"] == 1


def test_acknowledged_alert_still_resolves_when_the_stream_recovers(client: TestClient, db: Session, lab: Lab,
                                                                    world: World) -> None:
    alert = _open_alert(client, db, lab)
    client.post(f"/api/v1/alerts/{alert.id}/acknowledge", headers=world.headers("engineer"))
    lab.send(client, normal(200, 5))
    [alert] = alerts(db)
    assert alert.status == AlertStatus.resolved


def test_policies_and_windows_are_admin_only_and_editable(client: TestClient, lab: Lab, world: World) -> None:
    policy = {"metric": "temp_c", "sensitivity": 0.6, "min_duration_s": 30, "cooldown_s": 600}
    assert client.post("/api/v1/alert-policies", json=policy, headers=world.headers("engineer")).status_code == 403
    created = client.post("/api/v1/alert-policies", json=policy, headers=world.headers("admin"))
    assert created.status_code == 201, created.text
    assert client.post("/api/v1/alert-policies", json=policy, headers=world.headers("admin")).status_code == 409
    policy_id = created.json()["id"]
    changed = client.put(f"/api/v1/alert-policies/{policy_id}", json={**policy, "enabled": False},
                         headers=world.headers("admin"))
    assert changed.status_code == 200 and changed.json()["enabled"] is False
    listed = client.get("/api/v1/alert-policies", headers=world.headers("admin")).json()
    assert [p["id"] for p in listed] == [policy_id]
    assert client.delete(f"/api/v1/alert-policies/{policy_id}", headers=world.headers("admin")).status_code == 204
    window = {"device_id": lab.devices["c702"], "starts_at": "2026-01-01T03:00:00Z",
              "ends_at": "2026-01-01T01:00:00Z"}
    assert client.post("/api/v1/maintenance-windows", json=window,
                       headers=world.headers("admin")).status_code == 422
    window["ends_at"] = "2026-01-01T05:00:00Z"
    assert client.post("/api/v1/maintenance-windows", json=window,
                       headers=world.headers("agent")).status_code == 403
    made = client.post("/api/v1/maintenance-windows", json=window, headers=world.headers("admin")).json()
    active = client.get("/api/v1/maintenance-windows", params={"active_at": "2026-01-01T04:00:00Z"},
                        headers=world.headers("admin")).json()
    assert [w["id"] for w in active] == [made["id"]]
    assert client.delete(f"/api/v1/maintenance-windows/{made['id']}",
                         headers=world.headers("admin")).status_code == 204
    assert client.get(f"/api/v1/maintenance-windows/{made['id']}",
                      headers=world.headers("admin")).status_code == 404


def test_disabled_policy_raises_nothing(client: TestClient, db: Session, lab: Lab, world: World) -> None:
    client.post("/api/v1/alert-policies", json={"metric": "*", "enabled": False}, headers=world.headers("admin"))
    lab.send(client, normal(LEARN, 1))
    lab.send(client, drift())
    assert alerts(db) == []


def test_an_engineer_marks_false_alarms_only_in_the_hospitals_they_serve(client: TestClient, db: Session, lab: Lab,
                                                                         world: World) -> None:
    alert = _open_alert(client, db, lab)  # in hospital A
    engineer = db.get(User, world.users["engineer"])
    assert engineer is not None
    engineer.service_hospital_ids = [world.hospital_b]
    db.commit()
    headers = world.headers("engineer")
    assert client.get("/api/v1/alerts", headers=headers).json()["items"] == []
    refused = client.post(f"/api/v1/alerts/{alert.id}/false-alarm", json={}, headers=headers)
    assert refused.status_code == 404
    db.refresh(alert)
    assert alert.false_alarm is not True
    engineer.service_hospital_ids = [world.hospital_a, world.hospital_b]
    db.commit()
    assert client.post(f"/api/v1/alerts/{alert.id}/false-alarm", json={}, headers=headers).status_code == 200
