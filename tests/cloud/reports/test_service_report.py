"""A ticket's service report: rendered in the background when the ticket is resolved, refreshed when it is closed
and rated, in Chinese with the hospital's time zone, served to those who may see the ticket, linked from the
reporter's page and carried by the closing messages."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.localtime import local_time
from cloud.notify.channels import RecordingChannel
from cloud.registry.models import Device, Hospital
from cloud.reports.models import ServiceReport
from cloud.reports.service_report import collect, render
from cloud.tickets.models import Ticket
from tests.cloud.reports.helpers import pdf_images, pdf_text, repaired_ticket
from tests.cloud.tickets.helpers import act, submit
from tests.cloud.world import World


def _stored(db: Session, app, ticket_id: int) -> tuple[ServiceReport, bytes]:  # noqa: ANN001
    assert app.state.report_flows.wait_idle(30)
    db.expire_all()
    row = db.execute(select(ServiceReport).where(ServiceReport.ticket_id == ticket_id)).scalar_one()
    content = (app.state.settings.data_dir / row.path).read_bytes()
    return row, content


def _notified(app) -> None:  # noqa: ANN001
    # Notifications may be worked off after the request by the app's outbox (cloud/notify/outbox.py).
    outbox = getattr(app.state, "outbox", None)
    assert outbox is None or outbox.wait_idle(30)


def _plain(text: str) -> str:
    return re.sub(r"\s+", "", text)


def test_a_repaired_ticket_gets_a_chinese_report_in_the_hospitals_time_zone(
        client: TestClient, app, db: Session, world: World) -> None:  # noqa: ANN001
    hospital = db.get(Hospital, world.hospital_a)
    assert hospital is not None
    hospital.time_zone = "America/New_York"  # far from the server's UTC and from Shanghai: the zone must be used
    db.commit()
    made = repaired_ticket(client, world)
    row, content = _stored(db, app, made["id"])
    assert content.startswith(b"%PDF") and row.size == len(content)
    assert row.sha256 == hashlib.sha256(content).hexdigest()
    ticket = db.get(Ticket, made["id"])
    device = db.get(Device, world.devices_a[0])
    assert ticket is not None and device is not None
    text = pdf_text(content)
    for expected in ("设备维修服务报告", made["number"], "上海交通大学医学院附属瑞金医院", device.system_number,
                     "故障类别温控", "反应盘加热器老化", "反应盘加热器", "04512345001", "更换反应盘加热器",
                     "反应盘温度报警", "现场维修", "维修前（1）", "维修后（1）", "工程师到场", "待确认",
                     "等待报修人确认", "工程师签字", "以上时间所在时区：纽约"):
        assert expected in text, expected
    # The timeline reads in New York time, not UTC and not Shanghai.
    assert _plain(local_time(ticket.created_at, "America/New_York")) in text
    assert _plain(local_time(ticket.created_at, "Asia/Shanghai")) not in text
    assert pdf_images(content) == 2  # the photo the reporter sent and the one the engineer took


def test_closing_and_rating_refresh_the_stored_report(client: TestClient, app, db: Session, world: World) -> None:  # noqa: ANN001
    made = repaired_ticket(client, world)
    first, before = _stored(db, app, made["id"])
    first_at, first_sha = first.updated_at, first.sha256
    lab = world.headers("lab_a")
    assert act(client, made["id"], lab, "confirm").json()["status"] == "closed"
    rated = act(client, made["id"], lab, "rate", rating_overall=5, rating_speed=4, rating_attitude=5,
                rating_skill=5, rating_comment="处理及时，很专业")
    assert rated.status_code == 200, rated.text
    row, content = _stored(db, app, made["id"])
    assert row.id == first.id and row.sha256 != first_sha and row.updated_at > first_at
    text = pdf_text(content)
    assert "已完成" in text and "待确认" not in text
    assert "lab_a于" in text and "在线确认维修完成" in text
    assert "处理及时，很专业" in text and "4/5" in text
    assert "处理及时" not in pdf_text(before)


def test_only_those_who_may_see_the_ticket_open_its_report(client: TestClient, app, world: World) -> None:  # noqa: ANN001
    made = repaired_ticket(client, world)
    url = f"/t/{made['number']}/report.pdf"
    by_link = client.get(f"{url}?k={made['key']}")
    assert by_link.status_code == 200 and by_link.headers["content-type"] == "application/pdf"
    assert by_link.content.startswith(b"%PDF") and "inline" in by_link.headers["content-disposition"]
    for who in ("lab_a", "agent", "engineer", "admin", "center"):  # the reporter, same-hospital lab user, staff
        assert client.get(url, headers=world.headers(who)).status_code == 200, who
    for headers in ({}, world.headers("lab_b"), world.headers("lab_new")):
        refused = client.get(url, headers=headers)
        assert refused.status_code == 404 and "未找到工单" in refused.text and "%PDF" not in refused.text
    assert client.get(f"{url}?k=wrong-key").status_code == 404
    assert client.get("/t/WO-999999/report.pdf", headers=world.headers("admin")).status_code == 404


def test_an_open_ticket_has_no_report_yet_and_its_page_hides_the_link(client: TestClient, world: World) -> None:
    body = submit(client, world).json()
    number, key = body["ticket"]["number"], body["reporter_key"]
    early = client.get(f"/t/{number}/report.pdf?k={key}")
    assert early.status_code == 404 and "服务报告尚未生成" in early.text
    page = client.get(f"/t/{number}?k={key}").text
    link = re.search(r'<a[^>]*id="report-cell"[^>]*>', page)
    assert link is not None and " hidden" in link.group(0)


def test_the_reporters_page_links_the_report_once_repaired(client: TestClient, world: World) -> None:
    made = repaired_ticket(client, world)
    page = client.get(f"/t/{made['number']}?k={made['key']}").text
    link = re.search(r'<a[^>]*id="report-cell"[^>]*>', page)
    assert link is not None and " hidden" not in link.group(0)
    assert f'href="/t/{made["number"]}/report.pdf?k={made["key"]}"' in link.group(0)
    assert "服务报告" in page


def test_the_closing_messages_carry_the_report_link(client: TestClient, app, world: World,  # noqa: ANN001
                                                    recording: RecordingChannel) -> None:
    made = repaired_ticket(client, world)
    _notified(app)
    link = f"{app.state.settings.public_url}/t/{made['number']}/report.pdf"
    done = [m for m in recording.sent if m.kind == "ticket.complete" and m.user_id == world.users["lab_a"]]
    assert len(done) == 1 and link in done[0].body and "服务报告" in done[0].body
    assert "处理结果：更换反应盘加热器" in done[0].body  # the findings still come with it
    act(client, made["id"], world.headers("lab_a"), "confirm")
    _notified(app)
    closed = [m for m in recording.sent if m.kind == "ticket.confirm" and m.user_id == world.users["engineer"]]
    assert len(closed) == 1 and link in closed[0].body
    opened = [m for m in recording.sent if m.kind == "ticket.submitted"]
    assert opened and all("report.pdf" not in m.body for m in opened)


def test_a_stale_or_missing_report_is_rendered_when_asked_for(client: TestClient, app, db: Session,  # noqa: ANN001
                                                               world: World) -> None:
    made = repaired_ticket(client, world)
    row, _ = _stored(db, app, made["id"])
    (app.state.settings.data_dir / row.path).unlink()  # e.g. a restored database without the files
    served = client.get(f"/t/{made['number']}/report.pdf", headers=world.headers("agent"))
    assert served.status_code == 200 and "更换反应盘加热器" in pdf_text(served.content)
    db.expire_all()
    row = db.execute(select(ServiceReport).where(ServiceReport.ticket_id == made["id"])).scalar_one()
    assert (app.state.settings.data_dir / row.path).read_bytes() == served.content
    # A change the background did not catch yet (here: written behind its back) is rendered on request too.
    ticket = db.get(Ticket, made["id"])
    assert ticket is not None
    ticket.root_cause = "温控板继电器粘连"
    ticket.updated_at = row.updated_at + timedelta(seconds=1)
    db.commit()
    again = client.get(f"/t/{made['number']}/report.pdf", headers=world.headers("agent"))
    assert "温控板继电器粘连" in pdf_text(again.content)


def test_an_old_ticket_shows_its_free_text_parts_and_a_remote_answer_has_no_engineer(
        client: TestClient, app, db: Session, world: World) -> None:  # noqa: ANN001
    tid = submit(client, world).json()["ticket"]["id"]
    answered = act(client, tid, world.headers("agent"), "answer", text="请重新装载试剂后再试",
                   fault_category="reagent_fluidics")
    assert answered.status_code == 200, answered.text
    ticket = db.get(Ticket, tid)
    assert ticket is not None
    ticket.parts_used = "试剂针 x1（旧工单的自由文本）"  # tickets from before the structured parts
    db.commit()
    data = collect(db, ticket, data_dir=app.state.settings.data_dir)
    assert data.parts == [] and data.parts_text == "试剂针 x1（旧工单的自由文本）"
    assert data.engineer == "" and data.tier == "远程解决" and data.fault_category == "试剂与液路"
    text = pdf_text(render(data))
    assert "试剂针x1（旧工单的自由文本）" in text and "无照片" in text and "请重新装载试剂后再试" in text
