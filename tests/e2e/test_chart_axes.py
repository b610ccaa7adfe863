"""The device chart's axes in a real browser: a switch reads 是/否, the instrument's clock reads as a time, and a
week's range holding an hour of readings labels its ticks with times of day, not one date over and over."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest

from protocols.telemetry import encode_batch
from tests.cloud.telemetry.conftest import make_batch
from tests.e2e.conftest import LiveServer, page_errors, screenshot, sign_in, token

pytestmark = pytest.mark.browser

DEVICE_NUMBER = "MF-000011"  # the cobas c 111: no gateway reads it in the demo
KEY = "c111-axes"
MINUTES = 60


def _stream_an_hour(server: LiveServer) -> tuple[dict[str, object], datetime]:
    """An hour of minute readings of a switch (running, on then off) and of the instrument's clock."""
    admin = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token(server, 'admin')}"},
                         timeout=30)
    [device] = [d for d in admin.get("/api/v1/devices", params={"q": DEVICE_NUMBER}).json()["items"]
                if d["system_number"] == DEVICE_NUMBER]
    gateway = admin.post("/api/v1/gateways", json={"name": "axes-gw", "hospital_id": device["hospital_id"]}).json()
    assert admin.put(f"/api/v1/gateways/{gateway['id']}/devices/{KEY}",
                     json={"device_id": device["id"]}).status_code == 200
    start = (datetime.now(UTC) - timedelta(minutes=MINUTES)).replace(second=0, microsecond=0)
    readings: list[tuple[str, str, float, datetime]] = []
    for i in range(MINUTES):
        at = start + timedelta(minutes=i)
        readings.append((KEY, "running", 1.0 if i < MINUTES // 2 else 0.0, at))
        readings.append((KEY, "device_clock", at.timestamp() * 1000 + 4000.0, at))
    body = encode_batch(make_batch("axes-gw", 0, readings=readings, events=[], unit=None))
    sent = httpx.post(f"{server.url}/api/v1/ingest", content=body, timeout=30,
                      headers={"Authorization": f"Bearer {gateway['token']}", "Content-Type": "application/json"})
    assert sent.status_code == 200, sent.text
    return device, start


def _axis_label(page: object, axis: str, value: float) -> str:
    """What the chart's axis prints for ``value`` (the axes are drawn on a canvas: ask ECharts' own formatter)."""
    return page.evaluate(  # type: ignore[attr-defined]
        f"(v) => echarts.getInstanceByDom(document.getElementById('chart')).getOption().{axis}[0]"
        ".axisLabel.formatter(v)", value)


def test_switches_clocks_and_a_short_stretch_of_a_long_range_read_as_people_read_them(
        demo_server: LiveServer, browser) -> None:  # noqa: ANN001
    device, start = _stream_an_hour(demo_server)
    shanghai = ZoneInfo("Asia/Shanghai")
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN", timezone_id="UTC")
    page = context.new_page()
    errors = page_errors(page)
    sign_in(page, demo_server, "engineer", f"/devices/{device['id']}/chart?metric=running&range=7d")
    page.wait_for_function(f"Number(document.getElementById('chart').dataset.points || 0) >= {MINUTES}")

    # The switch: its two states by name on the value axis, nothing in between.
    assert _axis_label(page, "yAxis", 1) == "是"
    assert _axis_label(page, "yAxis", 0) == "否"
    assert _axis_label(page, "yAxis", 0.5) == ""
    # A week's range, an hour of readings: the time axis tells times of day (Shanghai's), not the date.
    middle = start + timedelta(minutes=30)
    assert _axis_label(page, "xAxis", middle.timestamp() * 1000) == middle.astimezone(shanghai).strftime("%H:%M")
    screenshot(page, "chart-switch-390")

    # The instrument's clock: times on the value axis, the tooltip's value a date and time, never 13 digits.
    page.select_option("#metric-picker", "device_clock")
    page.wait_for_function("document.getElementById('chart-title').textContent.includes('时钟')")
    page.wait_for_function(f"Number(document.getElementById('chart').dataset.points || 0) >= {MINUTES}")
    label = _axis_label(page, "yAxis", middle.timestamp() * 1000)
    assert label == middle.astimezone(shanghai).strftime("%m-%d %H:%M"), label
    box = page.locator("#chart").bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] * 0.4)
    tip = page.locator("#chart div").filter(has_text="数值").last
    tip.wait_for()
    text = tip.inner_text()
    assert re.search(r"数值 \d{4}-\d\d-\d\d \d\d:\d\d", text), text
    assert not re.search(r"\d{10}", text), text
    screenshot(page, "chart-clock-390")

    # Back to a measured metric: the value axis is a plain scaled number axis again.
    page.select_option("#metric-picker", "running")
    page.wait_for_function(f"Number(document.getElementById('chart').dataset.points || 0) >= {MINUTES}")
    assert _axis_label(page, "yAxis", 1) == "是"
    assert errors == [], errors
    context.close()
