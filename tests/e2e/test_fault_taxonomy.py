"""The fault taxonomy end to end on the demo: an admin adds, renames and reorders a fault category for chemistry
analyzers; an engineer completes a repair on the phone with the suggested category, the parts and the root cause;
the desk resolves another ticket remotely with a category in the console. Screenshots go to test-artifacts/."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import ARTIFACTS, LiveServer, label_code, page_errors, screenshot, sign_in, token

pytestmark = pytest.mark.browser

PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True,
         "locale": "zh-CN"}
DESKTOP = {"viewport": {"width": 1280, "height": 800}, "locale": "zh-CN"}


def _api(server: LiveServer, username: str) -> httpx.Client:
    return httpx.Client(base_url=server.url, timeout=10,
                        headers={"Authorization": f"Bearer {token(server, username)}"})


def _device(server: LiveServer, model: str) -> dict[str, Any]:
    items = _api(server, "agent").get("/api/v1/devices", params={"q": model}).json()["items"]
    return next(d for d in items if d["model"] == model)


def _report(server: LiveServer, device_id: int, description: str) -> dict[str, Any]:
    response = httpx.post(f"{server.url}/api/v1/tickets", headers={"Idempotency-Key": uuid.uuid4().hex}, json={
        "device_id": device_id, "qr_code": label_code(server, "devices", device_id), "description": description,
        "urgency": "normal", "reporter_name": "陈老师", "reporter_phone": "13800001111"})
    assert response.status_code == 201, response.text
    return {**response.json()["ticket"], "reporter_url": response.json()["reporter_url"]}


def _rows(page: Any) -> list[str]:
    return [str(n) for n in page.eval_on_selector_all("#fault-table tbody tr[data-name]",
                                                      "rows => rows.map(r => r.dataset.name)")]


def _view(page: Any, name: str) -> None:
    """A screenshot of what is on screen (a bottom sheet scrolls inside the viewport, not with the page)."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def _submit_and_wait(page: Any, form: str) -> None:
    """Post an admin form (admin_forms.js) and wait for the page it reloads into."""
    with page.expect_navigation():
        page.click(f"{form} button[type=submit]")
    page.wait_for_selector("#fault-table")


def test_admin_shapes_the_list_engineer_and_desk_file_resolutions_under_it(
        demo_server: LiveServer, browser: Any) -> None:
    # 1. The admin adds "比色杯" for chemistry analyzers, renames it and moves it up one place.
    desk = browser.new_context(**DESKTOP)
    admin = desk.new_page()
    admin_errors = page_errors(admin)
    sign_in(admin, demo_server, "admin", "/admin/fault-categories?category=chemistry")
    assert _rows(admin)[:5] == ["温控", "光学 / 光源", "加样针 / 堵针", "试剂与液路", "ISE 电极"]
    admin.click("details.new-item summary")
    admin.fill("#fault-form input[name=name_zh]", "比色杯")
    admin.fill("#fault-form input[name=name_en]", "Cuvettes")
    assert admin.locator("#fault-form select[name=scope]").input_value() == "chemistry"
    _submit_and_wait(admin, "#fault-form")
    assert _rows(admin)[-1] == "比色杯"
    row = admin.locator('#fault-table tr[data-name="比色杯"]')
    category_id = row.get_attribute("data-category-id")
    assert "仅生化" in row.inner_text()
    row.locator("button[data-toggle]").click()
    edit = f"#fault-edit-{category_id} form"
    admin.fill(f"{edit} input[name=name_zh]", "比色杯 / 反应杯")
    _submit_and_wait(admin, edit)
    for _ in range(2):  # above "其他", then above "未发现故障 / 误报"
        with admin.expect_navigation():
            admin.click(f'#fault-table tr[data-category-id="{category_id}"] button.move[title="上移"]')
        admin.wait_for_selector("#fault-table")
    assert _rows(admin)[-3:] == ["比色杯 / 反应杯", "未发现故障 / 误报", "其他"]
    admin.evaluate("window.scrollTo(0, 0)")
    screenshot(admin, "fault-categories-admin")
    admin.goto(f"{demo_server.url}/lang/en")
    admin.goto(f"{demo_server.url}/admin/fault-categories?category=chemistry")
    assert "Only Chemistry" in admin.locator(f'#fault-table tr[data-category-id="{category_id}"]').inner_text()
    screenshot(admin, "fault-categories-admin-en")

    # 2. A cobas c 311 is reported; the engineer completes the repair on the phone. The new category is
    #    suggested from the report's words and preselected; the engineer adds two parts and the root cause.
    device = _device(demo_server, "cobas c 311")
    ticket = _report(demo_server, device["id"], "比色杯划痕，吸光度偏高，质控失控")
    agent, engineer = _api(demo_server, "agent"), _api(demo_server, "engineer")
    engineer_id = next(u["id"] for u in agent.get(f"/api/v1/tickets/{ticket['id']}/engineers").json()
                       if u["name"] == "张工程师")
    assert agent.post(f"/api/v1/tickets/{ticket['id']}/actions",
                      json={"action": "dispatch", "engineer_id": engineer_id}).status_code == 200
    for action in ("accept", "arrive"):
        assert engineer.post(f"/api/v1/tickets/{ticket['id']}/actions", json={"action": action}).status_code == 200

    field = browser.new_context(**PHONE)
    phone = field.new_page()
    phone_errors = page_errors(phone)
    sign_in(phone, demo_server, "engineer", f"/engineer/tickets/{ticket['id']}")
    phone.wait_for_selector("#status[data-status=on_site]")
    phone.click("[data-action=complete]")
    phone.wait_for_selector("#s-ff-category")
    assert phone.locator("#s-ff-category").input_value() == "cuvettes"
    hint = phone.locator("#s-ff-hint").inner_text()
    assert "建议" in hint and "比色杯 / 反应杯" in hint and "来自报修描述中的“比色杯”" in hint
    _view(phone, "fault-engineer-complete-suggested")
    phone.fill("#s-findings", "3 号比色杯划痕，更换比色杯并做杯空白，质控恢复在控")
    phone.fill("#s-ff-root", "清洗液浓度过高，长期腐蚀比色杯")
    phone.click("[data-ff-add]")
    phone.fill(".ff-part-name >> nth=0", "比色杯")
    phone.fill(".ff-part-no >> nth=0", "AU-CUV-08")
    phone.fill(".ff-part-qty >> nth=0", "2")
    phone.click("[data-ff-add]")
    phone.fill(".ff-part-name >> nth=1", "清洗液")
    phone.locator("[data-ff-add]").scroll_into_view_if_needed()
    _view(phone, "fault-engineer-complete-parts")
    phone.click(".weui-half-screen-dialog__ft button[type=submit]")
    phone.click(".weui-dialog__btn[data-dlg=ok]")
    phone.wait_for_selector("#status[data-status=resolved]")
    repair = phone.locator("#eng-repair").inner_text()
    assert "故障类别：比色杯 / 反应杯" in repair and "AU-CUV-08" in repair and "清洗液浓度过高" in repair
    phone.wait_for_selector("[role=alert]", state="detached", timeout=5000)  # the toast has gone
    phone.locator("#eng-repair").scroll_into_view_if_needed()
    _view(phone, "fault-engineer-resolved")
    done = agent.get(f"/api/v1/tickets/{ticket['id']}").json()
    assert (done["status"], done["tier"], done["fault_category"]) == ("resolved", "on_site", "cuvettes")
    assert done["parts"] == [{"name": "比色杯", "part_no": "AU-CUV-08", "qty": 2},
                             {"name": "清洗液", "part_no": None, "qty": 1}]
    assert done["root_cause"] == "清洗液浓度过高，长期腐蚀比色杯"
    # The reporter's page names the fault too, in the reporter's language.
    mine = field.new_page()
    mine.goto(ticket["reporter_url"])
    mine.locator("#fault").filter(has_text="比色杯 / 反应杯").wait_for()
    assert mine.locator("#fault-cell").is_visible()

    # 3. The desk resolves another ticket remotely in the console, with the suggested category.
    remote = _report(demo_server, _device(demo_server, "XN-1000")["id"], "LIS 通讯中断，结果无法上传")
    office = browser.new_context(**DESKTOP)
    console = office.new_page()
    console_errors = page_errors(console)
    sign_in(console, demo_server, "agent", f"/console?ticket={remote['id']}")
    console.locator(".d-head").filter(has_text=remote["number"]).wait_for()
    console.click("[data-action=answer]")
    console.wait_for_selector("#f-ff-category")
    assert console.locator("#f-ff-category").input_value() == "communication_software"
    assert "来自报修描述中的“LIS”" in console.locator("#f-ff-hint").inner_text()
    console.click(".canned .chip >> nth=0")
    console.fill("#f-ff-root", "接口服务进程挂起")
    screenshot(console, "fault-console-resolve-form")
    console.click(".action-form button[type=submit]")
    console.click(".dlg-ok")
    console.wait_for_selector(".d-head .ts-resolved")
    pinned = console.locator("#d-pinned").inner_text()
    assert "通信与软件" in pinned and "接口服务进程挂起" in pinned
    assert "故障类别：通信与软件" in console.locator(".timeline").inner_text()
    screenshot(console, "fault-console-resolved")
    solved = agent.get(f"/api/v1/tickets/{remote['id']}").json()
    assert (solved["tier"], solved["fault_category"]) == ("remote", "communication_software")

    assert admin_errors == [] and phone_errors == [] and console_errors == []
    field.close()
    office.close()
    desk.close()


def test_a_precheck_fixed_on_the_phone_is_filed_under_the_alerts_metric(
        demo_server: LiveServer, browser: Any) -> None:
    from tests.e2e.test_precheck import _open_predictive_ticket

    admin = _api(demo_server, "admin")
    _device_row, alert = _open_predictive_ticket(demo_server, admin)  # the AU5800's reaction disk drifts
    ticket_id = alert["ticket_id"]
    engineer = _api(demo_server, "engineer")
    task = engineer.get(f"/api/v1/tickets/{ticket_id}/precheck").json()
    for item in task["items"]:  # the checks themselves are test_precheck.py's business
        answered = engineer.patch(f"/api/v1/tickets/{ticket_id}/precheck/items/{item['id']}", json={"answer": "done"})
        assert answered.status_code == 200, answered.text

    context = browser.new_context(**PHONE)
    phone = context.new_page()
    errors = page_errors(phone)
    sign_in(phone, demo_server, "engineer", f"/engineer/tickets/{ticket_id}")
    phone.wait_for_selector("#pc-finish")
    phone.click("#pc-finish")
    phone.check("input[name=outcome][value=false_alarm]")
    assert phone.locator("#pc-no-fault").is_visible() and phone.locator("#pc-fault").is_hidden()
    phone.check("input[name=outcome][value=fixed]")
    phone.wait_for_selector("#pc-ff-category")
    assert phone.locator("#pc-ff-category").input_value() == "temperature_control"
    assert "来自告警指标：反应盘温度" in phone.locator("#pc-ff-hint").inner_text()
    _view(phone, "fault-precheck-fixed-suggested")
    # What the engineer writes refines the suggestion while they type, until they pick one themselves.
    phone.fill("#s-finish-note", "传送皮带松动")
    phone.wait_for_function("document.querySelector('#pc-ff-category').value === 'mechanical'")
    assert "来自填写内容中的“皮带”" in phone.locator("#pc-ff-hint").inner_text()
    phone.select_option("#pc-ff-category", "temperature_control")
    phone.fill("#s-finish-note", "反应盘散热风扇滤网堵塞，清洁后温度回到 37.0 ℃，质控在控")
    phone.locator("#pc-ff-hint").filter(has_text="温控 · 来自填写内容中的").wait_for()  # the hint follows
    assert phone.locator("#pc-ff-category").input_value() == "temperature_control"
    phone.click("#pc-fault [data-ff-add]")
    phone.fill(".ff-part-name >> nth=0", "风扇滤网")
    phone.locator("#pc-ff-category").scroll_into_view_if_needed()
    _view(phone, "fault-precheck-fixed-form")
    phone.click(".weui-half-screen-dialog__ft button[type=submit]")
    phone.wait_for_selector("#pc-outcome[data-outcome=fixed]")
    phone.wait_for_selector("#status[data-status=resolved]")
    assert "故障类别：温控" in phone.locator("#eng-repair").inner_text()
    ticket = admin.get(f"/api/v1/tickets/{ticket_id}").json()
    assert (ticket["fault_category"], ticket["tier"], ticket["parts"]) == (
        "temperature_control", "on_site", [{"name": "风扇滤网", "part_no": None, "qty": 1}])
    assert errors == []
    context.close()
