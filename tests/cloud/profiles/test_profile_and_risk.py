"""A device's profile in numbers (through the dashboards' aggregates), the risk ranking that explains itself, who may
see which, and a predictive ticket of a device likely to fail soon taking a more urgent priority."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import update

from cloud.alerts import predictive
from cloud.auth.models import User
from cloud.registry.models import Device
from cloud.tickets.models import Ticket
from tests.cloud.tickets.helpers import act, submit


def _resolved(client, world, device_id: int, how: str, category: str) -> int:  # noqa: ANN001
    ticket = submit(client, world, device_id=device_id).json()["ticket"]
    if how == "remote":
        response = act(client, ticket["id"], world.headers("agent"), "answer", text="远程处理", fault_category=category)
    else:
        engineer = world.headers("engineer")
        act(client, ticket["id"], world.headers("agent"), "dispatch", engineer_id=world.users["engineer"])
        act(client, ticket["id"], engineer, "accept")
        act(client, ticket["id"], engineer, "arrive")
        response = act(client, ticket["id"], engineer, "complete", findings="更换风扇", fault_category=category)
    assert response.status_code == 200, response.text
    return int(ticket["id"])


def test_the_profile_counts_the_devices_faults_by_category_and_tier(client, world) -> None:
    device_id = world.devices_a[0]
    _resolved(client, world, device_id, "remote", "reagent_fluidics")
    _resolved(client, world, device_id, "on_site", "temperature_control")
    _resolved(client, world, device_id, "on_site", "temperature_control")
    response = client.get(f"/api/v1/devices/{device_id}/profile", headers=world.headers("agent"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["summary"]["faults"] == 3 and body["summary"]["on_site"] == 2 and body["summary"]["remote"] == 1
    assert body["summary"]["ftf_rate"] == 1.0 and body["summary"]["mttr_hours"] is not None
    kinds = {f["code"]: (f["faults"], f["label"]) for f in body["faults"]}
    assert kinds == {"temperature_control": (2, "温控"), "reagent_fluidics": (1, "试剂与液路")}
    assert body["score"]["value"] == body["score"]["computed"] < 100 and body["score"]["override"] is None
    assert body["risk"]["faults_last_90d"] == 3 and 0 < body["risk"]["probability_30d"] < 1
    assert any("温控" in reason for reason in body["risk"]["reasons"])
    assert len(body["recent_tickets"]) == 3 and body["recent_tickets"][0]["fault_label"] == "温控"


def test_only_staff_and_the_hospitals_lab_manager_see_a_profile(client, world, db) -> None:
    device_id = world.devices_a[0]
    assert client.get(f"/api/v1/devices/{device_id}/profile", headers=world.headers("lab_a")).status_code == 404
    db.execute(update(User).where(User.id.in_([world.users["lab_a"], world.users["lab_b"]]))
               .values(is_lab_manager=True))
    db.commit()
    assert client.get(f"/api/v1/devices/{device_id}/profile", headers=world.headers("lab_a")).status_code == 200
    assert client.get(f"/api/v1/devices/{device_id}/profile", headers=world.headers("lab_b")).status_code == 404
    assert client.get("/api/v1/devices/99999/profile", headers=world.headers("admin")).status_code == 404


def test_the_risk_ranking_puts_the_troubled_device_first_and_says_why(client, world, db) -> None:
    troubled, quiet = world.devices_a[1], world.devices_a[2]
    for category in ("mechanical", "mechanical", "optics_lamp"):
        _resolved(client, world, troubled, "on_site", category)
    _resolved(client, world, quiet, "remote", "operator_error")
    rows = client.get("/api/v1/risk", headers=world.headers("agent")).json()
    assert rows[0]["device_id"] == troubled and rows[0]["top_fault_category"] == "mechanical"
    assert rows[0]["risk_30d"] > next(r["risk_30d"] for r in rows if r["device_id"] == quiet)
    assert any("机械" in reason for reason in rows[0]["reasons"])
    assert any("润滑" in suggestion for suggestion in rows[0]["suggestions"])  # what to check: the moving parts
    # An engineer sees the hospitals they serve; a lab user no ranking at all.
    db.execute(update(User).where(User.id == world.users["engineer"]).values(service_hospital_ids=[world.hospital_b]))
    db.commit()
    theirs = client.get("/api/v1/risk", headers=world.headers("engineer")).json()
    assert theirs and {r["hospital_id"] for r in theirs} == {world.hospital_b}
    assert client.get("/api/v1/risk", headers=world.headers("lab_a")).status_code == 403
    only_b = client.get("/api/v1/risk", params={"hospital_id": world.hospital_b}, headers=world.headers("agent"))
    assert {r["hospital_id"] for r in only_b.json()} == {world.hospital_b}


def test_a_predictive_ticket_of_a_device_likely_to_fail_is_one_level_more_urgent(client, world, db, settings) -> None:
    calm, risky = world.devices_a[1], world.devices_a[2]
    db.execute(update(Device).where(Device.id == calm).values(risk_30d=0.2))
    db.execute(update(Device).where(Device.id == risky).values(risk_30d=0.75))
    db.commit()
    now = datetime.now(UTC)
    priorities = {}
    for device_id in (calm, risky):
        alert = predictive.open_alert(db, device_id=device_id, metric="reaction_disk_temp", started_at=now, at=now,
                                         score=0.6, settings=settings)
        db.commit()
        priorities[device_id] = db.get(Ticket, alert.ticket_id).priority
    # A warning on a chemistry analyzer is priority 2; the risky one's goes to 1.
    assert priorities == {calm: 2, risky: 1}
