"""Export buttons in a real browser: the admin device list and the service desk's queue download the list shown."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from tests.e2e.conftest import LiveServer, screenshot, sign_in

pytestmark = pytest.mark.browser


def test_the_device_list_downloads_what_its_filters_show(demo_server: LiveServer, browser: Any) -> None:
    context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="zh-CN", accept_downloads=True)
    page = context.new_page()
    sign_in(page, demo_server, "admin", "/admin/devices")
    page.fill("input[name=q]", "cobas")
    page.click(".filters button")
    page.wait_for_url("**q=cobas**")
    shown = page.locator("#device-table tbody tr td.mono.strong").all_inner_texts()
    assert shown and page.locator(".exports a", has_text="导出 Excel").is_visible()
    screenshot(page, "admin-devices-export")
    with page.expect_download() as download:
        page.click(".exports a[data-export=xlsx]")
    assert download.value.suggested_filename.startswith("medfix-devices-")
    book = load_workbook(io.BytesIO(Path(download.value.path()).read_bytes()))
    rows = list(book.active.iter_rows(values_only=True))
    assert rows[0][:3] == ("系统编号", "厂家", "型号")
    assert sorted(row[0] for row in rows[1:]) == sorted(s.replace("★", "").strip() for s in shown)
    assert all("cobas" in row[2] for row in rows[1:]) and {row[9] for row in rows[1:]} <= {"在用", "故障", "维修中"}
    context.close()


def test_the_desk_downloads_its_queue(demo_server: LiveServer, browser: Any) -> None:
    context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="zh-CN", accept_downloads=True)
    page = context.new_page()
    sign_in(page, demo_server, "agent", "/console?view=all&tab=closed")
    page.wait_for_selector("#export-csv[href*='status=closed']")
    page.wait_for_selector(".q-item")
    numbers = page.locator(".q-item").evaluate_all("items => items.map((i) => i.dataset.number)")
    screenshot(page, "desk-export")
    with page.expect_download() as download:
        page.click("#export-csv")
    assert download.value.suggested_filename.startswith("medfix-tickets-")
    text = Path(download.value.path()).read_bytes().decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:4] == ["工单", "状态", "优先级", "来源"]
    assert sorted(row[0] for row in rows[1:]) == sorted(numbers)  # the tab shown, all of it
    assert {row[1] for row in rows[1:]} <= {"已关闭", "已取消", "已合并"}
    assert all(row[12][:2] == "20" for row in rows[1:])  # local wall-clock times, "2026-03-01 09:30"
    context.close()


def test_the_preventive_ranking_downloads_every_ranked_device(demo_server: LiveServer, browser: Any) -> None:
    context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="zh-CN", accept_downloads=True)
    page = context.new_page()
    sign_in(page, demo_server, "agent", "/preventive")
    page.wait_for_selector("#risk-table tbody tr")
    shown = page.locator("#risk-table tbody tr td a.mono").all_inner_texts()
    screenshot(page, "preventive-export")
    with page.expect_download() as download:
        page.click(".exports a[data-export=xlsx]")
    assert download.value.suggested_filename.startswith("medfix-preventive-")
    book = load_workbook(io.BytesIO(Path(download.value.path()).read_bytes()))
    rows = list(book.active.iter_rows(values_only=True))
    assert rows[0][:3] == ("排名", "系统编号", "厂家") and rows[0][7] == "30 天故障风险"
    assert [row[1] for row in rows[1:len(shown) + 1]] == shown  # the page's top, then the rest of the ranking
    assert len(rows) - 1 >= len(shown) and all(0 <= row[7] <= 1 for row in rows[1:])
    context.close()
