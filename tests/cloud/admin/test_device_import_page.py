"""Admin console, device import: the dry run lists every error (and writes nothing) or previews every row."""

from __future__ import annotations

import io

from openpyxl import Workbook
from sqlalchemy import func, select

from cloud.registry.models import Department, Device

HEADER = "序列号,厂家,型号,类别,医院,科室,重点设备\n"


def _send(client, world, name, content, dry_run="1"):  # noqa: ANN001, ANN202
    return client.post("/admin/devices/import", data={"dry_run": dry_run}, files={"file": (name, content)},
                       headers={**world.headers("admin"), "Accept": "application/json"})


def _count(db) -> int:  # noqa: ANN001
    db.expire_all()
    return db.execute(select(func.count()).select_from(Device)).scalar_one()


def test_a_file_with_errors_lists_every_one_in_chinese_and_writes_nothing(client, world, db) -> None:
    before = _count(db)
    bad = (HEADER + "S-1,Roche,cobas c 311,chemistry,瑞金医院,检验科,是\n"
           "S-2,Roche,cobas c 311,toaster,瑞金医院,,否\n"
           "S-1,Roche,cobas c 311,chemistry,瑞金医院,,\n"
           "S-4,Roche,cobas c 311,chemistry,火星医院,,\n"
           "C702-1,Roche,cobas c 702,chemistry,瑞金医院,,maybe\n")
    answer = _send(client, world, "devices.csv", bad.encode())
    assert answer.status_code == 422
    body = answer.json()
    assert body["detail"] == "4 行有错误，未写入任何数据。"
    rows = {(e["row"], e["field"]): e["message"] for e in body["errors"]}
    assert rows[(3, "类别")] == "不是允许的取值。"
    assert rows[(4, "序列号")] == "与第 2 行的厂家和序列号重复。"
    assert rows[(5, "医院")] == "未知医院 火星医院：请使用医院名称或别名。"
    assert rows[(6, "重点设备")] == "重点设备应填 是/否，而不是 maybe。"
    assert _count(db) == before
    assert _send(client, world, "devices.csv", bad.encode(), dry_run="0").status_code == 422
    assert _count(db) == before
    header = _send(client, world, "devices.csv", "序列号,厂家\nX,Y\n".encode())
    assert header.status_code == 422 and {e["field"] for e in header.json()["errors"]} >= {"型号", "类别", "医院"}
    assert "导入文件须为" in _send(client, world, "devices.pdf", b"%PDF").json()["detail"]


def test_a_clean_xlsx_is_previewed_then_imported(client, world, db) -> None:
    book = Workbook()
    sheet = book.active
    sheet.append(["序列号", "厂家", "型号", "类别", "医院", "科室"])
    sheet.append(["AU-1", "Beckman", "AU5800", "chemistry", "瑞金医院", "急诊检验"])
    sheet.append(["AU-2", "Beckman", "AU5800", "chemistry", "中山医院", ""])
    data = io.BytesIO()
    book.save(data)
    before = _count(db)
    preview = _send(client, world, "devices.xlsx", data.getvalue())
    assert preview.status_code == 200
    body = preview.json()
    assert body["count"] == 2 and body["message"] == "检查通过：2 台设备可以导入。"
    assert [r["serial"] for r in body["rows"]] == ["AU-1", "AU-2"] and body["rows"][0]["category"] == "生化"
    assert body["created_departments"] == ["上海交通大学医学院附属瑞金医院 / 急诊检验"]
    assert _count(db) == before and db.execute(select(Department).where(Department.name == "急诊检验")).first() is None
    done = _send(client, world, "devices.xlsx", data.getvalue(), dry_run="0")
    assert done.status_code == 200 and done.json()["message"] == "已导入 2 台设备。"
    assert _count(db) == before + 2


def test_the_import_page_and_template_are_admin_only(client, world) -> None:
    page = client.get("/admin/devices/import", headers=world.headers("admin"))
    assert page.status_code == 200 and "检查（试运行）" in page.text
    template = client.get("/admin/devices/import/template.csv", headers=world.headers("admin"))
    assert template.content.decode("utf-8-sig").startswith("序列号,厂家,型号")
    assert client.get("/admin/devices/import", headers=world.headers("agent")).status_code == 403
