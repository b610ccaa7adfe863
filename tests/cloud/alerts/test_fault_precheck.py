"""A predictive ticket's fault category comes from its alert's metric and its pre-check: fixed is filed under the
metric's category unless the finisher picks one, a false alarm as no fault found, a confirmed fault when completed."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from cloud.tickets.models import PrecheckTask, Ticket
from tests.cloud.alerts.conftest import LEARN, Lab, normal
from tests.cloud.alerts.test_precheck import _answer_all, _finish, _precheck, _predictive
from tests.cloud.alerts.test_predictive import drift, predictive_tickets
from tests.cloud.tickets.helpers import act
from tests.cloud.world import World


def _ok(response: Any) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


def test_fixed_during_the_precheck_is_filed_under_the_alerts_metric(
        client: TestClient, db: Session, lab: Lab, world: World) -> None:
    ticket_id = _predictive(client, db, lab)  # temp_c drifts on the c702
    suggestion = _ok(client.get(f"/api/v1/tickets/{ticket_id}/fault-suggestion", headers=world.headers("engineer")))
    assert suggestion["suggestion"]["code"] == "temperature_control"
    assert suggestion["suggestion"]["source"] == "alert" and suggestion["suggestion"]["detail"] == "temp_c"
    _answer_all(client, ticket_id, world, _precheck(client, ticket_id, world))
    ticket = _ok(_finish(client, ticket_id, world, outcome="fixed", note="清洁滤网后温度恢复"))["ticket"]
    assert (ticket["status"], ticket["tier"], ticket["fault_category"], ticket["fault_category_name"]) == (
        "resolved", "on_site", "temperature_control", "温控")
    assert ticket["timeline"][-1]["details"]["fault_category_name"] == "温控"


def test_the_finisher_may_name_another_category_with_the_root_cause_and_parts(
        client: TestClient, db: Session, lab: Lab, world: World) -> None:
    ticket_id = _predictive(client, db, lab)
    _answer_all(client, ticket_id, world, _precheck(client, ticket_id, world))
    refused = _finish(client, ticket_id, world, outcome="fixed", note="x", fault_category="no_such_category")
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "fault_category"
    db.rollback()
    task = db.query(PrecheckTask).filter_by(ticket_id=ticket_id).one()
    assert task.outcome is None  # nothing changed: the category is checked first
    ticket = _ok(_finish(client, ticket_id, world, "agent", outcome="fixed", note="风扇积灰，清洁后温度恢复",
                         fault_category="mechanical", root_cause="散热风扇积灰",
                         parts=[{"name": "风扇滤网", "part_no": "FN-02", "qty": 1}]))["ticket"]
    assert (ticket["fault_category"], ticket["root_cause"], ticket["tier"]) == ("mechanical", "散热风扇积灰", "remote")
    assert ticket["parts"] == [{"name": "风扇滤网", "part_no": "FN-02", "qty": 1}]


def test_a_false_alarm_is_filed_as_no_fault_found(client: TestClient, db: Session, lab: Lab, world: World) -> None:
    ticket_id = _predictive(client, db, lab)
    ticket = _ok(_finish(client, ticket_id, world, outcome="false_alarm", note="更换试剂后温度波动，属正常",
                         fault_category="temperature_control"))["ticket"]
    assert (ticket["fault_category"], ticket["fault_category_name"]) == ("no_fault", "未发现故障 / 误报")
    assert ticket["parts"] is None


def test_a_confirmed_fault_completed_without_a_category_takes_the_metrics(
        client: TestClient, db: Session, lab: Lab, world: World) -> None:
    ticket_id = _predictive(client, db, lab)
    answered = _answer_all(client, ticket_id, world, _precheck(client, ticket_id, world))
    _ok(_finish(client, ticket_id, world, outcome="fault_confirmed", note="风扇停转", version=answered["version"]))
    engineer = world.headers("engineer")
    for action in ("accept", "arrive"):
        _ok(act(client, ticket_id, engineer, action))
    # what the engineer writes would win over the metric (a belt is mechanical) ...
    hint = _ok(client.get(f"/api/v1/tickets/{ticket_id}/fault-suggestion", params={"text": "传送皮带断裂"},
                          headers=engineer))["suggestion"]
    assert (hint["code"], hint["source"]) == ("mechanical", "findings")
    # ... but these findings name no part, so the alert's metric files it
    done = _ok(act(client, ticket_id, engineer, "complete", findings="已处理，运行质控在控"))
    assert (done["fault_category"], done["tier"]) == ("temperature_control", "on_site")


def test_fixed_on_a_metric_that_names_no_part_needs_a_category(
        client: TestClient, db: Session, lab: Lab, world: World) -> None:
    lab.send(client, normal(LEARN, 1, level=50.0, noise=0.5), metric="sample_rate")
    lab.send(client, drift(jump=20.0), metric="sample_rate")
    [ticket] = predictive_tickets(db)
    _answer_all(client, ticket.id, world, _precheck(client, ticket.id, world))
    refused = _finish(client, ticket.id, world, outcome="fixed", note="重启后恢复")
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "fault_category"
    fixed = _ok(_finish(client, ticket.id, world, outcome="fixed", note="重启后恢复",
                        fault_category="communication_software"))["ticket"]
    assert fixed["fault_category"] == "communication_software"
    db.rollback()
    assert db.get(Ticket, ticket.id).fault_category == "communication_software"  # type: ignore[union-attr]
