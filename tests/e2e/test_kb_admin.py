"""The knowledge-base admin pages in a real browser: upload a manual, create an entry with a manual section,
edit it, see its history, retire it; the section's phone page; a JSONL dry run."""

from __future__ import annotations

import json
import re

import pytest

from tests.cloud.kb.helpers import make_pdf
from tests.e2e.conftest import LiveServer, page_errors, screenshot, sign_in

pytestmark = pytest.mark.browser
ENTRY_URL = re.compile(r".*/admin/kb/\d+$")


def test_admin_creates_edits_and_retires_an_entry(demo_server: LiveServer, browser, tmp_path) -> None:  # noqa: ANN001
    context = browser.new_context(viewport={"width": 1280, "height": 720}, locale="zh-CN")
    page = context.new_page()
    errors = page_errors(page)
    sign_in(page, demo_server, "admin", "/admin/devices")
    page.click("nav.mainnav >> text=知识库")
    page.wait_for_url("**/admin/kb")
    screenshot(page, "kb-list")

    pdf = tmp_path / "c702-manual.pdf"
    pdf.write_bytes(make_pdf())
    page.click(".kb-tabs >> text=手册")
    page.set_input_files("input[name=file]", str(pdf))
    page.fill("input[name=title]", "cobas c 702 操作手册")
    page.fill("input[name=models]", "cobas c 702")
    page.click("form.kb-upload button[type=submit]")
    page.wait_for_url("**/admin/kb/manuals/*")
    assert page.locator("table.grid tbody tr").count() == 3
    screenshot(page, "kb-manual")

    page.goto(f"{demo_server.url}/admin/kb/new")
    page.fill("input[name=question]", "c702 提示 E-32 试剂条码读不出怎么办")
    page.fill("textarea[name=variants]", "E-32 报警\n试剂瓶扫不上")
    page.fill("textarea[name=answer]", "1. 取出试剂瓶，擦净条码\n2. 重新放回试剂仓\n3. 仍报警请联系工程师")
    page.fill("input[name=models]", "cobas c 702")
    page.select_option("select[name=category]", "chemistry")
    page.fill("input[name=codes]", "E-32")
    page.select_option("select[name=section_id]", label="cobas c 702 操作手册 · 2. 第二章 试剂更换 (第 2–2 页)")
    screenshot(page, "kb-form")
    page.click("form.kb-form button[type=submit]")
    page.wait_for_url(ENTRY_URL)
    assert page.locator("h1").inner_text().startswith("c702 提示 E-32")
    assert page.locator(".kb-attachments >> text=第二章 试剂更换").count() == 1
    screenshot(page, "kb-entry-created")

    page.click("text=编辑")
    page.wait_for_url("**/edit")
    page.fill("textarea[name=answer]", "1. 取出试剂瓶，擦净条码\n2. 检查条码阅读器窗口\n3. 重新放回试剂仓")
    page.click("form.kb-form button[type=submit]")
    page.wait_for_url(ENTRY_URL)
    history = page.locator("#kb-history tbody tr")
    assert history.count() == 2
    assert "答案" in history.nth(0).inner_text() and "编辑" in history.nth(0).inner_text()
    assert "新建" in history.nth(1).inner_text()

    page.on("dialog", lambda dialog: dialog.accept())
    page.click("button:has-text('停用')")
    page.wait_for_selector("#entry-status:has-text('已停用')")
    assert page.locator("#kb-history tbody tr").count() == 3
    screenshot(page, "kb-entry-retired")

    page.click(".kb-attachments a")  # opens the section's phone page in a new tab
    phone = context.new_page()
    phone.set_viewport_size({"width": 390, "height": 844})
    href = page.locator(".kb-attachments a").first.get_attribute("href")
    phone.goto(f"{demo_server.url}{href}")
    assert "出现 E-32 报警时先检查试剂条码" in phone.content()
    screenshot(phone, "kb-section-phone")

    page.goto(f"{demo_server.url}/admin/kb/import")
    jsonl = tmp_path / "kb.jsonl"
    jsonl.write_text(json.dumps({"id": "demo-x1", "question": "样本针堵了", "answer": "1. 停机\n2. 清洗样本针"},
                                ensure_ascii=False) + "\n", encoding="utf-8")
    page.set_input_files("input[name=file]", str(jsonl))
    page.click("form.kb-upload button[type=submit]")
    page.wait_for_selector("#import-report")
    assert "demo-x1" in page.locator("#import-report").inner_text()
    screenshot(page, "kb-import-preview")
    page.click("#import-report button[type=submit]")
    page.wait_for_selector("#import-report:has-text('已导入')")
    assert [e for e in errors if "favicon" not in e] == []
    context.close()
