"""Issue #12 defects on the phones: contact checks next to the fields, the duplicate hint, before/after photos,
WeUI dialogs instead of window.prompt, the engineer's confirmations, hospital address and device history."""

from __future__ import annotations

import uuid

import httpx
import pytest
from PIL import Image

from tests.e2e.conftest import LiveServer, label_code, screenshot, sign_in, token

pytestmark = pytest.mark.browser
PHONE = {"viewport": {"width": 390, "height": 844}, "has_touch": True, "is_mobile": True}


def _api(server: LiveServer, username: str, method: str, path: str, **kwargs: object) -> httpx.Response:
    return httpx.request(method, f"{server.url}{path}", headers={"Authorization": f"Bearer {token(server, username)}"},
                         timeout=10, **kwargs)  # type: ignore[arg-type]


def _quiet_device(server: LiveServer) -> dict:
    """A demo device without open tickets, so the page starts without the duplicate hint."""
    devices = _api(server, "admin", "GET", "/api/v1/devices?limit=100").json()["items"]
    busy = {t["device_id"] for t in _api(server, "admin", "GET", "/api/v1/tickets?open=true&limit=200").json()["items"]}
    return next(d for d in devices if d["id"] not in busy and d["status"] != "retired")


def _report_anonymously(server: LiveServer, description: str) -> httpx.Response:
    """A report from a quiet device's label, without an account (the answer carries the reporter's link)."""
    device = _quiet_device(server)
    code = label_code(server, "devices", device["id"])
    created = httpx.post(f"{server.url}/api/v1/tickets", headers={"Idempotency-Key": uuid.uuid4().hex}, json={
        "device_id": device["id"], "qr_code": code, "description": description, "reporter_name": "李老师",
        "reporter_phone": "13900002222"}, timeout=10)
    assert created.status_code == 201, created.text
    return created


def _photo(tmp_path, name: str, color: str) -> str:  # noqa: ANN001
    path = tmp_path / f"{name}.jpg"
    Image.new("RGB", (640, 480), color).save(path, format="JPEG")
    return str(path)


def _no_native_dialogs(page) -> list[str]:  # noqa: ANN001
    seen: list[str] = []

    def handle(dialog) -> None:  # noqa: ANN001
        seen.append(dialog.type)
        dialog.dismiss()
    page.on("dialog", handle)
    return seen


def test_report_repair_and_follow_with_photos_dialogs_and_history(demo_server: LiveServer, browser,  # noqa: ANN001
                                                                  tmp_path) -> None:  # noqa: ANN001
    device = _quiet_device(demo_server)
    code = label_code(demo_server, "devices", device["id"])
    reporter = browser.new_context(locale="zh-CN", **PHONE).new_page()
    reporter.goto(f"{demo_server.url}/r/{code}")
    assert reporter.locator("#dup-hint").count() == 0

    # Name and phone are checked next to their fields, in Chinese.
    reporter.fill("textarea[name=description]", "样本针撞针报警，无法加样")
    reporter.fill("input[name=reporter_name]", "")
    reporter.fill("input[name=reporter_phone]", "")
    reporter.click("#submit")
    assert "请填写您的姓名" in reporter.locator("#err-reporter_name").inner_text()
    assert "请填写联系电话" in reporter.locator("#err-reporter_phone").inner_text()
    reporter.fill("input[name=reporter_name]", "陈老师")
    reporter.fill("input[name=reporter_phone]", "abc")
    reporter.click("#submit")
    assert "手机号" in reporter.locator("#err-reporter_phone").inner_text()
    assert reporter.locator("#err-reporter_name").is_hidden()
    screenshot(reporter, "defects-contact-errors")
    reporter.fill("input[name=reporter_phone]", "021-64041990")
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a picture at all" * 20)
    reporter.set_input_files("#photo-input", str(broken))
    reporter.wait_for_selector("#form-error:not([hidden])")
    assert "无法识别这张照片" in reporter.locator("#form-error").inner_text()  # not the API's English
    reporter.locator(".thumb.failed").evaluate_all("(items) => items.forEach((item) => item.remove())")
    reporter.set_input_files("#photo-input", _photo(tmp_path, "before", "#d33"))
    reporter.wait_for_selector(".thumb[data-upload-id]")
    reporter.click("#submit")
    reporter.wait_for_url("**/t/*")
    number = reporter.url.split("/t/")[1].split("?")[0]
    ticket_url = reporter.url

    # Scanning the device again shows the open ticket and adds to it instead of opening another.
    again = browser.new_context(locale="zh-CN", **PHONE).new_page()
    again.goto(f"{demo_server.url}/r/{code}")
    hint = again.locator("#dup-hint")
    assert "已有报修处理中" in hint.inner_text() and number in hint.inner_text()
    screenshot(again, "defects-duplicate-hint")
    again.fill("#dup-form textarea[name=text]", "刚才又报警一次，代码 E-05")
    again.click("#dup-add")
    again.wait_for_url("**added=*")
    assert number in again.locator(".dup-added").inner_text()

    ticket = _api(demo_server, "agent", "GET", f"/api/v1/tickets?q={number}").json()["items"][0]
    engineer_id = _api(demo_server, "engineer", "GET", "/api/v1/auth/me").json()["id"]
    assert _api(demo_server, "agent", "POST", f"/api/v1/tickets/{ticket['id']}/actions",
                json={"action": "dispatch", "engineer_id": engineer_id}).status_code == 200

    # The engineer sees where to go and the device's history, and confirms each action in a WeUI dialog.
    engineer = browser.new_context(locale="zh-CN", **PHONE).new_page()
    native = _no_native_dialogs(engineer)
    sign_in(engineer, demo_server, "engineer", f"/engineer/tickets/{ticket['id']}")
    engineer.wait_for_selector("#eng-address")
    assert "路" in engineer.locator("#eng-address").inner_text()
    assert "uri.amap.com" in engineer.locator("#eng-address a").get_attribute("href")
    assert engineer.locator("#eng-hotline a[href^='tel:']").count() == 1
    assert engineer.locator("#eng-history").count() == 1
    engineer.click("[data-action=accept]")
    dialog = engineer.locator(".weui-dialog")
    assert "确认接单" in dialog.inner_text()
    screenshot(engineer, "defects-engineer-confirm")
    engineer.click(".weui-dialog [data-dlg=cancel]")
    assert engineer.locator("#status").get_attribute("data-status") == "dispatched"
    for action in ("accept", "arrive"):
        engineer.click(f"[data-action={action}]")
        engineer.click(".weui-dialog [data-dlg=ok]")
        engineer.wait_for_selector(f"#status[data-status={'accepted' if action == 'accept' else 'on_site'}]")
    engineer.click("[data-action=complete]")
    engineer.fill("#s-findings", "更换样本针，校准后恢复正常")
    engineer.set_input_files("#s-file", _photo(tmp_path, "after", "#3a3"))
    engineer.wait_for_selector("#s-photos img[data-uploaded]")
    engineer.click("button[type=submit][form=s-form]")
    engineer.click(".weui-dialog [data-dlg=ok]")
    engineer.wait_for_selector("#status[data-status=resolved]")
    # The completion photo is a repair photo, not one of the fault description's.
    assert engineer.locator("#eng-repair img").count() == 1
    assert engineer.locator("#eng-description img").count() == 1
    assert native == []
    timeline = engineer.locator(".timeline-box").last.inner_text()
    assert "engineer" not in timeline and "agent" not in timeline  # people by full name, not usernames
    screenshot(engineer, "defects-engineer-ticket")

    # The reporter sees their photo before and the engineer's after.
    reporter.goto(ticket_url)
    reporter.wait_for_selector("#photo-stages [data-stage=after] img")
    assert "维修前" in reporter.locator("#photo-stages").inner_text()
    assert "维修后" in reporter.locator("#photo-stages").inner_text()
    reporter.wait_for_function("document.querySelector('#photo-stages [data-stage=after] img').naturalWidth > 0")
    screenshot(reporter, "defects-ticket-before-after")


def test_withdrawing_uses_a_weui_dialog_with_a_reason(demo_server: LiveServer, browser) -> None:  # noqa: ANN001
    created = _report_anonymously(demo_server, "屏幕无显示")
    url = created.json()["reporter_url"]
    for locale in ("en", "zh-CN"):  # English only looks; Chinese withdraws
        page = browser.new_context(locale=locale, **PHONE).new_page()
        native = _no_native_dialogs(page)
        page.goto(url)
        page.click("[data-do=cancel]")
        dialog = page.locator(".weui-dialog")
        assert dialog.locator("textarea").count() == 1
        if locale == "en":
            assert "Withdraw" in dialog.inner_text()
            screenshot(page, "defects-withdraw-dialog-en")
            page.click(".weui-dialog [data-dlg=cancel]")
            assert dialog.count() == 0
            continue
        page.click(".weui-dialog [data-dlg=ok]")
        assert "请填写原因" in dialog.inner_text()
        page.fill(".weui-dialog textarea", "已自行重启恢复")
        screenshot(page, "defects-withdraw-dialog")
        page.click(".weui-dialog [data-dlg=ok]")
        page.wait_for_function("document.querySelector('#status-label').textContent.includes('已取消')")
        assert native == []


def _readings_and_alerts(server: LiveServer, device_id: int) -> None:
    """An hour of readings through the ingest and two alerts (written straight into the demo's SQLite file)."""
    import sqlite3
    from datetime import UTC, datetime, timedelta
    from pathlib import Path

    from protocols.telemetry import encode_batch
    from tests.cloud.telemetry.conftest import make_batch

    device = _api(server, "admin", "GET", f"/api/v1/devices/{device_id}").json()
    gateway = _api(server, "admin", "POST", "/api/v1/gateways",
                   json={"name": f"gw-{uuid.uuid4().hex[:8]}", "hospital_id": device["hospital_id"]}).json()
    _api(server, "admin", "PUT", f"/api/v1/gateways/{gateway['id']}/devices/k1", json={"device_id": device_id})
    now = datetime.now(UTC)
    readings = [("k1", metric, base + (i % 17) / 50, now - timedelta(seconds=10 * (360 - i)))
                for metric, base in (("reaction_disk_temp", 37.0), ("reagent_fridge_temp", 6.0)) for i in range(360)]
    body = encode_batch(make_batch(gateway["name"], readings=readings, events=[]))
    assert httpx.post(f"{server.url}/api/v1/ingest", content=body, timeout=10, headers={
        "Authorization": f"Bearer {gateway['token']}", "Content-Type": "application/json"}).status_code == 200
    stamp = (now - timedelta(minutes=10)).strftime("%Y-%m-%d %H:%M:%S.%f")
    with sqlite3.connect(Path(server.env["MEDFIX_DATA_DIR"]) / "medfix.db") as db:
        for metric, severity in (("reaction_disk_temp", "major"), ("reagent_fridge_temp", "warning")):
            db.execute("insert into alert (hospital_id, device_id, metric, status, severity, started_at, "
                       "last_abnormal_at, opened_at, last_score, peak_score, false_alarm, updated_at) "
                       "values (?, ?, ?, 'open', ?, ?, ?, ?, 0.9, 0.95, 0, ?)",
                       (device["hospital_id"], device_id, metric, severity, stamp, stamp, stamp, stamp))


def test_chart_page_fits_a_phone(demo_server: LiveServer, browser) -> None:  # noqa: ANN001
    device = _quiet_device(demo_server)
    _readings_and_alerts(demo_server, device["id"])
    for locale in ("zh-CN", "en"):
        page = browser.new_context(locale=locale, **PHONE).new_page()
        sign_in(page, demo_server, "engineer", f"/devices/{device['id']}/chart")
        page.wait_for_selector("#alert-table tr[data-alert-id]")
        page.wait_for_function("document.querySelector('#chart canvas') !== null")
        # Nothing wider than the phone: no sideways scrolling, no label one character per line in the top bar.
        assert page.evaluate("document.documentElement.scrollWidth") <= 390
        nav_height = page.evaluate("Math.max(...[...document.querySelectorAll('.mainnav a, .who a')]"
                                   ".map((a) => a.getBoundingClientRect().height))")
        assert nav_height < 48
        # The alerts stack as cards; metrics by name, not by key.
        assert page.evaluate("getComputedStyle(document.querySelector('#alert-table tr')).display") == "grid"
        names = page.locator("#alert-table .a-metric").all_inner_texts()
        assert "reaction_disk_temp" not in names and len(names) == 2
        assert ("反应盘温度" if locale == "zh-CN" else "Reaction disk temperature") in names
        screenshot(page, f"defects-chart-phone-{locale}")


def test_a_remotely_solved_ticket_shows_no_engineer_steps_and_an_empty_addition_says_so(
        demo_server: LiveServer, browser) -> None:  # noqa: ANN001
    # The audit: a ticket the desk solved remotely showed 已派工 and 已到场 as done beside 工程师 —; 发送 with nothing
    # typed did nothing; a closed ticket still said the page updates by itself.
    created = _report_anonymously(demo_server, "打印机不出纸")
    ticket, url = created.json()["ticket"], created.json()["reporter_url"]
    page = browser.new_context(locale="zh-CN", **PHONE).new_page()
    page.goto(url)
    page.wait_for_selector("#add-info")
    page.click("#add-info button[type=submit]")
    assert page.locator("#action-error").inner_text() == "请先填写要补充的内容。"
    answered = _api(demo_server, "agent", "POST", f"/api/v1/tickets/{ticket['id']}/actions",
                    json={"action": "answer", "text": "请更换打印纸卷后重启打印模块", "fault_category": "other"})
    assert answered.status_code == 200, answered.text
    page.wait_for_function("document.querySelector('#status-label').textContent.includes('待您确认')")
    steps = page.locator("#progress .progress__step")
    assert steps.all_inner_texts() == ["已提交", "已解决", "已关闭"]
    assert "now" in (steps.nth(1).get_attribute("class") or "")
    assert page.locator("#live-note").is_visible()
    page.click("[data-do=confirm]")
    page.wait_for_function("document.querySelector('#status-label').textContent.includes('已关闭')")
    assert page.locator("#live-note").is_hidden()
    screenshot(page, "defects-remote-ticket-closed")
