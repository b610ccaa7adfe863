"""The admin registry pages in a real browser: devices (create, move, QR reissue, retire), import with a dry run,
device groups (combine from a selection, drag between groups, notes), alert policies and windows, WeChat status."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.conftest import LiveServer, medfix, page_errors, screenshot, sign_in

pytestmark = pytest.mark.browser


def _context(browser):  # noqa: ANN001, ANN202
    return browser.new_context(viewport={"width": 1280, "height": 720}, locale="zh-CN")


def _confirm(page) -> str:  # noqa: ANN001
    page.wait_for_selector("#confirm-dialog[open]")
    text = page.locator("#confirm-dialog .dialog-text").inner_text()
    page.click("#confirm-dialog [data-ok]")
    return text


def _script_errors(errors: list[str]) -> list[str]:
    # Refused form posts (422/409) are the behaviour under test; script errors and 5xx are not.
    return [e for e in errors if not e[:1].isdigit() or e.startswith("5")]


def _card(page, name: str):  # noqa: ANN001, ANN202
    return page.locator("section.group").filter(has=page.locator("h2", has_text=name))


def _shot(page, name: str) -> None:  # noqa: ANN001
    page.evaluate("window.scrollTo(0, 0)")
    screenshot(page, f"{name}-1280x720")


def test_admin_creates_moves_relabels_and_retires_a_device(demo_server: LiveServer, browser) -> None:  # noqa: ANN001
    page = _context(browser).new_page()
    errors = page_errors(page)
    sign_in(page, demo_server, "admin", "/admin/devices")
    _shot(page, "admin-devices-list")
    page.click("text=新建设备")
    page.wait_for_url("**/admin/devices/new")
    page.select_option("#device-form select[name=hospital_id]", "1")
    page.click("#device-form button[type=submit]")
    page.wait_for_selector(".field-error")
    assert "请填写铭牌序列号" in page.locator("#device-form").inner_text()
    _shot(page, "admin-device-new-errors")
    page.fill("input[name=system_number]", "RJ-ASSET-001")
    page.fill("input[name=manufacturer]", "Mindray")
    page.fill("input[name=model]", "BC-6800")
    page.fill("input[name=serial]", "BC68-E2E-1")
    page.select_option("#device-form select[name=category]", "hematology")
    mine = page.locator("#device-form select[name=department_id] option:not([hidden])", has_text="检验科")
    page.select_option("#device-form select[name=department_id]", mine.first.get_attribute("value"))
    page.click("#device-form button[type=submit]")
    page.wait_for_url(re.compile(r".*/admin/devices/\d+$"))
    assert "RJ-ASSET-001" in page.locator("h1").inner_text()
    assert page.locator("a[href$='/photos']").count() == 1
    _shot(page, "admin-device-edit")

    page.select_option("#move-form select[name=hospital_id]", label="复旦大学附属中山医院")
    departments = page.locator("#move-form select[name=department_id] option:not([hidden])", has_text="急诊检验")
    page.select_option("#move-form select[name=department_id]", departments.get_attribute("value"))
    page.click("#move-form button[type=submit]")
    text = _confirm(page)
    assert "复旦大学附属中山医院 / 急诊检验" in text and "历史数据" in text and "原医院没有网关映射" in text
    page.wait_for_function("document.querySelector('h2 .muted').textContent.includes('中山医院')")

    page.click("#qr button.danger")
    assert "扫码时会提示标签已更换" in _confirm(page)
    page.wait_for_function("!document.getElementById('qr-current').textContent.includes('暂无')")
    first = page.locator("#qr-current").inner_text()
    page.click("#qr button.danger")
    _confirm(page)
    page.wait_for_selector("#qr-history")
    assert first in page.locator("#qr-history").inner_text() and "已更换" in page.locator("#qr-history").inner_text()
    _shot(page, "admin-device-relabelled")

    page.click("#retire button.danger")
    _confirm(page)
    page.wait_for_selector("#retire", state="detached")
    assert _script_errors(errors) == []


def test_admin_imports_devices_after_a_dry_run(demo_server: LiveServer, browser, tmp_path) -> None:  # noqa: ANN001
    page = _context(browser).new_page()
    errors = page_errors(page)
    bad = tmp_path / "bad.csv"
    bad.write_text("序列号,厂家,型号,类别,医院,科室\nIMP-1,Roche,cobas c 311,toaster,瑞金医院,检验科\n"
                   "IMP-2,Roche,cobas c 311,chemistry,火星医院,\n", encoding="utf-8")
    good = tmp_path / "good.csv"
    good.write_text("序列号,厂家,型号,类别,医院,科室\nIMP-1,Roche,cobas c 311,chemistry,瑞金医院,检验科\n"
                    "IMP-2,Roche,cobas c 311,chemistry,中山医院,微生物室\n", encoding="utf-8")
    sign_in(page, demo_server, "admin", "/admin/devices/import")
    page.set_input_files("#import-form input[type=file]", str(bad))
    page.wait_for_selector("#import-errors:not([hidden])")
    assert page.locator("#import-errors tbody tr").count() == 2
    assert "未知医院 火星医院" in page.locator("#import-errors").inner_text()
    assert "2 行有错误" in page.locator("#import-summary").inner_text()
    assert page.locator("#import-run").is_disabled()
    _shot(page, "admin-import-errors")
    page.set_input_files("#import-form input[type=file]", str(good))
    page.wait_for_selector("#import-preview:not([hidden])")
    assert page.locator("#import-errors").is_hidden()
    assert "微生物室" in page.locator("#import-summary").inner_text()
    _shot(page, "admin-import-preview")
    assert page.locator("#import-run").inner_text() == "导入 2 台设备"
    page.click("#import-run")
    _confirm(page)
    page.wait_for_url("**/admin/devices")
    page.fill("input[name=q]", "IMP-")
    page.click(".filters button")
    page.wait_for_load_state()
    assert page.locator("#device-table tbody tr").count() == 2
    assert _script_errors(errors) == []


def test_admin_combines_a_selection_and_drags_a_device_between_groups(demo_server: LiveServer,
                                                                      browser) -> None:  # noqa: ANN001
    page = _context(browser).new_page()
    errors = page_errors(page)
    sign_in(page, demo_server, "admin", "/admin/devices?hospital_id=1")
    for serial in ("XN1-26881", "CS51-10482"):
        page.locator("#device-table tr", has_text=serial).locator("input.pick").check()
    page.click("#combine-open")
    page.fill("#combine-form input[name=name]", "血凝血球组")
    page.fill("#combine-form input[name=compatible_models]", "XN-1000, CS-5100")
    _shot(page, "admin-devices-combine")
    page.click("#combine-form button[type=submit]")
    page.wait_for_url("**/admin/groups*")
    card = _card(page, "血凝血球组")
    assert card.locator(".member").count() == 2
    cobas = _card(page, "cobas 8000")
    source = card.locator(".member .handle").nth(0).bounding_box()
    target = cobas.locator(".member .handle").nth(1).bounding_box()
    page.mouse.move(source["x"] + 4, source["y"] + 4)
    page.mouse.down()
    for step in range(1, 16):  # SortableJS follows pointer moves, so move in steps
        page.mouse.move(source["x"] + 4 + (target["x"] - source["x"]) * step / 15,
                        source["y"] + 4 + (target["y"] - source["y"] + 10) * step / 15)
    page.mouse.up()
    page.wait_for_selector(".toast.error")  # XN-1000 is not a cobas line model: the warning shows
    assert "不属于本线的兼容型号" in page.locator("#toast").inner_text()
    page.wait_for_load_state()
    page.wait_for_timeout(2500)
    cobas = _card(page, "cobas 8000")
    assert cobas.locator(".member").count() == 5 and "型号不符" in cobas.inner_text()
    card = _card(page, "血凝血球组")
    card.locator("summary", has_text="编辑、备注和标签").click()
    card.locator("textarea[name=notes]").fill("每周一上午保养")
    card.locator("input[name=tags]").fill("急诊, 24h")
    card.locator("form.group-edit button[type=submit]").click()
    page.wait_for_selector("text=每周一上午保养 >> visible=true")
    _card(page, "cobas 8000").scroll_into_view_if_needed()
    _shot(page, "admin-groups-edited")
    assert _script_errors(errors) == []


def test_admin_sets_an_alert_policy_and_a_maintenance_window(demo_server: LiveServer,
                                                              browser) -> None:  # noqa: ANN001
    page = _context(browser).new_page()
    errors = page_errors(page)
    sign_in(page, demo_server, "admin", "/admin/alerts")
    if page.locator("#policy-form").is_hidden():
        page.click("#policies summary.button")
    page.select_option("#policy-form select[name=metric]", "reaction_disk_temp")
    page.fill("#policy-form input[name=sensitivity]", "2")
    page.click("#policy-form button[type=submit]")
    page.wait_for_selector("#policy-form .field-error")
    page.fill("#policy-form input[name=sensitivity]", "0.8")
    page.fill("#policy-form input[name=min_duration]", "5")
    page.click("#policy-form button[type=submit]")
    page.wait_for_selector("#policy-table")
    row = page.locator("#policy-table tbody tr:not(.edit-row)", has_text="反应盘温度")
    assert row.count() == 1 and "所有设备" in row.inner_text()
    if page.locator("#window-form").is_hidden():
        page.click("#windows summary.button")
    page.select_option("#window-form select[name=device_id]", index=1)
    page.fill("#window-form input[name=starts_at]", "2026-12-10T08:00")
    page.fill("#window-form input[name=ends_at]", "2026-12-10T12:00")
    page.fill("#window-form input[name=reason]", "年度校准")
    page.click("#window-form button[type=submit]")
    page.wait_for_selector("#window-table")
    assert "2026-12-10 08:00" in page.locator("#window-table").inner_text()
    _shot(page, "admin-alert-policies")
    row = page.locator("#policy-table tbody tr:not(.edit-row)", has_text="反应盘温度")
    row.locator("button", has_text="编辑").click()
    edit = page.locator("tr.edit-row:not([hidden])")
    edit.locator("input[name=cooldown]").fill("45")
    _shot(page, "admin-alert-policy-edit")
    edit.locator("button[type=submit]").click()
    page.wait_for_function("document.querySelector('#policy-table tbody tr').textContent.includes('45')")
    row = page.locator("#policy-table tbody tr:not(.edit-row)", has_text="反应盘温度")
    row.locator("button.danger").click()
    assert "反应盘温度" in _confirm(page)
    page.wait_for_selector("#policy-table tbody tr:not(.edit-row):has-text('反应盘温度')", state="detached")
    assert _script_errors(errors) == []


def test_admin_sees_the_wechat_status(demo_server: LiveServer, browser) -> None:  # noqa: ANN001
    page = _context(browser).new_page()
    sign_in(page, demo_server, "admin", "/admin/wechat")
    assert page.locator(".subnav a.active").inner_text() == "微信状态"
    text = page.locator("main, body").first.inner_text()
    assert "微信未启用" in text or "永久二维码" in text
    _shot(page, "admin-wechat-status")


@pytest.fixture(scope="module")
def wechat_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, Path]]:
    """The demo with a WeChat account whose API cannot be reached, and one failed template message on record."""
    data = tmp_path_factory.mktemp("wx-admin")
    server = LiveServer(data, {"MEDFIX_WECHAT_APPID": "wx2c2769f8efd9abc2", "MEDFIX_WECHAT_SECRET": "s",
                               "MEDFIX_WECHAT_TOKEN": "t", "MEDFIX_WECHAT_API_BASE": "http://127.0.0.1:9",
                               "MEDFIX_WECHAT_TEMPLATES": '{"*": "TPL"}'})
    medfix("demo", "seed", env=server.env)
    with sqlite3.connect(data / "medfix.db") as db:
        (user_id,) = db.execute("SELECT id FROM user_account WHERE role = 'lab_user' ORDER BY id LIMIT 1").fetchone()
        now = "2026-12-02 06:30:00"
        db.execute("INSERT INTO wechat_binding (openid, user_id, created_at) VALUES ('o-e2e', ?, ?)", (user_id, now))
        note = db.execute("INSERT INTO notification (user_id, event_key, kind, title, body, link, created_at) "
                          "VALUES (?, 'e2e:1', 'ticket.dispatched', ?, ?, '/t/WO-000001', ?)",
                          (user_id, "工程师已接单", "WO-000001 已派工", now)).lastrowid
        db.execute("INSERT INTO delivery (notification_id, channel, status, error, attempts, created_at, updated_at) "
                   "VALUES (?, 'wechat', 'failed', 'WeChat unreachable: timed out', 1, ?, ?)", (note, now, now))
    server.start()
    yield server, data
    server.stop()


def test_admin_resends_a_failed_wechat_message(wechat_server, browser) -> None:  # noqa: ANN001
    server, data = wechat_server
    page = _context(browser).new_page()
    sign_in(page, server, "admin", "/admin/wechat")
    assert "0 / 100000" in page.locator("#qr-usage").inner_text()
    row = page.locator("#failed-table tbody tr", has_text="工程师已接单")
    assert "无法连接微信服务器" in row.inner_text() and "2026-12-02 14:30" in row.inner_text()  # Shanghai time
    _shot(page, "admin-wechat-enabled")
    row.locator("button", has_text="重新发送").click()
    page.wait_for_selector(".toast.error")  # the API is unreachable here: it fails again and says so
    assert "再次失败" in page.locator("#toast").inner_text()
    with sqlite3.connect(data / "medfix.db") as db:
        row = db.execute("SELECT attempts, status FROM delivery WHERE error LIKE 'WeChat unreachable%'").fetchone()
    assert row == (2, "failed")
