"""The admin console in a real browser: hospitals, users and verification, gateways, audit log, and no-access."""

from __future__ import annotations

import re

import httpx
import pytest

from protocols.telemetry import encode_batch
from tests.cloud.telemetry.conftest import T0, make_batch
from tests.e2e.conftest import LiveServer, page_errors, screenshot, sign_in

pytestmark = pytest.mark.browser

SIZES = [(1280, 720), (1440, 900)]
RUIJIN = (31.2117, 121.4677)


def _context(browser, width: int = 1280, height: int = 720, **extra):  # noqa: ANN001, ANN202
    return browser.new_context(viewport={"width": width, "height": height}, locale="zh-CN", **extra)


def _shots(page, name: str) -> None:  # noqa: ANN001
    for width, height in SIZES:
        page.set_viewport_size({"width": width, "height": height})
        page.evaluate("window.scrollTo(0, 0)")  # else the sticky top bar lands mid-page in a full-page shot
        screenshot(page, f"{name}-{width}x{height}")


def _confirm(page) -> None:  # noqa: ANN001
    page.wait_for_selector("#confirm-dialog[open]")
    page.click("#confirm-dialog [data-ok]")


def test_admin_creates_a_hospital_checks_the_geofence_and_issues_an_invite_code(demo_server: LiveServer,
                                                                                 browser) -> None:  # noqa: ANN001
    context = _context(browser, geolocation={"latitude": RUIJIN[0] + 0.003, "longitude": RUIJIN[1]},
                       permissions=["geolocation"])
    page = context.new_page()
    errors = page_errors(page)
    sign_in(page, demo_server, "admin", "/admin/hospitals")
    assert page.locator("#hospital-table tbody tr").count() >= 2
    _shots(page, "admin-hospitals")
    page.click("text=新建医院")
    page.wait_for_url("**/admin/hospitals/new")
    page.fill("input[name=name]", "上海市第六人民医院")
    page.fill("textarea[name=aliases]", "六院, lyy")
    page.fill("input[name=address]", "上海市徐汇区宜山路600号")
    page.fill("input[name=latitude]", str(RUIJIN[0]))
    page.fill("input[name=longitude]", str(RUIJIN[1]))
    page.fill("input[name=geofence_radius_m]", "0")
    page.fill("input[name=hotline]", "400-820-1234")
    page.click("#geo-check")
    result = page.locator("#geo-result")
    result.wait_for(state="visible")
    page.wait_for_function("document.getElementById('geo-result').textContent.includes('距围栏中心')")
    assert "在围栏外" in result.inner_text()  # radius 0 for now
    page.fill("input[name=geofence_radius_m]", "500")
    assert "在围栏内" in result.inner_text() and "米" in result.inner_text()  # ~334 m from the centre
    page.fill("input[name=geofence_radius_m]", "0")
    page.click("#hospital-form button[type=submit]")
    page.wait_for_selector(".field-error")
    assert "半径应为 10 到 50000" in page.locator(".field-error").first.inner_text()
    _shots(page, "admin-hospital-new-error")
    page.fill("input[name=geofence_radius_m]", "800")
    page.click("#hospital-form button[type=submit]")
    page.wait_for_url(re.compile(r".*/admin/hospitals/\d+$"))
    assert page.locator("#hospital-form input[name=name]").input_value() == "上海市第六人民医院"
    page.fill("#departments input[name=name] >> nth=-1", "检验科")
    page.click("text=添加科室")
    page.wait_for_selector("#departments li[data-department-id]")
    page.click("#invite button.primary")
    page.wait_for_selector("#invite-code")
    code = page.locator("#invite-code").inner_text()
    assert len(code) == 14
    page.click("#invite button.primary")  # a second code replaces the first, after a confirmation
    _confirm(page)
    page.wait_for_function(f"document.getElementById('invite-code').textContent !== '{code}'")
    _shots(page, "admin-hospital-edit")
    assert errors == [] or all(" 4" in e or "422" in e for e in errors)  # only the refused save
    context.close()


def test_admin_creates_a_user_sees_the_password_once_and_works_the_queue(demo_server: LiveServer,
                                                                          browser) -> None:  # noqa: ANN001
    hospitals = httpx.get(f"{demo_server.url}/api/v1/hospitals/search", params={"q": "瑞金"}, timeout=10)
    hospital_id = hospitals.json()[0]["id"] if hospitals.status_code == 200 and hospitals.json() else 1
    for name in ("zhao.lab", "qian.lab"):
        registered = httpx.post(f"{demo_server.url}/api/v1/auth/register", timeout=10, json={
            "username": name, "password": "lab-password-1", "full_name": "赵老师" if name == "zhao.lab" else "钱老师",
            "phone": "13912345678", "hospital_id": hospital_id})
        assert registered.status_code == 201, registered.text
    context = _context(browser)
    page = context.new_page()
    sign_in(page, demo_server, "admin", "/admin/users")
    _shots(page, "admin-users")
    page.click("text=新建用户")
    page.fill("input[name=username]", "sun.engineer")
    page.fill("input[name=full_name]", "孙工程师")
    page.select_option("select[name=role]", "engineer")
    page.check("input[name=categories][value=chemistry]")
    page.click("#user-form button[type=submit]")
    page.wait_for_selector("#secret-dialog[open]")
    secret = page.locator("#secret-dialog .secret-value").inner_text()
    assert len(secret) == 14
    _shots(page, "admin-user-password-once")
    page.click("#secret-dialog [data-ok]")
    page.wait_for_url(re.compile(r".*/admin/users/\d+$"))
    assert secret not in page.content()
    login = httpx.post(f"{demo_server.url}/api/v1/auth/token", timeout=10,
                       data={"username": "sun.engineer", "password": secret})
    assert login.status_code == 200

    page.click("nav.subnav >> text=待审核")
    page.wait_for_url("**/admin/verifications")
    rows = page.locator("#verification-table tbody tr")
    assert rows.count() >= 2
    _shots(page, "admin-verifications")
    zhao = page.locator("#verification-table tr", has_text="赵老师")
    zhao.locator("button.primary").click()
    page.wait_for_selector(".toast.ok")
    # the page reloads half a second after the toast: act on the reloaded queue, not on the one about to go
    page.wait_for_selector("#verification-table tr:has-text('赵老师')", state="detached")
    qian = page.locator("#verification-table tr", has_text="钱老师")
    qian.locator("button.danger").click()  # no reason yet: refused in place
    _confirm(page)
    page.wait_for_selector(".field-error")
    qian.locator("input[name=reason]").fill("非本院人员")
    qian.locator("button.danger").click()
    _confirm(page)
    page.wait_for_selector("text=目前没有待审核的用户", timeout=5000)
    page.goto(f"{demo_server.url}/admin/users?verification=verified&role=lab_user")
    assert page.locator("#user-table", has_text="赵老师").count() == 1
    context.close()


def test_admin_registers_a_gateway_and_rotates_its_token(demo_server: LiveServer, browser) -> None:  # noqa: ANN001
    context = _context(browser)
    page = context.new_page()
    sign_in(page, demo_server, "admin", "/admin/gateways")
    page.fill("#gateway-form input[name=name]", "rj-lab-e2e")
    page.select_option("#gateway-form select[name=hospital_id]", index=1)
    page.click("#gateway-form button[type=submit]")
    page.wait_for_selector("#secret-dialog[open]")
    token = page.locator("#secret-dialog .secret-value").inner_text()
    assert token.startswith("mfgw_")
    page.click("#secret-dialog [data-ok]")
    page.wait_for_url(re.compile(r".*/admin/gateways/\d+$"))
    batch = encode_batch(make_batch("rj-lab-e2e", readings=[("c702-e2e", "temp_c", 37.1, T0)], events=[]))
    sent = httpx.post(f"{demo_server.url}/api/v1/ingest", content=batch, timeout=10,
                      headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    assert sent.status_code == 200, sent.text
    page.reload()
    row = page.locator("#mapping-table tr[data-device-key='c702-e2e']")
    assert "1 条读数" in row.inner_text()
    _shots(page, "admin-gateway")
    row.locator("select[name=device_id]").select_option(index=1)
    row.locator("button.primary").click()
    page.wait_for_selector(".toast.ok")
    page.wait_for_load_state()
    page.click("text=更换令牌")
    _confirm(page)
    page.wait_for_selector("#secret-dialog[open]")
    assert page.locator("#secret-dialog .secret-value").inner_text() != token
    with page.expect_navigation():  # the page reloads once the token was read
        page.click("#secret-dialog [data-ok]")
    page.goto(f"{demo_server.url}/admin/gateways")
    assert page.locator("#gateway-table", has_text="rj-lab-e2e").count() == 1
    _shots(page, "admin-gateways")
    context.close()


def test_audit_log_filters_and_english(demo_server: LiveServer, browser) -> None:  # noqa: ANN001
    context = _context(browser)
    page = context.new_page()
    sign_in(page, demo_server, "admin", "/admin/audit")
    assert page.locator("#audit-table tbody tr").count() > 0
    page.select_option("select[name=entity]", "hospital")
    page.click("#audit-filters button")
    page.wait_for_load_state()
    entities = page.locator("#audit-table tbody tr td:nth-child(4)").all_inner_texts()
    assert entities and all(e.startswith("医院") for e in entities)
    _shots(page, "admin-audit")
    page.click("a.lang")
    page.wait_for_load_state()
    assert page.locator("h1", has_text="Audit log").count() == 1
    _shots(page, "admin-audit-en")
    page.click("nav.subnav >> text=Hospitals")
    page.wait_for_url("**/admin/hospitals")
    _shots(page, "admin-hospitals-en")
    page.click("a.lang")  # back to Chinese for the other tests' screenshots
    context.close()


@pytest.mark.parametrize("username", ["labuser", "engineer"])
def test_other_roles_are_told_they_have_no_access(demo_server: LiveServer, browser, username: str) -> None:  # noqa: ANN001
    context = _context(browser)
    page = context.new_page()
    sign_in(page, demo_server, username, "/admin/users")
    assert "无权访问" in page.content()
    assert "/login" not in page.url
    screenshot(page, f"admin-no-access-{username}")
    context.close()


def test_lab_user_adds_several_devices_from_the_hospital_list(demo_server: LiveServer, browser) -> None:  # noqa: ANN001
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN", is_mobile=True,
                                  has_touch=True, device_scale_factor=2)
    page = context.new_page()
    sign_in(page, demo_server, "labuser", "/my/devices")
    page.click("#add-from-list")
    page.wait_for_url("**/my/devices/add")
    boxes = page.locator("input[name=device_ids]:not(:disabled)")
    assert boxes.count() >= 3
    for _ in range(2):
        page.locator("input[name=device_ids]:not(:checked) + i").first.click()
    assert page.locator("#claim-count").inner_text() == "(2)"
    screenshot(page, "claim-from-list-390x844")
    page.click("#claim-submit")
    page.wait_for_url("**/my/devices")
    page.wait_for_selector("#my-devices .device-card, #my-devices [data-remove]", timeout=10000)
    screenshot(page, "claim-from-list-done-390x844")
    context.close()
