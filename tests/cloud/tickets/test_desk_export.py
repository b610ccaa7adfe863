"""The service desk's ticket list as a file: the console's search, filters, view and tab, every ticket of it, in
Chinese with local times; engineers and lab users get no file."""

from __future__ import annotations

import csv
import io
from datetime import UTC, timedelta

from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy.orm import Session

from cloud.registry.models import Hospital
from cloud.tickets.models import Ticket
from tests.cloud.tickets.helpers import act, submit
from tests.cloud.world import World

HEADERS = ("工单", "状态", "优先级", "来源", "医院", "科室", "设备", "型号", "铭牌序列号", "报修人", "客服负责人",
           "工程师", "报修时间", "首次响应", "解决时间", "故障类别", "服务层级", "评价", "时区")


def _rows(client: TestClient, world: World, query: str, user: str = "agent") -> list[tuple[object, ...]]:
    response = client.get(f"/console/export.xlsx?{query}", headers=world.headers(user))
    assert response.status_code == 200, response.text[:300]
    assert 'filename="medfix-tickets-' in response.headers["content-disposition"]
    sheet = load_workbook(io.BytesIO(response.content)).active
    assert sheet.title == "工单"  # a list of tickets, not 工单数 (a count)
    return list(sheet.iter_rows(values_only=True))


def test_the_desk_export_is_the_list_the_console_shows(client: TestClient, world: World, db: Session) -> None:
    answered = submit(client, world, device_id=world.devices_a[0], reporter_name="陈老师").json()["ticket"]
    waiting = submit(client, world, device_id=world.devices_a[3], reporter_name="王医生").json()["ticket"]
    other = submit(client, world, device_id=world.devices_b[0], reporter_name="李护士").json()["ticket"]
    assert act(client, answered["id"], world.headers("agent"), "answer", text="已远程重启",
               fault_category="temperature_control").status_code == 200
    db.get(Hospital, world.hospital_b).time_zone = "Asia/Tokyo"
    db.commit()

    console = client.get("/console", headers=world.headers("agent")).text
    assert 'id="export-xlsx"' in console and "导出 Excel" in console and "导出 CSV" in console

    rows = _rows(client, world, "view=all")
    assert rows[0] == HEADERS
    assert [row[0] for row in rows[1:]] == [other["number"], waiting["number"], answered["number"]]  # newest first
    done = next(row for row in rows[1:] if row[0] == answered["number"])
    assert done[1:5] == ("待确认", f"P{answered['priority']}", "网页报修", "上海交通大学医学院附属瑞金医院")
    assert done[5:10] == ("检验科", answered["device_system_number"], "cobas c 702", "C702-1", "陈老师")
    assert done[10] == "agent" and done[11] is None and done[15] == "温控" and done[16] == "远程解决"
    ticket = db.get(Ticket, answered["id"])
    created = ticket.created_at.replace(tzinfo=UTC)
    assert abs((done[12] - (created + timedelta(hours=8)).replace(tzinfo=None)).total_seconds()) < 1
    assert done[13] is not None and done[14] is not None and done[18] == "北京时间（UTC+8）"
    tokyo = next(row for row in rows[1:] if row[0] == other["number"])
    tokyo_created = db.get(Ticket, other["id"]).created_at.replace(tzinfo=UTC)
    assert abs((tokyo[12] - (tokyo_created + timedelta(hours=9)).replace(tzinfo=None)).total_seconds()) < 1
    assert tokyo[1] == "待处理" and tokyo[18] == "东京（UTC+9）"

    # The console's own query string: hospital filter and the to-do tab's statuses; search; views.
    todo = _rows(client, world, f"hospital_id={world.hospital_a}&view=all&status=submitted&status=reopened")
    assert [row[0] for row in todo[1:]] == [waiting["number"]]  # hospital B's ticket and the solved one left out
    assert [row[0] for row in _rows(client, world, f"q={other['number']}&view=all")[1:]] == [other["number"]]
    assert len(_rows(client, world, "view=unassigned")) == 1  # the agent owns every ticket
    assert len(_rows(client, world, "view=mine", user="admin")) == 1
    text = client.get("/console/export.csv?view=all&source=reported", headers=world.headers("agent"))
    table = list(csv.reader(io.StringIO(text.content.decode("utf-8-sig"))))
    assert table[0][0] == "工单" and len(table) == 4
    assert next(row for row in table if row[0] == answered["number"])[12].startswith(str(created.year))

    for user in ("engineer", "lab_a"):
        refused = client.get("/console/export.xlsx", headers=world.headers(user))
        assert refused.status_code == 403 and "spreadsheet" not in refused.headers["content-type"]
