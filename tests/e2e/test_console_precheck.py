"""A predictive ticket's pre-check in the service desk console: the agent sees the checklist with its progress,
ticks a check from the console, and watches the engineer's answers, note and outcome arrive live.

The ticket comes from real readings sent to a `medfix cloud serve` process (as in test_precheck.py); the agent works
in Debian's chromium on a desktop viewport, the engineer through the REST API as their phone does.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.e2e.conftest import LiveServer, page_errors, screenshot, sign_in, token
from tests.e2e.test_precheck import METRIC, _open_predictive_ticket

pytestmark = pytest.mark.browser

DESKTOP = {"viewport": {"width": 1440, "height": 1000}, "locale": "zh-CN"}


def _scroll_to_precheck(page: Any) -> None:
    """Scroll the detail panel so the description and the pre-check are in view for the screenshot."""
    page.evaluate("document.querySelector('.d-scroll').scrollTop = "
                  "document.querySelector('#d-precheck').offsetTop - 100")


def test_agent_follows_and_ticks_the_precheck_in_the_console(demo_server: LiveServer, browser: Any) -> None:
    admin = httpx.Client(base_url=demo_server.url, timeout=10,
                         headers={"Authorization": f"Bearer {token(demo_server, 'admin')}"})
    device, alert = _open_predictive_ticket(demo_server, admin)
    ticket_id = alert["ticket_id"]
    engineer = httpx.Client(base_url=demo_server.url, timeout=10,
                            headers={"Authorization": f"Bearer {token(demo_server, 'engineer')}"})

    context = browser.new_context(**DESKTOP)
    page = context.new_page()
    errors = page_errors(page)
    sign_in(page, demo_server, "agent", f"/console?ticket={ticket_id}")
    page.wait_for_selector("#live[data-state=open]")
    page.wait_for_selector("#d-precheck .pc-item")

    # The checklist, nothing answered yet, each check marked open.
    items = page.locator("#d-precheck .pc-item")
    assert items.count() == 4
    assert page.inner_text("#d-pc-progress").startswith("0/4")
    assert [items.nth(i).locator(".pc-state").inner_text() for i in range(4)] == ["待确认"] * 4
    assert "参考温度计" in items.nth(0).inner_text()

    # The description's chart link reads as a short link, and the URL behind it carries plain times.
    link = page.locator(".d-desc a.chart-link")
    assert link.inner_text().startswith("告警曲线")
    href = link.get_attribute("href") or ""
    assert href.startswith(f"/devices/{device['id']}/chart?metric={METRIC}&start=") and href.endswith("Z"), href
    assert "%" not in href and "/devices/" not in page.inner_text(".d-desc")

    # The agent ticks the first check from the console; clicking it again would take it back.
    items.nth(0).locator("[data-pc-answer=done]").click()
    page.wait_for_selector('#d-precheck .pc-item:nth-child(1)[data-answer="done"]')
    assert page.inner_text("#d-pc-progress").startswith("1/4")
    assert "王坐席" in items.nth(0).inner_text() and "已完成" in items.nth(0).locator(".pc-state").inner_text()

    # The engineer answers on their phone: the console follows live, with the note and who answered.
    task = engineer.get(f"/api/v1/tickets/{ticket_id}/precheck").json()
    ids = [item["id"] for item in task["items"]]
    answered = engineer.patch(f"/api/v1/tickets/{ticket_id}/precheck/items/{ids[1]}",
                              json={"answer": "not_applicable", "note": "本机无恒温槽，不适用"})
    assert answered.status_code == 200, answered.text
    page.wait_for_selector('#d-precheck .pc-item:nth-child(2)[data-answer="not_applicable"]')
    second = items.nth(1).inner_text()
    assert "本机无恒温槽" in second and "张工程师" in second and "不适用" in second
    assert page.inner_text("#d-pc-progress").startswith("2/4")
    _scroll_to_precheck(page)
    screenshot(page, "console-precheck-progress")

    # The engineer finishes: fault confirmed. The console shows the outcome and the checks no longer change.
    for item_id in ids[2:]:
        assert engineer.patch(f"/api/v1/tickets/{ticket_id}/precheck/items/{item_id}",
                              json={"answer": "done"}).status_code == 200
    finished = engineer.post(f"/api/v1/tickets/{ticket_id}/precheck/finish",
                             json={"outcome": "fault_confirmed", "note": "反应盘加热器电流偏高，需更换加热片"})
    assert finished.status_code == 200, finished.text
    page.wait_for_selector("#d-pc-outcome[data-outcome=fault_confirmed]")
    assert page.inner_text("#d-pc-progress").startswith("4/4")
    outcome = page.inner_text("#d-pc-outcome")
    assert "确认故障" in outcome and "需更换加热片" in outcome and "张工程师" in outcome
    assert page.locator("#d-precheck [data-pc-answer]").count() == 0
    page.wait_for_function("document.querySelector('.timeline').innerText.includes('预检完成')")
    # The ticket was opened by the predictive alerting: named as what it is, not by its audit label.
    timeline = page.inner_text(".timeline")
    assert "预测性维护 ·" in timeline and "predictive" not in timeline, timeline
    _scroll_to_precheck(page)
    screenshot(page, "console-precheck")
    assert errors == []
    context.close()
