"""Issue #14 item 2: the analyzer's own events and status points, sent through the ingest, shape its alerts: a
passed calibration and a reagent change re-baseline its streams, maintenance mode silences it, a failed QC and a
burst of error codes alert by themselves."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.alerts.models import Alert, AlertStatus
from cloud.notify.channels import RecordingChannel
from protocols.telemetry import Batch, Event, EventKind, Reading, Severity, encode_batch
from tests.cloud.alerts.conftest import LEARN, STEP_S, Lab, normal
from tests.cloud.telemetry.conftest import T0
from tests.cloud.world import World


def alerts(db: Session) -> list[Alert]:
    db.rollback()
    return list(db.execute(select(Alert).order_by(Alert.id)).scalars())


def at(index: int) -> datetime:
    """The time of a stream's reading number index (Lab.send's clock)."""
    return T0 + timedelta(seconds=STEP_S * index)


def post(client: TestClient, lab: Lab, *, events: list[Event] = (), readings: list[Reading] = ()) -> None:  # type: ignore[assignment]
    batch = Batch(gateway_id=lab.gateway.name, stream_id="context", sequence=lab.sequence, created_at=T0,
                  readings=list(readings), events=list(events))
    lab.sequence += 1
    response = client.post("/api/v1/ingest", content=encode_batch(batch),
                           headers={**lab.gateway.headers, "Content-Type": "application/json"})
    assert response.status_code == 200, response.text
    assert client.app.state.scorer.wait_idle(30)  # type: ignore[attr-defined]


def event(key: str, kind: EventKind, when: datetime, **payload: Any) -> Event:
    passed = payload.get("passed", True)
    return Event(device_key=key, occurred_at=when, kind=kind, severity=Severity.INFO if passed else Severity.WARNING,
                 code=payload.pop("code", None), text=kind.value, payload=payload)


def test_a_step_right_after_a_passed_calibration_is_the_new_normal(client: TestClient, db: Session, lab: Lab,
                                                                   ) -> None:
    for key in ("c702", "e801"):
        lab.send(client, normal(LEARN, 1), key=key)
    # c702 is recalibrated between its last reading and its next; e801 is not
    post(client, lab, events=[event("c702", EventKind.CALIBRATION, at(LEARN) - timedelta(seconds=5), passed=True,
                                    tests=["TEMP"], failed_tests=[])])
    for key in ("c702", "e801"):
        lab.send(client, normal(60, 2, level=37.6), key=key)  # the same step, 12 noise sigmas
    found = {(a.device_id, a.metric) for a in alerts(db)}
    assert found == {(lab.devices["e801"], "temp_c")}


def test_a_reagent_lot_change_on_a_status_point_re_baselines(client: TestClient, db: Session, lab: Lab) -> None:
    for key in ("c702", "e801"):
        lab.send(client, normal(LEARN, 1), key=key)
        post(client, lab, readings=[Reading(device_key=key, metric="reagent_lot", value="LOT-2411",
                                            observed_at=at(LEARN // 2))])
    post(client, lab, readings=[Reading(device_key="c702", metric="reagent_lot", value="LOT-2412",
                                        observed_at=at(LEARN) - timedelta(seconds=3))])
    for key in ("c702", "e801"):
        lab.send(client, normal(60, 2, level=37.6), key=key)
    assert {(a.device_id, a.metric) for a in alerts(db)} == {(lab.devices["e801"], "temp_c")}


def test_maintenance_mode_silences_the_device_and_what_it_leaves_is_the_new_normal(
        client: TestClient, db: Session, lab: Lab) -> None:
    for key in ("c702", "e801"):
        lab.send(client, normal(LEARN, 1), key=key)
    # c702's maintenance mode is on for its next 30 readings (wild: the probe is being washed), then off
    post(client, lab, readings=[
        Reading(device_key="c702", metric="maintenance_mode", value=True, observed_at=at(LEARN) - timedelta(seconds=1)),
        Reading(device_key="c702", metric="maintenance_mode", value=False, observed_at=at(LEARN + 30)
                - timedelta(seconds=1))])
    for key in ("c702", "e801"):
        lab.send(client, normal(30, 3, level=45.0, noise=2.0), key=key)
        lab.send(client, normal(60, 4, level=37.5), key=key)
    found = {(a.device_id, a.metric) for a in alerts(db)}
    assert (lab.devices["e801"], "temp_c") in found
    assert (lab.devices["c702"], "temp_c") not in found


def test_a_failed_qc_alerts_at_once_saying_which_tests_and_a_passing_one_ends_it(
        client: TestClient, db: Session, lab: Lab, world: World, recording: RecordingChannel) -> None:
    post(client, lab, events=[event("c702", EventKind.QC, T0 + timedelta(hours=1), passed=False,
                                    code="QC_FAIL", failed_tests=["ALT", "AST"], tests=["ALT", "AST", "GLU"])])
    [alert] = alerts(db)
    assert (alert.device_id, alert.metric, alert.status) == (lab.devices["c702"], "qc", AlertStatus.open)
    assert alert.severity.value == "major" and alert.ticket_id is not None
    [message] = [m for m in recording.sent if m.kind == "alert.opened"]
    assert message.user_id == world.users["engineer"]
    assert "质控" in message.body and "质控未通过：ALT、AST" in message.body
    page = client.get(f"/api/v1/alerts/{alert.id}", headers={**world.headers("agent"), "Accept-Language": "en"})
    assert page.json()["why"] == "QC failed: ALT, AST"
    # the next run passes: the alert ends
    post(client, lab, events=[event("c702", EventKind.QC, T0 + timedelta(hours=2), passed=True, code="QC_PASS",
                                    failed_tests=[], tests=["ALT", "AST", "GLU"])])
    [alert] = alerts(db)
    assert alert.status == AlertStatus.resolved and alert.resolution == "recovered"


def test_a_failed_qc_during_maintenance_mode_is_what_servicing_looks_like(client: TestClient, db: Session,
                                                                          lab: Lab) -> None:
    post(client, lab, events=[
        event("c702", EventKind.MAINTENANCE, T0 + timedelta(minutes=50), state="start"),
        event("c702", EventKind.QC, T0 + timedelta(hours=1), passed=False, code="QC_FAIL", failed_tests=["ALT"]),
        event("c702", EventKind.MAINTENANCE, T0 + timedelta(minutes=70), state="end"),
    ])
    assert alerts(db) == []
    post(client, lab, events=[event("c702", EventKind.QC, T0 + timedelta(minutes=80), passed=False,
                                    code="QC_FAIL", failed_tests=["ALT"])])
    assert [a.metric for a in alerts(db)] == ["qc"]


def test_a_burst_of_error_codes_alerts_with_the_codes_counted(client: TestClient, db: Session, lab: Lab) -> None:
    def errors(start: int, n: int, code: str) -> list[Event]:
        return [Event(device_key="e801", occurred_at=T0 + timedelta(minutes=start + 2 * i), kind=EventKind.ERROR_CODE,
                      severity=Severity.ERROR, code=code, text="ISE 模块电极漂移") for i in range(n)]

    post(client, lab, events=errors(0, 3, "E-32"))
    post(client, lab, events=errors(60, 1, "E-32"))  # four in all, but not within half an hour
    assert alerts(db) == []
    post(client, lab, events=errors(62, 3, "E-32") + errors(63, 1, "E-11"))
    [alert] = alerts(db)
    assert (alert.device_id, alert.metric) == (lab.devices["e801"], "error_codes")
    assert alert.explanation == {"kind": "error_codes", "count": 5, "window_s": 1800,
                                 "codes": [["E-32", 4], ["E-11", 1]], "at": alert.explanation["at"]}
