"""The device chart page: who may open it, and what it renders (metric list, preselection, links)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from cloud.alerts.models import Alert, AlertSeverity, AlertStatus
from cloud.audit.service import Actor
from cloud.i18n import CATALOG
from cloud.telemetry import service as telemetry
from cloud.web.charts import JS_TEXTS
from protocols.telemetry import encode_batch
from tests.cloud.telemetry.conftest import T0, add_gateway, make_batch
from tests.cloud.world import World


@pytest.fixture
def device(client: TestClient, db: Session, world: World) -> int:
    """Hospital A's first device, with temperature and pressure readings through the ingest (and one text value)."""
    gateway = add_gateway(db, world.hospital_a)
    device_id = world.devices_a[0]
    telemetry.map_device(db, gateway_id=gateway.id, device_key="c702", device_id=device_id,
                         actor=Actor.system("test"))
    db.commit()
    readings = [("c702", metric, base + i / 10, T0 + timedelta(seconds=10 * i))
                for metric, base in (("reaction_disk_temp", 37.0), ("wash_pressure", 150.0)) for i in range(5)]
    readings.append(("c702", "firmware", "4.2a", T0))
    body = encode_batch(make_batch(gateway.name, readings=readings, events=[]))
    response = client.post("/api/v1/ingest", content=body,
                           headers={**gateway.headers, "Content-Type": "application/json"})
    assert response.status_code == 200, response.text
    return device_id


def _get(client: TestClient, world: World, path: str, username: str | None) -> object:
    headers = world.headers(username) if username else {}
    return client.get(path, headers=headers, follow_redirects=False)


def _config(html: str) -> dict[str, object]:
    found = re.search(r"startChart\((\{.*?\})\);", html, re.S)
    assert found, "the page starts the chart script"
    return json.loads(found.group(1))


@pytest.mark.parametrize("username", ["admin", "agent", "center", "engineer", "lab_a"])
def test_staff_and_the_devices_own_verified_lab_users_see_the_chart(
        client: TestClient, world: World, device: int, username: str) -> None:
    response = _get(client, world, f"/devices/{device}/chart", username)
    assert response.status_code == 200
    assert "/vendor/echarts/echarts.min.js" in response.text and "/static/js/chart.js" in response.text
    assert "运行曲线" in response.text


def test_visitors_without_a_session_are_sent_to_sign_in(client: TestClient, world: World, device: int) -> None:
    response = _get(client, world, f"/devices/{device}/chart?metric=wash_pressure", None)
    assert response.status_code == 303
    assert response.headers["location"] == f"/login?next=/devices/{device}/chart%3Fmetric%3Dwash_pressure"


@pytest.mark.parametrize("username", ["lab_b", "lab_new"])
def test_other_hospitals_and_unverified_lab_users_get_not_found(
        client: TestClient, world: World, device: int, username: str) -> None:
    response = _get(client, world, f"/devices/{device}/chart", username)
    assert response.status_code == 404
    assert "startChart" not in response.text and "reaction_disk_temp" not in response.text
    assert "未找到设备" in response.text


def test_a_device_that_does_not_exist_is_not_found(client: TestClient, world: World) -> None:
    assert _get(client, world, "/devices/999999/chart", "admin").status_code == 404


def test_the_page_lists_the_numeric_metrics_and_preselects_the_first(
        client: TestClient, world: World, device: int) -> None:
    html = _get(client, world, f"/devices/{device}/chart", "admin").text
    assert 'data-metric="reaction_disk_temp"' in html and 'data-metric="wash_pressure"' in html
    assert 'data-metric="firmware"' not in html  # a text value cannot be drawn
    config = _config(html)
    assert [m["name"] for m in config["metrics"]] == ["reaction_disk_temp", "wash_pressure"]
    assert config["metric"] == "reaction_disk_temp" and config["preset"] == "1h"
    assert config["deviceId"] == device and config["ticketBase"] == "/console?ticket="


def test_the_alert_link_preselects_metric_and_start(client: TestClient, world: World, device: int) -> None:
    html = _get(client, world, f"/devices/{device}/chart?metric=wash_pressure&start=2026-01-01T00:00:00%2B00:00",
                "engineer").text
    config = _config(html)
    assert config["metric"] == "wash_pressure"
    assert config["preset"] == "custom" and config["start"] == "2026-01-01T00:00:00+00:00" and config["end"] is None
    assert config["ticketBase"] == "/engineer/tickets/"
    assert '<option value="wash_pressure" selected>' in html


def test_a_lab_user_gets_no_ticket_links_and_a_way_back_to_their_devices(
        client: TestClient, world: World, device: int) -> None:
    html = _get(client, world, f"/devices/{device}/chart?metric=nonsense&start=garbage", "lab_a").text
    config = _config(html)
    assert config["ticketBase"] is None and config["metric"] == "reaction_disk_temp" and config["preset"] == "1h"
    assert 'href="/my/devices"' in html and 'href="/admin/devices"' not in html


def test_a_device_without_readings_says_so(client: TestClient, world: World) -> None:
    html = _get(client, world, f"/devices/{world.devices_a[1]}/chart", "admin").text
    assert "该设备尚未上报数据。" in html and "startChart" not in html


def test_the_admin_device_list_links_every_device_to_its_chart(client: TestClient, world: World) -> None:
    html = _get(client, world, "/admin/devices", "admin").text
    for device_id in world.devices_a + world.devices_b:
        assert f'href="/devices/{device_id}/chart"' in html


def test_every_chart_script_text_has_a_chinese_translation() -> None:
    missing = [key for key in JS_TEXTS if key not in CATALOG["zh-CN"]]
    assert missing == []


def test_a_count_reads_as_a_number_with_no_raw_unit(client: TestClient, db: Session, world: World,
                                                     device: int) -> None:
    # A gateway that sends unit "count" with a test counter at 449,600 showed "4.496e+05 count" in the metric list.
    gateway = add_gateway(db, world.hospital_a, name="gw-counts")
    telemetry.map_device(db, gateway_id=gateway.id, device_key="c702", device_id=device, actor=Actor.system("test"))
    db.commit()
    readings = [("c702", "test_count", 449_600 + i, T0 + timedelta(seconds=10 * i)) for i in range(3)]
    body = encode_batch(make_batch(gateway.name, readings=readings, events=[], unit="count"))
    response = client.post("/api/v1/ingest", content=body,
                           headers={**gateway.headers, "Content-Type": "application/json"})
    assert response.status_code == 200, response.text
    html = _get(client, world, f"/devices/{device}/chart", "admin").text
    item = html[html.index('data-metric="test_count"'):]
    item = item[:item.index("</li>")]
    assert "449,602" in item and "e+" not in item and "count<" not in item, item
    assert {m["name"]: m["unit"] for m in _config(html)["metrics"]}["test_count"] == ""
    temperature = html[html.index('data-metric="reaction_disk_temp"'):]
    assert "37.4" in temperature[:temperature.index("</li>")] and "°C" in temperature[:temperature.index("</li>")]


def test_opened_without_a_metric_it_shows_the_latest_alert_else_a_measured_metric(
        client: TestClient, db: Session, world: World, device: int) -> None:
    # It opened on whichever metric sorted first: a "calibrating" status point, empty within the hour.
    gateway = add_gateway(db, world.hospital_a, name="gw-status")
    telemetry.map_device(db, gateway_id=gateway.id, device_key="c702", device_id=device, actor=Actor.system("test"))
    db.commit()
    body = encode_batch(make_batch(gateway.name, readings=[("c702", "calibrating", 0, T0)], events=[], unit=None))
    assert client.post("/api/v1/ingest", content=body,
                       headers={**gateway.headers, "Content-Type": "application/json"}).status_code == 200
    config = _config(_get(client, world, f"/devices/{device}/chart", "admin").text)
    assert "calibrating" in [m["name"] for m in config["metrics"]]
    assert config["metric"] != "calibrating" and config["preset"] == "1h"

    began = datetime.now(UTC) - timedelta(hours=5)  # an alert on the pressure five hours ago
    db.add(Alert(hospital_id=world.hospital_a, device_id=device, metric="wash_pressure", status=AlertStatus.resolved,
                 severity=AlertSeverity.warning, started_at=began, last_abnormal_at=began + timedelta(minutes=20),
                 last_score=0.3, peak_score=0.7, resolved_at=datetime.now(UTC), resolution="recovered"))
    db.commit()
    config = _config(_get(client, world, f"/devices/{device}/chart", "admin").text)
    assert config["metric"] == "wash_pressure" and config["preset"] == "6h"
    asked = _config(_get(client, world, f"/devices/{device}/chart?metric=reaction_disk_temp", "admin").text)
    assert asked["metric"] == "reaction_disk_temp" and asked["preset"] == "1h"  # what was asked for wins


def test_switches_the_instruments_clock_and_micro_units_read_as_people_write_them(
        client: TestClient, db: Session, world: World, device: int) -> None:
    # The audit of the demo found "仪器盖已关闭 1", "仪器时钟 1,796,515,823,099 ms" and "uS/cm" in the metric list,
    # and the raw metric keys in the names' tooltips.
    gateway = add_gateway(db, world.hospital_a, name="gw-status")
    telemetry.map_device(db, gateway_id=gateway.id, device_key="c702", device_id=device, actor=Actor.system("test"))
    db.commit()
    clock_ms = int(T0.timestamp() * 1000) + 3_000
    batches = [
        make_batch(gateway.name, 0, readings=[("c702", "cover_closed", 1, T0), ("c702", "fridge_compressor_on", 0, T0)],
                   events=[], unit=None),
        make_batch(gateway.name, 1, readings=[("c702", "device_clock", clock_ms, T0)], events=[], unit="ms"),
        make_batch(gateway.name, 2, readings=[("c702", "water_conductivity", 0.8, T0)], events=[], unit="uS/cm"),
        make_batch(gateway.name, 3, readings=[("c702", "uptime", 86_770, T0)], events=[], unit="s"),
    ]
    for batch in batches:
        response = client.post("/api/v1/ingest", content=encode_batch(batch),
                               headers={**gateway.headers, "Content-Type": "application/json"})
        assert response.status_code == 200, response.text
    html = _get(client, world, f"/devices/{device}/chart", "engineer").text

    def item(metric: str) -> str:
        found = html[html.index(f'data-metric="{metric}"'):]
        found = found[found.index(">") + 1:]
        return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", found[:found.index("</li>")])).strip()

    assert item("cover_closed") == "仪器盖已关闭 是" and item("fridge_compressor_on").endswith(" 否")
    local = (T0 + timedelta(seconds=3)).astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M:%S")
    assert item("device_clock").endswith(local), item("device_clock")
    assert item("water_conductivity").endswith("0.8 µS/cm"), item("water_conductivity")
    assert item("uptime") == "运行时长 1 天 0 小时", item("uptime")  # was "86,770 s"
    shapes = {m["name"]: m["shape"] for m in _config(html)["metrics"]}
    assert {k: shapes[k] for k in ("cover_closed", "fridge_compressor_on", "device_clock", "uptime")} == {
        "cover_closed": "switch", "fridge_compressor_on": "switch", "device_clock": "clock", "uptime": ""}
    # the detector's score is for staff; the lab reads the alert itself
    assert _config(html)["showScores"] is True
    lab = _get(client, world, f"/devices/{device}/chart", "lab_a").text
    assert _config(lab)["showScores"] is False
    assert {m["name"]: m["unit"] for m in _config(html)["metrics"]}["water_conductivity"] == "µS/cm"
    assert 'title="cover_closed"' not in html and 'title="reaction_disk_temp"' not in html
