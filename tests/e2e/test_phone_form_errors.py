"""A phone form's complaint is shown where the person is, on the field it is about, and goes once they act on it:
adding devices from the hospital list, the engineer completing a repair, the reporter's description."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.conftest import LiveServer, label_code, page_errors, screenshot, sign_in, token

pytestmark = pytest.mark.browser
PHONE = {"viewport": {"width": 390, "height": 844}, "locale": "zh-CN", "timezone_id": "UTC", "has_touch": True,
         "is_mobile": True}

# Where an element is on screen: its box, and whether its centre is on screen and not covered by something else.
ON_SCREEN = """(el) => {
  const box = el.getBoundingClientRect();
  const x = box.left + box.width / 2, y = box.top + box.height / 2;
  const inside = box.width > 0 && box.height > 0 && box.top >= 0 && box.bottom <= innerHeight;
  const hit = inside ? document.elementFromPoint(x, y) : null;
  return { top: box.top, bottom: box.bottom, inside, reachable: Boolean(hit && (el === hit || el.contains(hit))) };
}"""


def test_adding_nothing_is_said_in_the_bottom_bar_and_the_list_ends_clear_of_it(demo_server: LiveServer,
                                                                                  browser) -> None:  # noqa: ANN001
    context = browser.new_context(**PHONE)
    page = context.new_page()
    sign_in(page, demo_server, "labuser", "/my/devices/add")
    bar = page.locator(".claim-submit")
    page.click("#claim-submit")  # nothing ticked
    error = page.locator("#claim-error")
    error.wait_for(state="visible")
    assert error.inner_text() == "请勾选要添加的设备。"
    assert page.evaluate("scrollY") == 0  # the person is still at the top of the list, and sees it there
    where = error.evaluate(ON_SCREEN)
    assert where["inside"] and where["reachable"], where
    assert where["bottom"] <= page.locator("#claim-submit").bounding_box()["y"]  # above the button
    screenshot(page, "claim-nothing-ticked-390x844")

    page.locator("input[name=device_ids]:not(:disabled) + i").first.click()  # ticking one answers it
    assert error.is_hidden()

    # Scrolled to the end, the last device of the list is above the bar, not behind it.
    page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
    last = page.locator("#claim-form label.weui-cell").last
    assert last.bounding_box()["y"] + last.bounding_box()["height"] <= bar.bounding_box()["y"]
    assert last.evaluate(ON_SCREEN)["reachable"]
    context.close()


def _on_site_ticket(server: LiveServer) -> int:
    """The demo's e 801 ticket the engineer is on site for (维修中), so 完成维修 is offered."""
    tickets = httpx.get(f"{server.url}/api/v1/tickets?mine=true&open=true&limit=200",
                        headers={"Authorization": f"Bearer {token(server, 'engineer')}"}).json()["items"]
    return next(t["id"] for t in tickets if t["status"] == "on_site")


def test_completing_with_nothing_filled_marks_the_field_and_nothing_hides_under_submit(demo_server: LiveServer,
                                                                                       browser) -> None:  # noqa: ANN001
    context = browser.new_context(**PHONE)
    phone = context.new_page()
    errors = page_errors(phone)
    ticket_id = _on_site_ticket(demo_server)
    sign_in(phone, demo_server, "engineer", f"/engineer/tickets/{ticket_id}")
    phone.click("[data-action=complete]")
    phone.wait_for_selector("#s-form [data-ff]")
    submit = phone.locator(".weui-half-screen-dialog__ft button[type=submit]")

    # The whole form fits above the Submit bar: the add-photo tile is on screen and takes the tap itself.
    tile = phone.locator("#s-photos .add-photo")
    where = tile.evaluate(ON_SCREEN)
    assert where["inside"] and where["reachable"], where
    assert where["bottom"] <= phone.locator(".weui-half-screen-dialog__ft").bounding_box()["y"]
    screenshot(phone, "engineer-complete-sheet-390x844")

    submit.click()  # no findings
    field = phone.locator("#s-findings").locator("xpath=..")
    assert "weui-cell_warn" in (field.get_attribute("class") or "")
    message = field.locator(".sheet-field-error")
    assert message.inner_text() == "此项必填"
    assert message.evaluate(ON_SCREEN)["inside"]
    assert phone.locator("#s-findings").get_attribute("aria-invalid") == "true"
    assert phone.evaluate("document.activeElement.id") == "s-findings"
    assert phone.locator(".sheet-error").is_hidden()  # not said a second time, away from the field
    screenshot(phone, "engineer-complete-required-390x844")

    phone.fill("#s-findings", "试剂针液面探测电极氧化，清洁后重新校准，连续吸样正常")
    assert "weui-cell_warn" not in (field.get_attribute("class") or "")  # typing takes the complaint back
    assert phone.locator(".sheet-field-error").count() == 0

    # A fault category left unchosen is marked at the category, in view, and focused.
    phone.select_option("#s-ff-category", "")
    submit.click()
    category = phone.locator("#s-ff-category").locator("xpath=..")
    assert "weui-cell_warn" in (category.get_attribute("class") or "")
    assert category.locator(".sheet-field-error").inner_text() == "请选择故障类别。"
    assert category.locator(".sheet-field-error").evaluate(ON_SCREEN)["inside"]
    assert phone.evaluate("document.activeElement.id") == "s-ff-category"
    assert phone.locator(".weui-dialog").count() == 0  # nothing was sent for confirmation
    assert errors == []
    context.close()


def test_the_description_complaint_is_at_the_field_and_goes_once_typed(demo_server: LiveServer,
                                                                       browser) -> None:  # noqa: ANN001
    code = label_code(demo_server, "devices", 1)
    context = browser.new_context(**PHONE)
    page = context.new_page()
    errors = page_errors(page)
    page.goto(f"{demo_server.url}/r/{code}")
    page.fill("input[name=reporter_name]", "陈老师")
    page.fill("input[name=reporter_phone]", "13800001111")
    page.click("#submit")  # no description
    shown = page.locator("#report-form [role=alert]:visible")
    assert shown.count() == 1 and shown.inner_text() == "请填写故障描述。"
    assert shown.evaluate(ON_SCREEN)["inside"]
    assert page.evaluate("document.activeElement.name") == "description"
    screenshot(page, "report-description-required-390x844")

    page.locator("textarea[name=description]").press_sequentially("屏幕报错")
    assert page.locator("#report-form [role=alert]:visible").count() == 0
    assert "请填写故障描述" not in page.locator("#report-form").inner_text()
    assert errors == []
    context.close()
