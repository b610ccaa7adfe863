"""A hospital's monthly report: the month in the hospital's time zone, the dashboards' figures, stored once per
hospital and month, delivered on the 1st to the lab managers once, an empty month an empty but valid report, and
bad input a clear message, never a 500."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cloud.auth.models import User
from cloud.errors import Invalid, NotFound
from cloud.notify.channels import RecordingChannel
from cloud.notify.models import Notification
from cloud.registry.models import Hospital
from cloud.reports import service
from cloud.reports.models import MonthlyReport
from cloud.reports.monthly import parse_month
from cloud.reports.stats import Month, monthly_stats
from tests.cloud.reports.helpers import pdf_pages, pdf_text, repaired_ticket, set_times
from tests.cloud.tickets.helpers import act, submit
from tests.cloud.world import World

SHANGHAI = ZoneInfo("Asia/Shanghai")
MAY = Month(2026, 5, "Asia/Shanghai")
JUNE_1ST = datetime(2026, 6, 1, 0, 30, tzinfo=SHANGHAI)  # half an hour into June in Shanghai, still May in UTC


def _local(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI).astimezone(UTC)


@pytest.fixture
def may(client: TestClient, db: Session, world: World) -> dict[str, str]:
    """Hospital A's May: a ticket repaired on site (late), one answered remotely, one still open on the last
    evening; and one reported ten minutes into June 1st (Shanghai), which is still May 31st in UTC."""
    repaired = repaired_ticket(client, world)
    set_times(db, repaired["id"], created_at=_local(2026, 5, 3, 9, 0), first_responded_at=_local(2026, 5, 3, 9, 10),
              first_response_due_at=_local(2026, 5, 3, 9, 15), resolved_at=_local(2026, 5, 3, 15, 0),
              resolution_due_at=_local(2026, 5, 3, 13, 0))
    answered = submit(client, world, description="试剂余量报警").json()["ticket"]
    act(client, answered["id"], world.headers("agent"), "answer", text="请更换试剂盒",
        fault_category="reagent_fluidics")
    set_times(db, answered["id"], created_at=_local(2026, 5, 20, 10, 0), first_responded_at=_local(2026, 5, 20, 10, 5),
              first_response_due_at=_local(2026, 5, 20, 10, 15), resolved_at=_local(2026, 5, 20, 10, 5),
              resolution_due_at=_local(2026, 5, 20, 14, 0))
    late_evening = submit(client, world, description="加样针堵塞").json()["ticket"]
    set_times(db, late_evening["id"], created_at=_local(2026, 5, 31, 23, 30),
              first_response_due_at=_local(2026, 5, 31, 23, 45), resolution_due_at=_local(2026, 6, 1, 3, 30))
    june = submit(client, world, device_id=world.devices_a[1], description="六月的报修").json()["ticket"]
    set_times(db, june["id"], created_at=_local(2026, 6, 1, 0, 10), first_response_due_at=_local(2026, 6, 1, 0, 25),
              resolution_due_at=_local(2026, 6, 1, 4, 10))
    return {"repaired": repaired["number"], "answered": answered["number"], "open": late_evening["number"],
            "june": june["number"]}


def _hospital(db: Session, hospital_id: int) -> Hospital:
    hospital = db.get(Hospital, hospital_id)
    assert hospital is not None
    return hospital


def test_the_month_is_the_hospitals_and_its_figures_are_the_dashboards(db: Session, world: World,
                                                                       may: dict[str, str]) -> None:
    stats = monthly_stats(db, hospital=_hospital(db, world.hospital_a), month=MAY, now=JUNE_1ST)
    m = stats.summary
    assert (m.tickets, m.reports, m.repaired) == (3, 3, 2)
    assert m.open_faults == 1 and m.on_site == 1 and m.remote == 1
    assert (m.fr_met, m.fr_late) == (2, 1)  # the open one's first response is overdue by now
    assert (m.res_met, m.res_late) == (1, 1)  # repaired at 15:00, due 13:00; the open one is not due yet
    assert m.mttr_hours == pytest.approx((6 + 5 / 60) / 2)
    assert [i for i, n in enumerate(stats.daily) if n] == [2, 19, 30] and len(stats.daily) == 31
    assert [line.number for line in stats.lines] == [may["repaired"], may["answered"], may["open"]]
    faults = {f.code: (f.label, f.faults) for f in stats.faults}
    assert faults["temperature_control"] == ("温控", 1) and faults["reagent_fluidics"] == ("试剂与液路", 1)
    assert [p.tickets for p in stats.trend] == [0, 0, 0, 0, 0, 3]
    assert stats.top_devices[0].tickets == 3 and stats.engineers[0].on_site == 1


def test_a_finished_month_is_stored_once_and_reads_as_a_chinese_report(app, db: Session, world: World,  # noqa: ANN001
                                                                        may: dict[str, str]) -> None:
    data_dir = app.state.settings.data_dir
    hospital = _hospital(db, world.hospital_a)
    first = service.monthly_report(db, hospital, MAY, data_dir=data_dir, now=JUNE_1ST)
    db.commit()
    assert first.stored is not None and first.stored.month == "2026-05"
    assert (data_dir / first.stored.path).read_bytes() == first.content
    text = pdf_text(first.content)
    for expected in ("设备维保服务月报", "上海交通大学医学院附属瑞金医院", "2026年5月", "2026-05-01至2026-05-31",
                     "完整月份", "工单数3", "温控", "试剂与液路", may["repaired"], may["answered"], may["open"],
                     "报修最多的设备", "统计口径"):
        assert expected in text, expected
    assert may["june"] not in text
    again = service.monthly_report(db, hospital, MAY, data_dir=data_dir, now=JUNE_1ST + timedelta(days=3))
    db.commit()
    assert again.stored is not None and again.stored.id == first.stored.id and again.content == first.content
    count = db.execute(select(func.count()).select_from(MonthlyReport).where(
        MonthlyReport.hospital_id == hospital.id)).scalar_one()
    assert count == 1
    refreshed = service.monthly_report(db, hospital, MAY, data_dir=data_dir, now=JUNE_1ST, refresh=True)
    assert refreshed.stored is not None and refreshed.stored.id == first.stored.id


def test_a_month_without_tickets_is_an_empty_but_valid_report(app, db: Session, world: World) -> None:  # noqa: ANN001
    report = service.monthly_report(db, _hospital(db, world.hospital_b), Month(2026, 2, "Asia/Shanghai"),
                                    data_dir=app.state.settings.data_dir, now=JUNE_1ST)
    db.commit()
    assert report.stored is not None and pdf_pages(report.content) >= 1
    text = pdf_text(report.content)
    assert "2026年2月" in text and "2026-02-01至2026-02-28" in text and "本月无报修" in text
    assert "本月无数据" in text and "本月没有工单" in text and "工单数0" in text


def test_the_running_month_is_shown_as_it_stands_and_not_stored(app, db: Session, world: World,  # noqa: ANN001
                                                                may: dict[str, str]) -> None:
    # Asked for on May 25th: rendered for the asker, kept nowhere (the month is not over).
    report = service.monthly_report(db, _hospital(db, world.hospital_a), MAY, data_dir=app.state.settings.data_dir,
                                    now=_local(2026, 5, 25, 12, 0))
    assert report.stored is None
    text = pdf_text(report.content)
    assert "本月进行中" in text and "数据统计至2026-05-2512:00" in text and "完整月份" not in text


def test_on_the_first_last_months_report_reaches_the_lab_managers_once(app, db: Session, world: World,  # noqa: ANN001
                                                                        may: dict[str, str]) -> None:
    manager = db.get(User, world.users["lab_a"])
    assert manager is not None
    manager.is_lab_manager = True
    _hospital(db, world.hospital_a).created_at = datetime(2026, 1, 1, tzinfo=UTC)  # a customer since January
    db.commit()
    channel = RecordingChannel()
    sessions, data_dir = app.state.sessionmaker, app.state.settings.data_dir
    # The last evening of May in Shanghai: nothing is due yet.
    assert service.deliver_due(sessions, data_dir=data_dir, channels=[channel],
                               now=_local(2026, 5, 31, 23, 59)) == []
    done = service.deliver_due(sessions, data_dir=data_dir, channels=[channel], now=JUNE_1ST)
    # Hospital B has no manager, and joined (in this test world) long after May: no report for it.
    assert done == [(world.hospital_a, "2026-05")]
    [message] = channel.sent
    assert message.user_id == manager.id and message.kind == "report.monthly"
    assert message.link == f"/reports/monthly/{world.hospital_a}/2026-05.pdf"
    assert message.title == "设备维保服务月报" and "2026年5月" in message.body and "报修 3 次" in message.body
    db.expire_all()
    row = db.execute(select(MonthlyReport).where(MonthlyReport.hospital_id == world.hospital_a)).scalar_one()
    assert row.delivered_at is not None and row.month == "2026-05"
    # Later runs (this worker or another) tell nobody twice.
    assert service.deliver_due(sessions, data_dir=data_dir, channels=[channel],
                               now=JUNE_1ST + timedelta(hours=1)) == []
    assert len(channel.sent) == 1
    notification = db.execute(select(Notification).where(Notification.user_id == manager.id,
                                                          Notification.kind == "report.monthly")).scalar_one()
    assert notification.link == message.link
    assert db.execute(select(func.count()).select_from(MonthlyReport).where(
        MonthlyReport.hospital_id == world.hospital_b)).scalar_one() == 0


def test_a_manager_marked_later_in_the_first_week_still_gets_it_but_not_after(app, db: Session,  # noqa: ANN001
                                                                               world: World) -> None:
    hospital = _hospital(db, world.hospital_b)
    hospital.created_at = datetime(2026, 1, 1, tzinfo=UTC)
    db.commit()
    channel = RecordingChannel()
    sessions, data_dir = app.state.sessionmaker, app.state.settings.data_dir
    # The 1st: no manager yet, so the (empty) report is stored but not marked delivered.
    assert service.deliver_due(sessions, data_dir=data_dir, channels=[channel], now=JUNE_1ST) == []
    manager = db.get(User, world.users["lab_b"])
    assert manager is not None
    manager.is_lab_manager = True
    db.commit()
    later = service.deliver_due(sessions, data_dir=data_dir, channels=[channel],
                                now=datetime(2026, 6, 5, 9, 0, tzinfo=SHANGHAI))
    assert later == [(world.hospital_b, "2026-05")] and channel.sent[0].user_id == manager.id
    july_10th = datetime(2026, 7, 10, 9, 0, tzinfo=SHANGHAI)
    assert service.deliver_due(sessions, data_dir=data_dir, channels=[channel], now=july_10th) == []


def test_who_may_open_a_monthly_report_and_bad_input(client: TestClient, db: Session, world: World) -> None:
    url = f"/reports/monthly/{world.hospital_a}/2026-05.pdf"
    assert client.get(url, follow_redirects=False).status_code in (302, 303, 307)  # sign in first
    for who in ("admin", "agent", "center", "engineer"):
        served = client.get(url, headers=world.headers(who))
        assert served.status_code == 200 and served.content.startswith(b"%PDF"), who
    not_manager = client.get(url, headers=world.headers("lab_a"))
    assert not_manager.status_code == 404 and "未找到报告" in not_manager.text
    for username in ("lab_a", "lab_b"):
        user = db.get(User, world.users[username])
        assert user is not None
        user.is_lab_manager = True
    db.commit()
    assert client.get(url, headers=world.headers("lab_a")).status_code == 200
    other = client.get(url, headers=world.headers("lab_b"))  # another hospital's manager: as if it did not exist
    assert other.status_code == 404 and "%PDF" not in other.text
    admin = world.headers("admin")
    unknown = client.get("/reports/monthly/99999/2026-05.pdf", headers=admin)
    assert unknown.status_code == 404 and "未找到报告" in unknown.text
    for bad in ("2026-13", "2026-1x", "26-05", "1999-12", "latest"):
        refused = client.get(f"/reports/monthly/{world.hospital_a}/{bad}.pdf", headers=admin)
        assert refused.status_code == 400 and "月份格式不正确" in refused.text, bad
    ahead = client.get(f"/reports/monthly/{world.hospital_a}/2999-01.pdf", headers=admin)
    assert ahead.status_code == 400 and "该月份尚未开始" in ahead.text


def test_month_and_hospital_lookups_say_what_is_wrong(db: Session, world: World) -> None:
    assert parse_month("2026-11", "Asia/Shanghai") == Month(2026, 11, "Asia/Shanghai")
    assert parse_month(" 2026-1 ", "Asia/Shanghai").key == "2026-01"
    for bad in ("", "2026", "2026-00", "2026-13", "Nov 2026", "2026/11"):
        with pytest.raises(Invalid):
            parse_month(bad, "Asia/Shanghai")
    assert service.find_hospital(db, str(world.hospital_a)).id == world.hospital_a
    assert service.find_hospital(db, "复旦大学附属中山医院").id == world.hospital_b
    assert service.find_hospital(db, "中山医院").id == world.hospital_b  # an alias
    with pytest.raises(NotFound):
        service.find_hospital(db, "不存在的医院")
    assert MAY.start == datetime(2026, 4, 30, 16, 0, tzinfo=UTC) and MAY.end == datetime(2026, 5, 31, 16, 0, tzinfo=UTC)
    assert MAY.shifted(-5).key == "2025-12" and MAY.shifted(8).key == "2027-01"
