"""The alert list in a browser: an engineer on a phone goes from their tickets to every alert and on to its chart;
the desk reaches the same list from its navigation."""

from __future__ import annotations

import re

import pytest

from tests.e2e.conftest import LiveServer, page_errors, screenshot, sign_in

pytestmark = pytest.mark.browser


def test_an_engineer_walks_from_the_list_to_an_alerts_chart(demo_server: LiveServer, browser) -> None:  # noqa: ANN001
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN", timezone_id="UTC")
    page = context.new_page()
    errors = page_errors(page)
    sign_in(page, demo_server, "engineer", "/engineer")
    page.click("#alerts-link")
    page.wait_for_url("**/alerts")
    assert page.locator("#alert-tabs [data-tab=ongoing]").get_attribute("class") == "alert-tab alert-tab-on"
    page.click("#alert-tabs [data-tab=all]")
    page.wait_for_url("**/alerts?tab=all")
    cells = page.locator("#alert-list .digest-alert")
    assert cells.count() >= 1
    count = int(re.search(r"共 (\d+) 条预警", page.inner_text("#alert-count")).group(1))  # type: ignore[union-attr]
    assert count >= cells.count()
    first = cells.first.inner_text()
    assert re.search(r"发生时间 \d{4}-\d\d-\d\d \d\d:\d\d", first)  # in the hospital's time, with its year
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")  # no sideways scrolling
    screenshot(page, "alert-list-engineer-phone")
    href = cells.first.get_attribute("href") or ""
    cells.first.click()
    page.wait_for_url(f"**{href.split('?')[0]}*")
    assert "/chart" in page.url
    assert errors == [], errors
    context.close()


def test_the_desk_reaches_the_list_from_its_navigation(demo_server: LiveServer, browser) -> None:  # noqa: ANN001
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")
    page = context.new_page()
    errors = page_errors(page)
    sign_in(page, demo_server, "agent", "/console")
    page.click("#nav-alerts")
    page.wait_for_url("**/alerts")
    assert page.inner_text(".h5-hero__title") == "预测性告警"
    page.click("#alert-tabs [data-tab=all]")
    page.wait_for_url("**/alerts?tab=all")
    tickets = page.locator("#alert-list [data-ticket-id]")
    assert tickets.count() >= 1 and (tickets.first.get_attribute("href") or "").startswith("/console?ticket=")
    screenshot(page, "alert-list-desk")
    assert errors == [], errors
    context.close()
