"""The pre-check of a predictive ticket: opened with the ticket, answered check by check, finished three ways."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.alerts.models import AlertPolicy, AlertStatus
from cloud.audit.models import AuditLog
from cloud.notify.channels import RecordingChannel
from cloud.tickets.models import Ticket
from cloud.tickets.state import Status
from tests.cloud.alerts.conftest import LEARN, Lab, normal
from tests.cloud.alerts.test_predictive import alerts, drift, predictive_tickets
from tests.cloud.tickets.helpers import act, submit
from tests.cloud.world import World

TEMPERATURE_CHEMISTRY = ["temp.reaction_disk", "temp.bath", "temp.fan_filter", "qc.last_run"]


def _predictive(client: TestClient, db: Session, lab: Lab) -> int:
    """Drift temp_c of the c702 (chemistry): one alert, one predictive ticket dispatched to the engineer."""
    lab.send(client, normal(LEARN, 1))
    lab.send(client, drift())
    [ticket] = predictive_tickets(db)
    return ticket.id


def _precheck(client: TestClient, ticket_id: int, world: World, who: str = "engineer") -> dict[str, Any]:
    response = client.get(f"/api/v1/tickets/{ticket_id}/precheck", headers=world.headers(who))
    assert response.status_code == 200, response.text
    return dict(response.json())


def _answer(client: TestClient, ticket_id: int, item_id: int, world: World, who: str = "engineer",
            **body: Any) -> Any:
    return client.patch(f"/api/v1/tickets/{ticket_id}/precheck/items/{item_id}", json=body,
                        headers=world.headers(who))


def _finish(client: TestClient, ticket_id: int, world: World, who: str = "engineer", **body: Any) -> Any:
    return client.post(f"/api/v1/tickets/{ticket_id}/precheck/finish", json=body, headers=world.headers(who))


def _answer_all(client: TestClient, ticket_id: int, world: World, task: dict[str, Any]) -> dict[str, Any]:
    for item in task["items"]:
        response = _answer(client, ticket_id, item["id"], world, answer="done")
        assert response.status_code == 200, response.text
    return dict(response.json())


def test_predictive_ticket_opens_with_a_checklist_for_its_category_and_metric(
        client: TestClient, db: Session, lab: Lab, world: World) -> None:
    ticket_id = _predictive(client, db, lab)
    task = _precheck(client, ticket_id, world)
    assert task["checklist"] == "temperature:chemistry" and task["metric"] == "temp_c"
    assert [i["code"] for i in task["items"]] == TEMPERATURE_CHEMISTRY
    assert task["items"][0]["text"] == (
        "Check the incubator / reaction disk temperature against the reference thermometer")
    assert (task["answered"], task["total"], task["outcome"], task["can_work"]) == (0, 4, None, True)
    [alert] = task["alerts"]
    assert task["chart_url"] == alert["chart_url"]
    assert alert["chart_url"].startswith(f"/devices/{lab.devices['c702']}/chart?metric=temp_c")
    # staff see it; the hospital's lab user may not, other hospitals' users do not even find it
    assert _precheck(client, ticket_id, world, "agent")["can_work"] is True
    assert client.get(f"/api/v1/tickets/{ticket_id}/precheck", headers=world.headers("lab_a")).status_code == 403
    for method, path in (("get", f"/api/v1/tickets/{ticket_id}/precheck"),
                         ("patch", f"/api/v1/tickets/{ticket_id}/precheck/items/{task['items'][0]['id']}"),
                         ("post", f"/api/v1/tickets/{ticket_id}/precheck/finish")):
        body = {"answer": "done"} if method == "patch" else {"outcome": "false_alarm", "note": "x"}
        response = client.request(method, path, json=body, headers=world.headers("lab_b"))
        assert response.status_code == 404, (path, response.text)
    audit = db.execute(select(AuditLog).where(AuditLog.entity == "precheck_task")).scalars().all()
    assert [(a.action, a.entity_id, a.after["checklist"]) for a in audit] == [  # type: ignore[index]
        ("create", task["id"], "temperature:chemistry")]


def test_a_second_alert_adds_its_metrics_checks_without_repeating_any(
        client: TestClient, db: Session, lab: Lab, world: World) -> None:
    lab.send(client, normal(LEARN, 11, level=120.0, noise=0.5), metric="pressure_kpa")
    ticket_id = _predictive(client, db, lab)
    lab.send(client, normal(20, 12, level=135.0, noise=0.5), metric="pressure_kpa")
    assert sorted(a.metric for a in alerts(db)) == ["pressure_kpa", "temp_c"]
    task = _precheck(client, ticket_id, world)
    codes = [i["code"] for i in task["items"]]
    assert codes == [*TEMPERATURE_CHEMISTRY, "pressure.gauge", "pressure.leaks", "pressure.containers",
                     "pressure.prime"]
    assert [i["position"] for i in task["items"]] == list(range(1, 9))
    assert {a["metric"] for a in task["alerts"]} == {"temp_c", "pressure_kpa"}


def test_checks_are_answered_with_notes_by_the_engineer_and_the_desk_and_audited(
        client: TestClient, db: Session, lab: Lab, world: World) -> None:
    ticket_id = _predictive(client, db, lab)
    first, second, *_ = _precheck(client, ticket_id, world)["items"]
    response = _answer(client, ticket_id, first["id"], world, answer="done", note="参考温度计 37.1 ℃，与仪器一致")
    assert response.status_code == 200, response.text
    item = response.json()["items"][0]
    assert (item["answer"], item["note"], item["answered_by"]) == ("done", "参考温度计 37.1 ℃，与仪器一致",
                                                                   world.users["engineer"])
    assert item["answered_by_name"] == "engineer" and item["answered_at"]
    assert response.json()["answered"] == 1
    # the desk may answer too; leaving the note out keeps it, null takes the answer back
    assert _answer(client, ticket_id, second["id"], world, "agent", answer="not_applicable").status_code == 200
    kept = _answer(client, ticket_id, first["id"], world, answer="not_applicable").json()["items"][0]
    assert (kept["answer"], kept["note"]) == ("not_applicable", "参考温度计 37.1 ℃，与仪器一致")
    cleared = _answer(client, ticket_id, second["id"], world, "agent", answer=None).json()["items"][1]
    assert (cleared["answer"], cleared["answered_by"], cleared["answered_at"]) == (None, None, None)
    # who may not: a lab user of the hospital; a check of no such id
    assert _answer(client, ticket_id, first["id"], world, "lab_a", answer="done").status_code == 403
    assert _answer(client, ticket_id, 999_999, world, answer="done").status_code == 404
    assert _answer(client, ticket_id, first["id"], world, answer="maybe").status_code == 422
    rows = db.execute(select(AuditLog).where(AuditLog.entity == "precheck_item").order_by(AuditLog.id)).scalars()
    trail = [(r.entity_id, r.actor_id, (r.before or {}).get("answer"), (r.after or {}).get("answer")) for r in rows]
    assert trail == [(first["id"], world.users["engineer"], None, "done"),
                     (second["id"], world.users["agent"], None, "not_applicable"),
                     (first["id"], world.users["engineer"], "done", "not_applicable"),
                     (second["id"], world.users["agent"], "not_applicable", None)]


def test_finishing_needs_every_check_answered_except_a_false_alarm_with_a_note(
        client: TestClient, db: Session, lab: Lab, world: World) -> None:
    ticket_id = _predictive(client, db, lab)
    task = _precheck(client, ticket_id, world)
    for outcome in ("fault_confirmed", "fixed"):
        refused = _finish(client, ticket_id, world, outcome=outcome, note="n")
        assert refused.status_code == 422, refused.text
        assert {e["field"] for e in refused.json()["errors"]} == {f"items.{i['id']}" for i in task["items"]}
    assert _finish(client, ticket_id, world, outcome="false_alarm").status_code == 422  # no note
    answered = _answer_all(client, ticket_id, world, task)
    assert _finish(client, ticket_id, world, outcome="fixed").status_code == 422  # no findings
    stale = _finish(client, ticket_id, world, outcome="fault_confirmed", version=task["version"])
    assert stale.status_code == 409 and stale.json()["current_version"] == answered["version"]
    db.rollback()
    assert db.get(Ticket, ticket_id).status == Status.dispatched  # type: ignore[union-attr]


def test_false_alarm_feeds_the_policy_resolves_the_ticket_and_tells_the_desk(
        client: TestClient, db: Session, lab: Lab, world: World, recording: RecordingChannel) -> None:
    ticket_id = _predictive(client, db, lab)
    first = _precheck(client, ticket_id, world)["items"][0]
    _answer(client, ticket_id, first["id"], world, answer="done", note="参考温度计读数正常")
    response = _finish(client, ticket_id, world, outcome="false_alarm", note="更换试剂后温度波动，属正常")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["precheck"]["outcome"] == "false_alarm" and body["precheck"]["can_work"] is False
    assert body["precheck"]["finished_by"] == world.users["engineer"] and body["precheck"]["finished_at"]
    assert body["precheck"]["alerts"][0]["false_alarm"] is True
    ticket = body["ticket"]
    assert (ticket["status"], ticket["findings"]) == ("resolved", "更换试剂后温度波动，属正常")
    assert "precheck" not in ticket["allowed_actions"]
    actions = [e["action"] for e in ticket["timeline"]]
    assert actions[-2:] == ["note", "precheck"]  # the alert's false-alarm note, then the resolution
    [alert] = alerts(db)
    assert (alert.status, alert.resolution, alert.false_alarm) == (AlertStatus.resolved, "false_alarm", True)
    assert alert.false_alarm_by == world.users["engineer"]
    policy = db.execute(select(AlertPolicy).where(AlertPolicy.device_id == lab.devices["c702"])).scalar_one()
    assert (policy.metric, policy.sensitivity, policy.false_alarms) == ("temp_c", 0.8, 1)  # 0.75 + a notch
    told = [m for m in recording.sent if m.kind == "ticket.false_alarm"]
    assert [m.user_id for m in told] == [world.users["agent"]]
    assert ticket["number"] in told[0].body and "更换试剂后温度波动" in told[0].body
    assert told[0].link == f"/console?ticket={ticket_id}"
    engineer_heard = [m for m in recording.sent if m.user_id == world.users["engineer"] and m.kind == "alert.resolved"]
    assert engineer_heard and "误报" in engineer_heard[0].title
    # finished is finished
    assert _finish(client, ticket_id, world, outcome="false_alarm", note="again").status_code == 409
    assert _answer(client, ticket_id, first["id"], world, answer=None).status_code == 409
    finish = db.execute(select(AuditLog).where(AuditLog.entity == "precheck_task",
                                               AuditLog.action == "finish")).scalar_one()
    assert finish.after == {"ticket_id": ticket_id, "outcome": "false_alarm", "note": "更换试剂后温度波动，属正常",
                            "unanswered": 3, "false_alarm_alerts": [alert.id], "done": 1, "not_applicable": 0}


def test_fault_confirmed_keeps_the_repair_going_through_the_normal_states(
        client: TestClient, db: Session, lab: Lab, world: World) -> None:
    ticket_id = _predictive(client, db, lab)
    answered = _answer_all(client, ticket_id, world, _precheck(client, ticket_id, world))
    response = _finish(client, ticket_id, world, outcome="fault_confirmed", note="风扇停转",
                       version=answered["version"])
    assert response.status_code == 200, response.text
    ticket = response.json()["ticket"]
    assert ticket["status"] == "dispatched"
    assert ticket["timeline"][-1]["text"] == "预检完成：确认故障，继续维修。风扇停转"
    [alert] = alerts(db)
    assert (alert.status, alert.false_alarm) == (AlertStatus.acknowledged, False)
    engineer = world.headers("engineer")
    for action, extra in (("accept", {}), ("arrive", {}), ("complete", {"findings": "更换散热风扇"})):
        moved = act(client, ticket_id, engineer, action, **extra)
        assert moved.status_code == 200, moved.text
    assert moved.json()["status"] == "resolved"


def test_fixed_during_the_precheck_resolves_with_the_findings_even_by_the_desk(
        client: TestClient, db: Session, lab: Lab, world: World, recording: RecordingChannel) -> None:
    ticket_id = _predictive(client, db, lab)
    _answer_all(client, ticket_id, world, _precheck(client, ticket_id, world))
    response = _finish(client, ticket_id, world, "agent", outcome="fixed", note="清洁滤网后温度恢复")
    assert response.status_code == 200, response.text
    assert (response.json()["ticket"]["status"], response.json()["ticket"]["findings"]) == (
        "resolved", "清洁滤网后温度恢复")
    [alert] = alerts(db)
    assert alert.false_alarm is False
    assert not [m for m in recording.sent if m.kind == "ticket.false_alarm"]


def test_the_precheck_action_is_only_taken_by_finishing_the_precheck(
        client: TestClient, db: Session, lab: Lab, world: World) -> None:
    ticket_id = _predictive(client, db, lab)
    refused = act(client, ticket_id, world.headers("engineer"), "precheck", findings="just close it")
    assert refused.status_code == 409, refused.text
    db.rollback()
    assert db.get(Ticket, ticket_id).status == Status.dispatched  # type: ignore[union-attr]
    # a ticket a person reported has no pre-check
    reported = submit(client, world, headers=world.headers("lab_a")).json()["ticket"]["id"]
    assert client.get(f"/api/v1/tickets/{reported}/precheck", headers=world.headers("agent")).status_code == 404
