"""The pre-check on the engineer's phone: a drifting analyzer opens a predictive ticket with a checklist, the
engineer ticks it, notes a finding and declares a false alarm; the alert, the policy and the desk follow.

Readings reach a real `medfix cloud serve` process through its ingest endpoint, as a gateway sends them; the
engineer works in Debian's chromium on a phone-sized viewport.
"""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from protocols.telemetry import encode_batch
from tests.cloud.telemetry.conftest import make_batch
from tests.e2e.conftest import LiveServer, page_errors, screenshot, sign_in, token

pytestmark = pytest.mark.browser

PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True,
         "locale": "zh-CN"}
DEVICE_NUMBER = "MF-000007"  # the demo's AU5800, a chemistry analyzer
METRIC = "reaction_disk_temp"
KEY = "au5800"
STEP_S = 10


def _readings(n: int, seed: int, level: float) -> list[float]:
    rng = random.Random(seed)
    return [level + rng.gauss(0.0, 0.05) for _ in range(n)]


def _open_predictive_ticket(server: LiveServer, admin: httpx.Client) -> tuple[dict[str, Any], dict[str, Any]]:
    """Map the AU5800 to a new gateway and stream 400 normal readings, then a step away: (device, alert)."""
    [device] = [d for d in admin.get("/api/v1/devices", params={"q": DEVICE_NUMBER}).json()["items"]
                if d["system_number"] == DEVICE_NUMBER]
    created = admin.post("/api/v1/gateways", json={"name": "precheck-gw", "hospital_id": device["hospital_id"]})
    assert created.status_code == 201, created.text
    gateway = created.json()
    mapped = admin.put(f"/api/v1/gateways/{gateway['id']}/devices/{KEY}", json={"device_id": device["id"]})
    assert mapped.status_code == 200, mapped.text
    values = _readings(400, 1, 37.0) + _readings(30, 2, 38.0)
    start = datetime.now(UTC) - timedelta(seconds=STEP_S * len(values))
    for sequence, offset in enumerate(range(0, len(values), 100)):
        readings = [(KEY, METRIC, v, start + timedelta(seconds=STEP_S * (offset + i)))
                    for i, v in enumerate(values[offset:offset + 100])]
        body = encode_batch(make_batch("precheck-gw", sequence, readings=readings, events=[]))
        sent = httpx.post(f"{server.url}/api/v1/ingest", content=body, timeout=30,
                          headers={"Authorization": f"Bearer {gateway['token']}", "Content-Type": "application/json"})
        assert sent.status_code == 200, sent.text
    deadline = time.monotonic() + 30  # the server scores off the request thread

    def fresh() -> list[dict[str, Any]]:  # the demo's year of history holds resolved alerts of this device too
        items = admin.get("/api/v1/alerts", params={"device_id": device["id"]}).json()["items"]
        return [a for a in items if a["status"] != "resolved"]

    while not (found := fresh()):
        assert time.monotonic() < deadline, "no alert within 30 s"
        time.sleep(0.3)
    [alert] = found
    assert alert["metric"] == METRIC and alert["ticket_id"]
    return device, alert


def _settle(phone: Any) -> None:
    """Scroll to the top (the bar is sticky) and let the toast go, so the full-page screenshot reads cleanly."""
    phone.evaluate("window.scrollTo(0, 0)")
    phone.wait_for_selector("[role=alert]", state="detached", timeout=5000)


def test_engineer_ticks_the_checklist_on_a_phone_and_declares_a_false_alarm(
        demo_server: LiveServer, browser: Any) -> None:
    admin = httpx.Client(base_url=demo_server.url, timeout=10,
                         headers={"Authorization": f"Bearer {token(demo_server, 'admin')}"})
    device, alert = _open_predictive_ticket(demo_server, admin)
    ticket_id = alert["ticket_id"]

    context = browser.new_context(**PHONE)
    phone = context.new_page()
    errors = page_errors(phone)
    sign_in(phone, demo_server, "engineer", f"/engineer/tickets/{ticket_id}")
    phone.wait_for_selector("#status[data-status=dispatched]")
    phone.wait_for_selector("#precheck")

    # The checklist for a chemistry analyzer's temperature, in Chinese, with the alert's chart one tap away.
    items = phone.locator(".pc-item")
    assert items.count() == 4
    assert "参考温度计" in items.nth(0).inner_text() and "质控" in items.nth(3).inner_text()
    assert phone.inner_text("#pc-progress").startswith("0/4")
    assert (phone.get_attribute("#pc-chart", "href") or "").startswith(f"/devices/{device['id']}/chart?metric={METRIC}")
    assert phone.locator("#pc-finish").is_visible()

    # Tick: the first done with a note, the bath not applicable, the rest done.
    items.nth(0).locator("[data-pc-answer=done]").click()
    phone.wait_for_selector('.pc-item[data-answer="done"] >> nth=0')
    phone.locator(".pc-item").nth(0).locator("[data-pc-note]").click()
    phone.fill("#s-note", "参考温度计 37.0 ℃，仪器显示 37.1 ℃，一致")
    phone.click(".weui-half-screen-dialog__ft button[type=submit]")
    phone.wait_for_selector(".pc-item >> nth=0 >> .pc-note")
    for index, answer in ((1, "not_applicable"), (2, "done"), (3, "done")):
        phone.locator(".pc-item").nth(index).locator(f"[data-pc-answer={answer}]").click()
        phone.wait_for_selector(f'.pc-item:nth-child({index + 1})[data-answer="{answer}"]')
    assert phone.inner_text("#pc-progress").startswith("4/4")
    assert "张工程师" in phone.locator(".pc-item").nth(0).inner_text()  # who ticked it
    assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth")  # no sideways scrolling
    _settle(phone)
    screenshot(phone, "precheck-checklist")

    # Finish as a false alarm: a note is required first.
    phone.click("#pc-finish")
    phone.check("input[name=outcome][value=false_alarm]")
    phone.click(".weui-half-screen-dialog__ft button[type=submit]")
    assert "说明" in phone.inner_text(".sheet-error")
    phone.fill("#s-finish-note", "当班更换试剂后反应盘温度短暂波动，参考温度计与质控均正常，判定误报")
    assert phone.locator(".sheet-error").is_hidden()  # typing clears the complaint
    screenshot(phone, "precheck-finish-form")
    phone.click(".weui-half-screen-dialog__ft button[type=submit]")
    phone.wait_for_selector("#pc-outcome[data-outcome=false_alarm]")
    phone.wait_for_selector("#status[data-status=resolved]")
    assert phone.locator("#pc-finish").count() == 0 and phone.locator(".pc-btn:not([disabled])").count() == 0
    assert "判定误报" in phone.inner_text("#pc-outcome")
    _settle(phone)
    screenshot(phone, "precheck-false-alarm")
    assert errors == []
    context.close()

    # The alert is a false alarm, its stream a notch less sensitive, and the desk was told.
    after = admin.get(f"/api/v1/alerts/{alert['id']}").json()
    assert (after["status"], after["resolution"], after["false_alarm"]) == ("resolved", "false_alarm", True)
    [policy] = admin.get("/api/v1/alert-policies", params={"device_id": device["id"]}).json()
    assert policy["metric"] == METRIC and policy["false_alarms"] == 1 and policy["sensitivity"] > 0.5
    agent = httpx.get(f"{demo_server.url}/api/v1/notifications", timeout=10,
                      headers={"Authorization": f"Bearer {token(demo_server, 'agent')}"}).json()
    assert any(n["kind"] == "ticket.false_alarm" and n["link"] == f"/console?ticket={ticket_id}" for n in agent)
    ticket = admin.get(f"/api/v1/tickets/{ticket_id}").json()
    assert ticket["findings"].startswith("当班更换试剂后") and ticket["timeline"][-1]["action"] == "precheck"
