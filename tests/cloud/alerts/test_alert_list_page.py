"""The alert list (/alerts): each person sees the alerts they may, newest first, in Chinese, in the hospital's time."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.alerts import service
from cloud.alerts.models import Alert, AlertPolicy, AlertSeverity, AlertStatus
from cloud.auth.models import Role, User
from cloud.db import utcnow
from cloud.deps import SESSION_COOKIE
from cloud.localtime import local_time
from cloud.registry.models import Hospital
from tests.cloud.alerts.conftest import LEARN, Lab, normal
from tests.cloud.alerts.test_explained_and_heard import person
from tests.cloud.world import World


def listed(page_text: str) -> set[int]:
    return {int(found) for found in re.findall(r'data-alert-id="(\d+)"', page_text)}


def test_each_person_sees_the_alerts_they_may_with_why_ticket_and_local_time(
        client: TestClient, db: Session, lab: Lab, world: World) -> None:
    person(db, world, "manager", hospital_id=world.hospital_a, manager=True)
    person(db, world, "owner", hospital_id=world.hospital_a, claims=(lab.devices["c702"],))
    person(db, world, "owner_other", hospital_id=world.hospital_a, claims=(world.devices_a[1],))
    lab.send(client, normal(LEARN, 1))
    lab.send(client, normal(30, 2, level=38.0))
    db.rollback()
    alert = db.execute(select(Alert)).scalar_one()
    hospital = db.get(Hospital, world.hospital_a)
    assert hospital is not None and alert.ticket_id is not None

    page = client.get("/alerts", headers=world.headers("engineer"))
    assert page.status_code == 200 and listed(page.text) == {alert.id}
    assert "预测性告警" in page.text and "进行中" in page.text and "共 1 条预警" in page.text
    assert "→" in page.text  # why, in words: the level before and since
    assert alert.started_at != alert.opened_at  # the readings are from T0, the alert opened on upload
    assert f"发生时间 {local_time(alert.started_at, hospital.time_zone, '%Y-%m-%d %H:%M')}" in page.text
    assert f'href="/engineer/tickets/{alert.ticket_id}"' in page.text
    desk = client.get("/alerts", headers=world.headers("agent"))
    assert listed(desk.text) == {alert.id} and hospital.name in desk.text
    assert f'href="/console?ticket={alert.ticket_id}"' in desk.text

    # the hospital's lab manager sees it, an owner of the device too; an owner of another device and another
    # hospital's lab user see none (and no ticket links: lab users follow their tickets elsewhere)
    assert listed(client.get("/alerts", headers=world.headers("manager")).text) == {alert.id}
    own = client.get("/alerts", headers=world.headers("owner"))
    assert listed(own.text) == {alert.id} and "/engineer/tickets/" not in own.text and "/console?" not in own.text
    for outsider in ("owner_other", "lab_b"):
        page = client.get("/alerts", headers=world.headers(outsider))
        assert page.status_code == 200 and listed(page.text) == set() and "这里没有预警" in page.text
    assert client.get("/alerts", headers=world.headers("lab_new")).status_code == 403  # not verified

    # once the stream has recovered the alert is no longer ongoing: it is listed under "ended"
    service.resolve_alert(db, alert=alert, resolution=service.RECOVERED)
    db.commit()
    assert listed(client.get("/alerts", headers=world.headers("engineer")).text) == set()
    ended = client.get("/alerts?tab=ended", headers=world.headers("engineer"))
    assert listed(ended.text) == {alert.id} and "已恢复" in ended.text
    assert listed(client.get("/alerts?tab=all", headers=world.headers("engineer")).text) == {alert.id}
    assert listed(client.get("/alerts?tab=nonsense", headers=world.headers("engineer")).text) == set()  # ongoing


def test_long_lists_come_in_pages_of_thirty_newest_first(client: TestClient, db: Session, world: World) -> None:
    now = utcnow()
    alerts = [Alert(hospital_id=world.hospital_a, device_id=world.devices_a[0], metric=f"temp_{i}",
                    status=AlertStatus.open, severity=AlertSeverity.warning, started_at=now - timedelta(hours=i),
                    last_abnormal_at=now, last_score=0.8, peak_score=0.8, opened_at=now - timedelta(minutes=i))
              for i in range(35)]
    db.add_all(alerts)
    db.commit()
    newest_first = [a.id for a in sorted(alerts, key=lambda a: a.opened_at, reverse=True)]
    first = client.get("/alerts", headers=world.headers("agent"))
    assert [int(i) for i in re.findall(r'data-alert-id="(\d+)"', first.text)] == newest_first[:30]
    assert "共 35 条预警" in first.text and "1 / 2" in first.text and 'id="alert-older"' in first.text
    second = client.get("/alerts?page=2", headers=world.headers("agent"))
    assert [int(i) for i in re.findall(r'data-alert-id="(\d+)"', second.text)] == newest_first[30:]
    assert 'id="alert-newer"' in second.text and 'id="alert-older"' not in second.text
    assert listed(client.get("/alerts?page=9", headers=world.headers("agent")).text) == set()
    # the engineer of another hospital only: nothing of hospital A
    engineer = person(db, world, "engineer_b", hospital_id=None, role=Role.engineer)
    user = db.get(User, engineer)
    assert user is not None
    user.service_hospital_ids = [world.hospital_b]
    db.commit()
    assert listed(client.get("/alerts", headers=world.headers("engineer_b")).text) == set()


def _take(client: TestClient, world: World, who: str, alert_id: int) -> Any:
    return client.post(f"/alerts/{alert_id}/acknowledge", headers=world.headers(who))


def _refute(client: TestClient, world: World, who: str, alert_id: int, note: str) -> Any:
    return client.post(f"/alerts/{alert_id}/false-alarm", data={"note": note}, headers=world.headers(who))


def test_an_engineer_takes_an_alert_on_or_says_it_was_a_false_alarm_from_the_list(
        client: TestClient, db: Session, lab: Lab, world: World) -> None:
    person(db, world, "manager", hospital_id=world.hospital_a, manager=True)
    lab.send(client, normal(LEARN, 1))
    lab.send(client, normal(30, 2, level=38.0))
    db.rollback()
    alert = db.execute(select(Alert)).scalar_one()
    assert alert.status == AlertStatus.open and alert.ticket_id is not None

    page = client.get("/alerts", headers=world.headers("engineer")).text
    assert f'data-take="{alert.id}"' in page and f'data-refute="{alert.id}"' in page and "我来处理" in page
    # the lab manager sees the alert but handles none: no buttons, and a post is refused in words
    assert "data-take=" not in client.get("/alerts", headers=world.headers("manager")).text
    refused = _take(client, world, "manager", alert.id)
    assert refused.status_code == 403 and refused.json()["detail"] == "只有工程师和服务台可以处理告警。"

    taken = _take(client, world, "engineer", alert.id)
    assert taken.status_code == 200 and taken.json()["message"] == "已由您受理。"
    db.rollback()
    assert alert.status == AlertStatus.acknowledged and alert.acknowledged_by == world.users["engineer"]
    page = client.get("/alerts", headers=world.headers("engineer")).text
    assert listed(page) == {alert.id} and "已受理" in page  # still ongoing, now taken
    assert "data-take=" not in page and f'data-refute="{alert.id}"' in page
    again = _take(client, world, "agent", alert.id)  # the desk was a moment too late
    assert again.status_code == 409 and "已被处理" in again.json()["detail"]

    # a false alarm needs its reason; with it the alert ends and the stream gets a notch less sensitive
    blank = _refute(client, world, "engineer", alert.id, "   ")
    assert blank.status_code == 422 and blank.json()["detail"] == "判定误报需填写说明。"
    long = _refute(client, world, "engineer", alert.id, "x" * 2001)
    assert long.status_code == 422 and "2000" in long.json()["detail"]
    db.rollback()
    assert alert.status == AlertStatus.acknowledged  # nothing changed
    before = service.policy_book(db, device_ids=[alert.device_id], metrics=[alert.metric]).rules(
        alert.device_id, alert.metric, 0.75).threshold
    done = _refute(client, world, "engineer", alert.id, "计划维护：更换了恒温槽加热器")
    assert done.status_code == 200 and "已标为误报" in done.json()["message"]
    db.rollback()
    assert alert.status == AlertStatus.resolved and alert.false_alarm
    assert alert.false_alarm_note == "计划维护：更换了恒温槽加热器"
    policy = db.execute(select(AlertPolicy).where(AlertPolicy.device_id == alert.device_id,
                                                  AlertPolicy.metric == alert.metric)).scalar_one()
    assert policy.false_alarms == 1 and policy.sensitivity is not None and policy.sensitivity > before
    ended = client.get("/alerts?tab=ended", headers=world.headers("engineer")).text
    assert listed(ended) == {alert.id} and "误报" in ended and "data-refute=" not in ended
    twice = _refute(client, world, "agent", alert.id, "重复")
    assert twice.status_code == 409


def test_alert_actions_stay_within_what_the_person_may_see(client: TestClient, db: Session, world: World) -> None:
    now = utcnow()
    theirs = Alert(hospital_id=world.hospital_b, device_id=world.devices_b[0], metric="temp", status=AlertStatus.open,
                   severity=AlertSeverity.warning, started_at=now, last_abnormal_at=now, last_score=0.8,
                   peak_score=0.8, opened_at=now)
    db.add(theirs)
    engineer = db.get(User, person(db, world, "engineer_a", hospital_id=None, role=Role.engineer))
    assert engineer is not None
    engineer.service_hospital_ids = [world.hospital_a]
    db.commit()
    # an engineer serving hospital A only: B's alert does not exist for them, and nothing changes
    for answer in (_take(client, world, "engineer_a", theirs.id),
                   _refute(client, world, "engineer_a", theirs.id, "不是我们的"),
                   _take(client, world, "engineer_a", 999_999)):
        assert answer.status_code == 404 and answer.json()["detail"] == "此告警不在您的列表中。"
    db.rollback()
    assert theirs.status == AlertStatus.open and not theirs.false_alarm
    assert _take(client, world, "lab_b", theirs.id).status_code == 403  # their own hospital, but a lab user
    # a page session changes nothing without the page's header (cross-site request forgery)
    client.cookies.set(SESSION_COOKIE, world.tokens["agent"])
    forged = client.post(f"/alerts/{theirs.id}/acknowledge")
    client.cookies.clear()
    assert forged.status_code == 403
    db.rollback()
    assert theirs.status == AlertStatus.open
    assert _take(client, world, "agent", theirs.id).status_code == 200  # the desk sees every hospital
