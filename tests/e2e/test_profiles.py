"""Maintenance profiles in a real browser on the product as `make run` starts it (a year of demo history): the
device profile with its charts, the admin's score override with a reason, the risk ranking with its suggestions,
the engineer's phone views, and the on-site estimate on the console."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.e2e.conftest import LiveServer, label_code, page_errors, screenshot, sign_in, token

pytestmark = pytest.mark.browser

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True, "locale": "zh-CN"}


def _device(server: LiveServer, model: str) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token(server, 'agent')}"}
    items = httpx.get(f"{server.url}/api/v1/devices", params={"q": model}, headers=headers, timeout=10).json()["items"]
    return dict(items[0])


def test_the_profile_shows_a_year_of_history_with_charts(demo_server: LiveServer, browser: Any) -> None:
    device = _device(demo_server, "AU5800")
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN")
    page = context.new_page()
    errors = page_errors(page)
    sign_in(page, demo_server, "agent", f"/devices/{device['id']}/profile")
    page.wait_for_selector("#pf-trend canvas")  # ECharts drew the monthly faults
    assert page.locator("#pf-mix canvas").count() == 1
    assert page.locator("#pf-score-value").inner_text() == str(device["maintenance_score"])
    assert page.locator("#pf-risk-value").inner_text().endswith("%")
    figures = page.locator("#pf-kpis").inner_text()
    for label in ("故障数", "平均故障间隔", "平均修复时间", "停机时长", "首次修复率", "评价"):
        assert label in figures, label
    assert page.locator("#pf-faults tbody tr").count() >= 3  # a year of faults in several categories
    assert page.locator("#pf-cases tbody tr").count() == 10
    assert page.locator("#pf-risk li").count() >= 2  # why, and what to check
    assert "alert.outcome" not in page.content() and "onsite." not in page.content()  # no raw keys
    screenshot(page, "profile-device")
    assert errors == []
    context.close()


def test_the_admin_overrides_a_score_only_with_a_reason(demo_server: LiveServer, browser: Any) -> None:
    device = _device(demo_server, "XN-550")
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN")
    page = context.new_page()
    errors = page_errors(page)
    sign_in(page, demo_server, "admin", f"/admin/devices/{device['id']}")
    computed = page.locator("#score-computed").inner_text()
    page.fill("#override-form input[name=score]", "45")
    page.click("#override-form button[type=submit]")
    page.wait_for_selector("#override-form .field-error")
    assert "原因" in page.locator("#override-form .field-error").inner_text()
    page.fill("#override-form input[name=reason]", "厂家召回批次，待更换主板")
    page.click("#override-form button[type=submit]")
    page.wait_for_selector("#score-held")
    assert page.locator("#score-value").inner_text() == "45"
    assert "厂家召回批次" in page.locator("#override-reason").inner_text()
    screenshot(page, "profile-override-admin")
    page.goto(f"{demo_server.url}/devices/{device['id']}/profile")
    assert page.locator("#pf-score-value").inner_text() == "45"
    assert "厂家召回批次" in page.locator("#pf-override").inner_text()
    assert page.locator("#pf-override").inner_text().endswith(computed)
    # The label's page shows the held score with the repair history.
    phone = browser.new_context(**PHONE).new_page()
    phone.goto(f"{demo_server.url}/r/{label_code(demo_server, 'devices', device['id'])}")
    assert phone.locator(".device-card .score-line b").inner_text() == "45"
    assert phone.locator("#repair-history .weui-cell").count() >= 1
    screenshot(phone, "profile-landing")
    # The audit log keeps who and why.
    audit = httpx.get(f"{demo_server.url}/api/v1/audit", params={"entity": "device", "entity_id": device["id"]},
                      headers={"Authorization": f"Bearer {token(demo_server, 'admin')}"}, timeout=10).json()
    rows = [r for r in audit["items"] if r["action"] == "score_override"]
    assert rows and rows[0]["after"]["reason"] == "厂家召回批次，待更换主板" and rows[0]["actor"] == "admin"
    page.goto(f"{demo_server.url}/admin/devices/{device['id']}")
    page.click("#override-clear button[type=submit]")
    page.click("#confirm-dialog [data-ok]")
    page.wait_for_selector("#score-held", state="detached")
    assert page.locator("#score-value").inner_text() == computed
    # The one refusal was the override without a reason.
    assert [e.split(" ")[0] for e in errors] == ["422"] and errors[0].endswith("/score-override")
    context.close()


def test_the_risk_ranking_leads_to_the_device_and_says_what_to_check(demo_server: LiveServer, browser: Any) -> None:
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN")
    page = context.new_page()
    errors = page_errors(page)
    sign_in(page, demo_server, "agent", "/preventive")
    rows = page.locator("#risk-table tbody tr")
    assert rows.count() == 20  # every demo device, ranked
    risks = [int(r.rstrip("%")) for r in page.locator("#risk-table .pv-risk").all_inner_texts()]
    assert risks == sorted(risks, reverse=True) and risks[0] > risks[-1]
    first = rows.first
    assert first.locator("li").count() >= 3  # reasons and a suggestion
    screenshot(page, "profile-preventive")
    number = first.locator("a.mono").inner_text()
    first.locator("a.mono").click()
    page.wait_for_url("**/profile")
    assert number in page.locator("h1").inner_text()
    page.go_back()
    page.select_option("select[name=hospital_id]", label="复旦大学附属中山医院")
    page.click(".filters button")
    page.wait_for_url("**/preventive?hospital_id=*")
    hospitals = page.locator("#risk-table tbody td:nth-child(3)").all_inner_texts()
    assert hospitals and all("中山医院" in t for t in hospitals)
    assert errors == []
    context.close()


def test_the_engineer_sees_the_ranking_and_a_devices_numbers_on_the_phone(demo_server: LiveServer,
                                                                       browser: Any) -> None:
    context = browser.new_context(**PHONE)
    page = context.new_page()
    errors = page_errors(page)
    sign_in(page, demo_server, "engineer", "/engineer")
    page.click("#preventive-link")
    page.wait_for_url("**/engineer/preventive")
    cards = page.locator(".pv-card")
    assert cards.count() >= 10 and cards.first.locator(".pv-todo").count() >= 1
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390  # nothing runs off the phone's screen
    screenshot(page, "profile-engineer-preventive")
    cards.first.get_by_text("设备画像").click()
    page.wait_for_url("**/engineer/devices/*")
    assert page.locator("#pf-h5-nums div").count() == 9
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(page, "profile-engineer-device")
    assert errors == []
    context.close()


def test_the_console_shows_the_on_site_estimate_of_a_new_report(demo_server: LiveServer, browser: Any) -> None:
    device = _device(demo_server, "cobas c 111")
    agent = {"Authorization": f"Bearer {token(demo_server, 'agent')}"}
    tickets = httpx.get(f"{demo_server.url}/api/v1/tickets", params={"device_id": device["id"], "limit": 1},
                        headers=agent, timeout=10).json()["items"]
    ticket = tickets[0]  # the demo's open report (光度计灯能量低), estimated at submission by the trained model
    assert ticket["onsite_probability"] is not None
    percent = round(ticket["onsite_probability"] * 100)
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="zh-CN")
    page = context.new_page()
    errors = page_errors(page)
    sign_in(page, demo_server, "agent", f"/console?ticket={ticket['id']}")
    page.wait_for_selector("#d-onsite")
    assert page.locator("#d-onsite").inner_text() == f"预计需工程师上门 {percent}%"
    assert page.locator("#d-profile").get_attribute("href") == f"/devices/{device['id']}/profile"
    screenshot(page, "profile-console-estimate")
    assert errors == []
    context.close()


# For each element of the selector: how many lines its text takes (a ticket number broken after its dash: 2).
LINES = """(selector) => [...document.querySelectorAll(selector)].map((el) => {
    const range = document.createRange();
    range.selectNodeContents(el);
    return new Set([...range.getClientRects()].filter((r) => r.width > 0).map((r) => Math.round(r.bottom))).size;
})"""


@pytest.mark.parametrize("size", [(1440, 900), (1280, 720), (390, 844)])
def test_the_profile_head_tiles_and_latest_cases_keep_their_words_whole(demo_server: LiveServer, browser: Any,
                                                                       size: tuple[int, int]) -> None:
    # The audit at 1440 and 1280: 运行曲线 预防性维护 人工调整评分 ran together as bare links, 11 条评价 spilled out
    # of its tile, and 最近工单 broke WO-/000176, 2026-12-/06 and 远程解/决 over two lines.
    device = _device(demo_server, "AU5800")
    width, height = size
    context = browser.new_context(viewport={"width": width, "height": height}, locale="zh-CN")
    page = context.new_page()
    errors = page_errors(page)
    sign_in(page, demo_server, "admin", f"/devices/{device['id']}/profile")
    page.wait_for_selector("#pf-trend canvas")
    # the head's links are buttons (a border each) with room between them
    boxes = page.locator(".page-head .toolbar a.button").evaluate_all("""links => links.map((a) => {
        const r = a.getBoundingClientRect(), s = getComputedStyle(a);
        return { left: r.left, right: r.right, top: r.top, border: s.borderTopWidth };
    })""")
    assert len(boxes) >= 3 and all(b["border"] != "0px" for b in boxes), boxes
    for one, two in zip(boxes, boxes[1:], strict=False):
        assert two["top"] != one["top"] or two["left"] - one["right"] >= 4, (one, two)
    # every key figure stays inside its tile
    spilled = page.evaluate("""() => [...document.querySelectorAll('#pf-kpis .pf-kv > div')].flatMap((tile) => {
        const edge = tile.getBoundingClientRect().right;
        return [...tile.querySelectorAll('dt, dd, small')].filter((el) => el.getBoundingClientRect().right > edge + 0.5)
            .map((el) => el.textContent);
    })""")
    assert spilled == [], spilled
    assert page.locator("#pf-kpis").inner_text().count("条评价") == 1
    # the latest cases: number, date, tier and status each on one line; the staff's words for a status
    cases = "#pf-cases tbody"
    for column in (1, 2, 5):
        lines = page.evaluate(LINES, f"{cases} td:nth-child({column})")
        assert lines and set(lines) == {1}, (column, lines)
    assert set(page.evaluate(LINES, f"{cases} .tag")) == {1}
    states = page.locator(f"{cases} .tstatus").all_inner_texts()
    assert states and not any("您" in s or "，" in s for s in states), states
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")  # nothing runs off the page
    screenshot(page, f"profile-device-{width}")
    assert errors == []
    context.close()
