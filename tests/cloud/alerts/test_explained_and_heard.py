"""Issue #14 items 5 and 6: an alert says why in words (with what is usual for the hour), and the device's owners and
the hospital's lab managers hear of it each as they chose; a daily digest goes to lab managers and engineers."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.alerts import digest, explain
from cloud.alerts.models import Alert, AlertDigest
from cloud.auth.models import AlertNotice, Role, User
from cloud.auth.service import create_user, issue_token
from cloud.config import Settings
from cloud.localtime import zone
from cloud.notify.channels import RecordingChannel
from cloud.notify.models import Notification
from cloud.registry.models import DeviceClaim, Hospital
from cloud.telemetry.bulk import write_readings
from cloud.telemetry.series import ReadingRow
from cloud.telemetry.store import SqlTimeSeriesStore
from tests.cloud.alerts.conftest import LEARN, Lab, normal
from tests.cloud.telemetry.conftest import add_gateway
from tests.cloud.world import ACTOR, PASSWORD, World


def person(db: Session, world: World, username: str, *, hospital_id: int | None, role: Role = Role.lab_user,
           manager: bool = False, notice: AlertNotice = AlertNotice.instant, claims: tuple[int, ...] = ()) -> int:
    """A verified account of the world, with its preferences and "my devices"; its token in world.tokens."""
    user = create_user(db, username=username, password=PASSWORD, role=role, actor=ACTOR, full_name=username,
                       hospital_id=hospital_id, verified=True)
    user.is_lab_manager, user.alert_notice = manager, notice
    db.add_all([DeviceClaim(user_id=user.id, device_id=d) for d in claims])
    world.users[username] = user.id
    world.tokens[username] = issue_token(db, user=user, ttl=timedelta(days=1))
    db.commit()
    return user.id


def told(db: Session, user_id: int, kind: str) -> list[Notification]:
    db.rollback()
    return list(db.execute(select(Notification).where(Notification.user_id == user_id, Notification.kind == kind))
                .scalars())


def test_explanation_says_the_change_and_what_is_usual_for_the_hour(db: Session, world: World) -> None:
    """A week of 37.0 °C at one reading every 5 minutes, then six hours at 36.4 °C: the words give both levels,
    the window, and the same hours of the seven days before with their day-to-day spread."""
    gateway = add_gateway(db, world.hospital_a)
    device = world.devices_a[0]
    rng = random.Random(3)
    end = datetime(2026, 11, 20, 14, 0, tzinfo=UTC)
    start = end - timedelta(days=8)
    rows, t = [], start
    changed_at = end - timedelta(hours=6)
    while t <= end:
        level = 36.4 if t >= changed_at else 37.0
        rows.append(ReadingRow(gateway.id, device, "c702", "reaction_disk_temp", t, level + rng.gauss(0, 0.02),
                               None, "°C", "good"))
        t += timedelta(minutes=5)
    write_readings(db, rows)
    db.commit()
    found = explain.explain(SqlTimeSeriesStore(db), device_id=device, metric="reaction_disk_temp",
                            started_at=changed_at, at=end)
    assert found is not None
    assert found.window_s == 6 * 3600 and found.usual_days == 7
    assert math.isclose(found.recent, 36.4, abs_tol=0.01) and math.isclose(found.before or 0, 37.0, abs_tol=0.01)
    assert math.isclose(found.usual or 0, 37.0, abs_tol=0.01) and 0 < (found.usual_sd or 0) < 0.02
    zh = explain.words(found)
    assert zh.startswith("均值 37.0 → 36.4 °C（近 6 小时）；该时段通常为 37.0 ± 0.00")
    assert zh.endswith("°C（前 7 天）")
    en = explain.words(found, "en")
    assert en.startswith("mean 37.0 → 36.4 °C over 6 h; usual for this hour 37.0 ± ")
    # kept on the alert as JSON and read back the same
    assert explain.from_dict(found.as_dict()) == found


def test_a_counter_is_explained_by_its_rate_per_hour_and_a_level_by_its_level(db: Session, world: World) -> None:
    """A test counter (no unit: told by its readings) rising 10 a minute from 08:00 to 17:00 and 1 a minute
    otherwise, for a week, then still for 45 minutes at 14:00: said as tests per hour, not as its total; a reagent
    level in % falling one way is said as its level."""
    gateway = add_gateway(db, world.hospital_a)
    device = world.devices_a[0]
    end = datetime(2026, 11, 20, 6, 45, tzinfo=UTC)  # 14:45 in Beijing
    stalled_at = end - timedelta(minutes=45)
    rows, t, tests, reagent = [], end - timedelta(days=8), 150_000, 100.0
    while t <= end:
        local_hour = (t + timedelta(hours=8)).hour
        if t <= stalled_at:
            tests += 10 if 8 <= local_hour < 17 else 1
        reagent = reagent - 0.001 if reagent > 20 else 100.0
        rows.append(ReadingRow(gateway.id, device, "c702", "test_count", t, float(tests), None, None, "good"))
        rows.append(ReadingRow(gateway.id, device, "c702", "reagent_r1", t, reagent, None, "%", "good"))
        t += timedelta(minutes=1)
    write_readings(db, rows)
    db.commit()
    found = explain.explain(SqlTimeSeriesStore(db), device_id=device, metric="test_count", started_at=stalled_at,
                            at=end)
    assert found is not None and found.per_hour
    assert found.recent == 0.0 and found.usual_days == 7
    assert math.isclose(found.before or 0, 600.0, rel_tol=0.05) and math.isclose(found.usual or 0, 600.0, rel_tol=0.05)
    zh = explain.words(found)
    assert zh.startswith("均值 600 → 0 次/小时（近 45 分钟）；该时段通常为 600 ± 0 次/小时（前 7 天）"), zh
    assert "150" not in zh  # the total count means nothing here
    assert explain.words(found, "en").startswith("mean 600 → 0 per hour over 45 min; usual for this hour 600")
    assert explain.from_dict(found.as_dict()) == found

    level = explain.explain(SqlTimeSeriesStore(db), device_id=device, metric="reagent_r1", started_at=stalled_at,
                            at=end)
    assert level is not None and not level.per_hour  # falling one way: a level, said as one
    assert "/小时" not in explain.words(level)


def test_owners_and_lab_managers_hear_of_an_alert_each_as_they_chose(
        client: TestClient, db: Session, lab: Lab, world: World, recording: RecordingChannel) -> None:
    c702 = lab.devices["c702"]
    person(db, world, "owner_now", hospital_id=world.hospital_a, claims=(c702,))
    person(db, world, "owner_off", hospital_id=world.hospital_a, notice=AlertNotice.off, claims=(c702,))
    person(db, world, "owner_digest", hospital_id=world.hospital_a, notice=AlertNotice.digest, claims=(c702,))
    person(db, world, "manager", hospital_id=world.hospital_a, manager=True, notice=AlertNotice.in_app)
    person(db, world, "manager_b", hospital_id=world.hospital_b, manager=True)
    person(db, world, "owner_other", hospital_id=world.hospital_a, claims=(world.devices_a[1],))
    lab.send(client, normal(LEARN, 1))
    lab.send(client, normal(30, 2, level=38.0))
    db.rollback()
    [alert] = db.execute(select(Alert)).scalars().all()
    assert alert.explanation is not None and alert.explanation["before"] == pytest.approx(37.0, abs=0.05)
    why = explain.words(explain.from_dict(alert.explanation))  # type: ignore[arg-type]
    assert "→" in why
    # the engineer of the predictive ticket, with the reason in the message
    [engineer] = told(db, world.users["engineer"], "alert.opened")
    assert why in engineer.body
    # an owner who wants it at once: in the app and on the other channels (WeChat in production)
    [owner] = told(db, world.users["owner_now"], "alert.opened")
    assert owner.title == "设备预警" and "偏离正常" in owner.body and why in owner.body
    assert owner.link.startswith(f"/devices/{c702}/chart?metric=temp_c")
    to_others = {m.user_id for m in recording.sent if m.kind == "alert.opened"}
    assert to_others == {world.users["engineer"], world.users["owner_now"]}
    # the lab manager chose the app only; the others chose the digest or nothing, or do not look after it
    assert len(told(db, world.users["manager"], "alert.opened")) == 1
    for quiet in ("owner_off", "owner_digest", "manager_b", "owner_other", "lab_a"):
        assert told(db, world.users[quiet], "alert.opened") == [], quiet


def _next_hour(hospital: Hospital) -> datetime:
    """The next whole hour by the hospital's clock: a digest with that hour covers the 24 hours up to it, now too."""
    local = datetime.now(UTC).astimezone(zone(hospital.time_zone)) + timedelta(hours=1)
    return local.replace(minute=0, second=0, microsecond=0)


def test_daily_digest_goes_once_to_managers_engineers_and_digest_owners(
        client: TestClient, db: Session, lab: Lab, world: World, recording: RecordingChannel,
        settings: Settings) -> None:
    c702 = lab.devices["c702"]
    person(db, world, "manager", hospital_id=world.hospital_a, manager=True)
    person(db, world, "owner_digest", hospital_id=world.hospital_a, notice=AlertNotice.digest, claims=(c702,))
    person(db, world, "owner_elsewhere", hospital_id=world.hospital_a, notice=AlertNotice.digest,
           claims=(world.devices_a[1],))
    quiet = person(db, world, "engineer_quiet", hospital_id=None, role=Role.engineer)
    db.get(User, quiet).daily_digest = False  # type: ignore[union-attr]
    db.commit()
    lab.send(client, normal(LEARN, 1))
    lab.send(client, normal(30, 2, level=38.0))
    hospital = db.get(Hospital, world.hospital_a)
    assert hospital is not None
    # the digest sent at the next whole hour by the hospital's clock covers the alert opened just now
    sessions = client.app.state.sessionmaker  # type: ignore[attr-defined]
    now = _next_hour(hospital)
    settings.alert_digest_hour = now.hour  # the page reads the same window
    day = now.date()
    if now.hour > 0:  # a minute before its hour, today's digest is not due (at midnight that is yesterday's)
        assert digest.send_due(sessions, digest_hour=now.hour, channels=[recording],
                               now=now - timedelta(minutes=1)) == []
    sent = digest.send_due(sessions, digest_hour=now.hour, channels=[recording], now=now)
    assert (world.hospital_a, day.isoformat()) in sent
    readers = {m.user_id for m in recording.sent if m.kind == digest.DIGEST_KIND}
    assert readers == {world.users["manager"], world.users["engineer"], world.users["owner_digest"]}
    message = next(m for m in recording.sent if m.kind == digest.DIGEST_KIND and m.user_id == world.users["manager"])
    assert message.title == "设备预警日报" and "未结预警 1 条" in message.body and "新增 1 条" in message.body
    assert message.link == f"/alerts/digest/{world.hospital_a}/{day.isoformat()}"
    # once per hospital and day, however often the job runs
    assert digest.send_due(sessions, digest_hour=now.hour, channels=[recording], now=now + timedelta(hours=1)) == []
    assert sum(m.kind == digest.DIGEST_KIND for m in recording.sent) == 3
    db.rollback()
    rows = {r.hospital_id: r.recipients for r in db.execute(select(AlertDigest)).scalars()}
    assert rows[world.hospital_a] == 3 and rows[world.hospital_b] == 0  # hospital B had nothing to tell

    # the page: the manager reads every device, an owner their own, another hospital's user nothing
    page = client.get(message.link, headers=world.headers("manager"))
    assert page.status_code == 200
    assert "预警日报" in page.text and "未结预警" in page.text and "近 24 小时的预警" in page.text
    assert "MF-" in page.text and "→" in page.text and "仅我的设备" not in page.text
    own = client.get(message.link, headers=world.headers("owner_digest"))
    assert own.status_code == 200 and "仅我的设备" in own.text and 'data-alert-id=' in own.text
    elsewhere = client.get(message.link, headers=world.headers("owner_elsewhere"))
    assert elsewhere.status_code == 200 and 'data-alert-id=' not in elsewhere.text
    assert client.get(message.link, headers=world.headers("lab_b")).status_code == 403


def test_each_person_chooses_how_to_hear_of_alerts(client: TestClient, db: Session, world: World) -> None:
    ajax = {"X-Requested-With": "medfix", "Accept": "application/json"}
    page = client.get("/my/notifications", headers=world.headers("lab_a"))
    assert page.status_code == 200 and "即时推送" in page.text and "仅每日汇总" in page.text
    assert "每日预警汇总" not in page.text  # not a lab manager: no digest switch
    saved = client.post("/my/notifications", data={"alert_notice": "digest"},
                        headers={**world.headers("lab_a"), **ajax})
    assert saved.status_code == 200 and saved.json()["ok"]
    refused = client.post("/my/notifications", data={"alert_notice": "sometimes"},
                          headers={**world.headers("lab_a"), **ajax})
    assert refused.status_code == 422 and refused.json()["detail"] == "请选择接收预警的方式。"
    engineer = client.get("/my/notifications", headers=world.headers("engineer"))
    assert "每日预警汇总" in engineer.text and "即时推送" not in engineer.text
    client.post("/my/notifications", data={}, headers={**world.headers("engineer"), **ajax})
    db.rollback()
    assert db.get(User, world.users["lab_a"]).alert_notice == AlertNotice.digest  # type: ignore[union-attr]
    assert db.get(User, world.users["engineer"]).daily_digest is False  # type: ignore[union-attr]
