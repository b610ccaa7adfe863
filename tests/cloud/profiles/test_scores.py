"""Every device's score and 30-day risk follow its tickets and alerts as they happen; an admin may hold the score at
a value of their own, only with a reason, and the audit log keeps who did it and why."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from cloud.alerts import predictive
from cloud.alerts import service as alert_service
from cloud.audit.models import AuditLog
from cloud.registry.models import Device
from tests.cloud.tickets.helpers import act, submit


def _device(db, device_id: int) -> Device:  # noqa: ANN001
    db.expire_all()
    return db.get(Device, device_id)


def test_a_report_lowers_the_score_its_resolution_gives_part_back_and_a_cancellation_all(client, world, db) -> None:
    device_id = world.devices_a[0]
    assert _device(db, device_id).maintenance_score == 100 and _device(db, device_id).risk_30d is None
    ticket = submit(client, world, device_id=device_id).json()["ticket"]
    reported = _device(db, device_id)
    # One fault today, still open: 4 points for the fault and 8 for it being open (docs/maintenance-score.md).
    assert reported.maintenance_score == 88
    assert reported.score_updated_at is not None and 0 < reported.risk_30d < 1
    answered = act(client, ticket["id"], world.headers("agent"), "answer", text="已远程修改参数",
                   fault_category="temperature_control")
    assert answered.status_code == 200, answered.text
    assert _device(db, device_id).maintenance_score == 96  # solved remotely: the open-fault points are gone
    second = submit(client, world, device_id=device_id).json()["ticket"]
    assert _device(db, device_id).maintenance_score < 96
    cancelled = act(client, second["id"], world.headers("agent"), "cancel", reason="重复报修")
    assert cancelled.status_code == 200, cancelled.text
    assert _device(db, device_id).maintenance_score == 96  # a withdrawn report is no fault


def test_an_open_alert_costs_points_until_it_ends(client, world, db, settings) -> None:
    device_id = world.devices_a[1]
    now = datetime.now(UTC)
    alert = predictive.open_alert(db, device_id=device_id, metric="reaction_disk_temp", started_at=now,
                                     at=now, score=0.8, settings=settings)
    db.commit()
    # The alert's predictive ticket is an open fault until its pre-check says otherwise, the alert itself 4 more.
    assert _device(db, device_id).maintenance_score == 100 - 4 - 8 - 4
    alert_service.resolve_alert(db, alert=db.merge(alert), resolution="recovered")
    db.commit()
    assert _device(db, device_id).maintenance_score == 100 - 4 - 8


def test_the_admin_override_needs_a_reason_holds_the_score_and_is_audited(client, world, db) -> None:
    device_id = world.devices_a[2]
    path = f"/api/v1/devices/{device_id}/score-override"
    assert client.put(path, json={"score": 60}, headers=world.headers("admin")).status_code == 422
    assert client.put(path, json={"score": 60, "reason": " "}, headers=world.headers("admin")).status_code == 422
    by_agent = client.put(path, json={"score": 60, "reason": "主板已更换"}, headers=world.headers("agent"))
    assert by_agent.status_code == 403
    held = client.put(path, json={"score": 60, "reason": "主板已更换，旧故障不再适用"}, headers=world.headers("admin"))
    assert held.status_code == 200, held.text
    assert held.json() == {"device_id": device_id, "maintenance_score": 60, "score_override": 60,
                           "score_override_reason": "主板已更换，旧故障不再适用", "risk_30d": None}
    submit(client, world, device_id=device_id)  # events recompute the risk, never the held score
    device = _device(db, device_id)
    assert device.maintenance_score == 60 and device.risk_30d is not None
    row = db.execute(select(AuditLog).where(AuditLog.entity == "device", AuditLog.entity_id == device_id,
                                            AuditLog.action == "score_override")).scalar_one()
    assert row.actor_id == world.users["admin"]
    assert row.before["maintenance_score"] == 100
    assert row.after == {"maintenance_score": 60, "score_override": 60, "reason": "主板已更换，旧故障不再适用"}
    cleared = client.delete(path, params={"reason": "观察期结束"}, headers=world.headers("admin"))
    assert cleared.status_code == 200
    assert cleared.json()["score_override"] is None and cleared.json()["maintenance_score"] == 88  # computed again
    row = db.execute(select(AuditLog).where(AuditLog.entity == "device", AuditLog.entity_id == device_id,
                                            AuditLog.action == "score_override_cleared")).scalar_one()
    assert row.before["score_override"] == 60 and row.after["reason"] == "观察期结束"


def test_the_periodic_refresh_lets_old_faults_fade(client, world, db) -> None:
    from cloud.profiles.service import refresh_all

    device_id = world.devices_a[3]
    ticket = submit(client, world, device_id=device_id).json()["ticket"]
    act(client, ticket["id"], world.headers("agent"), "answer", text="已处理", fault_category="other")
    assert _device(db, device_id).maintenance_score == 96
    refresh_all(db, now=datetime.now(UTC) + timedelta(days=200))  # more than a half-life later: under 2 points
    db.commit()
    assert _device(db, device_id).maintenance_score == 98
    refresh_all(db, now=datetime.now(UTC) + timedelta(days=400))  # out of the year: forgotten
    db.commit()
    assert _device(db, device_id).maintenance_score == 100
