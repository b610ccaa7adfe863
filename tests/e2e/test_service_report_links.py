"""The service report from the pages that show a repaired ticket: the reporter's ticket page (its private link),
the engineer's ticket page and the desk console; each link opens the PDF."""

from __future__ import annotations

import uuid
from urllib.parse import urljoin

import httpx
import pytest

from tests.e2e.conftest import LiveServer, label_code, page_errors, screenshot, sign_in, token

pytestmark = pytest.mark.browser
PHONE = {"viewport": {"width": 390, "height": 844}, "locale": "zh-CN", "has_touch": True, "is_mobile": True}


def _act(server: LiveServer, ticket_id: int, username: str, **body: object) -> None:
    response = httpx.post(f"{server.url}/api/v1/tickets/{ticket_id}/actions", json=body,
                          headers={"Authorization": f"Bearer {token(server, username)}"}, timeout=30)
    assert response.status_code == 200, response.text


def _repaired(server: LiveServer) -> dict[str, object]:
    submitted = httpx.post(f"{server.url}/api/v1/tickets", headers={"Idempotency-Key": uuid.uuid4().hex}, json={
        "device_id": 1, "description": "反应盘温度报警，无法开始测试", "urgency": "high", "reporter_name": "陈老师",
        "reporter_phone": "13800001111", "qr_code": label_code(server, "devices", 1)}, timeout=30)
    assert submitted.status_code == 201, submitted.text
    body = submitted.json()
    ticket_id = body["ticket"]["id"]
    engineers = httpx.get(f"{server.url}/api/v1/tickets/{ticket_id}/engineers",
                          headers={"Authorization": f"Bearer {token(server, 'agent')}"}).json()
    engineer_id = next(e["id"] for e in engineers if e["name"] == "张工程师")
    _act(server, ticket_id, "agent", action="dispatch", engineer_id=engineer_id)
    _act(server, ticket_id, "engineer", action="accept")
    _act(server, ticket_id, "engineer", action="arrive")
    _act(server, ticket_id, "engineer", action="complete", findings="更换反应盘加热器，质控通过",
         fault_category="temperature_control", root_cause="加热器老化",
         parts=[{"name": "反应盘加热器", "part_no": "04512345001", "qty": 1}])
    return {"id": ticket_id, "number": body["ticket"]["number"], "key": body["reporter_key"]}


def _opens_the_pdf(page, link) -> None:  # noqa: ANN001
    href = link.get_attribute("href")
    assert href and "/report.pdf" in href
    response = page.request.get(urljoin(page.url, href))  # with the page's session cookie
    assert response.status == 200 and response.headers["content-type"] == "application/pdf"
    assert response.body().startswith(b"%PDF")


def test_the_report_is_one_tap_away_on_every_page_of_a_repaired_ticket(demo_server: LiveServer,  # noqa: ANN001
                                                                        browser) -> None:
    ticket = _repaired(demo_server)
    # The reporter, anonymous, with the private link from the message.
    phone = browser.new_context(**PHONE).new_page()
    errors = page_errors(phone)
    phone.goto(f"{demo_server.url}/t/{ticket['number']}?k={ticket['key']}")
    link = phone.locator("#report-cell")
    link.wait_for(state="visible")
    assert "服务报告" in link.inner_text() and "查看 PDF" in link.inner_text()
    _opens_the_pdf(phone, link)
    screenshot(phone, "service-report-reporter-link")
    assert errors == []

    engineer = browser.new_context(**PHONE).new_page()
    sign_in(engineer, demo_server, "engineer", f"/engineer/tickets/{ticket['id']}")
    link = engineer.locator("#eng-report")
    link.wait_for(state="visible")
    assert "服务报告" in link.inner_text()
    _opens_the_pdf(engineer, link)
    screenshot(engineer, "service-report-engineer-link")

    desk = browser.new_context(viewport={"width": 1280, "height": 720}, locale="zh-CN").new_page()
    sign_in(desk, demo_server, "agent", f"/console?ticket={ticket['id']}")
    link = desk.locator("#d-report")
    link.wait_for(state="visible")
    assert link.inner_text() == "查看 PDF"
    _opens_the_pdf(desk, link)
    screenshot(desk, "service-report-desk-link")
