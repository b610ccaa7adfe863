"""The dashboards over HTTP: numbers, role scoping (another hospital is 404), bad filters said clearly, drill-down
links, CSV/XLSX exports a spreadsheet opens, and the page itself."""

from __future__ import annotations

import csv
import io

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy.orm import Session

from cloud.auth.models import User
from tests.cloud.dashboards.history import History, build_history
from tests.cloud.world import World

JAN_FEB = {"start": "2026-01", "end": "2026-02"}


@pytest.fixture
def history(db: Session, world: World) -> History:
    return build_history(db, world)


def _make(db: Session, world: World, username: str, **fields) -> None:  # noqa: ANN003
    user = db.get(User, world.users[username])
    assert user is not None
    for name, value in fields.items():
        setattr(user, name, value)
    db.commit()


def test_the_desk_sees_hospital_a_numbers(client: TestClient, world: World, history: History) -> None:
    body = client.get("/api/v1/dashboards/overview", headers=world.headers("agent"),
                      params={**JAN_FEB, "hospital_id": world.hospital_a}).json()
    s = body["summary"]
    assert (s["tickets"], s["reports"], s["faults"], s["repaired"]) == (8, 5, 6, 5)
    assert s["failure_rate"] == pytest.approx(0.75) and s["predictive_precision"] == pytest.approx(2 / 3)
    assert [m["month"] for m in body["trend"]] == ["2026-01-01", "2026-02-01"]
    assert body["filters"]["time_zone"] == "Asia/Shanghai"
    everything = client.get("/api/v1/dashboards/overview", headers=world.headers("admin"), params=JAN_FEB).json()
    assert everything["summary"]["tickets"] == 9  # hospital B's b1 too


def test_the_breakdown_comes_in_pages_with_its_total(client: TestClient, world: World, history: History) -> None:
    headers = world.headers("admin")
    params = {**JAN_FEB, "hospital_id": world.hospital_a, "by": "device"}
    whole = client.get("/api/v1/dashboards/breakdown", headers=headers, params=params).json()
    assert whole["total"] == len(whole["rows"]) == 4
    second = client.get("/api/v1/dashboards/breakdown", headers=headers,
                        params={**params, "limit": 3, "offset": 3}).json()
    assert (second["total"], second["offset"], second["limit"]) == (4, 3, 3)
    assert second["rows"] == whole["rows"][3:]
    bad = client.get("/api/v1/dashboards/breakdown", headers=headers, params={**params, "offset": -1})
    assert bad.status_code == 422


def test_a_lab_manager_sees_only_their_hospital(client: TestClient, db: Session, world: World,
                                                history: History) -> None:
    headers = world.headers("lab_a")
    assert client.get("/api/v1/dashboards/overview", headers=headers, params=JAN_FEB).status_code == 403
    _make(db, world, "lab_a", is_lab_manager=True)
    own = client.get("/api/v1/dashboards/overview", headers=headers, params=JAN_FEB).json()
    assert own["summary"]["tickets"] == 8 and own["filters"]["hospital_ids"] == [world.hospital_a]
    other = client.get("/api/v1/dashboards/overview", headers=headers,
                       params={**JAN_FEB, "hospital_id": world.hospital_b})
    assert other.status_code == 404 and other.json()["message"] == "没有这家医院，或您无权查看。"
    dept = client.get("/api/v1/dashboards/breakdown", headers=headers,
                      params={**JAN_FEB, "department_id": world.dept_b})
    assert dept.status_code == 404
    device = client.get("/api/v1/dashboards/tickets", headers=headers,
                        params={**JAN_FEB, "device_id": world.devices_b[0]})
    assert device.status_code == 404
    hospitals = client.get("/api/v1/dashboards/options", headers=headers).json()["hospitals"]
    assert [h["id"] for h in hospitals] == [world.hospital_a]


def test_an_engineer_sees_the_hospitals_they_serve(client: TestClient, db: Session, world: World,
                                                   history: History) -> None:
    _make(db, world, "engineer", service_hospital_ids=[world.hospital_b])
    headers = world.headers("engineer")
    served = client.get("/api/v1/dashboards/overview", headers=headers, params=JAN_FEB).json()
    assert served["summary"]["tickets"] == 1
    assert client.get("/api/v1/dashboards/overview", headers=headers,
                      params={**JAN_FEB, "hospital_id": world.hospital_a}).status_code == 404
    tickets = client.get("/api/v1/dashboards/tickets", headers=headers, params=JAN_FEB).json()
    assert [t["number"] for t in tickets["items"]] == ["DASH-b1"]
    assert tickets["items"][0]["link"].startswith("/engineer/tickets/")


@pytest.mark.parametrize(("params", "status", "message"), [
    ({"start": "2026-03", "end": "2026-01"}, 422, "时间范围的结束早于开始。"),
    ({"start": "2026-13"}, 422, "日期请写成年-月（2026-11）或年-月-日（2026-11-05）。"),
    ({"hospital_id": 999999}, 404, "没有这家医院，或您无权查看。"),
    ({"age_band": "ancient"}, 422, "未知的机龄段。"),
    ({"source": "fax"}, 422, "未知的来源。"),
    ({"start": "2015-01", "end": "2026-01"}, 422, "时间范围超过五年。"),
])
def test_impossible_filters_get_a_clear_message(client: TestClient, world: World, params: dict[str, object],
                                                status: int, message: str) -> None:
    response = client.get("/api/v1/dashboards/overview", headers=world.headers("admin"), params=params)
    assert response.status_code == status
    assert response.json()["message"] == message


def test_drill_down_lists_tickets_with_links_for_the_desk(client: TestClient, world: World, history: History) -> None:
    response = client.get("/api/v1/dashboards/tickets", headers=world.headers("agent"),
                          params={**JAN_FEB, "hospital_id": world.hospital_a, "measure": "fr_late"})
    body = response.json()
    assert body["total"] == 2
    assert {t["number"] for t in body["items"]} == {"DASH-t2", "DASH-t6"}
    assert all(t["link"] == f"/console?ticket={t['id']}" for t in body["items"])
    month = client.get("/api/v1/dashboards/tickets", headers=world.headers("agent"),
                       params={**JAN_FEB, "hospital_id": world.hospital_a, "measure": "faults", "month": "2026-02",
                               "by": "model", "key": "XN-1000"}).json()
    assert [t["number"] for t in month["items"]] == ["DASH-t6"]  # a3 is the XN-1000
    bad = client.get("/api/v1/dashboards/tickets", headers=world.headers("agent"),
                     params={**JAN_FEB, "measure": "everything"})
    assert bad.status_code == 422 and bad.json()["message"] == "未知的统计项。"


def test_csv_exports_open_as_spreadsheets(client: TestClient, world: World, history: History) -> None:
    params = {**JAN_FEB, "hospital_id": world.hospital_a}
    response = client.get("/api/v1/dashboards/export.csv", headers=world.headers("agent"),
                          params={**params, "view": "breakdown", "by": "age_band"})
    assert response.status_code == 200
    assert response.headers["content-disposition"] == 'attachment; filename="medfix-breakdown-20260101-20260228.csv"'
    assert response.content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0][:4] == ["设备年限", "工单数", "报修数", "故障数"]
    by_band = {row[0]: row for row in rows[1:]}
    assert by_band["3–5 年"][1:4] == ["3", "2", "2"]  # t6 t7 t10: two reported, two faults
    tickets = list(csv.reader(io.StringIO(client.get(
        "/api/v1/dashboards/export.csv", headers=world.headers("agent"),
        params={**params, "view": "tickets", "measure": "faults"}).content.decode("utf-8-sig"))))
    assert len(tickets) == 1 + 6 and tickets[0][0] == "工单"
    assert {row[0] for row in tickets[1:]} == {"DASH-t1", "DASH-t2", "DASH-t4", "DASH-t5", "DASH-t6", "DASH-t10"}
    assert next(row for row in tickets[1:] if row[0] == "DASH-t1")[1] == "2026-01-05 10:00"  # Shanghai time
    status = tickets[0].index("状态")
    # the desk's words for a status, as the console says them, never the reporter's ("已处理，待您确认")
    assert {row[status] for row in tickets[1:]} <= {"待处理", "远程诊断中", "已派工", "已接单", "已到场", "待确认",
                                                      "已重开", "已关闭", "已取消", "已合并"}, tickets


def test_the_whole_dashboard_exports_as_one_workbook(client: TestClient, world: World, history: History) -> None:
    response = client.get("/api/v1/dashboards/export.xlsx", headers=world.headers("admin"),
                          params={**JAN_FEB, "hospital_id": world.hospital_a, "view": "dashboard", "by": "model"})
    assert response.status_code == 200
    book = load_workbook(io.BytesIO(response.content))
    assert book.sheetnames == ["概览", "月度趋势", "按维度 · 型号", "故障分类", "各月故障分类", "工程师"]
    summary = {row[0]: row[1] for row in book["概览"].iter_rows(min_row=2, values_only=True)}
    assert summary["工单数"] == 8 and summary["故障数"] == 6
    assert summary["首次修复率"] == pytest.approx(0.8)
    assert book["概览"]["B12"].number_format == "0.0%"  # a rate reads as a percentage
    months = [row[0] for row in book["月度趋势"].iter_rows(min_row=2, values_only=True)]
    assert months == ["2026-01", "2026-02"]
    engineers = list(book["工程师"].iter_rows(min_row=2, values_only=True))
    assert engineers[0][:3] == ("engineer", 2, 2)
    assert client.get("/api/v1/dashboards/export.csv", headers=world.headers("admin"),
                      params={"view": "dashboard"}).status_code == 422


def test_the_page_for_each_role(client: TestClient, db: Session, world: World, history: History) -> None:
    page = client.get("/dashboards", headers=world.headers("agent"))
    assert page.status_code == 200 and "看板" in page.text and "/vendor/echarts/echarts.min.js" in page.text
    assert client.get("/dashboards", headers={**world.headers("lab_a"), "Accept": "text/html"}).status_code == 403
    _make(db, world, "lab_a", is_lab_manager=True)
    own = client.get("/dashboards", headers=world.headers("lab_a"))
    assert own.status_code == 200
    other = client.get("/dashboards", headers=world.headers("lab_a"), params={"hospital_id": world.hospital_b})
    assert other.status_code == 404 and "没有这家医院，或您无权查看。" in other.text
    impossible = client.get("/dashboards", headers=world.headers("agent"), params={"start": "2026-05",
                                                                                   "end": "2026-01"})
    assert impossible.status_code == 400 and "时间范围的结束早于开始。" in impossible.text
    drill = client.get("/dashboards/tickets", headers=world.headers("agent"),
                       params={**JAN_FEB, "measure": "faults", "month": "2026-01", "by": "hospital",
                               "key": world.hospital_a})
    assert drill.status_code == 200
    assert "2026-01 · 医院: 上海交通大学医学院附属瑞金医院" in drill.text
    nav = client.get("/console", headers=world.headers("agent")).text
    assert 'href="/dashboards"' in nav
