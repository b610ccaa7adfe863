"""The service desk as an agent inbox, in a real browser: search, filters and views kept in the URL, a reply
that is not a resolution (and reaches the reporter's page), resolving remotely only after a confirmation,
merging a duplicate, reassigning an engineer; at 1280x720 and 1440x900, in Chinese and in English."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import LiveServer, label_code, screenshot, sign_in, token
from tests.e2e.test_console import _photo, _upload, _watch_errors

pytestmark = pytest.mark.browser

SMALL = {"viewport": {"width": 1280, "height": 720}, "locale": "zh-CN"}
LARGE = {"viewport": {"width": 1440, "height": 900}, "locale": "zh-CN"}
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True,
         "locale": "zh-CN"}


def _headers(server: LiveServer, user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(server, user)}"}


def _device(server: LiveServer, model: str) -> dict[str, Any]:
    items = httpx.get(f"{server.url}/api/v1/devices", params={"q": model}, headers=_headers(server, "agent"))
    return dict(items.json()["items"][0])


def _report(server: LiveServer, device_id: int, description: str, *, name: str = "陈老师",
            photo: bool = False) -> dict[str, Any]:
    """An anonymous report from the label, as the phone sends it; returns the ticket and the reporter's key."""
    attachments = []
    if photo:
        uploaded = _upload(server, "photo", _photo())
        attachments = [{"id": uploaded["id"], "key": uploaded["key"]}]
    response = httpx.post(f"{server.url}/api/v1/tickets", headers={"Idempotency-Key": uuid.uuid4().hex}, json={
        "device_id": device_id, "qr_code": label_code(server, "devices", device_id), "description": description,
        "urgency": "normal", "reporter_name": name, "reporter_phone": "13912345678", "attachments": attachments})
    assert response.status_code == 201, response.text
    body = response.json()
    return {**body["ticket"], "key": body["reporter_key"]}


def _item(page: Any, ticket: dict[str, Any]) -> Any:
    return page.locator(f'.q-item[data-number="{ticket["number"]}"]')


def _open(page: Any, ticket: dict[str, Any]) -> None:
    _item(page, ticket).click()
    page.locator(".d-head").filter(has_text=ticket["number"]).wait_for()


def test_search_filters_views_reply_merge_and_reassign(demo_server: LiveServer, browser: Any) -> None:
    created = httpx.post(f"{demo_server.url}/api/v1/users", headers=_headers(demo_server, "admin"), json={
        "username": f"eng{uuid.uuid4().hex[:6]}", "password": "medfix-demo-2", "role": "engineer",
        "full_name": "刘工程师"})
    assert created.status_code == 201, created.text
    device = _device(demo_server, "AU5800")
    older = _report(demo_server, device["id"], "AU5800 比色杯清洗液不足报警", photo=True)
    newer = _report(demo_server, device["id"], "AU5800 又报清洗液不足，样本做不了", name="赵老师", photo=True)
    other = _report(demo_server, _device(demo_server, "ABL90")["id"], "血气分析仪 pH 电极漂移")

    desk = browser.new_context(**SMALL)
    console = desk.new_page()
    errors = _watch_errors(console)
    sign_in(console, demo_server, "agent", "/console")
    console.wait_for_selector("#live[data-state=open]", timeout=5000)
    _item(console, newer).wait_for()

    # Search: the text, then a reload keeps it (the URL holds it) and the list the server answered.
    console.fill("#q", "pH 电极")
    console.wait_for_function("location.search.includes('q=')")
    _item(console, other).wait_for()
    _item(console, newer).wait_for(state="detached")
    assert console.locator(".q-item").count() == 1
    console.reload()
    assert console.input_value("#q") == "pH 电极"
    _item(console, other).wait_for()
    assert console.locator(".q-item").count() == 1
    console.fill("#q", newer["number"])
    _item(console, newer).wait_for()
    _item(console, other).wait_for(state="detached")
    console.fill("#q", "")
    _item(console, other).wait_for()
    # A ticket number under another tab: the search goes there (it said nothing matched on 待处理).
    listed = httpx.get(f"{demo_server.url}/api/v1/tickets?limit=200", headers=_headers(demo_server, "agent")).json()
    elsewhere = next(t for t in listed["items"] if t["status"] == "dispatched")
    console.fill("#q", elsewhere["number"])
    _item(console, elsewhere).wait_for()
    console.wait_for_function("location.search.includes('tab=dispatched')")
    assert console.locator("#tabs .qtab.active").get_attribute("data-tab") == "dispatched"
    console.fill("#q", "")
    console.click("[data-tab=todo]")
    _item(console, other).wait_for()

    # Filters: predictive tickets only, kept across a reload; then cleared.
    console.click("#filters-toggle")
    console.select_option("#f-source", "predictive")
    console.wait_for_function("location.search.includes('source=predictive')")
    _item(console, newer).wait_for(state="detached")
    console.reload()
    assert console.input_value("#f-source") == "predictive"
    assert console.locator("#filters-toggle .qcount").inner_text() == "1"
    console.select_option("#f-hospital", str(device["hospital_id"]))
    console.select_option("#f-source", "reported")
    _item(console, newer).wait_for()
    assert _item(console, other).count() == (1 if other["hospital_id"] == device["hospital_id"] else 0)
    screenshot(console, "desk-filters-1280")
    console.click("#filters-clear")
    console.wait_for_function("!location.search.includes('hospital_id')")

    # Views with their counts: mine / unassigned / all.
    counts = console.locator("#views .qcount")
    counts.first.wait_for()
    assert counts.count() == 3
    # what a view counts, against the tabs (全部 5 beside tabs adding up to 6 read as a mistake)
    assert "不含待确认" in (counts.first.get_attribute("title") or "")
    console.click("[data-view=unassigned]")
    console.wait_for_function("location.search.includes('view=unassigned')")
    console.click("[data-view=all]")
    _item(console, newer).wait_for()
    tabs = console.locator("#tabs .qtab")
    last = tabs.last.bounding_box()
    pane = console.locator(".queue-pane").bounding_box()
    assert last["x"] + last["width"] <= pane["x"] + pane["width"]  # the last tab is not cut off

    # The newer of the two tickets of one device shows as a possible duplicate.
    assert "可能重复" in _item(console, newer).inner_text()
    unread = int(console.locator(".bell-count").inner_text())  # the desk was told of each new ticket
    _open(console, newer)
    # Opening the ticket reads its notification: the bell's count goes down.
    console.wait_for_function(f"Number(document.querySelector('.bell-count').textContent) < {unread}"
                              " || document.querySelector('.bell-count').hidden")
    console.locator("#d-dups").filter(has_text=older["number"]).wait_for()
    console.locator("#d-reporter-tickets").wait_for()

    # Reply: a canned text goes to the reporter; the ticket stays where it is.
    console.click("[data-action=reply]")
    console.click(".canned .chip >> nth=3")
    desc = console.locator("#d-pinned .d-desc").bounding_box()
    thumb = console.locator("#d-pinned .thumb").bounding_box()
    assert desc["y"] > 0 and desc["y"] + 20 < 720 and thumb["y"] + thumb["height"] <= 720  # still in view
    screenshot(console, "desk-reply-1280")
    console.click(".action-form button[type=submit]")
    console.locator(".timeline").filter(has_text="客服留言").wait_for()
    assert console.locator(".d-head .ts-submitted").count() == 1
    phone = browser.new_context(**PHONE)
    reporter = phone.new_page()
    reporter.goto(f"{demo_server.url}/t/{newer['number']}?k={newer['key']}")
    reporter.locator("#timeline").filter(has_text="客服留言").wait_for(timeout=5000)
    assert "报警界面" in reporter.locator("#timeline").inner_text()  # the canned text asks for a photo
    screenshot(reporter, "desk-reply-on-the-reporters-page")

    # Resolving remotely asks first; going back leaves the ticket as it was.
    console.click("[data-action=answer]")
    console.fill("#f-text", "请按手册补充清洗液后重试。")
    console.click(".action-form button[type=submit]")
    try:
        console.locator(".dlg").filter(has_text="确认远程解决").wait_for()
    except Exception as exc:  # say what the desk showed instead of the dialog (seen once in CI, not reproduced)
        shown = console.evaluate("() => [...document.querySelectorAll('.form-error, #d-notice, #d-form')]"
                                 ".map((el) => `${el.className}${el.hidden ? ' (hidden)' : ''}: ${el.innerText}`)")
        screenshot(console, "desk-resolve-confirm-missing")
        raise AssertionError(f"no confirmation dialog; the desk showed {shown}") from exc
    screenshot(console, "desk-resolve-confirm-1280")
    console.click(".dlg-cancel")
    assert console.locator(".dlg").count() == 0 and console.locator(".d-head .ts-submitted").count() == 1
    console.click("[data-close]")

    # Merge: the newer goes into the older, which opens with the note and both photos.
    console.click(f'#d-dups [data-merge="{older["id"]}"]')  # the demo has an older one of this device too
    console.locator(".dlg").filter(has_text=newer["number"]).wait_for()
    screenshot(console, "desk-merge-confirm-1280")
    console.click(".dlg-ok")
    console.locator(".d-head").filter(has_text=older["number"]).wait_for()
    console.locator(".timeline").filter(has_text=newer["number"]).wait_for()
    assert console.locator("#d-pinned .thumb").count() == 2
    console.locator("#d-dups li").first.wait_for()  # the demo's own ticket of this device is still open
    assert newer["number"] not in console.locator("#d-dups").inner_text()
    merged = httpx.get(f"{demo_server.url}/api/v1/tickets/{newer['id']}", headers=_headers(demo_server, "agent"))
    assert merged.json()["status"] == "merged"
    reporter.locator("#timeline").filter(has_text=older["number"]).wait_for(timeout=5000)

    # Dispatch, then hand it to another engineer.
    console.click("[data-action=dispatch]")
    console.locator("label.engineer", has_text="张工程师").click()
    console.click(".action-form button[type=submit]")
    console.wait_for_selector(".d-head .ts-dispatched")
    console.click("[data-action=reassign]")
    choice = console.locator("label.engineer", has_text="刘工程师")
    choice.wait_for()
    assert console.locator("label.engineer", has_text="张工程师").count() == 0
    choice.click()
    console.fill("#f-text", "张工今天在外院")
    screenshot(console, "desk-reassign-1280")
    console.click(".action-form button[type=submit]")
    console.locator(".timeline").filter(has_text="刘工程师").wait_for()
    assert "刘工程师" in console.locator(".d-grid").inner_text()
    assert errors == []
    phone.close()
    desk.close()


def test_console_screenshots_large_and_in_english(demo_server: LiveServer, browser: Any) -> None:
    ticket = _report(demo_server, _device(demo_server, "Pentra XLR")["id"], "吸样针报警，无法吸样", photo=True)
    for name, options in (("desk-1440-zh", LARGE), ("desk-1280-en", {**SMALL, "locale": "en-US"}),
                          ("desk-1440-en", {**LARGE, "locale": "en-US"})):
        context = browser.new_context(**options)
        page = context.new_page()
        errors = _watch_errors(page)
        sign_in(page, demo_server, "agent", f"/console?ticket={ticket['id']}")
        page.locator(".d-head").filter(has_text=ticket["number"]).wait_for()
        page.locator("#d-reporter-tickets li").first.wait_for()
        page.click("[data-action=reply]")
        if options["locale"] == "en-US":
            text = page.locator(".console").inner_text()
            assert "Reply" in text and "Mine" in text and "Unassigned" in text
            assert "回复" not in page.locator(".d-buttons").inner_text()
        screenshot(page, name)
        assert errors == []
        context.close()
