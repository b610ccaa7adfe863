"""Bulk device import from CSV and XLSX: all or nothing, with a per-row report."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

from fastapi.testclient import TestClient
from openpyxl import Workbook

from tests.cloud.world import World

HEADER = "serial,manufacturer,model,category,hospital,department,install_date,warranty_end,keywords,is_key\n"
GOOD_ROWS = (
    "AU58-7001,Beckman Coulter,AU5800,chemistry,瑞金医院,检验科,2020-01-05,2025-01-05,生化;AU,yes\n"
    "CS51-7002,Sysmex,CS-5100,coagulation,上海交通大学医学院附属瑞金医院,凝血室,2021/03/01,,,no\n"
    "XN-7003,Sysmex,XN-550,hematology,中山医院,检验科,,,,\n"
)


def _upload(client: TestClient, world: World, name: str, content: bytes, dry_run: bool = False):
    return client.post(f"/api/v1/devices/import?dry_run={str(dry_run).lower()}", headers=world.headers("admin"),
                       files={"file": (name, content, "application/octet-stream")})


def _count(client: TestClient, world: World) -> int:
    return int(client.get("/api/v1/devices", headers=world.headers("admin")).json()["total"])


def test_csv_import_creates_devices_and_missing_departments(client: TestClient, world: World) -> None:
    before = _count(client, world)
    response = _upload(client, world, "devices.csv", (HEADER + GOOD_ROWS).encode())
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["created"] == 3
    assert report["created_departments"] == ["上海交通大学医学院附属瑞金医院 / 凝血室"]
    assert _count(client, world) == before + 3
    found = client.get("/api/v1/devices?q=AU58-7001", headers=world.headers("admin")).json()["items"][0]
    assert found["is_key"] is True and found["keywords"] == ["生化", "AU"] and found["install_date"] == "2020-01-05"


def test_one_bad_row_imports_nothing_and_names_the_row(client: TestClient, world: World) -> None:
    before = _count(client, world)
    bad = GOOD_ROWS + "BAD-1,Roche,cobas c 311,toaster,瑞金医院,检验科,2020-13-45,,,\n"
    response = _upload(client, world, "devices.csv", (HEADER + bad).encode())
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert {e["row"] for e in errors} == {5}
    assert {e["field"] for e in errors} >= {"category", "install_date"}
    assert _count(client, world) == before


def test_unknown_hospital_duplicates_in_file_and_in_registry_are_reported(client: TestClient, world: World) -> None:
    rows = (GOOD_ROWS
            + "AU58-7001,Beckman Coulter,AU5800,chemistry,瑞金医院,检验科,,,,\n"
            + "Z-1,Roche,cobas c 311,chemistry,不存在医院,检验科,,,,\n"
            + "C702-1,Roche,cobas c 702,chemistry,瑞金医院,检验科,,,,\n"
            + "C311-9,Roche,cobas c 311,chemistry,瑞金医院,检验科,2024-03-15,2023-03-15,,\n")
    response = _upload(client, world, "devices.csv", (HEADER + rows).encode())
    assert response.status_code == 422
    by_row = {e["row"]: e["message"] for e in response.json()["errors"]}
    assert "duplicate of row 2" in by_row[5]
    assert "unknown hospital" in by_row[6]
    assert "already registered" in by_row[7]
    assert "warranty ends before the device was installed" in by_row[8]


def test_missing_required_column_is_reported_on_the_header(client: TestClient, world: World) -> None:
    response = _upload(client, world, "devices.csv", b"serial,model\nX,Y\n")
    assert response.status_code == 422
    assert {e["field"] for e in response.json()["errors"]} == {"manufacturer", "category", "hospital"}


def test_xlsx_with_chinese_headers_imports(client: TestClient, world: World) -> None:
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["序列号", "厂家", "型号", "类别", "医院", "科室", "重点设备"])
    sheet.append(["BS2K-9001", "Mindray", "BS-2000M", "chemistry", "中山医院", "检验科", "是"])
    sheet.append(["ABL-9002", "Radiometer", "ABL90 FLEX", "blood_gas", "中山医院", "急诊检验", "否"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    response = _upload(client, world, "devices.xlsx", buffer.getvalue())
    assert response.status_code == 200, response.text
    assert response.json()["created"] == 2


def test_gb18030_csv_from_excel_is_understood(client: TestClient, world: World) -> None:
    response = _upload(client, world, "devices.csv", (HEADER + GOOD_ROWS).encode("gb18030"))
    assert response.status_code == 200
    assert response.json()["created"] == 3


def test_dry_run_checks_everything_and_writes_nothing(client: TestClient, world: World) -> None:
    before = _count(client, world)
    response = _upload(client, world, "devices.csv", (HEADER + GOOD_ROWS).encode(), dry_run=True)
    assert response.json() == {"created": 3, "created_departments": ["上海交通大学医学院附属瑞金医院 / 凝血室"],
                               "errors": [], "dry_run": True}
    assert _count(client, world) == before


def test_not_a_spreadsheet_is_422(client: TestClient, world: World) -> None:
    assert _upload(client, world, "devices.pdf", b"%PDF-1.4").status_code == 422
    assert _upload(client, world, "devices.xlsx", b"not a zip file").status_code == 422


def test_cli_import_reports_bad_rows_and_exit_code(settings, tmp_path: Path, world: World) -> None:
    env = {"MEDFIX_DATABASE_URL": settings.database_url, "MEDFIX_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    good = tmp_path / "good.csv"
    good.write_text(HEADER + GOOD_ROWS, encoding="utf-8")
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + "X-1,Roche,cobas,chemistry,nowhere,,,,,\n", encoding="utf-8")
    medfix = [sys.executable, "-m", "medfix.cli"]
    failed = subprocess.run([*medfix, "cloud", "import", "devices", str(bad)], env=env, capture_output=True,
                            text=True, timeout=120)
    assert failed.returncode == 1
    assert "row 2" in failed.stderr and "unknown hospital" in failed.stderr
    ok = subprocess.run([*medfix, "cloud", "import", "devices", str(good)], env=env, capture_output=True,
                        text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert "imported 3 device(s)" in ok.stdout
