"""The admin pages in a real browser against the product as `make run` starts it."""

from __future__ import annotations

import httpx
import pytest

from tests.cloud.qr.pdftext import page_count, strings
from tests.e2e.conftest import LiveServer, page_errors, screenshot, sign_in, token

pytestmark = pytest.mark.browser




def test_admin_sees_seeded_devices_and_can_filter(demo_server: LiveServer, browser) -> None:  # noqa: ANN001
    context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="zh-CN")
    page = context.new_page()
    sign_in(page, demo_server, "admin", "/admin/devices")
    rows = page.locator("#device-table tbody tr")
    assert rows.count() == 20
    assert page.locator("h1 .count").inner_text().startswith("20")
    assert page.get_by_text("cobas c 702").count() == 1
    assert page.get_by_text("MF-000001").count() == 1
    screenshot(page, "admin-devices")
    page.fill("input[name=q]", "(B4)")
    page.click(".filters button")
    page.wait_for_load_state()
    assert page.locator("#device-table tbody tr").count() == 2
    page.select_option("select[name=status]", "fault")
    page.fill("input[name=q]", "")
    page.click(".filters button")
    page.wait_for_load_state()
    assert page.locator("#device-table tbody tr").count() == 2  # the AU5800 and the Pentra XLR
    context.close()


def test_admin_reorders_a_group_by_drag_and_drop(demo_server: LiveServer, browser) -> None:  # noqa: ANN001
    context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="zh-CN")
    page = context.new_page()
    sign_in(page, demo_server, "admin", "/admin/devices")
    page.click("nav.mainnav >> text=设备组")
    page.wait_for_url("**/admin/groups")
    cards = page.locator("section.group")
    assert cards.count() == 2
    first = cards.nth(0)
    names_before = first.locator(".member .mono").all_inner_texts()
    assert len(names_before) == 4
    screenshot(page, "admin-groups")

    handles = first.locator(".member .handle")
    source = handles.nth(0).bounding_box()
    target = handles.nth(2).bounding_box()
    page.mouse.move(source["x"] + 4, source["y"] + 4)
    page.mouse.down()
    for step in range(1, 11):  # SortableJS follows pointer moves, so move in steps
        page.mouse.move(source["x"] + 4, source["y"] + 4 + (target["y"] - source["y"] + 12) * step / 10)
    page.mouse.up()
    page.wait_for_selector(".toast.ok")

    names_after = first.locator(".member .mono").all_inner_texts()
    assert names_after != names_before and sorted(names_after) == sorted(names_before)
    group_id = first.get_attribute("data-group-id")
    admin = token(demo_server, "admin")
    saved = httpx.get(f"{demo_server.url}/api/v1/groups/{group_id}",
                      headers={"Authorization": f"Bearer {admin}"}).json()
    assert [m["system_number"] for m in saved["members"]] == names_after
    page.reload()
    assert page.locator("section.group").nth(0).locator(".member .mono").all_inner_texts() == names_after
    screenshot(page, "admin-groups-reordered")
    context.close()


def test_login_page_refuses_a_wrong_password(demo_server: LiveServer, browser) -> None:  # noqa: ANN001
    page = browser.new_page(locale="zh-CN")
    page.goto(f"{demo_server.url}/login")
    page.fill("input[name=username]", "admin")
    page.fill("input[name=password]", "not-the-password")
    page.click("button[type=submit]")
    assert page.locator(".alert.error").inner_text() == "用户名或密码错误"
    screenshot(page, "login-refused")
    page.close()


def test_a_mistyped_address_shows_a_chinese_page_not_json(demo_server: LiveServer, browser) -> None:  # noqa: ANN001
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
    page = context.new_page()
    sign_in(page, demo_server, "admin", "/admin/devices")
    answer = page.goto(f"{demo_server.url}/admin/devices/12a")  # a number mistyped in the address bar
    assert answer is not None and answer.status == 422
    assert page.locator("h2, h1").first.inner_text() == "地址无效"
    body = page.locator("body").inner_text()
    assert "请返回检查" in body and "detail" not in body and "device_id" not in body
    screenshot(page, "error-422-zh")
    with page.expect_navigation() as home:
        page.get_by_role("link", name="返回首页").click()  # the way on from the page
    assert home.value is not None and home.value.status == 200
    context.close()


def test_pages_follow_an_english_browser(demo_server: LiveServer, browser) -> None:  # noqa: ANN001
    page = browser.new_page(locale="en-US")
    page.goto(f"{demo_server.url}/login")
    assert page.locator("button[type=submit]").inner_text() == "Sign in"
    page.close()


def test_admin_prints_labels_for_any_selection(demo_server: LiveServer, browser) -> None:  # noqa: ANN001
    context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="zh-CN", accept_downloads=True)
    page = context.new_page()
    sign_in(page, demo_server, "admin", "/admin/devices")
    for device_id in (1, 5, 12):  # not consecutive
        page.check(f"input.pick[data-kind=device][value='{device_id}']")
    assert page.locator("#label-bar .pick-count").inner_text() == "3"
    page.select_option("#label-bar select[name=template]", "thermal-50x30")
    screenshot(page, "admin-labels-selected")
    with page.expect_download() as download_info:
        page.click("#label-bar button.print")
    pdf = download_info.value.path().read_bytes()
    assert pdf.startswith(b"%PDF")
    assert page_count(pdf) == 3  # one thermal label per page, one per selected device
    text = " ".join(strings(pdf))
    assert all(number in text for number in ("MF-000001", "MF-000005", "MF-000012"))
    context.close()


# The pages an administrator and the desk open on a phone too; each one was wider than the screen (up to 927 px)
# or showed one menu entry of eight before the phone layout (2026-12-06 audit).
PHONE_PAGES = {
    "admin": ["/admin/devices", "/admin/groups", "/admin/hospitals", "/admin/users", "/admin/gateways",
              "/admin/alerts", "/admin/fault-categories", "/admin/wechat", "/admin/bot",
              "/admin/audit", "/admin/kb", "/devices/1/profile", "/dashboards"],
    "agent": ["/console"],
}


@pytest.mark.parametrize("who", sorted(PHONE_PAGES))
def test_admin_and_desk_pages_fit_a_phone(demo_server: LiveServer, browser, who: str) -> None:  # noqa: ANN001
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
    page = context.new_page()
    errors = page_errors(page)
    sign_in(page, demo_server, who, PHONE_PAGES[who][0])
    wide = {}
    for path in PHONE_PAGES[who]:
        page.goto(f"{demo_server.url}{path}")
        page.wait_for_load_state("networkidle")
        width = page.evaluate("document.documentElement.scrollWidth")
        if width > 390:
            wide[path] = width
        # every entry of the main menu is on the screen (it had shrunk to a strip showing one)
        hidden = page.evaluate("""(() => {
            const nav = document.querySelector('.topbar .mainnav');
            if (!nav) return 0;
            const box = nav.getBoundingClientRect();
            return [...nav.querySelectorAll('a')].filter((a) => {
                const r = a.getBoundingClientRect();
                return r.width > 0 && (r.right > Math.min(box.right, innerWidth) + 1 || r.left < box.left - 1);
            }).length; })()""")
        if hidden:
            wide[f"{path} menu"] = hidden
    screenshot(page, f"phone-{who}-last")
    assert wide == {}, wide
    assert errors == [], errors
    context.close()
