"""The service desk console and the engineer pages: who may open them and what they render."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from cloud.i18n import CATALOG
from cloud.web.desk import CANNED_REPLIES, JS_TEXTS
from tests.cloud.tickets.helpers import submit
from tests.cloud.world import World

JS = Path(__file__).resolve().parents[2] / "cloud" / "web" / "static" / "js"


def _get(client: TestClient, world: World, path: str, username: str | None) -> object:
    headers = world.headers(username) if username else {}
    return client.get(path, headers=headers, follow_redirects=False)


@pytest.mark.parametrize("username", ["agent", "center", "admin"])
def test_console_renders_for_the_desk_roles(client: TestClient, world: World, username: str) -> None:
    response = _get(client, world, "/console", username)
    assert response.status_code == 200
    assert "/static/js/console.js" in response.text
    assert 'href="/console" class="active"' in response.text  # the nav link, highlighted
    assert "工单台" in response.text


def test_console_sends_visitors_without_a_session_to_sign_in(client: TestClient, world: World) -> None:
    response = _get(client, world, "/console?ticket=7", None)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/console%3Fticket%3D7"


@pytest.mark.parametrize("username", ["engineer", "lab_a"])
def test_console_tells_other_roles_they_have_no_access(client: TestClient, world: World, username: str) -> None:
    # Signed in with another role: a clear 403 page (issue 12), not a bounce to an empty sign-in form.
    response = client.get("/console", headers={**world.headers(username), "Accept": "text/html"},
                          follow_redirects=False)
    assert response.status_code == 403
    assert "无权访问" in response.text


def test_console_opens_the_ticket_named_in_the_link(client: TestClient, world: World) -> None:
    response = _get(client, world, "/console?ticket=42", "agent")
    assert re.search(r"openTicket:\s*42\b", response.text)


def test_console_page_carries_its_texts_and_canned_replies_in_chinese(client: TestClient, world: World) -> None:
    response = _get(client, world, "/console", "agent")
    # Jinja's tojson escapes non-ASCII, so look for the texts as JSON writes them.
    assert json.dumps("工单已被他人更新")[1:-1] in response.text
    assert json.dumps("您好，请将仪器关机 30 秒后重新启动")[1:-1] in response.text


def test_console_follows_an_english_browser(client: TestClient, world: World) -> None:
    response = client.get("/console", headers={**world.headers("agent"), "Accept-Language": "en-US"})
    assert response.status_code == 200
    assert "Service desk" in response.text
    assert "工单台" not in response.text


def test_engineer_home_renders_for_engineers_only(client: TestClient, world: World) -> None:
    ok = _get(client, world, "/engineer", "engineer")
    assert ok.status_code == 200
    assert "/vendor/weui/style/weui.min.css" in ok.text
    assert "startEngineerList" in ok.text
    assert "我的工单" in ok.text
    for username in ("agent", "lab_a"):
        assert _get(client, world, "/engineer", username).status_code == 403
    response = _get(client, world, "/engineer", None)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=/engineer")


def test_engineer_ticket_page_renders_an_existing_ticket(client: TestClient, world: World) -> None:
    ticket = submit(client, world).json()["ticket"]
    response = _get(client, world, f"/engineer/tickets/{ticket['id']}", "engineer")
    assert response.status_code == 200
    assert ticket["number"] in response.text
    assert f"ticketId: {ticket['id']}" in response.text
    assert _get(client, world, f"/engineer/tickets/{ticket['id']}", "agent").status_code == 403  # said clearly


def test_engineer_ticket_page_for_an_unknown_ticket_is_404(client: TestClient, world: World) -> None:
    response = _get(client, world, "/engineer/tickets/999999", "engineer")
    assert response.status_code == 404
    assert "页面不存在" in response.text


def test_nav_offers_the_console_to_agents_and_my_tickets_to_engineers(client: TestClient, world: World) -> None:
    agent_page = _get(client, world, "/admin/devices", "agent").text
    assert 'href="/console"' in agent_page and 'href="/engineer"' not in agent_page
    engineer_page = _get(client, world, "/admin/devices", "engineer").text
    assert 'href="/engineer"' in engineer_page and 'href="/console"' not in engineer_page


def test_every_text_the_scripts_use_is_declared_and_translated() -> None:
    used: set[str] = set()
    for script in ("console.js", "console_detail.js", "console_bell.js", "engineer.js", "desk_common.js"):
        used |= set(re.findall(r"""\bt\(\s*["']([^"']+)["']\s*\)""", (JS / script).read_text()))
    # Labels kept in tables (tabs, forms, sheets) are looked up through t() as well.
    for script in ("console.js", "console_detail.js", "engineer.js"):
        used |= set(re.findall(r"""(?:label|title):\s*["']([^"']+)["']""", (JS / script).read_text()))
    assert used, "found no texts; did the scripts change shape?"
    declared = set(JS_TEXTS)
    assert used - declared == set()
    zh = CATALOG["zh-CN"]
    untranslated = {key for key in declared if key not in zh}
    assert untranslated == set()
    assert all(reply in declared for reply in CANNED_REPLIES)
